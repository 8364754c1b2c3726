//! The audit trail for people investigating an incident: every record, oldest first, with
//! the key that joins it to the API server's audit log, and the verdict on the hash chain.

use crate::grant::cluster::policy::read_policy;
use crate::grant::cluster::records::list_page;
use crate::grant::cluster::{Cluster, ClusterError};
use crate::grant::model::chain::{self, Break};
use crate::grant::model::policy::Policy;
use crate::grant::model::record::Grant;
use crate::grant::model::view::GrantView;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// The audit-log annotation under which an API server records a token's credential id.
pub const CREDENTIAL_ID_KEY: &str = "authentication.kubernetes.io/credential-id";

/// One record as the auditor reads it: the common grant shape and what only audit shows.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    #[serde(flatten)]
    pub grant: GrantView,
    pub sequence: i64,
    pub requester_groups: Vec<String>,
    pub client_host: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation_confirmed: Option<bool>,
    /// Why a failed request failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The value to search for under `authentication.kubernetes.io/credential-id`: `JTI=<jti>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_log_credential_id: Option<String>,
    /// This record's chain digest (what its successor must link to).
    pub digest: String,
}

/// The verdict on the hash chain (always over every record, whatever `--since` shows).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainVerdict {
    pub intact: bool,
    /// How many records were verified.
    pub records: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
    pub breaks: Vec<Break>,
}

/// What `audit` reports.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The audit-log annotation the entries' `auditLogCredentialId` is the value of.
    pub audit_log_key: &'static str,
    pub records: Vec<Entry>,
    pub chain: ChainVerdict,
    /// Records whose times could not be honest (`plausibility.rs`), over every record.
    pub implausible: Vec<TimeFinding>,
    /// Whether the role maxima were checked (false when the policy could not be read).
    pub policy_checked: bool,
    /// Seals that serve no live grant (a token could be bound to them).
    pub seals: SealCheck,
    /// The chain against an external checkpoint (`--checkpoint`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<crate::grant::model::checkpoint::Verdict>,
}

/// A record whose times could not be honest.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TimeFinding {
    pub name: String,
    pub requester: String,
    pub why: String,
}

/// The seals of the break-glass namespace, checked against the records.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SealCheck {
    /// False when the caller may not list Secrets (only break-glass admins may).
    pub checked: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_checked_because: Option<String>,
    pub findings: Vec<SealFinding>,
}

/// One seal that serves no live grant.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SealFinding {
    pub seal: String,
    pub why: String,
}

/// The seal check over `seals` (every Secret of the seal type) at `now`.
pub fn check_seals(
    records: &[Grant],
    seals: &[k8s_openapi::api::core::v1::Secret],
    now: DateTime<Utc>,
) -> SealCheck {
    SealCheck {
        checked: true,
        not_checked_because: None,
        findings: seals
            .iter()
            .filter_map(|s| {
                crate::grant::model::seal::stray_reason(records, s, now).map(|why| SealFinding {
                    seal: s.metadata.name.clone().unwrap_or_default(),
                    why,
                })
            })
            .collect(),
    }
}

/// The report over `records` at `now`, listing those started within `since` (all without it);
/// `policy` (as it is now, if readable) bounds each role's duration.
pub fn report(
    records: &[Grant],
    now: DateTime<Utc>,
    since: Option<std::time::Duration>,
    policy: Option<&Policy>,
) -> Report {
    // Checked: a cutoff before the calendar begins lists everything rather than panicking.
    let cutoff = since
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .and_then(|d| now.checked_sub_signed(d));
    let mut shown: Vec<&Grant> = records
        .iter()
        .filter(|g| match cutoff {
            // A record without a readable start cannot be placed in time: show it.
            Some(c) => g.start().is_none_or(|s| s >= c),
            None => true,
        })
        .collect();
    shown.sort_by(|a, b| (a.spec.sequence, a.name()).cmp(&(b.spec.sequence, b.name())));
    let breaks = chain::breaks(records);
    let mut implausible: Vec<TimeFinding> = records
        .iter()
        .flat_map(|g| {
            crate::grant::model::plausibility::implausible(g, policy, now)
                .into_iter()
                .map(|why| TimeFinding {
                    name: g.name().to_string(),
                    requester: g.spec.requester.clone(),
                    why,
                })
        })
        .collect();
    implausible.sort_by(|a, b| a.name.cmp(&b.name));
    Report {
        audit_log_key: CREDENTIAL_ID_KEY,
        records: shown.into_iter().map(|g| entry(g, now)).collect(),
        chain: ChainVerdict {
            intact: breaks.is_empty(),
            records: records.len(),
            head: chain::head(records).map(|h| h.name().to_string()),
            breaks,
        },
        implausible,
        policy_checked: policy.is_some(),
        seals: SealCheck::default(),
        checkpoint: None,
    }
}

