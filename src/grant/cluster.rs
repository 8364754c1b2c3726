//! Talking to the cluster: a kube client built in-process (no exec plugin spawned) with the
//! person's ID token or a break-glass token as bearer, and errors that say what to do.

use crate::cli::GlobalArgs;
use crate::kubeconfig::ContextInfo;
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
    /// Standby hook (issue 13): the standby ServiceAccount's username when the caller is
    /// the person's standby credential; `username` is then the person it stands for.
    pub standby: Option<String>,
}

/// The person's connection to one cluster.
pub struct Cluster {
    pub client: Client,
    /// The context the person named (or the current one).
    pub context: String,
    pub server: String,
    pub ca_pem: Option<Vec<u8>>,
    pub insecure: bool,
}

/// A client for `server` presenting `token` as bearer.
pub fn client_with_token(
    server: &str,
    ca_pem: Option<&[u8]>,
    insecure: bool,
    token: &Secret<String>,
) -> anyhow::Result<Client> {
    let url = server
        .parse()
        .map_err(|e| anyhow::anyhow!("the context's server {server:?} is not a URL ({e})"))?;
    let mut config = kube::Config::new(url);
    config.root_cert = ca_pem.map(pem_certificates).transpose()?;
    config.accept_invalid_certs = insecure;
    config.connect_timeout = Some(Duration::from_secs(10));
    config.read_timeout = Some(Duration::from_secs(30));
    // Each protocol step decides itself what a failure means; no silent retries of POSTs.
    config.default_retry = false;
    config.auth_info = serde_json::from_value(serde_json::json!({ "token": token.expose() }))
        .map_err(|_| anyhow::anyhow!("cannot build the cluster credentials"))?;
    Client::try_from(config).map_err(|e| anyhow::anyhow!("cannot build a client for {server}: {e}"))
}

/// Connects as the person: their cached OIDC ID token when the context uses this plugin's
/// identity, else whatever credentials the context itself has (e.g. an admin's token).
pub async fn connect(global: &GlobalArgs, interactive: bool) -> anyhow::Result<Cluster> {
    let loaded = crate::kubeconfig::load(global)?;
    let ctx: ContextInfo = loaded.context(global.context.as_deref())?;
    // On a `<context>-breakglass` context, act for the person's own context it came from.
    let name = origin_context(loaded.config(), &ctx).unwrap_or_else(|| ctx.name.clone());
    let client = match &ctx.idp {
        Some(idp) => {
            let settings = crate::identity::idp_settings(global, idp)?;
            let store = crate::token_cache::open(global.token_cache)?;
            let identity =
                crate::identity::person_identity(&settings, store.as_ref(), interactive, &ctx.name)
                    .await?;
            client_with_token(
                &ctx.server,
                ctx.ca_pem.as_deref(),
                ctx.insecure_skip_tls_verify,
                &identity.id_token,
            )?
        }
        None => {
            let kc = match &global.kubeconfig {
                Some(path) => kube::config::Kubeconfig::read_from(path)?,
                None => kube::config::Kubeconfig::read()?,
            };
            let options = kube::config::KubeConfigOptions {
                context: Some(name.clone()),
                ..Default::default()
            };
            let mut config = kube::Config::from_custom_kubeconfig(kc, &options).await?;
            config.default_retry = false;
            Client::try_from(config)?
        }
    };
    Ok(Cluster {
        client,
        context: name,
        server: ctx.server,
        ca_pem: ctx.ca_pem,
        insecure: ctx.insecure_skip_tls_verify,
    })
}

/// The `--origin-context` of a context whose user runs `credential --elevated`.
pub fn origin_context(config: &kube::config::Kubeconfig, ctx: &ContextInfo) -> Option<String> {
    let exec = config
        .auth_infos
        .iter()
        .find(|u| u.name == ctx.user_name)?
        .auth_info
        .as_ref()?
        .exec
        .as_ref()?;
    let args = exec.args.as_ref()?;
    if !args.iter().any(|a| a == "--elevated") {
        return None;
    }
    let at = args.iter().position(|a| a == "--origin-context")?;
    args.get(at + 1).cloned()
}

