//! The kubectl-breakglass test bed: a real OpenID provider, a faithful
//! Kubernetes API double and the playground that ties them together.
//! Never shipped to users.

pub mod apiserver;
pub mod idp;
pub mod kubeconfig;
pub mod playground;
pub mod tls;
