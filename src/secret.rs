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

/// Serialises as the bare value, so a cache entry can keep its tokens as `Secret`s; only
/// the token cache writes such entries, and only into a store that is itself secret.
impl<T: serde::Serialize> serde::Serialize for Secret<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Secret<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Secret)
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

    #[test]
    fn serde_sees_the_bare_value() {
        let s = Secret::new("t0k3n".to_string());
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, "\"t0k3n\"");
        let back: Secret<String> = serde_json::from_str(&json).unwrap();
        assert_eq!(back.expose(), "t0k3n");
    }
}
