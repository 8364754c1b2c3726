//! The person's cached identity: one JSON item per issuer + client + account,
//! plus a non-secret pointer to the account last logged in (so the exec
//! credential, which does not know the account, finds it in two reads).

use crate::secret::Secret;
use crate::token_cache::{CacheError, CacheKey, TokenStore};
use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// Longest margin before `exp` at which we stop serving an ID token.
const MAX_MARGIN_SECS: i64 = 60;

/// One cached login; its tokens stay `Secret`s (serialised as bare strings).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Entry {
    /// Format version.
    pub v: u32,
    /// The username claim (default `email`), else `sub`: the account half of the cache key.
    pub account: String,
    /// `email` claim, if any.
    #[serde(default)]
    pub email: Option<String>,
    /// `groups` claim.
    #[serde(default)]
    pub groups: Vec<String>,
    /// The ID token.
    pub id_token: Secret<String>,
    /// `iat`, unix seconds.
    pub issued_at: i64,
    /// `exp`, unix seconds.
    pub expires_at: i64,
    /// The refresh token, when the IdP gave one.
    #[serde(default)]
    pub refresh_token: Option<Secret<String>>,
    /// Seconds the IdP's clock was ahead of ours at login (negative: behind); the times
    /// above are on our clock already.
    #[serde(default)]
    pub clock_skew: i64,
}

/// The pointer item: which account is current for an issuer + client.
#[derive(Serialize, Deserialize)]
struct Current {
    account: String,
}

impl Entry {
    /// When to stop serving the ID token and refresh instead: `exp` minus a
    /// quarter of its lifetime, at most 60 s. This is also the
    /// `expirationTimestamp` we give kubectl, so it asks again just then.
    pub fn refresh_at(&self) -> DateTime<Utc> {
        // Saturating: the item is read back from a store, and its numbers may be anything.
        let lifetime = self.expires_at.saturating_sub(self.issued_at).max(0);
        let margin = (lifetime / 4).min(MAX_MARGIN_SECS);
        Utc.timestamp_opt(self.expires_at.saturating_sub(margin), 0)
            .single()
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// The ID token's real expiry.
    pub fn expires(&self) -> DateTime<Utc> {
        Utc.timestamp_opt(self.expires_at, 0)
            .single()
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// True while the ID token may be served without refreshing.
    pub fn is_fresh(&self, now: DateTime<Utc>) -> bool {
        now < self.refresh_at()
    }

    /// Parses a stored item; a damaged item reads as absent (log in again).
    pub fn decode(bytes: &Secret<Vec<u8>>) -> Option<Entry> {
        serde_json::from_slice::<Entry>(bytes.expose())
            .ok()
            .filter(|e| e.v == 1)
    }

    fn encode(&self) -> Secret<Vec<u8>> {
        Secret::new(serde_json::to_vec(self).expect("serialising strings and numbers cannot fail"))
    }
}

/// The current account for `issuer` + `client_id`, if any.
pub fn current_account(
    store: &dyn TokenStore,
    issuer: &str,
    client_id: &str,
) -> Result<Option<String>, CacheError> {
    let Some(bytes) = store.get(&CacheKey::current_account(issuer, client_id))? else {
        return Ok(None);
    };
    Ok(serde_json::from_slice::<Current>(bytes.expose())
        .ok()
        .map(|c| c.account))
}

/// The cached entry of the current account, if any.
pub fn load(
    store: &dyn TokenStore,
    issuer: &str,
    client_id: &str,
) -> Result<Option<Entry>, CacheError> {
    let Some(account) = current_account(store, issuer, client_id)? else {
        return Ok(None);
    };
    let Some(bytes) = store.get(&CacheKey::identity(issuer, client_id, &account))? else {
        return Ok(None);
    };
    Ok(Entry::decode(&bytes).filter(|e| e.account == account))
}

/// Stores `entry` and makes its account the current one.
pub fn save(
    store: &dyn TokenStore,
    issuer: &str,
    client_id: &str,
    entry: &Entry,
) -> Result<(), CacheError> {
    store.set(
        &CacheKey::identity(issuer, client_id, &entry.account),
        &entry.encode(),
    )?;
    let pointer = serde_json::to_vec(&Current {
        account: entry.account.clone(),
    })
    .expect("plain string");
    store.set(
        &CacheKey::current_account(issuer, client_id),
        &Secret::new(pointer),
    )
}

/// Removes the current account's entry and the pointer; returns the account removed.
pub fn remove(
    store: &dyn TokenStore,
    issuer: &str,
    client_id: &str,
) -> Result<Option<String>, CacheError> {
    let account = current_account(store, issuer, client_id)?;
    let mut removed = None;
    if let Some(account) = &account {
        if store.delete(&CacheKey::identity(issuer, client_id, account))? {
            removed = Some(account.clone());
        }
    }
    store.delete(&CacheKey::current_account(issuer, client_id))?;
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(iat: i64, exp: i64) -> Entry {
        Entry {
            v: 1,
            account: "a@example.com".into(),
            email: None,
            groups: vec![],
            id_token: Secret::new("SECRET-ID".into()),
            issued_at: iat,
            expires_at: exp,
            refresh_token: Some(Secret::new("SECRET-RT".into())),
            clock_skew: 0,
        }
    }

    #[test]
    fn margin_is_a_quarter_of_the_lifetime_at_most_a_minute() {
        let e = entry(1_000, 1_000 + 3600);
        assert_eq!(e.refresh_at().timestamp(), 1_000 + 3600 - 60);
        let short = entry(1_000, 1_020);
        assert_eq!(short.refresh_at().timestamp(), 1_015);
        let at = |t: i64| Utc.timestamp_opt(t, 0).unwrap();
        assert!(short.is_fresh(at(1_014)));
        assert!(!short.is_fresh(at(1_015)));
        assert!(e.is_fresh(at(4_539)));
        assert!(!e.is_fresh(at(4_540)));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Whatever a store hands back is an entry or nothing; its times never panic.
        #[test]
        fn any_stored_item_decodes_or_reads_as_absent(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256),
            iat in proptest::prelude::any::<i64>(),
            exp in proptest::prelude::any::<i64>(),
            now in proptest::prelude::any::<i64>(),
        ) {
            let _ = Entry::decode(&Secret::new(bytes));
            let e = entry(iat, exp);
            let at = Utc.timestamp_opt(now.clamp(-8_000_000_000_000, 8_000_000_000_000), 0).single();
            let _ = (e.refresh_at(), e.expires());
            if let Some(at) = at {
                let _ = e.is_fresh(at);
            }
            let json = serde_json::to_vec(&e).unwrap();
            proptest::prop_assert!(Entry::decode(&Secret::new(json)).is_some());
        }
    }

    #[test]
    fn debug_hides_tokens() {
        let shown = format!("{:?}", entry(0, 10));
        assert!(!shown.contains("SECRET"), "{shown}");
    }
}
