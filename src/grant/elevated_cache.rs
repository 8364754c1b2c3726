//! The cached elevated token: one entry per API server + role + account, bound to the
//! cluster's CA (`cluster_ca`) so a cluster recreated at the same URL is not served it.

use crate::grant::cluster_ca;
use crate::secret::Secret;
use crate::token_cache::{CacheKey, TokenStore};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What `request` stores and the elevated `credential` serves; the token stays a `Secret`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub token: Secret<String>,
    pub expires_at: DateTime<Utc>,
    /// The grant record's name.
    pub grant: String,
    pub jti: String,
    pub server: String,
    pub role: String,
    pub account: String,
    /// The person's own context the grant was requested through.
    pub origin_context: String,
    /// The [`cluster_ca`] fingerprint of the CA the kubeconfig named for the cluster when the
    /// grant was made; absent in entries written before the binding (served unchecked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_ca: Option<String>,
}

impl Entry {
    pub fn key(&self) -> CacheKey {
        CacheKey::elevated(&self.server, &self.role, &self.account)
    }

    /// Whether the entry is for exactly this server, role and account.
    pub fn is_for(&self, server: &str, role: &str, account: &str) -> bool {
        self.server == server && self.role == role && self.account == account
    }
}

/// Stores `entry` under its key.
pub fn store(store: &dyn TokenStore, entry: &Entry) -> anyhow::Result<()> {
    let bytes = serde_json::to_vec(entry)?;
    store.set(&entry.key(), &Secret::new(bytes))?;
    Ok(())
}

/// Why a cached entry cannot be served.
#[derive(Debug, PartialEq, Eq)]
pub enum Miss {
    Absent,
    Unreadable,
    /// Stored under this key but for another server, role or account.
    Foreign,
    Expired(DateTime<Utc>),
    /// Issued under another CA than the one the kubeconfig now names for this server: the
    /// cluster was recreated at the same URL (or its CA changed).
    OtherCluster,
}

