//! Every convertible format, as a real file, to the copy its content calls for.

use image::{DynamicImage, ImageFormat};

use super::{
    LOSSY, NO_LIMIT, assert_photo_halves, convert, graphic, jpeg_target, photo, run_tool, save,
    translucent,
};
use crate::fix::{Format, Target};

fn webp_target() -> Target {
    Target {
        webp: true,
        limit_bytes: NO_LIMIT,
    }
}

#[test]
fn a_tiff_photo_becomes_a_jpeg() {
    let dir = tempfile::tempdir().unwrap();
    let image = DynamicImage::ImageRgb8(photo(120, 80));
    let original = save(dir.path(), "scan.tif", &image, ImageFormat::Tiff);
    let made = convert(&original, Format::TIFF, jpeg_target());
    assert_eq!(made.copy.mime_type, "image/jpeg");
    assert_eq!((made.copy.width, made.copy.height), (120, 80));
    assert_eq!(made.copy.scaled_from, None);
    assert_photo_halves(&made.pixels, LOSSY);
}

#[test]
fn a_bmp_photo_becomes_a_jpeg() {
    let dir = tempfile::tempdir().unwrap();
    let image = DynamicImage::ImageRgb8(photo(100, 60));
    let original = save(dir.path(), "Paint.BMP", &image, ImageFormat::Bmp);
    let made = convert(&original, Format::BMP, jpeg_target());
    assert_eq!(made.copy.mime_type, "image/jpeg");
    assert_eq!(made.copy.name, "Paint.jpg");
    assert_eq!((made.copy.width, made.copy.height), (100, 60));
    assert_photo_halves(&made.pixels, LOSSY);
}

#[test]
fn a_translucent_ico_becomes_a_lossless_webp_or_png() {
    let dir = tempfile::tempdir().unwrap();
    let image = DynamicImage::ImageRgba8(translucent(64, 48));
    let original = save(dir.path(), "favicon.ico", &image, ImageFormat::Ico);
    let made = convert(&original, Format::ICO, webp_target());
    assert_eq!(made.copy.mime_type, "image/webp");
    assert_eq!((made.copy.width, made.copy.height), (64, 48));
    // Lossless: the very pixels, alpha too.
    assert_eq!(made.pixels.to_rgba8(), image.to_rgba8());

    let png = convert(&original, Format::ICO, jpeg_target());
    assert_eq!(png.copy.mime_type, "image/png");
    assert_eq!(png.copy.name, "favicon.png");
    assert_eq!(png.pixels.to_rgba8(), image.to_rgba8());
}

#[test]
fn a_tga_photo_is_known_by_its_extension_and_becomes_a_jpeg() {
    let dir = tempfile::tempdir().unwrap();
    let image = DynamicImage::ImageRgb8(photo(90, 70));
    let original = save(dir.path(), "render.tga", &image, ImageFormat::Tga);
    let made = convert(&original, Format::TGA, jpeg_target());
    assert_eq!(made.copy.mime_type, "image/jpeg");
    assert_eq!((made.copy.width, made.copy.height), (90, 70));
    assert_photo_halves(&made.pixels, LOSSY);
}

#[test]
fn a_pnm_graphic_becomes_a_png() {
    let dir = tempfile::tempdir().unwrap();
    let image = DynamicImage::ImageRgb8(graphic(80, 60));
    let original = save(dir.path(), "chart.ppm", &image, ImageFormat::Pnm);
    let made = convert(&original, Format::PNM, jpeg_target());
    assert_eq!(made.copy.mime_type, "image/png");
    assert_eq!(made.copy.name, "chart.png");
    assert_eq!((made.copy.width, made.copy.height), (80, 60));
    assert_eq!(made.pixels.to_rgb8(), image.to_rgb8());
}

#[test]
fn a_translucent_qoi_becomes_a_webp() {
    let dir = tempfile::tempdir().unwrap();
    let image = DynamicImage::ImageRgba8(translucent(50, 40));
    let original = save(dir.path(), "sprite.qoi", &image, ImageFormat::Qoi);
    let made = convert(&original, Format::QOI, webp_target());
    assert_eq!(made.copy.mime_type, "image/webp");
    assert_eq!(made.copy.name, "sprite.webp");
    assert_eq!(made.pixels.to_rgba8(), image.to_rgba8());
}

