//! The asset library's backend, free of egui: what a gallery view asks the API for
//! ([`view`]), and the thumbnail pipeline ([`thumbs`]).

pub mod thumbs;
pub mod view;

pub use view::{KindFilter, SortOrder, ViewSpec};
