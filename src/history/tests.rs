use std::io::Write as _;

use time::macros::datetime;

use super::*;

fn hash(name: &str) -> String {
    blake3::hash(name.as_bytes()).to_hex().to_string()
}

fn upload(name: &str, at: OffsetDateTime) -> Upload {
    Upload {
        id: 0,
        uploaded_at: at,
        path: PathBuf::from(format!("/photos/{name}")),
        name: name.to_owned(),
        size_bytes: 1234,
        hash: Some(hash(name)),
        asset_id: format!("asset-{name}"),
        folder_id: Some("f1".into()),
        server: "https://api.runflow.io".into(),
        account: "org".into(),
        source: Source::Drop,
        batch: None,
        fixed: None,
        modified_ns: None,
    }
}

const SCOPE: &str = "https://api.runflow.io#org";

#[test]
fn uploads_are_found_by_name_and_date_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut history = History::open(dir.path()).unwrap();
    let mut old = upload("old.png", datetime!(2026-10-01 10:00 UTC));
    old.batch = Some("b0".into());
    history.record(SCOPE, &old).unwrap();
    for (name, at) in [
        ("Beach.JPG", datetime!(2026-11-01 10:00 UTC)),
        ("beach-2.jpg", datetime!(2026-11-02 10:00 UTC)),
        ("city.png", datetime!(2026-11-03 10:00 UTC)),
        ("100%_done.png", datetime!(2026-11-04 10:00 UTC)),
    ] {
        history.record(SCOPE, &upload(name, at)).unwrap();
    }
    let names = |query: Query| -> Vec<String> {
        history
            .search(&query)
            .unwrap()
            .into_iter()
            .map(|u| u.name)
            .collect()
    };
    assert_eq!(
        names(Query::default()),
        [
            "100%_done.png",
            "city.png",
            "beach-2.jpg",
            "Beach.JPG",
            "old.png"
        ]
    );
    let beach = Query {
        name: "BEACH".into(),
        ..Query::default()
    };
    assert_eq!(names(beach.clone()), ["beach-2.jpg", "Beach.JPG"]);
    assert_eq!(
        names(Query {
            since: Some(datetime!(2026-11-02 00:00 UTC)),
            until: Some(datetime!(2026-11-04 00:00 UTC)),
            ..Query::default()
        }),
        ["city.png", "beach-2.jpg"]
    );
    assert_eq!(
        names(Query {
            limit: Some(1),
            ..beach
        }),
        ["beach-2.jpg"]
    );
    // % and _ are the file name's own characters, not wildcards.
    let literal = |name: &str| Query {
        name: name.into(),
        ..Query::default()
    };
    assert_eq!(names(literal("0%_")), ["100%_done.png"]);
    assert!(names(literal("c_ty")).is_empty());

    assert_eq!(
        names(Query {
            batch: Some("b0".into()),
            ..Query::default()
        }),
        ["old.png"]
    );

    let back = &history.search(&literal("city")).unwrap()[0];
    assert_eq!(
        (back.path.as_path(), back.size_bytes, back.source),
        (Path::new("/photos/city.png"), 1234, Source::Drop)
    );
    assert_eq!(back.uploaded_at, datetime!(2026-11-03 10:00 UTC));
    assert_eq!(history.count().unwrap(), 5);
}

#[test]
fn the_duplicate_index_is_per_account_and_finds_records_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut history = History::open(dir.path()).unwrap();
    let other = History::open(dir.path()).unwrap();
    history
        .record(SCOPE, &upload("a.png", OffsetDateTime::now_utc()))
        .unwrap();
    // Another process sees it at once.
    assert_eq!(
        other.lookup(SCOPE, &hash("a.png")).unwrap().as_deref(),
        Some("asset-a.png")
    );
    assert_eq!(
        other
            .lookup("https://api.runflow.io#other", &hash("a.png"))
            .unwrap(),
        None
    );
    assert_eq!(other.lookup(SCOPE, "not-a-hash").unwrap(), None);
    // A record of the server alone (from before accounts were recorded) is found too; the
    // account's own wins.
    let mut legacy = upload("a.png", OffsetDateTime::now_utc());
    legacy.asset_id = "legacy".into();
    history.record("https://api.runflow.io", &legacy).unwrap();
    assert_eq!(
        other
            .lookup("https://api.runflow.io#new", &hash("a.png"))
            .unwrap()
            .as_deref(),
        Some("legacy")
    );
    assert_eq!(
        other.lookup(SCOPE, &hash("a.png")).unwrap().as_deref(),
        Some("asset-a.png")
    );
    // A gone asset is forgotten (its history stays).
    other.forget(SCOPE, &hash("a.png")).unwrap();
    assert_eq!(history.lookup(SCOPE, &hash("a.png")).unwrap(), None);
    assert_eq!(history.count().unwrap(), 2);
}

