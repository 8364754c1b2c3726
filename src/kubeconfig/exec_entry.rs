//! The arguments of a `credential` exec entry: the one definition of its flags, used by clap
//! to parse `kubectl breakglass credential`, and here to read a context's exec entry the
//! way the command itself will (both `--flag value` and `--flag=value`).

use crate::idp::{IdpOptions, PartialIdp};
use crate::secret::Secret;
use clap::{Args, CommandFactory as _, FromArgMatches as _, Parser};
use std::path::PathBuf;

/// Where the identity provider is; read from the context's exec entry when absent.
#[derive(Debug, Clone, Args, Default)]
pub struct IdpArgs {
    /// OIDC issuer URL
    #[arg(long, value_name = "URL")]
    pub issuer: Option<String>,
    /// OIDC client id
    #[arg(long, value_name = "ID")]
    pub client_id: Option<String>,
    /// CA certificate (PEM) to trust for the issuer, for a private CA
    #[arg(long, value_name = "PATH")]
    pub ca_file: Option<PathBuf>,
    #[command(flatten)]
    pub options: IdpOptionArgs,
}

/// What some identity providers need beyond issuer and client id; read from the context's
/// exec entry when absent, and written into it by `setup`.
#[derive(Debug, Clone, Args, Default, PartialEq, Eq)]
pub struct IdpOptionArgs {
    /// Another scope to ask for, on top of `openid email offline_access` (repeatable), e.g.
    /// `--scope groups` for Dex and Okta
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// The client secret, for identity providers that demand one even from device clients
    /// (Google). Not a secret for a device client: it is stored in the kubeconfig's exec
    /// entry, and never printed
    #[arg(long, value_name = "SECRET", value_parser = secret_value)]
    pub client_secret: Option<Secret<String>>,
    /// The ID token claim that names you, as the API server's username claim (default: email)
    #[arg(long, value_name = "CLAIM")]
    pub username_claim: Option<String>,
    /// The ID token claim that lists your groups, as the API server's groups claim (default:
    /// groups)
    #[arg(long, value_name = "CLAIM")]
    pub groups_claim: Option<String>,
    /// The audience the ID token is issued for when it is not the client id (Dex's
    /// cross-client scope, Auth0's API identifier); sent as the `audience` parameter. The
    /// API server's `audiences` must contain the token's `aud`
    #[arg(long, value_name = "AUDIENCE")]
    pub audience: Option<String>,
}

fn secret_value(s: &str) -> Result<Secret<String>, std::convert::Infallible> {
    Ok(Secret::new(s.to_string()))
}

#[derive(Debug, Args)]
pub struct CredentialArgs {
    #[command(flatten)]
    pub idp: IdpArgs,
    /// Serve the elevated break-glass token instead of the person's identity
    #[arg(long, requires_all = ["server", "role", "account", "origin_context"])]
    pub elevated: bool,
    /// API server URL the elevated token is for (elevated mode)
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// Break-glass role of the grant (elevated mode)
    #[arg(long, value_name = "ROLE")]
    pub role: Option<String>,
    /// The person the grant belongs to (elevated mode)
    #[arg(long, value_name = "EMAIL")]
    pub account: Option<String>,
    /// The person's own context the grant was requested through (elevated mode)
    #[arg(long, value_name = "NAME")]
    pub origin_context: Option<String>,
}

/// An exec entry's flags, global ones included, as `credential` would parse them.
#[derive(Debug, Parser)]
#[command(no_binary_name = true)]
struct EntryLine {
    #[command(flatten)]
    credential: CredentialArgs,
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    #[arg(long)]
    context: Option<String>,
    #[arg(long)]
    token_cache: Option<String>,
}

/// What a `credential` exec entry says, as plain values.
#[derive(Debug, Clone, Default)]
pub struct ExecEntry {
    /// The IdP it names, when it names an issuer or a client id.
    pub idp: Option<PartialIdp>,
    /// Whether it serves an elevated (break-glass) token.
    pub elevated: bool,
    /// The person's own context an elevated entry was written for.
    pub origin_context: Option<String>,
}

/// Reads the arguments after `credential`. Flags this version does not know (an entry a
/// newer version wrote) are skipped; what it knows is still read.
pub fn read(args: &[String]) -> ExecEntry {
    let matches = EntryLine::command()
        .ignore_errors(true)
        .try_get_matches_from(args)
        .ok();
    let Some(line) = matches.and_then(|m| EntryLine::from_arg_matches(&m).ok()) else {
        return ExecEntry::default();
    };
    let c = line.credential;
    let idp = c.idp.plain();
    ExecEntry {
        idp: (idp.issuer.is_some() || idp.client_id.is_some()).then_some(idp),
        elevated: c.elevated,
        origin_context: c.origin_context,
    }
}

impl IdpArgs {
    /// The same, as plain values.
    pub fn plain(&self) -> PartialIdp {
        PartialIdp {
            issuer: self.issuer.clone(),
            client_id: self.client_id.clone(),
            ca_file: self.ca_file.clone(),
            options: self.options.plain(),
        }
    }
}

impl IdpOptionArgs {
    /// The same, as plain values.
    pub fn plain(&self) -> IdpOptions {
        IdpOptions {
            scopes: self.scopes.clone(),
            client_secret: self.client_secret.clone(),
            username_claim: self.username_claim.clone(),
            groups_claim: self.groups_claim.clone(),
            audience: self.audience.clone(),
        }
    }
}
