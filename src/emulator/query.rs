//! The `q` filter language of list endpoints. A comparison is either the documented
//! `field:value`, `field=value`, `field>value`, `<`, `>=`, `<=`, or the form Runflow's own
//! clients send, `field.op:value` with `op` one of `eq`, `ne`, `gt`, `gte`, `lt`, `lte` in any
//! case (`slug.eq:'my-flow'`, `client_ref.EQ:'token'`). Comparisons are joined by `AND` (or
//! plain whitespace), `OR`, `NOT` and parentheses. Values may be single- or double-quoted
//! (`name:"a b.png"`, `name.eq:'a b.png'`, backslash escapes the next character). String
//! comparisons are case-sensitive (`name:` is exact). `null` unquoted is the null value
//! (`folder_id:null` = root, `folder_id.ne:null` = in a folder). Times accept RFC 3339 or a bare
//! `YYYY-MM-DD` (midnight UTC). Ids (`id`, `folder_id`, `parent_id`) compare only for
//! equality (`:`, `=`, `.eq`, `.ne`).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

/// The type of a filterable/sortable field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldKind {
    /// A nullable UUID (ids, folder references): equality only.
    Id,
    /// Text.
    Text,
    /// A non-negative integer.
    Int,
    /// A timestamp.
    Time,
}

/// A field value of a record, comparable within one field.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) enum FieldValue {
    /// Absent (`null`); sorts first.
    Null,
    /// Integers.
    Int(i64),
    /// Timestamps as Unix nanoseconds.
    Time(i64),
    /// Text and ids (ids in canonical lowercase hyphenated form).
    Text(String),
}

impl FieldValue {
    /// A timestamp value.
    pub fn time(t: OffsetDateTime) -> Self {
        Self::Time(i64::try_from(t.unix_timestamp_nanos()).unwrap_or(i64::MAX))
    }

    /// An optional id value.
    pub fn id(id: Option<Uuid>) -> Self {
        id.map_or(Self::Null, |id| Self::Text(id.to_string()))
    }
}

/// What list endpoints know about the items they list.
pub(crate) trait Record {
    /// Field names with their kinds and whether they may be used in `sort_by`.
    const FIELDS: &'static [(&'static str, FieldKind, bool)];

    /// The record id (the final sort tie-break).
    fn id(&self) -> Uuid;

    /// The value of a field listed in [`Record::FIELDS`].
    fn field(&self, name: &str) -> FieldValue;
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
}

/// A parsed (not yet typed) filter expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp {
        field: String,
        op: Op,
        /// The literal; `None` is the unquoted `null`.
        value: Option<String>,
    },
}

/// A filter compiled against a record type: literals parsed to field values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Filter {
    All,
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Cmp {
        field: &'static str,
        op: Op,
        value: FieldValue,
    },
}

impl Filter {
    /// Whether a record passes.
    pub fn matches<R: Record>(&self, record: &R) -> bool {
        match self {
            Self::All => true,
            Self::And(a, b) => a.matches(record) && b.matches(record),
            Self::Or(a, b) => a.matches(record) || b.matches(record),
            Self::Not(inner) => !inner.matches(record),
            Self::Cmp { field, op, value } => {
                let actual = record.field(field);
                // Ordering never matches null, like SQL.
                let ordering = !matches!(op, Op::Eq | Op::Ne);
                if ordering && (actual == FieldValue::Null || *value == FieldValue::Null) {
                    return false;
                }
                match op {
                    Op::Eq => actual == *value,
                    Op::Ne => actual != *value,
                    Op::Gt => actual > *value,
                    Op::Lt => actual < *value,
                    Op::Ge => actual >= *value,
                    Op::Le => actual <= *value,
                }
            }
        }
    }
}

