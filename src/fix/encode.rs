//! The copy's type by content, and its encoding.

use std::collections::HashSet;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::{CompressionType, FilterType as PngFilter, PngEncoder};
use image::codecs::webp::WebPEncoder;
use image::imageops::FilterType;
use image::{DynamicImage, ImageEncoder};

use super::FixError;

/// JPEG quality for photos: visually lossless for almost every photo, about half the bytes of 100.
const JPEG_QUALITY: u8 = 92;
/// An opaque colour image of at most this many colours is a graphic (a screenshot, a chart, a
/// logo), kept lossless.
const MAX_COLOURS: usize = 256;
/// A grey image has at most 256 levels even when it is a photo, so fewer make it a graphic.
const MAX_GREY_LEVELS: usize = 64;
/// WebP cannot hold a side longer than this; a larger lossless copy is PNG.
const WEBP_MAX_SIDE: u32 = 16383;
/// Downscaling filter: sharp, without the aliasing of cheaper ones.
const FILTER: FilterType = FilterType::Lanczos3;

/// The type of a copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Jpeg,
    Png,
    WebP,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Jpeg, Kind::Png, Kind::WebP];

    pub(super) fn label(self) -> &'static str {
        match self {
            Kind::Jpeg => "JPEG",
            Kind::Png => "PNG",
            Kind::WebP => "WebP",
        }
    }

    pub(super) fn mime_type(self) -> &'static str {
        match self {
            Kind::Jpeg => "image/jpeg",
            Kind::Png => "image/png",
            Kind::WebP => "image/webp",
        }
    }

    pub(super) fn extension(self) -> &'static str {
        match self {
            Kind::Jpeg => "jpg",
            Kind::Png => "png",
            Kind::WebP => "webp",
        }
    }
}

/// "JPEG" for "image/jpeg": the label of a copy's MIME type.
pub(super) fn label_of_mime(mime_type: &str) -> Option<&'static str> {
    Kind::ALL
        .into_iter()
        .find(|kind| kind.mime_type() == mime_type)
        .map(Kind::label)
}

/// The pixels as they will be encoded (8 bits a sample; grey stays grey, alpha stays only when
/// some pixel is not opaque) and the type they go to.
pub(super) struct Prepared {
    pub image: DynamicImage,
    pub kind: Kind,
}

/// Picks the copy's type by content: translucency or few colours make it lossless (WebP when
/// Runflow takes it and the sides allow, else PNG); anything else is a photo (JPEG).
pub(super) fn prepare(image: DynamicImage, webp: bool) -> Prepared {
    let colour = image.color().has_color();
    let alpha = image.color().has_alpha();
    let image = match (colour, alpha) {
        (true, true) => DynamicImage::ImageRgba8(image.into_rgba8()),
        (true, false) => DynamicImage::ImageRgb8(image.into_rgb8()),
        (false, true) => DynamicImage::ImageLumaA8(image.into_luma_alpha8()),
        (false, false) => DynamicImage::ImageLuma8(image.into_luma8()),
    };
    let translucent = match &image {
        DynamicImage::ImageRgba8(rgba) => rgba.pixels().any(|p| p[3] < u8::MAX),
        DynamicImage::ImageLumaA8(la) => la.pixels().any(|p| p[1] < u8::MAX),
        _ => false,
    };
    // An alpha channel that is opaque everywhere is only bytes (and JPEG has none).
    let image = match image {
        DynamicImage::ImageRgba8(_) if !translucent => DynamicImage::ImageRgb8(image.into_rgb8()),
        DynamicImage::ImageLumaA8(_) if !translucent => {
            DynamicImage::ImageLuma8(image.into_luma8())
        }
        other => other,
    };
    let kind = if !(translucent || few_colours(&image)) {
        Kind::Jpeg
    } else if webp && image.width() <= WEBP_MAX_SIDE && image.height() <= WEBP_MAX_SIDE {
        Kind::WebP
    } else {
        Kind::Png
    };
    Prepared { image, kind }
}

/// Whether an opaque image has few colours, counted over every pixel with an early exit: a photo
/// passes 256 colours within its first rows.
fn few_colours(image: &DynamicImage) -> bool {
    match image {
        DynamicImage::ImageLuma8(grey) => {
            let mut seen = [false; 256];
            let mut levels = 0;
            for pixel in grey.pixels() {
                let level = &mut seen[usize::from(pixel[0])];
                if !*level {
                    *level = true;
                    levels += 1;
                    if levels > MAX_GREY_LEVELS {
                        return false;
                    }
                }
            }
            true
        }
        DynamicImage::ImageRgb8(rgb) => {
            let mut seen = HashSet::with_capacity(MAX_COLOURS + 1);
            let mut last = None;
            for pixel in rgb.pixels() {
                let colour = u32::from_le_bytes([pixel[0], pixel[1], pixel[2], 0]);
                // Graphics repeat colours in runs: skip the lookup for them.
                if last == Some(colour) {
                    continue;
                }
                last = Some(colour);
                if seen.insert(colour) && seen.len() > MAX_COLOURS {
                    return false;
                }
            }
            true
        }
        _ => false,
    }
}

/// Whether an ICC profile describes the copy's colour space (RGB or grey): a CMYK JPEG's
/// profile no longer does once its pixels are RGB, and would turn the copy's colours.
pub(super) fn icc_fits(profile: &[u8], image: &DynamicImage) -> bool {
    let wanted: &[u8] = if image.color().has_color() {
        b"RGB "
    } else {
        b"GRAY"
    };
    profile.len() >= 128 && profile.get(16..20) == Some(wanted)
}

/// Encodes `image` as `kind`, with the ICC profile where the encoder can carry one.
pub(super) fn encode(
    image: &DynamicImage,
    kind: Kind,
    icc: Option<&[u8]>,
) -> Result<Vec<u8>, FixError> {
    let mut bytes = Vec::new();
    let written = match kind {
        Kind::Jpeg => with_icc(
            image,
            JpegEncoder::new_with_quality(&mut bytes, JPEG_QUALITY),
            icc,
        ),
        Kind::Png => with_icc(
            image,
            PngEncoder::new_with_quality(&mut bytes, CompressionType::Best, PngFilter::Adaptive),
            icc,
        ),
        Kind::WebP => with_icc(image, WebPEncoder::new_lossless(&mut bytes), icc),
    };
    written.map_err(|err| FixError::Encode {
        kind: kind.label(),
        message: err.to_string(),
    })?;
    Ok(bytes)
}

fn with_icc(
    image: &DynamicImage,
    mut encoder: impl ImageEncoder,
    icc: Option<&[u8]>,
) -> image::ImageResult<()> {
    if let Some(profile) = icc {
        // An encoder that cannot carry a profile writes the copy without one.
        encoder.set_icc_profile(profile.to_vec()).ok();
    }
    image.write_with_encoder(encoder)
}

/// `image` scaled to `width`×`height` and encoded as `kind`.
pub(super) fn encode_scaled(
    image: &DynamicImage,
    kind: Kind,
    icc: Option<&[u8]>,
    (width, height): (u32, u32),
) -> Result<Vec<u8>, FixError> {
    encode(&image.resize_exact(width, height, FILTER), kind, icc)
}
