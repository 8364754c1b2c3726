//! Reading the grant records, with what a refusal or a missing CRD means.

use super::{Cluster, ClusterError};
use crate::grant::model::record::{self, Grant};

/// The grant records of the cluster, or a message naming the manifest to apply.
pub async fn list_records(cluster: &dyn Cluster) -> Result<Vec<Grant>, ClusterError> {
    match cluster.records().await {
        Ok(records) => Ok(records),
        Err(ClusterError::NotFound { .. }) => Err(ClusterError::NotInstalled(format!(
            "the cluster at {} has no BreakGlassGrant resource: the break-glass CRD is not installed; \
             {} (the CRD is {})",
            cluster.server(),
            crate::grant::INSTALL_HINT,
            record::CRD_MANIFEST
        ))),
        Err(ClusterError::Forbidden { .. }) => Err(not_a_requester(cluster).await),
        Err(e) => Err(e),
    }
}

/// Reading the records was forbidden: say who may, from the policy (which everyone may read).
async fn not_a_requester(cluster: &dyn Cluster) -> ClusterError {
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
        server: cluster.server().to_string(),
        groups,
    }
}
