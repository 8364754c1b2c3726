//! Cache keys: what a token is for, hashed into a name every backend accepts.

use sha2::{Digest, Sha256};

/// Names one cached item. The name is a digest of its parts, so accounts,
/// issuers and clusters never collide and no store sees raw URLs or emails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheKey {
    kind: &'static str,
    id: String,
}

impl CacheKey {
    /// The person's own OIDC tokens: issuer + client id + account.
    pub fn identity(issuer: &str, client_id: &str, account: &str) -> CacheKey {
        CacheKey::new("identity", &[issuer, client_id, account])
    }

    /// Which account last logged in with this issuer + client id (not secret).
    pub fn current_account(issuer: &str, client_id: &str) -> CacheKey {
        CacheKey::new("account", &[issuer, client_id])
    }

    /// An elevated break-glass token: API server + role + account.
    pub fn elevated(server: &str, role: &str, account: &str) -> CacheKey {
        CacheKey::new("elevated", &[server, role, account])
    }

    /// A person's standby credential (issue 13): API server + account.
    pub fn standby(server: &str, account: &str) -> CacheKey {
        CacheKey::new("standby", &[server, account])
    }

    fn new(kind: &'static str, parts: &[&str]) -> CacheKey {
        let mut hash = Sha256::new();
        for part in parts {
            // Length-prefixed so ("ab","c") and ("a","bc") differ.
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part.as_bytes());
        }
        let digest = hex::encode(&hash.finalize()[..16]);
        CacheKey {
            kind,
            id: format!("kubectl-breakglass:{kind}:{digest}"),
        }
    }

    /// The key's name in a store, e.g. `kubectl-breakglass:identity:0f3a…`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// What kind of item this is (`identity`, `account`, `elevated`).
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// The key of the `n`th continuation chunk of a value split across items.
    pub(crate) fn chunk(&self, n: usize) -> CacheKey {
        CacheKey {
            kind: self.kind,
            id: format!("{}:part{n}", self.id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_separate_accounts_issuers_and_kinds() {
        let a = CacheKey::identity("https://idp", "kb", "alice@example.com");
        let b = CacheKey::identity("https://idp", "kb", "bob@example.com");
        let c = CacheKey::identity("https://idp2", "kb", "alice@example.com");
        let d = CacheKey::elevated("https://idp", "kb", "alice@example.com");
        let e = CacheKey::identity("https://idpk", "b", "alice@example.com");
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_ne!(a.id().rsplit(':').next(), None);
        assert_ne!(a.id(), e.id());
        assert!(d.id().starts_with("kubectl-breakglass:elevated:"));
        assert_eq!(
            a,
            CacheKey::identity("https://idp", "kb", "alice@example.com")
        );
        assert!(!a.id().contains("alice"));
    }
}
