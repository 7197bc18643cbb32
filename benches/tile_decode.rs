//! Benchmark of one part: the CPU time to make a 160 px gallery tile from an original (the
//! decode and the scaling; no download, no texture, no window). The JPEG decoder hands its
//! colour planes to worker threads of its own, so the time is the process's CPU time, every
//! thread counted, besides the wall time. Prints, for 10 tiles each of a 12 MP baseline JPEG
//! (through the scaled IDCT), a 24 MP one and a 3 MP PNG screenshot, the CPU time per tile
//! (mean) and the wall time (median and worst), and exits 1 when the 12 MP JPEG takes over
//! 40 ms of CPU. Without `--bench` (`cargo test --all-targets` runs it, unoptimised) it makes
//! one tile of each and checks no target.
//!
//!     cargo bench --bench tile_decode

#![expect(clippy::print_stdout, reason = "a benchmark prints its numbers")]

#[path = "../tests/support/photo.rs"]
mod photo;

use std::time::Instant;

use cpu_time::ProcessTime;
use photo::photo;
use runflow_uploader::library::thumbs::decode_thumbnail;

const TILE_PX: u32 = 160;
const RUNS: usize = 10;
const TARGET_MS: f64 = 40.0;

/// Per tile over `runs`: mean CPU milliseconds (all threads), median and worst wall ones.
fn measure(bytes: &[u8], runs: usize) -> (f64, f64, f64) {
    let cpu = ProcessTime::now();
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            let tile = decode_thumbnail(bytes, TILE_PX).expect("a tile");
            assert!(tile.width().max(tile.height()) <= TILE_PX);
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    let cpu_ms = cpu.elapsed().as_secs_f64() * 1000.0 / runs as f64;
    times.sort_by(f64::total_cmp);
    (cpu_ms, times[runs / 2], times[runs - 1])
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
    println!("| original | size | CPU per tile | wall median | wall worst |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    let mut missed = false;
    for (index, (name, bytes)) in cases.iter().enumerate() {
        let (cpu, median, worst) = measure(bytes, runs);
        println!(
            "| {name} | {:.1} MB | {cpu:.1} ms | {median:.1} ms | {worst:.1} ms |",
            bytes.len() as f64 / 1e6
        );
        if index == 0 && cpu > TARGET_MS {
            missed = true;
        }
    }
    if smoke {
        println!("(smoke run; `cargo bench --bench tile_decode` for the real one)");
        return;
    }
    println!("target: a tile from a 12 MP JPEG in at most {TARGET_MS} ms of CPU (mean)");
    if missed {
        println!("MISSED");
        std::process::exit(1);
    }
    println!("met");
}
