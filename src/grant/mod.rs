//! Break-glass grants: the cluster-side protocol (record → seal → token → annotate),
//! the elevated credential, status and confirmed revocation.

pub mod audit;
pub mod chain_head;
pub mod cluster;
pub mod cluster_ca;
pub mod drill;
pub mod elevated_cache;
pub mod history;
pub mod live_grants;
pub mod model;
pub mod protocol;
pub mod request;
pub mod revoke;
pub mod standby_cache;
pub mod status;
pub mod undo;

/// The namespace every break-glass object lives in (`deploy/00-namespace.yaml`).
pub const NAMESPACE: &str = "breakglass";
/// The API group of the grant record CRD.
pub const GROUP: &str = "breakglass.dev";
/// The version of the grant record CRD.
pub const VERSION: &str = "v1alpha1";
/// Label on every seal, so `revoke --all` finds them by selector.
pub const SEAL_LABEL: &str = "breakglass.dev/seal";
/// Label on a seal naming its grant record.
pub const GRANT_LABEL: &str = "breakglass.dev/grant";
/// The manifests an admin applies to install the cluster side.
pub const INSTALL_HINT: &str = "an admin must install the cluster side: kubectl apply -f deploy/";

/// ` --context C`, or nothing when the context is not known.
pub fn context_flag(context: &str) -> String {
    if context.is_empty() {
        String::new()
    } else {
        format!(" --context {context}")
    }
}
