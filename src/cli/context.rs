//! What every subcommand needs: a connected client, and small output helpers (tables, JSON
//! lines, sizes, times) shared by `assets`, `folders`, `whoami` and `upload`.

use std::fmt::Display;
use std::io::{self, Write};

use anyhow::Context as _;
use url::Url;

use super::exit::{MissingKey, UsageError};
use crate::api::{ApiError, ClientConfig, RunflowClient};
use crate::auth::{self, BaseUrlSource, KeySource, Settings};

/// A client together with where its key and base URL came from (for messages).
pub(crate) struct Connection {
    /// The client, with the default retry policy.
    pub(crate) client: RunflowClient,
    /// Where the API key came from.
    pub(crate) key_source: KeySource,
    /// Where the base URL came from.
    pub(crate) base_url_source: BaseUrlSource,
}

impl Connection {
    /// Turns a failed call into an error that says what was being done and, on a rejected key,
    /// where that key came from and how to fix it.
    pub(crate) fn explain(&self, err: ApiError, doing: &str) -> anyhow::Error {
        if matches!(err, ApiError::Unauthorized { .. }) {
            let fix = match self.key_source {
                KeySource::Env => "set it to a valid key, or unset it to use the stored key",
                KeySource::Keyring { .. } => "run `runflow-uploader login` with a valid key",
            };
            return anyhow::Error::new(err).context(format!(
                "could not {doing}: the API key from {} was rejected; {fix}",
                self.key_source
            ));
        }
        anyhow::Error::new(err).context(format!("could not {doing}"))
    }
}

/// Checks once, before anything is sent, that the folder a command names exists, so an unknown
/// `--folder` is one usage error (exit 2), not a failure per file or an empty listing. `root`
/// (or nothing) is the root and needs no check.
pub(crate) async fn check_folder(
    connection: &Connection,
    folder_id: Option<&str>,
) -> anyhow::Result<Option<crate::api::models::Folder>> {
    let Some(id) = folder_id.filter(|id| *id != "root") else {
        return Ok(None);
    };
    match connection.client.folder(id).await {
        Ok(folder) => Ok(Some(folder)),
        Err(ApiError::NotFound { .. }) => Err(UsageError(format!(
            "there is no folder with id {} on Runflow; `runflow-uploader folders list` shows \
             the folders and their ids",
            sanitize(id)
        ))
        .into()),
        Err(err) => Err(connection.explain(err, &format!("look up folder {}", sanitize(id)))),
    }
}

/// Reads the settings and resolves the base URL (`RUNFLOW_BASE_URL`, settings, default).
pub(crate) async fn base_url() -> anyhow::Result<(Url, BaseUrlSource)> {
    let settings = Settings::load().await?;
    Ok(auth::resolve_base_url(&settings)?)
}

/// Resolves the base URL and the API key and builds a client with the default retry policy.
/// `connection.client` is the client; the sources are there for messages ([`Connection::explain`]).
pub(crate) async fn connect() -> anyhow::Result<Connection> {
    let (url, base_url_source) = base_url().await?;
    let (key, key_source) = match auth::resolve_api_key().await {
        Ok(found) => found,
        Err(auth::ResolveError::NoApiKey { backend })
            if std::env::var_os(auth::API_KEY_ENV).is_some() =>
        {
            return Err(MissingKey(format!(
                "{} is set but empty, and the keyring ({backend}) holds no key; set it to your \
                 API key, or unset it and run `runflow-uploader login`; create a key in the \
                 Runflow dashboard under Settings > API Keys",
                auth::API_KEY_ENV
            ))
            .into());
        }
        Err(err) => return Err(err.into()),
    };
    let client = RunflowClient::new(
        key,
        ClientConfig {
            base_url: url.to_string(),
            ..ClientConfig::default()
        },
    )
    .context("could not set up the Runflow client")?;
    Ok(Connection {
        client,
        key_source,
        base_url_source,
    })
}

/// Ends a run of writes to stdout: flushes, and treats a closed pipe (`... | head`) as success.
pub(crate) fn finish_output(out: &mut impl Write, result: io::Result<()>) -> anyhow::Result<()> {
    match result.and_then(|()| out.flush()) {
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("could not write to standard output"),
    }
}

