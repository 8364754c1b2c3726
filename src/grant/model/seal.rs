//! The seal: a data-less Secret that exists only to be the token's bound object.
//! Deleting it kills the token; its ownerReference to the record makes a seal forged
//! without a record die at the next garbage collection.

use crate::grant::model::record::{Grant, State, KIND};
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
        (crate::grant::SEAL_LABEL.to_string(), "true".to_string()),
        (
            crate::grant::GRANT_LABEL.to_string(),
            record.name().to_string(),
        ),
        (ROLE_LABEL.to_string(), record.spec.role.clone()),
    ]);
    Secret {
        metadata: ObjectMeta {
            name: Some(name_for(record.name(), &record.spec.role)),
            namespace: Some(crate::grant::NAMESPACE.to_string()),
            labels: Some(labels),
            annotations: Some(BTreeMap::from([(
                REQUESTER_ANNOTATION.to_string(),
                record.spec.requester.clone(),
            )])),
            owner_references: Some(vec![OwnerReference {
                api_version: format!("{}/{}", crate::grant::GROUP, crate::grant::VERSION),
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

/// The seal name a record uses: the one recorded on it, else the one the plugin gives it.
pub fn seal_of(records: &[Grant], grant: &str) -> String {
    let g = records.iter().find(|g| g.name() == grant);
    g.and_then(recorded_seal)
        .or_else(|| g.map(|g| name_for(grant, &g.spec.role)))
        .unwrap_or_else(|| format!("{grant}-seal"))
}

/// The record a seal claims to serve: its owner, else its label, else its name.
pub fn claimed_record(s: &Secret) -> String {
    let name = s.metadata.name.clone().unwrap_or_default();
    s.metadata
        .owner_references
        .as_ref()
        .and_then(|o| o.first().map(|o| o.name.clone()))
        .or_else(|| {
            s.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(crate::grant::GRANT_LABEL).cloned())
        })
        .unwrap_or_else(|| record_in_name(&name))
}

/// The seal name recorded on `g`, if it is one a Secret can have.
fn recorded_seal(g: &Grant) -> Option<String> {
    g.status
        .as_ref()
        .and_then(|s| s.seal_name.clone())
        .filter(|n| is_valid_name(n))
}

/// The record a seal's name points at: `grant-NNNNNN` of `grant-NNNNNN-<role>-seal` (or of
/// the older `grant-NNNNNN-seal`).
fn record_in_name(seal: &str) -> String {
    let rest = seal.strip_prefix("grant-").unwrap_or(seal);
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    if digits.is_empty() {
        seal.trim_end_matches("-seal").to_string()
    } else {
        format!("grant-{digits}")
    }
}

/// Why a seal serves no live grant, or `None` when it serves one.
pub fn stray_reason(
    records: &[Grant],
    s: &Secret,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<String> {
    let name = s.metadata.name.clone().unwrap_or_default();
    let claimed = claimed_record(s);
    let Some(g) = records.iter().find(|g| g.name() == claimed) else {
        return Some(format!("its record {claimed} does not exist"));
    };
    let status = g.status.clone().unwrap_or_default();
    let same_seal = status.seal_name.as_deref().is_none_or(|n| n == name)
        && status
            .seal_uid
            .as_deref()
            .is_none_or(|u| s.metadata.uid.as_deref() == Some(u));
    match g.state() {
        Some(State::Active) if g.is_live(now) && same_seal => None,
        Some(State::Active) if g.is_live(now) => Some(format!(
            "it is not the seal recorded on {claimed} (a re-created or forged one)"
        )),
        Some(State::Active) => Some(format!("{claimed} expired at {}", g.spec.expiry_time)),
        Some(State::Revoked) => Some(format!("{claimed} is Revoked")),
        Some(State::Failed) => Some(format!("{claimed} is Failed")),
        None | Some(State::Pending) => Some(format!(
            "{claimed} is Pending (a request in progress or abandoned)"
        )),
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
