//! The hash chain: each record carries the digest of the one before it, so a deleted or
//! altered record is detectable. The digest covers what never changes: name and spec.

use crate::grant::model::canonical;
use crate::grant::model::record::{name_for, Grant, GrantSpec};
use crate::untrusted::Untrusted;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// `sha256:<hex>` of the canonical JSON (sorted keys, no spaces) of `{"name", "spec"}`.
pub fn digest(name: &str, spec: &GrantSpec) -> String {
    canonical::digest(&serde_json::json!({ "name": name, "spec": spec }))
}

/// Digest of a stored record.
pub fn digest_of(grant: &Grant) -> String {
    digest(grant.name(), &grant.spec)
}

/// The number in a record's name (`grant-000042` → 42), when it has the plugin's form.
pub fn name_number(name: &str) -> Option<i64> {
    let digits = name.strip_prefix("grant-")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Whether a record is named and numbered as the plugin writes it: `grant-<sequence>`, sequence ≥ 1.
pub fn is_well_formed(g: &Grant) -> bool {
    g.spec.sequence >= 1 && g.name() == name_for(g.spec.sequence)
}

/// The place a record takes in the chain: the larger of its sequence and the number in its
/// name, so a record made by hand under a high name with a low sequence (or the reverse)
/// still pushes the next record past both.
pub fn position(g: &Grant) -> i64 {
    g.spec.sequence.max(name_number(g.name()).unwrap_or(0))
}

/// The record a new one must follow: the highest place taken.
#[cfg(test)]
pub fn head(records: &[Grant]) -> Option<&Grant> {
    records.iter().max_by_key(|g| (position(g), g.name()))
}

/// The highest sequence the CRD admits (`deploy/01-crd.yaml`).
pub const MAX_SEQUENCE: i64 = 999_999_999;

/// The sequence of the next record: past every sequence and every record name in use.
/// Fails (instead of overflowing, or writing what the CRD refuses) when a record claims
/// the last possible place.
#[cfg(test)]
pub fn next_sequence(records: &[Grant]) -> Result<i64, String> {
    next_after(head(records))
}

/// The sequence of the record after `head` (1 when the chain is empty): past its sequence
/// and the number in its name; fails when `head` claims the last place possible.
pub fn next_after(head: Option<&Grant>) -> Result<i64, String> {
    let Some(h) = head else {
        return Ok(1);
    };
    position(h)
        .max(0)
        .checked_add(1)
        .filter(|n| *n <= MAX_SEQUENCE)
        .ok_or_else(|| {
            format!(
                "record {} claims chain place {}, the last one possible, so no record can \
                 follow it",
                h.name(),
                position(h)
            )
        })
}

/// What is wrong at one place of the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum BreakKind {
    /// A record's name or spec no longer matches the digest its successor recorded, and the
    /// record shows it was changed (a spec generation past 1, or created after its successor).
    Altered,
    /// A record links its predecessor with a digest the predecessor never had, and the
    /// predecessor shows no sign of change: the link was written wrong (a forged record).
    BrokenLink,
    /// A record links to a predecessor that does not exist.
    MissingPredecessor,
    /// Sequence numbers skip: records in between were deleted.
    SequenceGap,
    /// Two records claim the same place (same sequence or same predecessor).
    Forked,
    /// A record after the first carries no link to its predecessor.
    Unlinked,
    /// A record the plugin did not write: its name is not `grant-<sequence>`.
    Misnumbered,
}

impl BreakKind {
    /// The kind in words, for people.
    pub fn label(self) -> &'static str {
        match self {
            BreakKind::Altered => "altered",
            BreakKind::BrokenLink => "broken link",
            BreakKind::MissingPredecessor => "missing predecessor",
            BreakKind::SequenceGap => "sequence gap",
            BreakKind::Forked => "forked",
            BreakKind::Unlinked => "unlinked",
            BreakKind::Misnumbered => "misnumbered",
        }
    }
}

