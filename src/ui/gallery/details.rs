//! The details panel of the selected asset: a larger preview, every field of the record, and
//! buttons to copy its id, copy or open a freshly signed URL, copy a curl command that starts a
//! model run with it, and delete it.

use egui::{RichText, Ui, vec2};

use crate::api::models::{Asset, Folder};
use crate::desktop::Command;
use crate::desktop::protocol::AssetPurpose;
use crate::upload::{human_bytes, sanitize};

use super::super::loadable::Loadable;
use super::card::paint_thumb;
use super::folders::folder_chain;
use super::layout::thumb_px;
use super::state::GalleryState;
use super::thumbs::ThumbCache;

/// The model the curl snippet starts a run of (the guide's example).
const EXAMPLE_MODEL: &str = "runflow/background-replace";

/// The panel. Returns a message for a toast when something was copied.
pub fn details_ui(
    ui: &mut Ui,
    gallery: &mut GalleryState,
    thumbs: &mut ThumbCache,
    folders: &Loadable<Vec<Folder>>,
    out: &mut Vec<Command>,
) -> Option<String> {
    let Some(id) = gallery.details.clone() else {
        ui.add_space(20.0);
        ui.vertical_centered(|ui| {
            ui.weak("Select an asset to see its details.");
        });
        return None;
    };
    let Some(asset) = gallery.asset(&id).cloned() else {
        ui.weak("This asset is no longer in the folder shown.");
        return None;
    };
    if gallery.origins_asked.insert(id.clone()) {
        out.push(Command::LoadOrigin {
            asset_id: id.clone(),
        });
    }
    let origin = gallery.origins.get(&id).cloned().flatten();
    let mut notice = None;
    egui::ScrollArea::vertical()
        .id_salt("asset-details")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            let width = ui.available_width().min(360.0);
            let size = vec2(width, width * 0.75);
            let (rect, _) = ui.allocate_exact_size(size, egui::Sense::hover());
            let thumb = thumbs.show(&asset, thumb_px(ui.ctx(), size));
            paint_thumb(ui, rect, &thumb, asset.mime_type.as_deref());
            ui.add_space(6.0);
            ui.add(
                egui::Label::new(
                    RichText::new(asset.name.as_deref().unwrap_or("(unnamed)"))
                        .strong()
                        .size(16.0),
                )
                .wrap(),
            );
            ui.add_space(4.0);
            ui.horizontal_wrapped(|ui| {
                if ui.button("Copy id").clicked() {
                    ui.ctx().copy_text(id.clone());
                    notice = Some("Copied the asset id.".to_owned());
                }
                let mut fetch = |purpose| {
                    out.push(Command::FetchAsset {
                        id: id.clone(),
                        purpose,
                    });
                };
                if ui
                    .button("Copy URL")
                    .on_hover_text("A freshly signed download link (valid for a short time)")
                    .clicked()
                {
                    fetch(AssetPurpose::CopyUrl);
                }
                if ui.button("Open in browser").clicked() {
                    fetch(AssetPurpose::OpenInBrowser);
                }
                if ui
                    .button("Copy curl for a run")
                    .on_hover_text("A curl command that starts a model run with this asset")
                    .clicked()
                {
                    fetch(AssetPurpose::CopyCurl);
                }
                let cannot_delete = gallery.cannot_delete();
                if ui
                    .add_enabled(cannot_delete.is_none(), egui::Button::new("Delete..."))
                    .on_disabled_hover_text(cannot_delete.unwrap_or_default())
                    .clicked()
                {
                    gallery.ask_delete(vec![id.clone()]);
                }
            });
            if let Some(upload) = &origin {
                origin_ui(ui, upload);
            }
            ui.separator();
            fields_ui(ui, &asset, folders);
        });
    notice
}

/// Where the asset came from on this computer, and the copy that went instead of the file.
fn origin_ui(ui: &mut Ui, upload: &crate::history::Upload) {
    ui.add(
        egui::Label::new(
            RichText::new(format!(
                "Uploaded from {}",
                sanitize(&upload.path.display().to_string())
            ))
            .small(),
        )
        .wrap(),
    );
    if let Some(from) = upload.fixed_from() {
        ui.add(
            egui::Label::new(
                RichText::new(sanitize(&format!(
                    "{from}; the original file is unchanged."
                )))
                .small(),
            )
            .wrap(),
        );
    }
}

fn fields_ui(ui: &mut Ui, asset: &Asset, folders: &Loadable<Vec<Folder>>) {
    let folder = match (&asset.folder_id, folders) {
        (None, _) => "Root".to_owned(),
        (Some(id), Loadable::Ready(list)) => {
            let path: Vec<String> = folder_chain(list, id).into_iter().map(|(_, n)| n).collect();
            format!("{} ({id})", path.join(" / "))
        }
        (Some(id), _) => id.clone(),
    };
    let size = asset
        .size_bytes
        .map(|b| format!("{} ({b} bytes)", human_bytes(b)));
    let uploader = asset.created_by_user.as_ref().and_then(|u| u.email.clone());
    let rows: [(&str, Option<String>); 17] = [
        ("id", asset.id.clone()),
        ("name", asset.name.clone()),
        ("folder", Some(folder)),
        ("asset_type", asset.asset_type.clone()),
        ("mime_type", asset.mime_type.clone()),
        ("size_bytes", size),
        ("created_at", asset.created_at.clone()),
        ("updated_at", asset.updated_at.clone()),
        ("created_by", asset.created_by.clone().or(uploader)),
        ("org_id", asset.org_id.clone()),
        ("source_type", asset.source_type.clone()),
        ("source_id", asset.source_id.clone()),
        ("r2_key", asset.r2_key.clone()),
        ("url", asset.url.as_deref().map(signed_link)),
        (
            "thumbnail_url",
            asset.thumbnail_url.as_deref().map(signed_link),
        ),
        ("deleted_at", asset.deleted_at.clone()),
        ("deleted_by", asset.deleted_by.clone()),
    ];
    egui::Grid::new("asset-fields")
        .num_columns(2)
        .striped(true)
        .spacing([10.0, 4.0])
        .show(ui, |ui| {
            for (name, value) in rows {
                ui.weak(name);
                match value {
                    Some(value) => ui.add(egui::Label::new(value).wrap()),
                    None => ui.weak("(none)"),
                };
                ui.end_row();
            }
        });
}

