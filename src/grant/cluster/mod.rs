//! The cluster API layer: every read and write of records, the policy, seals, TokenRequests,
//! Events and access reviews goes through here, and no policy decision is made here. Clients
//! are built by kube from the context's kubeconfig entry (proxy-url, tls-server-name, CA
//! file or data, insecure-skip-tls-verify as kubectl reads them), with only the credentials
//! replaced by the person's ID token or a break-glass token.

pub mod admin;
pub mod error;
pub mod events;
pub mod policy;
pub mod records;
pub mod seals;

pub use error::{explain, status_code, ClusterError};

use crate::global::Global;
use crate::kubeconfig::Loaded;
use crate::secret::Secret;
use k8s_openapi::api::authentication::v1::{SelfSubjectReview, UserInfo};
use kube::api::PostParams;
use kube::{Api, Client};
use std::time::Duration;

/// Who the cluster says the caller is (SelfSubjectReview).
#[derive(Debug, Clone)]
pub struct Whoami {
    pub username: String,
    pub groups: Vec<String>,
}

/// The person's connection to one cluster.
pub struct Cluster {
    pub client: Client,
    /// The context the person named (or the current one).
    pub context: String,
    pub server: String,
    /// How to reach the cluster, for clients presenting another token.
    reach: kube::Config,
}

/// How to reach the cluster of `context` as kube reads the kubeconfig (its credentials
/// included, for contexts not of this plugin); no silent retries and bounded waits.
pub async fn reach(loaded: &Loaded, context: &str) -> anyhow::Result<kube::Config> {
    let options = kube::config::KubeConfigOptions {
        context: Some(context.to_string()),
        ..Default::default()
    };
    let mut config = kube::Config::from_custom_kubeconfig(loaded.config().clone(), &options)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot use context {context} of the kubeconfig: {e}; fix its cluster entry \
                 (kubectl config view --minify --context {context})"
            )
        })?;
    // The kubeconfig's proxy-url only: kube would also send loopback servers through
    // HTTPS_PROXY, which kubectl (Go's ProxyFromEnvironment) never does.
    config.proxy_url = proxy_url(loaded, context)
        .map(|p| {
            p.parse().map_err(|e| {
                anyhow::anyhow!(
                    "the proxy-url {p:?} of context {context} is not a URL ({e}); fix it in the \
                     kubeconfig"
                )
            })
        })
        .transpose()?;
    config.connect_timeout = Some(Duration::from_secs(10));
    config.read_timeout = Some(Duration::from_secs(30));
    // Each protocol step decides itself what a failure means; no silent retries of POSTs.
    config.default_retry = false;
    Ok(config)
}

/// The `proxy-url` of the cluster entry `context` uses, if any.
fn proxy_url(loaded: &Loaded, context: &str) -> Option<String> {
    let config = loaded.config();
    let cluster = config
        .contexts
        .iter()
        .find(|c| c.name == context)
        .and_then(|c| c.context.as_ref())
        .and_then(|c| config.clusters.iter().find(|k| k.name == c.cluster))
        .and_then(|k| k.cluster.as_ref());
    cluster
        .and_then(|c| c.proxy_url.clone())
        .filter(|p| !p.is_empty())
}

/// A client for the cluster `reach` leads to, presenting `token` as bearer and nothing else.
pub fn client_with_token(
    reach: &kube::Config,
    token: &Secret<String>,
) -> Result<Client, ClusterError> {
    let mut config = reach.clone();
    config.auth_info = kube::config::AuthInfo {
        token: Some(token.expose().clone().into()),
        ..Default::default()
    };
    Client::try_from(config).map_err(|e| ClusterError::NoClient {
        server: reach.cluster_url.to_string(),
        cause: e.to_string(),
    })
}

/// Connects as the person: their cached OIDC ID token when the context uses this plugin's
/// identity, else whatever credentials the context itself has (e.g. an admin's token).
pub async fn connect(global: &Global, interactive: bool) -> anyhow::Result<Cluster> {
    let loaded = crate::kubeconfig::load(global)?;
    let ctx = loaded.context(global.context.as_deref())?;
    // On a `<context>-breakglass` context, act for the person's own context it came from.
    let name = ctx
        .origin_context
        .clone()
        .unwrap_or_else(|| ctx.name.clone());
    let reach = reach(&loaded, &ctx.name).await?;
    let client = match &ctx.idp {
        Some(idp) => {
            let settings = crate::identity::idp_settings(global, idp)?;
            let store = crate::token_cache::open(global.token_cache)?;
            let identity =
                crate::identity::person_identity(&settings, store.as_ref(), interactive, &ctx.name)
                    .await?;
            client_with_token(&reach, &identity.id_token)?
        }
        // The context's own credentials (an admin's token or certificate), as kube loads them.
        None => Client::try_from(self::reach(&loaded, &name).await?).map_err(|e| {
            ClusterError::NoClient {
                server: ctx.server.clone(),
                cause: e.to_string(),
            }
        })?,
    };
    Ok(Cluster {
        client,
        context: name,
        server: ctx.server,
        reach,
    })
}

impl Cluster {
    /// A cluster reached with the client given (completion's, with its own budget).
    pub fn new(client: Client, context: String, server: String, reach: kube::Config) -> Self {
        Cluster {
            client,
            context,
            server,
            reach,
        }
    }

    /// A client for this cluster presenting `token` (a break-glass token) instead.
    pub fn with_token(&self, token: &Secret<String>) -> Result<Client, ClusterError> {
        client_with_token(&self.reach, token)
    }

    /// A cluster error of this cluster, in the words of the step that failed.
    pub fn error(&self, err: kube::Error, doing: &str) -> ClusterError {
        ClusterError::from_kube(err, &self.server, &self.context, doing)
    }

    /// Who the cluster says we are; the first call, so it also tells whether the cluster answers.
    pub async fn whoami(&self) -> Result<Whoami, ClusterError> {
        whoami(&self.client)
            .await
            .map_err(|e| self.error(e, "asking the cluster who you are"))
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
    })
}

impl Cluster {
    /// Who the cluster takes `token` for; `Unauthorized` once it rejects the token.
    pub async fn whoami_with(
        &self,
        token: &Secret<String>,
        doing: &str,
    ) -> Result<Whoami, ClusterError> {
        let client = self.with_token(token)?;
        whoami(&client).await.map_err(|e| self.error(e, doing))
    }
}
