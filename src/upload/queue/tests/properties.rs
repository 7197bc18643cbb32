//! Properties over random faults and restarts, and earlier runs' walks.

use super::*;

#[derive(Debug, Clone)]
enum Step_ {
    Answer(usize, Fault),
    Timer(usize),
    Cancel(u64),
    CancelAll,
    Retry(u64),
    /// Whether answers in flight land, and whether the new queue holds the earlier files.
    Restart(bool, bool),
    ResumeEarlier,
    DiscardEarlier,
    Pause,
    Resume,
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        6 => Just(Fault::None),
        1 => Just(Fault::Refused),
        1 => Just(Fault::LostAnswer),
        1 => Just(Fault::Unavailable),
    ]
}

fn step() -> impl Strategy<Value = Step_> {
    prop_oneof![
        20 => (0..8_usize, fault()).prop_map(|(k, f)| Step_::Answer(k, f)),
        3 => (0..4_usize).prop_map(Step_::Timer),
        1 => (1..9_u64).prop_map(Step_::Cancel),
        1 => Just(Step_::CancelAll),
        1 => (1..9_u64).prop_map(Step_::Retry),
        1 => (any::<bool>(), any::<bool>()).prop_map(|(apply, hold)| Step_::Restart(apply, hold)),
        1 => Just(Step_::ResumeEarlier),
        1 => Just(Step_::DiscardEarlier),
        1 => Just(Step_::Pause),
        1 => Just(Step_::Resume),
    ]
}