/// One break: the record at fault (or the first one after it) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Break {
    pub record: String,
    pub kind: BreakKind,
    pub message: String,
    /// Who most likely made the break: the requester of a record that was written wrong
    /// (a broken link, a hand-made name, a missing link, a fork). None for a gap, where
    /// records were deleted (the API server's audit log says by whom).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suspect: Option<String>,
}

/// What the chain walk keeps of a record it has passed: enough to check a link to it.
#[derive(Debug, Clone)]
pub struct Place {
    pub name: String,
    pub sequence: i64,
    pub position: i64,
    pub digest: String,
    generation: Option<i64>,
    created: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
}

impl Place {
    pub fn of(g: &Grant) -> Place {
        Place {
            name: g.name().to_string(),
            sequence: g.spec.sequence,
            position: position(g),
            digest: digest_of(g),
            generation: g.metadata.generation,
            created: g.metadata.creation_timestamp.clone(),
        }
    }

    /// Whether the record shows that it was changed after it was written: its spec
    /// generation is past 1, or it was (re)created after `successor`.
    fn shows_change(&self, successor: &Grant) -> bool {
        let changed = self.generation.is_some_and(|n| n > 1);
        let recreated = match (&self.created, &successor.metadata.creation_timestamp) {
            (Some(mine), Some(theirs)) => mine.0 > theirs.0,
            _ => false,
        };
        changed || recreated
    }
}

/// The order the chain is walked in: by place, then name.
pub fn chain_order(a: &Grant, b: &Grant) -> std::cmp::Ordering {
    (position(a), a.name()).cmp(&(position(b), b.name()))
}

/// Whether listing by name (the API server's order) puts `g` in chain order among the
/// records that are also: a record the plugin wrote (`grant-` and six digits). Others
/// (made by hand, or past sequence 999,999) are few and are merged in by their place.
pub fn listed_in_chain_order(g: &Grant) -> bool {
    is_well_formed(g) && g.spec.sequence <= 999_999
}

/// One short line for `request`, `status` and `drill` about `breaks` (the newest link's,
/// [`link_breaks`]), pointing at
/// `audit` for the details; `None` when it is intact, or when this machine already warned
/// about exactly these breaks on this cluster (remembered in the cache directory), so a
/// break that is known does not nag every command forever. `audit` always reports it.
pub fn warning(breaks: &[Break], server: &str, context: &str) -> Option<String> {
    let first = breaks.first()?;
    let mut h = Sha256::new();
    h.update(server.as_bytes());
    for b in breaks {
        h.update(b"\n");
        h.update(b.message.as_bytes());
    }
    let fingerprint = hex::encode(&h.finalize()[..16]);
    let marker = dirs::cache_dir().map(|d| d.join("kubectl-breakglass").join("chain-warned"));
    let known = marker
        .as_ref()
        .and_then(|m| std::fs::read_to_string(m).ok())
        .unwrap_or_default();
    if known.lines().any(|l| l == fingerprint) {
        return None;
    }
    if let Some(m) = &marker {
        if let Some(dir) = m.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        // Keep the file small: the last few fingerprints are enough.
        let mut lines: Vec<&str> = known.lines().rev().take(31).collect();
        lines.reverse();
        lines.push(&fingerprint);
        let _ = std::fs::write(m, lines.join("\n") + "\n");
    }
    let more = match breaks.len() {
        1 => String::new(),
        n => format!(" and {} more", n - 1),
    };
    Some(format!(
        "the grant record chain is broken at {} ({}{more}); shown once on this machine — see it \
         with: kubectl breakglass audit{}",
        Untrusted(&first.record),
        first.kind.label(),
        crate::grant::context_flag(context)
    ))
}

/// The breaks at the newest link only: `head`'s link to `predecessor` (the record its
/// `previous` names, `None` when that does not exist). What `request` checks each time;
/// the whole chain is `audit`'s.
pub fn link_breaks(head: &Grant, predecessor: Option<&Grant>) -> Vec<Break> {
    match (predecessor, &head.spec.previous) {
        (None, Some(link)) => vec![Break {
            record: head.name().to_string(),
            kind: BreakKind::MissingPredecessor,
            message: format!(
                "{} links to {}, which does not exist",
                head.name(),
                link.name
            ),
            suspect: None,
        }],
        _ => {
            let pair: Vec<Grant> = predecessor.into_iter().chain([head]).cloned().collect();
            let found = breaks(&pair).into_iter();
            found
                .filter(|b| b.record == head.name() || b.kind == BreakKind::Altered)
                .collect()
        }
    }
}

