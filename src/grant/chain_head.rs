//! Finding the head of the record chain (the record a new one must follow) without listing
//! the history: record names are chain places (`grant-NNNNNN`, the admission policy makes
//! the name the sequence, and records are never deleted), so the head is the last place
//! whose name exists. From a hint (where this machine last saw the head) the search
//! gallops forward while places exist, or back while they do not, then halves the gap: a
//! right hint costs two GETs (the head, and the place after it answering 404), any hint
//! O(log distance). The hint is never trusted: every step is a read of the records.
//!
//! The reads may come from the API server's cache ([`Reads::Cached`]: no read of etcd,
//! whose cost grows with its size): a cache a moment behind can only find a head
//! before the real one, and a record created at the place after it then gets 409 — the
//! request looks again, from etcd ([`Reads::Fresh`]).

use crate::grant::cluster::{Cluster, ClusterError};
use crate::grant::model::chain::{self, MAX_SEQUENCE};
use crate::grant::model::record::{name_for, Grant};

/// Where a new record goes.
#[derive(Debug)]
pub struct Head {
    /// The record to link (`None`: the chain is empty).
    pub record: Option<Grant>,
    /// The place (sequence) for the new record.
    pub next: i64,
}

/// Why no place was found.
#[derive(Debug)]
pub enum HeadError {
    /// A record claims the last place possible (its message says which).
    Full(String),
    Cluster(ClusterError),
}

impl From<ClusterError> for HeadError {
    fn from(e: ClusterError) -> Self {
        HeadError::Cluster(e)
    }
}

/// Where the search reads the records from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reads {
    /// The API server's cache, as it is (possibly a moment behind).
    Cached,
    /// etcd: every record created before the read.
    Fresh,
}

/// The record at place `p`, if any (places outside 1..=MAX_SEQUENCE hold none).
async fn at(cluster: &dyn Cluster, p: i64, reads: Reads) -> Result<Option<Grant>, ClusterError> {
    if !(1..=MAX_SEQUENCE).contains(&p) {
        return Ok(None);
    }
    match reads {
        Reads::Cached => cluster.record_at(&name_for(p), "0").await,
        Reads::Fresh => cluster.record(&name_for(p)).await,
    }
}

/// The head of the chain and the next place, searched from `hint` (any number: a wrong one
/// only costs more reads).
pub async fn find(cluster: &dyn Cluster, hint: i64, reads: Reads) -> Result<Head, HeadError> {
    let start = hint.clamp(1, MAX_SEQUENCE);
    // Invariant from here: `lo` is 0 or a place that exists (`lo_record`), `hi` a place
    // that does not, lo < hi.
    let (mut lo, mut lo_record, mut hi) = match at(cluster, start, reads).await? {
        Some(r) => forward(cluster, start, r, reads).await?,
        None => backward(cluster, start, reads).await?,
    };
    loop {
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            match at(cluster, mid, reads).await? {
                Some(r) => (lo, lo_record) = (mid, Some(r)),
                None => hi = mid,
            }
        }
        let next = chain::next_after(lo_record.as_ref()).map_err(HeadError::Full)?;
        if next == hi {
            return Ok(Head {
                record: lo_record,
                next,
            });
        }
        // The head claims a place past its name (a record made without the admission
        // policy): the next place is past that claim, and past whatever already sits there.
        match at(cluster, next, reads).await? {
            None => {
                return Ok(Head {
                    record: lo_record,
                    next,
                })
            }
            Some(r) => (lo, lo_record, hi) = forward(cluster, next, r, reads).await?,
        }
    }
}

