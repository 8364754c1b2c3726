//! The `status` use case: live grants, as rows for people and objects for machines.

use crate::grant::chain_head::{self, HeadError};
use crate::grant::cluster::records::list_recent_records;
use crate::grant::cluster::seals::sweep_expired_own;
use crate::grant::cluster::{Cluster, Whoami};
use crate::grant::model::chain;
use crate::grant::model::record::Grant;
use crate::grant::model::view::GrantView;
use crate::untrusted::Untrusted;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// How far back (by expiry) `status` reads records: the live ones, and the person's grants
/// that expired within a day, whose seals it sweeps (older ones are an admin's
/// `revoke --all`'s to sweep). Bounded by a day's grants, not by the history; `revoke`
/// reads the same window.
pub const SWEPT: chrono::Duration = chrono::Duration::hours(24);

/// One live grant: the common grant shape and the time left.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    #[serde(flatten)]
    pub grant: GrantView,
    pub seconds_left: i64,
}

/// The live grants among `records` at `now`: the person's own, or everyone's with `all`.
pub fn live(records: &[Grant], me: &str, all: bool, now: DateTime<Utc>) -> Vec<Row> {
    let mut rows: Vec<Row> = records
        .iter()
        .filter(|g| g.is_live(now) && (all || g.spec.requester == me))
        .map(|g| Row {
            grant: GrantView::of(g, now),
            seconds_left: g.expiry().map_or(0, |e| (e - now).num_seconds().max(0)),
        })
        .collect();
    rows.sort_by(|a, b| a.grant.name.cmp(&b.grant.name));
    rows
}

/// One line per grant of `me` that someone else revoked before its expiry (which is still
/// ahead), so the person whose kubectl got a bare 401 learns who ended it.
pub fn revoked_by_others(records: &[Grant], me: &str, now: DateTime<Utc>) -> Vec<String> {
    records
        .iter()
        .filter(|g| g.spec.requester == me && g.expiry().is_some_and(|e| e > now))
        .filter_map(|g| {
            let s = g.status.as_ref()?;
            let by = s.revoked_by.as_deref()?;
            (g.state() == Some(crate::grant::model::record::State::Revoked) && by != me).then(
                || {
                    format!(
                        "{} (role {}) was revoked by {} at {}.",
                        Untrusted(g.name()),
                        Untrusted(&g.spec.role),
                        Untrusted(by),
                        Untrusted(s.revoked_at.as_deref().unwrap_or("an unrecorded time"))
                    )
                },
            )
        })
        .collect()
}

/// What `status` found.
pub struct Seen {
    pub me: Whoami,
    pub rows: Vec<Row>,
    /// About the record chain, for people.
    pub warnings: Vec<String>,
    /// Grants of the caller's that someone else revoked early, for people.
    pub notes: Vec<String>,
}

/// The live grants (the caller's, or all with `all`); sweeps the seals the caller's expired
/// grants left, so they leave nothing a new token could be bound to.
pub async fn status(cluster: &dyn Cluster, all: bool) -> anyhow::Result<Seen> {
    let me = cluster.whoami().await?;
    let now = Utc::now();
    let records = list_recent_records(cluster, now, SWEPT).await?;
    sweep_expired_own(cluster, &records, &me.username).await;
    // The newest link only (a few reads from where this machine last saw the head); the
    // whole chain is `audit`'s.
    let hint = chain_head::hint(cluster.server());
    let warning = match chain_head::find(cluster, hint, chain_head::Reads::Cached).await {
        Ok(head) => {
            if let Some(h) = &head.record {
                chain_head::remember(cluster.server(), chain::position(h));
            }
            chain_head::link_warning(cluster, head.record.as_ref(), &records).await?
        }
        // A chain at its last place is `request`'s refusal to explain, not status's.
        Err(HeadError::Full(_)) => None,
        Err(HeadError::Cluster(e)) => return Err(e.into()),
    };
    Ok(Seen {
        rows: live(&records, &me.username, all, now),
        warnings: warning.into_iter().collect(),
        notes: revoked_by_others(&records, &me.username, now),
        me,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grant::cluster::memory::{self, MemoryCluster};
    use crate::grant::cluster::Shared;
    use crate::grant::model::policy::{Ask, Policy};
    use crate::grant::protocol::{self, Beside, Progress};
    use std::rc::Rc;

    #[tokio::test]
    async fn status_shows_live_grants_and_sweeps_the_seal_an_expired_one_left() {
        let cluster = Rc::new(MemoryCluster::new());
        let policy = Policy::from_data(&memory::policy()).unwrap();
        let ask = Ask {
            reason: Some("checkout is down, need to look"),
            ticket: None,
            role: None,
            duration: None,
        };
        let allowed = policy
            .check(&ask, "alice@example.com", &["sre".into()])
            .unwrap();
        let shared: Shared = cluster.clone();
        protocol::request(
            &shared,
            &cluster.me,
            &allowed,
            Beside::Nothing,
            &Progress::default(),
        )
        .await
        .unwrap();

        let seen = status(cluster.as_ref(), false).await.unwrap();
        assert_eq!(seen.rows.len(), 1);
        assert_eq!(
            cluster.state.borrow().seals.len(),
            1,
            "a live grant keeps its seal"
        );

        // The grant ran out, but its seal is still there (nobody revoked it).
        let past = crate::grant::model::record::timestamp(Utc::now() - chrono::Duration::hours(1));
        cluster
            .state
            .borrow_mut()
            .records
            .get_mut("grant-000001")
            .unwrap()
            .spec
            .expiry_time = past;
        let seen = status(cluster.as_ref(), false).await.unwrap();
        assert!(seen.rows.is_empty());
        assert!(
            cluster.state.borrow().seals.is_empty(),
            "its seal was swept"
        );
    }
}
