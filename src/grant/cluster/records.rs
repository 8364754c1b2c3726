//! Reading the grant records, with what a refusal or a missing CRD means.

use super::{Cluster, ClusterError};
use crate::grant::model::record::{self, Grant};
use crate::grant::model::seal;

/// The records that may be live at `now` or were until `window` before it (by their
/// live-until label), or a message naming the manifest to apply: what `request` and
/// `status` read instead of the whole history.
pub async fn list_recent_records(
    cluster: &dyn Cluster,
    now: chrono::DateTime<chrono::Utc>,
    window: chrono::Duration,
) -> Result<Vec<Grant>, ClusterError> {
    list_recent_records_at(cluster, now, window, None).await
}

/// [`list_recent_records`], as fresh as resource version `at` at least (when given): the
/// API server answers from its cache at once rather than first catching up with etcd.
pub async fn list_recent_records_at(
    cluster: &dyn Cluster,
    now: chrono::DateTime<chrono::Utc>,
    window: chrono::Duration,
    at: Option<&str>,
) -> Result<Vec<Grant>, ClusterError> {
    let since = (now - window).timestamp();
    explained(cluster, cluster.records_live_after(since, at).await).await
}

/// The record named `name`, `None` when there is none, or a message naming the manifest to
/// apply: what `revoke GRANT` and `review GRANT` read instead of the whole history. A name
/// no object can have (a DNS-1123 subdomain, as for seals) is never sent to the API server.
pub async fn read_record(cluster: &dyn Cluster, name: &str) -> Result<Option<Grant>, ClusterError> {
    let found = if seal::is_valid_name(name) {
        explained(cluster, cluster.record(name).await).await?
    } else {
        None
    };
    match found {
        Some(g) if g.name() == name => Ok(Some(g)),
        // A 404 for the record may also be the CRD's (when the API server still serves its
        // group): a one-record page tells the two apart.
        _ => explained(
            cluster,
            cluster.records_page(1, super::PageStart::Now).await,
        )
        .await
        .map(|_| None),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grant::cluster::memory::MemoryCluster;

    fn cluster_with(name: &str) -> MemoryCluster {
        let cluster = MemoryCluster::new();
        let spec = serde_json::json!({
            "requester": "alice@example.com", "requesterGroups": ["sre"], "reason": "checkout is down",
            "role": "incident-debug", "serviceAccount": "incident-debug", "durationSeconds": 600,
            "startTime": "2026-11-29T08:00:00Z", "expiryTime": "2026-11-29T08:10:00Z",
            "clientHost": "laptop", "pluginVersion": "0.1.0", "requestId": "r1", "sequence": 1
        });
        let g = Grant::new(name, serde_json::from_value(spec).unwrap());
        cluster.state.borrow_mut().records.insert(name.into(), g);
        cluster
    }

    #[tokio::test]
    async fn a_record_is_read_by_name_and_a_missing_one_tells_a_missing_crd_apart() {
        let cluster = cluster_with("grant-000001");
        let g = read_record(&cluster, "grant-000001").await.unwrap();
        assert_eq!(
            g.map(|g| g.name().to_string()).as_deref(),
            Some("grant-000001")
        );
        assert_eq!(cluster.state.borrow().calls, ["record"]);

        // Missing: one record's page shows the CRD is there (a missing CRD fails it).
        cluster.state.borrow_mut().calls.clear();
        assert!(read_record(&cluster, "grant-000002")
            .await
            .unwrap()
            .is_none());
        assert_eq!(cluster.state.borrow().calls, ["record", "records_page"]);

        // A name no object can have is not asked for.
        cluster.state.borrow_mut().calls.clear();
        assert!(read_record(&cluster, "grant-1/status")
            .await
            .unwrap()
            .is_none());
        assert_eq!(cluster.state.borrow().calls, ["records_page"]);
    }

    #[tokio::test]
    async fn a_refused_read_by_name_says_who_may_read_the_records() {
        let cluster = cluster_with("grant-000001");
        cluster.state.borrow_mut().forbidden.push("record");
        let err = read_record(&cluster, "grant-000001").await.unwrap_err();
        assert!(matches!(err, ClusterError::NotARequester { .. }), "{err}");
    }
}
