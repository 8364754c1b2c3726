//! The audit trail for people investigating an incident: every record, oldest first, with
//! the key that joins it to the API server's audit log, and the verdict on the hash chain.
//! The history is read as one snapshot in two walks, a page at a time: the first verifies
//! (keeping the findings, not the records), the second gives the records shown to a
//! writer. What stays in memory is a page, the findings, and the few records the plugin
//! did not write (they are merged into the order by their place).

use crate::grant::cluster::policy::read_policy;
use crate::grant::cluster::ClusterError;
use crate::grant::history::{merged, History};
use crate::grant::model::chain::{self, chain_order, Break, Place, Walk};
use crate::grant::model::checkpoint::{Checking, Checkpoint, Verdict};
use crate::grant::model::record::Grant;
use crate::grant::model::seal;
use crate::grant::model::view::GrantView;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashSet;

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

/// What `audit` reports; `records` are the records shown (a list, or a second walk of the
/// history serialized as it is read).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report<R> {
    /// The audit-log annotation the entries' `auditLogCredentialId` is the value of.
    pub audit_log_key: &'static str,
    pub records: R,
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
    /// False when the caller may not list Secrets (RBAC older than the requesters' `list`).
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
pub fn page_size() -> u32 {
    std::env::var("KUBECTL_BREAKGLASS_AUDIT_PAGE")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(500)
}

/// What the verifying walk found, over every record.
#[derive(Debug)]
pub struct Found {
    pub chain: ChainVerdict,
    pub implausible: Vec<TimeFinding>,
    pub policy_checked: bool,
    pub seals: SealCheck,
    /// Why the seals were not checked, when the caller may not list them (for people).
    pub seals_forbidden: Option<String>,
    pub checkpoint: Option<Verdict>,
    /// How many records `--since` shows.
    pub shown: usize,
    /// The newest record: the chain head.
    pub head: Option<Grant>,
    /// Records that listing by name does not put in order (made by hand, or numbered past
    /// 999,999), by sequence: merged in on every walk. Few: admission refuses them.
    others_by_sequence: Vec<Grant>,
}

/// The audit of one cluster's history: what the first walk found, and the second walk
/// over the records shown, oldest first.
pub struct Audited<'h, 'a> {
    history: &'h History<'a>,
    now: DateTime<Utc>,
    cutoff: Option<DateTime<Utc>>,
    pub found: Found,
}

/// Reads the policy and (when the caller may list them) the seals, then walks every record
/// once to verify the chain, the times (at `now`), the seals and `checkpoint`, handing each record
/// `since` shows to `measure` (in name order) — a table's widths need every row before the
/// first is written. A refusal to list seals is reported; any other failure fails the audit.
pub fn audit<'h, 'a>(
    history: &'h History<'a>,
    since: Option<std::time::Duration>,
    checkpoint: Option<&Checkpoint>,
    now: DateTime<Utc>,
    measure: &mut dyn FnMut(&Entry),
) -> anyhow::Result<Audited<'h, 'a>> {
    let cluster = history.cluster();
    // Everyone may read the policy; without it the role maxima go unchecked.
    let policy = history.run(read_policy(cluster)).ok();
    let (mut seals_forbidden, mut not_checked_because) = (None, None);
    let seals = match history.run(cluster.seals()) {
        Ok(seals) => Some(seals),
        Err(e @ ClusterError::Forbidden { .. }) => {
            if let ClusterError::Forbidden { doing, .. } = &e {
                seals_forbidden = Some(format!("{doing}: forbidden by the cluster's RBAC"));
            }
            not_checked_because = Some(e.to_string());
            None
        }
        Err(e) => return Err(e.into()),
    };
    let claimed: HashSet<String> = seals.iter().flatten().map(seal::claimed_record).collect();
    // Checked: a cutoff before the calendar begins lists everything rather than panicking.
    let cutoff = since
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .and_then(|d| now.checked_sub_signed(d));
    let mut checking = checkpoint.map(Checking::new);
    let mut walk = Walk::default();
    let mut failed = None;
    let mut others = Vec::new();
    let mut claimed_records = Vec::new();
    let mut implausible = Vec::new();
    let (mut count, mut shown) = (0, 0);
    let mut head: Option<Grant> = None;
    for g in history.read() {
        let g = g?;
        count += 1;
        implausible.extend(
            crate::grant::model::plausibility::implausible(&g, policy.as_ref(), now)
                .into_iter()
                .map(|why| TimeFinding {
                    name: g.name().to_string(),
                    requester: g.spec.requester.clone(),
                    why,
                }),
        );
        if let Some(c) = checking.as_mut() {
            c.see(&g);
        }
        if claimed.contains(g.name()) {
            claimed_records.push(g.clone());
        }
        if shows(cutoff, &g) {
            shown += 1;
            measure(&entry(&g, now));
        }
        if head.as_ref().is_none_or(|h| chain_order(&g, h).is_gt()) {
            head = Some(g.clone());
        }
        if chain::listed_in_chain_order(&g) {
            walk.step(&g, &mut |name| find(history, &[], name, &mut failed));
        } else {
            others.push(g);
        }
        if let Some(e) = failed.take() {
            return Err(e.into());
        }
    }
    if !others.is_empty() {
        // Records out of name order change the chain order: walk again with them in place.
        others.sort_by(chain_order);
        walk = Walk::default();
        let listed = history
            .read()
            .filter(|g| g.as_ref().map_or(true, chain::listed_in_chain_order));
        for g in merged(listed, &others, chain_order) {
            let g = g?;
            walk.step(&g, &mut |name| find(history, &others, name, &mut failed));
            if let Some(e) = failed.take() {
                return Err(e.into());
            }
        }
    }
    let breaks = walk.finish();
    implausible.sort_by(|a, b| a.name.cmp(&b.name));
    others.sort_by(by_sequence);
    let found = Found {
        chain: ChainVerdict {
            intact: breaks.is_empty(),
            records: count,
            head: head.as_ref().map(|h| h.name().to_string()),
            breaks,
        },
        implausible,
        policy_checked: policy.is_some(),
        seals: match &seals {
            Some(seals) => check_seals(&claimed_records, seals, now),
            None => SealCheck {
                checked: false,
                not_checked_because,
                findings: Vec::new(),
            },
        },
        seals_forbidden,
        checkpoint: checking.map(Checking::verdict),
        shown,
        head,
        others_by_sequence: others,
    };
    Ok(Audited {
        history,
        now,
        cutoff,
        found,
    })
}

