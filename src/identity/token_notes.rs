//! What an ID token lacks for the cluster, said the same way by `login` and `whoami`:
//! each note names the claim or the token that is missing and what to change.

use crate::oidc::{ClaimNames, PersonClaims};
use std::fmt;

/// One thing worth telling the person about their login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenNote {
    /// The username claim is not in the token.
    NoUsernameClaim { claim: String },
    /// The groups claim is not in the token (and no overage claim either).
    NoGroupsClaim { claim: String },
    /// The IdP replaced the groups by an overage claim.
    GroupsOverage { claim: String },
    /// No refresh token: the login ends with the ID token.
    NoRefreshToken,
    /// The IdP's clock differs from ours by this many seconds (corrected).
    ClockSkew { secs: i64 },
}

/// Skews below this are ordinary and not mentioned.
const NOTABLE_SKEW_SECS: i64 = 30;

impl TokenNote {
    /// What a token with `person` (read by `names`) and a refresh token or not lacks.
    pub fn of(
        person: &PersonClaims,
        names: &ClaimNames,
        has_refresh_token: bool,
        clock_skew_secs: i64,
    ) -> Vec<TokenNote> {
        let mut notes = Vec::new();
        if person.username.is_none() {
            notes.push(TokenNote::NoUsernameClaim {
                claim: names.username.clone(),
            });
        }
        if person.groups_overage {
            notes.push(TokenNote::GroupsOverage {
                claim: names.groups.clone(),
            });
        } else if !person.has_groups_claim {
            notes.push(TokenNote::NoGroupsClaim {
                claim: names.groups.clone(),
            });
        }
        if !has_refresh_token {
            notes.push(TokenNote::NoRefreshToken);
        }
        if clock_skew_secs.abs() >= NOTABLE_SKEW_SECS {
            notes.push(TokenNote::ClockSkew {
                secs: clock_skew_secs,
            });
        }
        notes
    }

    /// `warning` for what will stop the cluster or the login from working, else `note`.
    pub fn label(&self) -> &'static str {
        match self {
            TokenNote::ClockSkew { .. } => "note",
            _ => "warning",
        }
    }
}

impl fmt::Display for TokenNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenNote::NoUsernameClaim { claim } => write!(
                f,
                "the ID token has no `{claim}` claim, the one the API server is expected to name \
                 you by, so the cluster will likely refuse it; set --username-claim to the claim \
                 of the API server's claimMappings.username (e.g. preferred_username, sub), or ask \
                 the IdP's admins to put `{claim}` in the ID token"
            ),
            TokenNote::NoGroupsClaim { claim } => write!(
                f,
                "your IdP did not put groups in the ID token (no `{claim}` claim), so the cluster \
                 sees none unless it derives them itself; try --scope groups (Dex, Okta), or ask \
                 the IdP's admins for a groups claim (Keycloak: a group membership mapper; Entra \
                 ID: groupMembershipClaims; Google sends none); `kubectl breakglass whoami \
                 --check` compares with the cluster"
            ),
            TokenNote::GroupsOverage { claim } => write!(
                f,
                "your IdP left your groups out of the ID token because you are in too many (an \
                 overage claim for `{claim}`, as Entra ID sends beyond 200 groups), so the \
                 cluster sees none of them; ask the IdP's admins to send only the groups assigned \
                 to the application (Entra ID: groupMembershipClaims ApplicationGroup) or app \
                 roles (then --groups-claim roles)"
            ),
            TokenNote::NoRefreshToken => write!(
                f,
                "the identity provider issued no refresh token, so you must log in again when \
                 the ID token expires; ask for offline access to be allowed for the client (the \
                 offline_access scope; Auth0: --audience of an API with Allow Offline Access)"
            ),
            TokenNote::ClockSkew { secs } => write!(
                f,
                "the identity provider's clock is {} {} this machine's; token lifetimes are \
                 counted on this machine's clock (up to {} minutes either way are corrected)",
                crate::grant::model::duration::human(std::time::Duration::from_secs(
                    secs.unsigned_abs()
                )),
                if *secs > 0 { "ahead of" } else { "behind" },
                crate::oidc::CLOCK_LEEWAY.num_minutes()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(username: Option<&str>, groups: Option<&[&str]>) -> PersonClaims {
        PersonClaims {
            username: username.map(str::to_string),
            groups: groups
                .unwrap_or_default()
                .iter()
                .map(|g| g.to_string())
                .collect(),
            has_groups_claim: groups.is_some(),
            groups_overage: false,
        }
    }

    #[test]
    fn a_complete_login_has_nothing_to_say() {
        let names = ClaimNames::default();
        let p = person(Some("alice@example.com"), Some(&["sre"]));
        assert_eq!(TokenNote::of(&p, &names, true, 3), []);
        // An empty groups claim is the IdP's answer, not a missing claim.
        assert_eq!(
            TokenNote::of(&person(Some("a"), Some(&[])), &names, true, 0),
            []
        );
    }

    #[test]
    fn each_gap_is_named_with_its_claim() {
        let names = ClaimNames {
            username: "preferred_username".into(),
            groups: "roles".into(),
        };
        let notes = TokenNote::of(&person(None, None), &names, false, -240);
        let text: Vec<String> = notes
            .iter()
            .map(|n| format!("{}: {n}", n.label()))
            .collect();
        assert!(text[0].starts_with("warning: the ID token has no `preferred_username` claim"));
        assert!(text[1].contains("no `roles` claim") && text[1].contains("--scope groups"));
        assert!(text[2].contains("no refresh token"));
        assert!(
            text[3].starts_with("note: ") && text[3].contains("4m behind this machine's"),
            "{}",
            text[3]
        );
        let mut over = person(Some("a"), None);
        over.groups_overage = true;
        let notes = TokenNote::of(&over, &ClaimNames::default(), true, 0);
        assert!(matches!(&notes[..], [TokenNote::GroupsOverage { .. }]));
    }
}