/// Breaks in the chain, one sentence each (empty when intact).
#[cfg(test)]
fn verify(records: &[Grant]) -> Vec<String> {
    breaks(records).into_iter().map(|b| b.message).collect()
}

/// Every break in the chain, in sequence order (empty when intact).
pub fn breaks(records: &[Grant]) -> Vec<Break> {
    let mut sorted: Vec<&Grant> = records.iter().collect();
    sorted.sort_by(|a, b| chain_order(a, b));
    let by_name: HashMap<&str, &Grant> = sorted.iter().map(|g| (g.name(), *g)).collect();
    let mut walk = Walk::default();
    for g in sorted {
        walk.step(g, &mut |name| by_name.get(name).map(|p| Place::of(p)));
    }
    walk.finish()
}

/// The chain verified one record at a time, in [`chain_order`], keeping only the record
/// before: what `audit` runs over a history too long to hold. A link to any other record
/// than the one before (only where the chain is broken) is looked up by name.
#[derive(Debug, Default)]
pub struct Walk {
    prev: Option<Place>,
    breaks: Vec<Break>,
}

impl Walk {
    /// Every break, in chain order.
    pub fn finish(self) -> Vec<Break> {
        self.breaks
    }

    fn push(&mut self, record: &str, requester: &str, kind: BreakKind, message: String) {
        let suspect = match kind {
            BreakKind::SequenceGap | BreakKind::MissingPredecessor | BreakKind::Altered => None,
            _ => Some(requester.to_string()),
        };
        self.breaks.push(Break {
            record: record.to_string(),
            kind,
            message,
            suspect,
        })
    }

    /// Checks `g`, the next record in chain order; `find` finds a record by name.
    ///
    /// Two records following one predecessor are reported as a fork by the place check:
    /// the plugin's name for a record is its sequence, so two well-formed followers of one
    /// record share a sequence, and sit side by side in chain order.
    pub fn step(&mut self, g: &Grant, find: &mut dyn FnMut(&str) -> Option<Place>) {
        let prev = self.prev.take();
        self.check(g, prev.as_ref(), find);
        self.prev = Some(Place::of(g));
    }

