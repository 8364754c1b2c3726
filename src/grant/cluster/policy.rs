//! Reading the break-glass policy, which everyone may read.

use super::{Cluster, ClusterError};
use crate::grant::model::policy::{Policy, POLICY_MANIFEST, POLICY_NAME};
use crate::grant::model::standby::Standby;
use crate::grant::NAMESPACE;

/// The cluster's break-glass policy, or a message naming the manifest to apply.
pub async fn read_policy(cluster: &dyn Cluster) -> anyhow::Result<Policy> {
    let Some(data) = cluster.policy_data().await? else {
        return Err(ClusterError::NotInstalled(format!(
            "the cluster has no break-glass policy (ConfigMap {NAMESPACE}/{POLICY_NAME}); \
             an admin must install it: kubectl apply -f deploy/ (the policy is {POLICY_MANIFEST})"
        ))
        .into());
    };
    Policy::from_data(&data)
}

/// The standby part of the cluster's break-glass policy (issue 13).
pub async fn read_standby(cluster: &dyn Cluster) -> anyhow::Result<Standby> {
    let Some(data) = cluster.policy_data().await? else {
        return Err(ClusterError::NotInstalled(format!(
            "the cluster has no break-glass policy (ConfigMap {NAMESPACE}/{POLICY_NAME}); {}",
            crate::grant::INSTALL_HINT
        ))
        .into());
    };
    Standby::from_data(&data)
}
