//! Decoding untrusted image bytes: the format is sniffed from the bytes, the header is checked
//! against [`MAX_SOURCE_SIDE`] and [`MAX_DECODE_ALLOC_BYTES`] before any pixel buffer exists, and
//! a decoder panic is a failure like any other. Blocking: call from a blocking thread.

use std::fs::File;
use std::io::{BufRead, Cursor, Read as _, Seek};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use image::codecs::jpeg::JpegEncoder;
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
    if bytes.starts_with(JPEG_START) {
        if !jpeg_is_complete(bytes) {
            return Err(ThumbError::Damaged);
        }
        if let Some(scaled) = guarded_scaled(|| decode_jpeg_scaled(bytes, size_px)) {
            return scaled;
        }
    }
    guarded(|| decode_reader(Cursor::new(bytes), size_px))
}

/// A JPEG decoded straight to about the size wanted: the decoder's scaled IDCT (1/2, 1/4 or
/// 1/8) does most of the shrinking, so a 12 MP photo never exists at full size for a 160 px
/// tile. `None` for the layouts it leaves to the general decoder (16-bit, CMYK).
fn decode_jpeg_scaled(bytes: &[u8], size_px: u32) -> Option<Result<RgbaImage, ThumbError>> {
    use jpeg_decoder::{Decoder, PixelFormat};
    let mut decoder = Decoder::new(Cursor::new(bytes));
    decoder.set_max_decoding_buffer_size(
        usize::try_from(MAX_DECODE_ALLOC_BYTES).unwrap_or(usize::MAX),
    );
    if let Err(e) = decoder.read_info() {
        return Some(Err(from_jpeg_error(&e, None)));
    }
    let info = decoder.info()?;
    if !matches!(info.pixel_format, PixelFormat::L8 | PixelFormat::RGB24) {
        return None;
    }
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    let pixels = Some((width, height));
    if width > MAX_SOURCE_SIDE || height > MAX_SOURCE_SIDE {
        return Some(Err(ThumbError::TooLarge { pixels }));
    }
    let wanted = u16::try_from(size_px.max(1)).unwrap_or(u16::MAX);
    let (scaled_width, scaled_height) = match decoder.scale(wanted, wanted) {
        Ok(size) => size,
        Err(e) => return Some(Err(from_jpeg_error(&e, pixels))),
    };
    let data = match decoder.decode() {
        Ok(data) => data,
        Err(e) => return Some(Err(from_jpeg_error(&e, pixels))),
    };
    let (w, h) = (u32::from(scaled_width), u32::from(scaled_height));
    let image = match info.pixel_format {
        PixelFormat::L8 => image::GrayImage::from_raw(w, h, data).map(DynamicImage::ImageLuma8),
        _ => image::RgbImage::from_raw(w, h, data).map(DynamicImage::ImageRgb8),
    };
    let Some(mut image) = image else {
        return Some(Err(ThumbError::Damaged));
    };
    let orientation = decoder
        .exif_data()
        .and_then(Orientation::from_exif_chunk)
        .unwrap_or(Orientation::NoTransforms);
    image.apply_orientation(orientation);
    Some(Ok(fit(image, size_px)))
}

fn from_jpeg_error(err: &jpeg_decoder::Error, pixels: Option<(u32, u32)>) -> ThumbError {
    match err {
        jpeg_decoder::Error::Unsupported(_) => ThumbError::Unsupported,
        jpeg_decoder::Error::Format(text) if text.contains("exceeds maximum allowed size") => {
            ThumbError::TooLarge { pixels }
        }
        _ => ThumbError::Damaged,
    }
}

/// `image` scaled down (never up) to fit `size_px`.
fn fit(image: DynamicImage, size_px: u32) -> RgbaImage {
    let (target_width, target_height) = fit_within(image.width(), image.height(), size_px);
    if (target_width, target_height) == (image.width(), image.height()) {
        image.into_rgba8()
    } else {
        image
            .thumbnail_exact(target_width, target_height)
            .into_rgba8()
    }
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

/// Quality of the JPEG tiles in the disk cache: at 160 px a photo's tile is about 8 KB
/// instead of the 40-60 KB of a PNG, so the cache keeps every tile of a 10,000-asset gallery.
const TILE_JPEG_QUALITY: u8 = 90;

/// Encodes a tile for the disk cache: JPEG when every pixel is opaque (photos, screenshots),
/// PNG when some are not, so transparency survives. Reading it back sniffs the format.
pub(crate) fn encode_tile(image: &RgbaImage) -> Result<Vec<u8>, ImageError> {
    let mut out = Vec::new();
    if image.pixels().all(|p| p[3] == u8::MAX) {
        let rgb = DynamicImage::ImageRgba8(image.clone()).into_rgb8();
        JpegEncoder::new_with_quality(&mut out, TILE_JPEG_QUALITY).write_image(
            rgb.as_raw(),
            rgb.width(),
            rgb.height(),
            ExtendedColorType::Rgb8,
        )?;
    } else {
        encode_png(image, &mut out)?;
    }
    Ok(out)
}

fn encode_png(image: &RgbaImage, out: &mut Vec<u8>) -> Result<(), ImageError> {
    PngEncoder::new_with_quality(out, CompressionType::Fast, FilterType::Adaptive).write_image(
        image.as_raw(),
        image.width(),
        image.height(),
        ExtendedColorType::Rgba8,
    )
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

/// [`guarded`] for a decoder that may decline (`None`).
fn guarded_scaled(
    decode: impl FnOnce() -> Option<Result<RgbaImage, ThumbError>>,
) -> Option<Result<RgbaImage, ThumbError>> {
    catch_unwind(AssertUnwindSafe(decode)).unwrap_or_else(|_| {
        tracing::warn!("JPEG decoder panicked; treating the file as unreadable");
        Some(Err(ThumbError::DecoderFailed))
    })
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
    Ok(fit(image, size_px))
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
        let mut out = Vec::new();
        encode_png(&image, &mut out).unwrap();
        out
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