/// Parses and compiles `q` for a record type. The error is a message for the 422.
pub(crate) fn compile<R: Record>(q: Option<&str>) -> Result<Filter, String> {
    match q.map(str::trim).filter(|q| !q.is_empty()) {
        None => Ok(Filter::All),
        Some(q) => typed::<R>(parse(q)?),
    }
}

fn typed<R: Record>(expr: Expr) -> Result<Filter, String> {
    Ok(match expr {
        Expr::And(a, b) => Filter::And(Box::new(typed::<R>(*a)?), Box::new(typed::<R>(*b)?)),
        Expr::Or(a, b) => Filter::Or(Box::new(typed::<R>(*a)?), Box::new(typed::<R>(*b)?)),
        Expr::Not(inner) => Filter::Not(Box::new(typed::<R>(*inner)?)),
        Expr::Cmp { field, op, value } => {
            let (name, kind, _) = R::FIELDS
                .iter()
                .find(|(name, _, _)| *name == field)
                .ok_or_else(|| {
                    let known: Vec<&str> = R::FIELDS.iter().map(|(name, _, _)| *name).collect();
                    format!("unknown field `{field}`; filterable: {}", known.join(", "))
                })?;
            if *kind == FieldKind::Id && !matches!(op, Op::Eq | Op::Ne) {
                return Err(format!(
                    "`{field}` supports only equality (`:`, `=`, `.eq:`, `.ne:`)"
                ));
            }
            Filter::Cmp {
                field: name,
                op,
                value: literal(field.as_str(), *kind, value.as_deref())?,
            }
        }
    })
}

/// Parses a literal for a field of the given kind.
pub(crate) fn literal(
    field: &str,
    kind: FieldKind,
    raw: Option<&str>,
) -> Result<FieldValue, String> {
    let Some(raw) = raw else {
        return Ok(FieldValue::Null);
    };
    match kind {
        FieldKind::Text => Ok(FieldValue::Text(raw.to_owned())),
        FieldKind::Id => Uuid::parse_str(raw)
            .map(|id| FieldValue::Text(id.to_string()))
            .map_err(|_| format!("`{field}` expects a UUID or null, got `{raw}`")),
        FieldKind::Int => raw
            .parse::<i64>()
            .map(FieldValue::Int)
            .map_err(|_| format!("`{field}` expects an integer, got `{raw}`")),
        FieldKind::Time => parse_time(raw)
            .map(FieldValue::time)
            .ok_or_else(|| format!("`{field}` expects an RFC 3339 time or a date, got `{raw}`")),
    }
}

fn parse_time(raw: &str) -> Option<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(raw, &Rfc3339) {
        return Some(t);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(raw, format)
        .ok()
        .map(|date| date.midnight().assume_utc())
}