/// One record as `audit` (and `review`) show it.
pub fn entry(g: &Grant, now: DateTime<Utc>) -> Entry {
    let status = g.status.clone().unwrap_or_default();
    Entry {
        grant: GrantView::of(g, now),
        sequence: g.spec.sequence,
        requester_groups: g.spec.requester_groups.clone(),
        client_host: g.spec.client_host.clone(),
        revoked_by: status.revoked_by,
        revoked_at: status.revoked_at,
        revocation_confirmed: status.revocation_confirmed,
        message: status.message,
        audit_log_credential_id: status.jti.as_ref().map(|j| format!("JTI={j}")),
        digest: chain::digest_of(g),
    }
}

/// How many records one list request of `audit` reads: the API server answers a page at a
/// time, so no single response holds the whole history. `KUBECTL_BREAKGLASS_AUDIT_PAGE`
/// (not documented for people) sets it, for tests of paging with few records.
fn page_size() -> u32 {
    std::env::var("KUBECTL_BREAKGLASS_AUDIT_PAGE")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(500)
}

/// Every record, read `page` at a time (`limit`/`continue`).
pub async fn read_all_records(cluster: &dyn Cluster, page: u32) -> anyhow::Result<Vec<Grant>> {
    let mut records = Vec::new();
    let mut from: Option<String> = None;
    loop {
        let read = list_page(cluster, page, from.as_deref()).await?;
        // What the API server keeps of who wrote which field is not part of the audit and
        // is most of a record's size: not kept, so the history weighs less in memory.
        records.extend(read.records.into_iter().map(|mut g| {
            g.metadata.managed_fields = None;
            g
        }));
        match read.next {
            Some(next) => from = Some(next),
            None => return Ok(records),
        }
    }
}

/// What `audit` read and found.
pub struct Audited {
    pub records: Vec<Grant>,
    pub report: Report,
    /// Why the seals were not checked, when the caller may not list them (for people).
    pub seals_forbidden: Option<String>,
}

/// Reads every record (and the policy, and the seals when the caller may list them) and
/// checks them; a refusal to list seals is reported, any other failure fails the audit.
pub async fn audit(
    cluster: &dyn Cluster,
    since: Option<std::time::Duration>,
) -> anyhow::Result<Audited> {
    let records = read_all_records(cluster, page_size()).await?;
    // Everyone may read the policy; without it the role maxima go unchecked.
    let policy = read_policy(cluster).await.ok();
    let now = Utc::now();
    let mut report = report(&records, now, since, policy.as_ref());
    let mut seals_forbidden = None;
    report.seals = match cluster.seals().await {
        Ok(seals) => check_seals(&records, &seals, now),
        Err(e @ ClusterError::Forbidden { .. }) => {
            if let ClusterError::Forbidden { doing, .. } = &e {
                seals_forbidden = Some(format!("{doing}: forbidden by the cluster's RBAC"));
            }
            SealCheck {
                checked: false,
                not_checked_because: Some(e.to_string()),
                findings: Vec::new(),
            }
        }
        Err(e) => return Err(e.into()),
    };
    Ok(Audited {
        records,
        report,
        seals_forbidden,
    })
}

#[cfg(test)]
mod tests {
    use crate::grant::cluster::memory::MemoryCluster;

    #[tokio::test]
    async fn seals_a_requester_may_not_list_are_reported_not_checked() {
        let cluster = MemoryCluster::new();
        cluster.state.borrow_mut().forbidden.push("seals");
        let audited = super::audit(&cluster, None).await.unwrap();
        assert!(!audited.report.seals.checked);
        assert_eq!(
            audited.seals_forbidden.as_deref(),
            Some("seals: forbidden by the cluster's RBAC")
        );
    }

