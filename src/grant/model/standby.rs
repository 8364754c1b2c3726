//! Standby credentials (issue 13) in the model: what the policy ConfigMap says about them
//! (the standby ServiceAccount's name → the person and the roles they may break glass into
//! with it; how long one lives), the policy check of a request made through one, and the
//! label that marks its record. `standby provision` writes the people; the admission
//! policies read the same keys as `params`, so the plugin and the cluster agree. See
//! docs/grant-protocol.md, "Standby credentials".
//!
//! Keys: `standby.lifetime` (Go duration, default 24h), and per ServiceAccount
//! `standby.<sa>.user` and `standby.<sa>.roles` (comma-separated).

use crate::grant::model::policy::{Allowed, Ask, Policy, Refused};
use crate::grant::model::record::Grant;
use crate::untrusted::Untrusted;
use std::collections::BTreeMap;
use std::time::Duration;

/// The namespace of the standby ServiceAccounts and their bound Secrets
/// (`deploy/standby/`); apart from `breakglass`, so its seal policies never apply.
pub const NAMESPACE: &str = "breakglass-standby";
/// The manifest that enables standby credentials.
pub const MANIFEST: &str = "deploy/standby/";
/// Label on a grant record made through a standby credential: the standby
/// ServiceAccount's name. The records policy requires it exactly then.
pub const RECORD_LABEL: &str = "breakglass.dev/standby";
/// The Secret type of a standby credential's bound Secret.
pub const BOND_TYPE: &str = "breakglass.dev/standby-bond";
/// The username prefix of every standby ServiceAccount.
pub const USER_PREFIX: &str = "system:serviceaccount:breakglass-standby:";

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
                let d = crate::grant::model::duration::parse_flag("standby.lifetime", text.trim())
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

    /// The policy check of a request `username` makes through the standby ServiceAccount
    /// `account` (its username or name): the account must still stand for them, the role
    /// must be one its `standby.<sa>.roles` gives it (instead of the person's groups, which
    /// a ServiceAccount does not have), and everything else as for anyone.
    pub fn check(
        &self,
        policy: &Policy,
        ask: &Ask,
        username: &str,
        account: &str,
    ) -> Result<Allowed, Refused> {
        let sa = account.strip_prefix(USER_PREFIX).unwrap_or(account);
        let holder = self
            .of_account(sa)
            .filter(|h| h.user == username)
            .ok_or_else(|| Refused::StandbyNotFor {
                account: Untrusted(sa).to_string(),
                username: Untrusted(username).to_string(),
            })?;
        let role = ask.role.unwrap_or(&policy.default_role);
        if !holder.roles.iter().any(|r| r == role) {
            return Err(Refused::StandbyRole {
                role: Untrusted(role).to_string(),
                roles: Untrusted(&holder.roles.join(", ")).to_string(),
                account: Untrusted(sa).to_string(),
            });
        }
        let groups = policy
            .role(role)
            .map(|r| r.groups.clone())
            .unwrap_or_default();
        policy.check(ask, username, &groups)
    }
}

/// `record`, labelled as made through the standby ServiceAccount `standby` (its username)
/// when there is one.
pub fn marked(mut record: Grant, standby: Option<&str>) -> Grant {
    if let Some(sa) = standby {
        let name = sa.strip_prefix(USER_PREFIX).unwrap_or(sa);
        record
            .metadata
            .labels
            .get_or_insert_with(Default::default)
            .insert(RECORD_LABEL.to_string(), name.to_string());
    }
    record
}

/// The standby ServiceAccount a record was made through, if any.
pub fn of_record(record: &Grant) -> Option<&str> {
    record
        .metadata
        .labels
        .as_ref()?
        .get(RECORD_LABEL)
        .map(String::as_str)
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
    use crate::grant::model::record::GrantSpec;
    use crate::grant::model::view::GrantView;

    fn record() -> Grant {
        Grant::new(
            "grant-000001",
            GrantSpec {
                requester: "alice@example.com".into(),
                requester_groups: vec![],
                reason: "SSO is down".into(),
                ticket: None,
                role: "incident-debug".into(),
                service_account: "incident-debug".into(),
                duration_seconds: 600,
                start_time: "2026-11-29T10:00:00Z".into(),
                expiry_time: "2026-11-29T10:10:00Z".into(),
                client_host: String::new(),
                plugin_version: String::new(),
                request_id: String::new(),
                sequence: 1,
                previous: None,
            },
        )
    }

    #[test]
    fn only_records_made_through_a_standby_credential_are_marked() {
        let plain = marked(record(), None);
        assert_eq!(of_record(&plain), None);
        let now = chrono::Utc::now();
        assert_eq!(
            GrantView::of(&plain, now).requester_shown(),
            "alice@example.com"
        );
        let sa = format!("{USER_PREFIX}standby-alice-1");
        let standby = marked(record(), Some(&sa));
        assert_eq!(of_record(&standby), Some("standby-alice-1"));
        let view = GrantView::of(&standby, now);
        assert_eq!(view.standby.as_deref(), Some("standby-alice-1"));
        assert_eq!(view.requester_shown(), "alice@example.com (standby)");
        // The chain hashes name and spec only: marking changes neither.
        assert_eq!(
            crate::grant::model::chain::digest_of(&plain),
            crate::grant::model::chain::digest_of(&standby)
        );
    }

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
            assert!(crate::grant::model::seal::is_valid_name(&n), "{n}");
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
