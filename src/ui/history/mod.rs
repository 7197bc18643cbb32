//! The History tab of the side panel: what this machine uploaded, from the history database.

mod state;
mod view;

pub use state::HistoryState;
pub use view::{HistoryIntent, history_ui};
