//! What the policy ConfigMap says about standby credentials: who holds one (the standby
//! ServiceAccount's name → the person and the roles they may break glass into with it) and
//! how long one lives. `standby provision` writes the people; the admission policies read
//! the same keys as `params`, so the plugin and the cluster agree.
//!
//! Keys: `standby.lifetime` (Go duration, default 24h), and per ServiceAccount
//! `standby.<sa>.user` and `standby.<sa>.roles` (comma-separated).

use std::collections::BTreeMap;
use std::time::Duration;

/// Default standby lifetime: a day, so a credential renewed at every login outlives a
/// weekend's IdP outage only if renewed on Friday — and no stolen one lives longer.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// The API server refuses TokenRequests under 10 minutes.
const MIN_LIFETIME: Duration = Duration::from_secs(600);

/// One person's standby entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// The ServiceAccount's name in [`super::NAMESPACE`].
    pub service_account: String,
    pub user: String,
    pub roles: Vec<String>,
}

/// The standby part of the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standby {
    pub lifetime: Duration,
    pub holders: Vec<Holder>,
}

impl Standby {
    /// Reads the standby keys of the policy ConfigMap's data.
    pub fn from_data(data: &BTreeMap<String, String>) -> anyhow::Result<Standby> {
        let lifetime = match data.get("standby.lifetime") {
            None => DEFAULT_LIFETIME,
            Some(text) => {
                let d = crate::grant::duration::parse_flag("standby.lifetime", text.trim())
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "the break-glass policy's standby.lifetime is malformed ({e}); an \
                             admin must fix it (see deploy/03-policy.yaml)"
                        )
                    })?;
                d.max(MIN_LIFETIME)
            }
        };
        let mut holders = Vec::new();
        for (key, user) in data {
            let Some(sa) = key
                .strip_prefix("standby.")
                .and_then(|k| k.strip_suffix(".user"))
            else {
                continue;
            };
            let roles = data
                .get(&roles_key(sa))
                .map(|r| {
                    r.split(',')
                        .map(str::trim)
                        .filter(|r| !r.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            holders.push(Holder {
                service_account: sa.to_string(),
                user: user.trim().to_string(),
                roles,
            });
        }
        Ok(Standby { lifetime, holders })
    }

    /// The standby entry of `user`, if an admin provisioned one.
    pub fn of_user(&self, user: &str) -> Option<&Holder> {
        self.holders.iter().find(|h| h.user == user)
    }

    /// The entry of the standby ServiceAccount `sa` (its name).
    pub fn of_account(&self, sa: &str) -> Option<&Holder> {
        self.holders.iter().find(|h| h.service_account == sa)
    }
}

/// The standby part of the cluster's policy ConfigMap (which everyone signed in may read).
pub async fn read(cluster: &crate::grant::cluster::Cluster) -> anyhow::Result<Standby> {
    use crate::grant::policy::POLICY_NAME;
    use k8s_openapi::api::core::v1::ConfigMap;
    let api: kube::Api<ConfigMap> =
        kube::Api::namespaced(cluster.client.clone(), crate::grant::NAMESPACE);
    let cm = api.get_opt(POLICY_NAME).await.map_err(|e| {
        crate::grant::cluster::explain(
            e,
            &cluster.server,
            &cluster.context,
            "reading the break-glass policy",
        )
    })?;
    let Some(cm) = cm else {
        anyhow::bail!(
            "the cluster has no break-glass policy (ConfigMap {}/{POLICY_NAME}); {}",
            crate::grant::NAMESPACE,
            crate::grant::INSTALL_HINT
        );
    };
    Standby::from_data(&cm.data.unwrap_or_default())
}

/// Policy key naming the person a standby ServiceAccount stands for.
pub fn user_key(sa: &str) -> String {
    format!("standby.{sa}.user")
}

/// Policy key listing the roles a standby ServiceAccount may break glass into.
pub fn roles_key(sa: &str) -> String {
    format!("standby.{sa}.roles")
}

/// The standby ServiceAccount's name for `user`: a readable slug of the name plus a digest
/// of it (two people whose names slug alike still get two accounts), a valid DNS label.
pub fn account_name(user: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = hex::encode(&Sha256::digest(user.as_bytes())[..4]);
    let mut slug: String = user
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    slug.truncate(40);
    let slug = slug.trim_matches('-');
    let slug = if slug.is_empty() { "user" } else { slug };
    let mut name = format!("standby-{slug}");
    while name.contains("--") {
        name = name.replace("--", "-");
    }
    format!("{name}-{digest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_names_are_dns_labels_and_tell_people_apart() {
        let a = account_name("alice@example.com");
        assert!(a.starts_with("standby-alice-example-com-"), "{a}");
        assert_ne!(a, account_name("alice.example@com"));
        for user in [
            "alice@example.com",
            "---",
            "",
            &"x".repeat(300),
            "Ünïcode Näme",
        ] {
            let n = account_name(user);
            assert!(n.len() <= 63, "{n}");
            assert!(crate::grant::seal::is_valid_name(&n), "{n}");
            assert!(!n.contains("--"), "{n}");
        }
    }

    #[test]
    fn holders_and_lifetime_come_from_the_policy() {
        let data = BTreeMap::from([
            ("roles".to_string(), "incident-debug".to_string()),
            ("standby.lifetime".to_string(), "12h".to_string()),
            (
                "standby.standby-a-1.user".to_string(),
                "alice@example.com".to_string(),
            ),
            (
                "standby.standby-a-1.roles".to_string(),
                "incident-debug, cluster-admin".to_string(),
            ),
        ]);
        let s = Standby::from_data(&data).unwrap();
        assert_eq!(s.lifetime, Duration::from_secs(12 * 3600));
        let h = s.of_user("alice@example.com").unwrap();
        assert_eq!(h.service_account, "standby-a-1");
        assert_eq!(h.roles, ["incident-debug", "cluster-admin"]);
        assert!(s.of_user("bob@example.com").is_none());
        let none = Standby::from_data(&BTreeMap::new()).unwrap();
        assert_eq!(none.lifetime, DEFAULT_LIFETIME);
        assert!(none.holders.is_empty());
        let bad = BTreeMap::from([("standby.lifetime".to_string(), "soon".to_string())]);
        assert!(Standby::from_data(&bad).is_err());
    }
}
