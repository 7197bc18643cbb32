//! Short messages in the corner: errors and finished batches. Each fades out on its own (errors
//! stay longer) or is dismissed; expiry schedules one repaint, never a repaint loop.

use std::time::Duration;

use egui::{Align2, Color32, RichText};

use crate::desktop::Level;

/// One message.
#[derive(Debug, Clone, PartialEq)]
pub struct Toast {
    /// How loud.
    pub level: Level,
    /// The text.
    pub text: String,
    /// When it goes away (seconds of `InputState::time`).
    pub expires_at: f64,
}

/// The messages on screen.
#[derive(Debug, Default)]
pub struct Toasts {
    items: Vec<Toast>,
}

/// At most this many toasts at once; older ones make room.
const MAX_TOASTS: usize = 5;

impl Toasts {
    /// Shows `text`, from `now` (seconds).
    pub fn push(&mut self, level: Level, text: impl Into<String>, now: f64) {
        let lifetime = match level {
            Level::Error => 12.0,
            Level::Success | Level::Info => 5.0,
        };
        let text = text.into();
        // The same message twice in a row (e.g. many files failing alike) shows once.
        self.items.retain(|t| t.text != text);
        self.items.push(Toast {
            level,
            text,
            expires_at: now + lifetime,
        });
        if self.items.len() > MAX_TOASTS {
            self.items.remove(0);
        }
    }

    /// The messages on screen.
    pub fn items(&self) -> &[Toast] {
        &self.items
    }

    /// Draws the toasts bottom-right and drops expired ones.
    pub fn ui(&mut self, ctx: &egui::Context) {
        let now = ctx.input(|i| i.time);
        self.items.retain(|t| t.expires_at > now);
        if let Some(next) = self.items.iter().map(|t| t.expires_at).reduce(f64::min) {
            ctx.request_repaint_after(Duration::from_secs_f64((next - now).max(0.05)));
        }
        let mut dismissed = None;
        egui::Area::new(egui::Id::unique("toasts"))
            .anchor(Align2::RIGHT_BOTTOM, [-12.0, -36.0])
            .order(egui::Order::Foreground)
            .show(ctx, |ui| {
                for (index, toast) in self.items.iter().enumerate() {
                    let color = match toast.level {
                        Level::Success => Color32::from_rgb(40, 140, 70),
                        Level::Info => Color32::from_rgb(60, 100, 170),
                        Level::Error => Color32::from_rgb(190, 50, 50),
                    };
                    egui::Frame::popup(ui.style()).fill(color).show(ui, |ui| {
                        ui.set_max_width(420.0);
                        ui.horizontal(|ui| {
                            ui.add(
                                egui::Label::new(RichText::new(&toast.text).color(Color32::WHITE))
                                    .wrap(),
                            );
                            if ui.small_button("Dismiss").clicked() {
                                dismissed = Some(index);
                            }
                        });
                    });
                }
            });
        if let Some(index) = dismissed {
            self.items.remove(index);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_collapse_and_old_toasts_make_room() {
        let mut toasts = Toasts::default();
        toasts.push(Level::Error, "same", 0.0);
        toasts.push(Level::Error, "same", 1.0);
        assert_eq!(toasts.items().len(), 1);
        for i in 0..10 {
            toasts.push(Level::Info, format!("m{i}"), 2.0);
        }
        assert_eq!(toasts.items().len(), MAX_TOASTS);
        assert_eq!(toasts.items()[MAX_TOASTS - 1].text, "m9");
    }
}
