use super::*;
use crate::library::thumbs::{Thumb, ThumbError};

fn asset(id: &str) -> Asset {
    Asset {
        id: Some(id.into()),
        mime_type: Some("image/png".into()),
        url: Some("http://127.0.0.1/x".into()),
        ..Asset::default()
    }
}

fn ready(id: &str) -> ThumbEvent {
    ThumbEvent {
        asset_id: id.into(),
        size_px: 10,
        outcome: Ok(Thumb {
            width: 10,
            height: 10,
            rgba: vec![255; 400],
            source: ThumbSource::Server,
        }),
    }
}

#[test]
fn wanted_lists_are_sent_once_and_textures_stay_within_budget() {
    let ctx = egui::Context::default();
    // Room for two 400-byte thumbnails.
    let mut cache = ThumbCache::with_limits(800, 100);
    for id in ["a", "b", "c"] {
        assert!(matches!(cache.show(&asset(id), 10), ThumbState::Loading));
    }
    let wanted = cache.end_frame().unwrap();
    assert_eq!(wanted.len(), 3);
    for id in ["a", "b", "c"] {
        cache.show(&asset(id), 10);
    }
    assert!(
        cache.end_frame().is_none(),
        "an unchanged list is not sent again"
    );

    for id in ["a", "b", "c"] {
        cache.apply(&ctx, &ready(id));
    }
    // Only "c" is on screen now: the others are evicted to fit the budget.
    assert!(matches!(
        cache.show(&asset("c"), 10),
        ThumbState::Ready { .. }
    ));
    cache.end_frame();
    assert!(cache.used_bytes() <= 800);
    assert!(matches!(
        cache.state_of("c", 10),
        Some(ThumbState::Ready { .. })
    ));
    assert!(cache.state_of("a", 10).is_none());
}

fn failed(id: &str, error: ThumbError) -> ThumbEvent {
    ThumbEvent {
        asset_id: id.into(),
        size_px: 10,
        outcome: Err(error),
    }
}

/// The ids asked for at the end of a frame where `ids` were shown (`None`: unchanged).
fn frame(cache: &mut ThumbCache, now: f64, ids: &[&str]) -> Option<Vec<String>> {
    cache.begin_frame(now, 0);
    for id in ids {
        cache.show(&asset(id), 10);
    }
    cache
        .end_frame()
        .map(|wanted| wanted.into_iter().map(|r| r.asset_id).collect())
}

#[test]
fn transient_failures_are_tried_again_with_backoff_while_shown() {
    let ctx = egui::Context::default();
    let mut cache = ThumbCache::default();
    assert_eq!(frame(&mut cache, 0.0, &["t"]), Some(vec!["t".to_owned()]));
    cache.apply(&ctx, &failed("t", ThumbError::Http { status: 503 }));
    assert_eq!(
        frame(&mut cache, 0.5, &["t"]),
        Some(vec![]),
        "not before 1 s"
    );
    assert!(matches!(
        cache.state_of("t", 10),
        Some(ThumbState::Failed(_))
    ));
    assert_eq!(cache.next_retry(), Some(1.0), "the window wakes then");
    assert_eq!(frame(&mut cache, 1.0, &["t"]), Some(vec!["t".to_owned()]));
    assert!(matches!(cache.state_of("t", 10), Some(ThumbState::Loading)));
    // The second failure waits twice as long.
    cache.apply(&ctx, &failed("t", ThumbError::TimedOut));
    assert_eq!(frame(&mut cache, 2.5, &["t"]), Some(vec![]));
    assert_eq!(frame(&mut cache, 3.0, &["t"]), Some(vec!["t".to_owned()]));
    cache.apply(&ctx, &ready("t"));
    assert!(matches!(
        cache.state_of("t", 10),
        Some(ThumbState::Ready { .. })
    ));
    assert_eq!(cache.next_retry(), None);
    assert_eq!(retry_delay_secs(1), 1.0);
    assert_eq!(retry_delay_secs(5), 16.0);
    assert_eq!(retry_delay_secs(40), 30.0);
}

#[test]
fn a_reload_forgets_failures_and_lasting_ones_wait_for_it() {
    let ctx = egui::Context::default();
    let mut cache = ThumbCache::default();
    frame(&mut cache, 0.0, &["d"]);
    cache.apply(&ctx, &failed("d", ThumbError::Damaged));
    assert_eq!(frame(&mut cache, 100.0, &["d"]), Some(vec![]));
    assert_eq!(frame(&mut cache, 200.0, &["d"]), None, "never asked again");
    assert_eq!(cache.next_retry(), None);
    // F5, a reconnect or another view: a new generation.
    cache.begin_frame(201.0, 1);
    assert!(cache.state_of("d", 10).is_none());
    assert!(matches!(cache.show(&asset("d"), 10), ThumbState::Loading));
    assert_eq!(
        cache.end_frame().map(|w| w.len()),
        Some(1),
        "asked for again"
    );
}