    #[tokio::test]
    async fn records_read_a_page_at_a_time_are_the_records_read_at_once() {
        let cluster = MemoryCluster::new();
        for seq in 1..=7 {
            let g = grant(seq, None, Some(State::Revoked), "2026-11-27T12:00:00Z");
            cluster
                .state
                .borrow_mut()
                .records
                .insert(g.name().to_string(), g);
        }
        let all = crate::grant::cluster::records::list_records(&cluster)
            .await
            .unwrap();
        for page in [1, 2, 3, 7, 8] {
            cluster.state.borrow_mut().calls.clear();
            let paged = super::read_all_records(&cluster, page).await.unwrap();
            let names = |r: &[Grant]| r.iter().map(|g| g.name().to_string()).collect::<Vec<_>>();
            assert_eq!(names(&paged), names(&all), "page {page}");
            let reads = cluster
                .state
                .borrow()
                .calls
                .iter()
                .filter(|c| **c == "records_page")
                .count();
            assert_eq!(reads, 7_usize.div_ceil(page as usize), "page {page}");
        }
    }

    #[tokio::test]
    async fn a_failure_to_list_seals_fails_the_audit() {
        let cluster = MemoryCluster::new();
        cluster.state.borrow_mut().failing.push("seals");
        let err = super::audit(&cluster, None).await.err().unwrap();
        assert!(
            matches!(
                err.downcast_ref::<ClusterError>(),
                Some(ClusterError::Answered { code: 500, .. })
            ),
            "{err}"
        );
    }

    use super::*;
    use crate::grant::model::record::{GrantSpec, GrantStatus, PreviousRecord, State};

    fn grant(seq: i64, prev: Option<&Grant>, state: Option<State>, expiry: &str) -> Grant {
        let spec = GrantSpec {
            requester: "alice@example.com".into(),
            requester_groups: vec!["sre".into()],
            reason: format!("incident {seq}"),
            ticket: (seq == 2).then(|| "INC-2".to_string()),
            role: "incident-debug".into(),
            service_account: "incident-debug".into(),
            duration_seconds: 600,
            start_time: format!("2026-11-27T1{seq}:00:00Z"),
            expiry_time: expiry.into(),
            client_host: "laptop".into(),
            plugin_version: "0.1.0".into(),
            request_id: format!("r{seq}"),
            sequence: seq,
            previous: prev.map(|p| PreviousRecord {
                name: p.name().into(),
                digest: chain::digest_of(p),
            }),
        };
        let mut g = Grant::new(&crate::grant::model::record::name_for(seq), spec);
        g.status = Some(GrantStatus {
            state,
            jti: Some(format!("jti-{seq}")),
            ..GrantStatus::default()
        });
        g
    }

    #[test]
    fn states_keys_order_and_since() {
        let now = DateTime::parse_from_rfc3339("2026-11-27T14:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let g1 = grant(1, None, Some(State::Active), "2026-11-27T11:10:00Z");
        let g2 = grant(2, Some(&g1), Some(State::Revoked), "2026-11-27T12:10:00Z");
        let g3 = grant(3, Some(&g2), Some(State::Active), "2026-11-27T15:00:00Z");
        let g4 = grant(4, Some(&g3), None, "2026-11-27T14:10:00Z");
        let records = vec![g3.clone(), g1, g4, g2];
        let r = report(&records, now, None, None);
        let states: Vec<&str> = r.records.iter().map(|e| e.grant.state.as_str()).collect();
        assert_eq!(states, ["Expired", "Revoked", "Active", "Pending"]);
        assert_eq!(r.records[0].grant.name, "grant-000001");
        assert_eq!(
            r.records[2].audit_log_credential_id.as_deref(),
            Some("JTI=jti-3")
        );
        assert!(r.chain.intact);
        assert_eq!(r.chain.head.as_deref(), Some("grant-000004"));
        let text = crate::output::grant_tables::audit(&r.records);
        assert!(text.starts_with("NAME"), "{text}");
        assert!(text.contains("INC-2"), "{text}");

        // --since 2h at 14:30: records started at 13:00 and 14:00; the chain still covers all.
        let r = report(
            &records,
            now,
            Some(std::time::Duration::from_secs(7200)),
            None,
        );
        let names: Vec<&str> = r.records.iter().map(|e| e.grant.name.as_str()).collect();
        assert_eq!(names, ["grant-000003", "grant-000004"]);
        assert_eq!(r.chain.records, 4);

        let without_second: Vec<Grant> = records
            .into_iter()
            .filter(|g| g.name() != "grant-000002")
            .collect();
        let r = report(&without_second, now, None, None);
        assert!(!r.chain.intact);
        assert_eq!(r.chain.breaks[0].record, "grant-000003");
    }
}
