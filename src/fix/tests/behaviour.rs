//! Orientation, colour profiles, the errors, the names and the descriptions.

use std::io::Cursor;

use image::codecs::gif::GifEncoder;
use image::codecs::jpeg::{JpegDecoder, JpegEncoder};
use image::codecs::png::PngEncoder;
use image::{DynamicImage, Frame, ImageDecoder, ImageEncoder, ImageFormat, RgbImage, RgbaImage};
use tiff::encoder::{TiffEncoder, colortype};
use tiff::tags::Tag;

use super::{assert_near, convert, graphic, jpeg_target, photo, save};
use crate::fix::{FixError, FixedCopy, Format, Target, copy_stem, make_copy};

/// 40×20, red on the left half, blue on the right.
pub(super) fn halves() -> RgbImage {
    RgbImage::from_fn(40, 20, |x, _| {
        image::Rgb(if x < 20 { [255, 0, 0] } else { [0, 0, 255] })
    })
}

#[test]
fn a_tiff_turned_by_its_orientation_tag_comes_out_upright() {
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("turned.tiff");
    let mut file = std::fs::File::create(&original).unwrap();
    let mut tiff = TiffEncoder::new(&mut file).unwrap();
    let mut page = tiff.new_image::<colortype::RGB8>(40, 20).unwrap();
    // 6: the stored rows are to be turned 90° clockwise for display.
    page.encoder().write_tag(Tag::Orientation, 6_u16).unwrap();
    page.write_data(halves().as_raw()).unwrap();
    drop(file);

    let made = convert(&original, Format::TIFF, jpeg_target());
    assert_eq!(made.copy.mime_type, "image/png", "two colours: lossless");
    assert_eq!((made.copy.width, made.copy.height), (20, 40));
    // Turned clockwise, the left half is on top.
    assert_near(&made.pixels, (10, 5), [255, 0, 0, 255], 0);
    assert_near(&made.pixels, (10, 34), [0, 0, 255, 255], 0);
}

/// A TIFF-structured Exif block with one entry: Orientation (274) = 6.
pub(super) fn exif_orientation_6() -> Vec<u8> {
    let mut exif = b"II*\0".to_vec();
    exif.extend_from_slice(&8_u32.to_le_bytes());
    exif.extend_from_slice(&1_u16.to_le_bytes());
    exif.extend_from_slice(&274_u16.to_le_bytes());
    exif.extend_from_slice(&3_u16.to_le_bytes()); // SHORT
    exif.extend_from_slice(&1_u32.to_le_bytes());
    exif.extend_from_slice(&[6, 0, 0, 0]);
    exif.extend_from_slice(&0_u32.to_le_bytes());
    exif
}

#[test]
fn a_jpeg_turned_by_exif_is_shrunk_upright() {
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("phone.jpg");
    let stored = super::photo_with(400, 200, 60);
    let mut bytes = Vec::new();
    let mut encoder = JpegEncoder::new_with_quality(&mut bytes, 95);
    encoder.set_exif_metadata(exif_orientation_6()).unwrap();
    encoder
        .write_image(stored.as_raw(), 400, 200, image::ExtendedColorType::Rgb8)
        .unwrap();
    std::fs::write(&original, &bytes).unwrap();
    let limit_bytes = bytes.len() as u64 / 2;

    let target = Target {
        webp: false,
        limit_bytes,
    };
    let made = convert(&original, Format::JPEG, target);
    assert_eq!(made.copy.scaled_from, Some((200, 400)));
    assert!(made.copy.height > made.copy.width, "{:?}", made.copy);
    assert!(made.copy.width < 200);
    // The stored left half (LEFT's colour) is on top once turned.
    let (w, h) = (made.copy.width, made.copy.height);
    let [r, g, b] = super::LEFT;
    assert_near(&made.pixels, (w / 2, h / 4), [r, g, b, 255], 24);
    let [r, g, b] = super::RIGHT;
    assert_near(&made.pixels, (w / 2, 3 * h / 4), [r, g, b, 255], 24);
}

/// A made-up ICC profile: a 128-byte header of an RGB display profile and an empty tag table.
/// The encoders embed the bytes as given, so it only has to look like one.
fn icc_profile() -> Vec<u8> {
    let mut icc = vec![0_u8; 132];
    icc[0..4].copy_from_slice(&132_u32.to_be_bytes());
    icc[12..16].copy_from_slice(b"mntr");
    icc[16..20].copy_from_slice(b"RGB ");
    icc[20..24].copy_from_slice(b"XYZ ");
    icc[36..40].copy_from_slice(b"acsp");
    icc
}

