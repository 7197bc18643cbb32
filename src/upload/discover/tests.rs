use super::*;

const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

/// What discovery makes of one path given on its own.
fn check_file(path: &Path) -> Found {
    let mut found = discover(&[path.to_path_buf()]);
    assert_eq!(found.len(), 1, "{found:?}");
    found.remove(0)
}

/// A tree of `n` PNG-tagged files, 50 to a folder, with a link and a hidden file in each.
fn tree(root: &Path, n: usize) {
    for i in 0..n {
        let dir = root.join(format!("d{}", i / 50));
        if i % 50 == 0 {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(".hidden"), "x").unwrap();
        }
        let mut bytes = PNG_MAGIC.to_vec();
        bytes.extend_from_slice(format!("{i}").as_bytes());
        std::fs::write(dir.join(format!("{i}.png")), bytes).unwrap();
        #[cfg(unix)]
        if i % 50 == 0 {
            std::os::unix::fs::symlink(dir.join(format!("{i}.png")), dir.join("link.png")).unwrap();
        }
    }
}

#[test]
fn discovery_work_grows_linearly_with_the_entries_and_comes_in_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let count = |n: usize| {
        let root = dir.path().join(format!("t{n}"));
        tree(&root, n);
        let mut chunks = 0;
        let mut files_seen = 0;
        let work = walk_counting(&[root], &DiscoverOptions::default(), |chunk| {
            chunks += 1;
            files_seen += files(&chunk).len();
            true
        });
        assert_eq!(files_seen, n, "each file once, links merged");
        (work, chunks)
    };
    let (small, _) = count(500);
    let (big, chunks) = count(2000);
    assert!(
        big <= small * 4 + small / 10,
        "4x the entries took {big} steps against {small}: not linear"
    );
    assert!(
        chunks >= 2000 / CHUNK_ENTRIES,
        "findings come in chunks: {chunks}"
    );
}

fn files(found: &[Found]) -> Vec<&LocalFile> {
    found
        .iter()
        .filter_map(|f| match f {
            Found::File(file) => Some(file),
            _ => None,
        })
        .collect()
}

fn names(found: &[Found]) -> Vec<String> {
    let mut names: Vec<String> = files(found).iter().map(|f| f.name.clone()).collect();
    names.sort();
    names
}

