//! Logging: where `tracing` output goes, and the redaction every line passes through.
//!
//! - The window logs to a daily file in `<state dir>/logs/` (seven days kept) at `info`, and to
//!   stderr at `warn` (`-v`: info, `-vv`: debug, `-vvv`: trace).
//! - CLI subcommands log to stderr at the same `-v` levels and also to the file at `info`, so a
//!   scheduled upload leaves a trace.
//! - `emulator` logs to stderr only.
//! - `RUST_LOG`, when set, is the filter for every output.
//!
//! Every line, to every output, goes through [`redact`] before it is written: the API key and
//! presigned URL signatures are credentials and must never reach a log, even if a dependency at
//! `trace` prints a header or a URL. The window also keeps the last lines in memory for
//! "Copy diagnostics" ([`recent_lines`]). `NO_COLOR` turns off colour in logs and progress bars.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex, PoisonError, RwLock};

use regex::Regex;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

use crate::paths;

/// The log files' name before the date: `runflow-uploader.2026-11-24.log`.
pub const LOG_FILE_PREFIX: &str = "runflow-uploader";
/// How many daily log files are kept.
pub const MAX_LOG_FILES: usize = 7;
/// How many recent lines [`recent_lines`] can return.
const TAIL_LINES: usize = 200;
/// What replaces a secret.
const MASK: &str = "<redacted>";

/// Which kind of run is logging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The desktop window.
    Window,
    /// A CLI subcommand that talks to Runflow.
    Cli,
    /// The local emulator.
    Emulator,
}

/// Keeps the file writer's background thread alive; drop it last (at the end of `main`) so
/// buffered lines are flushed.
#[derive(Debug)]
#[must_use = "dropping the guard stops file logging"]
pub struct LogGuard {
    _file: Option<WorkerGuard>,
}

/// The directory holding the log files.
pub fn log_dir() -> PathBuf {
    paths::state_dir().join("logs")
}

/// Whether colour is allowed: `NO_COLOR` unset or empty (<https://no-color.org>).
pub fn color_allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The stderr filter for `-v` counts (`RUST_LOG` wins when set).
pub fn stderr_level(verbose: u8) -> &'static str {
    match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    }
}

/// Installs the global subscriber for `mode`. Never fails: without a writable log directory the
/// app logs to stderr only and says so.
pub fn init(mode: Mode, verbose: u8) -> LogGuard {
    if !color_allowed() {
        console::set_colors_enabled(false);
        console::set_colors_enabled_stderr(false);
    }
    let ansi = color_allowed() && io::IsTerminal::is_terminal(&io::stderr());
    // A command line run without -v (and without RUST_LOG) shows warnings as plain
    // `warning: ...` lines, and not the client's per-request retries: the command reports
    // what matters itself (one line per file-level retry). Timestamps, module paths and
    // per-request lines are behind -v.
    let plain = mode == Mode::Cli && verbose == 0 && std::env::var_os("RUST_LOG").is_none();
    let (stderr_plain, stderr) = if plain {
        let layer = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .event_format(PlainFormat)
            .with_writer(Redacting::new(io::stderr, false))
            .with_filter(EnvFilter::new(QUIET_CLI_FILTER));
        (Some(layer), None)
    } else {
        let layer = tracing_subscriber::fmt::layer()
            .with_ansi(ansi)
            .with_writer(Redacting::new(io::stderr, false))
            .with_filter(filter(stderr_level(verbose)));
        (None, Some(layer))
    };

    let dir = log_dir();
    let (file, guard, file_error) = match mode {
        Mode::Emulator => (None, None, None),
        Mode::Window | Mode::Cli => match file_appender(&dir) {
            Ok(appender) => {
                let (writer, guard) = tracing_appender::non_blocking(appender);
                let layer = tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(Redacting::new(writer, mode == Mode::Window))
                    .with_filter(filter("info"));
                (Some(layer), Some(guard), None)
            }
            Err(err) => (None, None, Some(err)),
        },
    };
    let installed = tracing_subscriber::registry()
        .with(stderr_plain)
        .with(stderr)
        .with(file)
        .try_init();
    if installed.is_err() {
        // Already set (a test harness): keep that one.
        return LogGuard { _file: guard };
    }
    if let Some(err) = file_error {
        tracing::warn!(dir = %dir.display(), %err, "cannot write log files; logging to stderr only");
    }
    LogGuard { _file: guard }
}