#[test]
fn a_png_photo_keeps_its_icc_profile_in_the_jpeg_copy() {
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("wide-gamut.png");
    let image = photo(80, 60);
    let mut bytes = Vec::new();
    let mut encoder = PngEncoder::new(&mut bytes);
    encoder.set_icc_profile(icc_profile()).unwrap();
    encoder
        .write_image(image.as_raw(), 80, 60, image::ExtendedColorType::Rgb8)
        .unwrap();
    std::fs::write(&original, bytes).unwrap();

    let made = convert(&original, Format::PNG, jpeg_target());
    assert_eq!(made.copy.mime_type, "image/jpeg");
    let copy = std::fs::read(&made.copy.path).unwrap();
    let mut decoder = JpegDecoder::new(Cursor::new(copy)).unwrap();
    assert_eq!(decoder.icc_profile().unwrap(), Some(icc_profile()));
}

#[test]
fn a_profile_of_another_colour_space_is_left_out() {
    let rgb = DynamicImage::ImageRgb8(photo(4, 4));
    let grey = DynamicImage::ImageLuma8(rgb.to_luma8());
    let mut cmyk = icc_profile();
    cmyk[16..20].copy_from_slice(b"CMYK");
    assert!(crate::fix::encode::icc_fits(&icc_profile(), &rgb));
    assert!(!crate::fix::encode::icc_fits(&cmyk, &rgb));
    assert!(!crate::fix::encode::icc_fits(&icc_profile(), &grey));
    assert!(!crate::fix::encode::icc_fits(b"short", &rgb));
}

fn copy_of(original: &std::path::Path, name: &str) -> Result<FixedCopy, FixError> {
    let out_dir = original.parent().unwrap().join("copies");
    make_copy(original, name, &out_dir, &jpeg_target())
}

#[test]
fn a_damaged_tiff_is_a_decode_error_and_stays_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("damaged.tif");
    let mut bytes = b"II*\0\x08\0\0\0".to_vec();
    bytes.extend((0..2000_u32).map(|i| (i * 7 + 3) as u8));
    std::fs::write(&original, &bytes).unwrap();

    let err = copy_of(&original, "damaged.tif").unwrap_err();
    assert!(
        matches!(err, FixError::Decode { format: "TIFF", .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("damaged") && text.contains("unchanged"),
        "{text}"
    );
    assert_eq!(std::fs::read(&original).unwrap(), bytes);
    assert!(!dir.path().join("copies").join("damaged.jpg").exists());
}

#[test]
fn an_image_over_the_memory_budget_is_refused_by_its_pixel_size() {
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("huge.ppm");
    // The header claims 100000×100000 (30 GB of pixels); nothing that big is ever allocated.
    let mut bytes = b"P6\n100000 100000\n255\n".to_vec();
    bytes.extend([0_u8; 300]);
    std::fs::write(&original, &bytes).unwrap();

    let err = copy_of(&original, "huge.ppm").unwrap_err();
    assert_eq!(
        err,
        FixError::TooLarge {
            format: "PNM",
            width: 100_000,
            height: 100_000
        }
    );
    let text = err.to_string();
    assert!(text.contains("100000×100000 pixels"), "{text}");
    assert!(
        text.contains("1.0 GiB") && text.contains("unchanged"),
        "{text}"
    );
}

#[test]
fn an_animated_gif_is_refused_rather_than_cut_to_one_frame() {
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("loop.gif");
    let mut bytes = Vec::new();
    {
        let mut encoder = GifEncoder::new(&mut bytes);
        let frames = [graphic(32, 32), photo(32, 32)].map(|rgb| {
            Frame::new(RgbaImage::from_fn(32, 32, |x, y| {
                let [r, g, b] = rgb.get_pixel(x, y).0;
                image::Rgba([r, g, b, 255])
            }))
        });
        encoder.encode_frames(frames).unwrap();
    }
    std::fs::write(&original, &bytes).unwrap();
    let err = copy_of(&original, "loop.gif").unwrap_err();
    assert_eq!(err, FixError::Animated { format: "GIF" });

    // One frame is a still: copied.
    let still = save(
        dir.path(),
        "still.gif",
        &DynamicImage::ImageRgb8(graphic(32, 32)),
        ImageFormat::Gif,
    );
    let made = convert(&still, Format::GIF, jpeg_target());
    assert_eq!(made.copy.mime_type, "image/png");
}

#[test]
fn a_file_of_no_known_format_is_not_an_image() {
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("notes.png");
    std::fs::write(&original, "not a picture").unwrap();
    let err = copy_of(&original, "notes.png").unwrap_err();
    assert_eq!(
        err,
        FixError::NotAnImage {
            name: "notes.png".into()
        }
    );
    let gone = copy_of(&dir.path().join("gone.tif"), "gone.tif").unwrap_err();
    assert!(matches!(gone, FixError::Read { .. }), "{gone:?}");
}

#[test]
fn a_copy_never_replaces_its_original() {
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("photo.jpg");
    let image = DynamicImage::ImageRgb8(super::photo_with(300, 200, 60));
    image
        .save_with_format(&original, ImageFormat::Jpeg)
        .unwrap();
    let before = std::fs::read(&original).unwrap();
    let target = jpeg_target();
    let err = make_copy(&original, "photo.jpg", dir.path(), &target).unwrap_err();
    assert_eq!(
        err,
        FixError::SameAsOriginal {
            path: original.clone()
        }
    );
    assert_eq!(std::fs::read(&original).unwrap(), before);
}

#[test]
fn a_folder_that_cannot_be_made_is_a_write_error() {
    let dir = tempfile::tempdir().unwrap();
    let image = DynamicImage::ImageRgb8(photo(40, 30));
    let original = save(dir.path(), "scan.bmp", &image, ImageFormat::Bmp);
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "a file, not a folder").unwrap();
    let out_dir = blocker.join("copies");
    let err = make_copy(&original, "scan.bmp", &out_dir, &jpeg_target()).unwrap_err();
    assert!(
        matches!(&err, FixError::Write { dir, .. } if *dir == out_dir),
        "{err:?}"
    );
    assert!(err.to_string().contains("disk space"), "{err}");
}