fn skipped_of(found: &[Found]) -> Vec<(String, String)> {
    found
        .iter()
        .filter_map(|f| match f {
            Found::Skipped { path, reason } => Some((display_name(path), reason.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn content_wins_over_extension_and_spellings_are_normalised() {
    assert_eq!(detect_mime("photo.mp4", PNG_MAGIC), "image/png");
    assert_eq!(detect_mime("song.mp3", b"ID3\x03\0\0\0"), "audio/mpeg");
    assert_eq!(detect_mime("a.wav", b"RIFF\x24\0\0\0WAVEfmt "), "audio/wav");
    assert_eq!(detect_mime("notes.txt", b"hello"), "text/plain");
    assert_eq!(detect_mime("blob", b"\x01\x02"), "application/octet-stream");
    // An iPhone photo's brands say HEIC (infer alone says image/heif for every HEIF).
    let heic = b"\0\0\0\x1cftypheic\0\0\0\0mif1heicmiaf";
    assert_eq!(detect_mime("IMG_0042.HEIC", heic), "image/heic");
    assert_eq!(detect_mime("x.jpg", b""), "image/jpeg");
}

#[test]
fn files_named_as_images_must_hold_one() {
    assert_eq!(
        not_an_image("random.png", b"\x00\x01random bytes"),
        Some("PNG".into())
    );
    assert_eq!(not_an_image("photo.JPG", b"<html>"), Some("JPEG".into()));
    assert_eq!(not_an_image("ok.png", PNG_MAGIC), None);
    // Another image format than the name says is still an image.
    assert_eq!(not_an_image("really-a-png.jpg", PNG_MAGIC), None);
    // Video, audio and unknown extensions keep the fallback to the extension.
    assert_eq!(not_an_image("clip.mp4", b"random"), None);
    assert_eq!(not_an_image("notes.txt", b"random"), None);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("random.png");
    std::fs::write(&path, b"definitely not pixels").unwrap();
    match check_file(&path) {
        Found::Rejected { reason, .. } => {
            assert_eq!(
                reason,
                UploadFailure::NotAnImage {
                    format: "PNG".into()
                }
            );
            assert!(reason.to_string().contains("not a PNG image"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn local_checks_give_specific_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.png");
    std::fs::write(&empty, b"").unwrap();
    let ok = dir.path().join("ok.png");
    std::fs::write(&ok, PNG_MAGIC).unwrap();
    let big = dir.path().join("big.mp4");
    File::create(&big)
        .unwrap()
        .set_len(MAX_UPLOAD_BYTES + 1)
        .unwrap();
    let exact = dir.path().join("exact.mp4");
    File::create(&exact)
        .unwrap()
        .set_len(MAX_UPLOAD_BYTES)
        .unwrap();

    assert!(matches!(
        check_file(&empty),
        Found::Rejected {
            reason: UploadFailure::Empty,
            ..
        }
    ));
    assert!(matches!(
        check_file(&big),
        Found::Rejected {
            reason: UploadFailure::TooLarge { .. },
            ..
        }
    ));
    assert!(matches!(check_file(&exact), Found::File(_)));
    let Found::File(file) = check_file(&ok) else {
        panic!("ok.png is fine");
    };
    assert_eq!(file.mime_type, "image/png");
    assert_eq!(file.size_bytes, PNG_MAGIC.len() as u64);
    assert!(matches!(
        check_file(&dir.path().join("nope.png")),
        Found::Rejected {
            reason: UploadFailure::Missing,
            ..
        }
    ));
}

#[cfg(unix)]
#[test]
fn non_utf8_names_are_rejected() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir
        .path()
        .join(std::ffi::OsStr::from_bytes(b"bad\xffname.png"));
    std::fs::write(&path, PNG_MAGIC).unwrap();
    assert!(matches!(
        check_file(&path),
        Found::Rejected {
            reason: UploadFailure::NonUtf8Name,
            ..
        }
    ));
}

#[cfg(unix)]
#[test]
fn folders_are_walked_with_junk_and_loops_reported() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("drop");
    std::fs::create_dir_all(root.join("nested/deeper")).unwrap();
    std::fs::create_dir_all(root.join(".git")).unwrap();
    std::fs::write(root.join(".git/config"), b"x").unwrap();
    std::fs::write(root.join("a.png"), PNG_MAGIC).unwrap();
    std::fs::write(root.join(".DS_Store"), b"junk").unwrap();
    std::fs::write(root.join("nested/b.png"), PNG_MAGIC).unwrap();
    std::fs::write(root.join("nested/deeper/c.png"), PNG_MAGIC).unwrap();
    std::os::unix::fs::symlink(&root, root.join("nested/loop")).unwrap();

    let found = discover(std::slice::from_ref(&root));
    let mut files: Vec<String> = found
        .iter()
        .filter_map(|f| match f {
            Found::File(file) => Some(file.name.clone()),
            _ => None,
        })
        .collect();
    files.sort();
    assert_eq!(files, vec!["a.png", "b.png", "c.png"]);
    let skipped: Vec<(String, String)> = found
        .iter()
        .filter_map(|f| match f {
            Found::Skipped { path, reason } => Some((display_name(path), reason.clone())),
            _ => None,
        })
        .collect();
    assert!(
        skipped
            .iter()
            .any(|(n, r)| n == ".DS_Store" && r.contains("system"))
    );
    assert!(
        skipped
            .iter()
            .any(|(n, r)| n == ".git" && r.contains("hidden"))
    );
    assert!(
        skipped
            .iter()
            .any(|(n, r)| n == "loop" && r.contains("loop"))
    );
}

#[test]
fn every_spelling_of_a_file_is_one_canonical_path() {
    let dir = tempfile::tempdir().unwrap();
    let base = std::fs::canonicalize(dir.path()).unwrap();
    std::fs::create_dir(base.join("x")).unwrap();
    std::fs::write(base.join("a.png"), PNG_MAGIC).unwrap();
    // A relative spelling from the working directory, which tests must not change.
    let cwd = std::env::current_dir().unwrap();
    let mut relative = PathBuf::new();
    for _ in cwd.components().skip(1) {
        relative.push("..");
    }
    relative.push(base.strip_prefix("/").unwrap_or(&base));
    relative.push("a.png");
    let spellings = vec![
        base.join("a.png"),
        base.join(".").join("a.png"),
        base.join("x/../a.png"),
        relative,
    ];

    let found = discover(&spellings);
    let files = files(&found);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(files[0].path, base.join("a.png"));
    assert!(files[0].path.is_absolute());
    assert_eq!(files[0].name, "a.png");
    for spelling in &spellings {
        let Found::File(file) = check_file(spelling) else {
            panic!("{} is fine", spelling.display());
        };
        assert_eq!(file.path, base.join("a.png"), "{}", spelling.display());
    }
}

#[cfg(unix)]
#[test]
fn a_path_through_a_linked_folder_is_resolved() {
    let dir = tempfile::tempdir().unwrap();
    let base = std::fs::canonicalize(dir.path()).unwrap();
    std::fs::create_dir(base.join("real")).unwrap();
    std::fs::write(base.join("real/a.png"), PNG_MAGIC).unwrap();
    std::os::unix::fs::symlink(base.join("real"), base.join("alias")).unwrap();

    let found = discover(&[base.join("alias/a.png"), base.join("real/a.png")]);
    assert_eq!(found.len(), 1, "{found:?}");
    let Found::File(file) = &found[0] else {
        panic!("a.png is fine: {found:?}");
    };
    assert_eq!(file.path, base.join("real/a.png"));
    // A folder given through a link is walked as the folder itself.
    let walked = discover(&[base.join("alias"), base.join("real")]);
    assert_eq!(names(&walked), vec!["a.png"]);
    assert_eq!(files(&walked)[0].path, base.join("real/a.png"));
}

#[test]
fn overlapping_and_repeated_arguments_are_merged_silently() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Pictures");
    std::fs::create_dir_all(root.join("2024")).unwrap();
    std::fs::write(root.join("a.png"), PNG_MAGIC).unwrap();
    std::fs::write(root.join("2024/b.png"), PNG_MAGIC).unwrap();
    let year = root.join("2024");
    let b = year.join("b.png");
    let orders = [
        vec![root.clone(), year.clone()],
        vec![year.clone(), root.clone()],
        vec![
            b.clone(),
            root.clone(),
            b.clone(),
            year.clone(),
            root.clone(),
        ],
    ];
    for paths in orders {
        let found = discover(&paths);
        assert_eq!(found.len(), 2, "{paths:?}: {found:?}");
        assert_eq!(names(&found), vec!["a.png", "b.png"], "{paths:?}");
    }
    // A missing path given twice is one rejection.
    let missing = dir.path().join("gone.png");
    let found = discover(&[missing.clone(), missing]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(matches!(
        found[0],
        Found::Rejected {
            reason: UploadFailure::Missing,
            ..
        }
    ));
}

#[cfg(unix)]
#[test]
fn hard_links_are_one_file() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("drop");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("a.png"), PNG_MAGIC).unwrap();
    std::fs::hard_link(root.join("a.png"), root.join("b.png")).unwrap();

    let given = discover(&[root.join("a.png"), root.join("b.png")]);
    assert_eq!(given.len(), 1, "{given:?}");
    let walked = discover(std::slice::from_ref(&root));
    assert_eq!(walked.len(), 1, "{walked:?}");
    let file = files(&walked)[0];
    assert_eq!(file.name, "a.png");
    let meta = std::fs::metadata(root.join("b.png")).unwrap();
    assert_eq!(file.file_key, Some((meta.dev(), meta.ino())));
}

#[cfg(unix)]
#[test]
fn links_to_the_root_or_an_ancestor_are_loops() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("drop");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(root.join("sub/a.png"), PNG_MAGIC).unwrap();
    std::os::unix::fs::symlink(&root, root.join("sub/to-root")).unwrap();
    std::os::unix::fs::symlink("..", root.join("sub/up")).unwrap();
    std::os::unix::fs::symlink(dir.path(), root.join("sub/above")).unwrap();

    for options in [
        DiscoverOptions::default(),
        DiscoverOptions {
            follow_outside_links: true,
        },
    ] {
        let found = discover_with(std::slice::from_ref(&root), &options);
        assert_eq!(names(&found), vec!["a.png"]);
        let skipped = skipped_of(&found);
        for link in ["to-root", "up", "above"] {
            assert!(
                skipped.iter().any(|(n, r)| n == link
                    && r.contains("link loop back to")
                    && r.contains("avoid walking forever")),
                "{link}: {skipped:?}"
            );
        }
        assert_eq!(skipped.len(), 3, "{skipped:?}");
    }
}

#[cfg(unix)]
#[test]
fn links_out_of_the_folder_are_skipped_unless_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("drop");
    let outside = dir.path().join("elsewhere");
    std::fs::create_dir(&root).unwrap();
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(root.join("mine.png"), PNG_MAGIC).unwrap();
    std::fs::write(outside.join("theirs.png"), PNG_MAGIC).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("out")).unwrap();
    std::os::unix::fs::symlink(outside.join("theirs.png"), root.join("link.png")).unwrap();
    // Outside folders that link to each other must still end.
    std::os::unix::fs::symlink(&root, outside.join("back")).unwrap();

    let found = discover(std::slice::from_ref(&root));
    assert_eq!(names(&found), vec!["mine.png"]);
    let skipped = skipped_of(&found);
    for link in ["out", "link.png"] {
        assert!(
            skipped
                .iter()
                .any(|(n, r)| n == link && r.contains("points outside the folder you chose")),
            "{link}: {skipped:?}"
        );
    }

    let followed = discover_with(
        std::slice::from_ref(&root),
        &DiscoverOptions {
            follow_outside_links: true,
        },
    );
    // Reached as `link.png` and as `out/theirs.png`: one file, under its own name.
    assert_eq!(names(&followed), vec!["mine.png", "theirs.png"]);
    let theirs = files(&followed)
        .into_iter()
        .find(|f| f.name == "theirs.png")
        .unwrap();
    assert_eq!(
        theirs.path,
        std::fs::canonicalize(outside.join("theirs.png")).unwrap()
    );
    let loops = skipped_of(&followed);
    assert!(
        loops.iter().any(|(n, r)| n == "back" && r.contains("loop")),
        "{loops:?}"
    );
}

#[cfg(unix)]
#[test]
fn links_inside_the_folder_are_followed_and_merged() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("drop");
    std::fs::create_dir_all(root.join("sub/deeper")).unwrap();
    std::fs::write(root.join("real.png"), PNG_MAGIC).unwrap();
    std::fs::write(root.join("sub/deeper/c.png"), PNG_MAGIC).unwrap();
    // `alias.png` sorts before `real.png`, so it is reached first.
    std::os::unix::fs::symlink("real.png", root.join("alias.png")).unwrap();
    std::os::unix::fs::symlink("sub/deeper", root.join("a-shortcut")).unwrap();
    std::os::unix::fs::symlink("deeper/c.png", root.join("sub/only-link.png")).unwrap();
    std::os::unix::fs::symlink("nowhere.png", root.join("broken.png")).unwrap();

    let found = discover(std::slice::from_ref(&root));
    assert_eq!(names(&found), vec!["c.png", "real.png"], "{found:?}");
    let real = std::fs::canonicalize(&root).unwrap();
    let paths: HashSet<PathBuf> = files(&found).iter().map(|f| f.path.clone()).collect();
    assert_eq!(
        paths,
        HashSet::from([real.join("real.png"), real.join("sub/deeper/c.png")])
    );
    let skipped = skipped_of(&found);
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert_eq!(skipped[0].0, "broken.png");
    assert!(skipped[0].1.contains("broken symbolic link"), "{skipped:?}");

    // A file reached only through a link keeps the link's name.
    let only = discover(&[root.join("sub/only-link.png")]);
    assert_eq!(names(&only), vec!["only-link.png"]);
}
