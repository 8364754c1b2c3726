//! The records a request must see — the person's grants that may be live or still in
//! flight — found without reading the history (issue 11: a request costs the same with 10
//! records or 10,000).
//!
//! A grant's token works only while its seal exists (the TokenRequest is bound to it), so
//! the grants that may be live are those whose seals exist: one list of the seals (the
//! Secrets of the break-glass namespace, every one an empty seal; the API server's cache
//! answers it at once), then a GET of each record the person's own seals name. What has no
//! seal yet is a request between its record and its seal, in flight: those records were
//! created moments before the head was found, so they are read by name back from the
//! chain's head (honest places are taken in creation order) while they were created
//! within [`WALK_WINDOW`] of the head (the API server's clock, both times), and down to
//! every place where this request lost a race (whoever won it may be the same person).
//! Neither read grows with the history.
//!
//! The label list of the records that may be live (`breakglass.dev/live-until`, which the
//! API server filters record by record) stays the fallback: where the seals may not be
//! listed (requester RBAC from before this version, or the list failed), where the chain
//! is empty (no history
//! to pay for, and the list tells a missing CRD apart), and where a burst makes the walk or
//! the person's seals longer than [`MOST_READS`].

use super::chain_head::Head;
use super::protocol::RECENT;
use crate::grant::cluster::records::list_recent_records_at;
use crate::grant::cluster::{Cluster, ClusterError};
use crate::grant::model::chain;
use crate::grant::model::record::{name_for, Grant};
use crate::grant::model::seal;
use chrono::{DateTime, Duration, Utc};

/// How long before the head's creation a record may have been created and still be in
/// flight as the person's clock sees it: a request is in flight for up to a minute, and a
/// minute covers clocks that disagree (the label list's window too).
pub const WALK_WINDOW: Duration = RECENT;

/// The most records the walk, or the person's seals, lead to before the label list is read
/// instead: a burst of requests (a fire drill of the whole team) or a pile of the person's
/// seals costs one list, never more GETs than that list would cost.
pub const MOST_READS: usize = 32;

/// The records of `me` that may be live or in flight at `now`, around the chain's `head`;
/// `lost_at` is the lowest place this request lost a race for, `fresh_as` the head's
/// resource version (for the label list).
pub async fn may_be_live(
    cluster: &dyn Cluster,
    head: &Head,
    me: &str,
    lost_at: Option<i64>,
    now: DateTime<Utc>,
    fresh_as: Option<&str>,
) -> Result<Vec<Grant>, ClusterError> {
    let by_label = || list_recent_records_at(cluster, now, RECENT, fresh_as);
    let Some(head_record) = &head.record else {
        return by_label().await;
    };
    let Some(mut records) = walk_back(cluster, head_record, lost_at).await? else {
        return by_label().await;
    };
    // Not allowed (RBAC from before this version), or any other failure: the label list,
    // which says in the person's terms what is wrong if it fails too. An emergency does
    // not stop at the faster read.
    let Ok(seals) = cluster.seals_cached().await else {
        return by_label().await;
    };
    let claimed: Vec<String> = seals
        .iter()
        .filter(|s| seal_maker(s) == Some(me))
        .map(seal::claimed_record)
        // Only a name the plugin gives a record is read; another is a stray for `audit`.
        .filter(|name| chain::name_number(name).is_some())
        .filter(|name| records.iter().all(|g| g.name() != name))
        .collect();
    if claimed.len() > MOST_READS {
        return by_label().await;
    }
    for name in claimed {
        if let Some(g) = cluster.record(&name).await? {
            if !records.iter().any(|r| r.name() == g.name()) {
                records.push(g);
            }
        }
    }
    // In chain order, as the label list answers: a refusal names the oldest live grant.
    records.sort_by(chain::chain_order);
    Ok(records)
}

/// Who made a seal (the annotation the admission policy checks against its creator).
fn seal_maker(s: &k8s_openapi::api::core::v1::Secret) -> Option<&str> {
    s.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(seal::REQUESTER_ANNOTATION))
        .map(String::as_str)
}

