//! Reading the grant records, with what a refusal or a missing CRD means.

use super::{Cluster, ClusterError};
use crate::grant::model::record::{self, Grant};

/// The grant records of the cluster, or a message naming the manifest to apply.
pub async fn list_records(cluster: &dyn Cluster) -> Result<Vec<Grant>, ClusterError> {
    explained(cluster, cluster.records().await).await
}

/// The records that may be live at `now` or were until `window` before it (by their
/// live-until label), or a message naming the manifest to apply: what `request` and
/// `status` read instead of the whole history.
pub async fn list_recent_records(
    cluster: &dyn Cluster,
    now: chrono::DateTime<chrono::Utc>,
    window: chrono::Duration,
) -> Result<Vec<Grant>, ClusterError> {
    let since = (now - window).timestamp();
    explained(cluster, cluster.records_live_after(since).await).await
}

/// One page of records (see [`Cluster::records_page`]), or a message naming the manifest.
pub async fn list_page(
    cluster: &dyn Cluster,
    limit: u32,
    from: super::PageStart<'_>,
) -> Result<super::Page, ClusterError> {
    explained(cluster, cluster.records_page(limit, from).await).await
}

/// A read of records, with a missing CRD or a refusal said in the person's terms.
async fn explained<T>(
    cluster: &dyn Cluster,
    read: Result<T, ClusterError>,
) -> Result<T, ClusterError> {
    match read {
        Ok(records) => Ok(records),
        Err(e) => Err(explain_read(cluster, e).await),
    }
}

/// A failed read of records in the person's terms: a missing CRD names the manifest, a
/// refusal says who may read them.
pub async fn explain_read(cluster: &dyn Cluster, err: ClusterError) -> ClusterError {
    match err {
        ClusterError::NotFound { .. } => ClusterError::NotInstalled(format!(
            "the cluster at {} has no BreakGlassGrant resource: the break-glass CRD is not installed; \
             {} (the CRD is {})",
            cluster.server(),
            crate::grant::INSTALL_HINT,
            record::CRD_MANIFEST
        )),
        ClusterError::Forbidden { .. } => not_a_requester(cluster).await,
        e => e,
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
