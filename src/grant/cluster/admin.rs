//! Who counts as a break-glass admin: whoever the cluster lets list Secrets in the
//! break-glass namespace (`Cluster::is_admin`; group breakglass-admins in `deploy/`, and
//! cluster superusers). Requesters may not, so they cannot sweep seals nor revoke others'
//! grants.

/// Who counts as a break-glass admin, for messages.
pub const ADMIN_RULE: &str =
    "break-glass admins are those the cluster lets list Secrets in namespace breakglass \
     (group breakglass-admins)";