impl Cluster {
    /// Who the cluster says we are; the first call, so it also tells whether the cluster answers.
    pub async fn whoami(&self) -> anyhow::Result<Whoami> {
        whoami(&self.client).await.map_err(|e| {
            explain(
                e,
                &self.server,
                &self.context,
                "asking the cluster who you are",
            )
        })
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

/// The HTTP status of an API error, if the server answered.
pub fn status_code(err: &kube::Error) -> Option<u16> {
    match err {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

/// Turns a client error into one sentence with the next step.
pub fn explain(err: kube::Error, server: &str, context: &str, doing: &str) -> anyhow::Error {
    match &err {
        kube::Error::Api(s) if s.code == 401 => anyhow::anyhow!(
            "{doing}: the cluster at {server} does not accept your credentials (401 {}); \
             log in again: kubectl breakglass login --context {context}",
            s.message
        ),
        kube::Error::Api(s) if s.code == 403 => anyhow::anyhow!(
            "{doing}: forbidden by the cluster's RBAC ({}); ask a cluster admin \
             (the break-glass RBAC is installed with: kubectl apply -f deploy/)",
            s.message
        ),
        kube::Error::Api(s) => anyhow::anyhow!(
            "{doing}: the cluster answered {} {} ({})",
            s.code,
            s.reason,
            s.message
        ),
        _ => match certificate_problem(&err) {
            Some(rustls::CertificateError::UnknownIssuer) => anyhow::anyhow!(
                "{doing}: the cluster at {server} presented a TLS certificate signed by a CA this \
                 machine does not trust (UnknownIssuer); the context {context}'s cluster entry in \
                 the kubeconfig needs that CA: set certificate-authority (a PEM file) or \
                 certificate-authority-data, e.g. kubectl config set-cluster CLUSTER \
                 --certificate-authority=ca.crt --embed-certs"
            ),
            Some(problem) => anyhow::anyhow!(
                "{doing}: the cluster at {server} presented a TLS certificate this machine \
                 refuses ({problem:?}); check that the context {context}'s server URL is the \
                 cluster's and that its certificate-authority in the kubeconfig is current"
            ),
            None => anyhow::anyhow!(
                "{doing}: no answer from the cluster at {server} ({}); check your network and \
                 the context's server, then try again",
                chain(&err)
            ),
        },
    }
}

/// The server certificate's fault when the TLS handshake failed on it. Found by type along
/// the error's sources; an `io::Error` hides the error it wraps from `source()` (it returns
/// that error's own source), so its inner error is looked at too.
fn certificate_problem<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a rustls::CertificateError> {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(rustls::Error::InvalidCertificate(problem)) = e.downcast_ref::<rustls::Error>()
        {
            return Some(problem);
        }
        let inner = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref());
        if let Some(found) = inner.and_then(|i| certificate_problem(i)) {
            return Some(found);
        }
        cur = e.source();
    }
    None
}

fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    out = out
        .split(": https://")
        .next()
        .unwrap_or_default()
        .to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let s = e.to_string();
        // rustls appends a link to its manual; people need the sentence, not the link.
        let s = s.split(": https://").next().unwrap_or_default().to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = e.source();
    }
    out
}

/// DER certificates from PEM text.
fn pem_certificates(pem: &[u8]) -> anyhow::Result<Vec<Vec<u8>>> {
    use base64::Engine;
    let text =
        std::str::from_utf8(pem).map_err(|_| anyhow::anyhow!("the cluster CA is not PEM text"))?;
    let mut out = Vec::new();
    let mut body: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if line == "-----BEGIN CERTIFICATE-----" {
            body = Some(String::new());
        } else if line == "-----END CERTIFICATE-----" {
            let b = body.take().unwrap_or_default();
            out.push(
                base64::engine::general_purpose::STANDARD
                    .decode(b)
                    .map_err(|_| anyhow::anyhow!("the cluster CA has a malformed certificate"))?,
            );
        } else if let Some(b) = body.as_mut() {
            b.push_str(line);
        }
    }
    if out.is_empty() {
        anyhow::bail!("the cluster CA contains no PEM certificate");
    }
    Ok(out)
}