fn repeat() -> impl Strategy<Value = Repeat> {
    prop_oneof![
        Just(Repeat::Conflict),
        Just(Repeat::NotFound),
        Just(Repeat::Same)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// Whatever happens: never two live confirmed sessions for one file (checked as effects go
    /// out), never a confirm after an acknowledged cancel (likewise), and once things settle,
    /// every file is finished, at most one asset per file, `Done` files have exactly one, and
    /// cancelled ones none.
    #[test]
    fn random_faults_cancels_and_restarts_keep_every_file_exactly_once(
        steps in proptest::collection::vec(step(), 0..120),
        repeat in repeat(),
    ) {
        let mut sim = Sim::new(repeat);
        sim.auto_convert = true;
        sim.command(Command::SetAutoConvert(true));
        // Two HEIC files go as converted copies; one has the content of a PNG.
        let files = [
            ("/a.png", "A"), ("/b.png", "B"), ("/c.png", "C"),
            ("/d.png", "D"), ("/e.png", "A"), ("/f.png", "F"),
            ("/g.heic", "G"), ("/h.heic", "F"),
        ];
        sim.add(&files, None);
        for step in steps {
            match step {
                Step_::Answer(k, f) => sim.answer(k, f),
                Step_::Timer(k) => sim.fire_timer(k),
                Step_::Cancel(id) => sim.command(Command::Cancel(FileId(id))),
                Step_::CancelAll => sim.command(Command::CancelAll),
                Step_::Retry(id) => sim.command(Command::Retry(FileId(id))),
                Step_::Restart(apply, hold) => sim.restart_with(apply, hold),
                Step_::ResumeEarlier => sim.command(Command::ResumeEarlier),
                Step_::DiscardEarlier => sim.command(Command::DiscardEarlier),
                Step_::Pause => sim.command(Command::Pause),
                Step_::Resume => sim.command(Command::Resume),
            }
        }
        sim.command(Command::ResumeEarlier);
        sim.command(Command::Resume);
        sim.settle();
        prop_assert_eq!(sim.queue.awaiting, 0, "no file is left waiting for an upload slot");
        for n in 0..files.len() as u64 {
            prop_assert!(sim.assets_of(n) <= 1, "file {n} has {} assets", sim.assets_of(n));
        }
        for (id, state) in &sim.states {
            prop_assert!(state.is_finished(), "{id} ended {:?}", state);
            let n = sim.files[&sim.paths[id]];
            match state {
                FileState::Done(_) => prop_assert_eq!(sim.assets_of(n), 1),
                FileState::Cancelled => prop_assert_eq!(sim.assets_of(n), 0, "cancelled {}", id),
                _ => {}
            }
        }
        // Whatever the journal still holds is a file that is not finished well.
        for entry in sim.journal.values() {
            let done = sim.states.get(&FileId(entry.id)).is_some_and(FileState::is_success);
            prop_assert!(!done, "a finished file left its journal entry: {entry:?}");
        }
        // A copy on disk belongs to a file the journal still holds: none outlives its need.
        let kept: HashSet<&PathBuf> = sim
            .journal
            .values()
            .filter_map(|e| e.copy.as_ref().map(|c| &c.path))
            .collect();
        for copy in &sim.copies {
            prop_assert!(kept.contains(copy), "the copy {} was left behind", copy.display());
        }
    }
}

fn walk(key: &str) -> Walk {
    Walk {
        key: key.into(),
        paths: vec![PathBuf::from("/photos")],
        folder_id: None,
        force: false,
        watched: false,
    }
}

fn walk_effects(queue: &mut Queue) -> Vec<Effect> {
    std::iter::from_fn(|| queue.poll_effect())
        .filter(|e| matches!(e, Effect::Walk(_) | Effect::ForgetWalk { .. }))
        .collect()
}

#[test]
fn an_earlier_runs_walk_goes_again_and_counts_as_a_scan_until_it_ends() {
    let mut queue = Queue::new(config(), 0);
    let earlier = |id: u64, path: &str| Entry {
        id,
        path: PathBuf::from(path),
        name: path.rsplit('/').next().unwrap().into(),
        size_bytes: 3,
        modified_ns: 1,
        mime_type: "image/png".into(),
        folder_id: None,
        force: false,
        hash: None,
        step: Step::Pending,
        owned_file: false,
        watched: false,
        may_convert: false,
        may_shrink: false,
        copy: None,
        cancelled: false,
    };
    queue.resume(
        vec![earlier(1, "/photos/a.png"), earlier(2, "/photos/b.png")],
        vec![walk("w1")],
    );
    assert!(!queue.is_idle(), "the walk is work in progress");
    assert!(matches!(&walk_effects(&mut queue)[..], [Effect::Walk(w)] if w.key == "w1"));
    // b.png finished (and left the line) before the walk came back to it.
    queue.active_paths.remove(&PathBuf::from("/photos/b.png"));
    // The earlier run's files, found again, are the ones resumed, not new or "given twice".
    queue.discovered(Scanned {
        found: vec![
            Found::File(local("/photos/a.png", "A")),
            Found::File(local("/photos/b.png", "B")),
            Found::File(local("/photos/c.png", "C")),
        ],
        folder_id: None,
        force: false,
        owned: false,
        watched: false,
        again: true,
    });
    let effects: Vec<Effect> = std::iter::from_fn(|| queue.poll_effect()).collect();
    assert!(
        !effects
            .iter()
            .any(|e| matches!(e, Effect::Emit(Event::Skipped { .. }))),
        "{effects:?}"
    );
    let added: Vec<&str> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Emit(Event::Added { name, .. }) => Some(name.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(added, ["photos/c.png"]);
    queue.scan_finished(true);
    assert!(
        queue.earlier_paths.is_empty(),
        "forgotten once the walk ended"
    );
}

#[test]
fn a_held_walk_waits_for_resume_or_is_forgotten_on_discard() {
    let held = QueueConfig {
        hold_earlier: true,
        ..config()
    };
    let mut queue = Queue::new(held.clone(), 0);
    queue.resume(Vec::new(), vec![walk("w1"), walk("w2")]);
    assert!(walk_effects(&mut queue).is_empty());
    assert!(queue.is_idle(), "a held walk waits on purpose");
    assert_eq!(queue.batch(|_| 0).held_walks, 2);
    queue.command(Command::ResumeEarlier);
    assert_eq!(walk_effects(&mut queue).len(), 2);
    assert!(!queue.is_idle());
    assert_eq!(queue.batch(|_| 0).held_walks, 0);

    let mut queue = Queue::new(held, 0);
    queue.resume(Vec::new(), vec![walk("w1")]);
    queue.command(Command::DiscardEarlier);
    assert!(matches!(&walk_effects(&mut queue)[..], [Effect::ForgetWalk { key }] if key == "w1"));
    assert!(queue.is_idle());
    assert_eq!(queue.batch(|_| 0).held_walks, 0);
}
