//! Why no copy was made, in words for the user.

use std::path::PathBuf;

use crate::upload::human_bytes;

use super::MAX_DECODE_BYTES;

/// Why [`super::make_copy`] made no copy. Each message says what happened, that the original is
/// unchanged, and what to do.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FixError {
    /// HEIC, HEIF or AVIF in a build made without libheif (not Linux, or `heic` off).
    #[error(
        "{format} needs the HEIC-enabled build: this build of Runflow Uploader was made without \
         libheif. Convert the file yourself (e.g. in Photos or Preview), or use the Linux build. \
         The original is unchanged."
    )]
    NeedsHeicBuild {
        /// "HEIC", "HEIF" or "AVIF".
        format: &'static str,
    },

    /// The content is no image format known here.
    #[error(
        "{name} is not in an image format Runflow Uploader can convert (PNG, JPEG, GIF, WebP, \
         TIFF, BMP, HEIC, HEIF, AVIF, ICO, TGA, PNM, QOI or JPEG XL). The original is \
         unchanged; save it as PNG or JPEG in an image editor and upload that."
    )]
    NotAnImage {
        /// The file's name.
        name: String,
    },

    /// The original could not be read.
    #[error(
        "Could not read {}: {message}. Nothing was changed; check that the file is still there \
         and readable, then try again.",
        path.display()
    )]
    Read {
        /// The original's path.
        path: PathBuf,
        /// The system's words for it.
        message: String,
    },

    /// The decoder failed: a damaged file, or a variant of the format the decoder lacks.
    #[error(
        "The {format} file could not be decoded ({message}): it is damaged, or uses a variant of \
         {format} Runflow Uploader cannot read. The original is unchanged; open it in an image \
         editor, save it as PNG or JPEG, and upload that."
    )]
    Decode {
        /// The format's label.
        format: &'static str,
        /// The decoder's words for it.
        message: String,
    },

    /// Decoding would take more memory than [`MAX_DECODE_BYTES`].
    #[error(
        "The {format} image is {width}×{height} pixels: decoding it would take more than {} of \
         memory, the most Runflow Uploader uses for one image, so no copy was made. The original \
         is unchanged; scale it down in an image editor, then upload that.",
        human_bytes(MAX_DECODE_BYTES)
    )]
    TooLarge {
        /// The format's label.
        format: &'static str,
        /// The image's width in pixels.
        width: u32,
        /// The image's height in pixels.
        height: u32,
    },

    /// An animated image: a still copy would lose every frame but the first.
    #[error(
        "The {format} image is animated: a copy would keep only its first frame, so none was \
         made. The original is unchanged; make it smaller in an editor (fewer frames, fewer \
         colours or a smaller size), then upload that."
    )]
    Animated {
        /// The format's label.
        format: &'static str,
    },

    /// Even the smallest copy tried is over the limit.
    #[error(
        "Even scaled down to {width}×{height} pixels the copy is {}, over the limit of {}, so no \
         copy was made. The original is unchanged; crop or simplify the image in an editor, then \
         try again.",
        human_bytes(*size_bytes),
        human_bytes(*limit_bytes)
    )]
    CannotFit {
        /// The smallest width tried.
        width: u32,
        /// The smallest height tried.
        height: u32,
        /// That copy's size.
        size_bytes: u64,
        /// The limit it had to meet.
        limit_bytes: u64,
    },

    /// An encoder refused the pixels it was given: a bug here, not a problem of the file.
    #[error(
        "Could not encode the copy as {kind} ({message}). The original is unchanged; this is a \
         bug in Runflow Uploader, please report it with the file's type and size."
    )]
    Encode {
        /// "JPEG", "PNG" or "WebP".
        kind: &'static str,
        /// The encoder's words for it.
        message: String,
    },

    /// The copy could not be written (disk full, no permission...).
    #[error(
        "Could not write the copy into {} ({message}). The original is unchanged; free some disk \
         space or check the folder's permissions, then try again.",
        dir.display()
    )]
    Write {
        /// The folder of copies.
        dir: PathBuf,
        /// The system's words for it.
        message: String,
    },

    /// The copy's path is the original itself (a JPEG re-encoded into its own folder).
    #[error(
        "The copy would replace the original {}, so none was made. The original is unchanged; \
         copies must go to a folder of their own.",
        path.display()
    )]
    SameAsOriginal {
        /// The original's (and the copy's) path.
        path: PathBuf,
    },
}
