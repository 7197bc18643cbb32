//! `--demo-data`: a few folders and a dozen generated images (real PNG/JPEG bytes with
//! thumbnails), so the app has something to show offline.

use std::sync::Arc;

use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
use uuid::Uuid;

use super::Shared;
use super::folder_routes::insert_folder;
use super::state::{AssetRecord, Db, Text, now, object_file_name};
use super::thumbs::{self, thumbnail_key};
use super::upload_routes::upload_key;

/// How a sample image is drawn.
#[derive(Clone, Copy)]
enum Style {
    Gradient,
    Disc,
    Stripes,
    Checker,
}

/// One sample: file name, size, style, two colours, folder (index into the folder list).
struct Sample {
    name: &'static str,
    width: u32,
    height: u32,
    style: Style,
    colors: ([u8; 3], [u8; 3]),
    folder: Option<usize>,
}

const fn sample(
    name: &'static str,
    (width, height): (u32, u32),
    style: Style,
    colors: ([u8; 3], [u8; 3]),
    folder: Option<usize>,
) -> Sample {
    Sample {
        name,
        width,
        height,
        style,
        colors,
        folder,
    }
}

/// Folder indices: 0 Product shots, 1 Campaigns, 2 Campaigns/2026 Spring, 3 Video.
const SAMPLES: &[Sample] = &[
    sample(
        "sunrise-gradient.png",
        (1600, 900),
        Style::Gradient,
        ([255, 140, 60], [60, 40, 160]),
        None,
    ),
    sample(
        "logo-draft.png",
        (512, 512),
        Style::Disc,
        ([250, 250, 245], [30, 110, 220]),
        None,
    ),
    sample(
        "banner-stripes.jpg",
        (1920, 480),
        Style::Stripes,
        ([20, 20, 30], [240, 200, 40]),
        None,
    ),
    sample(
        "texture-check.png",
        (300, 300),
        Style::Checker,
        ([200, 200, 200], [90, 90, 90]),
        None,
    ),
    sample(
        "perfume-bottle.png",
        (1200, 1600),
        Style::Disc,
        ([235, 225, 215], [190, 60, 90]),
        Some(0),
    ),
    sample(
        "sneaker-side.jpg",
        (1400, 1000),
        Style::Gradient,
        ([240, 240, 240], [120, 120, 130]),
        Some(0),
    ),
    sample(
        "watch-closeup.png",
        (800, 800),
        Style::Disc,
        ([15, 15, 20], [200, 170, 90]),
        Some(0),
    ),
    sample(
        "backpack-front.png",
        (900, 1200),
        Style::Stripes,
        ([60, 90, 60], [180, 200, 150]),
        Some(0),
    ),
    sample(
        "spring-hero.png",
        (1600, 1000),
        Style::Gradient,
        ([140, 220, 150], [250, 210, 230]),
        Some(2),
    ),
    sample(
        "spring-square.jpg",
        (1080, 1080),
        Style::Checker,
        ([250, 190, 200], [255, 250, 240]),
        Some(2),
    ),
    sample(
        "spring-story.png",
        (720, 1280),
        Style::Disc,
        ([120, 200, 240], [255, 230, 120]),
        Some(2),
    ),
    sample(
        "campaign-moodboard.png",
        (1000, 700),
        Style::Stripes,
        ([90, 60, 140], [230, 120, 60]),
        Some(1),
    ),
];

fn mix(a: [u8; 3], b: [u8; 3], t: f32) -> Rgb<u8> {
    let channel = |i: usize| {
        let value = f32::from(a[i]) + (f32::from(b[i]) - f32::from(a[i])) * t.clamp(0.0, 1.0);
        value.round() as u8
    };
    Rgb([channel(0), channel(1), channel(2)])
}

/// Draws a sample image.
fn draw(sample: &Sample) -> DynamicImage {
    let (w, h) = (sample.width, sample.height);
    let (a, b) = sample.colors;
    let image = RgbImage::from_fn(w, h, |x, y| {
        let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
        match sample.style {
            Style::Gradient => mix(a, b, (fx + fy) / 2.0),
            Style::Disc => {
                let (dx, dy) = (fx - 0.5, (fy - 0.5) * h as f32 / w as f32);
                let r = (dx * dx + dy * dy).sqrt();
                if r < 0.3 {
                    mix(b, a, r / 0.6)
                } else {
                    mix(a, b, fy * 0.3)
                }
            }
            Style::Stripes => {
                if ((x + y) / 40) % 2 == 0 {
                    mix(a, b, 0.1)
                } else {
                    mix(a, b, 0.9 - fx * 0.3)
                }
            }
            Style::Checker => {
                if (x / 30 + y / 30) % 2 == 0 {
                    Rgb(a)
                } else {
                    Rgb(b)
                }
            }
        }
    });
    DynamicImage::ImageRgb8(image)
}

