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
