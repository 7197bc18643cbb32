//! A photo-like image (smooth gradients with fine detail), encoded: what the tile tests and the
//! tile benchmark decode.

use std::io::Cursor;

/// `width`x`height` pixels in `format` (JPEG: baseline, as cameras write them).
pub fn photo(width: u32, height: u32, format: image::ImageFormat) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        let detail = ((x * 7 + y * 13) % 32) as u8;
        image::Rgb([
            (x * 255 / width) as u8 ^ detail,
            (y * 255 / height) as u8,
            ((x + y) % 256) as u8,
        ])
    });
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format).expect("encode");
    out.into_inner()
}