fn encode(image: &DynamicImage, name: &str) -> anyhow::Result<(Vec<u8>, &'static str)> {
    let (format, mime) = if name.ends_with(".jpg") {
        (ImageFormat::Jpeg, "image/jpeg")
    } else {
        (ImageFormat::Png, "image/png")
    };
    let mut bytes = Vec::new();
    image.write_to(&mut std::io::Cursor::new(&mut bytes), format)?;
    Ok((bytes, mime))
}

/// Stores one sample as a confirmed asset, a few minutes apart from the others.
fn add_sample(
    shared: &Shared,
    index: usize,
    sample: &Sample,
    folders: &[Uuid],
) -> anyhow::Result<()> {
    let image = draw(sample);
    let (bytes, mime) = encode(&image, sample.name)?;
    let id = Uuid::new_v4();
    let key = upload_key(id, sample.name);
    let object = thumbs::store_bytes(
        &shared.store.object_path(&object_file_name(&key)),
        mime,
        &bytes,
    )?;
    let thumb_key = thumbnail_key(id);
    let thumb = thumbs::store_bytes(
        &shared.store.object_path(&object_file_name(&thumb_key)),
        "image/png",
        &thumbs::render_png(&image)?,
    )?;
    let minutes_ago = i64::try_from(SAMPLES.len() - index).unwrap_or(0) * 7;
    let at = now() - time::Duration::minutes(minutes_ago);
    shared.store.write(|db| {
        let (key, thumb_key) = (Text::from(key), Text::from(thumb_key));
        let asset = AssetRecord {
            id,
            folder_id: sample.folder.and_then(|i| folders.get(i).copied()),
            name: sample.name.into(),
            r2_key: key.clone(),
            mime_type: db.intern(mime),
            size_bytes: object.size_bytes,
            asset_type: db.intern("image"),
            thumbnail_key: Some(thumb_key.clone()),
            created_at: at,
            updated_at: at,
            deleted_at: None,
            deleted_by: None,
        };
        db.assets.insert(id, asset);
        db.insert_object(key, object);
        db.insert_object(thumb_key, thumb);
    });
    Ok(())
}

fn create_folders(db: &mut Db) -> anyhow::Result<Vec<Uuid>> {
    let fail = |err: super::errors::ApiError| anyhow::anyhow!("{}", err.message);
    let product = insert_folder(db, "Product shots", None).map_err(fail)?;
    let campaigns = insert_folder(db, "Campaigns", None).map_err(fail)?;
    let spring = insert_folder(db, "2026 Spring", Some(campaigns.id)).map_err(fail)?;
    let video = insert_folder(db, "Video", None).map_err(fail)?;
    Ok(vec![product.id, campaigns.id, spring.id, video.id])
}

/// Seeds the demo folders and images unless the state already has folders or assets.
pub(crate) async fn seed_if_empty(shared: &Arc<Shared>) -> anyhow::Result<()> {
    let empty = shared
        .store
        .read(|db| db.assets.is_empty() && db.folders.is_empty());
    if !empty {
        tracing::info!("state not empty; skipping demo data");
        return Ok(());
    }
    let shared = shared.clone();
    tokio::task::spawn_blocking(move || {
        let folders = shared.store.write(create_folders)?;
        for (index, sample) in SAMPLES.iter().enumerate() {
            add_sample(&shared, index, sample, &folders)?;
        }
        tracing::info!(assets = SAMPLES.len(), "demo data seeded");
        Ok(())
    })
    .await?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_draw_and_encode() {
        for sample in SAMPLES.iter().take(4) {
            let image = draw(sample);
            assert_eq!(
                (image.width(), image.height()),
                (sample.width, sample.height)
            );
            let (bytes, mime) = encode(&image, sample.name).unwrap();
            assert!(mime.starts_with("image/"));
            assert!(image::load_from_memory(&bytes).is_ok());
        }
    }
}
