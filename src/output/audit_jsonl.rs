//! `audit -o jsonl`: one JSON object per record, for a SIEM (Splunk, Elastic, Loki) to ingest
//! without transformation. The schema is stable and versioned (`schemaVersion`); a field
//! is only ever added within a version. Documented field by field in the README.

use crate::grant::audit::{ChainVerdict, Entry, TimeFinding};
use crate::grant::model::record::Grant;
use serde::Serialize;
use std::collections::HashMap;

/// The schema name every line carries.
pub const SCHEMA: &str = "breakglass.dev/grant-record";
/// The version of the line schema.
pub const SCHEMA_VERSION: u32 = 1;

/// One record as exported.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Line<'a> {
    pub schema: &'static str,
    pub schema_version: u32,
    /// The API server the record was read from.
    pub cluster: &'a str,
    pub exported_at: &'a str,
    /// `audit`'s view of the record (the grant shape plus audit's own fields).
    #[serde(flatten)]
    pub entry: &'a Entry,
    /// The record object's uid (changes when a record is deleted and re-created).
    pub uid: String,
    pub creation_timestamp: Option<String>,
    pub service_account: &'a str,
    pub duration_seconds: i64,
    pub plugin_version: &'a str,
    pub request_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_digest: Option<&'a str>,
    /// `status.state` as stored (`state` shows Active past expiry as Expired).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded_state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seal_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seal_uid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation_confirmed_after_seconds: Option<f64>,
    /// The audit-log key `auditLogCredentialId` is the value of.
    pub credential_id_key: &'static str,
    /// `intact`, or `broken` when a chain break names this record.
    pub chain_verdict: &'static str,
    /// The kinds of the breaks that name this record (`broken link`, `altered`, ...).
    pub chain_breaks: Vec<&'static str>,
    /// Whether the whole chain verified when exported.
    pub chain_intact: bool,
    /// Why the record's times cannot be honest, if they cannot.
    pub implausible: Vec<&'a str>,
}

/// What every line says of the whole chain, by record: the kinds of the breaks naming it,
/// and why its times cannot be honest.
pub struct Verdicts<'a> {
    breaks: HashMap<&'a str, Vec<&'static str>>,
    implausible: HashMap<&'a str, Vec<&'a str>>,
    chain_intact: bool,
}

impl<'a> Verdicts<'a> {
    pub fn of(chain: &'a ChainVerdict, implausible: &'a [TimeFinding]) -> Verdicts<'a> {
        let mut breaks: HashMap<&str, Vec<&'static str>> = HashMap::new();
        for b in &chain.breaks {
            breaks.entry(&b.record).or_default().push(b.kind.label());
        }
        let mut times: HashMap<&str, Vec<&str>> = HashMap::new();
        for f in implausible {
            times.entry(&f.name).or_default().push(&f.why);
        }
        Verdicts {
            breaks,
            implausible: times,
            chain_intact: chain.intact,
        }
    }
}

