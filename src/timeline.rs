//! `RUNFLOW_UPLOADER_TIMELINE=<file>`: one JSON line per milestone of an upload batch, with
//! wall-clock milliseconds since the Unix epoch, and the window's frame times, for
//! `bench/queue_scale.sh`. Unset (the normal case), nothing is recorded.
//!
//! Milestones, each written once: `scan` (the engine reported a dropped folder being walked),
//! `found` (its first files were found), `first_upload` (a file was being uploaded, or already
//! done), and `idle` (the batch ended). At `idle` the window adds one `frames` line: the CPU
//! time of its update (logic and UI pass, not painting) for every frame since `scan`.
//!
//! With `RUNFLOW_UPLOADER_BENCH_GALLERY` set too (only `bench/gallery_app.sh` sets it), the window
//! scrolls its gallery through, one screen at a time: it waits until every tile on screen shows
//! (or [`SCREEN_PATIENCE`] passes), then scrolls one screen down, until the last page's end, and
//! closes. It writes `gallery_first_screen` (the time from the first cards on screen until their
//! tiles all show) and, at the end, `gallery_done` (every screen's time, the screens given up on,
//! the failed tiles, and the update CPU time of every frame of the run).

use std::fs::File;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use crate::ui::gallery::GridProbe;
use crate::upload::{Event, FileState};

/// The environment variable naming the timeline file.
pub const TIMELINE_ENV: &str = "RUNFLOW_UPLOADER_TIMELINE";
/// The environment variable that makes the window scroll its gallery through.
pub const BENCH_GALLERY_ENV: &str = "RUNFLOW_UPLOADER_BENCH_GALLERY";
/// How long the scripted scroll waits for one screen's tiles before it moves on.
pub const SCREEN_PATIENCE: Duration = Duration::from_secs(20);

/// What the scripted gallery scroll asks of the window after a frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GalleryStep {
    /// No scripted scroll is running.
    Off,
    /// Tiles (or a page) are on their way: look again shortly.
    Wait,
    /// This screen is done: scroll the grid to this offset.
    ScrollTo(f32),
    /// The whole gallery was seen: close the window.
    Close,
}

/// The scripted gallery scroll in progress.
#[derive(Debug, Default)]
struct GalleryRun {
    /// When the current screen's cards were first shown (`None`: none yet).
    screen_started: Option<Instant>,
    first_screen: bool,
    /// Each screen's time until its tiles all showed, in milliseconds.
    screens: Vec<f32>,
    /// Screens given up on after [`SCREEN_PATIENCE`].
    timed_out: usize,
    /// Failed tiles, counted on each screen as it was left.
    failed: usize,
    /// Update CPU times of every frame since the first cards, in milliseconds.
    frames: Vec<f32>,
    done: bool,
}

/// Where milestones go.
#[derive(Debug)]
pub struct Timeline {
    file: File,
    scan: bool,
    found: bool,
    first_upload: bool,
    idle: bool,
    /// Update CPU times since `scan`, in milliseconds.
    frames: Vec<f32>,
    /// The scripted gallery scroll, when asked for.
    gallery: Option<GalleryRun>,
}

impl Timeline {
    /// The timeline `RUNFLOW_UPLOADER_TIMELINE` names, created (appended to) now.
    pub fn from_env() -> Option<Self> {
        let path = PathBuf::from(std::env::var_os(TIMELINE_ENV)?);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .inspect_err(|err| tracing::warn!(%err, path = %path.display(), "no timeline"))
            .ok()?;
        Some(Self {
            file,
            scan: false,
            found: false,
            first_upload: false,
            idle: false,
            frames: Vec::new(),
            gallery: std::env::var_os(BENCH_GALLERY_ENV).map(|_| GalleryRun::default()),
        })
    }

    /// Notes the milestones `event` reaches.
    pub fn upload_event(&mut self, event: &Event) {
        match event {
            Event::Scanning { found, .. } => {
                if !self.scan {
                    self.scan = true;
                    self.write("scan", serde_json::json!({}));
                }
                if *found > 0 && !self.found {
                    self.found = true;
                    self.write("found", serde_json::json!({ "files": found }));
                }
            }
            Event::State { state, .. }
                if self.scan
                    && !self.first_upload
                    && matches!(
                        state,
                        FileState::Uploading | FileState::Confirming | FileState::Done(_)
                    ) =>
            {
                self.first_upload = true;
                self.write("first_upload", serde_json::json!({}));
            }
            Event::Idle if self.scan && !self.idle => {
                self.idle = true;
                self.write("idle", serde_json::json!({}));
                if !self.frames.is_empty() {
                    let frames = self.frame_summary();
                    self.write("frames", frames);
                }
            }
            _ => {}
        }
    }

    /// One window frame's update took `cpu`.
    pub fn frame(&mut self, cpu: Duration) {
        if self.scan && !self.idle {
            self.frames.push(cpu.as_secs_f32() * 1000.0);
        }
    }

    fn frame_summary(&mut self) -> serde_json::Value {
        summary(&mut self.frames)
    }