/// The head and the records before it that may be in flight: read by name back from the
/// head while they were created within [`WALK_WINDOW`] of it, and at least down to
/// `lost_at`. `None` when that takes more than [`MOST_READS`] records (a burst).
async fn walk_back(
    cluster: &dyn Cluster,
    head: &Grant,
    lost_at: Option<i64>,
) -> Result<Option<Vec<Grant>>, ClusterError> {
    let Some(reference) = created(head) else {
        return Ok(None);
    };
    let mut walked = vec![head.clone()];
    let mut place = chain::name_number(head.name()).unwrap_or(0);
    loop {
        let in_window = walked
            .last()
            .and_then(created)
            .is_some_and(|t| t >= reference - WALK_WINDOW);
        let must_reach = lost_at.is_some_and(|l| place > l);
        if !(in_window || must_reach) || place <= 1 {
            return Ok(Some(walked));
        }
        if walked.len() >= MOST_READS {
            return Ok(None);
        }
        place -= 1;
        let name = name_for(place);
        // From the API server's cache, as fresh as the head at least: every honest record
        // before the head was created before it (a GET from etcd costs more, and more as
        // etcd grows). What the cache does not hold is asked of etcd before it counts as
        // a hole.
        let cached = match head.metadata.resource_version.as_deref() {
            Some(at) => cluster.record_at(&name, at).await?,
            None => None,
        };
        let found = match cached {
            Some(g) => Some(g),
            None => cluster.record(&name).await?,
        };
        match found {
            Some(g) => walked.push(g),
            // A hole (a record deleted with the policies removed): `audit` reports it; the
            // records before it are no request's in flight.
            None => return Ok(Some(walked)),
        }
    }
}

