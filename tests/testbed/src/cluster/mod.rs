//! The playground's Kubernetes API: the real control plane ([`RealCluster`]: kube-apiserver,
//! kube-controller-manager and etcd built from the Go module proxy) by default, or the API
//! double ([`ApiServer`]) where Go is missing or a test needs what a real server cannot do
//! (tokens shorter than its 10-minute minimum, a longer token-check cache).

pub mod audit_log;
pub mod fault_proxy;
pub mod go_build;
pub mod process;
pub mod real;

pub use real::{
    Authentication, ClaimMappings, GroupsMapping, JwtIssuer, RealCluster, RealClusterConfig,
};

use crate::apiserver::{ApiServer, AuditEntry, Faults};
use std::time::Duration;

/// Chooses the API server: `BREAKGLASS_TESTBED_CLUSTER=real|double`, else real where Go is.
pub const CLUSTER_ENV: &str = "BREAKGLASS_TESTBED_CLUSTER";
/// Chooses the Kubernetes version of the real control plane (default: the newest pinned).
pub const KUBERNETES_ENV: &str = "BREAKGLASS_TESTBED_KUBERNETES";

/// Which API server a playground runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterKind {
    /// The real control plane at this Kubernetes version (`vX.Y.Z`).
    Real(String),
    /// The API double.
    Double,
}

impl ClusterKind {
    /// What the environment asks for ([`CLUSTER_ENV`], [`KUBERNETES_ENV`]): see [`choose`](Self::choose).
    pub fn from_env() -> anyhow::Result<(ClusterKind, Option<String>)> {
        let version = std::env::var(KUBERNETES_ENV)
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(go_build::default_kubernetes_version);
        let requested = std::env::var(CLUSTER_ENV).ok().filter(|v| !v.is_empty());
        ClusterKind::choose(requested.as_deref(), version)
    }

    /// `real` or `double` as asked; unasked, real where Go is usable, else the double —
    /// with the reason in the second value (to print: a fallback is never silent). Under
    /// CI a missing Go is an error, never a fallback.
    pub fn choose(
        requested: Option<&str>,
        version: String,
    ) -> anyhow::Result<(ClusterKind, Option<String>)> {
        if !go_build::pinned_kubernetes_versions().contains(&version) {
            anyhow::bail!(
                "no pinned module for Kubernetes {version}; pinned: {} (add one with \
                 tests/testbed/go/new-kubernetes-module VERSION)",
                go_build::pinned_kubernetes_versions().join(", ")
            );
        }
        match requested {
            Some("double") => Ok((ClusterKind::Double, None)),
            Some("real") => match go_build::go_missing() {
                None => Ok((ClusterKind::Real(version), None)),
                Some(why) => anyhow::bail!("the real control plane was asked for, but {why}"),
            },
            None => match go_build::go_missing() {
                None => Ok((ClusterKind::Real(version), None)),
                Some(why) if crate::ci() => anyhow::bail!(
                    "{why}; CI runs the tests on the real control plane (scripts/install-deps \
                     checks for Go)"
                ),
                Some(why) => Ok((
                    ClusterKind::Double,
                    Some(format!("{why}: using the Kubernetes API double instead")),
                )),
            },
            Some(other) => anyhow::bail!("cluster kind {other:?}: use `real` or `double`"),
        }
    }
}

impl ClusterKind {
    /// The Kubernetes version asked for (the default one for the double).
    pub fn version(&self) -> String {
        match self {
            ClusterKind::Real(v) => v.clone(),
            ClusterKind::Double => go_build::default_kubernetes_version(),
        }
    }
}

/// A running API server of either kind.
pub enum Cluster {
    Real(Box<RealCluster>),
    Double(ApiServer),
}

impl Cluster {
    /// The URL the kubeconfig points at.
    pub fn url(&self) -> &str {
        match self {
            Cluster::Real(c) => c.url(),
            Cluster::Double(d) => d.url(),
        }
    }

    /// The static admin token (user `kubernetes-admin`, group `system:masters`).
    pub fn admin_token(&self) -> &str {
        match self {
            Cluster::Real(c) => c.admin_token(),
            Cluster::Double(d) => d.admin_token(),
        }
    }

    /// Fault rules: applied by the double itself, or by the proxy in front of the real server.
    pub fn faults(&self) -> &Faults {
        match self {
            Cluster::Real(c) => c.faults(),
            Cluster::Double(d) => d.faults(),
        }
    }

    /// Every request the API server has answered so far (the real one: its audit log).
    pub fn audit_log(&self) -> Vec<AuditEntry> {
        match self {
            Cluster::Real(c) => audit_log::read(c.audit_log_path()),
            Cluster::Double(d) => d.audit_log(),
        }
    }

    /// `real vX.Y.Z` or `double`.
    pub fn describe(&self) -> String {
        match self {
            Cluster::Real(c) => format!("real kube-apiserver {}", c.version()),
            Cluster::Double(_) => "the Kubernetes API double".into(),
        }
    }

    pub fn is_real(&self) -> bool {
        matches!(self, Cluster::Real(_))
    }

    /// The real control plane, if this is one.
    pub fn real(&self) -> Option<&RealCluster> {
        match self {
            Cluster::Real(c) => Some(c),
            Cluster::Double(_) => None,
        }
    }

    /// The API double, for what only it can do; panics on the real server.
    #[track_caller]
    pub fn double(&self) -> &ApiServer {
        match self {
            Cluster::Double(d) => d,
            Cluster::Real(_) => {
                panic!("this test needs the API double (start it with ClusterKind::Double)")
            }
        }
    }

    /// Shortest TokenRequest the server grants (double only; the real one: 10 minutes).
    #[track_caller]
    pub fn set_min_token_expiration(&self, d: Duration) {
        self.double().set_min_token_expiration(d)
    }

    /// How long successful token checks are cached (double only; the real one: 10 s).
    #[track_caller]
    pub fn set_token_auth_cache_ttl(&self, d: Duration) {
        self.double().set_token_auth_cache_ttl(d)
    }
}
