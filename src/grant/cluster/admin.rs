//! Whether the caller is a break-glass admin, as the cluster decides it.

use super::{Cluster, ClusterError};
use crate::grant::NAMESPACE;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::api::PostParams;
use kube::Api;

/// Whether the caller is a break-glass admin, as the cluster decides it: whoever may list
/// Secrets in the break-glass namespace (group breakglass-admins in `deploy/`, and cluster
/// superusers). Requesters may not, so they cannot sweep seals nor revoke others' grants.
pub async fn is_admin(cluster: &Cluster) -> Result<bool, ClusterError> {
    let api: Api<SelfSubjectAccessReview> = Api::all(cluster.client.clone());
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                namespace: Some(NAMESPACE.to_string()),
                verb: Some("list".to_string()),
                group: Some(String::new()),
                resource: Some("secrets".to_string()),
                ..ResourceAttributes::default()
            }),
            ..SelfSubjectAccessReviewSpec::default()
        },
        ..SelfSubjectAccessReview::default()
    };
    let answer = api
        .create(&PostParams::default(), &review)
        .await
        .map_err(|e| cluster.error(e, "asking the cluster whether you are a break-glass admin"))?;
    Ok(answer.status.is_some_and(|s| s.allowed))
}

/// Who counts as a break-glass admin, for messages.
pub const ADMIN_RULE: &str =
    "break-glass admins are those the cluster lets list Secrets in namespace breakglass \
     (group breakglass-admins)";
