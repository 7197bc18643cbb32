//! The emulator's `--request-log`: one JSON line per request.

/// One line of the log.
#[derive(Debug, serde::Deserialize)]
pub struct LoggedRequest {
    /// `api` or `storage`.
    pub listener: String,
    /// The HTTP method.
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The answer's status.
    pub status: u16,
    /// Whether an `Authorization` header was sent.
    pub authorization: bool,
}

/// Every line of the log at `path`.
pub fn read_request_log(path: &std::path::Path) -> Vec<LoggedRequest> {
    std::fs::read_to_string(path)
        .expect("the request log exists")
        .lines()
        .map(|line| serde_json::from_str(line).expect("each log line is JSON"))
        .collect()
}
