//! HEIC, HEIF and AVIF through libheif (the `heic` build on Linux).

use image::{DynamicImage, ImageFormat};

use super::irot::add_irot;
use super::{
    LOSSY, assert_near, assert_photo_halves, convert, jpeg_target, photo, run_tool, save,
    translucent,
};
use crate::fix::Format;

#[test]
fn a_heic_photo_becomes_a_jpeg() {
    let dir = tempfile::tempdir().unwrap();
    let source = save(
        dir.path(),
        "source.png",
        &DynamicImage::ImageRgb8(photo(96, 64)),
        ImageFormat::Png,
    );
    let original = dir.path().join("IMG_0042.HEIC");
    run_tool(
        "heif-enc",
        "libheif-examples",
        &[
            source.as_ref(),
            "-q".as_ref(),
            "90".as_ref(),
            "-o".as_ref(),
            &original,
        ],
    );
    let made = convert(&original, Format::HEIC, jpeg_target());
    assert_eq!(made.copy.mime_type, "image/jpeg");
    assert_eq!(made.copy.name, "IMG_0042.jpg");
    assert_eq!((made.copy.width, made.copy.height), (96, 64));
    assert_photo_halves(&made.pixels, LOSSY);
    assert!(
        made.copy
            .describe()
            .starts_with("converted from HEIC to JPEG, 96×64, "),
        "{}",
        made.copy.describe()
    );
}

#[test]
fn a_translucent_avif_becomes_a_png() {
    let dir = tempfile::tempdir().unwrap();
    let image = DynamicImage::ImageRgba8(translucent(96, 64));
    let source = save(dir.path(), "source.png", &image, ImageFormat::Png);
    let original = dir.path().join("sticker.avif");
    run_tool(
        "heif-enc",
        "libheif-examples",
        &[
            source.as_ref(),
            "-A".as_ref(),
            "-q".as_ref(),
            "90".as_ref(),
            "-o".as_ref(),
            &original,
        ],
    );
    let made = convert(&original, Format::AVIF, jpeg_target());
    assert_eq!(made.copy.mime_type, "image/png");
    assert_eq!(made.copy.name, "sticker.png");
    assert_eq!((made.copy.width, made.copy.height), (96, 64));
    let [r, g, b] = super::LEFT;
    assert_near(&made.pixels, (24, 32), [r, g, b, 255], LOSSY);
    let [r, g, b] = super::RIGHT;
    assert_near(&made.pixels, (72, 32), [r, g, b, 128], LOSSY);
}

#[test]
fn a_translucent_10_bit_heic_becomes_a_png() {
    let dir = tempfile::tempdir().unwrap();
    // From 16 bits a sample heif-enc makes a 10-bit HEIC (its AVIF encoder, aom 3.6, fails at
    // 10 bits here).
    let image =
        DynamicImage::ImageRgba16(DynamicImage::ImageRgba8(translucent(96, 64)).into_rgba16());
    let source = save(dir.path(), "source.png", &image, ImageFormat::Png);
    let original = dir.path().join("hdr.heic");
    run_tool(
        "heif-enc",
        "libheif-examples",
        &[
            source.as_ref(),
            "-q".as_ref(),
            "90".as_ref(),
            "-o".as_ref(),
            &original,
        ],
    );
    let bytes = std::fs::read(&original).unwrap();
    let context = libheif_rs::HeifContext::read_from_bytes(&bytes).unwrap();
    assert_eq!(
        context
            .primary_image_handle()
            .unwrap()
            .luma_bits_per_pixel(),
        10
    );

    let made = convert(&original, Format::HEIC, jpeg_target());
    assert_eq!(made.copy.mime_type, "image/png");
    assert_eq!((made.copy.width, made.copy.height), (96, 64));
    let [r, g, b] = super::LEFT;
    assert_near(&made.pixels, (24, 32), [r, g, b, 255], LOSSY);
    let [r, g, b] = super::RIGHT;
    assert_near(&made.pixels, (72, 32), [r, g, b, 128], LOSSY);
}

/// A HEIC as phones write them: the pixels as the sensor saw them, an `irot` box that turns them
/// for display, and an Exif block whose orientation says the same turn.
#[test]
fn a_heic_is_turned_by_its_irot_once_not_again_by_its_exif() {
    use libheif_rs::{
        Channel, ColorSpace, CompressionFormat, EncoderQuality, HeifContext, Image, LibHeif,
        RgbChroma,
    };

    let stored = super::behaviour::halves();
    let mut image = Image::new(40, 20, ColorSpace::Rgb(RgbChroma::Rgb)).unwrap();
    image.create_plane(Channel::Interleaved, 40, 20, 8).unwrap();
    let planes = image.planes_mut();
    let plane = planes.interleaved.unwrap();
    for (y, row) in stored.as_raw().chunks(40 * 3).enumerate() {
        plane.data[y * plane.stride..][..row.len()].copy_from_slice(row);
    }
    let lib = LibHeif::new();
    let mut encoder = lib.encoder_for_format(CompressionFormat::Hevc).unwrap();
    encoder.set_quality(EncoderQuality::Lossy(90)).unwrap();
    let mut context = HeifContext::new().unwrap();
    let handle = context.encode_image(&image, &mut encoder, None).unwrap();
    context
        .add_exif_metadata(&handle, &super::behaviour::exif_orientation_6())
        .unwrap();
    // libheif 1.15 writes no `irot` of its own (its encoding option for one is ignored).
    let bytes = add_irot(&context.write_to_bytes().unwrap(), 3);
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("IMG_0001.HEIC");
    std::fs::write(&original, &bytes).unwrap();

    let made = convert(&original, Format::HEIC, jpeg_target());
    assert_eq!((made.copy.width, made.copy.height), (20, 40));
    // Turned clockwise once, the stored left half is on top.
    assert_near(&made.pixels, (10, 5), [255, 0, 0, 255], LOSSY);
    assert_near(&made.pixels, (10, 34), [0, 0, 255, 255], LOSSY);
}
