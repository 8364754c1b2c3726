//! Secrets as a type: no Display, a redacting Debug, an explicit `expose()`.

use std::fmt;

/// A value that must never reach a log, an error message or stdout by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a secret value.
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    /// The secret value itself; call only where it must leave the program.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// Unwraps the secret value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Secret(value)
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(REDACTED)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let s = Secret::new("eyJhbGciOi.secret".to_string());
        let shown = format!("{s:?} {:?}", Some(&s));
        assert!(!shown.contains("eyJ"), "{shown}");
        assert!(shown.contains("REDACTED"));
        assert_eq!(s.expose(), "eyJhbGciOi.secret");
    }
}
