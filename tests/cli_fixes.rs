//! Preflight fix-its end to end, with the real binary and the emulator (which takes PNG, JPEG,
//! GIF and WebP, as Runflow documents): an image of another type is converted, and one over
//! 50 MiB shrunk, only when asked (`--convert`, `--fit`); the original is never touched; the
//! temporary copy is gone after the upload, after a cancel and after a kill -9; and the next run
//! finds the file already uploaded without converting it again.

#[path = "support/assets.rs"]
mod assets_support;
#[path = "support/cli.rs"]
#[expect(dead_code, reason = "these files are images, not the PNG stubs")]
mod cli_support;
#[path = "support/engine.rs"]
#[expect(dead_code, reason = "this test drives one engine by hand")]
mod engine_support;
#[path = "support/photo.rs"]
mod photo_support;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cli_support::{Env, json_lines, run};
use runflow_uploader::upload::{self, Command, Event, FileState};

/// Runflow's upload limit.
const LIMIT_BYTES: u64 = 52_428_800;

/// The `file` records of a run.
fn files(output: &Output) -> Vec<serde_json::Value> {
    json_lines(output)
        .into_iter()
        .filter(|r| r["type"] == "file")
        .collect()
}

/// Every file under a `copies` folder of the journals in `data_dir`: the copies made to upload
/// instead of files.
fn copies_left(data_dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, inside: bool, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.map(Result::unwrap) {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, inside || entry.file_name() == "copies", out);
            } else if inside {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&data_dir.join("journal"), false, &mut out);
    out
}

fn write_photo(path: &Path, width: u32, height: u32, format: image::ImageFormat) -> Vec<u8> {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let bytes = photo_support::photo(width, height, format);
    std::fs::write(path, &bytes).unwrap();
    bytes
}