    fn check(
        &mut self,
        g: &Grant,
        prev: Option<&Place>,
        find: &mut dyn FnMut(&str) -> Option<Place>,
    ) {
        let requester = g.spec.requester.as_str();
        if !is_well_formed(g) {
            let message = format!(
                "{} claims sequence {} under a name the plugin never gives it (made by hand?); \
                 new records are numbered past it",
                g.name(),
                g.spec.sequence
            );
            return self.push(g.name(), requester, BreakKind::Misnumbered, message);
        }
        let seq = g.spec.sequence;
        if let Some(p) = prev.filter(|p| p.position == seq) {
            let message = format!(
                "{} and {} both claim sequence {seq} (forked chain)",
                p.name,
                g.name()
            );
            return self.push(g.name(), requester, BreakKind::Forked, message);
        }
        let Some(link) = &g.spec.previous else {
            if seq != 1 {
                let message = format!(
                    "{} (sequence {seq}) has no link to the previous record{}",
                    g.name(),
                    prev.map(|p| format!(" {}", p.name)).unwrap_or_default()
                );
                self.push(g.name(), requester, BreakKind::Unlinked, message);
            }
            return;
        };
        let linked = match prev.filter(|p| p.name == link.name) {
            Some(p) => Some(p.clone()),
            None => find(&link.name),
        };
        let Some(p) = linked else {
            let (kind, message) = match prev {
                Some(p) if p.position.saturating_add(1) < seq => (
                    BreakKind::SequenceGap,
                    format!(
                        "records between {} and {} are missing ({}; {} links to {})",
                        p.name,
                        g.name(),
                        missing(p.position.saturating_add(1), seq - 1),
                        g.name(),
                        link.name
                    ),
                ),
                Some(_) => (
                    BreakKind::MissingPredecessor,
                    format!("{} links to {}, which does not exist", g.name(), link.name),
                ),
                None => (
                    BreakKind::MissingPredecessor,
                    format!(
                        "{} (sequence {seq}) follows records that no longer exist ({}; it links to {})",
                        g.name(),
                        missing(1, seq - 1),
                        link.name
                    ),
                ),
            };
            return self.push(g.name(), requester, kind, message);
        };
        if p.position.saturating_add(1) != seq {
            let message = format!(
                "{} (sequence {seq}) links to {} (sequence {}), not to sequence {}",
                g.name(),
                p.name,
                p.sequence,
                seq - 1
            );
            self.push(g.name(), requester, BreakKind::SequenceGap, message);
        } else if link.digest != p.digest && p.shows_change(g) {
            let message = format!(
                "{} does not match the digest {} records for it, and it was \
                 changed or re-created after {} was written (altered or replaced)",
                p.name,
                g.name(),
                g.name()
            );
            self.push(&p.name, "", BreakKind::Altered, message);
        } else if link.digest != p.digest {
            // The predecessor is as it was written: the successor's link is what is wrong.
            // Blame it, not the predecessor's (possibly innocent) maker.
            let message = format!(
                "{} (requested by {}) links {} with a digest {} never had; {} shows no sign \
                 of change since, so the link was written wrong (a forged record): suspect {}",
                g.name(),
                requester,
                p.name,
                p.name,
                p.name,
                requester
            );
            self.push(g.name(), requester, BreakKind::BrokenLink, message);
        }
    }
}

