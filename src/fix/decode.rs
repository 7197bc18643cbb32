//! Decoding the original under the memory budget, with its orientation applied.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use image::codecs::gif::GifDecoder;
use image::codecs::png::PngDecoder;
use image::codecs::webp::WebPDecoder;
use image::error::ImageError;
use image::metadata::Orientation;
use image::{AnimationDecoder, DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

use super::{Decoded, FixError, Format, MAX_DECODE_BYTES, heif};

/// Decodes the file at `path`, known to be `format`.
pub(super) fn decode(path: &Path, format: Format) -> Result<Decoded, FixError> {
    if format.is_heif() {
        return heif::decode(path, format);
    }
    if format == Format::JXL {
        let decoder = jxl_oxide::integration::JxlDecoder::new(open(path)?)
            .map_err(|err| decode_error(format, &err))?;
        // jxl-oxide renders with the codestream's orientation applied (its dimensions are the
        // oriented ones); the Exif copy of it must not turn the image a second time.
        return finish(decoder, format, false);
    }
    let Some(image_format) = image_format(format) else {
        return Err(FixError::Decode {
            format: format.label,
            message: "no decoder for this format in this build".to_owned(),
        });
    };
    refuse_animation(path, format)?;
    let mut reader = ImageReader::with_format(open(path)?, image_format);
    // The budget is checked against the header's size first, so an oversized image is named by
    // its pixels; the decoder then gets it for what it allocates on its own.
    reader.no_limits();
    let decoder = reader
        .into_decoder()
        .map_err(|err| decode_error(format, &err))?;
    finish(decoder, format, true)
}

/// The image crate's name for a format it decodes.
fn image_format(format: Format) -> Option<ImageFormat> {
    let pairs = [
        (Format::PNG, ImageFormat::Png),
        (Format::JPEG, ImageFormat::Jpeg),
        (Format::GIF, ImageFormat::Gif),
        (Format::WEBP, ImageFormat::WebP),
        (Format::TIFF, ImageFormat::Tiff),
        (Format::BMP, ImageFormat::Bmp),
        (Format::ICO, ImageFormat::Ico),
        (Format::TGA, ImageFormat::Tga),
        (Format::PNM, ImageFormat::Pnm),
        (Format::QOI, ImageFormat::Qoi),
    ];
    pairs
        .into_iter()
        .find(|(known, _)| *known == format)
        .map(|(_, image_format)| image_format)
}

fn open(path: &Path) -> Result<BufReader<File>, FixError> {
    File::open(path)
        .map(BufReader::new)
        .map_err(|err| FixError::Read {
            path: path.to_path_buf(),
            message: err.to_string(),
        })
}

/// The limits every decoder gets: at most [`MAX_DECODE_BYTES`] allocated.
pub(super) fn limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    limits
}

/// Checks the size against the budget, reads the ICC profile and the orientation, decodes, and
/// turns the pixels upright.
fn finish(
    mut decoder: impl ImageDecoder,
    format: Format,
    exif_orientation: bool,
) -> Result<Decoded, FixError> {
    let (width, height) = decoder.dimensions();
    let too_large = FixError::TooLarge {
        format: format.label,
        width,
        height,
    };
    if decoder.total_bytes() > MAX_DECODE_BYTES {
        return Err(too_large);
    }
    decoder.set_limits(limits()).map_err(|err| match err {
        ImageError::Limits(_) => too_large.clone(),
        other => decode_error(format, &other),
    })?;
    // A profile or Exif block that does not parse is no reason to refuse the pixels.
    let icc = decoder.icc_profile().ok().flatten();
    let orientation = if exif_orientation {
        decoder.orientation().unwrap_or(Orientation::NoTransforms)
    } else {
        Orientation::NoTransforms
    };
    let mut image = DynamicImage::from_decoder(decoder).map_err(|err| match err {
        ImageError::Limits(_) => too_large,
        other => decode_error(format, &other),
    })?;
    image.apply_orientation(orientation);
    Ok(Decoded { image, icc })
}

/// A still copy of an animation would silently drop all but its first frame.
fn refuse_animation(path: &Path, format: Format) -> Result<(), FixError> {
    let animated = match format {
        Format::PNG => PngDecoder::new(open(path)?).and_then(|png| png.is_apng()),
        Format::WEBP => WebPDecoder::new(open(path)?).map(|webp| webp.has_animation()),
        Format::GIF => GifDecoder::new(open(path)?).and_then(|mut gif| {
            gif.set_limits(limits())?;
            // GIF does not say how many frames follow: a second one is the answer.
            let mut frames = gif.into_frames();
            frames.next().transpose()?;
            Ok(frames.next().transpose()?.is_some())
        }),
        _ => Ok(false),
    };
    match animated {
        Ok(false) => Ok(()),
        Ok(true) => Err(FixError::Animated {
            format: format.label,
        }),
        // The decode proper says what is wrong with the file, with its size when too large.
        Err(_) => Ok(()),
    }
}

fn decode_error(format: Format, err: &ImageError) -> FixError {
    FixError::Decode {
        format: format.label,
        message: err.to_string(),
    }
}
