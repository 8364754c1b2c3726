//! The seal: a data-less Secret that exists only to be the token's bound object.
//! Deleting it kills the token; its ownerReference to the record makes a seal forged
//! without a record die at the next garbage collection.

use super::record::{Grant, KIND};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use std::collections::BTreeMap;

/// The Secret type of every seal (admission policies match on it).
pub const SEAL_TYPE: &str = "breakglass.dev/seal";

/// Annotation on a seal naming the person it was made for (the record's requester, from
/// SelfSubjectReview); the admission policy requires it to be the caller.
pub const REQUESTER_ANNOTATION: &str = "breakglass.dev/requester";

/// Label on a seal naming its grant's role (also the middle of its name).
pub const ROLE_LABEL: &str = "breakglass.dev/role";

/// The seal's name for a record of `role`: `grant-NNNNNN-<role>-seal`. Deterministic, so undo
/// can delete it even after a lost response; it carries the role because a TokenRequest's
/// admission sees only the bound object's name, and the token policy ties the token's role
/// (the ServiceAccount) to the seal through it.
pub fn name_for(record_name: &str, role: &str) -> String {
    format!("{record_name}-{role}-seal")
}

/// Whether `name` can be a Secret's name at all (a DNS-1123 subdomain: lower-case letters,
/// digits, `-` and `.`, starting and ending with a letter or digit, at most 253). A record's
/// `status.sealName` is written by people too; one that no Secret can have is never sent to
/// the API server, where it would fail as a malformed request.
pub fn is_valid_name(name: &str) -> bool {
    let ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    !name.is_empty()
        && name.len() <= 253
        && name.chars().all(|c| ok(c) || c == '-' || c == '.')
        && name.starts_with(ok)
        && name.ends_with(ok)
}

/// The seal for a stored record (which must carry its uid).
pub fn build(record: &Grant) -> Secret {
    let labels = BTreeMap::from([
        (super::SEAL_LABEL.to_string(), "true".to_string()),
        (super::GRANT_LABEL.to_string(), record.name().to_string()),
        (ROLE_LABEL.to_string(), record.spec.role.clone()),
    ]);
    Secret {
        metadata: ObjectMeta {
            name: Some(name_for(record.name(), &record.spec.role)),
            namespace: Some(super::NAMESPACE.to_string()),
            labels: Some(labels),
            annotations: Some(BTreeMap::from([(
                REQUESTER_ANNOTATION.to_string(),
                record.spec.requester.clone(),
            )])),
            owner_references: Some(vec![OwnerReference {
                api_version: format!("{}/{}", super::GROUP, super::VERSION),
                kind: KIND.to_string(),
                name: record.name().to_string(),
                uid: record.metadata.uid.clone().unwrap_or_default(),
                // The record must outlive the seal: records are the audit trail.
                block_owner_deletion: Some(false),
                controller: Some(true),
            }]),
            ..ObjectMeta::default()
        },
        type_: Some(SEAL_TYPE.to_string()),
        ..Secret::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_a_secret_can_have_are_seal_names() {
        assert!(is_valid_name(&name_for("grant-000001", "incident-debug")));
        assert!(is_valid_name("grant-000001-seal"));
        for bad in [
            "",
            "grant-000001-\u{1b}[2J",
            "Grant-1-seal",
            "-x",
            "x-",
            "a b",
            &"a".repeat(254),
        ] {
            assert!(!is_valid_name(bad), "{bad:?}");
        }
    }
}