/// The line of record `g` (which `audit` shows as `e`), read from `cluster`.
pub fn line(
    g: &Grant,
    e: &Entry,
    verdicts: &Verdicts,
    cluster: &str,
    exported_at: &str,
) -> serde_json::Result<String> {
    let status = g.status.as_ref();
    let breaks = verdicts.breaks.get(g.name()).cloned().unwrap_or_default();
    let line = Line {
        schema: SCHEMA,
        schema_version: SCHEMA_VERSION,
        cluster,
        exported_at,
        entry: e,
        uid: g.metadata.uid.clone().unwrap_or_default(),
        creation_timestamp: g
            .metadata
            .creation_timestamp
            .as_ref()
            .and_then(|t| chrono::DateTime::from_timestamp(t.0.as_second(), 0))
            .map(crate::grant::model::record::timestamp),
        service_account: &g.spec.service_account,
        duration_seconds: g.spec.duration_seconds,
        plugin_version: &g.spec.plugin_version,
        request_id: &g.spec.request_id,
        previous_name: g.spec.previous.as_ref().map(|p| p.name.as_str()),
        previous_digest: g.spec.previous.as_ref().map(|p| p.digest.as_str()),
        recorded_state: g.state().map(|s| format!("{s:?}")),
        seal_name: status.and_then(|s| s.seal_name.as_deref()),
        seal_uid: status.and_then(|s| s.seal_uid.as_deref()),
        revocation_confirmed_after_seconds: status
            .and_then(|s| s.revocation_confirmed_after_seconds),
        credential_id_key: crate::grant::audit::CREDENTIAL_ID_KEY,
        chain_verdict: if breaks.is_empty() {
            "intact"
        } else {
            "broken"
        },
        chain_breaks: breaks,
        chain_intact: verdicts.chain_intact,
        implausible: verdicts
            .implausible
            .get(g.name())
            .cloned()
            .unwrap_or_default(),
    };
    crate::output::safe_format::json_line(&line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grant::model::chain;
    use crate::grant::model::record::{GrantSpec, GrantStatus, PreviousRecord, State};
    use chrono::{DateTime, Utc};

    fn record(seq: i64, prev: Option<(&str, String)>) -> Grant {
        let spec = GrantSpec {
            requester: "alice@example.com".into(),
            requester_groups: vec!["sre".into()],
            reason: format!("incident {seq}\u{202e}"),
            ticket: Some("INC-1".into()),
            role: "cluster-admin".into(),
            service_account: "cluster-admin".into(),
            duration_seconds: 600,
            start_time: "2026-11-29T08:00:00Z".into(),
            expiry_time: "2026-11-29T08:10:00Z".into(),
            client_host: "laptop".into(),
            plugin_version: "0.1.0".into(),
            request_id: format!("r{seq}"),
            sequence: seq,
            previous: prev.map(|(name, digest)| PreviousRecord {
                name: name.into(),
                digest,
            }),
        };
        let mut g = Grant::new(&crate::grant::model::record::name_for(seq), spec);
        g.metadata.uid = Some(format!("uid-{seq}"));
        g.status = Some(GrantStatus {
            state: Some(State::Revoked),
            jti: Some(format!("jti-{seq}")),
            seal_name: Some(format!("seal-{seq}")),
            revoked_by: Some("alice@example.com".into()),
            revoked_at: Some("2026-11-29T08:05:00Z".into()),
            revocation_confirmed: Some(true),
            revocation_confirmed_after_seconds: Some(9.9),
            ..GrantStatus::default()
        });
        g
    }

    #[test]
    fn one_line_per_record_with_every_field_and_its_own_chain_verdict() {
        let now = DateTime::parse_from_rfc3339("2026-11-29T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let g1 = record(1, None);
        let g2 = record(2, Some(("grant-000001", chain::digest_of(&g1))));
        let g3 = record(3, Some(("grant-000002", "sha256:forged".into())));
        let records = vec![g1, g2, g3];
        let report = crate::grant::audit::report(&records, now, None, None);
        let verdicts = Verdicts::of(&report.chain, &report.implausible);
        let text: String = records
            .iter()
            .zip(&report.records)
            .map(|(g, e)| {
                line(g, e, &verdicts, "https://prod:6443", "2026-11-29T09:00:00Z").unwrap()
            })
            .collect();
        assert!(!text.contains('\u{202e}'), "escaped for terminals");
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        let l = &lines[1];
        for (key, want) in [
            ("schema", serde_json::json!(SCHEMA)),
            ("schemaVersion", 1.into()),
            ("cluster", "https://prod:6443".into()),
            ("name", "grant-000002".into()),
            ("state", "Revoked".into()),
            ("recordedState", "Revoked".into()),
            ("requester", "alice@example.com".into()),
            ("requesterGroups", serde_json::json!(["sre"])),
            ("role", "cluster-admin".into()),
            ("reason", "incident 2\u{202e}".into()),
            ("ticket", "INC-1".into()),
            ("sequence", 2.into()),
            ("uid", "uid-2".into()),
            ("serviceAccount", "cluster-admin".into()),
            ("durationSeconds", 600.into()),
            ("clientHost", "laptop".into()),
            ("pluginVersion", "0.1.0".into()),
            ("requestId", "r2".into()),
            ("previousName", "grant-000001".into()),
            ("jti", "jti-2".into()),
            ("auditLogCredentialId", "JTI=jti-2".into()),
            (
                "credentialIdKey",
                "authentication.kubernetes.io/credential-id".into(),
            ),
            ("sealName", "seal-2".into()),
            ("revokedBy", "alice@example.com".into()),
            ("revocationConfirmedAfterSeconds", 9.9.into()),
            ("chainVerdict", "intact".into()),
            ("chainIntact", false.into()),
        ] {
            assert_eq!(l[key], want, "{key} in {l}");
        }
        assert_eq!(l["digest"], chain::digest_of(&records[1]));
        assert_eq!(lines[2]["chainVerdict"], "broken");
        assert_eq!(lines[2]["chainBreaks"], serde_json::json!(["broken link"]));
    }
}