/// Writes `warning: MESSAGE` to stderr. A failed write to stderr is ignored: there is nowhere
/// left to report it.
pub(crate) fn warn(message: impl Display) {
    let _ = writeln!(io::stderr().lock(), "warning: {message}");
}

/// Column alignment of a [`Table`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    /// Pad on the right.
    Left,
    /// Pad on the left (numbers, sizes).
    Right,
}

/// A plain-text table with a header row and columns padded to their widest cell. Cells are
/// sanitised: control characters from server data (names can hold anything) become `?`, so they
/// cannot break the layout or drive the terminal.
pub(crate) struct Table {
    columns: Vec<(&'static str, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these headers and alignments.
    pub(crate) fn new(columns: &[(&'static str, Align)]) -> Self {
        Self {
            columns: columns.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; missing cells are blank, extra cells are dropped.
    pub(crate) fn row(&mut self, cells: impl IntoIterator<Item = String>) {
        let mut row: Vec<String> = cells
            .into_iter()
            .take(self.columns.len())
            .map(|c| sanitize(&c))
            .collect();
        row.resize(self.columns.len(), String::new());
        self.rows.push(row);
    }

    /// Whether no row was added.
    pub(crate) fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Writes the header and the rows, two spaces between columns, no trailing spaces.
    pub(crate) fn write(&self, out: &mut impl Write) -> io::Result<()> {
        let mut widths: Vec<usize> = self
            .columns
            .iter()
            .map(|(h, _)| h.chars().count())
            .collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let header: Vec<String> = self.columns.iter().map(|(h, _)| (*h).to_owned()).collect();
        for row in std::iter::once(&header).chain(&self.rows) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                let (_, align) = self.columns[i];
                let pad = widths[i].saturating_sub(cell.chars().count());
                let last = i + 1 == row.len();
                if i > 0 {
                    line.push_str("  ");
                }
                match align {
                    Align::Right => {
                        line.extend(std::iter::repeat_n(' ', pad));
                        line.push_str(cell);
                    }
                    Align::Left => {
                        line.push_str(cell);
                        if !last {
                            line.extend(std::iter::repeat_n(' ', pad));
                        }
                    }
                }
            }
            writeln!(out, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

pub(crate) use crate::upload::sanitize;

/// An RFC 3339 time from the API as `YYYY-MM-DD HH:MM` (UTC); `-` when absent, the raw text
/// when it does not parse.
pub(crate) fn format_time(rfc3339: Option<&str>) -> String {
    use time::format_description::well_known::Rfc3339;
    use time::macros::format_description;

    let Some(raw) = rfc3339 else {
        return "-".to_owned();
    };
    time::OffsetDateTime::parse(raw, &Rfc3339)
        .ok()
        .and_then(|t| {
            t.to_offset(time::UtcOffset::UTC)
                .format(format_description!("[year]-[month]-[day] [hour]:[minute]"))
                .ok()
        })
        .unwrap_or_else(|| raw.to_owned())
}

/// `value` or `-`.
pub(crate) fn or_dash(value: Option<&str>) -> String {
    value.map_or_else(|| "-".to_owned(), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shortened_to_utc_minutes() {
        assert_eq!(
            format_time(Some("2026-04-01T12:34:56.789+02:00")),
            "2026-04-01 10:34"
        );
        assert_eq!(format_time(Some("yesterday")), "yesterday");
        assert_eq!(format_time(None), "-");
    }

    #[test]
    fn tables_align_and_sanitise() {
        let mut table = Table::new(&[
            ("ID", Align::Left),
            ("SIZE", Align::Right),
            ("NAME", Align::Left),
        ]);
        table.row(["a".to_owned(), "1 B".to_owned(), "x\ny".to_owned()]);
        table.row(["bbbb".to_owned(), "10.0 KiB".to_owned()]);
        let mut out = Vec::new();
        table.write(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "ID        SIZE  NAME\n\
             a          1 B  x?y\n\
             bbbb  10.0 KiB\n"
        );
    }
}