/// From `lo` (which exists) forward in doubling steps until a place does not exist.
async fn forward(
    cluster: &dyn Cluster,
    mut lo: i64,
    record: Grant,
    reads: Reads,
) -> Result<(i64, Option<Grant>, i64), ClusterError> {
    let mut lo_record = Some(record);
    let mut step = 1;
    loop {
        // Past the last place nothing can exist: the search halves back from there.
        let p = lo.saturating_add(step).min(MAX_SEQUENCE + 1);
        match at(cluster, p, reads).await? {
            Some(r) => (lo, lo_record) = (p, Some(r)),
            None => return Ok((lo, lo_record, p)),
        }
        step = step.saturating_mul(2);
    }
}

/// From `hi` (which does not exist) back in doubling steps until a place exists, or 0.
async fn backward(
    cluster: &dyn Cluster,
    mut hi: i64,
    reads: Reads,
) -> Result<(i64, Option<Grant>, i64), ClusterError> {
    let mut step = 1;
    loop {
        let p = hi - step;
        if p < 1 {
            return Ok((0, None, hi));
        }
        match at(cluster, p, reads).await? {
            Some(r) => return Ok((p, Some(r), hi)),
            None => hi = p,
        }
        step = step.saturating_mul(2);
    }
}

/// The one-line warning (once per machine) when `head`'s link to its predecessor is
/// broken: the bounded check `request` and `status` make; the whole chain is `audit`'s.
/// The predecessor is taken from `known` (records already read) when it is there.
pub async fn link_warning(
    cluster: &dyn Cluster,
    head: Option<&Grant>,
    known: &[Grant],
) -> Result<Option<String>, ClusterError> {
    let Some(head) = head else { return Ok(None) };
    // A link that names no record of the plugin's form is not looked up.
    let predecessor = match &head.spec.previous {
        Some(link) if chain::name_number(&link.name).is_some() => {
            match known.iter().find(|g| g.name() == link.name) {
                Some(g) => Some(g.clone()),
                None => cluster.record(&link.name).await?,
            }
        }
        _ => None,
    };
    let breaks = chain::link_breaks(head, predecessor.as_ref());
    Ok(chain::warning(&breaks, cluster.server(), cluster.context()))
}

/// Where this machine remembers the head it last saw, per API server (`<server> <place>`
/// lines): only a place to start searching from.
fn hint_file() -> Option<std::path::PathBuf> {
    dirs::cache_dir().map(|d| d.join("kubectl-breakglass").join("chain-head"))
}

/// The place this machine last saw as the head on `server` (1 when it never looked).
pub fn hint(server: &str) -> i64 {
    let known = hint_file()
        .and_then(|f| std::fs::read_to_string(f).ok())
        .unwrap_or_default();
    known
        .lines()
        .filter_map(|l| l.rsplit_once(' '))
        .find(|(s, _)| *s == server)
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or(1)
}