#[test]
fn the_old_json_lines_index_is_migrated_once() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join(migrate::JSONL_INDEX);
    let mut file = std::fs::File::create(&old).unwrap();
    for line in [
        format!(
            r#"{{"base":"http://a#org","hash":"{}","size_bytes":10,"asset_id":"kept"}}"#,
            hash("1")
        ),
        format!(
            r#"{{"base":"http://a","hash":"{}","asset_id":"legacy"}}"#,
            hash("2")
        ),
        format!(
            r#"{{"base":"http://a#org","hash":"{}","asset_id":"gone"}}"#,
            hash("3")
        ),
        format!(
            r#"{{"base":"http://a#org","hash":"{}","asset_id":null}}"#,
            hash("3")
        ),
        r#"{"base":"http://a#org","hash":"not-hex","asset_id":"x"}"#.to_owned(),
    ] {
        writeln!(file, "{line}").unwrap();
    }
    // A torn last line, from a kill mid-append.
    write!(file, r#"{{"base":"http://a#org","ha"#).unwrap();
    drop(file);

    let history = History::open(dir.path()).unwrap();
    assert_eq!(
        history
            .lookup("http://a#org", &hash("1"))
            .unwrap()
            .as_deref(),
        Some("kept")
    );
    assert_eq!(
        history
            .lookup("http://a#org", &hash("2"))
            .unwrap()
            .as_deref(),
        Some("legacy")
    );
    assert_eq!(history.lookup("http://a#org", &hash("3")).unwrap(), None);
    assert!(!old.exists());
    assert!(dir.path().join("uploaded-index.jsonl.migrated").exists());
    drop(history);
    // Opened again: nothing to migrate, nothing lost.
    let history = History::open(dir.path()).unwrap();
    assert_eq!(
        history
            .lookup("http://a#org", &hash("1"))
            .unwrap()
            .as_deref(),
        Some("kept")
    );
}

#[test]
fn exports_are_csv_with_a_header_or_a_json_array() {
    let dir = tempfile::tempdir().unwrap();
    let mut history = History::open(dir.path()).unwrap();
    let mut pasted = upload("a, \"quoted\".png", datetime!(2026-11-01 10:00 UTC));
    pasted.folder_id = None;
    pasted.source = Source::Paste;
    history.record(SCOPE, &pasted).unwrap();
    let rows = history.search(&Query::default()).unwrap();

    let mut csv = Vec::new();
    export(&rows, Format::Csv, &mut csv).unwrap();
    let csv = String::from_utf8(csv).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(
            "uploaded_at,path,name,size_bytes,hash,asset_id,folder_id,server,account,source,batch,fixed"
        )
    );
    assert_eq!(
        lines.next().unwrap(),
        format!(
            "2026-11-01T10:00:00Z,\"/photos/a, \"\"quoted\"\".png\",\"a, \"\"quoted\"\".png\",\
             1234,{},\"asset-a, \"\"quoted\"\".png\",,https://api.runflow.io,org,paste,,",
            hash("a, \"quoted\".png")
        )
    );
    let mut empty = Vec::new();
    export(&[], Format::Csv, &mut empty).unwrap();
    assert!(
        String::from_utf8(empty)
            .unwrap()
            .starts_with("uploaded_at,path,")
    );

    let mut json = Vec::new();
    export(&rows, Format::Json, &mut json).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(json[0]["asset_id"], "asset-a, \"quoted\".png");
    assert_eq!(json[0]["path"], "/photos/a, \"quoted\".png");
    assert_eq!(json[0]["folder_id"], serde_json::Value::Null);
    assert_eq!(json[0]["source"], "paste");
    assert_eq!(json[0]["uploaded_at"], "2026-11-01T10:00:00Z");
}

