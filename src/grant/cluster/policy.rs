//! Reading the break-glass policy, which everyone may read.

use super::{Cluster, ClusterError};
use crate::grant::model::policy::{Policy, POLICY_MANIFEST, POLICY_NAME};
use crate::grant::NAMESPACE;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;

/// The cluster's break-glass policy, or a message naming the manifest to apply.
pub async fn read_policy(cluster: &Cluster) -> anyhow::Result<Policy> {
    let api: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), NAMESPACE);
    let cm = match api.get_opt(POLICY_NAME).await {
        Ok(Some(cm)) => cm,
        Ok(None) => {
            return Err(ClusterError::NotInstalled(format!(
                "the cluster has no break-glass policy (ConfigMap {NAMESPACE}/{POLICY_NAME}); \
             an admin must install it: kubectl apply -f deploy/ (the policy is {POLICY_MANIFEST})"
            ))
            .into())
        }
        Err(e) => return Err(cluster.error(e, "reading the break-glass policy").into()),
    };
    Policy::from_data(&cm.data.unwrap_or_default())
}
