//! Real files of every format, made here (the image crate's encoders, `heif-enc`, `cjxl`), and
//! the copies `make_copy` makes of them.

mod behaviour;
mod fit;
mod formats;
#[cfg(all(feature = "heic", target_os = "linux"))]
mod heif;
#[cfg(all(feature = "heic", target_os = "linux"))]
mod irot;

use std::path::{Path, PathBuf};
use std::process::Command;

use image::{DynamicImage, GenericImageView, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};

use super::{FixedCopy, Format, Target, format_of, make_copy};

/// A photo's colours on the left half and on the right half (before noise).
const LEFT: [u8; 3] = [200, 60, 40];
const RIGHT: [u8; 3] = [40, 90, 200];

/// A generous limit: nothing is scaled.
const NO_LIMIT: u64 = 1 << 40;

/// A cheap, repeatable noise in `-amplitude..=amplitude`.
fn noise(x: u32, y: u32, channel: u32, amplitude: i32) -> i32 {
    let mut h = x
        .wrapping_mul(0x9E37_79B1)
        .wrapping_add(y.wrapping_mul(0x85EB_CA77))
        .wrapping_add(channel.wrapping_mul(0xC2B2_AE3D));
    h ^= h >> 15;
    h = h.wrapping_mul(0x2C1B_3C6D);
    h ^= h >> 12;
    (h % (2 * amplitude as u32 + 1)) as i32 - amplitude
}

/// A photo-like image: two halves of different colours, a gradient and noise, so thousands of
/// colours.
fn photo_with(width: u32, height: u32, amplitude: i32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        let base = if x < width / 2 { LEFT } else { RIGHT };
        let shade = (y * 20 / height.max(1)) as i32 - 10;
        Rgb(std::array::from_fn(|c| {
            (i32::from(base[c]) + shade + noise(x, y, c as u32, amplitude)).clamp(0, 255) as u8
        }))
    })
}

fn photo(width: u32, height: u32) -> RgbImage {
    photo_with(width, height, 12)
}

/// A graphic of four flat colours.
fn graphic(width: u32, height: u32) -> RgbImage {
    const COLOURS: [[u8; 3]; 4] = [[255, 0, 0], [0, 160, 0], [0, 0, 255], [250, 250, 250]];
    RgbImage::from_fn(width, height, |x, y| {
        let quadrant = usize::from(x >= width / 2) + 2 * usize::from(y >= height / 2);
        Rgb(COLOURS[quadrant])
    })
}

/// A photo whose right half is half transparent.
fn translucent(width: u32, height: u32) -> RgbaImage {
    let rgb = photo(width, height);
    RgbaImage::from_fn(width, height, |x, y| {
        let [r, g, b] = rgb.get_pixel(x, y).0;
        Rgba([r, g, b, if x < width / 2 { 255 } else { 128 }])
    })
}

fn save(dir: &Path, name: &str, image: &DynamicImage, format: ImageFormat) -> PathBuf {
    let path = dir.join(name);
    image.save_with_format(&path, format).unwrap();
    path
}

/// Runs a tool that makes a test file; a missing one fails the test, naming its package.
fn run_tool(program: &str, package: &str, args: &[&Path]) {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|err| {
            panic!("{program} is needed by this test ({err}): install the Debian package {package}")
        });
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A copy and its pixels, decoded back.
struct Made {
    copy: FixedCopy,
    pixels: DynamicImage,
}

/// Makes the copy of `original` into `dir/copies`, checking what every copy must be: the format
/// recognised as `format`, the original's bytes unchanged, the copy where it says, of the size
/// and type it says, decodable, and named after the original.
fn convert(original: &Path, format: Format, target: Target) -> Made {
    let name = original.file_name().unwrap().to_str().unwrap();
    let before = std::fs::read(original).unwrap();
    let head = &before[..before.len().min(8192)];
    assert_eq!(format_of(name, head), Some(format), "{name}");

    let out_dir = original.parent().unwrap().join("copies");
    let copy =
        make_copy(original, name, &out_dir, &target).unwrap_or_else(|err| panic!("{name}: {err}"));

    assert_eq!(std::fs::read(original).unwrap(), before, "{name} changed");
    assert_eq!(copy.path, out_dir.join(&copy.name));
    let stem = name.rsplit_once('.').map_or(name, |(stem, _)| stem);
    let extension = match copy.mime_type.as_str() {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/webp" => "webp",
        other => panic!("{name}: a copy of type {other}"),
    };
    assert_eq!(copy.name, format!("{stem}.{extension}"));
    let bytes = std::fs::read(&copy.path).unwrap();
    assert_eq!(copy.size_bytes, bytes.len() as u64);
    assert!(copy.size_bytes <= target.limit_bytes);
    let written = std::fs::metadata(&copy.path).unwrap().modified().unwrap();
    assert_eq!(copy.modified_ns, crate::upload::nanos_since_epoch(written));
    assert_eq!(copy.from_label, format.label);
    assert_eq!(copy.from_mime, format.mime_type);
    assert_eq!(
        image::guess_format(&bytes).unwrap().to_mime_type(),
        copy.mime_type
    );
    let pixels = image::load_from_memory(&bytes).unwrap();
    assert_eq!(pixels.dimensions(), (copy.width, copy.height), "{name}");
    Made { copy, pixels }
}

/// Asserts the mean of the pixels around (x, y) (5×5, so noise averages out) is within
/// `tolerance` of `expected` on every channel.
fn assert_near(image: &DynamicImage, (x, y): (u32, u32), expected: [u8; 4], tolerance: u8) {
    let (width, height) = image.dimensions();
    let (mut sum, mut count) = ([0_u32; 4], 0);
    for py in y.saturating_sub(2)..(y + 3).min(height) {
        for px in x.saturating_sub(2)..(x + 3).min(width) {
            for (total, value) in sum.iter_mut().zip(image.get_pixel(px, py).0) {
                *total += u32::from(value);
            }
            count += 1;
        }
    }
    let mean = sum.map(|total| (total / count) as u8);
    let close = mean
        .iter()
        .zip(expected)
        .all(|(a, e)| a.abs_diff(e) <= tolerance);
    assert!(
        close,
        "pixels around ({x}, {y}) are {mean:?}, expected {expected:?} ± {tolerance}"
    );
}

/// Asserts a copy of `photo(width, height)` shows its two halves where they were.
fn assert_photo_halves(image: &DynamicImage, tolerance: u8) {
    let (width, height) = image.dimensions();
    let [r, g, b] = LEFT;
    assert_near(image, (width / 4, height / 2), [r, g, b, 255], tolerance);
    let [r, g, b] = RIGHT;
    assert_near(
        image,
        (3 * width / 4, height / 2),
        [r, g, b, 255],
        tolerance,
    );
}

/// Lossy sources and JPEG copies: the halves' colours, near enough.
const LOSSY: u8 = 24;

fn jpeg_target() -> Target {
    Target {
        webp: false,
        limit_bytes: NO_LIMIT,
    }
}
