use super::*;

fn asset(id: &str) -> Asset {
    Asset {
        id: Some(id.into()),
        name: Some(format!("{id}.png")),
        asset_type: Some("image".into()),
        ..Asset::default()
    }
}

fn page(ids: &[&str], next: Option<&str>) -> AssetPage {
    AssetPage {
        items: ids.iter().map(|id| asset(id)).collect(),
        next: next.map(str::to_owned),
    }
}

fn loaded(ids: &[&str]) -> GalleryState {
    let mut state = GalleryState::default();
    state.open(ViewSpec::default());
    state.apply_page(state.generation, Ok(page(ids, None)));
    state
}

#[test]
fn pages_append_in_order_and_stale_pages_are_ignored() {
    let mut state = GalleryState::default();
    let commands = state.open(ViewSpec::default());
    assert!(matches!(
        commands[0],
        Command::LoadAssets { cursor: None, .. }
    ));
    let old = state.generation;
    state.apply_page(old, Ok(page(&["a", "b"], Some("c1"))));
    let Some(Command::LoadAssets { cursor, .. }) = state.load_more() else {
        panic!("the next page");
    };
    assert_eq!(cursor.as_deref(), Some("c1"));
    assert!(state.load_more().is_none(), "one page at a time");
    state.apply_page(old, Ok(page(&["b", "c"], None)));
    let ids: Vec<_> = state.items.iter().filter_map(|a| a.id.clone()).collect();
    assert_eq!(ids, ["a", "b", "c"]);
    assert_eq!(state.paging, Paging::Idle { next: None });

    state.open(ViewSpec {
        search: "x".into(),
        ..ViewSpec::default()
    });
    state.apply_page(old, Ok(page(&["late"], None)));
    assert!(state.items.is_empty(), "a page of the old view is dropped");
}

#[test]
fn a_failed_page_retries_the_same_cursor() {
    let mut state = loaded(&[]);
    state.paging = Paging::Idle {
        next: Some("c2".into()),
    };
    state.load_more();
    state.apply_page(state.generation, Err("offline".into()));
    assert_eq!(state.paging, Paging::Failed("offline".into()));
    let Some(Command::LoadAssets { cursor, .. }) = state.retry() else {
        panic!("a retry");
    };
    assert_eq!(cursor.as_deref(), Some("c2"));
}

#[test]
fn search_waits_for_a_pause_in_typing() {
    let mut state = loaded(&["a"]);
    state.edit_search("su".into(), 1.0);
    let (commands, again) = state.tick(1.1);
    assert!(commands.is_empty());
    assert!(again.is_some_and(|s| s > 0.0));
    state.edit_search("sun".into(), 1.2);
    let (commands, _) = state.tick(1.4);
    assert!(commands.is_empty(), "the pause restarts on each keystroke");
    let (commands, _) = state.tick(1.6);
    assert_eq!(state.view.search, "sun");
    assert!(matches!(&commands[0], Command::LoadAssets { view, .. } if view.search == "sun"));
    assert!(state.items.is_empty());
}

#[test]
fn clicks_select_like_a_file_manager() {
    let state = loaded(&["a", "b", "c", "d", "e"]);
    let items = &state.items;
    let mut selection = Selection::default();
    selection.click(items, "b", false, false);
    selection.click(items, "d", false, true);
    assert_eq!(selection.ordered(items), ["b", "c", "d"]);
    selection.click(items, "c", true, false);
    assert_eq!(selection.ordered(items), ["b", "d"]);
    selection.click(items, "a", false, false);
    assert_eq!(selection.ordered(items), ["a"]);
    selection.click(items, "e", true, true);
    assert_eq!(selection.len(), 5);
    selection.clear();
    assert!(selection.is_empty());
    selection.select_all(items);
    assert_eq!(selection.len(), 5);
}

#[test]
fn deletes_remove_cards_and_keep_failures_selected() {
    let mut state = loaded(&["a", "b", "c"]);
    state.selection.select_all(&state.items.clone());
    state.ask_delete(state.selection.ordered(&state.items));
    let Some(Command::DeleteAssets { ids }) = state.delete_confirmed() else {
        panic!("the delete command");
    };
    assert_eq!(ids, ["a", "b", "c"]);
    assert_eq!(state.apply_deleted("a", Ok(())), None);
    assert_eq!(state.apply_deleted("b", Err("server error".into())), None);
    let (level, text) = state.apply_deleted("c", Ok(())).unwrap();
    assert_eq!(level, Level::Error);
    assert!(text.starts_with("2 assets deleted, 1 failed"), "{text}");
    assert!(text.contains("b.png: server error"), "{text}");
    let ids: Vec<_> = state.items.iter().filter_map(|a| a.id.clone()).collect();
    assert_eq!(ids, ["b"]);
    assert_eq!(state.selection.ordered(&state.items), ["b"]);
    assert_eq!(
        state.errors.get("b").map(String::as_str),
        Some("server error")
    );
    assert!(state.busy.is_empty());
}

