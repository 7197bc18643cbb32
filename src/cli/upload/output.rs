//! What `upload` shows of the engine's events: progress bars, plain lines or JSON records,
//! and the summary.

use super::*;

pub(super) struct FileInfo {
    name: String,
    path: Option<PathBuf>,
    size_bytes: Option<u64>,
    mime_type: Option<String>,
    resumed: bool,
    retries: u32,
    bar: Option<ProgressBar>,
    /// The copy that goes instead of the file, once made.
    copy: Option<crate::fix::FixedCopy>,
}

pub(super) enum Output {
    Json,
    Plain,
    Bars {
        multi: MultiProgress,
        total: ProgressBar,
        /// "scanning photos: 12,345 files found", while folders are walked.
        scanning: Option<String>,
    },
}

pub(super) fn bar_style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// The first sentence of a failure's prose: what happened, without the advice (which belongs
/// to the final failure, not to each retry).
pub(super) fn first_sentence(text: &str) -> &str {
    text.find(". ")
        .map_or(text.trim_end_matches('.'), |end| &text[..end])
}

/// `path` as seen from the current directory when it lies below it (`photos/a.png`), for
/// human lines that fit a terminal; JSON keeps the full path.
fn relative_to_cwd(path: &str) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| {
            Path::new(path)
                .strip_prefix(cwd)
                .ok()
                .map(Path::to_path_buf)
        })
        .filter(|relative| !relative.as_os_str().is_empty())
        .map_or_else(
            || path.to_owned(),
            |relative| relative.display().to_string(),
        )
}

/// The last component of `path`, for names of skipped entries.
fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

impl Output {
    pub(super) async fn handle(
        &mut self,
        run: &Run,
        event: &Event,
        files: &mut HashMap<FileId, FileInfo>,
        tally: &mut Tally,
        out: &mut impl Write,
    ) -> std::io::Result<()> {
        match event {
            Event::Added {
                id,
                path,
                name,
                size_bytes,
                mime_type,
                state,
                resumed,
            } => {
                files.insert(
                    *id,
                    FileInfo {
                        name: name.clone(),
                        path: path.clone(),
                        size_bytes: *size_bytes,
                        mime_type: mime_type.clone(),
                        resumed: *resumed,
                        retries: 0,
                        bar: None,
                        copy: None,
                    },
                );
                if *resumed {
                    self.note(&format!("resuming {} from an earlier run", sanitize(name)));
                }
                if state.is_finished() {
                    self.finished(*id, state, files, tally, out).await?;
                }
            }
            Event::Skipped { path, reason } => {
                let code = upload::skip_code(reason);
                // The same file given again (or resumed and given again) is still one file,
                // counted once by its own outcome.
                if code == "already_queued" {
                    tracing::debug!(path = %path.display(), "already in the queue");
                    return Ok(());
                }
                tally.counts.add(Status::Skipped);
                tracing::info!(
                    path = %sanitize(&path.display().to_string()),
                    status = "skipped",
                    reason = code,
                    detail = %reason,
                    "file finished"
                );
                match self {
                    Output::Json => json::write_record(
                        out,
                        "file",
                        &FileRecord {
                            path: JsonPath::of(path),
                            name: file_name(path),
                            status: Status::Skipped,
                            reason: Some(code),
                            error: Some(reason.clone()),
                            asset_id: None,
                            url: None,
                            folder_id: None,
                            folder_name: None,
                            same_as: None,
                            size_bytes: None,
                            mime_type: None,
                            fix: None,
                            converted_from: None,
                            converted_to: None,
                        },
                    )?,
                    _ => self.note(&format!(
                        "skipped {}: {}",
                        sanitize(&path.display().to_string()),
                        sanitize(reason)
                    )),
                }
            }
            Event::Fixed { id, copy } => {
                if let Some(file) = files.get_mut(id) {
                    if let Some(bar) = &file.bar {
                        bar.set_length(copy.size_bytes);
                    }
                    tracing::info!(file = %sanitize(&file.name), "{}", copy.describe());
                    file.copy = Some(copy.clone());
                }
            }
            Event::State { id, state } if state.is_finished() => {
                self.finished(*id, state, files, tally, out).await?;
            }
            Event::State { id, state } => self.active(run, *id, state, files),
            Event::Progress { id, sent_bytes, .. } => {
                if let Some(bar) = files.get(id).and_then(|f| f.bar.as_ref()) {
                    bar.set_position(*sent_bytes);
                }
            }
            Event::Batch(batch) => {
                if let Output::Bars {
                    total, scanning, ..
                } = self
                    && batch.total_bytes > 0
                {
                    if total.length().is_none() {
                        total.set_style(bar_style(
                            "{spinner} {msg} [{wide_bar}] {bytes}/{total_bytes} \
                             {binary_bytes_per_sec} {eta}",
                        ));
                    }
                    total.set_length(batch.total_bytes);
                    total.set_position(batch.sent_bytes.min(batch.total_bytes));
                    let mut message =
                        format!("{}/{} files", batch.finished_files(), batch.total_files);
                    if scanning.is_some() {
                        message.push_str(", scanning");
                    }
                    total.set_message(message);
                }
            }
            Event::Scanning {
                label, found, done, ..
            } => {
                if let Output::Bars {
                    total, scanning, ..
                } = self
                {
                    let text = format!(
                        "scanning {}: {}",
                        sanitize(label),
                        upload::files_found(*found)
                    );
                    *scanning = (!done).then(|| text.clone());
                    // While there are no totals yet, the spinner says what is happening.
                    if total.length().is_none() {
                        total.set_message(text);
                    }
                }
            }
            Event::ForeignUploads(_) | Event::Removed(_) | Event::Idle => {}
        }
        Ok(())
    }

