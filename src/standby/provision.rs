//! The admin's side: `standby provision` gives a person a standby ServiceAccount, its bound
//! Secret, the RBAC for them alone to mint its token, and the policy keys the admission
//! policies read; `standby revoke` deletes the Secret, which kills every token bound to it.

use crate::grant::cluster::policy::read_policy;
use crate::grant::cluster::{ClusterError, KubeCluster};
use crate::grant::model::policy::POLICY_NAME;
use crate::grant::model::standby::{self, account_name, roles_key, user_key, BOND_TYPE, NAMESPACE};
use crate::untrusted::Untrusted;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::Api;
use std::collections::BTreeMap;

/// Annotation on the standby ServiceAccount and Secret naming the person.
pub const FOR_ANNOTATION: &str = "breakglass.dev/standby-for";
const MANAGER: &str = "kubectl-breakglass";

/// What `provision` set up.
pub struct Provisioned {
    pub service_account: String,
    pub roles: Vec<String>,
    /// The bound Secret was created now (not kept from an earlier provision).
    pub new_secret: bool,
}

fn meta(name: &str, namespace: &str, user: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(namespace.to_string()),
        labels: Some(BTreeMap::from([(
            "app.kubernetes.io/name".to_string(),
            "kubectl-breakglass".to_string(),
        )])),
        annotations: Some(BTreeMap::from([(
            FOR_ANNOTATION.to_string(),
            user.to_string(),
        )])),
        ..ObjectMeta::default()
    }
}

/// The Role and RoleBinding name that lets `user` alone mint `sa`'s token.
fn rbac_name(sa: &str) -> String {
    format!("breakglass:standby:{sa}")
}

/// Gives `user` a standby credential for `roles` (default: the policy's default role).
/// Idempotent; an existing Secret is kept, so re-provisioning (e.g. to change roles) does
/// not revoke the person's held credential.
pub async fn provision(
    cluster: &KubeCluster,
    user: &str,
    roles: &[String],
) -> anyhow::Result<Provisioned> {
    if user.trim().is_empty() || user.chars().any(crate::untrusted::is_unsafe) {
        anyhow::bail!(
            "--user must be the person's username as the cluster sees it (e.g. their email)"
        );
    }
    let policy = read_policy(cluster).await?;
    let roles: Vec<String> = if roles.is_empty() {
        vec![policy.default_role.clone()]
    } else {
        roles.to_vec()
    };
    for r in &roles {
        if !policy.roles.iter().any(|p| &p.name == r) {
            anyhow::bail!(
                "unknown role {:?}: the roles on offer are {}; nothing was changed",
                r,
                policy.role_names()
            );
        }
    }
    let sa = account_name(user);
    let ex = |doing: String| {
        move |e: kube::Error| match cluster.error(e, &doing) {
            e @ ClusterError::NotFound { .. } => anyhow::anyhow!(
                "{e} (is standby enabled? an admin applies: kubectl apply -f {})",
                standby::MANIFEST
            ),
            e => e.into(),
        }
    };
    let apply = PatchParams::apply(MANAGER).force();
    let accounts: Api<ServiceAccount> = Api::namespaced(cluster.client.clone(), NAMESPACE);
    let account = ServiceAccount {
        metadata: meta(&sa, NAMESPACE, user),
        ..ServiceAccount::default()
    };
    accounts
        .patch(&sa, &apply, &Patch::Apply(&account))
        .await
        .map_err(ex(format!("creating the ServiceAccount {NAMESPACE}/{sa}")))?;

    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), NAMESPACE);
    let doing = format!("creating the standby Secret {NAMESPACE}/{sa}");
    let new_secret = match secrets.get_opt(&sa).await.map_err(ex(doing.clone()))? {
        Some(_) => false,
        None => {
            let bond = Secret {
                metadata: meta(&sa, NAMESPACE, user),
                type_: Some(BOND_TYPE.to_string()),
                ..Secret::default()
            };
            secrets
                .create(&PostParams::default(), &bond)
                .await
                .map_err(ex(doing))?;
            true
        }
    };

    let name = rbac_name(&sa);
    let role = Role {
        metadata: meta(&name, NAMESPACE, user),
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec![String::new()]),
            resources: Some(vec!["serviceaccounts/token".to_string()]),
            resource_names: Some(vec![sa.clone()]),
            verbs: vec!["create".to_string()],
            ..PolicyRule::default()
        }]),
    };
    Api::<Role>::namespaced(cluster.client.clone(), NAMESPACE)
        .patch(&name, &apply, &Patch::Apply(&role))
        .await
        .map_err(ex(format!("creating the Role {NAMESPACE}/{name}")))?;
    let binding = RoleBinding {
        metadata: meta(&name, NAMESPACE, user),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".to_string(),
            kind: "Role".to_string(),
            name: name.clone(),
        },
        subjects: Some(vec![Subject {
            api_group: Some("rbac.authorization.k8s.io".to_string()),
            kind: "User".to_string(),
            name: user.to_string(),
            namespace: None,
        }]),
    };
    Api::<RoleBinding>::namespaced(cluster.client.clone(), NAMESPACE)
        .patch(&name, &apply, &Patch::Apply(&binding))
        .await
        .map_err(ex(format!("creating the RoleBinding {NAMESPACE}/{name}")))?;

    // Last: the policy keys are what make the account usable at all (admission).
    let data = serde_json::json!({ "data": {
        user_key(&sa): user,
        roles_key(&sa): roles.join(","),
    }});
    Api::<ConfigMap>::namespaced(cluster.client.clone(), crate::grant::NAMESPACE)
        .patch(POLICY_NAME, &PatchParams::default(), &Patch::Merge(&data))
        .await
        .map_err(ex(format!(
            "writing the standby keys into the policy {}/{POLICY_NAME}",
            crate::grant::NAMESPACE
        )))?;
    Ok(Provisioned {
        service_account: sa,
        roles,
        new_secret,
    })
}

/// Revokes `user`'s standby credential: deletes its bound Secret. `Ok(false)`: there was
/// none (never provisioned, or already revoked).
pub async fn revoke(cluster: &KubeCluster, user: &str) -> anyhow::Result<bool> {
    let sa = account_name(user);
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), NAMESPACE);
    let doing = format!(
        "revoking the standby credential of {} (deleting Secret {NAMESPACE}/{sa})",
        Untrusted(user)
    );
    match secrets.delete(&sa, &DeleteParams::default()).await {
        Ok(_) => Ok(true),
        Err(e) => match cluster.error(e, &doing) {
            ClusterError::NotFound { .. } => Ok(false),
            e => Err(e.into()),
        },
    }
}
