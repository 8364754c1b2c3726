//! Live grants, as rows for people and objects for machines.

use super::duration;
use super::record::Grant;
use crate::untrusted::Untrusted;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// One live grant.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    pub name: String,
    pub requester: String,
    pub role: String,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    pub started: String,
    pub expires: String,
    pub seconds_left: i64,
    pub jti: String,
}

/// The live grants among `records` at `now`: the person's own, or everyone's with `all`.
pub fn live(records: &[Grant], me: &str, all: bool, now: DateTime<Utc>) -> Vec<Row> {
    let mut rows: Vec<Row> = records
        .iter()
        .filter(|g| g.is_live(now) && (all || g.spec.requester == me))
        .map(|g| Row {
            name: g.name().to_string(),
            requester: g.spec.requester.clone(),
            role: g.spec.role.clone(),
            reason: g.spec.reason.clone(),
            ticket: g.spec.ticket.clone(),
            started: g.spec.start_time.clone(),
            expires: g.spec.expiry_time.clone(),
            seconds_left: g.expiry().map_or(0, |e| (e - now).num_seconds().max(0)),
            jti: g
                .status
                .as_ref()
                .and_then(|s| s.jti.clone())
                .unwrap_or_default(),
        })
        .collect();
    rows.sort_by(|a, b| a.name.cmp(&b.name));
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
        "STARTED".into(),
        "EXPIRES".into(),
        "LEFT".into(),
        "REASON".into(),
    ]];
    for r in rows {
        let left = std::time::Duration::from_secs(r.seconds_left as u64);
        lines.push(vec![
            r.name.clone(),
            r.requester.clone(),
            r.role.clone(),
            r.started.clone(),
            r.expires.clone(),
            duration::human(left),
            match &r.ticket {
                Some(t) => format!("[{t}] {}", r.reason),
                None => r.reason.clone(),
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