    /// The scripted gallery scroll after a frame that took `cpu` and showed `probe`;
    /// `all_pages` tells whether the gallery's last page is loaded.
    pub fn gallery_frame(
        &mut self,
        probe: &GridProbe,
        all_pages: bool,
        cpu: Duration,
    ) -> GalleryStep {
        let Some(run) = &mut self.gallery else {
            return GalleryStep::Off;
        };
        if run.done {
            return GalleryStep::Close;
        }
        if probe.cards == 0 {
            return GalleryStep::Wait;
        }
        run.frames.push(cpu.as_secs_f32() * 1000.0);
        let started = *run.screen_started.get_or_insert_with(Instant::now);
        let waited = started.elapsed();
        let at_end = probe.offset >= probe.max_offset - 1.0;
        if probe.loading > 0 && waited < SCREEN_PATIENCE {
            return GalleryStep::Wait;
        }
        if at_end && !all_pages && waited < SCREEN_PATIENCE {
            // The next page is on its way (the grid's footer asked for it).
            return GalleryStep::Wait;
        }
        run.screens.push(waited.as_secs_f32() * 1000.0);
        run.timed_out += usize::from(probe.loading > 0);
        run.failed += probe.failed;
        run.screen_started = None;
        if !run.first_screen {
            run.first_screen = true;
            let fields = serde_json::json!({
                "ms": waited.as_secs_f32() * 1000.0,
                "cards": probe.cards,
            });
            self.write("gallery_first_screen", fields);
        }
        let Some(run) = &mut self.gallery else {
            return GalleryStep::Off;
        };
        if !at_end {
            return GalleryStep::ScrollTo(probe.offset + probe.viewport);
        }
        run.done = true;
        let fields = serde_json::json!({
            "screens": summary(&mut run.screens),
            "timed_out": run.timed_out,
            "failed": run.failed,
            "frames": summary(&mut run.frames),
        });
        self.write("gallery_done", fields);
        GalleryStep::Close
    }

    fn write(&mut self, event: &str, mut fields: serde_json::Value) {
        let ms = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        fields["event"] = event.into();
        fields["t_ms"] = ms.into();
        let _ = writeln!(self.file, "{fields}");
    }
}

/// Count, median, p95 and max of `values` (sorted in place).
fn summary(values: &mut [f32]) -> serde_json::Value {
    if values.is_empty() {
        return serde_json::json!({ "count": 0 });
    }
    values.sort_by(f32::total_cmp);
    let at = |q: f32| values[((values.len() - 1) as f32 * q).round() as usize];
    serde_json::json!({
        "count": values.len(),
        "median_ms": at(0.5),
        "p95_ms": at(0.95),
        "max_ms": at(1.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upload::FileId;

    /// A fresh timeline writing to `path`.
    fn timeline_at(path: &std::path::Path, gallery: Option<GalleryRun>) -> Timeline {
        Timeline {
            file: File::create(path).unwrap(),
            scan: false,
            found: false,
            first_upload: false,
            idle: false,
            frames: Vec::new(),
            gallery,
        }
    }

    /// The lines written to `path`.
    fn lines(path: &std::path::Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn milestones_are_written_once_with_the_frames_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("timeline.jsonl");
        let mut timeline = timeline_at(&path, None);
        // Before a scan, an idle engine is no milestone.
        timeline.upload_event(&Event::Idle);
        for found in [0, 256, 512] {
            timeline.upload_event(&Event::Scanning {
                scan: 1,
                label: "x".into(),
                found,
                done: false,
            });
        }
        for ms in [1, 2, 3, 40] {
            timeline.frame(Duration::from_millis(ms));
        }
        for _ in 0..2 {
            timeline.upload_event(&Event::State {
                id: FileId(1),
                state: FileState::Uploading,
            });
        }
        timeline.upload_event(&Event::Idle);
        timeline.upload_event(&Event::Idle);
        let lines = lines(&path);
        let events: Vec<&str> = lines.iter().map(|l| l["event"].as_str().unwrap()).collect();
        assert_eq!(events, ["scan", "found", "first_upload", "idle", "frames"]);
        assert_eq!(lines[1]["files"], 256);
        assert_eq!(lines[4]["count"], 4);
        assert_eq!(lines[4]["median_ms"], 3.0);
        assert_eq!(lines[4]["max_ms"], 40.0);
    }

    #[test]
    fn the_scripted_gallery_scroll_waits_for_each_screen_then_closes_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("timeline.jsonl");
        let mut timeline = timeline_at(&path, Some(GalleryRun::default()));
        let cpu = Duration::from_millis(2);
        let probe = |loading, offset, failed| GridProbe {
            cards: 20,
            loading,
            failed,
            offset,
            max_offset: 1000.0,
            viewport: 600.0,
        };
        // Nothing listed yet, then a screen whose tiles arrive.
        let empty = GridProbe::default();
        assert_eq!(
            timeline.gallery_frame(&empty, false, cpu),
            GalleryStep::Wait
        );
        assert_eq!(
            timeline.gallery_frame(&probe(20, 0.0, 0), false, cpu),
            GalleryStep::Wait
        );
        assert_eq!(
            timeline.gallery_frame(&probe(0, 0.0, 0), false, cpu),
            GalleryStep::ScrollTo(600.0)
        );
        // At the end of what is loaded, the next page is waited for; then the end closes.
        assert_eq!(
            timeline.gallery_frame(&probe(0, 1000.0, 1), false, cpu),
            GalleryStep::Wait
        );
        assert_eq!(
            timeline.gallery_frame(&probe(0, 1000.0, 1), true, cpu),
            GalleryStep::Close
        );
        assert_eq!(
            timeline.gallery_frame(&probe(0, 1000.0, 1), true, cpu),
            GalleryStep::Close
        );

        let lines = lines(&path);
        let events: Vec<&str> = lines.iter().map(|l| l["event"].as_str().unwrap()).collect();
        assert_eq!(events, ["gallery_first_screen", "gallery_done"]);
        assert_eq!(lines[0]["cards"], 20);
        assert_eq!(lines[1]["screens"]["count"], 2);
        assert_eq!(lines[1]["frames"]["count"], 4);
        assert_eq!(lines[1]["failed"], 1);
        assert_eq!(lines[1]["timed_out"], 0);
    }
}