/// The record named `name` for the chain walk: one of `others`, or read by name; a failed
/// read is kept in `failed` (the walk then stops). A link is written by people too: a name
/// no object can have (the rules are a Secret's) names no record, and is never sent.
fn find(
    history: &History,
    others: &[Grant],
    name: &str,
    failed: &mut Option<ClusterError>,
) -> Option<Place> {
    if let Some(g) = others.iter().find(|g| g.name() == name) {
        return Some(Place::of(g));
    }
    if !seal::is_valid_name(name) {
        return None;
    }
    match history.get(name) {
        Ok(g) => g.as_ref().map(Place::of),
        Err(e) => {
            *failed = Some(e);
            None
        }
    }
}

/// Whether `--since` (as `cutoff`) shows `g`; a record without a readable start cannot be
/// placed in time, so it is shown.
fn shows(cutoff: Option<DateTime<Utc>>, g: &Grant) -> bool {
    match cutoff {
        Some(c) => g.start().is_none_or(|s| s >= c),
        None => true,
    }
}

/// The order records are shown and checkpointed in: by sequence, then name.
fn by_sequence(a: &Grant, b: &Grant) -> std::cmp::Ordering {
    (a.spec.sequence, a.name()).cmp(&(b.spec.sequence, b.name()))
}

impl Audited<'_, '_> {
    /// Every record, by sequence (a second walk of the same snapshot).
    pub fn all(&self) -> impl Iterator<Item = Result<Grant, ClusterError>> + '_ {
        let listed = self
            .history
            .read()
            .filter(|g| g.as_ref().map_or(true, chain::listed_in_chain_order));
        merged(listed, &self.found.others_by_sequence, by_sequence)
    }

    /// The records `--since` shows, by sequence.
    pub fn shown(&self) -> impl Iterator<Item = Result<Grant, ClusterError>> + '_ {
        self.all()
            .filter(|g| g.as_ref().map_or(true, |g| shows(self.cutoff, g)))
    }

    /// The shown records as `audit` shows them.
    pub fn entries(&self) -> impl Iterator<Item = Result<Entry, ClusterError>> + '_ {
        self.shown().map(|g| g.map(|g| self.entry(&g)))
    }

    /// One record as `audit` shows it.
    pub fn entry(&self, g: &Grant) -> Entry {
        entry(g, self.now)
    }

    /// The report, with `records` as the shown entries are given.
    pub fn report<R>(&self, records: R) -> Report<R> {
        let f = &self.found;
        Report {
            audit_log_key: CREDENTIAL_ID_KEY,
            records,
            chain: f.chain.clone(),
            implausible: f.implausible.clone(),
            policy_checked: f.policy_checked,
            seals: f.seals.clone(),
            checkpoint: f.checkpoint.clone(),
        }
    }
}

