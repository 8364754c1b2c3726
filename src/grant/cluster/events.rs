//! Writing Events for live visibility.

use super::{Cluster, ClusterError};
use crate::grant::NAMESPACE;
use k8s_openapi::api::events::v1::Event;
use kube::api::PostParams;
use kube::Api;

/// Creates an Event; failures are reported, never fatal.
pub async fn emit(cluster: &Cluster, event: Event) -> Result<(), ClusterError> {
    let api: Api<Event> = Api::namespaced(cluster.client.clone(), NAMESPACE);
    api.create(&PostParams::default(), &event)
        .await
        .map(|_| ())
        .map_err(|e| cluster.error(e, "writing the Event"))
}