fn upload(env: &Env, dir: &Path, flags: &[&str]) -> std::process::Command {
    let mut args = vec!["upload", dir.to_str().unwrap(), "--json"];
    args.extend_from_slice(flags);
    env.command(&args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiff_is_converted_only_with_convert_and_the_next_run_finds_it_uploaded() {
    let env = Env::new(|_| {}).await;
    let dir = env.home.path().join("scans");
    let tiff = dir.join("scan.tiff");
    let original = write_photo(&tiff, 640, 480, image::ImageFormat::Tiff);

    let refused = run(upload(&env, &dir, &[])).await;
    assert_eq!(refused.status.code(), Some(1));
    let record = &files(&refused)[0];
    assert_eq!(record["status"], "failed", "{record}");
    assert_eq!(record["reason"], "unsupported_type");
    assert_eq!(record["fix"], "convert");
    assert!(
        record["error"].as_str().unwrap().contains("TIFF"),
        "{record}"
    );
    assert_eq!(
        env.emu.asset_count(),
        0,
        "nothing is sent without --convert"
    );

    let converted = run(upload(&env, &dir, &["--convert"])).await;
    assert_eq!(converted.status.code(), Some(0), "{converted:?}");
    let record = &files(&converted)[0];
    assert_eq!(record["status"], "uploaded", "{record}");
    assert_eq!(record["converted_from"]["name"], "scan.tiff");
    assert_eq!(record["converted_from"]["mime_type"], "image/tiff");
    assert_eq!(record["converted_to"]["name"], "scan.jpg");
    assert_eq!(record["converted_to"]["mime_type"], "image/jpeg");
    assert_eq!(record["converted_to"]["width"], 640);
    assert_eq!(record["converted_to"]["height"], 480);
    let client = support::client(&env.emu);
    assert_eq!(assets_support::all_asset_names(&client).await, ["scan.jpg"]);
    assert_eq!(
        std::fs::read(&tiff).unwrap(),
        original,
        "the original is untouched"
    );
    let data = env.home.path().join("data");
    assert_eq!(
        copies_left(&data),
        Vec::<PathBuf>::new(),
        "the copy is gone"
    );

    let again = run(upload(&env, &dir, &["--convert"])).await;
    assert_eq!(again.status.code(), Some(0));
    let record = &files(&again)[0];
    assert_eq!(record["status"], "already_uploaded", "{record}");
    assert_eq!(
        record["converted_to"],
        serde_json::Value::Null,
        "not converted again"
    );
    assert_eq!(env.emu.asset_count(), 1);
    // The history says what went instead of the file.
    let history = run(env.command(&["history", "--json"])).await;
    let rows = json_lines(&history);
    assert!(
        rows[0]["fixed"]
            .as_str()
            .is_some_and(|f| f.contains("TIFF") && f.contains("JPEG")),
        "{rows:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_heic_photo_goes_as_a_jpeg() {
    let env = Env::new(|_| {}).await;
    let dir = env.home.path().join("phone");
    let png = env.home.path().join("IMG_0042.png");
    write_photo(&png, 320, 240, image::ImageFormat::Png);
    std::fs::create_dir_all(&dir).unwrap();
    let heic = dir.join("IMG_0042.HEIC");
    let made = std::process::Command::new("heif-enc")
        .args(["-q", "80", "-o"])
        .arg(&heic)
        .arg(&png)
        .output()
        .expect("heif-enc runs (Debian's libheif-examples; .ci/run installs it)");
    assert!(made.status.success(), "heif-enc: {made:?}");

    let output = run(upload(&env, &dir, &["--convert"])).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let record = &files(&output)[0];
    assert_eq!(record["status"], "uploaded", "{record}");
    assert_eq!(record["converted_from"]["mime_type"], "image/heic");
    assert_eq!(record["converted_to"]["name"], "IMG_0042.jpg");
    assert_eq!(record["converted_to"]["mime_type"], "image/jpeg");
    assert_eq!(record["converted_to"]["width"], 320);
    assert_eq!(record["converted_to"]["height"], 240);
}

/// A 16-bit PNG of sensor-like noise, 4000x3000: about 72 MB, as a render farm writes them.
fn write_big_png(path: &Path) {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let image = image::ImageBuffer::<image::Rgb<u16>, _>::from_fn(4000, 3000, |x, y| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let grain = (state & 0x0fff) as u16;
        image::Rgb([
            (x as u16 * 16).wrapping_add(grain),
            (y as u16 * 21).wrapping_add(grain >> 1),
            grain << 4,
        ])
    });
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let encoder = image::codecs::png::PngEncoder::new_with_quality(
        file,
        image::codecs::png::CompressionType::Fast,
        image::codecs::png::FilterType::NoFilter,
    );
    image.write_with_encoder(encoder).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_over_50_mib_is_shrunk_only_with_fit_and_lands_under_the_limit() {
    let env = Env::new(|_| {}).await;
    let dir = env.home.path().join("renders");
    let png = dir.join("frame-0001.png");
    write_big_png(&png);
    let size = std::fs::metadata(&png).unwrap().len();
    assert!(size > LIMIT_BYTES, "the render is {size} bytes");
    let before = std::fs::read(&png).unwrap();

    let refused = run(upload(&env, &dir, &[])).await;
    let record = &files(&refused)[0];
    assert_eq!(record["status"], "failed", "{record}");
    assert_eq!(record["reason"], "too_large");
    assert_eq!(record["fix"], "fit");
    assert!(record["error"].as_str().unwrap().contains("50 MiB"));
    assert_eq!(env.emu.asset_count(), 0);

    let fitted = run(upload(&env, &dir, &["--fit"])).await;
    assert_eq!(fitted.status.code(), Some(0), "{fitted:?}");
    let record = &files(&fitted)[0];
    assert_eq!(record["status"], "uploaded", "{record}");
    let to = &record["converted_to"];
    assert!(to["size_bytes"].as_u64().unwrap() <= LIMIT_BYTES, "{to}");
    assert_eq!(to["mime_type"], "image/jpeg", "noise is a photo: {to}");
    assert!(to["width"].as_u64().unwrap() <= 4000 && to["height"].as_u64().unwrap() <= 3000);
    assert_eq!(
        std::fs::read(&png).unwrap(),
        before,
        "the original is untouched"
    );
    assert!(copies_left(&env.home.path().join("data")).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_left_by_a_kill_is_removed_by_the_next_run_which_uploads_each_file_once() {
    // Slow storage: the first copy is still being sent when the run is killed.
    let env = Env::new(|c| c.put_bytes_per_sec = Some(40_000)).await;
    let dir = env.home.path().join("scans");
    for i in 0..3 {
        write_photo(
            &dir.join(format!("scan-{i}.bmp")),
            200 + i * 10,
            150,
            image::ImageFormat::Bmp,
        );
    }
    let data = env.home.path().join("data");
    let mut child = upload(&env, &dir, &["--convert", "--concurrency", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while (env.emu.upload_session_count() == 0 || copies_left(&data).is_empty())
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!copies_left(&data).is_empty(), "the kill left a copy");
    assert!(env.emu.asset_count() < 3, "killed before the end");

    let output = run(upload(&env, &dir, &["--convert"])).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    for record in files(&output) {
        assert!(
            ["uploaded", "resumed", "already_uploaded"]
                .contains(&record["status"].as_str().unwrap()),
            "{record}"
        );
    }
    let client = support::client(&env.emu);
    let mut names = assets_support::all_asset_names(&client).await;
    names.sort();
    assert_eq!(
        names,
        ["scan-0.jpg", "scan-1.jpg", "scan-2.jpg"],
        "one asset each"
    );
    assert_eq!(copies_left(&data), Vec::<PathBuf>::new(), "no copy is left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_conversion_leaves_no_copy() {
    let emu = support::emulator(|c| c.put_bytes_per_sec = Some(20_000)).await;
    let data = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let tga = files.path().join("poster.tga");
    write_photo(&tga, 300, 200, image::ImageFormat::Tga);
    let config = upload::EngineConfig {
        auto_convert: true,
        ..engine_support::engine_config(data.path(), 1)
    };
    let (engine, mut events) = upload::spawn(
        &tokio::runtime::Handle::current(),
        engine_support::patient_client(&emu),
        config,
        Arc::new(|| {}),
    );
    engine.send(Command::Add {
        paths: vec![tga.clone()],
        folder_id: None,
        force: false,
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let id = loop {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .expect("the upload started in time")
            .expect("the engine runs");
        if let Event::State {
            id,
            state: FileState::Uploading,
        } = event
        {
            break id;
        }
    };
    assert_eq!(copies_left(data.path()).len(), 1, "the copy is being sent");
    engine.send(Command::Cancel(id));
    let outcomes = engine_support::collect_more(
        &mut events,
        Duration::from_secs(30),
        [(id, "poster.tga".to_owned())].into(),
    )
    .await;
    assert_eq!(outcomes.state("poster.tga"), &FileState::Cancelled);
    // The copy is deleted on a blocking thread: give it a moment.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !copies_left(data.path()).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(copies_left(data.path()), Vec::<PathBuf>::new());
    assert_eq!(emu.asset_count(), 0);
}
