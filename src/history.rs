//! What this machine uploaded, in one SQLite database (`history.sqlite3` in the data folder),
//! shared by every process (the window, `upload`):
//!
//! - the history: each finished upload's file, size, content hash, asset, folder, server,
//!   account, time and how it came (drop, paste, CLI), searched by the History tab and
//!   `runflow-uploader history`;
//! - the duplicate index: content hash -> asset per account, so the same content is not
//!   uploaded twice. It was a JSON-lines file (`uploaded-index.jsonl`) before; the first open
//!   migrates it ([`migrate`]).
//!
//! WAL mode and a busy timeout let several processes write; each write is one short
//! transaction, so a kill leaves the database as it was before or after it.

mod export;
mod migrate;

use std::path::{Path, PathBuf};
use std::time::Duration;

use backon::{BlockingRetryable as _, ConstantBuilder};
use rusqlite::{Connection, OptionalExtension as _, params};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, Time};

pub use export::{Format, write as export};

/// The database's file name in the data folder.
pub const HISTORY_FILE: &str = "history.sqlite3";

/// How long a write waits for another process's transaction.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The schema, one statement list per version (`PRAGMA user_version`).
const MIGRATIONS: &[&str] = &[
    "
    CREATE TABLE content (
        scope TEXT NOT NULL,
        hash BLOB NOT NULL,
        size_bytes INTEGER,
        asset_id TEXT NOT NULL,
        PRIMARY KEY (scope, hash)
    ) WITHOUT ROWID;
    CREATE TABLE uploads (
        id INTEGER PRIMARY KEY,
        uploaded_at INTEGER NOT NULL,
        path TEXT NOT NULL,
        name TEXT NOT NULL,
        size_bytes INTEGER NOT NULL,
        hash TEXT,
        asset_id TEXT NOT NULL,
        folder_id TEXT,
        server TEXT NOT NULL,
        account TEXT NOT NULL,
        source TEXT NOT NULL,
        batch TEXT
    );
    -- Newest first, and the name beside the time: a search by name reads the index alone and
    -- only the rows it matches.
    CREATE INDEX uploads_by_time ON uploads (uploaded_at, name);
    CREATE INDEX uploads_by_batch ON uploads (batch);
",
    "
    -- The file's modification time when it was queued: a watched folder's scan at start
    -- passes over files uploaded as they are now.
    ALTER TABLE uploads ADD COLUMN modified_ns INTEGER;
    CREATE INDEX uploads_by_path ON uploads (path);
",
    "
    -- What was uploaded instead of the file, when Runflow could not take it as it was: a
    -- converted or smaller copy, described (\"converted from HEIC to JPEG, ...\").
    ALTER TABLE uploads ADD COLUMN fixed TEXT;
    -- The gallery's details panel asks which local file an asset came from.
    CREATE INDEX uploads_by_asset ON uploads (asset_id);
",
];

/// How a file came to be uploaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Dropped on the window, picked with Add files..., or opened with the app.
    Drop,
    /// An image pasted into the window.
    Paste,
    /// `runflow-uploader upload`.
    Cli,
    /// Found in a watched folder (the window's, or `runflow-uploader watch`).
    Watch,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Self::Drop => "drop",
            Self::Paste => "paste",
            Self::Cli => "cli",
            Self::Watch => "watch",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "paste" => Self::Paste,
            "cli" => Self::Cli,
            "watch" => Self::Watch,
            _ => Self::Drop,
        }
    }

    /// For people: "dropped", "pasted", "command line".
    pub fn label(self) -> &'static str {
        match self {
            Self::Drop => "dropped",
            Self::Paste => "pasted",
            Self::Cli => "command line",
            Self::Watch => "watched folder",
        }
    }
}

/// One finished upload.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Upload {
    /// The row's number, in order of recording (0 before it is recorded).
    #[serde(skip)]
    pub id: i64,
    /// When the asset was confirmed.
    #[serde(with = "time::serde::rfc3339")]
    pub uploaded_at: OffsetDateTime,
    /// The local file.
    #[serde(serialize_with = "lossy_path")]
    pub path: PathBuf,
    /// The asset's name.
    pub name: String,
    /// Bytes.
    pub size_bytes: u64,
    /// The file's modification time when it was queued (ns since the epoch), when known.
    #[serde(skip)]
    pub modified_ns: Option<i64>,
    /// BLAKE3 of the content, hex.
    pub hash: Option<String>,
    /// The asset.
    pub asset_id: String,
    /// Its folder; `None` is the root.
    pub folder_id: Option<String>,
    /// The API base it went to.
    pub server: String,
    /// The organisation of the key (`""` when it names none).
    pub account: String,
    /// How it came.
    pub source: Source,
    /// The batch it was part of (the files one engine uploaded between two idle moments).
    pub batch: Option<String>,
    /// The copy uploaded instead of the file (converted, shrunk), described; `None` when the
    /// file itself went.
    pub fixed: Option<String>,
}

