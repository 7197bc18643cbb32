//! HEIC, HEIF and AVIF through the system libheif (libheif-rs), in the `heic` build on Linux.
//! Elsewhere these formats are refused with [`FixError::NeedsHeicBuild`].

use std::path::Path;

use super::{Decoded, FixError, Format};

/// Decodes the primary image of a HEIF file. libheif applies the file's own transforms (`irot`,
/// `imir`, `clap`) while decoding, and those are what viewers follow for HEIF: the Exif
/// orientation a phone also writes describes the same turn and must not be applied again.
#[cfg(all(feature = "heic", target_os = "linux"))]
pub(super) fn decode(path: &Path, format: Format) -> Result<Decoded, FixError> {
    use std::sync::OnceLock;

    use image::{DynamicImage, ImageBuffer};
    use libheif_rs::{ColorSpace, HeifContext, LibHeif, RgbChroma, color_profile_types};

    use super::MAX_DECODE_BYTES;

    // One initialisation of libheif for the process; `LibHeif`'s drop would undo it.
    static LIBHEIF: OnceLock<LibHeif> = OnceLock::new();
    let failed = |message: String| FixError::Decode {
        format: format.label,
        message,
    };

    let bytes = std::fs::read(path).map_err(|err| FixError::Read {
        path: path.to_path_buf(),
        message: err.to_string(),
    })?;
    let context = HeifContext::read_from_bytes(&bytes).map_err(|err| failed(err.to_string()))?;
    let handle = context
        .primary_image_handle()
        .map_err(|err| failed(err.to_string()))?;
    // The handle's size is the one after the transforms, as decoded.
    let (width, height) = (handle.width(), handle.height());
    let alpha = handle.has_alpha_channel();
    let bits = handle.luma_bits_per_pixel();
    let channels: usize = if alpha { 4 } else { 3 };
    // 10- and 12-bit images (HDR photos, most AVIF) come as 16 bits a sample.
    let sample_bytes: usize = if bits > 8 { 2 } else { 1 };
    let pixel_bytes = (channels * sample_bytes) as u64;
    if u64::from(width) * u64::from(height) * pixel_bytes > MAX_DECODE_BYTES {
        return Err(FixError::TooLarge {
            format: format.label,
            width,
            height,
        });
    }
    let icc = handle
        .color_profile_raw()
        .filter(|profile| {
            use libheif_rs::ColorProfile;
            let kind = profile.profile_type();
            kind == color_profile_types::PROF || kind == color_profile_types::R_ICC
        })
        .map(|profile| profile.data);

    let chroma = match (alpha, sample_bytes) {
        (false, 1) => RgbChroma::Rgb,
        (true, 1) => RgbChroma::Rgba,
        (false, _) => RgbChroma::HdrRgbLe,
        (true, _) => RgbChroma::HdrRgbaLe,
    };
    // No decoding options: libheif-rs 0.20 frees them before libheif reads them (fixed in its
    // 1.x, which needs libheif 1.17), so libheif would read freed memory for its flags. The
    // defaults are what is wanted anyway: transforms applied, the bit depth kept.
    let decoded = LIBHEIF
        .get_or_init(LibHeif::new)
        .decode(&handle, ColorSpace::Rgb(chroma), None)
        .map_err(|err| failed(err.to_string()))?;
    let planes = decoded.planes();
    let Some(plane) = planes.interleaved else {
        return Err(failed("libheif gave no interleaved RGB plane".to_owned()));
    };
    let row_bytes = plane.width as usize * channels * sample_bytes;
    if usize::from(plane.storage_bits_per_pixel) != channels * sample_bytes * 8
        || plane.stride < row_bytes
    {
        return Err(failed(format!(
            "libheif gave {} bits a pixel, not {}",
            plane.storage_bits_per_pixel,
            channels * sample_bytes * 8
        )));
    }
    let mut samples = Vec::with_capacity(row_bytes * plane.height as usize);
    for row in plane.data.chunks(plane.stride).take(plane.height as usize) {
        samples.extend_from_slice(&row[..row_bytes]);
    }
    let (w, h) = (plane.width, plane.height);
    let image = match (sample_bytes, alpha) {
        (1, false) => ImageBuffer::from_raw(w, h, samples).map(DynamicImage::ImageRgb8),
        (1, true) => ImageBuffer::from_raw(w, h, samples).map(DynamicImage::ImageRgba8),
        _ => {
            // Little-endian samples of `bits` bits, stretched to the full 16-bit range.
            let max = (1_u32 << plane.bits_per_pixel.clamp(9, 16)) - 1;
            let wide: Vec<u16> = samples
                .chunks_exact(2)
                .map(|pair| {
                    let value = u32::from(u16::from_le_bytes([pair[0], pair[1]])).min(max);
                    (value * u32::from(u16::MAX) / max) as u16
                })
                .collect();
            if alpha {
                ImageBuffer::from_raw(w, h, wide).map(DynamicImage::ImageRgba16)
            } else {
                ImageBuffer::from_raw(w, h, wide).map(DynamicImage::ImageRgb16)
            }
        }
    }
    .ok_or_else(|| failed("libheif gave fewer pixels than its size".to_owned()))?;
    Ok(Decoded { image, icc })
}

/// This build has no libheif.
#[cfg(not(all(feature = "heic", target_os = "linux")))]
pub(super) fn decode(_path: &Path, format: Format) -> Result<Decoded, FixError> {
    Err(FixError::NeedsHeicBuild {
        format: format.label,
    })
}
