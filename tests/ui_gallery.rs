//! The asset library in the whole window (`build_eframe` with its real backend) against the
//! emulator: paging as the grid scrolls, search and type filter, folder navigation, moving,
//! multi-select with mouse and keyboard, delete with confirmation, a failed thumbnail, and the
//! details panel's buttons.

use egui::{Key, Modifiers, OutputCommand};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use runflow_uploader::api::models::{Asset, Folder};
use runflow_uploader::ui::RunflowApp;
use runflow_uploader::ui::gallery::{Paging, ThumbState};

#[path = "support/app.rs"]
mod app_support;
#[path = "support/seed.rs"]
mod seed;
#[path = "support/mod.rs"]
#[expect(
    dead_code,
    reason = "this crate uses the client, not the emulator starter"
)]
mod support;

use app_support::{Setup, png, step_until};
use seed::upload_bytes;

/// Uploads `bytes` as `name` straight through the API.
fn seed(setup: &Setup, name: &str, mime_type: &str, bytes: Vec<u8>, folder: Option<&str>) -> Asset {
    let client = support::client(&setup.emulator);
    setup
        .runtime
        .block_on(upload_bytes(&client, name, mime_type, bytes, folder))
}

fn seed_png(setup: &Setup, name: &str, seed_byte: u8, folder: Option<&str>) -> Asset {
    let path = png(setup.dir.path(), name, seed_byte);
    seed(
        setup,
        name,
        "image/png",
        std::fs::read(path).unwrap(),
        folder,
    )
}

fn folder(setup: &Setup, name: &str) -> Folder {
    let client = support::client(&setup.emulator);
    setup
        .runtime
        .block_on(client.create_folder(name, None))
        .unwrap()
}

/// The connected window with every page of the root loaded (`page_size` per page).
fn open(setup: &Setup, page_size: u32) -> Harness<'_, RunflowApp> {
    let mut harness = setup.app(setup.options(true, false));
    harness.state_mut().state_mut().gallery.page_size = page_size;
    step_until(&mut harness, "the first page", |app| {
        !app.state().gallery.items.is_empty()
    });
    harness
}

fn names(app: &RunflowApp) -> Vec<String> {
    app.state()
        .gallery
        .items
        .iter()
        .filter_map(|a| a.name.clone())
        .collect()
}

fn id_of(app: &RunflowApp, name: &str) -> String {
    app.state()
        .gallery
        .items
        .iter()
        .find(|a| a.name.as_deref() == Some(name))
        .and_then(|a| a.id.clone())
        .unwrap()
}

