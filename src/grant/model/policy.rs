//! The cluster's break-glass policy: a ConfigMap (`deploy/03-policy.yaml`) read as the person.
//!
//! Flat keys, so the admission policies can read the same object as `params`:
//! `roles`, `defaultRole`, `ticketRequired`, `minReasonLength`, `minDuration`,
//! `defaultDuration`, and per role `<role>.maxDuration`, `<role>.groups`, `<role>.description`.

use crate::grant::model::duration;
use std::collections::BTreeMap;
use std::time::Duration;

/// Name of the policy ConfigMap in the break-glass namespace.
pub const POLICY_NAME: &str = "breakglass-policy";
/// The manifest that creates the policy object.
pub const POLICY_MANIFEST: &str = "deploy/03-policy.yaml";
/// A role's maximum duration when the policy does not say.
pub const DEFAULT_MAX: Duration = Duration::from_secs(3600);

/// One role on offer.
#[derive(Debug, Clone, PartialEq)]
pub struct RolePolicy {
    /// Role name; also the name of its ServiceAccount in the break-glass namespace.
    pub name: String,
    pub max_duration: Duration,
    /// Groups whose members may request this role.
    pub groups: Vec<String>,
    pub description: String,
}

/// The whole policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub roles: Vec<RolePolicy>,
    pub default_role: String,
    pub ticket_required: bool,
    pub min_reason_length: usize,
    /// Shortest grant: the API server's 10 minutes, unless a cluster that allows shorter
    /// tokens (a test bed) says otherwise.
    pub min_duration: Duration,
    /// How long a grant lasts when nobody says (`defaultDuration`), capped at each role's
    /// maximum; without it `request` takes the role's maximum and the interactive offer
    /// `min_duration`.
    pub default_duration: Option<Duration>,
    /// Roles whose own keys are malformed, with the message: refused when requested,
    /// a warning otherwise (one bad key must not block every role).
    pub broken: Vec<(String, String)>,
}

/// What a person asked for, before it is checked.
#[derive(Debug, Clone, Default)]
pub struct Ask<'a> {
    pub reason: Option<&'a str>,
    pub ticket: Option<&'a str>,
    pub role: Option<&'a str>,
    pub duration: Option<Duration>,
}

/// What the policy allows, after every check passed.
#[derive(Debug, Clone)]
pub struct Allowed {
    pub role: RolePolicy,
    pub duration: Duration,
    pub reason: String,
    pub ticket: Option<String>,
}

/// The longest reason a record takes (characters).
pub const MAX_REASON: usize = 1024;
/// The longest ticket id a record takes (characters).
pub const MAX_TICKET: usize = 128;

/// Refuses a reason or ticket that cannot be recorded as it is: control, bidirectional or
/// invisible characters (`untrusted::is_unsafe`; the CRD refuses them too), too long, or a
/// ticket of only spaces. Runs before anything is created.
pub fn check_text(reason: Option<&str>, ticket: Option<&str>) -> Result<(), Refused> {
    for (flag, text, max) in [
        ("--reason", reason, MAX_REASON),
        ("--ticket", ticket, MAX_TICKET),
    ] {
        let Some(text) = text else { continue };
        if let Some(c) = text.chars().find(|c| crate::untrusted::is_unsafe(*c)) {
            return Err(Refused::UnsafeText {
                flag,
                code: u32::from(c),
            });
        }
        let n = text.trim().chars().count();
        if n > max {
            return Err(Refused::TextTooLong { flag, n, max });
        }
    }
    if ticket.is_some_and(|t| t.trim().is_empty()) {
        return Err(Refused::EmptyTicket);
    }
    Ok(())
}