/// `grant-000002` or `grant-000002 to grant-000005`.
fn missing(from: i64, to: i64) -> String {
    if from >= to {
        format!("{} is gone", name_for(from))
    } else {
        format!("{} to {} are gone", name_for(from), name_for(to))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Records in the cluster are written by hand too: whatever they say, the chain is
        /// verified, the next place found or refused, every report and listing made.
        #[test]
        fn any_records_are_verified_and_reported(
            records in proptest::collection::vec(crate::test_support::arb_grant(), 0..8),
            seal_names in proptest::collection::vec(crate::test_support::arb_text(), 0..4),
        ) {
            let now = chrono::Utc::now();
            let _ = breaks(&records);
            let _ = (head(&records), next_sequence(&records));
            let policy = [("roles", "incident-debug"), ("incident-debug.groups", "sre")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let report = crate::grant::audit::report(
                &records,
                now,
                Some(std::time::Duration::from_secs(u64::MAX / 4)),
                Some(policy),
            );
            // The audit walks the history a page at a time, in name order, merging the
            // records listing leaves out of order and looking links up by name: it finds
            // what the walk over all records at once finds (a cluster keeps one per name).
            let mut unique: Vec<Grant> = records
                .iter()
                .map(|g| (g.name().to_string(), g.clone()))
                .collect::<std::collections::BTreeMap<_, _>>()
                .into_values()
                .collect();
            proptest::prop_assert_eq!(&report.chain.breaks, &breaks(&unique));
            proptest::prop_assert_eq!(report.chain.records, unique.len());
            proptest::prop_assert_eq!(
                report.chain.head.as_deref(),
                head(&unique).map(|h| h.name())
            );
            unique.sort_by(|a, b| (a.spec.sequence, a.name()).cmp(&(b.spec.sequence, b.name())));
            let shown: Vec<&str> = report.records.iter().map(|e| e.grant.name.as_str()).collect();
            let all: Vec<&str> = unique.iter().map(|g| g.name()).collect();
            proptest::prop_assert_eq!(shown, all);
            let _ = crate::output::grant_tables::audit(&report.records);
            let rows = crate::grant::status::live(&records, "alice@example.com", true, now);
            let _ = crate::output::grant_tables::status(&rows, true);
            let _ = crate::grant::status::revoked_by_others(&records, "alice@example.com", now);
            let seals: Vec<k8s_openapi::api::core::v1::Secret> = seal_names
                .into_iter()
                .map(|n| {
                    let mut s = k8s_openapi::api::core::v1::Secret::default();
                    s.metadata.name = Some(n);
                    s
                })
                .collect();
            let _ = crate::grant::audit::check_seals(&records, &seals, now);
            let _ = crate::output::safe_format::json(&report);
            let _ = crate::output::safe_format::yaml(&report);
        }
    }

    use crate::test_support::{chain, spec};

    #[test]
    fn digest_is_stable_and_covers_every_field() {
        let a = digest("grant-000001", &spec(1, None));
        assert_eq!(a, digest("grant-000001", &spec(1, None)));
        assert!(a.starts_with("sha256:") && a.len() == 7 + 64);
        let mut s = spec(1, None);
        s.reason.push('!');
        assert_ne!(a, digest("grant-000001", &s));
        assert_ne!(a, digest("grant-000002", &spec(1, None)));
    }

    #[test]
    fn verify_finds_deleted_and_altered_records() {
        let records = chain(4);
        assert!(verify(&records).is_empty());
        assert_eq!(head(&records).unwrap().name(), "grant-000004");
        let mut deleted = records.clone();
        deleted.remove(1);
        let p = verify(&deleted);
        assert!(
            p[0].contains("between grant-000001 and grant-000003"),
            "{p:?}"
        );
        let mut altered = records.clone();
        altered[2].spec.reason = "nothing to see".into();
        altered[2].metadata.generation = Some(2);
        let p = verify(&altered);
        assert!(p[0].contains("grant-000003 does not match"), "{p:?}");
    }

    #[test]
    fn breaks_name_the_record_and_the_kind() {
        let records = chain(5);
        assert!(breaks(&records).is_empty());

        let mut gap = records.clone();
        gap.drain(1..3);
        let b = breaks(&gap);
        assert_eq!(b.len(), 1, "{b:?}");
        assert_eq!(
            (b[0].kind, b[0].record.as_str()),
            (BreakKind::SequenceGap, "grant-000004")
        );
        assert!(
            b[0].message
                .contains("grant-000002 to grant-000003 are gone"),
            "{b:?}"
        );

        let b = breaks(&records[2..]);
        assert_eq!(
            (b[0].kind, b[0].record.as_str()),
            (BreakKind::MissingPredecessor, "grant-000003")
        );

        let mut altered = records.clone();
        altered[1].spec.ticket = Some("INC-0".into());
        altered[1].metadata.generation = Some(2);
        let b = breaks(&altered);
        assert_eq!(
            (b[0].kind, b[0].record.as_str(), b[0].suspect.as_deref()),
            (BreakKind::Altered, "grant-000002", None)
        );

        // A second record in place 3, linking to the same predecessor.
        let mut forked = records.clone();
        let mut twin = forked[2].clone();
        twin.metadata.name = Some("grant-000003b".into());
        twin.spec.reason = "another".into();
        forked.push(twin);
        let b = breaks(&forked);
        assert_eq!(b[0].kind, BreakKind::Misnumbered, "{b:?}");
        assert_eq!(b[0].record, "grant-000003b");

        // A hand-made record sorting before the real one at the same place.
        let mut forked = records.clone();
        let mut twin = forked[2].clone();
        twin.metadata.name = Some("forged".into());
        forked.push(twin);
        let b = breaks(&forked);
        assert_eq!(
            b.iter()
                .map(|b| (b.kind, b.record.as_str()))
                .collect::<Vec<_>>(),
            [
                (BreakKind::Misnumbered, "forged"),
                (BreakKind::Forked, "grant-000003")
            ]
        );

        let mut unlinked = records.clone();
        unlinked[4].spec.previous = None;
        let b = breaks(&unlinked);
        assert_eq!(
            (b[0].kind, b[0].record.as_str()),
            (BreakKind::Unlinked, "grant-000005")
        );
    }

    #[test]
    fn a_forged_link_blames_its_own_record_and_the_rest_is_still_verified() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
        let at = |s: &str| Some(Time(s.parse().unwrap()));
        let mut records = chain(6);
        for (i, g) in records.iter_mut().enumerate() {
            g.metadata.generation = Some(1);
            g.metadata.creation_timestamp = at(&format!("2026-11-27T11:0{i}:00Z"));
        }
        // mallory writes place 3 with a garbage digest for grant-000002 (which is untouched).
        records[2].spec.requester = "mallory@example.com".into();
        records[2].spec.previous.as_mut().unwrap().digest = "sha256:garbage".into();
        // Later records link the forged one as the plugin would; 6 breaks another way.
        for i in 3..5 {
            let relinked = digest_of(&records[i - 1]);
            records[i].spec.previous.as_mut().unwrap().digest = relinked;
        }
        records[5].spec.previous = None;
        let b = breaks(&records);
        assert_eq!(
            b.iter()
                .map(|b| (b.kind, b.record.as_str(), b.suspect.as_deref()))
                .collect::<Vec<_>>(),
            [
                (
                    BreakKind::BrokenLink,
                    "grant-000003",
                    Some("mallory@example.com")
                ),
                (
                    BreakKind::Unlinked,
                    "grant-000006",
                    Some("alice@example.com")
                ),
            ],
            "{b:?}"
        );
        assert!(
            b[0].message.contains("suspect mallory@example.com"),
            "{}",
            b[0].message
        );
        // grant-000002 re-created after its successor: that one is the altered record.
        let mut recreated = chain(3);
        recreated[1].spec.reason = "nothing happened".into();
        recreated[1].metadata.creation_timestamp = at("2026-11-27T12:00:00Z");
        recreated[2].metadata.creation_timestamp = at("2026-11-27T11:05:00Z");
        let b = breaks(&recreated);
        assert_eq!(
            (b[0].kind, b[0].record.as_str()),
            (BreakKind::Altered, "grant-000002")
        );
    }

    #[test]
    fn next_sequence_moves_past_squatted_names_and_never_overflows() {
        let mut records = chain(4);
        assert_eq!(next_sequence(&records), Ok(5));
        // A record made by hand under the next name, claiming an old place.
        let mut squatter = records[0].clone();
        squatter.metadata.name = Some("grant-000005".into());
        records.push(squatter);
        assert_eq!(next_sequence(&records), Ok(6));
        assert_eq!(head(&records).unwrap().name(), "grant-000005");
        let b = breaks(&records);
        assert_eq!(b.len(), 1, "{b:?}");
        assert_eq!(
            (b[0].kind, b[0].record.as_str()),
            (BreakKind::Misnumbered, "grant-000005")
        );
        // A record following the squatter (as the plugin links it) adds no break.
        let follower = Grant::new("grant-000006", spec(6, Some(&records[4])));
        records.push(follower);
        assert_eq!(breaks(&records).len(), 1, "{:?}", breaks(&records));

        let mut last = records[0].clone();
        last.metadata.name = Some("grant-999999".into());
        last.spec.sequence = i64::MAX;
        records.push(last);
        let err = next_sequence(&records).unwrap_err();
        assert!(err.contains("last one possible"), "{err}");
        // The CRD's maximum is the last place too.
        let mut at_max = chain(1);
        at_max[0].metadata.name = Some(name_for(MAX_SEQUENCE));
        at_max[0].spec.sequence = MAX_SEQUENCE;
        let err = next_sequence(&at_max).unwrap_err();
        assert!(err.contains("chain place 999999999, the last one"), "{err}");
        at_max[0].spec.sequence = MAX_SEQUENCE - 1;
        at_max[0].metadata.name = Some(name_for(MAX_SEQUENCE - 1));
        assert_eq!(next_sequence(&at_max), Ok(MAX_SEQUENCE));
        assert!(!breaks(&records).is_empty());
        // Negative sequences do not pull the next one below 1.
        let mut neg = chain(1);
        neg[0].spec.sequence = i64::MIN;
        assert_eq!(next_sequence(&neg), Ok(2));
        assert!(!breaks(&neg).is_empty());
    }
}
