//! Who counts as a break-glass admin: a member of the groups the admission policies let act
//! on anyone's grant (`variables.admin` in `deploy/04-admission.yaml`: delete anyone's
//! seal, mark anyone's record Revoked). The plugin applies the cluster's own rule to the
//! groups the cluster reports (SelfSubjectReview), so it never offers what the cluster
//! would refuse: RBAC alone (say, a cluster-admin binding) does not make an admin here,
//! because the admission policies would still refuse that person's revocation of someone
//! else's grant.

/// The groups `deploy/04-admission.yaml` treats as break-glass admins.
pub const ADMIN_GROUPS: [&str; 2] = ["breakglass-admins", "system:masters"];

/// Who counts as a break-glass admin, for messages.
pub const ADMIN_RULE: &str =
    "break-glass admins are the members of group breakglass-admins (or system:masters), \
     as the cluster's admission policies decide";

/// Whether `groups` (as the cluster reports them) make their holder a break-glass admin.
pub fn is_admin(groups: &[String]) -> bool {
    groups.iter().any(|g| ADMIN_GROUPS.contains(&g.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_admission_policies_groups_make_an_admin_and_nothing_else_does() {
        let groups = |gs: &[&str]| gs.iter().map(|g| g.to_string()).collect::<Vec<_>>();
        assert!(is_admin(&groups(&["sre", "breakglass-admins"])));
        assert!(is_admin(&groups(&["system:masters"])));
        assert!(!is_admin(&groups(&["sre", "system:authenticated"])));
        assert!(!is_admin(&groups(&[
            "breakglass-admins-readonly",
            "Breakglass-Admins"
        ])));
        assert!(!is_admin(&[]));
    }

    #[test]
    fn the_groups_are_those_the_admission_policies_name() {
        let policy = include_str!("../../../deploy/04-admission.yaml");
        for g in ADMIN_GROUPS {
            assert!(
                policy.contains(&format!("'{g}' in request.userInfo.groups")),
                "{g} is not an admin group of deploy/04-admission.yaml"
            );
        }
    }
}
