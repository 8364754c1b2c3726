//! Reading the grant records.

use super::{Cluster, ClusterError};
use crate::grant::model::record::{self, Grant};
use crate::grant::NAMESPACE;
use kube::api::{ListParams, Patch, PatchParams};
use kube::Api;

/// The grant records of the cluster, or a message naming the manifest to apply.
pub async fn list_records(cluster: &Cluster) -> Result<Vec<Grant>, ClusterError> {
    let grants: Api<Grant> = Api::namespaced(cluster.client.clone(), NAMESPACE);
    let listed = grants.list(&ListParams::default()).await;
    match listed.map_err(|e| cluster.error(e, "reading the grant records")) {
        Ok(list) => Ok(list.items),
        Err(ClusterError::NotFound { .. }) => Err(ClusterError::NotInstalled(format!(
            "the cluster at {} has no BreakGlassGrant resource: the break-glass CRD is not installed; \
             {} (the CRD is {})",
            cluster.server,
            crate::grant::INSTALL_HINT,
            record::CRD_MANIFEST
        ))),
        Err(ClusterError::Forbidden { .. }) => Err(not_a_requester(cluster).await),
        Err(e) => Err(e),
    }
}

/// Reading the records was forbidden: say who may, from the policy (which everyone may read).
async fn not_a_requester(cluster: &Cluster) -> ClusterError {
    let groups = match super::policy::read_policy(cluster).await {
        Ok(policy) => {
            let mut groups: Vec<String> = policy
                .roles
                .iter()
                .flat_map(|r| r.groups.iter().cloned())
                .collect();
            groups.sort();
            groups.dedup();
            format!("the requesters' group {}", groups.join(" or "))
        }
        Err(_) => "the requesters' groups the policy names".to_string(),
    };
    ClusterError::NotARequester {
        server: cluster.server.clone(),
        groups,
    }
}

/// Merges `status` into the status of record `name`.
pub async fn patch_status(
    cluster: &Cluster,
    name: &str,
    status: &serde_json::Value,
    doing: &str,
) -> Result<Grant, ClusterError> {
    let grants: Api<Grant> = Api::namespaced(cluster.client.clone(), NAMESPACE);
    grants
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({ "status": status })),
        )
        .await
        .map_err(|e| cluster.error(e, doing))
}