#[test]
fn a_jpeg_xl_photo_becomes_a_jpeg() {
    let dir = tempfile::tempdir().unwrap();
    let source = save(
        dir.path(),
        "source.png",
        &DynamicImage::ImageRgb8(photo(100, 75)),
        ImageFormat::Png,
    );
    let original = dir.path().join("export.jxl");
    run_tool(
        "cjxl",
        "libjxl-tools",
        &[
            source.as_ref(),
            original.as_ref(),
            "-d".as_ref(),
            "1".as_ref(),
        ],
    );
    let made = convert(&original, Format::JXL, jpeg_target());
    assert_eq!(made.copy.mime_type, "image/jpeg");
    assert_eq!(made.copy.name, "export.jpg");
    assert_eq!((made.copy.width, made.copy.height), (100, 75));
    assert_photo_halves(&made.pixels, LOSSY);
}

#[test]
fn a_jpeg_xl_graphic_becomes_a_png() {
    let dir = tempfile::tempdir().unwrap();
    let image = DynamicImage::ImageRgb8(graphic(64, 64));
    let source = save(dir.path(), "source.png", &image, ImageFormat::Png);
    let original = dir.path().join("logo.jxl");
    run_tool(
        "cjxl",
        "libjxl-tools",
        &[
            source.as_ref(),
            original.as_ref(),
            "-d".as_ref(),
            "0".as_ref(),
        ],
    );
    let made = convert(&original, Format::JXL, jpeg_target());
    assert_eq!(made.copy.mime_type, "image/png");
    assert_eq!(made.pixels.to_rgb8(), image.to_rgb8());
}

#[test]
fn format_of_reads_signatures_and_only_tga_by_name() {
    use crate::fix::format_of;
    let cases: [(&[u8], Format); 13] = [
        (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", Format::PNG),
        (b"\xff\xd8\xff\xe0\0\x10JFIF", Format::JPEG),
        (b"GIF89a\x01\0\x01\0", Format::GIF),
        (b"RIFF\x10\0\0\0WEBPVP8L", Format::WEBP),
        (b"MM\0*\0\0\0\x08", Format::TIFF),
        (b"BM\x36\0\0\0\0\0\0\0\x36\0\0\0\x28\0\0\0", Format::BMP),
        (b"qoif\0\0\0\x10\0\0\0\x10\x04\0", Format::QOI),
        (b"\xff\x0a\xfa\x7f", Format::JXL),
        (b"\0\0\0\x0cJXL \r\n\x87\n\0\0\0\x14ftypjxl ", Format::JXL),
        (b"\0\0\0\x18ftypheic\0\0\0\0mif1heic", Format::HEIC),
        (b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf", Format::AVIF),
        (b"\0\0\0\x18ftypmif1\0\0\0\0mif1miaf", Format::HEIF),
        (b"P5\n4 4\n255\n", Format::PNM),
    ];
    for (head, format) in cases {
        assert_eq!(format_of("x", head), Some(format), "{head:?}");
    }
    let ico = [
        0_u8, 0, 1, 0, 1, 0, 16, 16, 0, 0, 1, 0, 32, 0, 0, 0, 0, 0, 22, 0, 0, 0,
    ];
    assert_eq!(format_of("x", &ico), Some(Format::ICO));
    // A MP4's ftyp is video; a camera raw is TIFF inside but not a TIFF to convert.
    assert_eq!(
        format_of("clip.mp4", b"\0\0\0\x18ftypmp42\0\0\0\0isommp42"),
        None
    );
    assert_eq!(format_of("IMG_1.CR2", b"II*\0\x10\0\0\0CR\x02\0"), None);
    // TGA has no signature: its extension and a plausible header make it one.
    let tga = [0_u8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 4, 0, 24, 0];
    assert_eq!(format_of("render.TGA", &tga), Some(Format::TGA));
    assert_eq!(format_of("render.bin", &tga), None);
    assert_eq!(format_of("notes.txt", b"hello"), None);
    assert_eq!(format_of("empty.png", b""), None);
    assert_eq!(Format::ALL.len(), 14);
}
