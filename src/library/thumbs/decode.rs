//! Decoding untrusted image bytes: the format is sniffed from the bytes, the header is checked
//! against [`MAX_SOURCE_SIDE`] and [`MAX_DECODE_ALLOC_BYTES`] before any pixel buffer exists, and
//! a decoder panic is a failure like any other. Blocking: call from a blocking thread.

use std::fs::File;
use std::io::{BufRead, Cursor, Read as _, Seek};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::error::UnsupportedErrorKind;
use image::metadata::Orientation;
use image::{
    DynamicImage, ExtendedColorType, ImageDecoder, ImageEncoder, ImageError, ImageReader, Limits,
    RgbaImage,
};

use super::ThumbError;

/// Largest source width or height the decoder accepts.
pub(crate) const MAX_SOURCE_SIDE: u32 = 16_384;
/// Most memory one decode may allocate for pixels.
pub(crate) const MAX_DECODE_ALLOC_BYTES: u64 = 256 * 1024 * 1024;

/// The size of a `width`×`height` image scaled so its longest side is at most `max_side`,
/// keeping the aspect ratio, never scaling up, and never below 1×1.
pub(crate) fn fit_within(width: u32, height: u32, max_side: u32) -> (u32, u32) {
    let longest = width.max(height);
    let max_side = max_side.max(1);
    if longest <= max_side {
        return (width.max(1), height.max(1));
    }
    let scale = |side: u32| {
        let scaled =
            (u64::from(side) * u64::from(max_side) + u64::from(longest) / 2) / u64::from(longest);
        u32::try_from(scaled).unwrap_or(max_side).clamp(1, max_side)
    };
    (scale(width), scale(height))
}

/// Decodes in-memory bytes and scales them to fit `size_px`.
pub(crate) fn decode_bytes(bytes: &[u8], size_px: u32) -> Result<RgbaImage, ThumbError> {
    if bytes.starts_with(JPEG_START) && !jpeg_is_complete(bytes) {
        return Err(ThumbError::Damaged);
    }
    guarded(|| decode_reader(Cursor::new(bytes), size_px))
}

/// Decodes a local file of at most `max_bytes` and scales it to fit `size_px`.
pub(crate) fn decode_file(
    path: &Path,
    size_px: u32,
    max_bytes: u64,
) -> Result<RgbaImage, ThumbError> {
    let read_error = |e: std::io::Error| ThumbError::ReadFile(e.to_string());
    let file = File::open(path).map_err(read_error)?;
    let size_bytes = file.metadata().map_err(read_error)?.len();
    if size_bytes > max_bytes {
        return Err(ThumbError::FileTooLarge {
            limit_bytes: max_bytes,
        });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size_bytes).unwrap_or(0));
    file.take(max_bytes)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    decode_bytes(&bytes, size_px)
}

/// Encodes a thumbnail as PNG for the disk cache.
pub(crate) fn encode_png(image: &RgbaImage) -> Result<Vec<u8>, ImageError> {
    let mut out = Vec::new();
    PngEncoder::new_with_quality(&mut out, CompressionType::Fast, FilterType::Adaptive)
        .write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            ExtendedColorType::Rgba8,
        )?;
    Ok(out)
}

/// The start-of-image marker of a JPEG.
const JPEG_START: &[u8] = &[0xFF, 0xD8];

/// Whether a JPEG's segments run up to an end-of-image marker. The JPEG decoder behind `image`
/// fills the missing rows of a truncated file with grey instead of failing; this tells a cut-off
/// file from a whole one. Segments are skipped by their length (an embedded EXIF thumbnail's
/// end marker does not count), entropy-coded data up to the next real marker.
pub(crate) fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let byte = |i: usize| bytes.get(i).copied();
    if !bytes.starts_with(JPEG_START) {
        return false;
    }
    let mut i = JPEG_START.len();
    loop {
        // A marker is 0xFF (any number of fill bytes) and a code.
        while byte(i).is_some_and(|b| b != 0xFF) {
            i += 1;
        }
        while byte(i) == Some(0xFF) {
            i += 1;
        }
        let Some(marker) = byte(i) else { return false };
        i += 1;
        match marker {
            0xD9 => return true,
            // Standalone markers without a length.
            0x00 | 0x01 | 0xD0..=0xD7 => continue,
            _ => {}
        }
        let (Some(high), Some(low)) = (byte(i), byte(i + 1)) else {
            return false;
        };
        let length = usize::from(u16::from_be_bytes([high, low]));
        if length < 2 {
            return false;
        }
        i += length;
        if marker == 0xDA {
            // Scan data: 0xFF 0x00 is an escaped byte and 0xFF 0xD0..=0xD7 a restart marker.
            loop {
                while byte(i).is_some_and(|b| b != 0xFF) {
                    i += 1;
                }
                match byte(i + 1) {
                    None => return false,
                    Some(0x00 | 0xD0..=0xD7) => i += 2,
                    Some(0xFF) => i += 1,
                    Some(_) => break,
                }
            }
        }
    }
}

/// Runs `decode`, turning a panic into [`ThumbError::DecoderFailed`].
fn guarded(
    decode: impl FnOnce() -> Result<RgbaImage, ThumbError>,
) -> Result<RgbaImage, ThumbError> {
    // The closure owns or borrows nothing that outlives a panic in a broken state: the reader
    // is dropped with the unwind.
    catch_unwind(AssertUnwindSafe(decode)).unwrap_or_else(|_| {
        tracing::warn!("image decoder panicked; treating the file as unreadable");
        Err(ThumbError::DecoderFailed)
    })
}

