//! Scaling down by the least factor that fits the limit.

use image::{DynamicImage, ImageFormat};

use super::{NO_LIMIT, convert, photo_with, save};
use crate::fix::encode::{Kind, encode_scaled, prepare};
use crate::fix::fit::{MIN_LONG_SIDE, scaled_size};
use crate::fix::{FixError, Format, Target, make_copy};

/// A noisy photo that JPEG cannot squeeze much.
fn noisy(width: u32, height: u32) -> DynamicImage {
    DynamicImage::ImageRgb8(photo_with(width, height, 60))
}

#[test]
fn an_oversized_photo_is_scaled_by_the_least_factor_that_fits() {
    const LIMIT: u64 = 200_000;
    let dir = tempfile::tempdir().unwrap();
    let image = noisy(900, 600);
    let original = save(dir.path(), "big.png", &image, ImageFormat::Png);
    let made = convert(
        &original,
        Format::PNG,
        Target {
            webp: true,
            limit_bytes: LIMIT,
        },
    );
    let copy = &made.copy;
    assert_eq!(copy.mime_type, "image/jpeg");
    assert_eq!(copy.scaled_from, Some((900, 600)));
    assert!(copy.size_bytes <= LIMIT);
    assert!(copy.width < 900 && copy.height < 600, "{copy:?}");
    // The aspect ratio stays, to a pixel.
    assert!((f64::from(copy.width) / f64::from(copy.height) - 1.5).abs() < 0.01);

    // Not smaller than it needs to be: 10% more on each side would be over the limit.
    let prepared = prepare(image, true);
    assert_eq!(prepared.kind, Kind::Jpeg);
    let factor = f64::from(copy.width) / 900.0 * 1.1;
    let larger = scaled_size(900, 600, factor.min(1.0));
    let bytes = encode_scaled(&prepared.image, Kind::Jpeg, None, larger).unwrap();
    assert!(
        bytes.len() as u64 > LIMIT,
        "{larger:?} fits too: {}",
        bytes.len()
    );
    assert!(
        copy.describe().starts_with(&format!(
            "re-encoded as JPEG and scaled from 900×600 to {}×{}, ",
            copy.width, copy.height
        )),
        "{}",
        copy.describe()
    );
}

#[test]
fn a_re_encode_that_fits_keeps_the_size() {
    let dir = tempfile::tempdir().unwrap();
    let original = save(dir.path(), "photo.png", &noisy(300, 200), ImageFormat::Png);
    let png_bytes = std::fs::metadata(&original).unwrap().len();
    let made = convert(
        &original,
        Format::PNG,
        Target {
            webp: false,
            limit_bytes: png_bytes,
        },
    );
    assert_eq!(made.copy.mime_type, "image/jpeg");
    assert_eq!(made.copy.scaled_from, None);
    assert_eq!((made.copy.width, made.copy.height), (300, 200));
    assert!(
        made.copy
            .describe()
            .starts_with("re-encoded as JPEG, 300×200 kept, "),
        "{}",
        made.copy.describe()
    );
}

#[test]
fn a_limit_too_small_to_meet_cannot_fit() {
    let dir = tempfile::tempdir().unwrap();
    let original = save(dir.path(), "big.bmp", &noisy(600, 400), ImageFormat::Bmp);
    let target = Target {
        webp: false,
        limit_bytes: 1_000,
    };
    let err = make_copy(&original, "big.bmp", &dir.path().join("copies"), &target).unwrap_err();
    let FixError::CannotFit {
        width,
        height,
        size_bytes,
        limit_bytes,
    } = err.clone()
    else {
        panic!("{err:?}");
    };
    // It went down to the floor before giving up.
    assert_eq!((width, height), (MIN_LONG_SIDE, 171));
    assert!(size_bytes > limit_bytes);
    assert_eq!(limit_bytes, 1_000);
    let text = err.to_string();
    assert!(
        text.contains("256×171") && text.contains("unchanged"),
        "{text}"
    );
    assert!(!dir.path().join("copies").join("big.jpg").exists());
}

#[test]
fn an_opaque_graphic_over_the_limit_becomes_a_jpeg_of_full_size() {
    let dir = tempfile::tempdir().unwrap();
    // A dithered gradient: 200 colours, so lossless by content, but its noise costs PNG dearly.
    let image = image::RgbImage::from_fn(600, 400, |x, y| {
        let level = (x * 196 / 600 + 2) as i32 + super::noise(x, y, 0, 2);
        let level = level as u8;
        image::Rgb([level, level / 2, 255 - level])
    });
    let original = save(
        dir.path(),
        "chart.tif",
        &DynamicImage::ImageRgb8(image),
        ImageFormat::Tiff,
    );
    let lossless = convert(
        &original,
        Format::TIFF,
        Target {
            webp: false,
            limit_bytes: NO_LIMIT,
        },
    );
    assert_eq!(lossless.copy.mime_type, "image/png");
    let limit_bytes = lossless.copy.size_bytes - 1;
    let made = convert(
        &original,
        Format::TIFF,
        Target {
            webp: false,
            limit_bytes,
        },
    );
    assert_eq!(made.copy.mime_type, "image/jpeg");
    assert_eq!(made.copy.name, "chart.jpg");
    assert_eq!(made.copy.scaled_from, None);
    assert_eq!((made.copy.width, made.copy.height), (600, 400));
}

#[test]
fn a_translucent_copy_over_the_limit_is_scaled_and_stays_lossless() {
    let dir = tempfile::tempdir().unwrap();
    let image = DynamicImage::ImageRgba8(super::translucent(400, 300));
    let original = save(dir.path(), "cutout.qoi", &image, ImageFormat::Qoi);
    let full = convert(
        &original,
        Format::QOI,
        Target {
            webp: true,
            limit_bytes: NO_LIMIT,
        },
    );
    assert_eq!(full.copy.mime_type, "image/webp");
    let limit_bytes = full.copy.size_bytes / 2;
    let made = convert(
        &original,
        Format::QOI,
        Target {
            webp: true,
            limit_bytes,
        },
    );
    assert_eq!(made.copy.mime_type, "image/webp");
    assert_eq!(made.copy.scaled_from, Some((400, 300)));
    assert!(
        made.copy.width < 400 && made.copy.width > 200,
        "{:?}",
        made.copy
    );
    let [r, g, b] = super::RIGHT;
    let (w, h) = (made.copy.width, made.copy.height);
    super::assert_near(&made.pixels, (3 * w / 4, h / 2), [r, g, b, 128], 24);
}
