//! Listing and deleting seals.

use super::{Cluster, ClusterError};
use crate::grant::model::record::{Grant, State};
use crate::grant::model::seal;
use crate::grant::NAMESPACE;
use k8s_openapi::api::core::v1::Secret as K8sSecret;
use kube::api::{DeleteParams, ListParams};
use kube::Api;

/// Every seal in the break-glass namespace, by Secret type (labelled or not).
pub async fn list_seals(cluster: &Cluster) -> Result<Vec<K8sSecret>, ClusterError> {
    let secrets: Api<K8sSecret> = Api::namespaced(cluster.client.clone(), NAMESPACE);
    let all = secrets
        .list(&ListParams::default())
        .await
        .map_err(|e| cluster.error(e, "listing seals"))?;
    Ok(all
        .items
        .into_iter()
        .filter(|s| s.type_.as_deref() == Some(seal::SEAL_TYPE))
        .collect())
}

/// Deletes the seals of `me`'s expired grants (best effort, quiet), so an expired grant
/// leaves nothing a new token could be bound to.
pub async fn sweep_expired_own(cluster: &Cluster, records: &[Grant], me: &str) {
    let now = chrono::Utc::now();
    let secrets: Api<K8sSecret> = Api::namespaced(cluster.client.clone(), NAMESPACE);
    // At once rather than one after another: a person's old grants should not slow
    // `status` down by one round trip each.
    let mut deleting = tokio::task::JoinSet::new();
    for g in records.iter().filter(|g| {
        g.spec.requester == me
            && g.state() == Some(State::Active)
            && g.expiry().is_some_and(|e| e <= now)
    }) {
        let (secrets, name) = (secrets.clone(), seal::seal_of(records, g.name()));
        if !seal::is_valid_name(&name) {
            continue;
        }
        deleting.spawn(async move {
            let _ = secrets.delete(&name, &DeleteParams::default()).await;
        });
    }
    while deleting.join_next().await.is_some() {}
}

/// Deletes seal `name`: `Ok(true)` when it existed, `Ok(false)` when it was gone already.
pub async fn delete_seal(cluster: &Cluster, name: &str, doing: &str) -> Result<bool, ClusterError> {
    let secrets: Api<K8sSecret> = Api::namespaced(cluster.client.clone(), NAMESPACE);
    match secrets.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(true),
        Err(e) => match cluster.error(e, doing) {
            ClusterError::NotFound { .. } => Ok(false),
            other => Err(other),
        },
    }
}

/// Whether seal `name` exists.
pub async fn seal_exists(cluster: &Cluster, name: &str) -> Result<bool, ClusterError> {
    let secrets: Api<K8sSecret> = Api::namespaced(cluster.client.clone(), NAMESPACE);
    secrets
        .get_opt(name)
        .await
        .map(|s| s.is_some())
        .map_err(|e| cluster.error(e, "reading the seal"))
}