#[test]
fn a_tile_from_the_original_gives_way_to_a_later_server_thumbnail() {
    let ctx = egui::Context::default();
    let mut cache = ThumbCache::default();
    let mut event = ready("o");
    if let Ok(thumb) = &mut event.outcome {
        thumb.source = ThumbSource::Original;
    }
    cache.apply(&ctx, &event);
    assert!(matches!(
        cache.show(&asset("o"), 10),
        ThumbState::Ready {
            provisional: false,
            ..
        }
    ));
    assert!(
        cache.end_frame().is_none_or(|w| w.is_empty()),
        "nothing better to ask for"
    );
    let mut with_thumbnail = asset("o");
    with_thumbnail.thumbnail_url = Some("http://127.0.0.1/t".into());
    assert!(matches!(
        cache.show(&with_thumbnail, 10),
        ThumbState::Ready {
            provisional: true,
            ..
        }
    ));
    let wanted = cache.end_frame().unwrap();
    assert_eq!(
        wanted[0].thumbnail_url.as_deref(),
        Some("http://127.0.0.1/t")
    );
    cache.apply(&ctx, &ready("o"));
    assert!(matches!(
        cache.show(&with_thumbnail, 10),
        ThumbState::Ready {
            provisional: false,
            ..
        }
    ));
}

#[test]
fn tiny_thumbnails_are_capped_by_count_not_only_by_bytes() {
    let ctx = egui::Context::default();
    // 4x4 thumbnails: 3,000 of them are 192 KB, far within the byte budget.
    let mut cache = ThumbCache::with_limits(TEXTURE_BUDGET_BYTES, 1000);
    for i in 0..3000 {
        let mut event = ready(&format!("a{i}"));
        if let Ok(thumb) = &mut event.outcome {
            (thumb.width, thumb.height, thumb.rgba) = (4, 4, vec![255; 64]);
        }
        cache.apply(&ctx, &event);
        if i % 100 == 99 {
            cache.end_frame();
        }
    }
    cache.show(&asset("a2999"), 10);
    cache.end_frame();
    assert!(cache.len() <= 1000, "{} thumbnails held", cache.len());
    assert!(
        matches!(cache.state_of("a2999", 10), Some(ThumbState::Ready { .. })),
        "the newest stays"
    );
    assert!(cache.state_of("a0", 10).is_none(), "the oldest left");
}

#[test]
fn failures_explain_themselves_and_a_local_preview_outlives_one() {
    let ctx = egui::Context::default();
    let mut cache = ThumbCache::default();
    cache.apply(
        &ctx,
        &ThumbEvent {
            asset_id: "v".into(),
            size_px: 10,
            outcome: Err(ThumbError::NoPreview {
                kind: FileKind::Video,
            }),
        },
    );
    assert!(matches!(
        cache.state_of("v", 10),
        Some(ThumbState::Icon(FileKind::Video))
    ));
    cache.apply(
        &ctx,
        &ThumbEvent {
            asset_id: "x".into(),
            size_px: 10,
            outcome: Err(ThumbError::NotAnImage),
        },
    );
    assert!(
        matches!(cache.state_of("x", 10), Some(ThumbState::Failed(reason)) if reason.contains("not an image"))
    );

    let mut local = ready("l");
    if let Ok(thumb) = &mut local.outcome {
        thumb.source = ThumbSource::Local;
    }
    cache.apply(&ctx, &local);
    assert!(matches!(
        cache.show(&asset("l"), 10),
        ThumbState::Ready {
            provisional: true,
            ..
        }
    ));
    assert_eq!(
        cache.end_frame().map(|w| w.len()),
        Some(1),
        "the server's is still wanted"
    );
    // A lasting failure of the server's: the local preview stays, for good.
    cache.apply(
        &ctx,
        &ThumbEvent {
            asset_id: "l".into(),
            size_px: 10,
            outcome: Err(ThumbError::Damaged),
        },
    );
    assert!(matches!(
        cache.show(&asset("l"), 10),
        ThumbState::Ready {
            provisional: false,
            ..
        }
    ));
    assert_eq!(cache.end_frame().map(|w| w.len()), Some(0));
    // A passing failure of the server's keeps the local tile and asks again later, once.
    let mut local = ready("l");
    if let Ok(thumb) = &mut local.outcome {
        thumb.source = ThumbSource::Local;
    }
    cache.apply(&ctx, &local);
    cache.apply(
        &ctx,
        &ThumbEvent {
            asset_id: "l".into(),
            size_px: 10,
            outcome: Err(ThumbError::TimedOut),
        },
    );
    cache.begin_frame(0.5, 0);
    cache.show(&asset("l"), 10);
    assert_eq!(cache.end_frame().map(|w| w.len()), None, "not yet");
    assert_eq!(cache.next_retry(), Some(1.0));
    cache.begin_frame(1.0, 0);
    cache.show(&asset("l"), 10);
    assert_eq!(cache.end_frame().map(|w| w.len()), Some(1), "asked again");
    assert_eq!(
        cache.next_retry(),
        None,
        "no wake-ups while it is asked for"
    );
    cache.forget("l");
    assert!(cache.state_of("l", 10).is_none());
}