/// When the API server created a record (its own clock), else when the record says it
/// started (a record from a server that does not say).
fn created(g: &Grant) -> Option<DateTime<Utc>> {
    g.metadata
        .creation_timestamp
        .as_ref()
        .and_then(|t| DateTime::from_timestamp(t.0.as_second(), 0))
        .or_else(|| g.start())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grant::chain_head;
    use crate::grant::cluster::memory::MemoryCluster;
    use crate::grant::model::record::{GrantStatus, State};
    use crate::test_support::chain;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    const ALICE: &str = "alice@example.com";
    const BOB: &str = "bob@example.com";

    /// Alice's record at `place` in `state`, bob's Revoked ones elsewhere.
    fn alices_at(place: i64, state: State) -> impl Fn(i64) -> (&'static str, State) {
        move |p| {
            if p == place {
                (ALICE, state)
            } else {
                (BOB, State::Revoked)
            }
        }
    }

    /// A chain of records in `cluster`, place p created `ages[p-1]` minutes before `now`,
    /// made by and in the state `made(p)` says.
    fn history(
        cluster: &MemoryCluster,
        now: DateTime<Utc>,
        ages: &[i64],
        made: impl Fn(i64) -> (&'static str, State),
    ) {
        let mut st = cluster.state.borrow_mut();
        for (i, mut g) in chain(ages.len() as i64).into_iter().enumerate() {
            let p = i as i64 + 1;
            let created = now - Duration::minutes(ages[i]);
            g.metadata.creation_timestamp = Some(Time(created.to_rfc3339().parse().unwrap()));
            g.metadata.resource_version = Some(format!("{}", 100 + p));
            let (who, state) = made(p);
            g.spec.requester = who.into();
            g.spec.start_time = crate::grant::model::record::timestamp(created);
            g.spec.expiry_time =
                crate::grant::model::record::timestamp(created + Duration::hours(1));
            g.status = Some(GrantStatus {
                state: Some(state),
                ..GrantStatus::default()
            });
            if state == State::Active {
                let s = seal::build(&g);
                st.seals.insert(s.metadata.name.clone().unwrap(), s);
            }
            st.records.insert(g.name().to_string(), g);
        }
    }

    async fn found(
        cluster: &MemoryCluster,
        me: &str,
        lost_at: Option<i64>,
        now: DateTime<Utc>,
    ) -> (Vec<String>, Vec<&'static str>) {
        let head = chain_head::find(cluster, 1, chain_head::Reads::Fresh)
            .await
            .unwrap();
        cluster.state.borrow_mut().calls.clear();
        let records = may_be_live(cluster, &head, me, lost_at, now, None)
            .await
            .unwrap();
        let mut names: Vec<String> = records.iter().map(|g| g.name().to_string()).collect();
        names.sort();
        (names, cluster.state.borrow().calls.clone())
    }

    fn reads(calls: &[&str], call: &str) -> usize {
        calls.iter().filter(|c| **c == call).count()
    }

    #[tokio::test]
    async fn a_grant_made_long_ago_is_found_by_its_seal_without_the_history() {
        let cluster = MemoryCluster::new();
        let now = Utc::now();
        // 200 records; alice's live grant is place 150 (50 minutes old), bob made the rest.
        let ages: Vec<i64> = (1..=200).map(|p| 200 - p).collect();
        history(&cluster, now, &ages, alices_at(150, State::Active));

        let (names, calls) = found(&cluster, ALICE, None, now).await;
        assert!(names.contains(&"grant-000150".to_string()), "{names:?}");
        assert!(!calls.contains(&"records_live_after"), "{calls:?}");
        // The records created within two minutes before the head and the one that ends the
        // walk (from the cache), the seal list and alice's one record: never the history.
        assert_eq!(reads(&calls, "seals_cached"), 1, "{calls:?}");
        assert_eq!(reads(&calls, "record_at"), 3, "{calls:?}");
        assert_eq!(reads(&calls, "record"), 1, "{calls:?}");
    }

    #[tokio::test]
    async fn a_request_in_flight_has_no_seal_yet_and_is_found_by_the_walk() {
        let cluster = MemoryCluster::new();
        let now = Utc::now();
        // alice's Pending record (no seal) at 9, created a minute ago; bob's at 10, now.
        let ages = [90, 80, 70, 60, 50, 40, 30, 20, 1, 0];
        history(&cluster, now, &ages, alices_at(9, State::Pending));

        let (names, calls) = found(&cluster, ALICE, None, now).await;
        assert!(names.contains(&"grant-000009".to_string()), "{names:?}");
        // The walk stopped at the first record created more than two minutes before the
        // head (place 8): places 7 and below were never read.
        assert_eq!(names, ["grant-000008", "grant-000009", "grant-000010"]);
        assert_eq!(reads(&calls, "record_at"), 2, "{calls:?}");
        assert_eq!(reads(&calls, "record"), 0, "{calls:?}");
        assert!(!calls.contains(&"records_live_after"), "{calls:?}");
    }

    #[tokio::test]
    async fn the_place_a_request_lost_is_read_even_behind_an_old_record() {
        let cluster = MemoryCluster::new();
        let now = Utc::now();
        // Place 10 was squatted an hour ago (made by hand ahead of the chain); alice's
        // other request won place 9 just now and has no seal yet; bob's took 11 since.
        let ages = [90, 80, 70, 60, 50, 40, 30, 20, 0, 60, 0];
        history(&cluster, now, &ages, alices_at(9, State::Pending));

        // Without the lost place, the old record ends the walk: what a squatted place can
        // hide (docs/grant-protocol.md).
        let (names, _) = found(&cluster, ALICE, None, now).await;
        assert_eq!(names, ["grant-000010", "grant-000011"]);
        // This request lost place 9: it reads down to it (and on, while records are new).
        let (names, _) = found(&cluster, ALICE, Some(9), now).await;
        assert_eq!(
            names,
            [
                "grant-000008",
                "grant-000009",
                "grant-000010",
                "grant-000011"
            ]
        );
    }

    #[tokio::test]
    async fn other_peoples_seals_lead_to_no_reads() {
        let cluster = MemoryCluster::new();
        let now = Utc::now();
        // Ten minutes between records: the walk reads the head's predecessor only.
        let ages: Vec<i64> = (1..=20).map(|p| (20 - p) * 10).collect();
        history(&cluster, now, &ages, |_| (BOB, State::Active));

        let (names, calls) = found(&cluster, ALICE, None, now).await;
        assert_eq!(names, ["grant-000019", "grant-000020"], "{calls:?}");
        assert_eq!(reads(&calls, "record_at"), 1, "{calls:?}");
        assert_eq!(reads(&calls, "record"), 0, "{calls:?}");
    }

    #[tokio::test]
    async fn without_leave_to_list_seals_or_when_that_fails_the_label_list_is_read() {
        for refused in [true, false] {
            let cluster = MemoryCluster::new();
            let now = Utc::now();
            let ages: Vec<i64> = (1..=5).map(|p| 50 - p).collect();
            history(&cluster, now, &ages, |_| (ALICE, State::Active));
            // The label list keeps what the memory cluster's records carry (no labels
            // here): what matters is that it is the read made, and that it is answered.
            if refused {
                cluster.state.borrow_mut().forbidden.push("seals_cached");
            } else {
                cluster.state.borrow_mut().failing.push("seals_cached");
            }
            let head = chain_head::find(&cluster, 1, chain_head::Reads::Fresh)
                .await
                .unwrap();
            cluster.state.borrow_mut().calls.clear();
            let found = may_be_live(&cluster, &head, ALICE, None, now, None).await;
            assert!(found.is_ok(), "refused: {refused}");
            let calls = cluster.state.borrow().calls.clone();
            assert_eq!(reads(&calls, "records_live_after"), 1, "{calls:?}");
        }
    }

    #[tokio::test]
    async fn a_burst_longer_than_the_most_reads_is_listed_by_label() {
        let cluster = MemoryCluster::new();
        let now = Utc::now();
        // 40 requests within the last minute (a team-wide fire drill).
        let ages = [0; 40];
        history(&cluster, now, &ages, |_| (BOB, State::Revoked));
        let (_, calls) = found(&cluster, ALICE, None, now).await;
        assert_eq!(reads(&calls, "records_live_after"), 1, "{calls:?}");
        assert_eq!(reads(&calls, "record_at"), MOST_READS - 1, "{calls:?}");
        assert!(!calls.contains(&"seals_cached"), "{calls:?}");
    }

    #[tokio::test]
    async fn an_empty_chain_reads_the_label_list_which_tells_a_missing_crd() {
        let cluster = MemoryCluster::new();
        let (names, calls) = found(&cluster, ALICE, None, Utc::now()).await;
        assert!(names.is_empty());
        assert_eq!(calls, ["records_live_after"]);
    }
}