    /// A file is being worked on: a retry gets its line; on a terminal the file gets a bar.
    pub(super) fn active(
        &mut self,
        run: &Run,
        id: FileId,
        state: &FileState,
        files: &mut HashMap<FileId, FileInfo>,
    ) {
        let Some(file) = files.get_mut(&id) else {
            return;
        };
        if let FileState::Retrying { reason, wait } = state {
            file.retries += 1;
            let line = format!(
                "retrying {} ({}; attempt {} of {}, in {} s)",
                sanitize(&file.name),
                sanitize(first_sentence(reason)),
                file.retries + 1,
                run.max_attempts,
                wait.as_secs().max(1)
            );
            tracing::info!(file = %sanitize(&file.name), detail = %reason, "{line}");
            self.note(&line);
        }
        let Output::Bars { multi, .. } = self else {
            return;
        };
        let bar = file.bar.get_or_insert_with(|| {
            let bar = multi.add(ProgressBar::new(file.size_bytes.unwrap_or(0)));
            bar.set_style(bar_style(
                "  {msg:32!} [{wide_bar}] {bytes:>10}/{total_bytes:<10}",
            ));
            bar
        });
        let name = sanitize(&file.name);
        let label = match state {
            FileState::Uploading => name,
            other => format!("{name} ({})", other.label()),
        };
        bar.set_message(label);
    }

    /// Reports a file that reached its end.
    pub(super) async fn finished(
        &mut self,
        id: FileId,
        state: &FileState,
        files: &mut HashMap<FileId, FileInfo>,
        tally: &mut Tally,
        out: &mut impl Write,
    ) -> std::io::Result<()> {
        let Some(file) = files.remove(&id) else {
            return Ok(());
        };
        if let Some(bar) = &file.bar {
            bar.finish_and_clear();
        }
        let mut record = self.record(&file, Status::Cancelled);
        match state {
            FileState::Done(asset) => {
                record.status = if file.resumed {
                    Status::Resumed
                } else {
                    Status::Uploaded
                };
                record.asset_id.clone_from(&asset.id);
                record.url.clone_from(&asset.url);
                record.folder_id.clone_from(&asset.folder_id);
            }
            FileState::AlreadyUploaded {
                asset_id,
                same_as,
                url,
            } => {
                record.status = Status::AlreadyUploaded;
                record.asset_id = Some(asset_id.clone());
                record.same_as.clone_from(same_as);
                record.url.clone_from(url);
            }
            FileState::InOtherFolder {
                asset_id,
                folder_id,
                folder_name,
                url,
            } => {
                let place = match (folder_name, folder_id) {
                    (Some(name), _) => format!("in the folder \"{}\"", sanitize(name)),
                    (None, Some(id)) => format!("in the folder {}", sanitize(id)),
                    (None, None) => "in the root folder".to_owned(),
                };
                record.status = Status::InOtherFolder;
                record.reason = Some("in_other_folder");
                record.error = Some(format!(
                    "already on Runflow {place}, not in the folder asked for; move it there, or \
                     run again with --force to upload a copy"
                ));
                record.asset_id = Some(asset_id.clone());
                record.folder_name.clone_from(folder_name);
                record.url.clone_from(url);
                record.folder_id.clone_from(folder_id);
            }
            FileState::Failed(failure) => {
                record.status = Status::Failed;
                let code = json::failure_reason(failure);
                tally.failure_reasons.push(code);
                record.reason = Some(code);
                record.error = Some(failure.to_string());
                record.fix = failure
                    .fix()
                    .map(|offer| match (offer.convert, offer.shrink) {
                        (true, true) => "convert_and_fit",
                        (true, false) => "convert",
                        _ => "fit",
                    });
            }
            _ => {
                record.reason = Some("cancelled");
            }
        }
        self.report(record, tally, out)
    }

    /// A file the interrupt stopped.
    pub(super) fn cancelled(
        &mut self,
        _run: &Run,
        file: FileInfo,
        tally: &mut Tally,
        out: &mut impl Write,
    ) -> std::io::Result<()> {
        if let Some(bar) = &file.bar {
            bar.finish_and_clear();
        }
        let mut record = self.record(&file, Status::Cancelled);
        record.reason = Some("interrupted");
        record.error = Some(
            "interrupted before it was uploaded; it resumes the next time you run `upload`"
                .to_owned(),
        );
        self.report(record, tally, out)
    }

