//! The History tab's state: the search fields, the rows of the last search and the selection.

use std::collections::BTreeSet;

use crate::desktop::Command;
use crate::history::{Format, Query, Upload, parse_since, parse_until};
use crate::ui::Loadable;

/// Rows shown at most; the search narrows them.
pub const HISTORY_ROWS: usize = 500;
/// How long typing pauses before the search runs.
const SEARCH_PAUSE_SECS: f64 = 0.25;

/// The tab's state.
#[derive(Debug, Default)]
pub struct HistoryState {
    /// Part of the file name.
    pub search: String,
    /// The first day (YYYY-MM-DD) or empty.
    pub since: String,
    /// The last day (YYYY-MM-DD) or empty.
    pub until: String,
    /// Only one batch: its id, and its first row's time for people.
    pub batch: Option<(String, String)>,
    /// The rows of the last search, newest first (one more than shown tells there are more).
    pub rows: Loadable<Vec<Upload>>,
    /// Rows ticked for export, by id.
    pub selected: BTreeSet<i64>,
    /// The export's format.
    pub format: Format,
    edited_at: Option<f64>,
    generation: u64,
}

impl HistoryState {
    /// The query the fields make, or why a date is not one.
    pub fn query(&self) -> Result<Query, String> {
        let day = |text: &str, parse: fn(&str) -> Result<_, String>| {
            (!text.trim().is_empty()).then(|| parse(text)).transpose()
        };
        Ok(Query {
            name: self.search.trim().to_owned(),
            since: day(&self.since, parse_since)?,
            until: day(&self.until, parse_until)?,
            batch: self.batch.as_ref().map(|(id, _)| id.clone()),
            limit: Some(HISTORY_ROWS + 1),
        })
    }

    /// Searches again now (the tab opened, a batch ended); nothing while a date is invalid.
    pub fn reload(&mut self) -> Vec<Command> {
        self.edited_at = None;
        let Ok(query) = self.query() else {
            return Vec::new();
        };
        self.generation += 1;
        if !matches!(self.rows, Loadable::Ready(_)) {
            self.rows = Loadable::Loading;
        }
        vec![Command::LoadHistory {
            query,
            generation: self.generation,
        }]
    }

    /// A field changed at `now`: the search runs once typing pauses.
    pub fn edited(&mut self, now: f64) {
        self.edited_at = Some(now);
    }

    /// The search, once typing has paused; and when to look again.
    pub fn tick(&mut self, now: f64) -> (Vec<Command>, Option<f64>) {
        match self.edited_at {
            Some(at) if now - at >= SEARCH_PAUSE_SECS => (self.reload(), None),
            Some(at) => (Vec::new(), Some(SEARCH_PAUSE_SECS - (now - at))),
            None => (Vec::new(), None),
        }
    }

    /// The answer to the search of `generation`; older ones are dropped.
    pub fn apply(&mut self, generation: u64, result: Result<Vec<Upload>, String>) {
        if generation != self.generation {
            return;
        }
        self.rows = match result {
            Ok(rows) => {
                let shown: BTreeSet<i64> = rows.iter().map(|row| row.id).collect();
                self.selected.retain(|id| shown.contains(id));
                Loadable::Ready(rows)
            }
            Err(message) => Loadable::Failed(message),
        };
    }

    /// The rows shown (at most [`HISTORY_ROWS`]).
    pub fn shown(&self) -> &[Upload] {
        match &self.rows {
            Loadable::Ready(rows) => &rows[..rows.len().min(HISTORY_ROWS)],
            _ => &[],
        }
    }

    /// Whether the search matched more rows than are shown.
    pub fn more(&self) -> bool {
        matches!(&self.rows, Loadable::Ready(rows) if rows.len() > HISTORY_ROWS)
    }

    /// The export of the ticked rows, or of every row shown when none is ticked.
    pub fn export(&self) -> Command {
        let shown = self.shown();
        let uploads = if self.selected.is_empty() {
            shown.to_vec()
        } else {
            shown
                .iter()
                .filter(|row| self.selected.contains(&row.id))
                .cloned()
                .collect()
        };
        Command::ExportHistory {
            uploads,
            format: self.format,
        }
    }
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;

    use super::*;
    use crate::history::Source;

    fn row(id: i64) -> Upload {
        Upload {
            id,
            uploaded_at: OffsetDateTime::UNIX_EPOCH,
            path: format!("/p/{id}.png").into(),
            name: format!("{id}.png"),
            size_bytes: 1,
            hash: None,
            asset_id: format!("a{id}"),
            folder_id: None,
            server: "http://s".into(),
            account: String::new(),
            source: Source::Drop,
            batch: None,
            fixed: None,
            modified_ns: None,
        }
    }

    fn sent(commands: &[Command]) -> (Query, u64) {
        match commands {
            [Command::LoadHistory { query, generation }] => (query.clone(), *generation),
            other => panic!("expected one search, got {other:?}"),
        }
    }

    #[test]
    fn typing_searches_once_it_pauses_and_old_answers_are_dropped() {
        let mut state = HistoryState::default();
        let (first, first_generation) = sent(&state.reload());
        assert_eq!(first.limit, Some(HISTORY_ROWS + 1));
        assert_eq!(state.rows, Loadable::Loading);

        state.search = " beach ".into();
        state.edited(10.0);
        assert!(state.tick(10.1).0.is_empty());
        let (query, generation) = sent(&state.tick(10.3).0);
        assert_eq!(query.name, "beach");
        // The first search answers late: ignored.
        state.apply(first_generation, Ok(vec![row(1), row(2)]));
        assert_eq!(state.rows, Loadable::Loading);
        state.apply(generation, Ok(vec![row(2)]));
        assert_eq!(state.shown().len(), 1);
    }

    #[test]
    fn a_bad_date_says_why_and_searches_nothing() {
        let mut state = HistoryState {
            since: "2026-13-01".into(),
            ..HistoryState::default()
        };
        assert!(state.query().unwrap_err().contains("2026-12-01"));
        assert!(state.reload().is_empty());
        state.since = "2026-11-01".into();
        state.until = "2026-11-30".into();
        let (query, _) = sent(&state.reload());
        assert!(query.since.unwrap() < query.until.unwrap());
    }

    #[test]
    fn export_takes_the_ticked_rows_or_all_shown_and_more_is_told() {
        let mut state = HistoryState::default();
        let (_, generation) = sent(&state.reload());
        let many: Vec<Upload> = (0..=HISTORY_ROWS as i64).map(row).collect();
        state.selected.insert(3);
        state.selected.insert(99_999);
        state.apply(generation, Ok(many));
        assert!(state.more());
        assert_eq!(state.shown().len(), HISTORY_ROWS);
        assert_eq!(
            state.selected,
            BTreeSet::from([3]),
            "gone rows are unticked"
        );
        let Command::ExportHistory { uploads, .. } = state.export() else {
            panic!("an export");
        };
        assert_eq!(uploads, vec![row(3)]);
        state.selected.clear();
        let Command::ExportHistory { uploads, format } = state.export() else {
            panic!("an export");
        };
        assert_eq!((uploads.len(), format), (HISTORY_ROWS, Format::Csv));
    }
}