/// Parses a filter expression.
pub(crate) fn parse(input: &str) -> Result<Expr, String> {
    let mut parser = Parser {
        chars: input.chars().collect(),
        pos: 0,
    };
    let expr = parser.or()?;
    parser.skip_ws();
    if parser.pos < parser.chars.len() {
        return Err(parser.error("unexpected input"));
    }
    Ok(expr)
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn error(&self, what: &str) -> String {
        let rest: String = self.chars[self.pos.min(self.chars.len())..]
            .iter()
            .take(20)
            .collect();
        if rest.is_empty() {
            format!("{what} at end of filter")
        } else {
            format!("{what} at character {}: `{rest}`", self.pos + 1)
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    /// Consumes `word` if it is the next token (followed by whitespace, `(` or the end).
    fn keyword(&mut self, word: &str) -> bool {
        self.skip_ws();
        let len = word.chars().count();
        let matches = self.chars.len() >= self.pos + len
            && self.chars[self.pos..self.pos + len]
                .iter()
                .copied()
                .eq(word.chars())
            && self
                .chars
                .get(self.pos + len)
                .is_none_or(|c| c.is_whitespace() || *c == '(');
        if matches {
            self.pos += len;
        }
        matches
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.keyword("OR") {
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        loop {
            if !self.keyword("AND") {
                // Juxtaposition is an implicit AND, unless an OR or `)` follows.
                self.skip_ws();
                let save = self.pos;
                let at_or = self.keyword("OR");
                self.pos = save;
                if at_or || self.peek().is_none_or(|c| c == ')') {
                    break;
                }
            }
            let right = self.unary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.keyword("NOT") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        self.skip_ws();
        if self.peek() == Some('(') {
            self.pos += 1;
            let inner = self.or()?;
            self.skip_ws();
            if self.peek() != Some(')') {
                return Err(self.error("expected `)`"));
            }
            self.pos += 1;
            return Ok(inner);
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, String> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            self.pos += 1;
        }
        if start == self.pos {
            return Err(self.error("expected a field name"));
        }
        let name: String = self.chars[start..self.pos].iter().collect();
        if let Some((field, suffix)) = name.rsplit_once('.') {
            return self.suffixed(start, field, suffix);
        }
        let op = match (self.peek(), self.chars.get(self.pos + 1).copied()) {
            (Some('>'), Some('=')) => Op::Ge,
            (Some('<'), Some('=')) => Op::Le,
            (Some('>'), _) => Op::Gt,
            (Some('<'), _) => Op::Lt,
            (Some(':' | '='), _) => Op::Eq,
            _ => return Err(self.error("expected an operator (`:`, `=`, `>`, `<`, `>=`, `<=`)")),
        };
        self.pos += if matches!(op, Op::Ge | Op::Le) { 2 } else { 1 };
        let value = self.value()?;
        Ok(Expr::Cmp {
            field: name,
            op,
            value,
        })
    }

    /// The rest of `field.op:value`, the field and suffix already read.
    fn suffixed(&mut self, start: usize, field: &str, suffix: &str) -> Result<Expr, String> {
        let op = match suffix.to_ascii_lowercase().as_str() {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "gt" => Op::Gt,
            "gte" => Op::Ge,
            "lt" => Op::Lt,
            "lte" => Op::Le,
            _ => {
                self.pos = start;
                return Err(self.error(&format!(
                    "unknown operator `.{suffix}` (use `.eq`, `.ne`, `.gt`, `.gte`, `.lt` or \
                     `.lte`, then `:`)"
                )));
            }
        };
        if field.is_empty() || field.contains('.') {
            self.pos = start;
            return Err(self.error("expected a field name before the operator"));
        }
        if self.peek() != Some(':') {
            return Err(self.error(&format!("expected `:` after `{field}.{suffix}`")));
        }
        self.pos += 1;
        let value = self.value()?;
        Ok(Expr::Cmp {
            field: field.to_owned(),
            op,
            value,
        })
    }

    /// A single- or double-quoted string, or a bare word up to whitespace or `)`; bare `null`
    /// is `None`.
    fn value(&mut self) -> Result<Option<String>, String> {
        if let Some(quote @ ('"' | '\'')) = self.peek() {
            self.pos += 1;
            let mut out = String::new();
            loop {
                match self.peek() {
                    None => return Err(self.error("unterminated string")),
                    Some(c) if c == quote => {
                        self.pos += 1;
                        return Ok(Some(out));
                    }
                    Some('\\') => {
                        let escaped = self
                            .chars
                            .get(self.pos + 1)
                            .copied()
                            .ok_or_else(|| self.error("unterminated string"))?;
                        out.push(escaped);
                        self.pos += 2;
                    }
                    Some(c) => {
                        out.push(c);
                        self.pos += 1;
                    }
                }
            }
        }
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| !c.is_whitespace() && !matches!(c, ')' | '(' | '"' | '\''))
        {
            self.pos += 1;
        }
        if start == self.pos {
            return Err(self.error("expected a value"));
        }
        let word: String = self.chars[start..self.pos].iter().collect();
        Ok((word != "null").then_some(word))
    }
}

#[cfg(test)]
mod tests;