#[test]
fn the_heic_build_message_says_what_to_do() {
    let text = FixError::NeedsHeicBuild { format: "HEIC" }.to_string();
    assert!(
        text.starts_with(
            "HEIC needs the HEIC-enabled build: this build of Runflow Uploader was made without \
             libheif. Convert the file yourself (e.g. in Photos or Preview), or use the Linux \
             build."
        ),
        "{text}"
    );
    for format in [Format::HEIC, Format::HEIF, Format::AVIF] {
        assert_eq!(
            crate::fix::can_decode(format),
            cfg!(all(feature = "heic", target_os = "linux"))
        );
    }
    assert!(crate::fix::can_decode(Format::JXL));
    let unknown = Format {
        label: "PSD",
        mime_type: "image/vnd.adobe.photoshop",
    };
    assert!(!crate::fix::can_decode(unknown));
}

fn described(
    mime_type: &str,
    size: (u32, u32),
    scaled_from: Option<(u32, u32)>,
    bytes: u64,
) -> FixedCopy {
    FixedCopy {
        path: "copies/x.jpg".into(),
        name: "x.jpg".into(),
        mime_type: mime_type.into(),
        size_bytes: bytes,
        modified_ns: 0,
        width: size.0,
        height: size.1,
        scaled_from,
        from_label: String::new(),
        from_mime: String::new(),
    }
}

#[test]
fn describe_says_converted_re_encoded_or_scaled() {
    const MIB: f64 = 1024.0 * 1024.0;
    let mut heic = described("image/jpeg", (4032, 3024), None, (3.1 * MIB) as u64);
    heic.from_label = "HEIC".into();
    heic.from_mime = "image/heic".into();
    assert_eq!(
        heic.describe(),
        "converted from HEIC to JPEG, 4032×3024, 3.1 MiB"
    );

    let mut kept = described("image/jpeg", (4000, 3000), None, 31 * 1024 * 1024);
    kept.from_label = "JPEG".into();
    kept.from_mime = "image/jpeg".into();
    assert_eq!(
        kept.describe(),
        "re-encoded as JPEG, 4000×3000 kept, 31.0 MiB"
    );

    let mut scaled = described(
        "image/jpeg",
        (8400, 5600),
        Some((12000, 8000)),
        (49.8 * MIB) as u64,
    );
    scaled.from_label = "PNG".into();
    scaled.from_mime = "image/png".into();
    assert_eq!(
        scaled.describe(),
        "re-encoded as JPEG and scaled from 12000×8000 to 8400×5600, 49.8 MiB"
    );

    let mut tiff = described("image/png", (800, 600), Some((1600, 1200)), 2048);
    tiff.from_label = "TIFF".into();
    tiff.from_mime = "image/tiff".into();
    assert_eq!(
        tiff.describe(),
        "converted from TIFF to PNG and scaled from 1600×1200 to 800×600, 2.0 KiB"
    );
}

#[test]
fn the_copy_is_named_after_the_original() {
    assert_eq!(copy_stem("IMG_0042.HEIC"), "IMG_0042");
    assert_eq!(copy_stem("scan"), "scan");
    assert_eq!(copy_stem("archive.tar.gz"), "archive.tar");
    assert_eq!(copy_stem(".hidden"), ".hidden");
    assert_eq!(copy_stem("folder/IMG.tif"), "IMG");
    assert_eq!(copy_stem(""), "image");
}

/// Without libheif a HEIC is refused, saying which build reads it.
#[cfg(not(all(feature = "heic", target_os = "linux")))]
#[test]
fn a_heic_needs_the_heic_build() {
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("IMG_0042.HEIC");
    std::fs::write(&original, b"\0\0\0\x18ftypheic\0\0\0\0mif1heic").unwrap();
    let err = make_copy(&original, "IMG_0042.HEIC", dir.path(), &jpeg_target()).unwrap_err();
    assert_eq!(err, FixError::NeedsHeicBuild { format: "HEIC" });
    assert!(!crate::fix::can_decode(Format::AVIF));
}
