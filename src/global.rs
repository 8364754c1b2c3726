//! What every command is pointed at — kubeconfig, context, token cache — as plain values,
//! so nothing below the commands needs the flag definitions.

use crate::token_cache::Kind;
use std::path::PathBuf;

/// The kubeconfig, context and token cache a command works with.
#[derive(Debug, Clone)]
pub struct Global {
    /// `--kubeconfig`, else `KUBECONFIG`, else `~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
    /// `--context`, else the current context.
    pub context: Option<String>,
    /// `--token-cache`.
    pub token_cache: Kind,
}
