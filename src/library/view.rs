//! What a gallery view shows: a folder, a name search, a type filter and a sort order, and the
//! list query that asks the API for exactly that. Saved in the settings so the view survives a
//! restart.

use serde::{Deserialize, Serialize};

use crate::api::models::Asset;
use crate::api::{Filter, ListQuery};

/// Which asset types a view shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KindFilter {
    /// Every asset.
    #[default]
    All,
    /// Images only.
    Image,
    /// Videos only.
    Video,
    /// Audio only.
    Audio,
}

impl KindFilter {
    /// Every choice, in menu order.
    pub const ALL: [Self; 4] = [Self::All, Self::Image, Self::Video, Self::Audio];

    /// The menu label.
    pub fn label(self) -> &'static str {
        match self {
            Self::All => "All types",
            Self::Image => "Images",
            Self::Video => "Videos",
            Self::Audio => "Audio",
        }
    }

    /// The `asset_type` value, or `None` for every type.
    pub fn asset_type(self) -> Option<&'static str> {
        match self {
            Self::All => None,
            Self::Image => Some("image"),
            Self::Video => Some("video"),
            Self::Audio => Some("audio"),
        }
    }
}

/// How a view is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    /// Newest first.
    #[default]
    Newest,
    /// Oldest first.
    Oldest,
    /// By name, A to Z.
    Name,
    /// Largest first.
    Size,
}

impl SortOrder {
    /// Every choice, in menu order.
    pub const ALL: [Self; 4] = [Self::Newest, Self::Oldest, Self::Name, Self::Size];

    /// The menu label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Newest => "Newest first",
            Self::Oldest => "Oldest first",
            Self::Name => "Name (A to Z)",
            Self::Size => "Largest first",
        }
    }

    /// The `sort_by` parameter (one documented field each; ties are the server's to break, as
    /// its cursors are).
    pub fn sort_by(self) -> &'static str {
        match self {
            Self::Newest => "created_at:desc",
            Self::Oldest => "created_at:asc",
            Self::Name => "name:asc",
            Self::Size => "size_bytes:desc",
        }
    }
}

/// A gallery view: the folder shown and how it is narrowed and ordered.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ViewSpec {
    /// The folder shown; `None` is the root.
    pub folder_id: Option<String>,
    /// Names starting with this text (case-insensitive for the first letter, as the API
    /// compares strings case-sensitively); empty shows everything.
    pub search: String,
    /// Which types are shown.
    pub kind: KindFilter,
    /// The order.
    pub sort: SortOrder,
}

impl ViewSpec {
    /// The list query of this view's first page.
    pub fn query(&self, limit: u32) -> ListQuery {
        let mut filter = Filter::new().eq_or_null("folder_id", self.folder_id.as_deref());
        if let Some(kind) = self.kind.asset_type() {
            filter = filter.eq("asset_type", kind);
        }
        let search = self.search.trim();
        if !search.is_empty() {
            filter = filter.any_prefix("name", &search_variants(search));
        }
        ListQuery {
            q: filter.build(),
            limit: Some(limit),
            sort_by: Some(self.sort.sort_by().to_owned()),
            ..ListQuery::default()
        }
    }

    /// Whether `asset` belongs in this view (for uploads that finish while it is shown).
    pub fn admits(&self, asset: &Asset) -> bool {
        if asset.folder_id != self.folder_id {
            return false;
        }
        if let Some(kind) = self.kind.asset_type() {
            let asset_kind = asset
                .asset_type
                .as_deref()
                .or_else(|| asset.mime_type.as_deref()?.split('/').next());
            if asset_kind != Some(kind) {
                return false;
            }
        }
        let search = self.search.trim();
        search.is_empty()
            || asset.name.as_deref().is_some_and(|name| {
                search_variants(search)
                    .iter()
                    .any(|prefix| name.starts_with(prefix.as_str()))
            })
    }
}

/// The prefixes a search matches: as typed, and with the first letter in either case, so
/// "sun" finds "Sunrise.png" and "sunset.jpg" with the API's case-sensitive comparisons.
fn search_variants(search: &str) -> Vec<String> {
    let mut variants = vec![search.to_owned()];
    let mut chars = search.chars();
    if let Some(first) = chars.next() {
        let rest = chars.as_str();
        for flipped in [
            first.to_lowercase().to_string(),
            first.to_uppercase().to_string(),
        ] {
            let variant = format!("{flipped}{rest}");
            if !variants.contains(&variant) {
                variants.push(variant);
            }
        }
    }
    variants
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_view_lists_the_root_newest_first() {
        let query = ViewSpec::default().query(100);
        assert_eq!(query.q.as_deref(), Some("folder_id:null"));
        assert_eq!(query.sort_by.as_deref(), Some("created_at:desc"));
        assert_eq!(query.limit, Some(100));
    }

    #[test]
    fn search_and_type_narrow_the_query() {
        let view = ViewSpec {
            folder_id: Some("f1".into()),
            search: " sun ".into(),
            kind: KindFilter::Image,
            sort: SortOrder::Name,
        };
        let q = view.query(50).q.unwrap();
        assert!(
            q.starts_with("folder_id:f1 AND asset_type:image AND ("),
            "{q}"
        );
        assert!(q.contains(r#"name>=sun AND name<"sun"#), "{q}");
        assert!(q.contains(r#"name>=Sun AND name<"Sun"#), "{q}");
    }

    #[test]
    fn admits_checks_folder_type_and_name() {
        let view = ViewSpec {
            search: "sun".into(),
            kind: KindFilter::Image,
            ..ViewSpec::default()
        };
        let asset = |name: &str, folder: Option<&str>, kind: &str| Asset {
            name: Some(name.into()),
            folder_id: folder.map(str::to_owned),
            asset_type: Some(kind.into()),
            ..Asset::default()
        };
        assert!(view.admits(&asset("Sunrise.png", None, "image")));
        assert!(view.admits(&asset("sunset.jpg", None, "image")));
        assert!(!view.admits(&asset("moon.png", None, "image")));
        assert!(!view.admits(&asset("sun.mp4", None, "video")));
        assert!(!view.admits(&asset("sun.png", Some("f"), "image")));
    }

    #[test]
    fn views_round_trip_and_tolerate_missing_fields() {
        let view: ViewSpec = serde_json::from_str(r#"{"sort":"size"}"#).unwrap();
        assert_eq!(view.sort, SortOrder::Size);
        assert_eq!(view.folder_id, None);
        let json = serde_json::to_string(&view).unwrap();
        assert_eq!(serde_json::from_str::<ViewSpec>(&json).unwrap(), view);
    }
}