/// A signed link as the panel shows it: host and path, never the signature.
fn signed_link(url: &str) -> String {
    let bare = url.split(['?', '#']).next().unwrap_or_default();
    format!("{bare} (signed; use Copy URL for a fresh link)")
}

/// A ready-to-run curl command starting a model run with `asset`, as in step 4 of the guide:
/// the asset's freshly signed `url` goes in the model's image URL input (models take media
/// URLs), and the key comes from the environment, never from the app.
pub fn curl_snippet(base_url: &str, asset: &Asset) -> String {
    let base = base_url.trim_end_matches('/');
    let url = asset.url.as_deref().unwrap_or_default();
    let body = serde_json::json!({
        "input": {
            "image_url": url,
            "prompt": "white studio",
        },
    });
    let body = serde_json::to_string_pretty(&body).unwrap_or_default();
    // The name and id only appear in a comment: without line breaks (or any other control
    // character) nothing in them can end it and run as a command.
    let id = sanitize(asset.id.as_deref().unwrap_or_default());
    let name = sanitize(asset.name.as_deref().unwrap_or_default());
    let endpoint = shell_quote(&format!("{base}/v1/models/{EXAMPLE_MODEL}/runs"));
    let body = shell_quote(&body);
    format!(
        "# Start a run of {EXAMPLE_MODEL} with the asset {name} ({id}).\n\
         # The image_url is signed and expires soon: copy the command again if it is refused.\n\
         curl -X POST {endpoint} \\\n  \
         -H \"Authorization: Bearer $RUNFLOW_API_KEY\" \\\n  \
         -H \"Content-Type: application/json\" \\\n  \
         -d {body}\n"
    )
}

/// `text` as one word for a POSIX shell: in single quotes, where only a single quote needs
/// escaping.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_curl_snippet_uses_the_fresh_url_and_never_a_key() {
        let asset = Asset {
            id: Some("a1".into()),
            name: Some("it's.png".into()),
            url: Some("https://s.example/o?X-Amz-Signature=abc&x='y".into()),
            ..Asset::default()
        };
        let snippet = curl_snippet("https://api.runflow.io/", &asset);
        assert!(snippet.contains(
            "curl -X POST 'https://api.runflow.io/v1/models/runflow/background-replace/runs'"
        ));
        assert!(snippet.contains("$RUNFLOW_API_KEY"));
        assert!(
            snippet.contains(r#""image_url": "https://s.example/o?X-Amz-Signature=abc&x='\''y""#),
            "{snippet}"
        );
        assert!(snippet.contains("(a1)"));
    }

    /// The snippet run by a real shell, with `curl` a function that writes its arguments one a
    /// line: nothing in the asset's name, id or link runs, and the body arrives whole.
    #[cfg(unix)]
    #[test]
    fn the_curl_snippet_is_safe_to_paste_whatever_the_asset_is_called() {
        let dir = tempfile::tempdir().unwrap();
        let canary = dir.path().join("ran");
        let attack = format!(
            "x\ntouch {c}; $(touch {c}) `touch {c}` ' \" \\\r\ntouch {c}",
            c = canary.display()
        );
        let asset = Asset {
            id: Some(attack.clone()),
            name: Some(attack.clone()),
            url: Some(format!(
                "https://s.example/o?a='$(touch {})'",
                canary.display()
            )),
            ..Asset::default()
        };
        let snippet = curl_snippet("https://api.runflow.io", &asset);
        let script =
            format!("curl() {{ for a in \"$@\"; do printf '%s\\n' \"$a\"; done; }}\n{snippet}");
        let output = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .env("RUNFLOW_API_KEY", "rf_test")
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        assert!(!canary.exists(), "the snippet ran a command:\n{snippet}");
        let out = String::from_utf8(output.stdout).unwrap();
        assert!(
            out.starts_with("-X\nPOST\nhttps://api.runflow.io/v1/models/"),
            "{out}"
        );
        assert!(out.contains("Authorization: Bearer rf_test"), "{out}");
        let body_start = out.find("-d\n").unwrap() + 3;
        let body: serde_json::Value = serde_json::from_str(out[body_start..].trim_end()).unwrap();
        assert_eq!(
            body["input"]["image_url"].as_str(),
            asset.url.as_deref(),
            "{out}"
        );
    }

    #[test]
    fn links_in_the_panel_hide_their_signature() {
        let shown = signed_link("https://s.example/o.png?X-Amz-Signature=abc");
        assert!(shown.starts_with("https://s.example/o.png "));
        assert!(!shown.contains("abc"));
    }
}
