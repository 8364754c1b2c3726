//! Reading kubeconfig like kubectl does (`--kubeconfig`, `KUBECONFIG` merged
//! lists, `~/.kube/config`), with kube's `Kubeconfig` types.

pub mod exec_command;
pub mod exec_entry;
mod load;
pub mod setup;
pub mod write;

pub use load::{certificate_authority, load, ContextInfo, Loaded, NoKubeconfig};