/// The report over `records` (as a cluster holding them would give it) at `now`, listing
/// those started within `since`; `policy` is the policy ConfigMap's data.
#[cfg(test)]
pub fn report(
    records: &[Grant],
    now: DateTime<Utc>,
    since: Option<std::time::Duration>,
    policy: Option<std::collections::BTreeMap<String, String>>,
) -> Report<Vec<Entry>> {
    let cluster = crate::grant::cluster::memory::MemoryCluster::new();
    {
        let mut state = cluster.state.borrow_mut();
        state.policy = policy;
        for g in records {
            state.records.insert(g.name().to_string(), g.clone());
        }
    }
    let runtime = crate::runtime::current_thread().unwrap();
    let history = History::new(&runtime, &cluster, 3);
    let audited = audit(&history, since, None, now, &mut |_| {}).unwrap();
    let entries = audited.entries().map(Result::unwrap).collect();
    audited.report(entries)
}

#[cfg(test)]
mod tests {
    use crate::grant::cluster::memory::MemoryCluster;

    fn audit_of(cluster: &MemoryCluster) -> anyhow::Result<(Found, Vec<String>)> {
        let runtime = crate::runtime::current_thread().unwrap();
        let history = History::new(&runtime, cluster, 2);
        let audited = super::audit(&history, None, None, Utc::now(), &mut |_| {})?;
        let names = audited
            .shown()
            .map(|g| g.unwrap().name().to_string())
            .collect();
        Ok((audited.found, names))
    }

    #[test]
    fn seals_a_requester_may_not_list_are_reported_not_checked() {
        let cluster = MemoryCluster::new();
        cluster.state.borrow_mut().forbidden.push("seals");
        let (found, _) = audit_of(&cluster).unwrap();
        assert!(!found.seals.checked);
        assert_eq!(
            found.seals_forbidden.as_deref(),
            Some("seals: forbidden by the cluster's RBAC")
        );
    }

    #[test]
    fn the_history_is_read_a_page_at_a_time_twice_and_reported_in_sequence_order() {
        let cluster = MemoryCluster::new();
        let mut records = crate::test_support::chain(7);
        // Hand-made records, out of the name order: merged in by their place.
        let mut squatter = records[0].clone();
        squatter.metadata.name = Some("aa-squatter".into());
        squatter.spec.sequence = 4;
        records.push(squatter);
        for g in records {
            let mut state = cluster.state.borrow_mut();
            state.records.insert(g.name().to_string(), g);
        }
        let (found, names) = audit_of(&cluster).unwrap();
        assert_eq!(
            names,
            [
                "grant-000001",
                "grant-000002",
                "grant-000003",
                "aa-squatter",
                "grant-000004",
                "grant-000005",
                "grant-000006",
                "grant-000007"
            ]
        );
        assert_eq!(found.chain.records, 8);
        assert_eq!(found.chain.head.as_deref(), Some("grant-000007"));
        let kinds: Vec<_> = found
            .chain
            .breaks
            .iter()
            .map(|b| (b.kind, b.record.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                (chain::BreakKind::Misnumbered, "aa-squatter"),
                (chain::BreakKind::Forked, "grant-000004")
            ]
        );
        // Eight records in pages of two: 4 reads per walk; three walks (the hand-made record
        // asks for the chain walk again, then the records shown), and no GET: every link
        // is to the record before.
        let calls = cluster.state.borrow().calls.clone();
        let pages = calls.iter().filter(|c| **c == "records_page").count();
        assert_eq!(pages, 12, "{calls:?}");
        assert!(!calls.contains(&"record"), "{calls:?}");
    }

    #[test]
    fn a_link_past_the_record_before_is_looked_up_by_name() {
        let cluster = MemoryCluster::new();
        let mut records = crate::test_support::chain(4);
        // grant-000003 deleted: grant-000004's link names a record that is not there.
        records.remove(2);
        for g in records {
            let mut state = cluster.state.borrow_mut();
            state.records.insert(g.name().to_string(), g);
        }
        let (found, _) = audit_of(&cluster).unwrap();
        assert_eq!(found.chain.breaks.len(), 1, "{:?}", found.chain.breaks);
        assert_eq!(found.chain.breaks[0].kind, chain::BreakKind::SequenceGap);
        assert_eq!(
            cluster
                .state
                .borrow()
                .calls
                .iter()
                .filter(|c| **c == "record")
                .count(),
            1
        );
        // A failed lookup fails the audit, rather than calling the record missing.
        fails_with_500(&cluster, "record");
    }

    #[test]
    fn a_failure_to_list_seals_fails_the_audit() {
        fails_with_500(&MemoryCluster::new(), "seals");
    }

    /// The audit of `cluster` when its `call` fails with a 500 fails with that error.
    fn fails_with_500(cluster: &MemoryCluster, call: &'static str) {
        cluster.state.borrow_mut().failing.push(call);
        let err = audit_of(cluster).err().unwrap();
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
