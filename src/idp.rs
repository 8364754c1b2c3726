//! Which identity provider, as plain values: what the flags or a context's exec entry name
//! (`PartialIdp`) and the options some providers need (`IdpOptions`).

use crate::secret::Secret;
use std::path::PathBuf;

/// The IdP as far as flags or an exec entry name it; the context fills the gaps.
#[derive(Debug, Clone, Default)]
pub struct PartialIdp {
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub options: IdpOptions,
}

/// What some identity providers need beyond issuer and client id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdpOptions {
    /// Scopes asked for on top of `openid email offline_access`.
    pub scopes: Vec<String>,
    /// The client secret, for providers that demand one even from device clients.
    pub client_secret: Option<Secret<String>>,
    /// The ID token claim that names the person.
    pub username_claim: Option<String>,
    /// The ID token claim that lists the person's groups.
    pub groups_claim: Option<String>,
    /// The audience the ID token is issued for, when it is not the client id.
    pub audience: Option<String>,
}
