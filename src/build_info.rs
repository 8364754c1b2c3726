//! What this binary is: version, commit, build date and target (embedded by `build.rs`),
//! and the oldest Kubernetes the cluster side supports.

use serde::Serialize;

/// The oldest Kubernetes minor the install manifests work on (ValidatingAdmissionPolicy v1).
pub const MIN_KUBERNETES: &str = "1.30";

/// Everything `version` reports.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildInfo {
    pub version: &'static str,
    pub git_commit: &'static str,
    pub build_date: &'static str,
    pub target: &'static str,
    pub min_kubernetes_version: &'static str,
}

/// This binary's build information.
pub fn get() -> BuildInfo {
    BuildInfo {
        version: env!("CARGO_PKG_VERSION"),
        git_commit: env!("BREAKGLASS_GIT_COMMIT"),
        build_date: env!("BREAKGLASS_BUILD_DATE"),
        target: env!("BREAKGLASS_TARGET"),
        min_kubernetes_version: MIN_KUBERNETES,
    }
}

impl BuildInfo {
    /// The form for people.
    pub fn text(&self) -> String {
        format!(
            "kubectl-breakglass {}\n\
             git commit:  {}\n\
             build date:  {}\n\
             target:      {}\n\
             kubernetes:  {} or newer (cluster side)\n",
            self.version,
            self.git_commit,
            self.build_date,
            self.target,
            self.min_kubernetes_version
        )
    }
}
