//! int128/kubelogin, the leading Go exec credential plugin, as the anchor the cache hit is
//! compared with: built from the Go module proxy at the version
//! `tests/testbed/go/kubelogin/go.mod` pins, logged in once through the playground's
//! device flow, then run exactly as its kubeconfig exec entry would run it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const MODULE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/testbed/go/kubelogin/go.mod"
);
const BUILD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/testbed/go/build");

/// The pinned version (`// version:` in the module).
pub fn version() -> String {
    std::fs::read_to_string(MODULE)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("// version: "))
        .unwrap()
        .to_string()
}

/// The kubelogin binary, built once per machine; `Err` says why there is none.
pub fn build() -> Result<PathBuf, String> {
    let out = Command::new(BUILD)
        .arg("kubelogin")
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {BUILD}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{BUILD} kubelogin failed ({})", out.status));
    }
    Ok(PathBuf::from(String::from_utf8(out.stdout).unwrap().trim()))
}

/// `kubelogin get-token` for the playground's IdP, caching in `cache_dir`: the exec entry
/// `kubectl oidc-login setup` would write, with the device flow as its grant type.
pub fn get_token(
    bin: &Path,
    issuer: &str,
    client_id: &str,
    ca_file: &Path,
    cache_dir: &Path,
) -> Command {
    let mut cmd = Command::new(bin);
    cmd.args([
        "get-token",
        "--oidc-issuer-url",
        issuer,
        "--oidc-client-id",
        client_id,
    ])
    .arg("--certificate-authority")
    .arg(ca_file)
    .arg("--token-cache-dir")
    .arg(cache_dir)
    .args(["--grant-type", "device-code", "--skip-open-browser"])
    .args(["--oidc-extra-scope", "email"]);
    cmd
}

/// Logs kubelogin in once (the playground approves the device code), so that later
/// runs of `cmd` hit its token cache.
pub fn log_in(cmd: &Command) {
    let mut first = Command::new(cmd.get_program());
    first.args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => first.env(k, v),
            None => first.env_remove(k),
        };
    }
    let out = first.stdin(Stdio::null()).output().unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("\"token\""),
        "kubelogin's device-flow login failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
