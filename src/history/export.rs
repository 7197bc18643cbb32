//! The receipt of an upload history: local file -> asset, as CSV (a header row, then one row
//! per upload) or JSON (an array of objects), with the same fields in the same order.

use std::io::Write;

use super::Upload;

/// An export's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Comma-separated, with a header row.
    #[default]
    Csv,
    /// One JSON array.
    Json,
}

impl Format {
    /// The file name extension.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Json => "json",
        }
    }
}

/// Writes `uploads` to `out` as `format`.
pub fn write(uploads: &[Upload], format: Format, out: impl Write) -> std::io::Result<()> {
    match format {
        Format::Csv => {
            let mut csv = csv::Writer::from_writer(out);
            for upload in uploads {
                csv.serialize(upload).map_err(std::io::Error::other)?;
            }
            if uploads.is_empty() {
                // The header alone, so an empty receipt still says what it would hold.
                csv.write_record(HEADER).map_err(std::io::Error::other)?;
            }
            csv.flush()
        }
        Format::Json => {
            let mut out = out;
            serde_json::to_writer_pretty(&mut out, uploads)?;
            out.write_all(b"\n")
        }
    }
}

/// The fields of [`Upload`] as serialized.
const HEADER: [&str; 12] = [
    "uploaded_at",
    "path",
    "name",
    "size_bytes",
    "hash",
    "asset_id",
    "folder_id",
    "server",
    "account",
    "source",
    "batch",
    "fixed",
];