/// Remembers `place` as the head on `server` (best effort: a lost hint costs reads, not
/// correctness).
pub fn remember(server: &str, place: i64) {
    let Some(file) = hint_file() else { return };
    let known = std::fs::read_to_string(&file).unwrap_or_default();
    // The last few servers are enough.
    let mut lines: Vec<String> = known
        .lines()
        .filter(|l| l.rsplit_once(' ').is_some_and(|(s, _)| s != server))
        .rev()
        .take(31)
        .map(str::to_string)
        .collect();
    lines.reverse();
    lines.push(format!("{server} {place}"));
    if let Some(dir) = file.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = std::fs::write(&file, lines.join("\n") + "\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grant::cluster::memory::MemoryCluster;
    use crate::grant::model::record::{GrantSpec, PreviousRecord};

    /// A record at `name` claiming `sequence`, linked to the record before it.
    fn record(name: &str, sequence: i64, previous: Option<&Grant>) -> Grant {
        Grant::new(
            name,
            GrantSpec {
                requester: "bob@example.com".into(),
                requester_groups: vec![],
                reason: "checkout is down".into(),
                ticket: None,
                role: "incident-debug".into(),
                service_account: "incident-debug".into(),
                duration_seconds: 60,
                start_time: "2026-11-29T10:00:00Z".into(),
                expiry_time: "2026-11-29T10:01:00Z".into(),
                client_host: String::new(),
                plugin_version: String::new(),
                request_id: String::new(),
                sequence,
                previous: previous.map(|p| PreviousRecord {
                    name: p.name().to_string(),
                    digest: chain::digest_of(p),
                }),
            },
        )
    }

    /// A cluster holding a well-made chain of `n` records.
    fn chain_of(n: i64) -> MemoryCluster {
        let cluster = MemoryCluster::new();
        let mut previous: Option<Grant> = None;
        for seq in 1..=n {
            let g = record(&name_for(seq), seq, previous.as_ref());
            cluster
                .state
                .borrow_mut()
                .records
                .insert(g.name().to_string(), g.clone());
            previous = Some(g);
        }
        cluster
    }

    fn reads(cluster: &MemoryCluster) -> usize {
        let state = cluster.state.borrow();
        state.calls.iter().filter(|c| **c == "record").count()
    }

    #[tokio::test]
    async fn any_hint_finds_the_head_and_a_right_one_costs_two_reads() {
        let cluster = chain_of(1000);
        // Right, too far back, too far forward, not a place at all.
        for hint in [
            1000,
            999,
            1,
            0,
            -5,
            1001,
            1500,
            77_777,
            MAX_SEQUENCE,
            i64::MAX,
        ] {
            let head = find(&cluster, hint, Reads::Fresh).await.unwrap();
            assert_eq!(head.next, 1001, "hint {hint}");
            assert_eq!(head.record.unwrap().name(), "grant-001000", "hint {hint}");
        }
        cluster.state.borrow_mut().calls.clear();
        find(&cluster, 1000, Reads::Fresh).await.unwrap();
        assert_eq!(reads(&cluster), 2, "the head, and 404 past it");
        // Any hint is O(log distance), not O(history).
        cluster.state.borrow_mut().calls.clear();
        find(&cluster, 1, Reads::Fresh).await.unwrap();
        assert!(reads(&cluster) <= 2 * 11, "{} reads", reads(&cluster));
    }

    #[tokio::test]
    async fn an_empty_chain_starts_at_one_whatever_the_hint() {
        let cluster = MemoryCluster::new();
        for hint in [1, 42, MAX_SEQUENCE] {
            let head = find(&cluster, hint, Reads::Fresh).await.unwrap();
            assert_eq!((head.next, head.record.is_none()), (1, true), "hint {hint}");
        }
    }

    #[tokio::test]
    async fn a_head_claiming_a_later_place_is_passed_over_with_whatever_sits_there() {
        // grant-000003 made by hand (no admission policy) claims sequence 10; 10 and 11 exist.
        let cluster = chain_of(2);
        let squat = record("grant-000003", 10, None);
        let ten = record("grant-000010", 10, Some(&squat));
        let eleven = record("grant-000011", 11, Some(&ten));
        for g in [squat, ten, eleven] {
            let mut state = cluster.state.borrow_mut();
            state.records.insert(g.name().to_string(), g);
        }
        for hint in [1, 3, 5] {
            let head = find(&cluster, hint, Reads::Fresh).await.unwrap();
            assert_eq!(head.next, 12, "hint {hint}");
            assert_eq!(head.record.unwrap().name(), "grant-000011");
        }
    }

    #[tokio::test]
    async fn a_record_at_the_last_place_is_a_clean_refusal() {
        let cluster = chain_of(1);
        let last = record(&name_for(MAX_SEQUENCE), MAX_SEQUENCE, None);
        let mut squat = record("grant-000002", MAX_SEQUENCE, None);
        squat.spec.sequence = MAX_SEQUENCE;
        for g in [last, squat] {
            let mut state = cluster.state.borrow_mut();
            state.records.insert(g.name().to_string(), g);
        }
        match find(&cluster, 1, Reads::Fresh).await {
            Err(HeadError::Full(m)) => assert!(m.contains("the last one possible"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
