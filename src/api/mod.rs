//! The Runflow API client: typed models, errors, the retry policy and the HTTP calls.

mod acked;
mod attempts;
mod client;
mod error;
mod http;
mod key;
pub mod models;
mod mutation;
mod query;
mod retry;
mod scopes;
mod throttle;

pub use client::{
    ClientConfig, DEFAULT_BASE_URL, MAX_RESPONSE_BYTES, ProgressFn, RunflowClient, UploadSource,
    parse_base_url,
};
pub use error::{ApiError, parse_error_body, parse_retry_after};
pub use http::{CA_CERT_ENV, ca_cert_files_from_env, check_ca_cert_file};
pub(crate) use http::{certificate_problem, standalone_builder as standalone_http_builder};
pub use key::{ApiKey, KeyProblem};
pub use query::{Filter, ListQuery};
pub use retry::RetryPolicy;
pub use scopes::{KeyScopes, Scope};
pub use throttle::Throttle;
