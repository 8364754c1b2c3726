//! The standby credential (issue 13): a per-person ServiceAccount token, minted with the
//! person's own OIDC identity while the identity provider works, that can do nothing but
//! the grant protocol — so an IdP outage does not stop break glass. See
//! docs/grant-protocol.md, "Standby credentials".

pub mod cache;
pub mod config;
pub mod connect;
pub mod mint;
pub mod provision;

use crate::grant::cluster::Whoami;
use crate::grant::record::Grant;

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

/// `record`, labelled as made through the standby credential when `me` is one.
pub fn marked(mut record: Grant, me: &Whoami) -> Grant {
    if let Some(sa) = me.standby.as_deref() {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grant::record::GrantSpec;
    use crate::grant::view::GrantView;

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

    fn me(standby: Option<&str>) -> Whoami {
        Whoami {
            username: "alice@example.com".into(),
            groups: vec![],
            standby: standby.map(str::to_string),
        }
    }

    #[test]
    fn only_records_made_through_a_standby_credential_are_marked() {
        let plain = marked(record(), &me(None));
        assert_eq!(of_record(&plain), None);
        let now = chrono::Utc::now();
        assert_eq!(
            GrantView::of(&plain, now).requester_shown(),
            "alice@example.com"
        );
        let sa = format!("{USER_PREFIX}standby-alice-1");
        let standby = marked(record(), &me(Some(&sa)));
        assert_eq!(of_record(&standby), Some("standby-alice-1"));
        let view = GrantView::of(&standby, now);
        assert_eq!(view.standby.as_deref(), Some("standby-alice-1"));
        assert_eq!(view.requester_shown(), "alice@example.com (standby)");
        // The chain hashes name and spec only: marking changes neither.
        assert_eq!(
            crate::grant::chain::digest_of(&plain),
            crate::grant::chain::digest_of(&standby)
        );
    }
}