impl Upload {
    /// "From IMG_0042.HEIC: converted from HEIC to JPEG, …" when a copy went instead of the
    /// file (not sanitized for display).
    pub fn fixed_from(&self) -> Option<String> {
        let fixed = self.fixed.as_ref()?;
        let original = self.path.file_name().unwrap_or_default().to_string_lossy();
        Some(format!("From {original}: {fixed}"))
    }
}

fn lossy_path<S: serde::Serializer>(path: &Path, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&path.to_string_lossy())
}

/// What to list: newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    /// Part of the file name, any case; empty is all.
    pub name: String,
    /// From this time on.
    pub since: Option<OffsetDateTime>,
    /// Before this time.
    pub until: Option<OffsetDateTime>,
    /// Only this batch.
    pub batch: Option<String>,
    /// At most this many rows; `None` is all.
    pub limit: Option<usize>,
}

fn parse_day(text: &str) -> Option<Date> {
    Date::parse(text.trim(), format_description!("[year]-[month]-[day]")).ok()
}

fn parse_time(text: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(text.trim(), &Rfc3339).map_err(|_| {
        format!(
            "{:?} is not a date: give a day as 2026-12-01 or a time as 2026-12-01T14:30:00Z",
            text.trim()
        )
    })
}

/// The start of a date range: a day (`2026-12-01`, from its first moment, UTC) or an RFC 3339
/// time.
pub fn parse_since(text: &str) -> Result<OffsetDateTime, String> {
    match parse_day(text) {
        Some(day) => Ok(day.with_time(Time::MIDNIGHT).assume_utc()),
        None => parse_time(text),
    }
}

/// The end of a date range: a day (`2026-12-01`, up to its end, UTC) or an RFC 3339 time.
pub fn parse_until(text: &str) -> Result<OffsetDateTime, String> {
    match parse_day(text) {
        Some(day) => Ok(day
            .next_day()
            .unwrap_or(day)
            .with_time(Time::MIDNIGHT)
            .assume_utc()),
        None => parse_time(text),
    }
}

/// The database. Not `Sync`: share it behind a mutex.
#[derive(Debug)]
pub struct History {
    db: Connection,
}

impl History {
    /// Opens (or creates) the database in `data_dir`, bringing its schema up to date and
    /// migrating the JSON-lines duplicate index found there.
    pub fn open(data_dir: &Path) -> rusqlite::Result<Self> {
        std::fs::create_dir_all(data_dir)
            .map_err(|err| rusqlite::Error::ToSqlConversionFailure(Box::new(err)))?;
        let path = data_dir.join(HISTORY_FILE);
        let mut db = match Self::connect(&path) {
            Err(err) if is_damaged(&err) => {
                // A damaged file must not stop every upload: it is kept aside for a look, and
                // a new history starts (duplicate detection forgets what it knew; the journal
                // and the claims still keep each file to one asset).
                let aside = path.with_extension(format!(
                    "sqlite3.damaged-{}",
                    OffsetDateTime::now_utc().unix_timestamp()
                ));
                tracing::error!(%err, aside = %aside.display(), "the history database is damaged; starting a new one");
                for suffix in ["-wal", "-shm"] {
                    let mut side = path.clone().into_os_string();
                    side.push(suffix);
                    let _ = std::fs::remove_file(side);
                }
                std::fs::rename(&path, &aside)
                    .map_err(|err| rusqlite::Error::ToSqlConversionFailure(Box::new(err)))?;
                Self::connect(&path)?
            }
            other => other?,
        };
        migrate::jsonl_index(&mut db, data_dir)?;
        Ok(Self { db })
    }

