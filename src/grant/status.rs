//! Live grants, as rows for people and objects for machines.

use super::duration;
use super::record::Grant;
use super::view::GrantView;
use crate::untrusted::Untrusted;
use chrono::{DateTime, Utc};
use serde::Serialize;

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
            (g.state() == Some(super::record::State::Revoked) && by != me).then(|| {
                format!(
                    "{} (role {}) was revoked by {} at {}.",
                    Untrusted(g.name()),
                    Untrusted(&g.spec.role),
                    Untrusted(by),
                    Untrusted(s.revoked_at.as_deref().unwrap_or("an unrecorded time"))
                )
            })
        })
        .collect()
}

/// A kubectl-style table.
pub fn table(rows: &[Row], all: bool) -> String {
    let mut lines = vec![vec![
        "NAME".to_string(),
        "REQUESTER".into(),
        "ROLE".into(),
        "START".into(),
        "EXPIRY".into(),
        "LEFT".into(),
        "REASON".into(),
    ]];
    for r in rows {
        let left = std::time::Duration::from_secs(r.seconds_left as u64);
        let g = &r.grant;
        lines.push(vec![
            g.name.clone(),
            g.requester_shown(),
            g.role.clone(),
            g.start.clone(),
            g.expiry.clone(),
            duration::human(left),
            match &g.ticket {
                Some(t) => format!("[{t}] {}", g.reason),
                None => g.reason.clone(),
            },
        ]);
    }
    if !all {
        for l in &mut lines {
            l.remove(1);
        }
    }
    super::output::columns(&lines)
}