/// The stderr filter of a command line run without -v: warnings, but not the API client's
/// per-request retry lines (they are in the log file and behind -v).
pub const QUIET_CLI_FILTER: &str = "warn,runflow_uploader::api::client=error";

/// `warning: message key=value`, nothing else: the stderr format of a command line run
/// without -v.
struct PlainFormat;

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for PlainFormat
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let level = match *event.metadata().level() {
            tracing::Level::ERROR => "error",
            tracing::Level::WARN => "warning",
            _ => "note",
        };
        write!(writer, "{level}: ")?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

fn filter(default: &str) -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default))
}

fn file_appender(dir: &Path) -> anyhow::Result<RollingFileAppender> {
    std::fs::create_dir_all(dir)?;
    Ok(RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix(LOG_FILE_PREFIX)
        .filename_suffix("log")
        .max_log_files(MAX_LOG_FILES)
        .build(dir)?)
}

/// Secrets known by value (the key from `RUNFLOW_API_KEY`, a key just typed), masked wherever
/// they appear. Shapes ([`redact`]'s patterns) catch the rest.
static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Masks `secret` in every later log line. Too-short values are ignored: masking them would
/// shred ordinary text, and no real key is that short.
pub fn add_secret(secret: &str) {
    let secret = secret.trim();
    if secret.len() < 8 {
        return;
    }
    let mut secrets = SECRETS.write().unwrap_or_else(PoisonError::into_inner);
    if !secrets.iter().any(|s| s == secret) {
        secrets.push(secret.to_owned());
    }
}

static PATTERNS: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        // Presigned URL signatures and session tokens (S3 SigV4/V2, GCS, Azure SAS, ours).
        (
            r"(?i)\b((?:x-amz-signature|x-amz-security-token|x-goog-signature|signature|sig)=)[^&\s\x22'<>\\]+",
            "${1}<redacted>",
        ),
        // An Authorization header in any rendering: `authorization: Bearer k`,
        // `"authorization": "k"`, `Authorization=Basic k`.
        (
            r#"(?i)\b(authorization["']?\s*[:=]\s*["']?)(?:(?:bearer|basic|token)\s+)?[^\s"',}&]+"#,
            "${1}<redacted>",
        ),
        (r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{6,}", "${1}<redacted>"),
        // Runflow keys by shape.
        (r"\brf_[A-Za-z0-9_-]{6,}", "<redacted>"),
    ]
    .into_iter()
    .filter_map(|(pattern, replace)| Regex::new(pattern).ok().map(|re| (re, replace)))
    .collect()
});

/// `text` with every known secret and every secret-shaped value masked.
pub fn redact(text: &str) -> String {
    let mut out = text.to_owned();
    for secret in SECRETS
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
    {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), MASK);
        }
    }
    for (re, replace) in PATTERNS.iter() {
        if re.is_match(&out) {
            out = re.replace_all(&out, *replace).into_owned();
        }
    }
    out
}

/// The window's last log lines (already redacted), oldest first; at most `count`.
pub fn recent_lines(count: usize) -> Vec<String> {
    let tail = TAIL.lock().unwrap_or_else(PoisonError::into_inner);
    tail.iter()
        .skip(tail.len().saturating_sub(count))
        .cloned()
        .collect()
}

static TAIL: Mutex<VecDeque<String>> = Mutex::new(VecDeque::new());

fn remember(text: &str) {
    let mut tail = TAIL.lock().unwrap_or_else(PoisonError::into_inner);
    for line in text.lines().filter(|l| !l.is_empty()) {
        if tail.len() == TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line.to_owned());
    }
}

/// A [`MakeWriter`] that redacts each event before `inner` sees it (and optionally keeps it in
/// the in-memory tail).
#[derive(Debug, Clone)]
pub struct Redacting<M> {
    inner: M,
    keep_tail: bool,
}

impl<M> Redacting<M> {
    /// Wraps `inner`; `keep_tail` also feeds [`recent_lines`].
    pub fn new(inner: M, keep_tail: bool) -> Self {
        Self { inner, keep_tail }
    }
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Redacting<M> {
    type Writer = RedactingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter {
            inner: self.inner.make_writer(),
            buf: Vec::new(),
            keep_tail: self.keep_tail,
        }
    }
}

