//! `whoami --check`: the ID token's word against the cluster's (SelfSubjectReview), and
//! what each difference means for breaking the glass.

use crate::oidc::{ClaimNames, PersonClaims};
use std::fmt;

/// Groups every authenticated user has; they say nothing about the IdP's groups.
const SYSTEM_GROUPS: [&str; 1] = ["system:authenticated"];

/// One difference between the ID token and the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// The token has no groups claim and the cluster sees no groups of the IdP.
    NoGroupsInToken { claim: String },
    /// The token has an overage claim instead of groups.
    GroupsOverage { claim: String },
    /// Groups in the token the cluster does not see.
    GroupsNotSeen { missing: Vec<String>, claim: String },
    /// The cluster sees every group of the token behind the same prefix.
    GroupsPrefixed { prefix: String },
    /// The cluster names the person differently from the token's username claim.
    UsernameDiffers {
        token: Option<String>,
        cluster: String,
        claim: String,
    },
    /// The cluster names the person by the token's username behind a prefix.
    UsernamePrefixed { prefix: String },
}

impl Mismatch {
    /// Compares what the token says (by `names`) with the cluster's `username` and `groups`.
    pub fn find(
        token: &PersonClaims,
        names: &ClaimNames,
        username: &str,
        groups: &[String],
    ) -> Vec<Mismatch> {
        let mut out = Vec::new();
        match token.username.as_deref() {
            Some(u) if u == username => {}
            Some(u) if !u.is_empty() && username.ends_with(u) => {
                out.push(Mismatch::UsernamePrefixed {
                    prefix: username[..username.len() - u.len()].to_string(),
                })
            }
            other => out.push(Mismatch::UsernameDiffers {
                token: other.map(str::to_string),
                cluster: username.to_string(),
                claim: names.username.clone(),
            }),
        }
        let idp_groups: Vec<&String> = groups
            .iter()
            .filter(|g| !SYSTEM_GROUPS.contains(&g.as_str()))
            .collect();
        if token.groups_overage {
            out.push(Mismatch::GroupsOverage {
                claim: names.groups.clone(),
            });
        } else if !token.has_groups_claim || token.groups.is_empty() {
            // The cluster may derive groups itself (a CEL claim mapping): then nothing is amiss.
            if idp_groups.is_empty() {
                out.push(Mismatch::NoGroupsInToken {
                    claim: names.groups.clone(),
                });
            }
        } else {
            let missing: Vec<String> = token
                .groups
                .iter()
                .filter(|g| !groups.contains(g))
                .cloned()
                .collect();
            let prefix = common_prefix(&token.groups, groups);
            match prefix {
                Some(prefix) if missing.len() == token.groups.len() => {
                    out.push(Mismatch::GroupsPrefixed { prefix })
                }
                _ if !missing.is_empty() => out.push(Mismatch::GroupsNotSeen {
                    missing,
                    claim: names.groups.clone(),
                }),
                _ => {}
            }
        }
        out
    }

    /// True when it stops break-glass from working as the token suggests; a prefix only
    /// asks that RBAC and the policy use the prefixed names.
    pub fn is_problem(&self) -> bool {
        !matches!(
            self,
            Mismatch::GroupsPrefixed { .. } | Mismatch::UsernamePrefixed { .. }
        )
    }
}

