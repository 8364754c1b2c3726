//! The cached standby credential (issue 13): one entry per API server + account (the login's
//! account on this machine, as the identity cache names it: keyrings are shared by every
//! session of an OS user), in the same token cache as the person's login and elevated
//! tokens. Read only when `request`/`revoke`/`status`/`drill` connect through it and by
//! renewal — never by the `credential` hot path.

use crate::global::Global;
use crate::kubeconfig::ContextInfo;
use crate::secret::Secret;
use crate::token_cache::{CacheKey, TokenStore};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What renewal stores.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub token: Secret<String>,
    pub server: String,
    /// The login's account on this machine it is cached for.
    pub account: String,
    /// The person it stands for (their OIDC username when it was minted).
    pub user: String,
    /// The standby ServiceAccount's name.
    pub service_account: String,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The token's credential id, as in the API server's audit log.
    pub jti: String,
}

impl Entry {
    /// Whether less than half of its lifetime is left at `now` (time to renew).
    pub fn wants_renewal(&self, now: DateTime<Utc>) -> bool {
        let half = (self.expires_at - self.issued_at) / 2;
        self.expires_at - now < half
    }
}

/// Stores `entry` under its server's key.
pub fn store(store: &dyn TokenStore, entry: &Entry) -> anyhow::Result<()> {
    let bytes = serde_json::to_vec(entry)?;
    store.set(
        &CacheKey::standby(&entry.server, &entry.account),
        &Secret::new(bytes),
    )?;
    Ok(())
}

/// The entry for `server` and `account`, whatever its age (`None`: nothing readable held).
pub fn load(store: &dyn TokenStore, server: &str, account: &str) -> anyhow::Result<Option<Entry>> {
    let Some(bytes) = store.get(&CacheKey::standby(server, account))? else {
        return Ok(None);
    };
    Ok(serde_json::from_slice::<Entry>(bytes.expose())
        .ok()
        .filter(|e| e.server == server && e.account == account))
}

/// Removes the entry for `server` and `account`; `true` when one was there.
pub fn delete(store: &dyn TokenStore, server: &str, account: &str) -> anyhow::Result<bool> {
    Ok(store.delete(&CacheKey::standby(server, account))?)
}

/// The person's own context: the named one (or the current one), or, for a
/// `<context>-breakglass` context, the context it came from.
pub fn own_context(global: &Global) -> anyhow::Result<ContextInfo> {
    let loaded = crate::kubeconfig::load(global)?;
    let ctx = loaded.context(global.context.as_deref())?;
    match &ctx.origin_context {
        Some(origin) => loaded.context(Some(origin)),
        None => Ok(ctx),
    }
}

/// The account the person's login is cached under on this machine for their own context
/// (no network); `None` when it does not use this plugin's identity or nobody is logged in.
pub fn login_account(global: &Global, store: &dyn TokenStore) -> anyhow::Result<Option<String>> {
    let ctx = own_context(global)?;
    let Some(idp) = ctx.idp.as_ref() else {
        return Ok(None);
    };
    let settings = crate::identity::idp_settings(global, idp)?;
    Ok(crate::identity::entry::current_account(
        store,
        &settings.issuer,
        &settings.client_id,
    )?)
}

/// Removes the standby credentials held for every cluster of the kubeconfig (`logout`);
/// returns the servers it removed one for. Best effort.
pub fn forget_all(global: &Global, store: &dyn TokenStore, account: &str) -> Vec<String> {
    let Ok(loaded) = crate::kubeconfig::load(global) else {
        return Vec::new();
    };
    let mut servers: Vec<String> = loaded
        .config()
        .clusters
        .iter()
        .filter_map(|c| c.cluster.as_ref()?.server.clone())
        .collect();
    servers.sort();
    servers.dedup();
    servers
        .into_iter()
        .filter(|s| delete(store, s, account).unwrap_or(false))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token_cache::MemoryStore;

    fn entry(issued: i64, expires: i64) -> Entry {
        Entry {
            token: Secret::new("t".into()),
            server: "https://k".into(),
            account: "alice@example.com".into(),
            user: "alice@example.com".into(),
            service_account: "standby-alice".into(),
            issued_at: DateTime::from_timestamp(issued, 0).unwrap(),
            expires_at: DateTime::from_timestamp(expires, 0).unwrap(),
            jti: "j".into(),
        }
    }

    #[test]
    fn renewal_is_due_with_less_than_half_left() {
        let e = entry(0, 1000);
        assert!(!e.wants_renewal(DateTime::from_timestamp(400, 0).unwrap()));
        assert!(e.wants_renewal(DateTime::from_timestamp(501, 0).unwrap()));
        assert!(e.wants_renewal(DateTime::from_timestamp(2000, 0).unwrap()));
    }

    #[test]
    fn stored_per_server_and_never_printed() {
        let s = MemoryStore::default();
        store(&s, &entry(0, 1000)).unwrap();
        let alice = "alice@example.com";
        assert!(load(&s, "https://k", alice).unwrap().is_some());
        assert!(load(&s, "https://other", alice).unwrap().is_none());
        assert!(load(&s, "https://k", "bob@example.com").unwrap().is_none());
        assert!(!format!("{:?}", entry(0, 1)).contains("\"t\""));
        assert!(delete(&s, "https://k", alice).unwrap());
        assert!(load(&s, "https://k", alice).unwrap().is_none());
    }
}
