//! The kubectl-breakglass test bed: a real OpenID provider, a faithful
//! Kubernetes API double and the playground that ties them together.
//! Never shipped to users.

pub mod apiserver;
pub mod cluster;
pub mod connect_proxy;
pub mod dex;
pub mod idp;
pub mod keycloak;
pub mod kubeconfig;
pub mod playground;
pub mod tls;

/// Whether this runs under CI (`CI=true`), where nothing that needs a real peer may skip.
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}
