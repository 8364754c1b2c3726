//! The plugin as people get it. `cargo bench` unifies the dev-dependencies' features into
//! the plugin it builds for the bench (the test bed's tokio brings the multi-threaded
//! runtime, and with it libm and ~50 more imported symbols): `CARGO_BIN_EXE_…` is not the
//! binary `cargo build --release` or `scripts/release` makes, and it starts measurably
//! slower. The benches therefore build the release binary themselves, and measure it
//! installed: copied, as `cargo install`, krew and tar put it in place. A binary fresh
//! from the linker, which wrote it through a memory map, starts slower for as long as
//! the page cache holds it that way (here the same bytes ran at 1.49× `/bin/true` where
//! the linker left them and 1.32× as a copy, in one run).

use std::path::{Path, PathBuf};
use std::process::Command;

const BENCH_BUILT: &str = env!("CARGO_BIN_EXE_kubectl-breakglass");

/// The plugin installed into `dir`: `BENCH_PLUGIN` if set, else the release build for
/// this machine's target (see [`build`]).
pub fn plugin(dir: &Path) -> PathBuf {
    let built = match std::env::var_os("BENCH_PLUGIN") {
        Some(path) => std::path::absolute(path).unwrap(),
        None => build(),
    };
    install(&built, dir, "kubectl-breakglass")
}

/// A copy of the executable `from` in `dir` under `name`, as an installer makes it.
pub fn install(from: &Path, dir: &Path, name: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let to = dir.join(name);
    std::fs::copy(from, &to).unwrap();
    to
}

/// `cargo build --release --target HOST` (into `target/HOST/release`, where
/// `scripts/release` builds; the first time takes minutes).
fn build() -> PathBuf {
    let host = host_triple();
    // .../target/release/kubectl-breakglass → .../target
    let target_dir = Path::new(BENCH_BUILT).parent().unwrap().parent().unwrap();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("building the release plugin: cargo build --release --target {host}");
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--target",
            &host,
            "--bin",
            "kubectl-breakglass",
        ])
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .unwrap();
    assert!(status.success(), "building the release plugin failed");
    target_dir.join(&host).join("release/kubectl-breakglass")
}

fn host_triple() -> String {
    let out = Command::new("rustc").arg("-vV").output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .unwrap()
        .to_string()
}
