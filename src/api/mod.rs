//! The Runflow API client: typed models, errors, the retry policy and the HTTP calls.

mod client;
mod error;
mod key;
pub mod models;
mod mutation;
mod query;
mod retry;
mod throttle;

pub use client::{
    ClientConfig, DEFAULT_BASE_URL, MAX_RESPONSE_BYTES, ProgressFn, RunflowClient, UploadSource,
    parse_base_url,
};
pub use error::{ApiError, parse_error_body, parse_retry_after};
pub use key::ApiKey;
pub use query::{Filter, ListQuery};
pub use retry::RetryPolicy;
pub use throttle::Throttle;
