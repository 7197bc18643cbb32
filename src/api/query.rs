//! List parameters (`q`, `limit`, `sort_by`, `pq`, `from_prev`) and a builder for `q` filters.

/// Parameters of a list ("search") endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    /// Filter expression, e.g. `folder_id:null AND asset_type:image`.
    pub q: Option<String>,
    /// Page size, 1..=500 (server default 50).
    pub limit: Option<u32>,
    /// `field:asc|desc`, comma list for several keys.
    pub sort_by: Option<String>,
    /// Cursor from a previous page.
    pub pq: Option<String>,
    /// Walk backwards from `pq`.
    pub from_prev: bool,
    /// Relations to embed, e.g. `created_by_user`.
    pub embed: Option<String>,
}

impl ListQuery {
    /// The query-string pairs, omitting what is unset.
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        if let Some(q) = &self.q {
            pairs.push(("q", q.clone()));
        }
        if let Some(limit) = self.limit {
            pairs.push(("limit", limit.to_string()));
        }
        if let Some(sort_by) = &self.sort_by {
            pairs.push(("sort_by", sort_by.clone()));
        }
        if let Some(pq) = &self.pq {
            pairs.push(("pq", pq.clone()));
        }
        if self.from_prev {
            pairs.push(("from_prev", "true".to_owned()));
        }
        if let Some(embed) = &self.embed {
            pairs.push(("embed", embed.clone()));
        }
        pairs
    }

    /// The same query moved to the page after `cursor`.
    pub fn at_cursor(&self, cursor: &str) -> Self {
        Self {
            pq: Some(cursor.to_owned()),
            from_prev: false,
            ..self.clone()
        }
    }
}

/// Builds a `q` filter from `field:value` terms joined by `AND`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    terms: Vec<String>,
}

impl Filter {
    /// An empty filter (matches everything).
    pub fn new() -> Self {
        Self::default()
    }

    /// `field:value`, quoting the value when it is not a plain token.
    pub fn eq(mut self, field: &str, value: &str) -> Self {
        self.terms.push(format!("{field}:{}", quote(value)));
        self
    }

    /// `field:null`.
    pub fn is_null(mut self, field: &str) -> Self {
        self.terms.push(format!("{field}:null"));
        self
    }

    /// `field:value`, or `field:null` for `None`.
    pub fn eq_or_null(self, field: &str, value: Option<&str>) -> Self {
        match value {
            Some(value) => self.eq(field, value),
            None => self.is_null(field),
        }
    }

    /// Values of `field` starting with any of `prefixes`, as ranges (`field>=p AND
    /// field<p\u{10FFFF}`) joined by `OR`: the documented comparison operators give a prefix
    /// search where the API has no substring operator. Nothing is added for no prefixes.
    pub fn any_prefix(mut self, field: &str, prefixes: &[String]) -> Self {
        let ranges: Vec<String> = prefixes
            .iter()
            .map(|p| {
                format!(
                    "({field}>={} AND {field}<{})",
                    quote(p),
                    quote(&format!("{p}\u{10FFFF}"))
                )
            })
            .collect();
        match ranges.len() {
            0 => {}
            1 => self.terms.extend(ranges),
            _ => self.terms.push(format!("({})", ranges.join(" OR "))),
        }
        self
    }

    /// The expression, or `None` when there are no terms.
    pub fn build(&self) -> Option<String> {
        (!self.terms.is_empty()).then(|| self.terms.join(" AND "))
    }
}

/// Quotes a filter value unless it is a plain token, escaping `"` and `\`.
fn quote(value: &str) -> String {
    let plain = !value.is_empty()
        && value != "null"
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    if plain {
        return value.to_owned();
    }
    let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
    format!("\"{escaped}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_quote_what_needs_quoting() {
        let q = Filter::new()
            .eq_or_null("folder_id", None)
            .eq("asset_type", "image")
            .eq("name", "my \"best\" shot.png")
            .build()
            .unwrap();
        assert_eq!(
            q,
            r#"folder_id:null AND asset_type:image AND name:"my \"best\" shot.png""#
        );
        assert_eq!(Filter::new().build(), None);
        assert_eq!(
            Filter::new().eq("name", "null").build().unwrap(),
            r#"name:"null""#
        );
    }

    #[test]
    fn prefixes_become_ranges() {
        let q = Filter::new()
            .any_prefix("name", &["sun".into(), "Sun".into()])
            .build()
            .unwrap();
        assert_eq!(
            q,
            "((name>=sun AND name<\"sun\u{10FFFF}\") OR (name>=Sun AND name<\"Sun\u{10FFFF}\"))"
        );
        assert_eq!(Filter::new().any_prefix("name", &[]).build(), None);
    }

    #[test]
    fn pairs_skip_unset_params() {
        let query = ListQuery {
            limit: Some(10),
            ..ListQuery::default()
        };
        assert_eq!(query.to_pairs(), vec![("limit", "10".to_owned())]);
        let next = query.at_cursor("abc");
        assert_eq!(next.pq.as_deref(), Some("abc"));
        assert_eq!(next.limit, Some(10));
    }
}
