//! The real cluster: each call of [`Cluster`] as one Kubernetes API request through kube.

use super::{Call, Cluster, ClusterError, Page, PageStart, Whoami};
use crate::grant::model::record::{Grant, LIVE_UNTIL_LABEL};
use crate::grant::model::{seal, standby};
use crate::grant::NAMESPACE;
use crate::secret::Secret;
use k8s_openapi::api::authentication::v1::{SelfSubjectReview, TokenRequest, UserInfo};
use k8s_openapi::api::core::v1::{ConfigMap, Secret as K8sSecret, ServiceAccount};
use k8s_openapi::api::events::v1::Event;
use kube::api::{
    DeleteParams, GetParams, ListParams, Patch, PatchParams, PostParams, VersionMatch,
};
use kube::{Api, Client};
use std::collections::BTreeMap;

/// The person's connection to one cluster.
pub struct KubeCluster {
    pub client: Client,
    /// The context the person named (or the current one).
    pub context: String,
    pub server: String,
    /// How to reach the cluster, for clients presenting another token.
    pub(super) reach: kube::Config,
    /// Standby hook (issue 13): connected through the standby credential of this person.
    pub(super) stands_for: Option<String>,
}

impl KubeCluster {
    /// A cluster error of this cluster, in the words of the step that failed.
    pub fn error(&self, err: kube::Error, doing: &str) -> ClusterError {
        ClusterError::from_kube(err, &self.server, &self.context, doing)
    }

    fn grants(&self) -> Api<Grant> {
        Api::namespaced(self.client.clone(), NAMESPACE)
    }

    fn secrets(&self) -> Api<K8sSecret> {
        Api::namespaced(self.client.clone(), NAMESPACE)
    }

    /// A TokenRequest on ServiceAccount `namespace`/`account`.
    async fn token_request(
        &self,
        namespace: &str,
        account: &str,
        request: &TokenRequest,
        doing: &str,
    ) -> Result<TokenRequest, ClusterError> {
        let accounts: Api<ServiceAccount> = Api::namespaced(self.client.clone(), namespace);
        let issued = accounts
            .create_token_request(account, &PostParams::default(), request)
            .await;
        issued.map_err(|e| self.error(e, doing))
    }
}

/// SelfSubjectReview with `client`'s credentials.
pub async fn whoami(client: &Client) -> Result<Whoami, kube::Error> {
    let api: Api<SelfSubjectReview> = Api::all(client.clone());
    let review = api
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await?;
    let user: UserInfo = review.status.and_then(|s| s.user_info).unwrap_or_default();
    Ok(Whoami {
        username: user.username.unwrap_or_default(),
        groups: user.groups.unwrap_or_default(),
        standby: None,
    })
}

impl Cluster for KubeCluster {
    fn context(&self) -> &str {
        &self.context
    }

    fn server(&self) -> &str {
        &self.server
    }