/// The prefix the cluster puts before every one of the token's groups, if it does.
fn common_prefix(token: &[String], cluster: &[String]) -> Option<String> {
    let mut prefix: Option<String> = None;
    for g in token {
        let seen = cluster
            .iter()
            .find(|c| c.len() > g.len() && c.ends_with(g.as_str()))?;
        let p = seen[..seen.len() - g.len()].to_string();
        match &prefix {
            Some(q) if *q != p => return None,
            _ => prefix = Some(p),
        }
    }
    prefix
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::NoGroupsInToken { claim } => write!(
                f,
                "your IdP did not put groups in the ID token (no `{claim}` claim) and the \
                 cluster sees none; try --scope groups (Dex, Okta), or ask the IdP's admins for \
                 a groups claim (Keycloak: a group membership mapper; Entra ID: \
                 groupMembershipClaims); with Google, which sends none, the API server must \
                 derive groups itself (a claimMappings.groups expression)"
            ),
            Mismatch::GroupsOverage { claim } => write!(
                f,
                "your IdP sent an overage claim instead of `{claim}` (you are in too many \
                 groups), so the cluster sees none of them; ask its admins to send only the \
                 groups assigned to the application, or app roles (--groups-claim roles)"
            ),
            Mismatch::GroupsNotSeen { missing, claim } => write!(
                f,
                "the cluster does not see the group{} {} that the ID token's `{claim}` claim \
                 lists; the API server reads groups from another claim or maps them \
                 (claimMappings.groups): set --groups-claim to its claim, or ask its admins",
                if missing.len() == 1 { "" } else { "s" },
                missing.join(", ")
            ),
            Mismatch::GroupsPrefixed { prefix } => write!(
                f,
                "the cluster prefixes your groups with {prefix:?}: RBAC and the break-glass \
                 policy must name them so (e.g. {prefix}sre)"
            ),
            Mismatch::UsernameDiffers {
                token: Some(token),
                cluster,
                claim,
            } => write!(
                f,
                "the cluster names you {cluster}, the ID token's `{claim}` claim says {token}; \
                 the API server reads another claim (claimMappings.username): set \
                 --username-claim to it, so that the plugin shows whom the cluster sees"
            ),
            Mismatch::UsernameDiffers {
                token: None,
                cluster,
                claim,
            } => write!(
                f,
                "the cluster names you {cluster}, and the ID token has no `{claim}` claim; set \
                 --username-claim to the API server's claimMappings.username"
            ),
            Mismatch::UsernamePrefixed { prefix } => write!(
                f,
                "the cluster prefixes your username with {prefix:?}: RBAC must name you so"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(username: Option<&str>, groups: Option<&[&str]>) -> PersonClaims {
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

    fn groups(g: &[&str]) -> Vec<String> {
        g.iter().map(|x| x.to_string()).collect()
    }

    const ALICE: &str = "alice@example.com";

    fn find(t: &PersonClaims, user: &str, g: &[&str]) -> Vec<Mismatch> {
        Mismatch::find(t, &ClaimNames::default(), user, &groups(g))
    }

    #[test]
    fn agreement_is_silent() {
        let t = token(Some(ALICE), Some(&["sre"]));
        assert_eq!(find(&t, ALICE, &["sre", "system:authenticated"]), []);
    }

    #[test]
    fn groups_missing_from_the_token_say_try_scope_groups() {
        let t = token(Some(ALICE), None);
        let found = find(&t, ALICE, &["system:authenticated"]);
        assert_eq!(
            found,
            [Mismatch::NoGroupsInToken {
                claim: "groups".into()
            }]
        );
        assert!(found[0].to_string().starts_with(
            "your IdP did not put groups in the ID token (no `groups` claim) and the cluster sees none; try --scope groups"
        ));
        assert!(found[0].is_problem());
        // Google: no groups in the token, but the cluster derives them: nothing amiss.
        assert_eq!(find(&t, ALICE, &["sre", "system:authenticated"]), []);
    }

    #[test]
    fn prefixes_are_named_and_not_problems() {
        let t = token(Some(ALICE), Some(&["sre", "oncall"]));
        let found = find(
            &t,
            &format!("oidc:{ALICE}"),
            &["oidc:sre", "oidc:oncall", "system:authenticated"],
        );
        assert_eq!(
            found,
            [
                Mismatch::UsernamePrefixed {
                    prefix: "oidc:".into()
                },
                Mismatch::GroupsPrefixed {
                    prefix: "oidc:".into()
                }
            ]
        );
        assert!(found.iter().all(|m| !m.is_problem()));
    }

    #[test]
    fn other_claims_at_the_api_server_are_named() {
        let t = token(Some(ALICE), Some(&["sre", "dev"]));
        let found = find(&t, "https://idp#alice", &["dev", "system:authenticated"]);
        assert!(
            matches!(&found[0], Mismatch::UsernameDiffers { cluster, .. } if cluster == "https://idp#alice")
        );
        assert!(found[0].to_string().contains("set --username-claim"));
        assert_eq!(
            found[1],
            Mismatch::GroupsNotSeen {
                missing: groups(&["sre"]),
                claim: "groups".into()
            }
        );
        let mut over = token(Some(ALICE), None);
        over.groups_overage = true;
        assert!(matches!(
            &find(&over, ALICE, &["system:authenticated"])[..],
            [Mismatch::GroupsOverage { .. }]
        ));
    }
}
