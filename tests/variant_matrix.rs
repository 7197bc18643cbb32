//! The CLI against every answer variant the emulator can give where the reference is silent,
//! alone and combined with the faults: every file becomes exactly one asset and the run exits 0.

#[path = "support/cli.rs"]
mod cli_support;
mod support;

use cli_support::{Env, json_lines, run, write_pngs};

use std::collections::HashSet;

use runflow_uploader::api::ListQuery;
use runflow_uploader::emulator::{
    CreatedStatus, EmulatorConfig, ErrorEnvelope, Pagination, RepeatConfirm, RetryAfter,
    TypesEndpoint,
};

const FILES: usize = 12;

/// One variant of the emulator's answers, by name.
type Variant = (&'static str, fn(&mut EmulatorConfig));

fn variants() -> Vec<Variant> {
    vec![
        ("types-endpoint array", |c| {
            c.types_endpoint = TypesEndpoint::Array;
        }),
        ("types-endpoint missing", |c| {
            c.types_endpoint = TypesEndpoint::Missing;
        }),
        ("repeat-confirm not-found", |c| {
            c.repeat_confirm = RepeatConfirm::NotFound;
        }),
        ("repeat-confirm same", |c| {
            c.repeat_confirm = RepeatConfirm::Same;
        }),
        ("error-envelope nested", |c| {
            c.error_envelope = ErrorEnvelope::Nested;
        }),
        ("pagination next", |c| c.pagination = Pagination::Next),
        ("pagination next-pq", |c| c.pagination = Pagination::NextPq),
        ("retry-after off", |c| {
            c.retry_after = RetryAfter::Off;
            c.rate_limit = Some(40);
        }),
        ("created-status 200", |c| {
            c.created_status = CreatedStatus::Ok;
        }),
        ("drop-confirm-response-rate 0.5", |c| {
            c.drop_confirm_response_rate = 0.5;
        }),
    ]
}

/// The existing faults, at rates a run survives in seconds.
fn faults(c: &mut EmulatorConfig) {
    c.fail_rate = 0.05;
    c.drop_put_rate = 0.05;
    c.drop_confirm_response_rate = c.drop_confirm_response_rate.max(0.2);
    c.seed = Some(7);
}

async fn uploads_exactly_once(name: &str, adjust: impl FnOnce(&mut EmulatorConfig)) {
    let env = Env::new(adjust).await;
    let dir = env.home.path().join("batch");
    write_pngs(&dir, FILES);
    let output = run(env.command(&["upload", dir.to_str().unwrap(), "--json"])).await;
    let lines = json_lines(&output);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{name}: {lines:?}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let page = support::client(&env.emu)
        .list_assets(&ListQuery {
            limit: Some(100),
            ..ListQuery::default()
        })
        .await
        .unwrap();
    let names: Vec<String> = page.items.into_iter().filter_map(|a| a.name).collect();
    let unique: HashSet<&String> = names.iter().collect();
    assert_eq!(names.len(), FILES, "{name}: one asset per file: {names:?}");
    assert_eq!(unique.len(), FILES, "{name}: no duplicates: {names:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_variant_alone_makes_one_asset_per_file() {
    for (name, variant) in variants() {
        uploads_exactly_once(name, variant).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_variant_with_the_faults_makes_one_asset_per_file() {
    for (name, variant) in variants() {
        uploads_exactly_once(name, |c| {
            variant(c);
            faults(c);
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_variants_at_once_with_the_faults_make_one_asset_per_file() {
    uploads_exactly_once("everything", |c| {
        c.types_endpoint = TypesEndpoint::Missing;
        c.repeat_confirm = RepeatConfirm::NotFound;
        c.error_envelope = ErrorEnvelope::Nested;
        c.pagination = Pagination::NextPq;
        c.retry_after = RetryAfter::Off;
        c.rate_limit = Some(40);
        c.created_status = CreatedStatus::Ok;
        c.drop_confirm_response_rate = 0.5;
        faults(c);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_lists_only_an_alias_gets_the_alias_declared() {
    let env = Env::new(|c| c.mime_types = vec!["audio/x-wav".into(), "image/png".into()]).await;
    let dir = env.home.path().join("sounds");
    std::fs::create_dir_all(&dir).unwrap();
    let mut wav = b"RIFF\x24\0\0\0WAVEfmt \x10\0\0\0\x01\0\x01\0\x44\xac\0\0\x88\x58\x01\0\x02\0\x10\0data\0\0\0\0".to_vec();
    wav.extend_from_slice(&[0; 16]);
    std::fs::write(dir.join("beep.wav"), wav).unwrap();
    let output = run(env.command(&["upload", dir.to_str().unwrap(), "--json"])).await;
    let lines = json_lines(&output);
    assert_eq!(output.status.code(), Some(0), "{lines:?}");
    assert_eq!(lines[0]["status"], "uploaded", "{lines:?}");
    assert_eq!(env.emu.asset_count(), 1);
}
