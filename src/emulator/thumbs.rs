//! Thumbnails: decoded under the client's limits on a blocking thread, scaled so the longest side
//! is at most [`THUMB_MAX_SIDE`], stored as PNG objects. Anything undecodable (or a decoder
//! panic) yields no thumbnail, never an error.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use image::{DynamicImage, ImageFormat};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use super::Shared;
use super::identity::ORG_ID;
use super::state::{ObjectMeta, object_file_name};
use crate::api::models::MAX_UPLOAD_BYTES;

/// Longest side of a thumbnail, in pixels.
pub(crate) const THUMB_MAX_SIDE: u32 = 512;
/// The storage key of an asset's thumbnail.
pub(crate) fn thumbnail_key(asset_id: Uuid) -> String {
    format!("thumbnails/{ORG_ID}/{asset_id}.png")
}

/// Decodes an image object under the client's decoder limits (the same code as the gallery's
/// tiles: [`crate::library::thumbs::decode_file`]), scaled to fit [`THUMB_MAX_SIDE`].
pub(crate) fn decode(path: &Path) -> anyhow::Result<DynamicImage> {
    let image = crate::library::thumbs::decode_file(path, THUMB_MAX_SIDE, MAX_UPLOAD_BYTES)?;
    Ok(DynamicImage::ImageRgba8(image))
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
    // PNG takes 8-bit RGB(A); normalise exotic layouts (16-bit, float) first, and keep an
    // opaque image's PNG without an alpha channel.
    let opaque = match &scaled {
        DynamicImage::ImageRgba8(rgba) => rgba.pixels().all(|p| p[3] == u8::MAX),
        other => !other.color().has_alpha(),
    };
    let scaled = if !opaque {
        DynamicImage::ImageRgba8(scaled.to_rgba8())
    } else {
        DynamicImage::ImageRgb8(scaled.to_rgb8())
    };
    let mut png = Vec::new();
    scaled.write_to(&mut std::io::Cursor::new(&mut png), ImageFormat::Png)?;
    Ok(png)
}

/// Stores bytes as an object file ([`crate::atomic::write`]); returns its metadata.
pub(crate) fn store_bytes(
    target: &Path,
    content_type: &str,
    bytes: &[u8],
) -> std::io::Result<ObjectMeta> {
    crate::atomic::write(target, bytes, false)?;
    Ok(ObjectMeta {
        content_type: content_type.into(),
        size_bytes: bytes.len() as u64,
        sha256: Sha256::digest(bytes).into(),
    })
}

fn make_blocking(source: PathBuf, target: PathBuf) -> anyhow::Result<ObjectMeta> {
    let image = decode(&source)?;
    let png = render_png(&image)?;
    Ok(store_bytes(&target, "image/png", &png)?)
}

/// Makes and stores the thumbnail of an image asset; `None` if it can't be decoded.
/// Returns the thumbnail's key and object metadata (not yet recorded in the state).
pub(crate) async fn make_thumbnail(
    shared: &Arc<Shared>,
    asset_id: Uuid,
    source_key: &str,
) -> Option<(String, ObjectMeta)> {
    let key = thumbnail_key(asset_id);
    let source_path = shared.store.object_path(&object_file_name(source_key));
    let target = shared.store.object_path(&object_file_name(&key));
    let job = tokio::task::spawn_blocking(move || make_blocking(source_path, target));
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
        assert!(decode(&path).is_err());
        std::fs::write(&path, b"").unwrap();
        assert!(decode(&path).is_err());
    }
}