/// Steps until the window put `wanted` into its output (clipboard, browser).
fn step_until_output(
    harness: &mut Harness<'_, RunflowApp>,
    what: &str,
    wanted: impl Fn(&OutputCommand) -> bool,
) -> OutputCommand {
    for _ in 0..500 {
        harness.step();
        if let Some(found) = harness
            .output()
            .platform_output
            .commands
            .iter()
            .find(|c| wanted(c))
        {
            return found.clone();
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn pages_load_as_the_grid_scrolls_and_search_and_type_narrow_it() {
    let setup = Setup::new();
    for i in 0..11 {
        seed_png(&setup, &format!("photo-{i:02}.png"), i, None);
    }
    seed_png(&setup, "blue-sky.png", 50, None);
    seed_png(&setup, "Blueprint.png", 51, None);
    seed(
        &setup,
        "bluesy.wav",
        "audio/wav",
        b"RIFF....WAVEfmt ".to_vec(),
        None,
    );
    let mut harness = open(&setup, 5);
    // The first page alone: 5 of 14, and the footer asks for more as it comes into view.
    assert!(harness.state().state().gallery.items.len() >= 5);

    // Scroll to the bottom until every page is in.
    let grid = harness.get_by_label("photo-10.png").rect().center();
    for _ in 0..300 {
        if harness.state().state().gallery.paging == (Paging::Idle { next: None }) {
            break;
        }
        harness.event(egui::Event::PointerMoved(grid));
        harness.event(egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Point,
            delta: egui::vec2(0.0, -400.0),
            modifiers: Modifiers::NONE,
            phase: egui::TouchPhase::Move,
            source: egui::MouseWheelSource::Wheel,
        });
        harness.step();
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    step_until(&mut harness, "every page", |app| {
        app.state().gallery.items.len() == 14
            && app.state().gallery.paging == Paging::Idle { next: None }
    });
    let mut all = names(harness.state());
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 14, "three pages, no repeats: {all:?}");
    harness.get_by_label_contains("14 assets - all loaded");

    // Search: names starting with "blue", whatever the case of the first letter.
    harness
        .get_by_role(egui::accesskit::Role::TextInput)
        .focus();
    harness.step();
    harness
        .get_by_role(egui::accesskit::Role::TextInput)
        .type_text("blue");
    step_until(&mut harness, "the search results", |app| {
        app.state().gallery.view.search == "blue"
            && app.state().gallery.paging == Paging::Idle { next: None }
    });
    let mut found = names(harness.state());
    found.sort();
    assert_eq!(found, ["Blueprint.png", "blue-sky.png", "bluesy.wav"]);

    // Type filter: audio only.
    harness.get_by_value("All types").click();
    harness.run_steps(2);
    harness.get_by_label("Audio").click();
    step_until(&mut harness, "the audio filter", |app| {
        app.state().gallery.view.kind == runflow_uploader::library::KindFilter::Audio
            && app.state().gallery.paging == Paging::Idle { next: None }
    });
    assert_eq!(names(harness.state()), ["bluesy.wav"]);
    // The audio card shows a type icon, never a blank or failed tile.
    let audio = id_of(harness.state(), "bluesy.wav");
    step_until(&mut harness, "the audio icon", |app| {
        matches!(
            app.thumbs().state_of(&audio, app.state().thumb_px),
            Some(ThumbState::Icon(_))
        )
    });
}

#[test]
fn folders_are_browsed_and_assets_moved_into_them_and_a_full_folder_is_not_deleted() {
    let setup = Setup::new();
    let trips = folder(&setup, "Trips");
    let trips_id = trips.id.clone().unwrap();
    seed_png(&setup, "inside.png", 1, Some(&trips_id));
    seed_png(&setup, "loose.png", 2, None);
    let mut harness = open(&setup, 50);
    step_until(
        &mut harness,
        "the folder tree",
        |app| matches!(&app.state().folders, runflow_uploader::ui::Loadable::Ready(f) if !f.is_empty()),
    );
    assert_eq!(names(harness.state()), ["loose.png"]);

    // Into the folder from the tree; the breadcrumbs lead back.
    harness.get_by_label("Trips").click();
    step_until(&mut harness, "the folder's assets", |app| {
        names(app) == ["inside.png"]
    });
    assert_eq!(
        harness.state().state().destination().as_deref(),
        Some(trips_id.as_str()),
        "uploads follow the folder shown"
    );
    harness.get_all_by_label("Root").next().unwrap().click();
    step_until(&mut harness, "the root again", |app| {
        names(app) == ["loose.png"]
    });

    // Move a card with the selection's "Move to..." menu.
    harness.get_by_label("loose.png").click();
    harness.run_steps(2);
    harness.get_by_label("Move to...").click();
    harness.run_steps(2);
    harness.get_all_by_label("Trips").last().unwrap().click();
    step_until(&mut harness, "the card to leave", |app| {
        app.state().gallery.items.is_empty() && app.state().gallery.busy.is_empty()
    });
    harness.get_by_label_contains("1 asset moved to Trips");
    let moved = setup.runtime.block_on(async {
        let client = support::client(&setup.emulator);
        let query = runflow_uploader::library::ViewSpec {
            folder_id: Some(trips_id.clone()),
            ..Default::default()
        }
        .query(50);
        client.list_assets(&query).await.unwrap().items
    });
    assert_eq!(moved.len(), 2);

    // Deleting the (full) folder is refused with the reason.
    harness.get_by_label("Trips").click_secondary();
    harness.run_steps(2);
    harness.get_by_label("Delete...").click();
    harness.run_steps(2);
    harness.get_by_label("Delete folder").click();
    step_until(&mut harness, "the refusal", |app| {
        app.state()
            .toasts
            .items()
            .iter()
            .any(|t| t.text.contains("only deletes empty folders"))
    });
    assert_eq!(setup.emulator.folder_count(), 1);
}

#[test]
fn cards_are_selected_with_mouse_and_keyboard_and_deleted_after_confirmation() {
    let setup = Setup::new();
    for i in 0..5 {
        seed_png(&setup, &format!("card-{i}.png"), i, None);
    }
    let mut harness = open(&setup, 50);
    step_until(&mut harness, "all cards", |app| {
        app.state().gallery.items.len() == 5
    });
    let order = names(harness.state());
    let selected = |harness: &Harness<'_, RunflowApp>| {
        let app = harness.state();
        let gallery = &app.state().gallery;
        let ids = gallery.selection.ordered(&gallery.items);
        gallery
            .items
            .iter()
            .filter(|a| ids.contains(a.id.as_ref().unwrap()))
            .map(|a| a.name.clone().unwrap())
            .collect::<Vec<_>>()
    };

    harness.get_by_label(&order[0]).click();
    harness.step();
    harness
        .get_by_label(&order[2])
        .click_modifiers(Modifiers::COMMAND);
    harness.step();
    assert_eq!(selected(&harness), [order[0].clone(), order[2].clone()]);
    harness
        .get_by_label(&order[4])
        .click_modifiers(Modifiers::SHIFT);
    harness.step();
    assert_eq!(selected(&harness), order[2..=4].to_vec());
    harness.key_press_modifiers(Modifiers::COMMAND, Key::A);
    harness.step();
    assert_eq!(selected(&harness).len(), 5);
    harness.key_press(Key::Escape);
    harness.step();
    assert!(selected(&harness).is_empty());

    // Select two, press Delete, confirm: both cards leave, the rest stay.
    harness.get_by_label(&order[1]).click();
    harness.step();
    harness
        .get_by_label(&order[3])
        .click_modifiers(Modifiers::COMMAND);
    harness.step();
    harness.key_press(Key::Delete);
    harness.step();
    harness.get_by_label("Delete 2 assets?");
    harness.get_by_label_contains("cannot be undone");
    harness.get_by_label("Delete 2 assets").click();
    step_until(&mut harness, "the cards to leave", |app| {
        app.state().gallery.items.len() == 3 && app.state().gallery.busy.is_empty()
    });
    harness.get_by_label_contains("2 assets deleted");
    assert_eq!(setup.emulator.asset_count(), 3);
    assert!(harness.query_by_label(&order[1]).is_none());
    assert!(harness.query_by_label(&order[3]).is_none());
}

#[test]
fn a_broken_image_shows_a_failed_tile_and_the_details_buttons_copy_and_open() {
    let setup = Setup::new();
    let broken = seed(
        &setup,
        "broken.png",
        "image/png",
        b"this is not a png".to_vec(),
        None,
    );
    let good = seed_png(&setup, "good.png", 7, None);
    let mut harness = open(&setup, 50);
    let broken_id = broken.id.unwrap();
    step_until(&mut harness, "the failed tile", |app| {
        matches!(
            app.thumbs().state_of(&broken_id, app.state().thumb_px),
            Some(ThumbState::Failed(_))
        )
    });
    // Its tooltip says why (tooltips wait for the pointer to rest).
    harness.get_by_label("broken.png").hover();
    harness.run_steps(60);
    harness.get_by_label_contains("Preview failed: not an image");

    // Details of the good asset.
    harness.get_by_label("good.png").click();
    harness.step();
    harness
        .get_by_role_and_label(egui::accesskit::Role::Button, "Details")
        .click();
    harness.step();
    let good_id = good.id.unwrap();
    harness.get_by_label(&good_id);
    harness.get_by_label("Copy id").click();
    let copied = step_until_output(&mut harness, "the copied id", |c| {
        matches!(c, OutputCommand::CopyText(_))
    });
    assert_eq!(copied, OutputCommand::CopyText(good_id.clone()));
    harness.get_by_label("Copy URL").click();
    step_until_output(
        &mut harness,
        "the copied URL",
        |c| matches!(c, OutputCommand::CopyText(t) if t.starts_with("http://127.0.0.1")),
    );
    harness.get_by_label("Copy curl for a run").click();
    step_until_output(
        &mut harness,
        "the curl command",
        |c| matches!(c, OutputCommand::CopyText(t) if t.contains("curl -X POST") && t.contains("/v1/models/") && t.contains("$RUNFLOW_API_KEY")),
    );
    harness.get_by_label("Open in browser").click();
    step_until_output(
        &mut harness,
        "the browser",
        |c| matches!(c, OutputCommand::OpenUrl(open) if open.url.starts_with("http://127.0.0.1")),
    );
}

#[test]
fn folders_are_created_and_renamed_from_the_tree() {
    let setup = Setup::new();
    folder(&setup, "Drafts");
    seed_png(&setup, "one.png", 1, None);
    let mut harness = open(&setup, 50);
    step_until(
        &mut harness,
        "the folder tree",
        |app| matches!(&app.state().folders, runflow_uploader::ui::Loadable::Ready(f) if f.len() == 1),
    );

    // New... creates a folder inside the one shown (Root), and the gallery opens it.
    harness.get_by_label("New...").click();
    harness.run_steps(2);
    harness.get_by_label("Name").focus();
    harness.step();
    harness.get_by_label("Name").type_text("Spring 2026");
    harness.step();
    harness.get_by_label("Create").click();
    step_until(&mut harness, "the new folder, open", |app| {
        let state = app.state();
        let created = match &state.folders {
            runflow_uploader::ui::Loadable::Ready(f) => f
                .iter()
                .find(|f| f.name.as_deref() == Some("Spring 2026"))
                .and_then(|f| f.id.clone()),
            _ => None,
        };
        created.is_some() && state.gallery.view.folder_id == created
    });
    assert_eq!(setup.emulator.folder_count(), 2);
    harness.get_by_label_contains("This folder is empty");

    // Rename from the folder's menu; the tree and the breadcrumbs follow.
    harness.get_by_label("Drafts").click_secondary();
    harness.run_steps(2);
    harness.get_by_label("Rename...").click();
    harness.run_steps(2);
    harness.get_by_label("Name").focus();
    harness.step();
    harness.key_press_modifiers(Modifiers::COMMAND, Key::A);
    harness.get_by_label("Name").type_text("Final");
    harness.step();
    harness.get_by_label("Rename").click();
    step_until(&mut harness, "the renamed folder", |app| {
        matches!(&app.state().folders, runflow_uploader::ui::Loadable::Ready(f)
            if f.iter().any(|f| f.name.as_deref() == Some("Final")))
    });
    harness.get_by_label_contains("Folder renamed to \"Final\"");
    assert!(harness.query_by_label("Drafts").is_none());
}
