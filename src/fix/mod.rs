//! The upload copy of an image Runflow would refuse: "Convert and upload" for a format Runflow
//! does not take (HEIC, TIFF, JPEG XL...), "Shrink to fit" for an image over the upload limit.
//!
//! [`make_copy`] decodes the original (under a memory budget, with its orientation applied),
//! picks the copy's type by content (JPEG for photos, PNG or WebP lossless for graphics and
//! transparency), scales it down by the least factor that fits the limit, and writes the copy
//! atomically into a folder of copies. The original is only ever read.
//!
//! - `format`: which image format a file is, from its first bytes.
//! - `decode`: the image crate's decoders and JPEG XL (jxl-oxide); `heif`: HEIC, HEIF and AVIF
//!   through the system libheif (the `heic` feature, Linux).
//! - `encode`: the choice of type by content, and the encoders; `fit`: the fit to the limit.
//! - `error`: [`FixError`], what the user reads when no copy could be made.

mod decode;
mod encode;
mod error;
mod fit;
mod format;
mod heif;
#[cfg(test)]
mod tests;

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

pub use error::FixError;
pub use format::{Format, can_decode, format_of};

use crate::upload::human_bytes;
use crate::upload::nanos_since_epoch;

/// The most memory the decoded pixels of one image may take (1 GiB): about 268 million RGBA8
/// pixels, far past any camera's photo. Past it the file is refused before decoding.
pub const MAX_DECODE_BYTES: u64 = 1 << 30;

/// How many bytes of a file [`format_of`] looks at, like the upload's own sniffing.
const HEAD_BYTES: u64 = 8192;

/// A decoded original.
struct Decoded {
    /// The pixels, oriented as a viewer shows them.
    image: image::DynamicImage,
    /// The embedded ICC profile, as stored.
    icc: Option<Vec<u8>>,
}

/// What the copy must be.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// Runflow takes image/webp, so lossless images may become WebP (else PNG).
    pub webp: bool,
    /// The copy must be at most this many bytes (52_428_800 in the app; tests pass small limits).
    pub limit_bytes: u64,
}

/// The copy [`make_copy`] wrote.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FixedCopy {
    /// Where the copy is: `out_dir/<stem>.<ext>`.
    pub path: PathBuf,
    /// The original's name with the copy's extension: "IMG_0042.HEIC" -> "IMG_0042.jpg".
    pub name: String,
    /// image/jpeg, image/png or image/webp.
    pub mime_type: String,
    /// The copy's size.
    pub size_bytes: u64,
    /// The copy's modification time, nanoseconds since the Unix epoch (as
    /// [`crate::upload::nanos_since_epoch`] counts them).
    pub modified_ns: u128,
    /// The copy's width in pixels, after orientation.
    pub width: u32,
    /// The copy's height in pixels, after orientation.
    pub height: u32,
    /// The original's size (after orientation) when the copy was scaled down to fit.
    pub scaled_from: Option<(u32, u32)>,
    /// The original's format, e.g. "HEIC".
    pub from_label: String,
    /// The original's MIME type, e.g. "image/heic".
    pub from_mime: String,
}

/// The types Runflow takes as they are, in the list it typically sends: an original in one of
/// them was re-encoded (it was too large), any other was converted.
const TAKEN_AS_IS: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];

impl FixedCopy {
    /// For rows, the history and logs, e.g. "converted from HEIC to JPEG, 4032×3024, 3.1 MiB",
    /// "re-encoded as JPEG, 4000×3000 kept, 31.0 MiB", or "re-encoded as JPEG and scaled from
    /// 12000×8000 to 8400×5600, 49.8 MiB". An original of a type Runflow usually takes (PNG,
    /// JPEG, GIF, WebP) was re-encoded because it was too large; any other was converted.
    pub fn describe(&self) -> String {
        let to = encode::label_of_mime(&self.mime_type).unwrap_or(&self.mime_type);
        let size = human_bytes(self.size_bytes);
        let (w, h) = (self.width, self.height);
        let re_encoded = TAKEN_AS_IS.contains(&self.from_mime.as_str());
        let action = if re_encoded {
            format!("re-encoded as {to}")
        } else {
            format!("converted from {} to {to}", self.from_label)
        };
        match self.scaled_from {
            Some((from_w, from_h)) => {
                format!("{action} and scaled from {from_w}×{from_h} to {w}×{h}, {size}")
            }
            // A re-encode was made for the size: say the pixels were kept.
            None if re_encoded => format!("{action}, {w}×{h} kept, {size}"),
            None => format!("{action}, {w}×{h}, {size}"),
        }
    }
}

