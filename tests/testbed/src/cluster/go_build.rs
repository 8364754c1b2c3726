//! The Go-built peers (kube-apiserver, kube-controller-manager, etcd, …): built once per
//! machine by `tests/testbed/go/build` into a cache outside the repository.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The build script beside the Go modules.
const BUILD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/go/build");

/// The Kubernetes version the test bed runs unless told otherwise.
pub fn default_kubernetes_version() -> String {
    include_str!("../../go/KUBERNETES_VERSION")
        .trim()
        .to_string()
}

/// Every Kubernetes version with a module under `tests/testbed/go/`.
pub fn pinned_kubernetes_versions() -> Vec<String> {
    let mut versions: Vec<String> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/go"))
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_prefix("kubernetes-"))
                .map(str::to_string)
        })
        .collect();
    versions.sort();
    versions
}

/// Why the real control plane cannot be had here, or None when Go is usable.
pub fn go_missing() -> Option<String> {
    match Command::new("go")
        .arg("version")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .output()
    {
        Err(_) => Some(
            "Go is not installed (no `go` on PATH); install Go 1.26 or newer to build the real \
             kube-apiserver"
                .into(),
        ),
        Ok(out) if !out.status.success() => Some("`go version` failed".into()),
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout);
            let minor = text
                .split_whitespace()
                .nth(2)
                .and_then(|v| v.strip_prefix("go1."))
                .and_then(|v| v.split('.').next())
                .and_then(|m| m.parse::<u32>().ok());
            match minor {
                Some(m) if m >= 26 => None,
                _ => Some(format!(
                    "{} is too old; the pinned Kubernetes modules need Go 1.26 or newer",
                    text.trim()
                )),
            }
        }
    }
}

/// The cached binary of `peer` (building it on first use; progress goes to stderr).
pub fn binary(peer: &str, version: Option<&str>) -> Result<PathBuf> {
    if let Some(why) = go_missing() {
        bail!("{why}");
    }
    let mut cmd = Command::new(BUILD);
    cmd.arg(peer)
        .args(version)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let out = cmd
        .output()
        .with_context(|| format!("running {BUILD} {peer}"))?;
    if !out.status.success() {
        bail!(
            "building {peer} failed (see above); rerun: {BUILD} {peer} {}",
            version.unwrap_or("")
        );
    }
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if !path.is_file() {
        bail!("{BUILD} {peer} printed {path:?}, which is not a file");
    }
    Ok(path)
}

/// Whether the pinned module of Kubernetes `version` builds `command` (older releases
/// build only kube-apiserver: see `tests/testbed/go/new-kubernetes-module`).
pub fn kubernetes_builds(version: &str, command: &str) -> bool {
    let go_mod = format!(
        "{}/go/kubernetes-{version}/go.mod",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(go_mod)
        .is_ok_and(|text| text.contains(&format!("k8s.io/kubernetes/cmd/{command}")))
}
