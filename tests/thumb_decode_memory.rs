//! A tile made from an original never holds the original's full-size pixels: a 12 MP JPEG
//! becomes a 160 px tile through the decoder's scaled IDCT, within an allocation limit set
//! around the decode (past it, an allocation fails and the test aborts). Orientation from EXIF
//! is applied on that path too.

#[path = "support/photo.rs"]
mod photo;

use std::alloc::System;

use cap::Cap;
use photo::photo;
use runflow_uploader::library::thumbs::decode_thumbnail;

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);
/// The limit is process-wide: the tests take turns.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// `jpeg` with an EXIF segment saying "rotate 90° clockwise to display" (orientation 6).
fn rotated(jpeg: &[u8]) -> Vec<u8> {
    let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec();
    tiff.extend_from_slice(&[0, 1]); // one entry
    tiff.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0]); // orientation = 6
    tiff.extend_from_slice(&[0, 0, 0, 0]); // no next IFD
    let mut segment = b"Exif\0\0".to_vec();
    segment.extend_from_slice(&tiff);
    let length = u16::try_from(segment.len() + 2).unwrap().to_be_bytes();
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1, length[0], length[1]]);
    out.extend_from_slice(&segment);
    out.extend_from_slice(&jpeg[2..]);
    out
}

#[test]
fn a_twelve_megapixel_jpeg_becomes_a_tile_without_its_full_size_pixels() {
    let _turn = ONE_AT_A_TIME.lock().unwrap();
    let jpeg = photo(4000, 3000, image::ImageFormat::Jpeg);
    let full_rgba = 4000 * 3000 * 4;
    // An eighth of the full image's pixels, for the decode and the scaling together.
    ALLOCATOR
        .set_limit(ALLOCATOR.allocated() + full_rgba / 8)
        .unwrap();
    let tile = decode_thumbnail(&jpeg, 160);
    ALLOCATOR.set_limit(usize::MAX).unwrap();
    assert_eq!(tile.expect("a tile").dimensions(), (160, 120));
}

#[test]
fn exif_orientation_turns_the_scaled_tile() {
    let _turn = ONE_AT_A_TIME.lock().unwrap();
    let jpeg = rotated(&photo(800, 400, image::ImageFormat::Jpeg));
    let tile = decode_thumbnail(&jpeg, 100).expect("a tile");
    assert_eq!(tile.dimensions(), (50, 100), "portrait once turned");
}
