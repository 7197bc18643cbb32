use super::*;

fn entry(id: u64, step: Step) -> Entry {
    Entry {
        id,
        path: PathBuf::from(format!("/tmp/{id}.png")),
        name: format!("{id}.png"),
        size_bytes: 10,
        modified_ns: 1_700_000_000_000_000_000,
        mime_type: "image/png".into(),
        folder_id: None,
        force: false,
        hash: None,
        step,
        owned_file: false,
        watched: false,
        may_convert: false,
        may_shrink: false,
        copy: None,
        cancelled: false,
    }
}

/// The walks recorded in `journal`.
fn walks(journal: &Journal) -> Vec<Walk> {
    let mut walks: Vec<Walk> = Contents::read(&journal.dir)
        .unwrap()
        .walks
        .into_values()
        .collect();
    walks.sort_by(|a, b| a.key.cmp(&b.key));
    walks
}

fn scope(org: &str) -> AccountScope {
    AccountScope {
        base_url: "http://127.0.0.1:1/".into(),
        org_id: org.into(),
        label: format!("{org}@example.com"),
    }
}

#[test]
fn entries_round_trip_and_are_replaced_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path()).unwrap();
    journal.write(&entry(2, Step::Pending), false).unwrap();
    journal.write(&entry(1, Step::Pending), true).unwrap();
    let uploaded = entry(
        2,
        Step::Uploaded {
            asset_id: "a2".into(),
        },
    );
    journal.write(&uploaded, true).unwrap();
    let loaded = journal.load().unwrap();
    assert_eq!(loaded.len(), 2);
    assert_eq!(loaded[0].id, 1);
    assert_eq!(loaded[1], uploaded);
    journal.remove(1).unwrap();
    journal.remove(1).unwrap();
    assert_eq!(journal.load().unwrap().len(), 1);
}

#[test]
fn a_live_journal_is_left_alone_and_a_dead_one_is_adopted_once() {
    let root = tempfile::tempdir().unwrap();
    let live = Journal::open_exclusive(root.path(), &scope("org-a")).unwrap();
    assert!(live.entries.is_empty());
    let live = live.journal;
    live.write(&entry(7, Step::Pending), false).unwrap();

    // A second process sees nothing to adopt while the first holds its lock.
    let second = Journal::open_exclusive(root.path(), &scope("org-a")).unwrap();
    assert!(second.entries.is_empty());
    drop(second);

    // Once the first is gone (its lock released), the next start adopts its entry once,
    // keeping the furthest record when a file appears twice.
    let dead_dir = live.dir.clone();
    drop(live);
    let dup = Journal::open(&dead_dir).unwrap();
    let mut uploaded = entry(
        9,
        Step::Uploaded {
            asset_id: "a".into(),
        },
    );
    uploaded.path = entry(7, Step::Pending).path;
    dup.write(&uploaded, false).unwrap();
    let third = Journal::open_exclusive(root.path(), &scope("org-a")).unwrap();
    assert_eq!(third.entries.len(), 1);
    assert_eq!(
        third.entries[0].step,
        Step::Uploaded {
            asset_id: "a".into()
        }
    );
    assert_eq!(third.entries[0].id, 1);
    assert!(!dead_dir.exists());
    assert_eq!(third.journal.load().unwrap().len(), 1);
}

#[test]
fn an_unfinished_walk_is_adopted_once_and_keeps_its_directory() {
    let root = tempfile::tempdir().unwrap();
    let first = Journal::open_exclusive(root.path(), &scope("org-a"))
        .unwrap()
        .journal;
    let walk = |key: &str| Walk {
        key: key.into(),
        paths: vec![PathBuf::from("/photos"), PathBuf::from("/more photos")],
        folder_id: Some("f1".into()),
        force: true,
        watched: false,
    };
    first.write_walk(&walk("w1")).unwrap();
    first.write_walk(&walk("w2")).unwrap();
    first.remove_walk("w2").unwrap();
    first.remove_walk("never-written").unwrap();
    // A walk alone keeps the directory on a clean shutdown: its files are still to queue.
    first.close_if_empty().unwrap();
    let dead_dir = first.dir.clone();
    assert!(dead_dir.exists());
    // A start that died between copying and deleting left a second copy.
    let copy_dir = root.path().join(scope("org-a").key()).join("deadbeef");
    let copy = Journal::open(&copy_dir).unwrap();
    copy.write_walk(&walk("w1")).unwrap();
    std::fs::write(copy_dir.join("torn.walk"), b"{\"key\": ").unwrap();
    drop(first);

    let next = Journal::open_exclusive(root.path(), &scope("org-a")).unwrap();
    assert_eq!(next.walks, vec![walk("w1")]);
    assert_eq!(walks(&next.journal), vec![walk("w1")]);
    assert!(!dead_dir.exists() && !copy_dir.exists());
    // Another account never sees it.
    let other = Journal::open_exclusive(root.path(), &scope("org-b")).unwrap();
    assert!(other.walks.is_empty());
}

