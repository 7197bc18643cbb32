//! What the emulator holds per asset, measured: every allocation of this test process is
//! counted while an in-process emulator takes thousands of small PNG uploads (with thumbnails,
//! as in the demo). The offline demo runs the emulator inside the window, so this is part of
//! what a 100,000-file drop costs there.

#[path = "support/seed.rs"]
mod seed;
mod support;

use std::alloc::System;

use cap::Cap;
use seed::upload_bytes;
use support::{client, emulator};

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

/// Uploads measured, after a warm-up of [`WARM_UP`].
const ASSETS: usize = 3000;
const WARM_UP: usize = 100;
/// The budget per asset (session, asset, object and thumbnail records).
const PER_ASSET_BUDGET: usize = 1024;

fn png(i: usize) -> Vec<u8> {
    let image = image::RgbImage::from_fn(4, 4, |x, y| {
        let [a, b, c, _] = ((i as u32) * 16 + y * 4 + x).to_le_bytes();
        image::Rgb([a, b, c])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("encode png");
    out.into_inner()
}

async fn upload(client: &runflow_uploader::api::RunflowClient, i: usize) {
    let name = format!("photo-from-the-archive-{i:06}.png");
    let asset = upload_bytes(client, &name, "image/png", png(i), None).await;
    assert!(asset.thumbnail_url.is_some(), "a thumbnail was made");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_asset_costs_the_emulator_under_a_kibibyte() {
    let emu = emulator(|_| {}).await;
    let client = client(&emu);
    for i in 0..WARM_UP {
        upload(&client, i).await;
    }
    let baseline = ALLOCATOR.allocated();
    for i in WARM_UP..WARM_UP + ASSETS {
        upload(&client, i).await;
    }
    let per_asset = ALLOCATOR.allocated().saturating_sub(baseline) / ASSETS;
    eprintln!("emulator memory per asset: {per_asset} B");
    assert_eq!(emu.asset_count(), WARM_UP + ASSETS);
    assert_eq!(emu.upload_session_count(), WARM_UP + ASSETS);
    assert!(
        per_asset < PER_ASSET_BUDGET,
        "{per_asset} B per asset (budget {PER_ASSET_BUDGET} B)"
    );
    emu.shutdown().await;
}
