//! Post-event review: what a grant did, from the API server's audit log. The record says who,
//! why and when; the audit log, joined on the token's credential id (`JTI=<jti>`), says what.

pub mod audit_event;
pub mod error;
pub mod input;
pub mod join;
pub mod report;

use crate::grant::model::record::{Grant, State};
use chrono::{DateTime, Utc};
use error::ReviewError;
use report::{Ended, Review};

/// Reviews `grant` (its record, `None` when there is none) against `sources`, at `now`.
pub fn review(
    record: Option<&Grant>,
    grant: &str,
    context: &str,
    sources: &mut [input::Source],
    limit: usize,
    now: DateTime<Utc>,
) -> Result<Review, ReviewError> {
    let on = crate::grant::context_flag(context);
    let g = record
        .filter(|g| g.name() == grant)
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
        return Err(ReviewError::NothingMatched(Box::new(error::NoMatch {
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
        })));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grant::model::record::{GrantSpec, GrantStatus};

    fn record(status: Option<GrantStatus>) -> Grant {
        let spec = GrantSpec {
            requester: "alice@example.com".into(),
            requester_groups: vec!["sre".into()],
            reason: "checkout is down".into(),
            ticket: None,
            role: "cluster-admin".into(),
            service_account: "cluster-admin".into(),
            duration_seconds: 600,
            start_time: "2026-11-29T08:00:00Z".into(),
            expiry_time: "2026-11-29T08:10:00Z".into(),
            client_host: "laptop".into(),
            plugin_version: "0.1.0".into(),
            request_id: "r1".into(),
            sequence: 1,
            previous: None,
        };
        let mut g = Grant::new("grant-000001", spec);
        g.status = status;
        g
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-29T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn an_unknown_grant_and_a_grant_without_a_token_are_their_own_errors() {
        let failed = record(Some(GrantStatus {
            state: Some(State::Failed),
            message: Some("TokenRequest refused".into()),
            ..GrantStatus::default()
        }));
        let err = review(None, "grant-000009", "prod", &mut [], 10, now()).unwrap_err();
        assert!(matches!(err, ReviewError::UnknownGrant { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("kubectl breakglass audit --context prod"),
            "{err}"
        );
        let err = review(Some(&failed), "grant-000001", "prod", &mut [], 10, now()).unwrap_err();
        assert!(matches!(err, ReviewError::NoJti { .. }), "{err}");
        assert!(err.to_string().contains("TokenRequest refused"), "{err}");
    }

    #[test]
    fn a_log_without_the_grant_says_which_time_it_covers() {
        let g = record(Some(GrantStatus {
            state: Some(State::Active),
            jti: Some("j1".into()),
            ..GrantStatus::default()
        }));
        let line = r#"{"kind":"Event","auditID":"1","verb":"get","requestReceivedTimestamp":"2026-11-28T10:00:00.5Z"}"#;
        let mut sources = vec![input::Source {
            name: "old.log".into(),
            reader: Box::new(std::io::Cursor::new(format!("{line}\n").into_bytes())),
        }];
        let err = review(Some(&g), "grant-000001", "", &mut sources, 10, now()).unwrap_err();
        let ReviewError::NothingMatched(m) = &err else {
            panic!("{err}");
        };
        assert_eq!((m.events, m.first.as_str()), (1, "2026-11-28T10:00:00Z"));
        // An Active record past its expiry ended at its expiry.
        assert_eq!(m.end, "2026-11-29T08:10:00Z");
    }
}
