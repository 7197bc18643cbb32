//! `RUNFLOW_UPLOADER_TIMELINE=<file>`: one JSON line per milestone of an upload batch, with
//! wall-clock milliseconds since the Unix epoch, and the window's frame times, for
//! `bench/queue_scale.sh`. Unset (the normal case), nothing is recorded.
//!
//! Milestones, each written once: `scan` (the engine reported a dropped folder being walked),
//! `found` (its first files were found), `first_upload` (a file was being uploaded, or already
//! done), and `idle` (the batch ended). At `idle` the window adds one `frames` line: the CPU
//! time of its update (logic and UI pass, not painting) for every frame since `scan`.

use std::fs::File;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::upload::{Event, FileState};

/// The environment variable naming the timeline file.
pub const TIMELINE_ENV: &str = "RUNFLOW_UPLOADER_TIMELINE";

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
        self.frames.sort_by(f32::total_cmp);
        let at = |q: f32| self.frames[((self.frames.len() - 1) as f32 * q).round() as usize];
        serde_json::json!({
            "count": self.frames.len(),
            "median_ms": at(0.5),
            "p95_ms": at(0.95),
            "max_ms": at(1.0),
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upload::FileId;

    #[test]
    fn milestones_are_written_once_with_the_frames_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("timeline.jsonl");
        let mut timeline = Timeline {
            file: File::create(&path).unwrap(),
            scan: false,
            found: false,
            first_upload: false,
            idle: false,
            frames: Vec::new(),
        };
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
        let lines: Vec<serde_json::Value> = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let events: Vec<&str> = lines.iter().map(|l| l["event"].as_str().unwrap()).collect();
        assert_eq!(events, ["scan", "found", "first_upload", "idle", "frames"]);
        assert_eq!(lines[1]["files"], 256);
        assert_eq!(lines[4]["count"], 4);
        assert_eq!(lines[4]["median_ms"], 3.0);
        assert_eq!(lines[4]["max_ms"], 40.0);
    }
}
