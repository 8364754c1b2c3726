//! Tools a test needs from outside the repository: Go-built peers (krew, helm) and
//! shells. On CI (`CI=true`) a missing one fails the test — a fresh machine has them
//! after `scripts/install-deps`. Elsewhere the test prints one loud line and returns.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Says the test cannot run here: a failure under CI, else a loud skip line (counted).
#[track_caller]
fn unavailable(test_needs: &str, fix: &str) -> Option<PathBuf> {
    super::skip(&format!("{test_needs} is missing; {fix}"));
    None
}

/// A Go-built peer (`krew`, `validate-krew-manifest`, `helm`), built once per machine into
/// the test bed's cache by `tests/testbed/go/build` (the first build prints its time).
#[track_caller]
pub fn go_peer(name: &str) -> Option<PathBuf> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testbed/go/build");
    let out = Command::new(&script)
        .arg(name)
        .stderr(std::process::Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    match out.status.code() {
        Some(0) => {
            let path = String::from_utf8(out.stdout).unwrap().trim().to_string();
            Some(PathBuf::from(path))
        }
        // The build script's "Go is not installed".
        Some(3) => unavailable(
            &format!("Go (to build {name})"),
            "install Go 1.26 or newer (see tests/testbed/go/build)",
        ),
        _ => panic!(
            "building {name} failed ({}); run: {} {name}",
            out.status,
            script.display()
        ),
    }
}

/// A shell from PATH (`zsh`, `fish`), with the Debian package that provides it.
#[track_caller]
pub fn shell(name: &str) -> Option<PathBuf> {
    match which(name) {
        Some(path) => Some(path),
        None => unavailable(
            &format!("the {name} shell"),
            &format!("run scripts/install-deps (Debian package {name})"),
        ),
    }
}

/// bash's completion framework, which kubectl's bash completion builds on.
#[track_caller]
pub fn bash_completion() -> Option<PathBuf> {
    let path = PathBuf::from("/usr/share/bash-completion/bash_completion");
    if path.is_file() {
        Some(path)
    } else {
        unavailable(
            "bash-completion",
            "run scripts/install-deps (Debian package bash-completion)",
        )
    }
}

/// `name` on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}
