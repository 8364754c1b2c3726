//! Post-event review: what a grant did, from the API server's audit log. The record says who,
//! why and when; the audit log, joined on the token's credential id (`JTI=<jti>`), says what.

pub mod audit_event;
pub mod error;
pub mod input;
pub mod join;
pub mod report;

use crate::grant::record::{Grant, State};
use chrono::{DateTime, Utc};
use error::ReviewError;
use report::{Ended, Review};

/// Reviews `grant` (one of `records`) against `sources`, at `now`.
pub fn review(
    records: &[Grant],
    grant: &str,
    context: &str,
    sources: &mut [input::Source],
    limit: usize,
    now: DateTime<Utc>,
) -> Result<Review, ReviewError> {
    let on = crate::grant::undo::context_flag(context);
    let g =
        records
            .iter()
            .find(|g| g.name() == grant)
            .ok_or_else(|| ReviewError::UnknownGrant {
                grant: grant.to_string(),
                context: context.to_string(),
                on: on.clone(),
            })?;
    let status = g.status.clone().unwrap_or_default();
    let Some(jti) = status.jti.clone() else {
        let why = match g.state() {
            Some(State::Failed) => format!(
                "the request failed before a token was issued ({})",
                status.message.as_deref().unwrap_or("no message recorded")
            ),
            _ => "the request never finished issuing a token".to_string(),
        };
        return Err(ReviewError::NoJti {
            grant: grant.to_string(),
            why,
            on,
        });
    };
    let ended = ended(g, now);
    let end_time = ended
        .at
        .as_deref()
        .filter(|_| ended.how != "live")
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc));
    let mut join = join::Join::new(&jti, end_time, limit);
    for s in sources.iter_mut() {
        join.read(s)?;
    }
    let log = join.stats();
    if join.actions + join.minted == 0 {
        return Err(ReviewError::NothingMatched {
            grant: grant.to_string(),
            jti,
            events: log.events,
            first: log.first_event.clone().unwrap_or_else(|| "-".into()),
            last: log.last_event.clone().unwrap_or_else(|| "-".into()),
            start: g.spec.start_time.clone(),
            end: ended
                .at
                .clone()
                .unwrap_or_else(|| g.spec.expiry_time.clone()),
        });
    }
    let (timeline, timeline_left_out) = join.timeline();
    Ok(Review {
        grant: crate::grant::audit::entry(g, now),
        ended,
        actions: join.actions,
        minted: join.minted,
        summary: join.summary(),
        flags: join.flag_counts.clone(),
        flagged: join.flagged(),
        timeline,
        timeline_left_out,
        log,
    })
}

/// How `g` ended: revoked (when, by whom), expired, failed, or still live.
fn ended(g: &Grant, now: DateTime<Utc>) -> Ended {
    let status = g.status.clone().unwrap_or_default();
    let expiry = Some(g.spec.expiry_time.clone());
    match g.state() {
        Some(State::Revoked) => Ended {
            how: "revoked",
            at: status.revoked_at.or(expiry),
            by: status.revoked_by,
        },
        Some(State::Failed) => Ended {
            how: "failed",
            at: expiry,
            by: None,
        },
        _ if g.is_live(now) => Ended {
            how: "live",
            at: expiry,
            by: None,
        },
        _ => Ended {
            how: "expired",
            at: expiry,
            by: None,
        },
    }
}
