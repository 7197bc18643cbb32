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
    client_with_key(emulator, &emulator.api_keys()[0])
}

/// A client for `emulator` with any key.
pub fn client_with_key(emulator: &RunningEmulator, key: &str) -> RunflowClient {
    RunflowClient::new(
        ApiKey::new(key).expect("a non-empty key"),
        ClientConfig {
            base_url: emulator.api_base(),
            retry: fast_retry(),
            ..ClientConfig::default()
        },
    )
    .expect("a valid client")
}

/// One line of the emulator's request log.
#[derive(Debug, serde::Deserialize)]
pub struct LoggedRequest {
    pub listener: String,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub authorization: bool,
}

/// Reads the request log written by `--request-log`.
pub fn read_request_log(path: &std::path::Path) -> Vec<LoggedRequest> {
    std::fs::read_to_string(path)
        .expect("the request log exists")
        .lines()
        .map(|line| serde_json::from_str(line).expect("each log line is JSON"))
        .collect()
}