/// The one reason check: present (and, once the policy is known, long enough).
pub fn check_reason(reason: Option<&str>, min_length: Option<usize>) -> Result<&str, Refused> {
    let reason = reason.map(str::trim).unwrap_or_default();
    if reason.is_empty() {
        return Err(Refused::NoReason { min_length });
    }
    match min_length {
        Some(min) if reason.chars().count() < min => Err(Refused::ReasonTooShort {
            length: reason.chars().count(),
            min,
        }),
        _ => Ok(reason),
    }
}

/// Why the policy (or the text rules before it) refuses a request; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error(
        "{flag} contains the control or invisible character U+{code:04X}: records are read by \
         people, where it would forge a line, drive the terminal or hide text; use one line of \
         plain text"
    )]
    UnsafeText { flag: &'static str, code: u32 },
    #[error(
        "{flag} is {n} characters long, more than the {max} a record takes; shorten it \
         (details belong in the ticket)"
    )]
    TextTooLong {
        flag: &'static str,
        n: usize,
        max: usize,
    },
    #[error("--ticket is empty: give the incident or ticket id, or leave --ticket out")]
    EmptyTicket,
    #[error(
        "a reason is required: add --reason \"what is broken and why you need access\" ({}it is \
         recorded in the cluster)",
        min_length.map(|m| format!("at least {m} characters; ")).unwrap_or_default()
    )]
    NoReason { min_length: Option<usize> },
    #[error(
        "the reason is too short ({length} characters): the policy asks for at least {min}; say \
         what is broken and why you need access"
    )]
    ReasonTooShort { length: usize, min: usize },
    #[error("the policy requires a ticket: add --ticket ID (the incident or ticket id)")]
    TicketRequired,
    /// A role the policy names but cannot offer (its own message says why).
    #[error("{0}")]
    BrokenRole(String),
    #[error("unknown role {role:?}: the roles on offer are {offered}")]
    UnknownRole { role: String, offered: String },
    #[error("--duration {duration} is longer than role {role}'s maximum of {max}")]
    TooLong {
        duration: String,
        role: String,
        max: String,
    },
    #[error(
        "--duration {duration} is shorter than the minimum of {min}: {why}; revoke the grant \
         early instead"
    )]
    TooShort {
        duration: String,
        min: String,
        why: &'static str,
    },
    #[error(
        "{username} may not request role {role}: it needs membership of group {needed} (the \
         cluster sees you in {shown}); ask your identity-provider admin"
    )]
    NotInGroup {
        username: String,
        role: String,
        needed: String,
        shown: String,
    },
    /// Through a standby credential whose ServiceAccount the policy no longer gives to the
    /// person (fields shown escaped).
    #[error(
        "the policy changed: the standby credential {account} no longer stands for {username} \
         (policy key standby.{account}.user); nothing was created. Ask a break-glass admin"
    )]
    StandbyNotFor { account: String, username: String },
    /// Through a standby credential, a role it is not for (fields shown escaped).
    #[error(
        "your standby credential may not break glass into role {role} (its roles: {roles}; \
         policy key standby.{account}.roles); nothing was created"
    )]
    StandbyRole {
        role: String,
        roles: String,
        account: String,
    },
}

