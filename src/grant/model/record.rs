//! The grant record: a `BreakGlassGrant` custom resource (`deploy/01-crd.yaml`), the audit trail.
//!
//! `spec` is written once and never changes (an admission policy enforces it); `status`
//! carries what the protocol learns later: the token's `jti`, the seal, the final state.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::NamespaceResourceScope;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// Kind of the grant record.
pub const KIND: &str = "BreakGlassGrant";
/// Plural (resource) name of the grant record.
pub const PLURAL: &str = "breakglassgrants";
/// The manifest that installs the CRD.
pub const CRD_MANIFEST: &str = "deploy/01-crd.yaml";
/// Label every record carries from its creation: its `spec.expiryTime` in Unix seconds.
/// The admission policy pins it to the spec at create and keeps it unchanged, so the
/// records that may still be live are found with a label selector (`>` a time) instead of
/// a list of the whole history.
pub const LIVE_UNTIL_LABEL: &str = "breakglass.dev/live-until";

/// One grant record.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Grant {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: GrantSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<GrantStatus>,
}

/// What was asked for, by whom, and where the record sits in the hash chain. Immutable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GrantSpec {
    /// Username from SelfSubjectReview, as the API server authenticated the person.
    pub requester: String,
    #[serde(default)]
    pub requester_groups: Vec<String>,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    pub role: String,
    /// The role's ServiceAccount in the break-glass namespace.
    pub service_account: String,
    pub duration_seconds: i64,
    /// RFC 3339, UTC, whole seconds.
    pub start_time: String,
    pub expiry_time: String,
    pub client_host: String,
    pub plugin_version: String,
    /// Random id of the request that wrote the record, to recognise it after a lost response.
    pub request_id: String,
    /// Position in the hash chain, 1 for the first record.
    pub sequence: i64,
    /// The previous record (none for the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<PreviousRecord>,
}

/// Link to the previous record of the hash chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreviousRecord {
    pub name: String,
    /// `sha256:<hex>` of the previous record's name and spec (see `chain.rs`).
    pub digest: String,
}

/// What the protocol learned after the record was written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GrantStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<State>,
    /// The token's credential id, as in the audit log's `authentication.kubernetes.io/credential-id: JTI=...`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal_uid: Option<String>,
    /// Why the request failed (state Failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    /// Whether the cluster was seen rejecting the token (false: only the seal's deletion was seen).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_confirmed: Option<bool>,
    /// Seconds from deleting the seal until the cluster rejected the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_confirmed_after_seconds: Option<f64>,
}

/// Lifecycle of a grant. Expiry is not a state: it is `spec.expiryTime` passing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum State {
    /// Record written, token not yet issued (or the requester died mid-way).
    Pending,
    /// Token issued and recorded.
    Active,
    /// The request failed and was undone.
    Failed,
    Revoked,
}

impl Grant {
    /// A new record for the break-glass namespace, labelled with its expiry
    /// ([`LIVE_UNTIL_LABEL`]).
    pub fn new(name: &str, spec: GrantSpec) -> Grant {
        let labels = live_until(&spec.expiry_time)
            .map(|t| [(LIVE_UNTIL_LABEL.to_string(), t.to_string())].into());
        Grant {
            api_version: format!("{}/{}", crate::grant::GROUP, crate::grant::VERSION),
            kind: KIND.to_string(),
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                namespace: Some(crate::grant::NAMESPACE.to_string()),
                labels,
                ..ObjectMeta::default()
            },
            spec,
            status: None,
        }
    }

    pub fn name(&self) -> &str {
        self.metadata.name.as_deref().unwrap_or_default()
    }

    pub fn state(&self) -> Option<State> {
        self.status.as_ref().and_then(|s| s.state)
    }

    pub fn expiry(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        chrono::DateTime::parse_from_rfc3339(&self.spec.expiry_time)
            .ok()
            .map(|t| t.with_timezone(&chrono::Utc))
    }

    pub fn start(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        chrono::DateTime::parse_from_rfc3339(&self.spec.start_time)
            .ok()
            .map(|t| t.with_timezone(&chrono::Utc))
    }

    /// Whether the record's [`LIVE_UNTIL_LABEL`] is its expiry, so a selector on the label
    /// finds it while it may be live (the admission policy makes it so; records made
    /// without the policy may lack it).
    pub fn labelled_live_until(&self) -> bool {
        let label = self
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(LIVE_UNTIL_LABEL));
        label.is_some()
            && label.cloned() == live_until(&self.spec.expiry_time).map(|t| t.to_string())
    }

    /// Active and not yet expired at `now`.
    pub fn is_live(&self, now: chrono::DateTime<chrono::Utc>) -> bool {
        self.state() == Some(State::Active) && self.expiry().is_some_and(|e| e > now)
    }

    /// Pending for less than `grace` at `now`: a request that is probably still running.
    pub fn is_in_flight(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        grace: chrono::Duration,
    ) -> bool {
        matches!(self.state(), None | Some(State::Pending))
            && self.start().is_some_and(|s| now - s < grace)
    }
}

/// The longest `status.message` the CRD takes (characters).
pub const MAX_MESSAGE: usize = 2048;

/// `text` as a `status.message` the CRD admits: one line of printable text (what the plugin
/// writes there may quote the cluster's own answers, so it is escaped like any text from
/// outside), cut to `MAX_MESSAGE` characters.
pub fn status_message(text: &str) -> String {
    let shown = crate::untrusted::Untrusted(text).to_string();
    match shown.char_indices().nth(MAX_MESSAGE - 4) {
        Some((cut, _)) => format!("{} ...", &shown[..cut]),
        None => shown,
    }
}

/// Record names carry the chain position, so two requests racing for the same place
/// collide on the name (409) and the loser re-reads the chain.
pub fn name_for(sequence: i64) -> String {
    format!("grant-{sequence:06}")
}

/// An expiry time as the [`LIVE_UNTIL_LABEL`] holds it: Unix seconds.
pub fn live_until(expiry_time: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(expiry_time)
        .ok()
        .map(|t| t.timestamp())
}

/// RFC 3339 in UTC with whole seconds, as records store times.
pub fn timestamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl kube::Resource for Grant {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        KIND.into()
    }
    fn group(_: &()) -> Cow<'_, str> {
        crate::grant::GROUP.into()
    }
    fn version(_: &()) -> Cow<'_, str> {
        crate::grant::VERSION.into()
    }
    fn plural(_: &()) -> Cow<'_, str> {
        PLURAL.into()
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_message_is_one_printable_line_the_crd_takes() {
        assert_eq!(status_message("seal gone"), "seal gone");
        let m = status_message("a\nb\u{1b}[2J\u{202e}");
        assert_eq!(m, "a\\nb\\u{1b}[2J\\u{202e}");
        let long = status_message(&"é".repeat(5000));
        assert_eq!(long.chars().count(), MAX_MESSAGE);
        assert!(long.ends_with(" ..."));
    }
}