    /// Opens the file with the settings every process uses, its schema up to date. Processes
    /// that open a new file at once both switch it to WAL, and SQLite answers one of them
    /// "database is locked" without waiting (the busy timeout cannot break that deadlock): the
    /// open is tried again then.
    fn connect(path: &Path) -> rusqlite::Result<Connection> {
        (|| Self::connect_once(path))
            .retry(
                ConstantBuilder::default()
                    .with_delay(Duration::from_millis(20))
                    .with_max_times(250),
            )
            .when(|err| err.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy))
            .call()
    }

    fn connect_once(path: &Path) -> rusqlite::Result<Connection> {
        let mut db = Connection::open(path)?;
        db.busy_timeout(BUSY_TIMEOUT)?;
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", "NORMAL")?;
        upgrade(&mut db)?;
        Ok(db)
    }

    /// The asset content with `hash` became in `scope` (`base#org`), if recorded. A scope
    /// `base#org` also finds records made before accounts were recorded (`base` alone); the
    /// caller checks such an asset exists in this account before trusting it.
    pub fn lookup(&self, scope: &str, hash: &str) -> rusqlite::Result<Option<String>> {
        let Some(digest) = digest(hash) else {
            return Ok(None);
        };
        let legacy = scope.split_once('#').map_or(scope, |(base, _)| base);
        self.db
            .prepare_cached(
                "SELECT asset_id FROM content WHERE hash = ?1 AND scope IN (?2, ?3)
                 ORDER BY scope = ?2 DESC LIMIT 1",
            )?
            .query_row(params![digest, scope, legacy], |row| row.get(0))
            .optional()
    }

    /// Forgets content whose asset is gone from the server.
    pub fn forget(&self, scope: &str, hash: &str) -> rusqlite::Result<()> {
        let Some(digest) = digest(hash) else {
            return Ok(());
        };
        let legacy = scope.split_once('#').map_or(scope, |(base, _)| base);
        self.db
            .prepare_cached("DELETE FROM content WHERE hash = ?1 AND scope IN (?2, ?3)")?
            .execute(params![digest, scope, legacy])?;
        Ok(())
    }

    /// Records a finished upload to `scope` (`base#org`): its history row, and its content in
    /// the duplicate index, in one transaction.
    pub fn record(&mut self, scope: &str, upload: &Upload) -> rusqlite::Result<i64> {
        let tx = self.db.transaction()?;
        if let Some(digest) = upload.hash.as_deref().and_then(digest) {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO content (scope, hash, size_bytes, asset_id)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                scope,
                digest,
                sql_int(upload.size_bytes),
                upload.asset_id
            ])?;
        }
        tx.prepare_cached(
            "INSERT INTO uploads (uploaded_at, path, name, size_bytes, hash, asset_id,
                                  folder_id, server, account, source, batch, modified_ns,
                                  fixed)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        )?
        .execute(params![
            millis(upload.uploaded_at),
            upload.path.to_string_lossy(),
            upload.name,
            sql_int(upload.size_bytes),
            upload.hash,
            upload.asset_id,
            upload.folder_id,
            upload.server,
            upload.account,
            upload.source.as_str(),
            upload.batch,
            upload.modified_ns,
            upload.fixed,
        ])?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        Ok(id)
    }

    /// The uploads `query` asks for, newest first.
    pub fn search(&self, query: &Query) -> rusqlite::Result<Vec<Upload>> {
        let pattern = (!query.name.is_empty()).then(|| format!("%{}%", like_escape(&query.name)));
        let limit = query
            .limit
            .map_or(-1, |limit| i64::try_from(limit).unwrap_or(i64::MAX));
        let mut statement = self.db.prepare_cached(
            "SELECT id, uploaded_at, path, name, size_bytes, hash, asset_id, folder_id, server,
                    account, source, batch, modified_ns, fixed
             FROM uploads
             WHERE (?1 IS NULL OR name LIKE ?1 ESCAPE '\\')
               AND uploaded_at >= ?2 AND uploaded_at < ?3
               AND (?5 IS NULL OR batch = ?5)
             ORDER BY uploaded_at DESC, id DESC
             LIMIT ?4",
        )?;
        let rows = statement.query_map(
            params![
                pattern,
                query.since.map_or(i64::MIN, millis),
                query.until.map_or(i64::MAX, millis),
                limit,
                query.batch,
            ],
            upload_of_row,
        )?;
        rows.collect()
    }

    /// The newest upload that became `asset_id`, if this computer made it.
    pub fn by_asset(&self, asset_id: &str) -> rusqlite::Result<Option<Upload>> {
        self.db
            .prepare_cached(
                "SELECT id, uploaded_at, path, name, size_bytes, hash, asset_id, folder_id,
                        server, account, source, batch, modified_ns, fixed
                 FROM uploads WHERE asset_id = ?1 ORDER BY uploaded_at DESC, id DESC LIMIT 1",
            )?
            .query_row(params![asset_id], upload_of_row)
            .optional()
    }

    /// Whether the file at `path` went to `server`'s `account` as it is now (this size and
    /// modification time).
    pub fn knows_file(
        &self,
        server: &str,
        account: &str,
        path: &Path,
        size_bytes: u64,
        modified_ns: u128,
    ) -> rusqlite::Result<bool> {
        self.db
            .prepare_cached(
                "SELECT 1 FROM uploads
                 WHERE path = ?1 AND size_bytes = ?2 AND modified_ns = ?3
                   AND server = ?4 AND account = ?5
                 LIMIT 1",
            )?
            .query_row(
                params![
                    path.to_string_lossy(),
                    sql_int(size_bytes),
                    i64::try_from(modified_ns).unwrap_or(i64::MAX),
                    server,
                    account
                ],
                |_| Ok(()),
            )
            .optional()
            .map(|found| found.is_some())
    }

    /// How many files from the watched folder `dir` went to `server`'s `account` since
    /// `since`, and the name of the last one.
    pub fn watched_since(
        &self,
        server: &str,
        account: &str,
        dir: &Path,
        since: OffsetDateTime,
    ) -> rusqlite::Result<(u64, Option<String>)> {
        let mut prefix = dir.to_string_lossy().into_owned();
        if !prefix.ends_with(std::path::MAIN_SEPARATOR) {
            prefix.push(std::path::MAIN_SEPARATOR);
        }
        let prefix_chars = i64::try_from(prefix.chars().count()).unwrap_or(i64::MAX);
        // Asked every few seconds: counted by SQLite, and only the newest name read.
        self.db
            .prepare_cached(
                "WITH watched AS (
                     SELECT id, uploaded_at, name FROM uploads
                     WHERE uploaded_at >= ?1 AND source = 'watch' AND server = ?2
                       AND account = ?3 AND substr(path, 1, ?4) = ?5)
                 SELECT (SELECT COUNT(*) FROM watched),
                        (SELECT name FROM watched ORDER BY uploaded_at DESC, id DESC LIMIT 1)",
            )?
            .query_row(
                params![millis(since), server, account, prefix_chars, prefix],
                |row| {
                    Ok((
                        u64::try_from(row.get::<_, i64>(0)?).unwrap_or(0),
                        row.get(1)?,
                    ))
                },
            )
    }

    /// How many uploads are recorded.
    pub fn count(&self) -> rusqlite::Result<u64> {
        self.db
            .query_row("SELECT COUNT(*) FROM uploads", [], |row| {
                row.get::<_, i64>(0)
            })
            .map(|n| u64::try_from(n).unwrap_or(0))
    }
}

