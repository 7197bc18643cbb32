//! Thumbnails: decoded under [`image::Limits`] on a blocking thread, scaled so the longest side
//! is at most [`THUMB_MAX_SIDE`], stored as PNG objects. Anything undecodable (or a decoder
//! panic) yields no thumbnail, never an error.

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use image::{DynamicImage, ImageFormat, ImageReader, Limits};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use super::Shared;
use super::identity::ORG_ID;
use super::state::{ObjectMeta, Text, object_file_name};

/// Longest side of a thumbnail, in pixels.
pub(crate) const THUMB_MAX_SIDE: u32 = 512;
/// Largest source image side the decoder accepts.
const MAX_SOURCE_SIDE: u32 = 16_384;
/// Most memory the decoder may allocate.
const MAX_DECODE_ALLOC_BYTES: u64 = 256 * 1024 * 1024;

/// The storage key of an asset's thumbnail.
pub(crate) fn thumbnail_key(asset_id: Uuid) -> String {
    format!("thumbnails/{ORG_ID}/{asset_id}.png")
}

/// Decodes an image file, guessing the format from its bytes, else from its MIME type.
pub(crate) fn decode(path: &Path, mime_type: &str) -> anyhow::Result<DynamicImage> {
    let file = std::fs::File::open(path)?;
    let mut reader = ImageReader::new(BufReader::new(file)).with_guessed_format()?;
    if reader.format().is_none()
        && let Some(format) = ImageFormat::from_mime_type(mime_type)
    {
        reader.set_format(format);
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SOURCE_SIDE);
    limits.max_image_height = Some(MAX_SOURCE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_ALLOC_BYTES);
    reader.limits(limits);
    Ok(reader.decode()?)
}

/// Scales an image down (never up) to fit [`THUMB_MAX_SIDE`] and encodes it as PNG.
pub(crate) fn render_png(image: &DynamicImage) -> anyhow::Result<Vec<u8>> {
    let scaled = if image.width().max(image.height()) > THUMB_MAX_SIDE {
        image.resize(
            THUMB_MAX_SIDE,
            THUMB_MAX_SIDE,
            image::imageops::FilterType::Triangle,
        )
    } else {
        image.clone()
    };
    // PNG takes 8-bit RGB(A); normalise exotic layouts (16-bit, float) first.
    let scaled = if scaled.color().has_alpha() {
        DynamicImage::ImageRgba8(scaled.to_rgba8())
    } else {
        DynamicImage::ImageRgb8(scaled.to_rgb8())
    };
    let mut png = Vec::new();
    scaled.write_to(&mut std::io::Cursor::new(&mut png), ImageFormat::Png)?;
    Ok(png)
}

/// Stores bytes as an object file (temp file + rename); returns its metadata.
pub(crate) fn store_bytes(
    temp: &Path,
    target: &Path,
    content_type: &str,
    bytes: &[u8],
) -> std::io::Result<ObjectMeta> {
    std::fs::write(temp, bytes)?;
    std::fs::rename(temp, target)?;
    Ok(ObjectMeta {
        content_type: content_type.into(),
        size_bytes: bytes.len() as u64,
        sha256: Sha256::digest(bytes).into(),
    })
}

fn make_blocking(
    source: PathBuf,
    mime_type: Text,
    temp: PathBuf,
    target: PathBuf,
) -> anyhow::Result<ObjectMeta> {
    let image = decode(&source, &mime_type)?;
    let png = render_png(&image)?;
    Ok(store_bytes(&temp, &target, "image/png", &png)?)
}

/// Makes and stores the thumbnail of an image asset; `None` if it can't be decoded.
/// Returns the thumbnail's key and object metadata (not yet recorded in the state).
pub(crate) async fn make_thumbnail(
    shared: &Arc<Shared>,
    asset_id: Uuid,
    source_key: &str,
    source: &ObjectMeta,
) -> Option<(String, ObjectMeta)> {
    let key = thumbnail_key(asset_id);
    let source_path = shared.store.object_path(&object_file_name(source_key));
    let target = shared.store.object_path(&object_file_name(&key));
    let temp = shared.store.temp_path();
    let mime_type = source.content_type.clone();
    let job = tokio::task::spawn_blocking(move || {
        let result = make_blocking(source_path, mime_type, temp.clone(), target);
        if result.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        result
    });
    match job.await {
        Ok(Ok(meta)) => Some((key, meta)),
        Ok(Err(err)) => {
            tracing::info!(%asset_id, %err, "no thumbnail: image not decodable");
            None
        }
        Err(err) => {
            tracing::warn!(%asset_id, %err, "thumbnail task panicked");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbnails_fit_and_never_upscale() {
        let big = DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
            1200,
            300,
            image::Rgb([9, 8, 7]),
        ));
        let png = render_png(&big).unwrap();
        let thumb = image::load_from_memory(&png).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (512, 128));

        let small = DynamicImage::ImageRgba16(image::ImageBuffer::new(40, 60));
        let thumb = image::load_from_memory(&render_png(&small).unwrap()).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (40, 60));
    }

    #[test]
    fn garbage_does_not_decode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.png");
        std::fs::write(&path, b"\x89PNG\r\n\x1a\nthis is not really a png").unwrap();
        assert!(decode(&path, "image/png").is_err());
        std::fs::write(&path, b"").unwrap();
        assert!(decode(&path, "image/png").is_err());
    }
}
