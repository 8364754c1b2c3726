//! Times a record could not honestly have. The admission policy bounds new records
//! (startTime within `SKEW` of the API server's creationTimestamp, expiry = start +
//! duration, duration within the role's maximum); records made before the policies, or by
//! an admin without them, are checked here by `audit`.

use crate::grant::model::duration;
use crate::grant::model::policy::Policy;
use crate::grant::model::record::{Grant, State, LIVE_UNTIL_LABEL};
use chrono::{DateTime, Utc};

/// How far a record's start may be from its creation (the admission policy's bound).
pub const SKEW: chrono::Duration = chrono::Duration::minutes(5);

/// Each way `g`'s times are implausible at `now`, one sentence each (empty when none).
/// `policy` is the policy as it is now, when it could be read.
pub fn implausible(g: &Grant, policy: Option<&Policy>, now: DateTime<Utc>) -> Vec<String> {
    let mut out = Vec::new();
    let (Some(start), Some(expiry)) = (g.start(), g.expiry()) else {
        out.push(format!(
            "its startTime {:?} or expiryTime {:?} is not a time",
            g.spec.start_time, g.spec.expiry_time
        ));
        return out;
    };
    if let Some(created) = g.metadata.creation_timestamp.as_ref().map(|t| t.0) {
        let created = DateTime::<Utc>::from_timestamp(created.as_second(), 0).unwrap_or(now);
        if start < created - SKEW {
            out.push(format!(
                "it starts at {}, before it was created ({})",
                g.spec.start_time,
                crate::grant::model::record::timestamp(created)
            ));
        } else if start > created + SKEW {
            out.push(format!(
                "it starts at {}, after it was created ({})",
                g.spec.start_time,
                crate::grant::model::record::timestamp(created)
            ));
        }
    }
    if start > now + SKEW {
        out.push(format!("it starts in the future ({})", g.spec.start_time));
    }
    let lasts = (expiry - start).num_seconds();
    if lasts != g.spec.duration_seconds {
        out.push(format!(
            "its expiry {} is not its start plus its durationSeconds ({})",
            g.spec.expiry_time, g.spec.duration_seconds
        ));
    }
    let max = policy
        .and_then(|p| p.role(&g.spec.role))
        .map(|r| r.max_duration);
    if let Some(max) = max {
        let longest = lasts.max(g.spec.duration_seconds);
        if longest > max.as_secs() as i64 {
            out.push(format!(
                "it lasts {}, longer than role {}'s maximum in the policy now ({})",
                duration::human(std::time::Duration::from_secs(longest.max(0) as u64)),
                g.spec.role,
                duration::human(max)
            ));
        }
    }
    // `request` and `status` find the grants that may be live by this label only.
    let open = matches!(g.state(), None | Some(State::Pending) | Some(State::Active));
    if open && expiry > now && !g.labelled_live_until() {
        out.push(format!(
            "it may be live (until {}) but its label {LIVE_UNTIL_LABEL} is not its expiry, so \
             request and status do not see it (made without the admission policy, or the \
             label was changed)",
            g.spec.expiry_time
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grant::model::record::GrantSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn grant(start: &str, expiry: &str, seconds: i64, created: &str) -> Grant {
        let mut g = Grant::new(
            "grant-000001",
            GrantSpec {
                requester: "mallory@example.com".into(),
                requester_groups: vec![],
                reason: "r".into(),
                ticket: None,
                role: "incident-debug".into(),
                service_account: "incident-debug".into(),
                duration_seconds: seconds,
                start_time: start.into(),
                expiry_time: expiry.into(),
                client_host: "h".into(),
                plugin_version: "0".into(),
                request_id: "x".into(),
                sequence: 1,
                previous: None,
            },
        );
        g.metadata.creation_timestamp = Some(Time(created.parse().unwrap()));
        g
    }

    #[test]
    fn a_grant_that_may_be_live_hidden_from_the_label_selector_is_named() {
        let now: DateTime<Utc> = "2026-11-27T12:00:00Z".parse().unwrap();
        let mut g = grant(
            "2026-11-27T11:50:00Z",
            "2026-11-27T12:20:00Z",
            1800,
            "2026-11-27T11:50:00Z",
        );
        assert!(implausible(&g, None, now).is_empty(), "labelled as made");
        let labels = g.metadata.labels.as_mut().unwrap();
        labels.insert(LIVE_UNTIL_LABEL.into(), "1".into());
        let found = implausible(&g, None, now);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].contains("request and status do not see it"),
            "{found:?}"
        );
        g.metadata.labels = None;
        assert_eq!(implausible(&g, None, now).len(), 1, "no label at all");
        // Once it has run out (or ended), nothing is hidden any more.
        let later: DateTime<Utc> = "2026-11-27T13:00:00Z".parse().unwrap();
        assert!(implausible(&g, None, later).is_empty());
    }

    #[test]
    fn future_back_dated_inconsistent_and_over_long_records_are_named() {
        let now: DateTime<Utc> = "2026-11-27T12:00:00Z".parse().unwrap();
        let policy = Policy::from_data(
            &[
                ("roles", "incident-debug"),
                ("incident-debug.groups", "sre"),
                ("incident-debug.maxDuration", "1h"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        )
        .unwrap();
        let check = |g: &Grant| implausible(g, Some(&policy), now);
        let honest = grant(
            "2026-11-27T11:00:00Z",
            "2026-11-27T11:10:00Z",
            600,
            "2026-11-27T11:00:01Z",
        );
        assert!(check(&honest).is_empty(), "{:?}", check(&honest));
        let future = grant(
            "2099-01-01T00:00:00Z",
            "2099-01-01T01:00:00Z",
            3600,
            "2026-11-27T11:00:00Z",
        );
        let why = check(&future);
        assert!(why[0].contains("after it was created"), "{why:?}");
        assert!(why[1].contains("starts in the future"), "{why:?}");
        let back = grant(
            "2020-01-01T00:00:00Z",
            "2020-01-01T00:10:00Z",
            600,
            "2026-11-27T11:00:00Z",
        );
        assert!(check(&back)[0].contains("before it was created"));
        let odd = grant(
            "2026-11-27T11:00:00Z",
            "2026-11-28T11:00:00Z",
            600,
            "2026-11-27T11:00:00Z",
        );
        let why = check(&odd);
        assert!(why[0].contains("is not its start plus"), "{why:?}");
        assert!(
            why[1].contains("lasts 24h, longer than role incident-debug's maximum"),
            "{why:?}"
        );
        let garbage = grant("soon", "later", 600, "2026-11-27T11:00:00Z");
        assert!(check(&garbage)[0].contains("is not a time"));
    }
}