/// Decodes `original` (its file name `name`), picks the target type by content, writes the copy
/// into `out_dir` (created when missing), scaling down by the least factor that fits when the
/// full-size encoding is over `target.limit_bytes`. Blocking and CPU heavy: call it on a
/// blocking thread. The original is only read.
///
/// Photos become JPEG; translucent images and graphics (few colours) become lossless WebP or
/// PNG, except an opaque graphic whose lossless copy is over the limit, which becomes a JPEG
/// (see `fit`). Animated GIF, PNG and WebP are refused ([`FixError::Animated`]), and so is a
/// copy whose path would be the original's ([`FixError::SameAsOriginal`]).
pub fn make_copy(
    original: &Path,
    name: &str,
    out_dir: &Path,
    target: &Target,
) -> Result<FixedCopy, FixError> {
    let head = read_head(original)?;
    let Some(format) = format_of(name, &head) else {
        return Err(FixError::NotAnImage {
            name: name.to_owned(),
        });
    };
    if !can_decode(format) {
        return Err(FixError::NeedsHeicBuild {
            format: format.label,
        });
    }
    let decoded = decode::decode(original, format)?;
    let oriented = (decoded.image.width(), decoded.image.height());
    let prepared = encode::prepare(decoded.image, target.webp);
    let icc = decoded
        .icc
        .filter(|profile| encode::icc_fits(profile, &prepared.image));
    let fitted = fit::fit(&prepared, icc.as_deref(), target.limit_bytes)?;

    let file_name = format!("{}.{}", copy_stem(name), fitted.kind.extension());
    let path = write_copy(original, out_dir, &file_name, &fitted.bytes)?;
    let written = fs::metadata(&path).map_err(|err| FixError::Write {
        dir: out_dir.to_path_buf(),
        message: err.to_string(),
    })?;
    Ok(FixedCopy {
        path,
        name: file_name,
        mime_type: fitted.kind.mime_type().to_owned(),
        size_bytes: written.len(),
        modified_ns: written.modified().map_or(0, nanos_since_epoch),
        width: fitted.width,
        height: fitted.height,
        scaled_from: fitted.scaled.then_some(oriented),
        from_label: format.label.to_owned(),
        from_mime: format.mime_type.to_owned(),
    })
}

fn read_head(path: &Path) -> Result<Vec<u8>, FixError> {
    let mut head = Vec::with_capacity(HEAD_BYTES as usize);
    File::open(path)
        .and_then(|file| file.take(HEAD_BYTES).read_to_end(&mut head))
        .map_err(|err| FixError::Read {
            path: path.to_path_buf(),
            message: err.to_string(),
        })?;
    Ok(head)
}

/// The name without its last extension: "IMG_0042.HEIC" -> "IMG_0042", "scan" -> "scan".
/// A leading dot starts a name, not an extension.
fn copy_stem(name: &str) -> &str {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let stem = match base.rfind('.') {
        Some(dot) if dot > 0 => &base[..dot],
        _ => base,
    };
    if stem.is_empty() { "image" } else { stem }
}

/// Writes `bytes` to `out_dir/file_name` through a temporary file in the same folder, so a
/// reader never sees half a copy and a failed write leaves nothing behind.
fn write_copy(
    original: &Path,
    out_dir: &Path,
    file_name: &str,
    bytes: &[u8],
) -> Result<PathBuf, FixError> {
    let failed = |err: std::io::Error| FixError::Write {
        dir: out_dir.to_path_buf(),
        message: err.to_string(),
    };
    fs::create_dir_all(out_dir).map_err(failed)?;
    let path = out_dir.join(file_name);
    // A re-encoded "photo.jpg" copied into the original's own folder would replace it.
    if let (Ok(existing), Ok(source)) = (fs::canonicalize(&path), fs::canonicalize(original))
        && existing == source
    {
        return Err(FixError::SameAsOriginal { path });
    }
    let mut temp = tempfile::NamedTempFile::new_in(out_dir).map_err(failed)?;
    temp.write_all(bytes).map_err(failed)?;
    temp.as_file().sync_all().map_err(failed)?;
    temp.persist(&path).map_err(|err| failed(err.error))?;
    Ok(path)
}
