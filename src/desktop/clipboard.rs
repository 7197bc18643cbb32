//! Pasting: an image from the clipboard (read here) or pasted into the window, encoded as PNG
//! and queued under a generated name.

use bytes::Bytes;

use super::engine_host::deliver;
use super::protocol::Level;
use super::sink::Sink;
use crate::upload::{self, EngineHandle};

/// Runs `encode` on a blocking thread (the clipboard talks to the display server and blocks;
/// encoding is CPU work) and queues its PNG on `engine`, or tells the window why not.
pub(super) async fn upload_png(
    engine: EngineHandle,
    sink: Sink,
    folder_id: Option<String>,
    encode: impl FnOnce() -> Result<Bytes, PasteError> + Send + 'static,
) {
    let png = tokio::task::spawn_blocking(encode)
        .await
        .unwrap_or_else(|err| Err(PasteError::Failed(err.to_string())));
    match png {
        Ok(png) => deliver(
            &engine,
            &sink,
            upload::Command::AddBytes {
                name: pasted_name(),
                mime_type: "image/png".to_owned(),
                bytes: png,
                folder_id,
            },
        ),
        Err(err @ PasteError::NoImage) => sink.notice(Level::Info, err.to_string()),
        Err(err) => sink.notice(Level::Error, err.to_string()),
    }
}

/// Reading the clipboard image failed.
#[derive(Debug, thiserror::Error)]
pub(super) enum PasteError {
    #[error("The clipboard holds no image to paste.")]
    NoImage,
    #[error(
        "The clipboard cannot be used here ({0}). Save the image to a file and add that instead."
    )]
    Unavailable(String),
    #[error("The clipboard image could not be read ({0}). Copy it again and retry.")]
    Failed(String),
}

/// Reads the clipboard image and encodes it as PNG. Blocking.
pub(super) fn clipboard_png() -> Result<Bytes, PasteError> {
    let mut clipboard =
        arboard::Clipboard::new().map_err(|e| PasteError::Unavailable(e.to_string()))?;
    let image = clipboard.get_image().map_err(|err| match err {
        arboard::Error::ContentNotAvailable => PasteError::NoImage,
        arboard::Error::ClipboardNotSupported => PasteError::Unavailable(err.to_string()),
        other => PasteError::Failed(other.to_string()),
    })?;
    encode_png(image.width, image.height, image.bytes.into_owned())
}

/// Encodes RGBA8 pixels as PNG. Blocking.
pub(super) fn encode_png(width: usize, height: usize, rgba: Vec<u8>) -> Result<Bytes, PasteError> {
    let size = u32::try_from(width).ok().zip(u32::try_from(height).ok());
    let image = size
        .and_then(|(w, h)| image::RgbaImage::from_raw(w, h, rgba))
        .ok_or_else(|| {
            PasteError::Failed(format!(
                "a {width}x{height} image with the wrong pixel data"
            ))
        })?;
    let mut png = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut png, image::ImageFormat::Png)
        .map_err(|e| PasteError::Failed(e.to_string()))?;
    Ok(Bytes::from(png.into_inner()))
}

/// `pasted-YYYYMMDD-HHMMSS.png` in UTC.
fn pasted_name() -> String {
    let format =
        time::macros::format_description!("pasted-[year][month][day]-[hour][minute][second].png");
    time::OffsetDateTime::now_utc()
        .format(format)
        .unwrap_or_else(|_| "pasted.png".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pasted_names_carry_the_time() {
        let name = pasted_name();
        assert!(name.starts_with("pasted-"), "{name}");
        assert!(name.ends_with(".png"), "{name}");
        assert_eq!(name.len(), "pasted-20260101-120000.png".len(), "{name}");
    }

    #[test]
    fn clipboard_pixels_become_a_png() {
        let png = encode_png(2, 1, vec![255, 0, 0, 255, 0, 0, 255, 128]).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
        let decoded = image::load_from_memory(&png).unwrap().to_rgba8();
        assert_eq!(decoded.dimensions(), (2, 1));
        assert_eq!(decoded.get_pixel(1, 0).0, [0, 0, 255, 128]);

        let err = encode_png(3, 3, vec![0; 4]).unwrap_err();
        assert!(err.to_string().contains("3x3"), "{err}");
    }
}
