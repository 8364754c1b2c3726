//! The one JSON shape of a grant, shared by `request -o`, `status -o` and `audit -o` (each
//! adds its own fields beside it), so the same thing has the same key in every command.

use crate::grant::model::record::{Grant, State};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A grant as every command's machine output shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GrantView {
    /// The record's name, `grant-NNNNNN`.
    pub name: String,
    /// Pending, Active, Expired (Active past its expiry), Failed or Revoked.
    pub state: String,
    pub requester: String,
    pub role: String,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    /// RFC 3339, as recorded.
    pub start: String,
    /// RFC 3339, as recorded.
    pub expiry: String,
    /// The token's credential id (the audit log's `credential-id: JTI=<jti>`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// Standby hook (issue 13): the standby ServiceAccount the grant was made through.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standby: Option<String>,
}

impl GrantView {
    /// The view of a stored record at `now`.
    pub fn of(g: &Grant, now: DateTime<Utc>) -> GrantView {
        GrantView {
            name: g.name().to_string(),
            state: state(g, now).to_string(),
            requester: g.spec.requester.clone(),
            role: g.spec.role.clone(),
            reason: g.spec.reason.clone(),
            ticket: g.spec.ticket.clone(),
            start: g.spec.start_time.clone(),
            expiry: g.spec.expiry_time.clone(),
            jti: g.status.as_ref().and_then(|s| s.jti.clone()),
            standby: crate::grant::model::standby::of_record(g).map(str::to_string),
        }
    }

    /// The requester as tables show it: marked when the grant was made through a standby
    /// credential (the identity provider was down, or `--standby`).
    pub fn requester_shown(&self) -> String {
        match &self.standby {
            Some(_) => format!("{} (standby)", self.requester),
            None => self.requester.clone(),
        }
    }
}

/// A record's state at `now`: the recorded one, with Active past its expiry shown as Expired.
pub fn state(g: &Grant, now: DateTime<Utc>) -> &'static str {
    match g.state() {
        None | Some(State::Pending) => "Pending",
        Some(State::Active) if g.is_live(now) => "Active",
        Some(State::Active) => "Expired",
        Some(State::Failed) => "Failed",
        Some(State::Revoked) => "Revoked",
    }
}