#[test]
fn another_accounts_entries_wait_for_it_and_can_be_discarded() {
    let root = tempfile::tempdir().unwrap();
    let a = Journal::open_exclusive(root.path(), &scope("org-a")).unwrap();
    a.journal.write(&entry(1, Step::Pending), false).unwrap();
    a.journal.write(&entry(2, Step::Pending), false).unwrap();
    drop(a);

    // Another account on the same machine adopts nothing, and is told what waits.
    let b = Journal::open_exclusive(root.path(), &scope("org-b")).unwrap();
    assert!(b.entries.is_empty());
    assert_eq!(b.foreign.len(), 1);
    assert_eq!(b.foreign[0].files, 2);
    assert_eq!(b.foreign[0].account_label, "org-a@example.com");
    let key = b.foreign[0].account_key.clone();
    drop(b);

    // Back on the first account, both resume.
    let a = Journal::open_exclusive(root.path(), &scope("org-a")).unwrap();
    assert_eq!(a.entries.len(), 2);
    assert!(a.foreign.is_empty());
    drop(a);

    assert_eq!(Journal::discard_account(root.path(), &key).unwrap(), 2);
    let b = Journal::open_exclusive(root.path(), &scope("org-b")).unwrap();
    assert!(b.foreign.is_empty());
}

