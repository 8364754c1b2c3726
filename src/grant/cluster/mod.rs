//! The cluster API layer: every read and write of records, the policy, seals, TokenRequests,
//! Events and access reviews goes through here, and no policy decision is made here. Clients
//! are built by kube from the context's kubeconfig entry (proxy-url, tls-server-name, CA
//! file or data, insecure-skip-tls-verify as kubectl reads them), with only the credentials
//! replaced by the person's ID token, their standby credential (`standby`) or a break-glass
//! token.

pub mod error;
mod kube;
#[cfg(test)]
pub mod memory;
pub mod policy;
pub mod records;
pub mod seals;
pub mod standby;

pub use self::kube::{whoami, KubeCluster};

/// The user agent of every call the plugin makes, so the API server's audit log tells the
/// plugin's own calls from kubectl's.
pub const USER_AGENT: &str = concat!("kubectl-breakglass/", env!("CARGO_PKG_VERSION"));

/// The user agent of a token check (`revoke` presenting the revoked token until it is
/// rejected, `drill` presenting its token): what `review` shows for those calls.
pub const TOKEN_CHECK_USER_AGENT: &str = concat!(
    "kubectl-breakglass/",
    env!("CARGO_PKG_VERSION"),
    " (token check)"
);

/// Sets the user agent every request of `config`'s clients carries.
pub fn set_user_agent(config: &mut ::kube::Config, agent: &'static str) {
    use reqwest::header::{HeaderValue, USER_AGENT as HEADER};
    config.headers.retain(|(name, _)| name != HEADER);
    config
        .headers
        .push((HEADER, HeaderValue::from_static(agent)));
}
pub use error::{explain, ClusterError};

use crate::global::Global;
use crate::grant::model::record::Grant;
use crate::kubeconfig::Loaded;
use crate::secret::Secret;
use ::kube::Client;
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::Secret as K8sSecret;
use k8s_openapi::api::events::v1::Event;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

/// Who the cluster says the caller is (SelfSubjectReview).
#[derive(Debug, Clone)]
pub struct Whoami {
    pub username: String,
    pub groups: Vec<String>,
    /// Standby hook (issue 13): the standby ServiceAccount's username when the caller is
    /// the person's standby credential; `username` is then the person it stands for.
    pub standby: Option<String>,
}

/// One page of a paged list of records.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub records: Vec<Grant>,
    /// Where the next page starts (`continue`), `None` after the last page.
    pub next: Option<String>,
    /// The resource version the pages are a snapshot of (the list's own), when the API
    /// server says: a later read at it sees exactly the same records.
    pub snapshot: Option<String>,
}

/// Where a page of records starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageStart<'a> {
    /// The first page of the records as they are now.
    Now,
    /// The first page of the records exactly as they were at a snapshot (a resource
    /// version); the API server answers 410 Gone once it no longer holds it.
    Snapshot(&'a str),
    /// Where the previous page's `next` left off (same snapshot).
    Continue(&'a str),
}

/// One cluster call in flight.
pub type Call<'a, T> = Pin<Box<dyn Future<Output = Result<T, ClusterError>> + 'a>>;

/// A cluster as the use cases share it (the undo of a request keeps it).
pub type Shared = Rc<dyn Cluster>;

/// Every read and write the use cases make of the cluster, one API request each, with no
/// decisions: [`KubeCluster`] is the real one, `memory::MemoryCluster` the one unit tests use.
pub trait Cluster {
    /// The context the person named (or the current one), for messages.
    fn context(&self) -> &str;
    /// The API server's URL, for messages.
    fn server(&self) -> &str;
    /// Who the cluster says the caller is (SelfSubjectReview).
    fn whoami(&self) -> Call<'_, Whoami>;
    /// Who the cluster takes `token` for; `Unauthorized` once it rejects it.
    fn whoami_with<'a>(&'a self, token: &'a Secret<String>, doing: &'a str) -> Call<'a, Whoami>;
    /// The records whose live-until label (`record::LIVE_UNTIL_LABEL`) is past `since`
    /// (Unix seconds): those that may still be live, found by label selector; as they are
    /// now, or (`at`, a resource version) as fresh as that version at least.
    fn records_live_after<'a>(&'a self, since: i64, at: Option<&'a str>) -> Call<'a, Vec<Grant>>;
    /// One page of at most `limit` records, in name order, starting at `from`.
    fn records_page<'a>(&'a self, limit: u32, from: PageStart<'a>) -> Call<'a, Page>;
    /// One grant record, if it exists.
    fn record<'a>(&'a self, name: &'a str) -> Call<'a, Option<Grant>>;
    /// One grant record as the API server's cache holds it, at least as fresh as resource
    /// version `at` (answered without a read of etcd).
    fn record_at<'a>(&'a self, name: &'a str, at: &'a str) -> Call<'a, Option<Grant>>;
    /// Creates a record; `Conflict` when its name is taken.
    fn create_record<'a>(&'a self, grant: &'a Grant) -> Call<'a, Grant>;
    /// Merges `status` into a record's status.
    fn patch_status<'a>(
        &'a self,
        name: &'a str,
        status: &'a serde_json::Value,
        doing: &'a str,
    ) -> Call<'a, Grant>;
    /// Creates a seal.
    fn create_seal<'a>(&'a self, seal: &'a K8sSecret, doing: &'a str) -> Call<'a, K8sSecret>;
    /// Deletes a seal: `true` when it existed, `false` when it was gone already.
    fn delete_seal<'a>(&'a self, name: &'a str, doing: &'a str) -> Call<'a, bool>;
    /// Deletes seals at once, best effort and quiet.
    fn delete_seals(&self, names: Vec<String>) -> Call<'_, ()>;
    /// Whether a seal exists.
    fn seal_exists<'a>(&'a self, name: &'a str) -> Call<'a, bool>;
    /// Every seal (Secret of the seal type) in the break-glass namespace.
    fn seals(&self) -> Call<'_, Vec<K8sSecret>>;
    /// Every seal as the API server's cache holds it (by the seal label, at any resource
    /// version: answered at once, possibly a moment behind the latest write).
    fn seals_cached(&self) -> Call<'_, Vec<K8sSecret>>;
    /// A TokenRequest on the role's ServiceAccount.
    fn request_token<'a>(
        &'a self,
        account: &'a str,
        request: &'a TokenRequest,
        doing: &'a str,
    ) -> Call<'a, TokenRequest>;
    /// Creates an Event.
    fn emit<'a>(&'a self, event: &'a Event) -> Call<'a, ()>;
    /// A TokenRequest on the person's standby ServiceAccount, bound to its Secret (issue 13).
    fn request_standby_token<'a>(
        &'a self,
        account: &'a str,
        request: &'a TokenRequest,
        doing: &'a str,
    ) -> Call<'a, TokenRequest>;
    /// The policy ConfigMap's data, `None` when there is no policy.
    fn policy_data(&self) -> Call<'_, Option<BTreeMap<String, String>>>;
}

