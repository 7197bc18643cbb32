//! The text behind "Copy diagnostics": what a support request needs (version, OS, display and
//! key backends, base URL, where the logs are, the last log lines) and nothing secret. Pure
//! apart from reading environment variables, so it is cheap enough for a button click.

use std::fmt::Write as _;

use crate::logging;

/// How many log lines a report carries.
pub const LOG_LINES: usize = 40;

/// What the window knows about its connection when the report is made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    /// The API base in use (or configured).
    pub base_url: String,
    /// Where the key comes from ("the OS keyring (Secret Service)", ...), when connected.
    pub key_source: Option<String>,
    /// Whether this is the offline demo.
    pub demo: bool,
    /// The connection's state in words ("connected", "not connected: ...").
    pub connection: String,
}

/// The display server the window runs on: `X11`, `Wayland`, `X11 (XWayland)` or the platform.
pub fn display_server() -> String {
    let has = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    match (has("WAYLAND_DISPLAY"), has("DISPLAY")) {
        _ if !cfg!(target_os = "linux") => std::env::consts::OS.to_owned(),
        // The window prefers X11 when both are there (file drops need it).
        (true, true) => "X11 (XWayland)".to_owned(),
        (true, false) => "Wayland".to_owned(),
        (false, true) => "X11".to_owned(),
        (false, false) => "none".to_owned(),
    }
}

/// The report for `context` with the last `lines` of the log.
pub fn report(context: &Context, lines: &[String]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Runflow Uploader {} ({})",
        env!("CARGO_PKG_VERSION"),
        if cfg!(debug_assertions) {
            "debug build"
        } else {
            "release build"
        }
    );
    let _ = writeln!(
        out,
        "OS: {} {} ({})",
        std::env::consts::OS,
        std::env::consts::ARCH,
        std::env::consts::FAMILY
    );
    let _ = writeln!(out, "Display: {}, OpenGL (glow)", display_server());
    let _ = writeln!(
        out,
        "Backend: {}",
        if context.demo {
            "offline demo (built-in emulator)"
        } else {
            "Runflow API"
        }
    );
    let _ = writeln!(out, "Base URL: {}", context.base_url);
    let _ = writeln!(out, "Connection: {}", context.connection);
    if let Some(source) = &context.key_source {
        let _ = writeln!(out, "Key from: {source}");
    }
    let _ = writeln!(out, "Logs: {}", logging::log_dir().display());
    let _ = writeln!(out, "Last {} log lines:", lines.len());
    for line in lines {
        let _ = writeln!(out, "  {line}");
    }
    // Defence in depth: the lines are redacted already, but the base URL is user input.
    logging::redact(&out)
}

/// [`report`] with this process's recent log lines.
pub fn current_report(context: &Context) -> String {
    report(context, &logging::recent_lines(LOG_LINES))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_carry_the_facts_and_no_secrets() {
        let context = Context {
            base_url: "https://api.runflow.io".into(),
            key_source: Some("the RUNFLOW_API_KEY environment variable".into()),
            demo: false,
            connection: "connected".into(),
        };
        let lines = vec![
            "INFO upload done".to_owned(),
            "DEBUG PUT https://s/o?X-Amz-Signature=abc123def".to_owned(),
        ];
        let text = report(&context, &lines);
        assert!(text.starts_with(&format!("Runflow Uploader {}", env!("CARGO_PKG_VERSION"))));
        for needle in [
            "OS: ",
            "Display: ",
            "Backend: Runflow API",
            "Base URL: https://api.runflow.io",
            "Key from: the RUNFLOW_API_KEY",
            "Last 2 log lines:",
            "  INFO upload done",
        ] {
            assert!(text.contains(needle), "{needle} missing from:\n{text}");
        }
        assert!(!text.contains("abc123def"), "{text}");
    }
}
