//! Shared set-up for the integration tests: an in-process emulator and a client for it.

use std::time::Duration;

use runflow_uploader::api::{ApiKey, ClientConfig, RetryPolicy, RunflowClient};
use runflow_uploader::emulator::{EmulatorConfig, RunningEmulator};

/// A retry policy with the real shape (5 attempts) but millisecond waits.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 5,
        min_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
    }
}

/// Starts an emulator with `config` tweaked by `adjust` (port 0, a known key).
pub async fn emulator(adjust: impl FnOnce(&mut EmulatorConfig)) -> RunningEmulator {
    let mut config = EmulatorConfig {
        api_keys: vec!["rf_test_key".to_owned()],
        ..EmulatorConfig::default()
    };
    adjust(&mut config);
    RunningEmulator::start(config)
        .await
        .expect("the emulator starts")
}

/// A client for `emulator` with its first key and fast retries.
pub fn client(emulator: &RunningEmulator) -> RunflowClient {
    RunflowClient::new(
        ApiKey::new(emulator.api_keys()[0].clone()).expect("a non-empty key"),
        ClientConfig {
            base_url: emulator.api_base(),
            retry: fast_retry(),
            ..ClientConfig::default()
        },
    )
    .expect("a valid client")
}