/// Collects one event's bytes and writes them, redacted, when flushed or dropped (the fmt layer
/// makes one writer per event).
#[derive(Debug)]
pub struct RedactingWriter<W: Write> {
    inner: W,
    buf: Vec<u8>,
    keep_tail: bool,
}

impl<W: Write> RedactingWriter<W> {
    fn emit(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let text = redact(&String::from_utf8_lossy(&self.buf));
        self.buf.clear();
        if self.keep_tail {
            remember(&text);
        }
        self.inner.write_all(text.as_bytes())?;
        self.inner.flush()
    }
}

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.emit()
    }
}

impl<W: Write> Drop for RedactingWriter<W> {
    fn drop(&mut self) {
        // Nowhere to report a failed log write.
        let _ = self.emit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presigned_signatures_are_masked() {
        let line = "PUT http://127.0.0.1:9/bucket/a%20b.png?X-Amz-Algorithm=AWS4-HMAC-SHA256\
                    &X-Amz-Date=20261124T000000Z&X-Amz-Signature=0123abcd&X-Amz-Expires=900";
        let out = redact(line);
        assert!(!out.contains("0123abcd"), "{out}");
        assert!(
            out.contains("X-Amz-Signature=<redacted>&X-Amz-Expires=900"),
            "{out}"
        );
        assert!(out.contains("X-Amz-Date=20261124T000000Z"), "{out}");
        for raw in [
            "u?sig=abcdef123 rest",
            "u?Signature=ab%2Fcd&Expires=1",
            "x-goog-signature=deadbeef\"",
            "X-Amz-Security-Token=FwoGZX",
        ] {
            let out = redact(raw);
            assert!(out.contains(MASK), "{raw} -> {out}");
            for secret in ["abcdef123", "ab%2Fcd", "deadbeef", "FwoGZX"] {
                assert!(!out.contains(secret), "{raw} -> {out}");
            }
        }
    }

    #[test]
    fn keys_and_authorization_headers_are_masked() {
        for raw in [
            "authorization: Bearer sk-live-123456",
            r#"headers: {"authorization": "sk-live-123456", "accept": "*/*"}"#,
            "Authorization=Bearer sk-live-123456",
            "sent Bearer sk-live-123456 to the API",
            "key rf_live_123456 refused",
        ] {
            let out = redact(raw);
            assert!(!out.contains("123456"), "{raw} -> {out}");
            assert!(out.contains(MASK), "{raw} -> {out}");
        }
        assert_eq!(
            redact(r#"{"authorization": "x1234567", "accept": "*/*"}"#),
            r#"{"authorization": "<redacted>", "accept": "*/*"}"#
        );
    }

    #[test]
    fn registered_secrets_are_masked_and_short_ones_ignored() {
        add_secret("plainkey-without-shape-42");
        add_secret("abc");
        let out = redact("using plainkey-without-shape-42 for abc");
        assert_eq!(out, "using <redacted> for abc");
    }

    #[test]
    fn ordinary_lines_pass_unchanged() {
        let line = "INFO runflow_uploader::upload: uploaded photo.png (2.1 MB) to folder fld_1 \
                    designated signer=no";
        assert_eq!(redact(line), line);
    }

    #[test]
    fn the_writer_redacts_whole_events_and_keeps_a_tail() {
        let sink = std::sync::Arc::new(Mutex::new(Vec::<u8>::new()));
        struct Sink(std::sync::Arc<Mutex<Vec<u8>>>);
        impl Write for Sink {
            fn write(&mut self, data: &[u8]) -> io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(data);
                Ok(data.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let shared = sink.clone();
        let make = Redacting::new(move || Sink(shared.clone()), true);
        {
            let mut writer = make.make_writer();
            // Split mid-secret: the writer must see the whole event before redacting.
            writer.write_all(b"GET /o?X-Amz-Sig").unwrap();
            writer.write_all(b"nature=feedface1234 done\n").unwrap();
        }
        let written = String::from_utf8(sink.lock().unwrap().clone()).unwrap();
        assert_eq!(written, "GET /o?X-Amz-Signature=<redacted> done\n");
        assert_eq!(
            recent_lines(1),
            vec!["GET /o?X-Amz-Signature=<redacted> done"]
        );
    }
}