    /// A record with what is known of `file`.
    pub(super) fn record(&self, file: &FileInfo, status: Status) -> FileRecord {
        let path = file.path.as_deref().map_or_else(
            || JsonPath {
                path: file.name.clone(),
                path_bytes: None,
            },
            JsonPath::of,
        );
        FileRecord {
            path,
            name: file.name.clone(),
            status,
            reason: None,
            error: None,
            asset_id: None,
            url: None,
            folder_id: None,
            folder_name: None,
            same_as: None,
            size_bytes: file.size_bytes,
            mime_type: file.mime_type.clone(),
            fix: None,
            converted_from: file.copy.as_ref().map(|_| Converted {
                name: file.name.clone(),
                mime_type: file.mime_type.clone(),
                size_bytes: file.size_bytes,
                width: None,
                height: None,
                description: None,
            }),
            converted_to: file.copy.as_ref().map(|copy| Converted {
                name: copy.name.clone(),
                mime_type: Some(copy.mime_type.clone()),
                size_bytes: Some(copy.size_bytes),
                width: Some(copy.width),
                height: Some(copy.height),
                description: Some(copy.describe()),
            }),
        }
    }

    /// Counts, logs and prints one file's outcome.
    pub(super) fn report(
        &mut self,
        record: FileRecord,
        tally: &mut Tally,
        out: &mut impl Write,
    ) -> std::io::Result<()> {
        tally.counts.add(record.status);
        let path = sanitize(&record.path.path);
        tracing::info!(
            path = %path,
            status = record.status.as_str(),
            asset_id = record.asset_id.as_deref().unwrap_or("-"),
            reason = record.reason.unwrap_or("-"),
            "file finished"
        );
        if let Output::Json = self {
            return json::write_record(out, "file", &record);
        }
        let id = record.asset_id.as_deref().map(sanitize).unwrap_or_default();
        let error = record.error.as_deref().map(sanitize).unwrap_or_default();
        let path = sanitize(&relative_to_cwd(&record.path.path));
        let converted = record
            .converted_to
            .as_ref()
            .and_then(|to| to.description.as_deref())
            .map(|text| format!(" ({})", sanitize(text)))
            .unwrap_or_default();
        let flags = match record.fix {
            Some("convert_and_fit") => " Run again with --convert --fit to upload it that way.",
            Some("convert") => " Run again with --convert to upload it that way.",
            Some(_) => " Run again with --fit to upload it that way.",
            None => "",
        };
        let line = match record.status {
            Status::Uploaded => format!("uploaded  {path} -> {id}{converted}"),
            Status::Resumed => format!(
                "resumed   {path} -> {id} (finished an upload an earlier run started){converted}"
            ),
            Status::AlreadyUploaded => {
                format!("already   {path} -> {id} (uploaded before; --force to upload again)")
            }
            Status::InOtherFolder => format!("elsewhere {path} -> {id}: {error}"),
            Status::Failed => format!("failed    {path}: {error}{flags}"),
            Status::Cancelled if record.reason == Some("interrupted") => {
                format!("cancelled {path} (interrupted; resumes on the next run)")
            }
            Status::Cancelled | Status::Skipped => format!("cancelled {path}"),
        };
        self.line(out, &line)
    }

    /// A result line on stdout (above the bars on a terminal).
    pub(super) fn line(&self, out: &mut impl Write, line: &str) -> std::io::Result<()> {
        match self {
            Output::Bars { multi, .. } => multi.suspend(|| writeln!(out, "{line}")),
            _ => writeln!(out, "{line}"),
        }
    }

    /// A side note on stderr (already sanitised by the caller).
    pub(super) fn note(&self, line: &str) {
        match self {
            Output::Bars { multi, .. } => multi.suspend(|| context::warn(line)),
            _ => context::warn(line),
        }
    }

    pub(super) fn summary(
        &self,
        run: &Run,
        counts: &Counts,
        interrupted: bool,
        exit: Exit,
        out: &mut impl Write,
    ) -> std::io::Result<()> {
        let line = summary_line(counts);
        tracing::info!(
            server = %run.server,
            account = %run.account,
            files = counts.total(),
            interrupted,
            exit_code = exit.code(),
            "upload finished: {line}"
        );
        if let Output::Json = self {
            return json::write_record(
                out,
                "summary",
                &SummaryRecord {
                    files: counts.total(),
                    counts,
                    interrupted,
                    exit_code: exit.code(),
                    server: &run.server,
                    account: &run.account,
                },
            );
        }
        writeln!(out, "{line}")
    }
}

/// `3 uploaded, 0 already uploaded, 1 failed`, plus the other statuses that occurred.
pub(super) fn summary_line(counts: &Counts) -> String {
    let mut line = format!(
        "{} uploaded, {} already uploaded, {} failed",
        counts.uploaded, counts.already_uploaded, counts.failed
    );
    let extras = [
        (counts.resumed, "resumed from an earlier run"),
        (counts.in_other_folder, "already in another folder"),
        (counts.cancelled, "cancelled"),
        (counts.skipped, "skipped"),
    ];
    for (count, what) in extras {
        if count > 0 {
            line.push_str(&format!(", {count} {what}"));
        }
    }
    line
}
