//! The grant tables people read: `status` and `audit` without `-o`.

use crate::grant::audit::Entry;
use crate::grant::model::duration;
use crate::grant::status::Row;

/// A kubectl-style table.
pub fn status(rows: &[Row], all: bool) -> String {
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
    super::columns(&lines)
}

/// A table for people: one line per record, the reason last.
#[cfg(test)]
pub fn audit(entries: &[Entry]) -> String {
    let mut lines = vec![audit_header()];
    lines.extend(entries.iter().map(audit_row));
    super::columns(&lines)
}

/// The header of `audit`'s table.
pub fn audit_header() -> Vec<String> {
    [
        "NAME",
        "STATE",
        "REQUESTER",
        "ROLE",
        "START",
        "EXPIRY",
        "REVOKED",
        "TICKET",
        "CREDENTIAL-ID",
        "REASON",
    ]
    .map(String::from)
    .to_vec()
}

/// One record's row of `audit`'s table.
pub fn audit_row(e: &Entry) -> Vec<String> {
    let g = &e.grant;
    let revoked = match (&e.revoked_by, &e.revoked_at) {
        (Some(by), Some(at)) => format!("{by} {at}"),
        (Some(by), None) => by.clone(),
        _ => "-".to_string(),
    };
    let reason = match &e.message {
        Some(m) if g.state == "Failed" => format!("{} (failed: {m})", g.reason),
        _ => g.reason.clone(),
    };
    vec![
        g.name.clone(),
        g.state.clone(),
        g.requester_shown(),
        g.role.clone(),
        g.start.clone(),
        g.expiry.clone(),
        revoked,
        g.ticket.clone().unwrap_or_else(|| "-".into()),
        e.audit_log_credential_id
            .clone()
            .unwrap_or_else(|| "-".into()),
        reason,
    ]
}
