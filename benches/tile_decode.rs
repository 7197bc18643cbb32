//! Benchmark of one part: the CPU time to make a 160 px gallery tile from an original (the
//! decode and the scaling, on one thread; no download, no texture, no window). Prints the
//! median and worst of 10 tiles for a 12 MP baseline JPEG (through the scaled IDCT), a 24 MP
//! one, and a 3 MP PNG screenshot, and exits 1 when the 12 MP JPEG takes over 40 ms. Without
//! `--bench` (`cargo test --all-targets` runs it, unoptimised) it makes one tile of each and
//! checks no target.
//!
//!     cargo bench --bench tile_decode

#![expect(clippy::print_stdout, reason = "a benchmark prints its numbers")]

#[path = "../tests/support/photo.rs"]
mod photo;

use std::time::Instant;

use photo::photo;
use runflow_uploader::library::thumbs::decode_thumbnail;

const TILE_PX: u32 = 160;
const RUNS: usize = 10;
const TARGET_MS: f64 = 40.0;

/// Median and worst milliseconds per tile over `runs`.
fn measure(bytes: &[u8], runs: usize) -> (f64, f64) {
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            let tile = decode_thumbnail(bytes, TILE_PX).expect("a tile");
            assert!(tile.width().max(tile.height()) <= TILE_PX);
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    (times[runs / 2], times[runs - 1])
}

fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let runs = if smoke { 1 } else { RUNS };
    let cases = [
        (
            "12 MP JPEG (4000x3000)",
            photo(4000, 3000, image::ImageFormat::Jpeg),
        ),
        (
            "24 MP JPEG (6000x4000)",
            photo(6000, 4000, image::ImageFormat::Jpeg),
        ),
        (
            "3 MP PNG (2048x1536)",
            photo(2048, 1536, image::ImageFormat::Png),
        ),
    ];
    println!("| original | size | median | worst |");
    println!("| --- | ---: | ---: | ---: |");
    let mut missed = false;
    for (index, (name, bytes)) in cases.iter().enumerate() {
        let (median, worst) = measure(bytes, runs);
        println!(
            "| {name} | {:.1} MB | {median:.1} ms | {worst:.1} ms |",
            bytes.len() as f64 / 1e6
        );
        if index == 0 && median > TARGET_MS {
            missed = true;
        }
    }
    if smoke {
        println!("(smoke run; `cargo bench --bench tile_decode` for the real one)");
        return;
    }
    println!("target: a tile from a 12 MP JPEG in at most {TARGET_MS} ms of CPU (median)");
    if missed {
        println!("MISSED");
        std::process::exit(1);
    }
    println!("met");
}