    fn whoami(&self) -> Call<'_, Whoami> {
        Box::pin(async move {
            let who = whoami(&self.client)
                .await
                .map_err(|e| self.error(e, "asking the cluster who you are"))?;
            // Through a standby credential the caller is the person it stands for.
            Ok(match &self.stands_for {
                Some(person) => Whoami {
                    username: person.clone(),
                    groups: who.groups,
                    standby: Some(who.username),
                },
                None => who,
            })
        })
    }

    fn whoami_with<'a>(&'a self, token: &'a Secret<String>, doing: &'a str) -> Call<'a, Whoami> {
        Box::pin(async move {
            let mut reach = self.reach.clone();
            super::set_user_agent(&mut reach, super::TOKEN_CHECK_USER_AGENT);
            let client = super::client_with_token(&reach, token)?;
            whoami(&client).await.map_err(|e| self.error(e, doing))
        })
    }

    fn records_live_after<'a>(&'a self, since: i64, at: Option<&'a str>) -> Call<'a, Vec<Grant>> {
        Box::pin(async move {
            let selector = format!("{LIVE_UNTIL_LABEL}>{since}");
            let params = ListParams::default().labels(&selector);
            let params = match at {
                Some(version) => params.at(version).matching(VersionMatch::NotOlderThan),
                None => params,
            };
            let listed = self.grants().list(&params).await;
            listed
                .map(|l| l.items)
                .map_err(|e| self.error(e, "reading the grant records that may be live"))
        })
    }

    fn records_page<'a>(&'a self, limit: u32, from: PageStart<'a>) -> Call<'a, Page> {
        Box::pin(async move {
            let params = ListParams::default().limit(limit);
            let params = match from {
                PageStart::Now => params,
                PageStart::Snapshot(version) => params.at(version).matching(VersionMatch::Exact),
                PageStart::Continue(token) => params.continue_token(token),
            };
            let listed = self.grants().list(&params).await;
            listed
                .map(|l| Page {
                    records: l.items,
                    next: l.metadata.continue_.filter(|c| !c.is_empty()),
                    snapshot: l.metadata.resource_version.filter(|v| !v.is_empty()),
                })
                .map_err(|e| self.error(e, "reading the grant records"))
        })
    }

    fn record<'a>(&'a self, name: &'a str) -> Call<'a, Option<Grant>> {
        Box::pin(async move {
            let found = self.grants().get_opt(name).await;
            found.map_err(|e| self.error(e, "reading the grant record"))
        })
    }

    fn record_at<'a>(&'a self, name: &'a str, at: &'a str) -> Call<'a, Option<Grant>> {
        Box::pin(async move {
            let found = self.grants().get_with(name, &GetParams::at(at)).await;
            if_found(found).map_err(|e| self.error(e, "reading the grant record"))
        })
    }

    fn create_record<'a>(&'a self, grant: &'a Grant) -> Call<'a, Grant> {
        Box::pin(async move {
            let created = self.grants().create(&PostParams::default(), grant).await;
            created.map_err(|e| self.error(e, "writing the grant record"))
        })
    }

    fn patch_status<'a>(
        &'a self,
        name: &'a str,
        status: &'a serde_json::Value,
        doing: &'a str,
    ) -> Call<'a, Grant> {
        Box::pin(async move {
            let patch = Patch::Merge(serde_json::json!({ "status": status }));
            let patched = self
                .grants()
                .patch_status(name, &PatchParams::default(), &patch)
                .await;
            patched.map_err(|e| self.error(e, doing))
        })
    }

    fn create_seal<'a>(&'a self, seal: &'a K8sSecret, doing: &'a str) -> Call<'a, K8sSecret> {
        Box::pin(async move {
            let created = self.secrets().create(&PostParams::default(), seal).await;
            created.map_err(|e| self.error(e, doing))
        })
    }

    fn delete_seal<'a>(&'a self, name: &'a str, doing: &'a str) -> Call<'a, bool> {
        Box::pin(async move {
            match self.secrets().delete(name, &DeleteParams::default()).await {
                Ok(_) => Ok(true),
                Err(e) => match self.error(e, doing) {
                    ClusterError::NotFound { .. } => Ok(false),
                    other => Err(other),
                },
            }
        })
    }

    fn delete_seals(&self, names: Vec<String>) -> Call<'_, ()> {
        Box::pin(async move {
            // At once rather than one after another: a person's old grants should not slow
            // `status` down by one round trip each.
            let mut deleting = tokio::task::JoinSet::new();
            for name in names {
                let secrets = self.secrets();
                deleting.spawn(async move {
                    let _ = secrets.delete(&name, &DeleteParams::default()).await;
                });
            }
            while deleting.join_next().await.is_some() {}
            Ok(())
        })
    }

    fn seal_exists<'a>(&'a self, name: &'a str) -> Call<'a, bool> {
        Box::pin(async move {
            let found = self.secrets().get_opt(name).await;
            found
                .map(|s| s.is_some())
                .map_err(|e| self.error(e, "reading the seal"))
        })
    }

    fn seals(&self) -> Call<'_, Vec<K8sSecret>> {
        Box::pin(async move {
            let all = self
                .secrets()
                .list(&ListParams::default())
                .await
                .map_err(|e| self.error(e, "listing seals"))?;
            Ok(all
                .items
                .into_iter()
                .filter(|s| s.type_.as_deref() == Some(seal::SEAL_TYPE))
                .collect())
        })
    }

    fn seals_cached(&self) -> Call<'_, Vec<K8sSecret>> {
        Box::pin(async move {
            // Any resource version: the watch cache answers at once. The cache of Secrets
            // hears of a write to records only through etcd's progress notes (~100 ms
            // apart), so asking for one as fresh as the chain's head would wait for one.
            let selector = format!("{}=true", crate::grant::SEAL_LABEL);
            let params = ListParams::default().labels(&selector).match_any();
            let listed = self.secrets().list(&params).await;
            let all = listed.map_err(|e| self.error(e, "listing the seals"))?;
            Ok(all
                .items
                .into_iter()
                .filter(|s| s.type_.as_deref() == Some(seal::SEAL_TYPE))
                .collect())
        })
    }

    fn request_token<'a>(
        &'a self,
        account: &'a str,
        request: &'a TokenRequest,
        doing: &'a str,
    ) -> Call<'a, TokenRequest> {
        Box::pin(self.token_request(NAMESPACE, account, request, doing))
    }

    fn emit<'a>(&'a self, event: &'a Event) -> Call<'a, ()> {
        Box::pin(async move {
            let api: Api<Event> = Api::namespaced(self.client.clone(), NAMESPACE);
            api.create(&PostParams::default(), event)
                .await
                .map(|_| ())
                .map_err(|e| self.error(e, "writing the Event"))
        })
    }

    fn request_standby_token<'a>(
        &'a self,
        account: &'a str,
        request: &'a TokenRequest,
        doing: &'a str,
    ) -> Call<'a, TokenRequest> {
        Box::pin(self.token_request(standby::NAMESPACE, account, request, doing))
    }

    fn policy_data(&self) -> Call<'_, Option<BTreeMap<String, String>>> {
        Box::pin(async move {
            // From the API server's cache (the admission policies read their params from
            // theirs too): no read of etcd, whose cost grows with its size.
            let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), NAMESPACE);
            let name = crate::grant::model::policy::POLICY_NAME;
            let found = if_found(api.get_with(name, &GetParams::any()).await)
                .map_err(|e| self.error(e, "reading the break-glass policy"))?;
            Ok(found.map(|cm| cm.data.unwrap_or_default()))
        })
    }
}

/// A GET's answer with 404 as `None` (what `Api::get_opt` does, for GETs with parameters).
fn if_found<T>(got: Result<T, kube::Error>) -> Result<Option<T>, kube::Error> {
    match got {
        Ok(found) => Ok(Some(found)),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(None),
        Err(e) => Err(e),
    }
}