fn decode_reader<R: BufRead + Seek>(reader: R, size_px: u32) -> Result<RgbaImage, ThumbError> {
    let mut reader = ImageReader::new(reader)
        .with_guessed_format()
        .map_err(|e| ThumbError::ReadFile(e.to_string()))?;
    if reader.format().is_none() {
        return Err(ThumbError::NotAnImage);
    }
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_DECODE_ALLOC_BYTES);
    // Read the header without the dimension limits, so an oversized image can say how big it is.
    reader.limits(limits.clone());
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| from_image_error(e, None))?;
    let (width, height) = decoder.dimensions();
    let pixels = Some((width, height));
    if width > MAX_SOURCE_SIDE || height > MAX_SOURCE_SIDE {
        return Err(ThumbError::TooLarge { pixels });
    }
    limits.max_image_width = Some(MAX_SOURCE_SIDE);
    limits.max_image_height = Some(MAX_SOURCE_SIDE);
    limits
        .reserve(decoder.total_bytes())
        .map_err(|e| from_image_error(e, pixels))?;
    decoder
        .set_limits(limits)
        .map_err(|e| from_image_error(e, pixels))?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(|e| from_image_error(e, pixels))?;
    image.apply_orientation(orientation);
    let (target_width, target_height) = fit_within(image.width(), image.height(), size_px);
    if (target_width, target_height) == (image.width(), image.height()) {
        Ok(image.into_rgba8())
    } else {
        Ok(image
            .thumbnail_exact(target_width, target_height)
            .into_rgba8())
    }
}

fn from_image_error(err: ImageError, pixels: Option<(u32, u32)>) -> ThumbError {
    match err {
        ImageError::Limits(_) => ThumbError::TooLarge { pixels },
        ImageError::Unsupported(e) => match e.kind() {
            UnsupportedErrorKind::Format(_) => ThumbError::NotAnImage,
            _ => ThumbError::Unsupported,
        },
        ImageError::Decoding(_)
        | ImageError::IoError(_)
        | ImageError::Parameter(_)
        | ImageError::Encoding(_) => ThumbError::Damaged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = RgbaImage::from_fn(width, height, |x, y| {
            image::Rgba([(x % 256) as u8, (y % 256) as u8, 7, 200])
        });
        encode_png(&image).unwrap()
    }

    #[test]
    fn fitting_keeps_aspect_and_never_upscales() {
        assert_eq!(fit_within(1000, 500, 256), (256, 128));
        assert_eq!(fit_within(500, 1000, 256), (128, 256));
        assert_eq!(fit_within(100, 50, 256), (100, 50));
        assert_eq!(fit_within(256, 256, 256), (256, 256));
        assert_eq!(fit_within(10_000, 1, 100), (100, 1));
        assert_eq!(fit_within(3, 2, 2), (2, 1));
        assert_eq!(fit_within(5, 5, 0), (1, 1));
        assert_eq!(fit_within(u32::MAX, u32::MAX / 2, 512), (512, 256));
    }

    #[test]
    fn decodes_and_scales() {
        let image = decode_bytes(&png(300, 150), 64).unwrap();
        assert_eq!(image.dimensions(), (64, 32));
        let small = decode_bytes(&png(30, 15), 64).unwrap();
        assert_eq!(small.dimensions(), (30, 15));
        assert_eq!(small.get_pixel(3, 4).0, [3, 4, 7, 200]);
    }

    #[test]
    fn garbage_is_not_an_image() {
        assert_eq!(
            decode_bytes(b"hello, I am text", 64),
            Err(ThumbError::NotAnImage)
        );
        assert_eq!(decode_bytes(b"", 64), Err(ThumbError::NotAnImage));
    }

    #[test]
    fn truncated_png_is_damaged() {
        let bytes = png(200, 200);
        let cut = &bytes[..bytes.len() / 2];
        assert_eq!(decode_bytes(cut, 64), Err(ThumbError::Damaged));
    }

    fn jpeg(width: u32, height: u32) -> Vec<u8> {
        let image = image::RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x ^ y) % 256) as u8])
        });
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
        out.into_inner()
    }

    #[test]
    fn truncated_jpegs_are_damaged_whole_ones_decode() {
        let whole = jpeg(120, 80);
        assert!(jpeg_is_complete(&whole));
        assert_eq!(decode_bytes(&whole, 60).unwrap().dimensions(), (60, 40));
        let mut trailing = whole.clone();
        trailing.extend_from_slice(b"trailer after the end marker");
        assert!(jpeg_is_complete(&trailing));
        for keep in [2, 20, whole.len() / 2, whole.len() - 2] {
            assert!(!jpeg_is_complete(&whole[..keep]), "cut at {keep}");
            assert_eq!(decode_bytes(&whole[..keep], 60), Err(ThumbError::Damaged));
        }
        assert!(!jpeg_is_complete(b"\xFF\xD8\xFF\xE0\x00\x01"));
    }

    #[test]
    fn panics_become_failures() {
        let result = guarded(|| panic!("decoder bug"));
        assert_eq!(result, Err(ThumbError::DecoderFailed));
    }
}