/// The entry under `key` if it is readable, for this server/role/account, and live past `now`.
pub fn load(
    store: &dyn TokenStore,
    server: &str,
    role: &str,
    account: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Result<Entry, Miss>> {
    let key = CacheKey::elevated(server, role, account);
    let Some(bytes) = store.get(&key)? else {
        return Ok(Err(Miss::Absent));
    };
    let Ok(entry) = serde_json::from_slice::<Entry>(bytes.expose()) else {
        return Ok(Err(Miss::Unreadable));
    };
    if !entry.is_for(server, role, account) {
        return Ok(Err(Miss::Foreign));
    }
    if entry.expires_at <= now {
        return Ok(Err(Miss::Expired(entry.expires_at)));
    }
    Ok(Ok(entry))
}

/// [`load`] for a cluster whose CA has the fingerprint `presented` (`None`: not known, e.g.
/// kubectl sent no `spec.cluster`): an entry issued under another CA is
/// [`Miss::OtherCluster`]. An entry that records no CA (written before the binding) is
/// served as before.
pub fn load_for_cluster(
    store: &dyn TokenStore,
    server: &str,
    role: &str,
    account: &str,
    presented: Option<&str>,
    now: DateTime<Utc>,
) -> anyhow::Result<Result<Entry, Miss>> {
    Ok(load(store, server, role, account, now)?.and_then(|entry| {
        match (presented, entry.cluster_ca.as_deref()) {
            (Some(current), Some(issued)) if current != issued => Err(Miss::OtherCluster),
            _ => Ok(entry),
        }
    }))
}

/// A live elevated token this machine holds, and the kubeconfig context that serves it.
pub struct Held {
    pub context: String,
    pub entry: Entry,
}

/// Every live elevated token the kubeconfig's `--elevated` exec entries would serve from
/// `store` (read from each entry's `--server`/`--role`/`--account`, and checked against
/// the context's cluster CA where the entry has kubectl provide it); best effort: a
/// kubeconfig or cache that cannot be read yields nothing.
pub fn held(
    config: &kube::config::Kubeconfig,
    store: &dyn TokenStore,
    now: DateTime<Utc>,
) -> Vec<Held> {
    let mut out = Vec::new();
    for ctx in &config.contexts {
        let Some(user) = ctx.context.as_ref().and_then(|c| c.user.clone()) else {
            continue;
        };
        let Some(exec) = config
            .auth_infos
            .iter()
            .find(|u| u.name == user)
            .and_then(|u| u.auth_info.as_ref())
            .and_then(|a| a.exec.as_ref())
        else {
            continue;
        };
        let Some(args) = exec.args.clone() else {
            continue;
        };
        if !args.iter().any(|a| a == "--elevated") {
            continue;
        }
        let flag = |name: &str| {
            let at = args.iter().position(|a| a == name)?;
            args.get(at + 1).cloned()
        };
        let (Some(server), Some(role), Some(account)) =
            (flag("--server"), flag("--role"), flag("--account"))
        else {
            continue;
        };
        // The CA kubectl would present for this context's cluster, as `credential` checks
        // it: only where the entry has kubectl provide it.
        let cluster_name = ctx.context.as_ref().map(|c| c.cluster.as_str());
        let presented = config
            .clusters
            .iter()
            .filter(|_| exec.provide_cluster_info)
            .find(|c| Some(c.name.as_str()) == cluster_name)
            .and_then(|c| Some((c.name.as_str(), c.cluster.as_ref()?)))
            .and_then(|(name, c)| crate::kubeconfig::certificate_authority(name, c).ok())
            .map(|ca| cluster_ca::fingerprint(&ca));
        let loaded = load_for_cluster(store, &server, &role, &account, presented.as_deref(), now);
        if let Ok(Ok(entry)) = loaded {
            out.push(Held {
                context: ctx.name.clone(),
                entry,
            });
        }
    }
    out
}

/// The context that serves grant `grant` (of `account` on `server`) from `store`: one
/// written for `origin` first, else any; `None` when no context of this kubeconfig serves
/// it (a grant made on another machine, or with `--no-kubeconfig`).
pub fn serving_context(
    config: &kube::config::Kubeconfig,
    store: &dyn TokenStore,
    now: DateTime<Utc>,
    grant: &str,
    server: &str,
    account: &str,
    origin: &str,
) -> Option<String> {
    let serving: Vec<Held> = held(config, store, now)
        .into_iter()
        .filter(|h| {
            h.entry.grant == grant && h.entry.server == server && h.entry.account == account
        })
        .collect();
    let own = format!("{origin}-breakglass");
    serving
        .iter()
        .find(|h| h.context == own || h.context.starts_with(&format!("{own}-")))
        .or(serving.first())
        .map(|h| h.context.clone())
}

/// The token of an entry, wrapped so it cannot be printed by accident.
pub fn token(entry: &Entry) -> Secret<String> {
    entry.token.clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token_cache::MemoryStore;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Whatever sits under the key (another version, a damaged item) is served only when
        /// it is exactly this grant's entry.
        #[test]
        fn any_cached_bytes_are_an_entry_or_a_miss(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
            json in crate::test_support::arb_json(),
        ) {
            let m = MemoryStore::default();
            let key = CacheKey::elevated("https://c", "cluster-admin", "alice@example.com");
            for value in [bytes, json.to_string().into_bytes()] {
                m.set(&key, &Secret::new(value)).unwrap();
                let got = load(&m, "https://c", "cluster-admin", "alice@example.com", Utc::now()).unwrap();
                if let Ok(e) = got {
                    proptest::prop_assert!(e.is_for("https://c", "cluster-admin", "alice@example.com"));
                }
            }
        }
    }

    fn entry(expires_at: DateTime<Utc>) -> Entry {
        Entry {
            token: Secret::new("eyJ.secret.sig".into()),
            expires_at,
            grant: "grant-000001".into(),
            jti: "j".into(),
            server: "https://c".into(),
            role: "cluster-admin".into(),
            account: "alice@example.com".into(),
            origin_context: "prod".into(),
            cluster_ca: None,
        }
    }

    #[test]
    fn serves_only_a_live_entry_for_exactly_this_grant() {
        let now = Utc::now();
        let m = MemoryStore::default();
        let load = |m: &MemoryStore, role: &str| {
            super::load(m, "https://c", role, "alice@example.com", now).unwrap()
        };
        assert_eq!(load(&m, "cluster-admin").unwrap_err(), Miss::Absent);
        store(&m, &entry(now + chrono::Duration::minutes(5))).unwrap();
        assert_eq!(load(&m, "cluster-admin").unwrap().grant, "grant-000001");
        assert_eq!(load(&m, "incident-debug").unwrap_err(), Miss::Absent);

        let stale = now - chrono::Duration::seconds(1);
        store(&m, &entry(stale)).unwrap();
        assert_eq!(load(&m, "cluster-admin").unwrap_err(), Miss::Expired(stale));

        // Stored under this key but naming another server: never served.
        let mut foreign = entry(now + chrono::Duration::minutes(5));
        foreign.server = "https://other".into();
        let bytes = Secret::new(serde_json::to_vec(&foreign).unwrap());
        let key = CacheKey::elevated("https://c", "cluster-admin", "alice@example.com");
        m.set(&key, &bytes).unwrap();
        assert_eq!(load(&m, "cluster-admin").unwrap_err(), Miss::Foreign);

        m.set(&key, &Secret::new(b"not json".to_vec())).unwrap();
        assert_eq!(load(&m, "cluster-admin").unwrap_err(), Miss::Unreadable);
    }

    /// prod-breakglass and prod-breakglass-cluster-admin, as a plain and an `--additional`
    /// request write them.
    fn two_contexts() -> kube::config::Kubeconfig {
        let user = |name: &str, role: &str| {
            serde_json::json!({"name": name, "user": {"exec": {
                "apiVersion": "client.authentication.k8s.io/v1",
                "command": "kubectl-breakglass",
                "args": ["credential", "--elevated", "--server", "https://c", "--role", role,
                         "--account", "alice@example.com", "--origin-context", "prod"],
            }}})
        };
        let context = |name: &str| serde_json::json!({"name": name, "context": {"cluster": "c", "user": name}});
        let doc = serde_json::json!({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "c", "cluster": {"server": "https://c"}}],
            "contexts": [context("prod-breakglass"), context("prod-breakglass-cluster-admin")],
            "users": [user("prod-breakglass", "incident-debug"),
                      user("prod-breakglass-cluster-admin", "cluster-admin")],
        });
        kube::config::Kubeconfig::from_yaml(&doc.to_string()).unwrap()
    }

    #[test]
    fn the_context_serving_a_grant_is_the_one_whose_entry_holds_it() {
        let now = Utc::now();
        let m = MemoryStore::default();
        let config = two_contexts();
        let mut plain = entry(now + chrono::Duration::minutes(5));
        plain.role = "incident-debug".into();
        let mut additional = plain.clone();
        additional.role = "cluster-admin".into();
        additional.grant = "grant-000002".into();
        store(&m, &additional).unwrap();
        let serving = |grant: &str, server: &str| {
            serving_context(&config, &m, now, grant, server, "alice@example.com", "prod")
        };
        assert_eq!(
            serving("grant-000002", "https://c").as_deref(),
            Some("prod-breakglass-cluster-admin")
        );
        // Not held here (the plain one was never cached), or held for another cluster.
        assert_eq!(serving("grant-000001", "https://c"), None);
        assert_eq!(serving("grant-000002", "https://other"), None);
        store(&m, &plain).unwrap();
        assert_eq!(
            serving("grant-000001", "https://c").as_deref(),
            Some("prod-breakglass")
        );
    }

    #[test]
    fn a_token_issued_under_another_ca_is_not_served() {
        let now = Utc::now();
        let m = MemoryStore::default();
        let old_ca = cluster_ca::fingerprint(b"-----BEGIN CERTIFICATE-----\nOLD\n");
        let new_ca = cluster_ca::fingerprint(b"-----BEGIN CERTIFICATE-----\nNEW\n");
        let load = |m: &MemoryStore, presented: Option<&str>| {
            let got = load_for_cluster(
                m,
                "https://c",
                "cluster-admin",
                "alice@example.com",
                presented,
                now,
            );
            got.unwrap().map(|e| e.grant)
        };
        let mut bound = entry(now + chrono::Duration::minutes(5));
        bound.cluster_ca = Some(old_ca.clone());
        store(&m, &bound).unwrap();
        assert_eq!(load(&m, Some(&old_ca)).unwrap(), "grant-000001");
        assert_eq!(load(&m, Some(&new_ca)).unwrap_err(), Miss::OtherCluster);
        // kubectl sent no cluster (a context written before the binding): not checked.
        assert_eq!(load(&m, None).unwrap(), "grant-000001");
        // An entry written before the binding has no CA: served as it always was.
        let json = serde_json::to_value(entry(now + chrono::Duration::minutes(5))).unwrap();
        assert!(json.get("clusterCa").is_none(), "{json}");
        store(&m, &entry(now + chrono::Duration::minutes(5))).unwrap();
        assert_eq!(load(&m, Some(&new_ca)).unwrap(), "grant-000001");
    }

    #[test]
    fn held_checks_the_ca_only_where_kubectl_would_present_it() {
        let now = Utc::now();
        let m = MemoryStore::default();
        let mut config = two_contexts();
        let mut bound = entry(now + chrono::Duration::minutes(5));
        bound.role = "cluster-admin".into();
        bound.cluster_ca = Some(cluster_ca::fingerprint(b"OLD CA"));
        store(&m, &bound).unwrap();
        let held_contexts = |config: &kube::config::Kubeconfig| {
            held(config, &m, now)
                .into_iter()
                .map(|h| h.context)
                .collect::<Vec<_>>()
        };
        // The cluster entry names no CA now, but the exec entry does not have kubectl pass it.
        assert_eq!(held_contexts(&config), ["prod-breakglass-cluster-admin"]);
        for user in &mut config.auth_infos {
            user.auth_info
                .as_mut()
                .unwrap()
                .exec
                .as_mut()
                .unwrap()
                .provide_cluster_info = true;
        }
        assert!(held_contexts(&config).is_empty());
        let cluster = config.clusters[0].cluster.as_mut().unwrap();
        cluster.certificate_authority_data = Some("T0xEIENB".into()); // "OLD CA"
        assert_eq!(held_contexts(&config), ["prod-breakglass-cluster-admin"]);
    }

    #[test]
    fn debug_never_shows_the_token() {
        let shown = format!("{:?}", entry(Utc::now()));
        assert!(
            !shown.contains("eyJ") && shown.contains("REDACTED"),
            "{shown}"
        );
    }
}