#[test]
fn concurrent_takeovers_adopt_each_entry_exactly_once() {
    let root = tempfile::tempdir().unwrap();
    // Four processes that all die at once, 25 entries each.
    let dead: Vec<Journal> = (0..4_u64)
        .map(|batch| {
            let opened = Journal::open_exclusive(root.path(), &scope("org-a")).unwrap();
            for i in 0..25 {
                let mut e = entry(i + 1, Step::Pending);
                e.path = PathBuf::from(format!("/tmp/{batch}-{i}.png"));
                opened.journal.write(&e, false).unwrap();
            }
            opened.journal
        })
        .collect();
    drop(dead);
    let root_path = root.path().to_path_buf();
    let opened: Vec<(Journal, Vec<Entry>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3)
            .map(|_| {
                let root = root_path.clone();
                s.spawn(move || {
                    let opened = Journal::open_exclusive(&root, &scope("org-a")).unwrap();
                    (opened.journal, opened.entries)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut paths: Vec<PathBuf> = opened
        .iter()
        .flat_map(|(_, entries)| entries.iter().map(|e| e.path.clone()))
        .collect();
    let total = paths.len();
    paths.sort();
    paths.dedup();
    assert_eq!(total, 100, "every entry adopted");
    assert_eq!(paths.len(), 100, "no entry adopted twice");
}

#[test]
fn a_claim_left_by_a_dead_claimant_is_claimed_again() {
    let root = tempfile::tempdir().unwrap();
    let account = root.path().join(scope("org-a").key());
    let stale = account.join(".claim-deadbeef-0");
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::File::create(stale.join(LOCK_FILE)).unwrap();
    Journal::open(&stale)
        .unwrap()
        .write(&entry(4, Step::Pending), true)
        .unwrap();
    let opened = Journal::open_exclusive(root.path(), &scope("org-a")).unwrap();
    assert_eq!(opened.entries.len(), 1);
    assert!(!stale.exists());
}

#[cfg(unix)]
#[test]
fn entries_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path()).unwrap();
    journal.write(&entry(1, Step::Pending), false).unwrap();
    let mode = std::fs::metadata(dir.path().join(LOG_FILE))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn unfinished_uploads_are_listed_and_discarded_one_by_one_or_all() {
    let root = tempfile::tempdir().unwrap();
    let a = Journal::open_exclusive(root.path(), &scope("org-a")).unwrap();
    a.journal.write(&entry(1, Step::Pending), false).unwrap();
    a.journal.write(&entry(2, Step::Pending), false).unwrap();
    let b = Journal::open_exclusive(root.path(), &scope("org-b")).unwrap();
    b.journal.write(&entry(1, Step::Pending), false).unwrap();

    let listed = list(root.path());
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert!(listed.iter().all(|u| u.base_url == "http://127.0.0.1:1/"));
    // Running processes own their entries: nothing is taken from them.
    assert_eq!(
        discard(root.path(), &listed[0].id).unwrap(),
        Discarded::InUse
    );
    assert_eq!(discard_all(root.path()).unwrap(), 0);
    drop(a);
    drop(b);

    let first = listed
        .iter()
        .find(|u| u.account_label == "org-a@example.com" && u.entry.id == 1)
        .unwrap();
    assert_eq!(discard(root.path(), &first.id).unwrap(), Discarded::Removed);
    assert_eq!(
        discard(root.path(), &first.id).unwrap(),
        Discarded::NotFound
    );
    assert_eq!(list(root.path()).len(), 2);
    assert_eq!(discard_all(root.path()).unwrap(), 2);
    assert!(list(root.path()).is_empty());
}

#[test]
fn torn_writes_and_garbage_are_survived() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path()).unwrap();
    journal.write(&entry(1, Step::Pending), false).unwrap();
    drop(journal);
    // A line that is not a record, then a record cut short by a crash.
    let log = dir.path().join(LOG_FILE);
    let mut bytes = std::fs::read(&log).unwrap();
    bytes.extend_from_slice(b"not json\n{\"put\":{\"id\":");
    std::fs::write(&log, bytes).unwrap();
    let journal = Journal::open(dir.path()).unwrap();
    assert_eq!(journal.load().unwrap().len(), 1);
    // The next record starts on a line of its own: the torn one is cut off.
    journal.write(&entry(2, Step::Pending), false).unwrap();
    let ids: Vec<u64> = journal.load().unwrap().iter().map(|e| e.id).collect();
    assert_eq!(ids, [1, 2]);
    assert!(std::fs::read(&log).unwrap().ends_with(b"}}\n"));
}

#[test]
fn a_directory_of_the_layout_before_the_log_is_read_and_moved_into_it() {
    let dir = tempfile::tempdir().unwrap();
    let uploaded = entry(
        3,
        Step::Uploaded {
            asset_id: "a3".into(),
        },
    );
    let walk = Walk {
        key: "w1".into(),
        paths: vec![PathBuf::from("/photos")],
        folder_id: None,
        force: false,
        watched: false,
    };
    let file = |name: &str| dir.path().join(name);
    std::fs::write(
        file("0000000000000003.json"),
        serde_json::to_vec(&uploaded).unwrap(),
    )
    .unwrap();
    std::fs::write(file("w1.walk"), serde_json::to_vec(&walk).unwrap()).unwrap();
    std::fs::write(file("0000000000000002.tmp"), b"{\"id\":").unwrap();
    std::fs::write(file("0000000000000004.json"), b"not json").unwrap();

    // Read as it is, without touching it (a process of the older version may run).
    let listed = Contents::read(dir.path()).unwrap();
    assert_eq!(listed.entries.len(), 1);
    assert!(file("0000000000000003.json").exists());

    let journal = Journal::open(dir.path()).unwrap();
    assert_eq!(journal.load().unwrap(), vec![uploaded]);
    assert_eq!(walks(&journal), vec![walk]);
    assert!(!file("0000000000000003.json").exists());
    assert!(!file("w1.walk").exists());
    assert!(!file("0000000000000002.tmp").exists());
    assert!(file("0000000000000004.corrupt").exists());
    journal.remove(3).unwrap();
    assert!(journal.load().unwrap().is_empty());
}

#[test]
fn the_log_is_compacted_to_its_live_records_and_keeps_their_order() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path()).unwrap();
    let log = dir.path().join(LOG_FILE);
    let walk = Walk {
        key: "w1".into(),
        paths: vec![PathBuf::from("/photos")],
        folder_id: None,
        force: false,
        watched: false,
    };
    journal.write_walk(&walk).unwrap();
    // Ten files stay in line while many pass through, every one written three times.
    for id in 1..=10 {
        journal.write(&entry(id, Step::Pending), false).unwrap();
    }
    let mut largest = 0;
    for id in 11..40_000 {
        journal.write(&entry(id, Step::Pending), false).unwrap();
        let session = Step::Session {
            asset_id: format!("a{id}"),
            upload_url: format!("https://storage.example/{id}?signature=0123456789abcdef"),
        };
        journal.write(&entry(id, session), false).unwrap();
        journal.remove(id).unwrap();
        largest = largest.max(std::fs::metadata(&log).unwrap().len());
    }
    let mut uploaded = entry(
        5,
        Step::Uploaded {
            asset_id: "a5".into(),
        },
    );
    uploaded.cancelled = true;
    journal.write(&uploaded, true).unwrap();

    assert!(
        largest <= COMPACT_MIN_BYTES + 4096,
        "the log stays bounded ({largest} bytes)"
    );
    let loaded = journal.load().unwrap();
    assert_eq!(
        loaded.iter().map(|e| e.id).collect::<Vec<_>>(),
        (1..=10).collect::<Vec<_>>()
    );
    assert_eq!(loaded[4], uploaded);
    assert_eq!(walks(&journal), vec![walk]);
    let leftovers: Vec<_> = std::fs::read_dir(log.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|name| name.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "no temporary file left: {leftovers:?}"
    );
    // Appends after a compaction land in the new log.
    journal.remove(1).unwrap();
    assert_eq!(journal.load().unwrap().len(), 9);
}