/// How to reach the cluster of `context` as kube reads the kubeconfig (its credentials
/// included, for contexts not of this plugin); no silent retries and bounded waits.
pub async fn reach(loaded: &Loaded, context: &str) -> anyhow::Result<::kube::Config> {
    let options = ::kube::config::KubeConfigOptions {
        context: Some(context.to_string()),
        ..Default::default()
    };
    let mut config = ::kube::Config::from_custom_kubeconfig(loaded.config().clone(), &options)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot use context {context} of the kubeconfig: {e}; fix its cluster entry \
                 (kubectl config view --minify --context {context})"
            )
        })?;
    // The kubeconfig's proxy-url, else HTTPS_PROXY as kubectl (Go's ProxyFromEnvironment)
    // reads it: never for a loopback server, nor for one NO_PROXY names. (kube alone would
    // send a loopback server through HTTPS_PROXY too.)
    set_user_agent(&mut config, USER_AGENT);
    let host = config.cluster_url.host().unwrap_or_default().to_string();
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    config.proxy_url = proxy_url(loaded, context)
        .or_else(|| {
            env_proxy(
                &host,
                env("HTTPS_PROXY").or_else(|| env("https_proxy")),
                env("NO_PROXY").or_else(|| env("no_proxy")),
            )
        })
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

/// The proxy from the environment for a server on `host`, as Go's ProxyFromEnvironment
/// picks it: none for localhost and loopback addresses, none when `no_proxy` is `*` or
/// names the host or a domain it is in.
fn env_proxy(host: &str, https_proxy: Option<String>, no_proxy: Option<String>) -> Option<String> {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback {
        return None;
    }
    let excluded = no_proxy.unwrap_or_default().split(',').any(|entry| {
        let entry = entry.trim().to_ascii_lowercase();
        let entry = entry.split(':').next().unwrap_or_default();
        let domain = entry.trim_start_matches('.');
        entry == "*"
            || (!domain.is_empty() && (host == domain || host.ends_with(&format!(".{domain}"))))
    });
    https_proxy.filter(|_| !excluded)
}