fn list(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

impl Policy {
    /// Reads the policy from the ConfigMap's `data`; a malformed one names the bad field.
    pub fn from_data(data: &BTreeMap<String, String>) -> anyhow::Result<Policy> {
        let bad = |field: &str, why: String| {
            anyhow::anyhow!(
                "the break-glass policy (ConfigMap {}/{POLICY_NAME}) is malformed: field {field:?} {why}; \
                 an admin must fix it (see {POLICY_MANIFEST})",
                crate::grant::NAMESPACE
            )
        };
        let roles_text = data
            .get("roles")
            .ok_or_else(|| bad("roles", "is missing".into()))?;
        let names = list(roles_text);
        if names.is_empty() {
            return Err(bad("roles", "lists no role".into()));
        }
        let min_duration = match data.get("minDuration") {
            None => duration::MIN_GRANT,
            Some(text) => duration::parse(text).map_err(|_| {
                bad(
                    "minDuration",
                    format!("is {text:?}, not a duration like 10m"),
                )
            })?,
        };
        let default_duration = match data.get("defaultDuration") {
            None => None,
            Some(text) => {
                let d = duration::parse(text).map_err(|_| {
                    bad(
                        "defaultDuration",
                        format!("is {text:?}, not a duration like 30m"),
                    )
                })?;
                if d < min_duration {
                    return Err(bad(
                        "defaultDuration",
                        format!(
                            "is {text:?}, below the minimum grant of {}",
                            duration::human(min_duration)
                        ),
                    ));
                }
                Some(d)
            }
        };
        let role = |name: &str| -> anyhow::Result<RolePolicy> {
            let key = format!("{name}.maxDuration");
            let max_duration = match data.get(&key) {
                None => DEFAULT_MAX,
                Some(text) => {
                    let d = duration::parse(text)
                        .map_err(|_| bad(&key, format!("is {text:?}, not a duration like 1h")))?;
                    if d < min_duration {
                        return Err(bad(
                            &key,
                            format!(
                                "is {text:?}, below the minimum grant of {}",
                                duration::human(min_duration)
                            ),
                        ));
                    }
                    d
                }
            };
            let key = format!("{name}.groups");
            let groups = list(
                data.get(&key)
                    .ok_or_else(|| bad(&key, "is missing".into()))?,
            );
            if groups.is_empty() {
                return Err(bad(&key, "lists no group".into()));
            }
            let description = data
                .get(&format!("{name}.description"))
                .cloned()
                .unwrap_or_default();
            Ok(RolePolicy {
                name: name.to_string(),
                max_duration,
                groups,
                description,
            })
        };
        let mut roles = Vec::new();
        let mut broken = Vec::new();
        for name in &names {
            match role(name) {
                Ok(r) => roles.push(r),
                Err(e) => broken.push((name.clone(), e.to_string())),
            }
        }
        let default_role = match data.get("defaultRole") {
            Some(r) if names.contains(r) => r.clone(),
            Some(r) => return Err(bad("defaultRole", format!("is {r:?}, not one of `roles`"))),
            None => names[0].clone(),
        };
        let ticket_required = match data.get("ticketRequired").map(|s| s.trim()) {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(bad(
                    "ticketRequired",
                    format!("is {other:?}, not \"true\" or \"false\""),
                ))
            }
        };
        let min_reason_length = match data.get("minReasonLength") {
            None => 10,
            Some(text) => text.trim().parse().map_err(|_| {
                bad(
                    "minReasonLength",
                    format!("is {text:?}, not a whole number"),
                )
            })?,
        };
        Ok(Policy {
            roles,
            default_role,
            ticket_required,
            min_reason_length,
            min_duration,
            default_duration,
            broken,
        })
    }

    /// The duration `request` gives `role` without --duration: the policy's
    /// `defaultDuration` (capped at the role's maximum), else the role's maximum.
    pub fn request_default(&self, role: &RolePolicy) -> Duration {
        self.default_duration
            .map_or(role.max_duration, |d| d.min(role.max_duration))
    }

    /// The duration the interactive offer proposes for `role`: the policy's
    /// `defaultDuration` (capped at the role's maximum), else the shortest grant — never the
    /// maximum by default, since Enter at 2 a.m. is not a decision.
    pub fn offer_default(&self, role: &RolePolicy) -> Duration {
        self.default_duration
            .map_or(self.min_duration, |d| d.min(role.max_duration))
    }

    /// The role named `name`, if it is on offer and well-formed.
    pub fn role(&self, name: &str) -> Option<&RolePolicy> {
        self.roles.iter().find(|r| r.name == name)
    }

    /// One warning per role whose keys are malformed.
    pub fn warnings(&self) -> Vec<String> {
        self.broken
            .iter()
            .map(|(role, why)| format!("role {role} cannot be requested: {why}"))
            .collect()
    }

    /// The role names on offer, comma-separated.
    pub fn role_names(&self) -> String {
        self.roles
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Checks a request against the policy and the person's groups (as the cluster sees them).
    pub fn check(&self, ask: &Ask, username: &str, groups: &[String]) -> Result<Allowed, Refused> {
        check_text(ask.reason, ask.ticket)?;
        let reason = check_reason(ask.reason, Some(self.min_reason_length))?;
        let ticket = ask.ticket.map(str::trim).filter(|t| !t.is_empty());
        if self.ticket_required && ticket.is_none() {
            return Err(Refused::TicketRequired);
        }
        let role_name = ask.role.unwrap_or(&self.default_role);
        if let Some((_, why)) = self.broken.iter().find(|(r, _)| r == role_name) {
            return Err(Refused::BrokenRole(why.clone()));
        }
        let role = self
            .roles
            .iter()
            .find(|r| r.name == role_name)
            .ok_or_else(|| Refused::UnknownRole {
                role: role_name.to_string(),
                offered: self.role_names(),
            })?;
        let duration = ask.duration.unwrap_or_else(|| self.request_default(role));
        if duration > role.max_duration {
            return Err(Refused::TooLong {
                duration: duration::human(duration),
                role: role.name.clone(),
                max: duration::human(role.max_duration),
            });
        }
        if duration < self.min_duration {
            let why = if self.min_duration == duration::MIN_GRANT {
                "the API server refuses service-account tokens that live less than 10 minutes"
            } else {
                "the cluster's policy says so (minDuration)"
            };
            return Err(Refused::TooShort {
                duration: duration::human(duration),
                min: duration::human(self.min_duration),
                why,
            });
        }
        if !role.groups.iter().any(|g| groups.contains(g)) {
            let shown = if groups.is_empty() {
                "no groups".to_string()
            } else {
                format!("groups {}", groups.join(", "))
            };
            return Err(Refused::NotInGroup {
                username: username.to_string(),
                role: role.name.clone(),
                needed: role.groups.join(" or "),
                shown,
            });
        }
        Ok(Allowed {
            role: role.clone(),
            duration,
            reason: reason.to_string(),
            ticket: ticket.map(String::from),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// The policy ConfigMap is the cluster's, whatever an admin typed: any data is a
        /// policy or a message naming the key; any ask is allowed or refused.
        #[test]
        fn any_policy_and_ask_are_checked_without_panicking(
            pairs in proptest::collection::vec(
                (
                    proptest::prop_oneof![
                        proptest::prelude::Just("roles".to_string()),
                        proptest::prelude::Just("defaultRole".to_string()),
                        proptest::prelude::Just("minDuration".to_string()),
                        proptest::prelude::Just("defaultDuration".to_string()),
                        proptest::prelude::Just("minReasonLength".to_string()),
                        proptest::prelude::Just("ticketRequired".to_string()),
                        proptest::prelude::Just("incident-debug.maxDuration".to_string()),
                        proptest::prelude::Just("incident-debug.groups".to_string()),
                        crate::test_support::arb_text(),
                    ],
                    crate::test_support::arb_text(),
                ),
                0..10,
            ),
            reason in proptest::option::of(crate::test_support::arb_text()),
            ticket in proptest::option::of(crate::test_support::arb_text()),
            role in proptest::option::of(crate::test_support::arb_text()),
            seconds in proptest::option::of(proptest::prelude::any::<u64>()),
        ) {
            let mut data = shipped();
            data.extend(pairs);
            if let Ok(p) = Policy::from_data(&data) {
                let _ = p.warnings();
                for r in &p.roles {
                    let _ = (p.request_default(r), p.offer_default(r));
                }
                let ask = Ask {
                    reason: reason.as_deref(),
                    ticket: ticket.as_deref(),
                    role: role.as_deref(),
                    duration: seconds.map(Duration::from_secs),
                };
                let _ = p.check(&ask, "alice@example.com", &sre());
            }
        }
    }

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn shipped() -> BTreeMap<String, String> {
        data(&[
            ("roles", "incident-debug,cluster-admin"),
            ("defaultRole", "incident-debug"),
            ("ticketRequired", "false"),
            ("minReasonLength", "10"),
            ("incident-debug.maxDuration", "1h"),
            ("incident-debug.groups", "sre"),
            ("cluster-admin.maxDuration", "30m"),
            ("cluster-admin.groups", "sre"),
        ])
    }

    fn sre() -> Vec<String> {
        vec!["sre".into(), "system:authenticated".into()]
    }

    #[test]
    fn reads_the_shipped_shape() {
        let p = Policy::from_data(&shipped()).unwrap();
        assert_eq!(p.roles.len(), 2);
        assert_eq!(p.roles[1].max_duration, Duration::from_secs(1800));
        assert_eq!(p.default_role, "incident-debug");
        assert!(!p.ticket_required);
    }

    #[test]
    fn malformed_fields_are_named() {
        // A bad key of one role blocks that role only, and is a warning for the others.
        let mut d = shipped();
        d.insert("cluster-admin.maxDuration".into(), "forever".into());
        let p = Policy::from_data(&d).unwrap();
        let w = p.warnings();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with("role cluster-admin cannot be requested"),
            "{w:?}"
        );
        let reason = Some("etcd is down, need to look");
        let ask = |role| Ask {
            reason,
            role: Some(role),
            ..Ask::default()
        };
        assert!(p
            .check(&ask("incident-debug"), "alice@example.com", &sre())
            .is_ok());
        let err = p
            .check(&ask("cluster-admin"), "alice@example.com", &sre())
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"cluster-admin.maxDuration\""), "{err}");
        let mut d = shipped();
        d.remove("roles");
        assert!(Policy::from_data(&d)
            .unwrap_err()
            .to_string()
            .contains("\"roles\" is missing"));
        let mut d = shipped();
        d.insert("ticketRequired".into(), "yes".into());
        assert!(Policy::from_data(&d)
            .unwrap_err()
            .to_string()
            .contains("\"ticketRequired\""));
        let mut d = shipped();
        d.remove("incident-debug.groups");
        let err = Policy::from_data(&d)
            .unwrap()
            .check(&ask("incident-debug"), "alice@example.com", &sre())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"incident-debug.groups\" is missing"),
            "{err}"
        );
    }

    #[test]
    fn refusals_say_what_to_do() {
        let p = Policy::from_data(&shipped()).unwrap();
        let ok = |ask: Ask| p.check(&ask, "alice@example.com", &sre());
        let reason = Some("etcd is down, need to look");
        let e = ok(Ask::default()).unwrap_err().to_string();
        assert!(e.contains("--reason"), "{e}");
        let e = ok(Ask {
            reason: Some("down"),
            ..Ask::default()
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("at least 10"), "{e}");
        let e = ok(Ask {
            reason,
            role: Some("root"),
            ..Ask::default()
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("incident-debug, cluster-admin"), "{e}");
        let long = Some(Duration::from_secs(3600));
        let e = ok(Ask {
            reason,
            role: Some("cluster-admin"),
            duration: long,
            ..Ask::default()
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("maximum of 30m"), "{e}");
        let short = Some(Duration::from_secs(300));
        let e = ok(Ask {
            reason,
            duration: short,
            ..Ask::default()
        })
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("minimum of 10m") && e.contains("API server"),
            "{e}"
        );
        let e = p
            .check(
                &Ask {
                    reason,
                    ..Ask::default()
                },
                "bob@example.com",
                &["dev".into()],
            )
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("group sre") && e.contains("bob@example.com"),
            "{e}"
        );
        let a = ok(Ask {
            reason,
            ..Ask::default()
        })
        .unwrap();
        assert_eq!(
            (a.role.name.as_str(), a.duration),
            ("incident-debug", Duration::from_secs(3600))
        );
    }

    #[test]
    fn defaults_are_the_policys_default_or_else_never_the_maximum_for_the_offer() {
        let p = Policy::from_data(&shipped()).unwrap();
        let (debug, admin) = (&p.roles[0], &p.roles[1]);
        assert_eq!(p.request_default(debug), Duration::from_secs(3600));
        assert_eq!(p.offer_default(debug), Duration::from_secs(600));
        let mut d = shipped();
        d.insert("defaultDuration".into(), "45m".into());
        let p = Policy::from_data(&d).unwrap();
        assert_eq!(p.request_default(&p.roles[0]), Duration::from_secs(2700));
        assert_eq!(p.offer_default(&p.roles[0]), Duration::from_secs(2700));
        // Capped at the role's maximum (cluster-admin: 30m).
        assert_eq!(p.request_default(admin), Duration::from_secs(1800));
        assert_eq!(p.offer_default(&p.roles[1]), Duration::from_secs(1800));
        for bad in ["5m", "forever", "1d"] {
            d.insert("defaultDuration".into(), bad.into());
            let err = Policy::from_data(&d).unwrap_err().to_string();
            assert!(err.contains("field \"defaultDuration\""), "{err}");
        }
    }

    #[test]
    fn ticket_when_required() {
        let mut d = shipped();
        d.insert("ticketRequired".into(), "true".into());
        let p = Policy::from_data(&d).unwrap();
        let ask = Ask {
            reason: Some("etcd is down, need to look"),
            ..Ask::default()
        };
        assert!(p
            .check(&ask, "a", &sre())
            .unwrap_err()
            .to_string()
            .contains("--ticket"));
        let ask = Ask {
            ticket: Some("INC-1"),
            ..ask
        };
        assert_eq!(
            p.check(&ask, "a", &sre()).unwrap().ticket.as_deref(),
            Some("INC-1")
        );
    }

    #[test]
    fn text_that_could_forge_a_listing_is_refused() {
        assert!(check_text(Some("etcd is down"), Some("INC-1")).is_ok());
        assert!(check_text(Some("etcd is down"), None).is_ok());
        for (reason, ticket, says) in [
            (
                "line one\nFAKE grant-000099",
                None,
                "--reason contains the control or invisible character U+000A",
            ),
            ("red \u{1b}[31m", None, "U+001B"),
            (
                "ok reason here",
                Some("\u{1b}[2J"),
                "--ticket contains the control or invisible character",
            ),
            ("ok reason here", Some("   "), "--ticket is empty"),
            ("evil \u{202E}txt.exe", None, "U+202E"),
            ("zero\u{200B}width", None, "U+200B"),
            ("right\u{200F}mark", None, "U+200F"),
            ("arabic\u{061C}mark", None, "U+061C"),
            ("\u{FEFF}bom", None, "U+FEFF"),
            ("line\u{2028}separator", None, "U+2028"),
            ("para\u{2029}separator", None, "U+2029"),
            ("word\u{2060}joiner", None, "U+2060"),
            ("invisible\u{2064}plus", None, "U+2064"),
            ("mongolian\u{180E}vowel", None, "U+180E"),
        ] {
            let err = check_text(Some(reason), ticket).unwrap_err().to_string();
            assert!(err.contains(says), "{err}");
        }
        let long = "x".repeat(MAX_REASON + 1);
        let err = check_text(Some(&long), None).unwrap_err().to_string();
        assert!(
            err.contains("1025 characters long, more than the 1024"),
            "{err}"
        );
        assert!(check_text(Some(&"x".repeat(MAX_REASON)), None).is_ok());
        let err = check_text(Some("fine"), Some(&"T".repeat(129)))
            .unwrap_err()
            .to_string();
        assert!(err.contains("--ticket is 129 characters"), "{err}");
    }
}