#[test]
fn dates_are_whole_utc_days_or_rfc3339_times() {
    assert_eq!(
        parse_since("2026-12-01").unwrap(),
        datetime!(2026-12-01 00:00 UTC)
    );
    assert_eq!(
        parse_until(" 2026-12-01 ").unwrap(),
        datetime!(2026-12-02 00:00 UTC)
    );
    assert_eq!(
        parse_since("2026-12-01T14:30:00+01:00").unwrap(),
        datetime!(2026-12-01 13:30 UTC)
    );
    let err = parse_since("yesterday").unwrap_err();
    assert!(err.contains("2026-12-01"), "{err}");
}

#[test]
fn a_damaged_database_is_kept_aside_and_a_new_history_starts() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = b"this is not a database, it was overwritten by something else";
    std::fs::write(dir.path().join(HISTORY_FILE), garbage.repeat(100)).unwrap();
    let mut history = History::open(dir.path()).unwrap();
    history
        .record(SCOPE, &upload("a.png", OffsetDateTime::now_utc()))
        .unwrap();
    assert_eq!(history.count().unwrap(), 1);
    let aside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_name().to_string_lossy().contains(".damaged-"))
        .collect();
    assert_eq!(aside.len(), 1, "the damaged file is kept");
    assert_eq!(std::fs::read(aside[0].path()).unwrap(), garbage.repeat(100));
}

#[test]
fn a_file_is_known_as_uploaded_only_at_its_size_and_time_and_to_its_account() {
    let dir = tempfile::tempdir().unwrap();
    let mut history = History::open(dir.path()).unwrap();
    let mut row = upload("a.png", datetime!(2026-12-01 10:00 UTC));
    row.modified_ns = Some(5_000);
    history.record(SCOPE, &row).unwrap();
    let knows = |server: &str, account: &str, name: &str, size: u64, modified: u128| {
        history
            .knows_file(server, account, Path::new(name), size, modified)
            .unwrap()
    };
    let server = "https://api.runflow.io";
    assert!(knows(server, "org", "/photos/a.png", 1234, 5_000));
    assert!(
        !knows(server, "org", "/photos/a.png", 1234, 5_001),
        "touched"
    );
    assert!(!knows(server, "org", "/photos/a.png", 1235, 5_000), "grown");
    assert!(
        !knows(server, "other", "/photos/a.png", 1234, 5_000),
        "account"
    );
    assert!(!knows(
        "http://127.0.0.1:1",
        "org",
        "/photos/a.png",
        1234,
        5_000
    ));
    assert!(!knows(server, "org", "/photos/b.png", 1234, 5_000));
}

#[test]
fn a_watched_folder_counts_its_own_uploads_since_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut history = History::open(dir.path()).unwrap();
    let mut add = |path: &str, at: OffsetDateTime, source: Source| {
        let mut row = upload("x", at);
        row.path = PathBuf::from(path);
        row.name = Path::new(path)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into();
        row.source = source;
        history.record(SCOPE, &row).unwrap();
    };
    add("/w/old.png", datetime!(2026-11-30 23:59 UTC), Source::Watch);
    add("/w/a.png", datetime!(2026-12-01 09:00 UTC), Source::Watch);
    add(
        "/w/sub/b.png",
        datetime!(2026-12-01 10:00 UTC),
        Source::Watch,
    );
    add(
        "/w/dropped.png",
        datetime!(2026-12-01 11:00 UTC),
        Source::Drop,
    );
    add(
        "/wider/c.png",
        datetime!(2026-12-01 12:00 UTC),
        Source::Watch,
    );
    let since = datetime!(2026-12-01 00:00 UTC);
    let server = "https://api.runflow.io";
    assert_eq!(
        history
            .watched_since(server, "org", Path::new("/w"), since)
            .unwrap(),
        (2, Some("b.png".to_owned()))
    );
    assert_eq!(
        history
            .watched_since(server, "org", Path::new("/nothing"), since)
            .unwrap(),
        (0, None)
    );
}

#[test]
fn processes_opening_a_new_history_at_once_all_get_it() {
    // Each switches the new file to WAL; two at once can deadlock on that lock, and SQLite then
    // answers one of them "database is locked" at once, without waiting.
    for _ in 0..30 {
        let dir = tempfile::tempdir().unwrap();
        let opened: Vec<_> = (0..4)
            .map(|_| {
                let dir = dir.path().to_path_buf();
                std::thread::spawn(move || History::open(&dir).map(|_| ()))
            })
            .collect();
        for open in opened {
            open.join().unwrap().unwrap();
        }
    }
}
