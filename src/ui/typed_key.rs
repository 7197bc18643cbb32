//! A key being typed into a form: text like any other, except that its `Debug` shows only its
//! length, so a form holding one can derive `Debug` without ever logging the key.

/// What was typed or pasted into a key field.
#[derive(Default, Clone, PartialEq, Eq)]
pub struct TypedKey(String);

impl TypedKey {
    /// The text as typed.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text, for the field that edits it.
    pub fn buffer(&mut self) -> &mut String {
        &mut self.0
    }

    /// Forgets what was typed.
    pub fn clear(&mut self) {
        self.0.clear();
    }
}

impl From<&str> for TypedKey {
    fn from(text: &str) -> Self {
        Self(text.to_owned())
    }
}

impl std::fmt::Debug for TypedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<{} chars>", self.0.chars().count())
    }
}