/// A client for the cluster `reach` leads to, presenting `token` as bearer and nothing else.
pub fn client_with_token(
    reach: &::kube::Config,
    token: &Secret<String>,
) -> Result<Client, ClusterError> {
    let mut config = reach.clone();
    config.auth_info = ::kube::config::AuthInfo {
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
pub async fn connect(global: &Global, interactive: bool) -> anyhow::Result<KubeCluster> {
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
    Ok(KubeCluster {
        client,
        context: name,
        server: ctx.server,
        reach,
        stands_for: None,
    })
}

/// [`connect`], shared as the use cases take it.
pub async fn connect_shared(global: &Global, interactive: bool) -> anyhow::Result<Shared> {
    Ok(Rc::new(connect(global, interactive).await?))
}

impl KubeCluster {
    /// A cluster reached with the client given (completion's, with its own budget).
    pub fn new(client: Client, context: String, server: String, reach: ::kube::Config) -> Self {
        KubeCluster {
            client,
            context,
            server,
            reach,
            stands_for: None,
        }
    }
}

/// A shared cluster is the cluster it shares.
impl<C: Cluster + ?Sized> Cluster for Rc<C> {
    fn context(&self) -> &str {
        (**self).context()
    }
    fn server(&self) -> &str {
        (**self).server()
    }
    fn whoami(&self) -> Call<'_, Whoami> {
        (**self).whoami()
    }
    fn whoami_with<'a>(&'a self, token: &'a Secret<String>, doing: &'a str) -> Call<'a, Whoami> {
        (**self).whoami_with(token, doing)
    }
    fn records_live_after<'a>(&'a self, since: i64, at: Option<&'a str>) -> Call<'a, Vec<Grant>> {
        (**self).records_live_after(since, at)
    }
    fn records_page<'a>(&'a self, limit: u32, from: PageStart<'a>) -> Call<'a, Page> {
        (**self).records_page(limit, from)
    }
    fn record<'a>(&'a self, name: &'a str) -> Call<'a, Option<Grant>> {
        (**self).record(name)
    }
    fn record_at<'a>(&'a self, name: &'a str, at: &'a str) -> Call<'a, Option<Grant>> {
        (**self).record_at(name, at)
    }
    fn create_record<'a>(&'a self, grant: &'a Grant) -> Call<'a, Grant> {
        (**self).create_record(grant)
    }
    fn patch_status<'a>(
        &'a self,
        name: &'a str,
        status: &'a serde_json::Value,
        doing: &'a str,
    ) -> Call<'a, Grant> {
        (**self).patch_status(name, status, doing)
    }
    fn create_seal<'a>(&'a self, seal: &'a K8sSecret, doing: &'a str) -> Call<'a, K8sSecret> {
        (**self).create_seal(seal, doing)
    }
    fn delete_seal<'a>(&'a self, name: &'a str, doing: &'a str) -> Call<'a, bool> {
        (**self).delete_seal(name, doing)
    }
    fn delete_seals(&self, names: Vec<String>) -> Call<'_, ()> {
        (**self).delete_seals(names)
    }
    fn seal_exists<'a>(&'a self, name: &'a str) -> Call<'a, bool> {
        (**self).seal_exists(name)
    }
    fn seals(&self) -> Call<'_, Vec<K8sSecret>> {
        (**self).seals()
    }
    fn seals_cached(&self) -> Call<'_, Vec<K8sSecret>> {
        (**self).seals_cached()
    }
    fn request_token<'a>(
        &'a self,
        account: &'a str,
        request: &'a TokenRequest,
        doing: &'a str,
    ) -> Call<'a, TokenRequest> {
        (**self).request_token(account, request, doing)
    }
    fn emit<'a>(&'a self, event: &'a Event) -> Call<'a, ()> {
        (**self).emit(event)
    }
    fn request_standby_token<'a>(
        &'a self,
        account: &'a str,
        request: &'a TokenRequest,
        doing: &'a str,
    ) -> Call<'a, TokenRequest> {
        (**self).request_standby_token(account, request, doing)
    }
    fn policy_data(&self) -> Call<'_, Option<BTreeMap<String, String>>> {
        (**self).policy_data()
    }
}

#[cfg(test)]
mod tests {
    use super::env_proxy;

    fn proxy(host: &str, no_proxy: &str) -> Option<String> {
        let no_proxy = (!no_proxy.is_empty()).then(|| no_proxy.to_string());
        env_proxy(host, Some("http://proxy:3128".to_string()), no_proxy)
    }

    #[test]
    fn the_environments_proxy_is_used_as_kubectl_uses_it() {
        assert_eq!(
            proxy("k8s.example.com", "").as_deref(),
            Some("http://proxy:3128")
        );
        // Loopback servers are never proxied.
        for host in ["localhost", "127.0.0.1", "127.0.0.2", "[::1]"] {
            assert_eq!(proxy(host, ""), None, "{host}");
        }
        // NO_PROXY: everything, the host, or a domain it is in (with or without the dot).
        assert_eq!(proxy("k8s.example.com", "*"), None);
        assert_eq!(proxy("k8s.example.com", "other.org, k8s.example.com"), None);
        assert_eq!(proxy("k8s.example.com", ".example.com"), None);
        assert_eq!(proxy("k8s.example.com", "example.com"), None);
        assert!(proxy("k8s.example.com", "ample.com").is_some());
        assert_eq!(env_proxy("k8s.example.com", None, None), None);
    }
}