/// Whether `err` says the file is not a database, or a damaged one.
fn is_damaged(err: &rusqlite::Error) -> bool {
    matches!(
        err.sqlite_error_code(),
        Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt)
    )
}

/// An upload from a row of `SELECT id, uploaded_at, path, name, size_bytes, hash, asset_id,
/// folder_id, server, account, source, batch, modified_ns, fixed`.
fn upload_of_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Upload> {
    Ok(Upload {
        id: row.get(0)?,
        uploaded_at: from_millis(row.get(1)?),
        path: PathBuf::from(row.get::<_, String>(2)?),
        name: row.get(3)?,
        size_bytes: u64::try_from(row.get::<_, i64>(4)?).unwrap_or(0),
        hash: row.get(5)?,
        asset_id: row.get(6)?,
        folder_id: row.get(7)?,
        server: row.get(8)?,
        account: row.get(9)?,
        source: Source::parse(&row.get::<_, String>(10)?),
        batch: row.get(11)?,
        modified_ns: row.get(12)?,
        fixed: row.get(13)?,
    })
}

/// Brings the schema to the newest version, in one transaction per step.
fn upgrade(db: &mut Connection) -> rusqlite::Result<()> {
    let version: i64 = db.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let version = usize::try_from(version).unwrap_or(0);
    for (step, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let step = i64::try_from(step).unwrap_or(i64::MAX);
        let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        // Another process may have upgraded while this one waited for the lock.
        let now: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
        if now <= step {
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", step + 1)?;
        }
        tx.commit()?;
    }
    Ok(())
}

/// A content hash (BLAKE3 hex) as its 32 bytes; `None` if it is not one.
fn digest(hex_hash: &str) -> Option<[u8; 32]> {
    let mut digest = [0; 32];
    hex::decode_to_slice(hex_hash, &mut digest).ok()?;
    Some(digest)
}

fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// SQLite's integers are signed.
fn sql_int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn millis(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn from_millis(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests;