#[test]
fn a_key_without_the_scope_neither_deletes_nor_moves() {
    let mut state = loaded(&["a", "b"]);
    state.scopes = KeyScopes::from_names(["assets:read", "assets:create"]);
    assert_eq!(
        state.cannot_delete().as_deref(),
        Some("This key can't delete assets (needs assets:delete)")
    );
    assert!(state.cannot_move().unwrap().contains("needs assets:edit"));
    state.ask_delete(vec!["a".into()]);
    assert_eq!(state.confirm_delete, None);
    assert!(state.move_to(vec!["b".into()], None, "Root").is_none());
    assert!(state.errors["b"].contains("needs assets:edit"));
    assert!(state.busy.is_empty());

    state.scopes = KeyScopes::from_names(["assets:*"]);
    assert_eq!(state.cannot_delete(), None);
    state.ask_delete(vec!["a".into()]);
    assert_eq!(state.confirm_delete, Some(vec!["a".to_owned()]));
}

#[test]
fn moved_assets_leave_a_view_of_another_folder() {
    let mut state = loaded(&["a", "b"]);
    state
        .move_to(vec!["a".into()], Some("f".into()), "Trips")
        .unwrap();
    let moved = Asset {
        folder_id: Some("f".into()),
        ..asset("a")
    };
    let (level, text) = state.apply_moved("a", Ok(moved)).unwrap();
    assert_eq!(
        (level, text.as_str()),
        (Level::Success, "1 asset moved to Trips.")
    );
    assert_eq!(state.items.len(), 1);
}

#[test]
fn a_flood_of_uploads_keeps_the_newest_thousands_and_counts_the_rest() {
    let mut state = loaded(&["a"]);
    for i in 0..ARRIVALS_KEPT - 5 {
        state.insert_uploaded(asset(&format!("up{i}")), 1.0);
    }
    state.tick(1.0 + ARRIVAL_BATCH_SECS);
    for i in ARRIVALS_KEPT - 5..ARRIVALS_KEPT + 10 {
        state.insert_uploaded(asset(&format!("up{i}")), 2.0);
    }
    state.tick(2.0 + ARRIVAL_BATCH_SECS);
    assert_eq!(state.items.len(), 1 + ARRIVALS_KEPT);
    assert_eq!(state.missed_uploads, 10);
    let newest = format!("up{}", ARRIVALS_KEPT + 9);
    assert_eq!(
        state.items[0].id.as_deref(),
        Some(newest.as_str()),
        "the newest on top"
    );
    assert_eq!(state.items[ARRIVALS_KEPT - 1].id.as_deref(), Some("up10"));
    assert_eq!(
        state.items[ARRIVALS_KEPT].id.as_deref(),
        Some("a"),
        "the paged item stays"
    );
    // Loading the view again starts over.
    state.reload(false);
    assert_eq!(state.missed_uploads, 0);
    assert!(state.items.is_empty());
}

#[test]
fn uploads_join_the_top_of_a_matching_view_once() {
    let mut state = loaded(&["a"]);
    assert!(state.insert_uploaded(asset("new"), 10.0));
    assert!(!state.insert_uploaded(asset("new"), 10.0));
    let elsewhere = Asset {
        folder_id: Some("f".into()),
        ..asset("other")
    };
    assert!(!state.insert_uploaded(elsewhere, 10.0));
    assert!(state.insert_uploaded(asset("newer"), 10.1));
    // They join together, newest first, once the batch is due.
    let (_, again) = state.tick(10.1);
    assert!(again.is_some_and(|s| s > 0.0), "a flush is scheduled");
    assert_eq!(state.items.len(), 1);
    // The tick runs after the grid was drawn: the frame that takes them in asks for another,
    // or they would show only at the next input.
    let (_, again) = state.tick(10.0 + ARRIVAL_BATCH_SECS);
    assert_eq!(again, Some(0.0), "the grid changed after it was drawn");
    assert_eq!(state.items[0].id.as_deref(), Some("newer"));
    assert_eq!(state.items[1].id.as_deref(), Some("new"));
    state.apply_page(state.generation, Ok(page(&["new", "z"], None)));
    assert_eq!(state.items.len(), 4, "the page's copy is not added twice");
}
