//! Benchmark of one part, and of the command around it: searching an upload history of 100,000
//! rows.
//!
//! - The part: `History::search` on the SQLite database, as the History tab and `history` call
//!   it (no window, no process start). For each of the searches below, 30 runs: median, p95 and
//!   worst wall time. Exits 1 when a p95 is 50 ms or more.
//! - The command: the real binary's `history --search ... --json` against the same database,
//!   start to exit (process start, opening the database, the search, writing JSON), 10 runs.
//!
//! The rows are recorded one transaction each through `History::record`, as uploads record
//! them, and the time that took is printed too. Without `--bench` (`cargo test --all-targets`
//! runs it, unoptimised) it records 2,000 rows, runs each search once and checks no target.
//!
//!     cargo bench --bench history_search

#![expect(clippy::print_stdout, reason = "a benchmark prints its numbers")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use runflow_uploader::history::{History, Query, Source, Upload};
use time::macros::datetime;

const ROWS: usize = 100_000;
const RUNS: usize = 30;
const COMMAND_RUNS: usize = 10;
const TARGET_MS: f64 = 50.0;
const SCOPE: &str = "https://api.runflow.io#org";

/// Row `n` of `rows`: camera photos, screenshots and renders over two years.
fn row(n: usize, rows: usize) -> Upload {
    let start = datetime!(2025-01-01 00:00 UTC);
    let (name, source) = match n % 3 {
        0 => (format!("IMG_{n:06}.JPG"), Source::Drop),
        1 => (format!("Screenshot {n:06}.png"), Source::Paste),
        _ => (format!("render-{n:06}.mp4"), Source::Cli),
    };
    Upload {
        id: 0,
        uploaded_at: start + Duration::from_secs(n as u64 * (2 * 365 * 86_400 / rows as u64)),
        path: PathBuf::from(format!("/home/me/Pictures/2025/{name}")),
        name,
        size_bytes: 2_000_000 + n as u64,
        hash: Some(blake3::hash(&n.to_le_bytes()).to_hex().to_string()),
        asset_id: format!("5f0c6a3e-2d4b-4e8a-9c1f-{n:012}"),
        folder_id: n.is_multiple_of(5).then(|| "folder-1".to_owned()),
        server: "https://api.runflow.io".to_owned(),
        account: "org".to_owned(),
        source,
        batch: Some(format!("batch-{}", n / 50)),
        fixed: None,
        modified_ns: None,
    }
}

fn seed(dir: &Path, rows: usize) -> Duration {
    let mut history = History::open(dir).expect("the history database");
    let started = Instant::now();
    for n in 0..rows {
        history
            .record(SCOPE, &row(n, rows))
            .expect("a recorded row");
    }
    started.elapsed()
}

/// Median, p95 and worst of `times` in milliseconds.
fn stats(mut times: Vec<f64>) -> (f64, f64, f64) {
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.95), times[times.len() - 1])
}

fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let (rows, runs, command_runs) = if smoke {
        (2_000, 1, 1)
    } else {
        (ROWS, RUNS, COMMAND_RUNS)
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let seeding = seed(dir.path(), rows);
    println!(
        "recorded {rows} uploads in {:.1} s ({:.0} per second, one transaction each)",
        seeding.as_secs_f64(),
        rows as f64 / seeding.as_secs_f64()
    );
    let history = History::open(dir.path()).expect("the history database");
    let month = |y, m| time::Date::from_calendar_date(y, m, 1).expect("a date");
    let in_june = Query {
        since: Some(month(2025, time::Month::June).midnight().assume_utc()),
        until: Some(month(2025, time::Month::July).midnight().assume_utc()),
        ..Query::default()
    };
    let tab = |query: Query| Query {
        limit: Some(501),
        ..query
    };
    let name = |text: &str| Query {
        name: text.to_owned(),
        ..Query::default()
    };
    let searches: [(&str, Query); 6] = [
        ("the tab opened (newest 501)", tab(Query::default())),
        ("a name, few matches (\"1234\")", tab(name("1234"))),
        (
            "a name, a third matches (\"screenshot\")",
            tab(name("screenshot")),
        ),
        ("no match (\"holiday\")", tab(name("holiday"))),
        ("one month, newest 501", tab(in_june.clone())),
        (
            "one month, every row (as `history --since --until`)",
            in_june,
        ),
    ];
    println!();
    println!("| search (History::search, {rows} rows) | rows | median | p95 | worst |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    let mut missed = false;
    for (label, query) in &searches {
        let mut found = 0;
        let times: Vec<f64> = (0..runs)
            .map(|_| {
                let started = Instant::now();
                found = history.search(query).expect("a search").len();
                started.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        let (median, p95, worst) = stats(times);
        println!("| {label} | {found} | {median:.1} ms | {p95:.1} ms | {worst:.1} ms |");
        missed |= p95 >= TARGET_MS;
    }

    // The command around it: the real binary, start to exit.
    let bin = env!("CARGO_BIN_EXE_runflow-uploader");
    let times: Vec<f64> = (0..command_runs)
        .map(|_| {
            let started = Instant::now();
            let output = Command::new(bin)
                .args(["history", "--search", "1234", "--json"])
                .env("RUNFLOW_UPLOADER_DATA_DIR", dir.path())
                .env("RUNFLOW_UPLOADER_STATE_DIR", dir.path().join("state"))
                .env("RUNFLOW_UPLOADER_CONFIG_DIR", dir.path().join("config"))
                .output()
                .expect("runflow-uploader history");
            assert!(output.status.success(), "{output:?}");
            assert!(!output.stdout.is_empty(), "found rows");
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    let (median, p95, worst) = stats(times);
    println!(
        "| `runflow-uploader history --search 1234 --json` (the binary, start to exit) | - | \
         {median:.1} ms | {p95:.1} ms | {worst:.1} ms |"
    );
    if smoke {
        println!("(smoke run; `cargo bench --bench history_search` for the real one)");
        return;
    }
    println!("target: every search of {ROWS} rows in under {TARGET_MS} ms (p95)");
    if missed {
        println!("MISSED");
        std::process::exit(1);
    }
    println!("met");
}
