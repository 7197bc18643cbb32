use super::*;

fn tally(counts: Counts, reasons: &[&'static str]) -> Tally {
    Tally {
        counts,
        failure_reasons: reasons.to_vec(),
    }
}

#[test]
fn exit_codes_follow_what_happened() {
    let ok = Counts {
        uploaded: 2,
        already_uploaded: 1,
        ..Counts::default()
    };
    assert_eq!(tally(ok.clone(), &[]).exit(), Exit::Success);
    let some_failed = Counts { failed: 1, ..ok };
    assert_eq!(tally(some_failed, &["too_large"]).exit(), Exit::Failed);
    let refused = Counts {
        failed: 2,
        ..Counts::default()
    };
    assert_eq!(
        tally(refused.clone(), &["auth", "permission"]).exit(),
        Exit::Auth
    );
    assert_eq!(
        tally(refused.clone(), &["network", "server"]).exit(),
        Exit::Unreachable
    );
    assert_eq!(
        tally(refused, &["network", "too_large"]).exit(),
        Exit::Failed
    );
}

#[test]
fn summaries_add_up_and_name_every_status_that_occurred() {
    let counts = Counts {
        uploaded: 1,
        resumed: 2,
        cancelled: 3,
        ..Counts::default()
    };
    assert_eq!(counts.total(), 6);
    assert_eq!(
        summary_line(&counts),
        "1 uploaded, 0 already uploaded, 0 failed, 2 resumed from an earlier run, 3 cancelled"
    );
    let json = serde_json::to_value(&counts).unwrap();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut names: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
    names.sort_unstable();
    let mut keys = keys;
    keys.sort_unstable();
    assert_eq!(keys, names, "the summary counts by the status names");
}

#[test]
fn retry_lines_keep_what_happened_and_drop_the_advice() {
    assert_eq!(
        first_sentence(
            "Runflow is having trouble (HTTP 503: busy). Try again in a minute; if it \
             persists, check Runflow's status."
        ),
        "Runflow is having trouble (HTTP 503: busy)"
    );
    assert_eq!(first_sentence("Timed out."), "Timed out");
}
