//! The krew manifest is a krew-release-bot template; rendered by
//! `scripts/render-krew-manifest` (what the release runs), it must be a valid Plugin
//! manifest that installs this binary and its completer on every platform we ship.
//! (tests/krew_install.rs runs krew's own validation and a real install.)

mod common;

use common::*;
use serde_norway::Value;
use std::path::Path;
use std::process::{Command, Output};

const PLATFORMS: [&str; 5] = [
    "x86_64-unknown-linux-gnu.tar.gz",
    "aarch64-unknown-linux-gnu.tar.gz",
    "x86_64-apple-darwin.tar.gz",
    "aarch64-apple-darwin.tar.gz",
    "x86_64-pc-windows-msvc.zip",
];

/// A dist directory with a `.sha256` for the archive of each of `platforms`.
fn dist(dir: &Path, platforms: &[&str]) {
    for (i, platform) in platforms.iter().enumerate() {
        let archive = format!("kubectl-breakglass-v9.9.9-{platform}");
        // Uppercase on purpose: krew wants lowercase, the renderer must give it.
        let digest = format!("{:X}", i + 10).repeat(64);
        std::fs::write(
            dir.join(format!("{archive}.sha256")),
            format!("{}  {archive}\n", &digest[..64]),
        )
        .unwrap();
    }
}

fn render(dir: &Path, extra: &[&str]) -> Output {
    Command::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scripts/render-krew-manifest"
    ))
    .arg("9.9.9")
    .arg(dir)
    .args(extra)
    .output()
    .unwrap()
}

fn rendered() -> Value {
    let tmp = tempfile::tempdir().unwrap();
    dist(tmp.path(), &PLATFORMS);
    let out = render(tmp.path(), &["--require-all"]);
    assert_ok(&out, "render-krew-manifest --require-all");
    let text = stdout(&out);
    assert!(!text.contains("{{"), "unrendered template left:\n{text}");
    serde_norway::from_str(&text).expect("rendered krew.yaml is YAML")
}

#[test]
fn renders_to_a_plugin_manifest_for_every_platform() {
    let manifest = rendered();
    assert_eq!(manifest["kind"], "Plugin");
    assert_eq!(manifest["metadata"]["name"], "breakglass");
    assert_eq!(manifest["spec"]["version"], "v9.9.9");
    let platforms = manifest["spec"]["platforms"]
        .as_sequence()
        .expect("platforms");
    let mut seen = Vec::new();
    for p in platforms {
        let labels = &p["selector"]["matchLabels"];
        let (os, arch) = (
            labels["os"].as_str().unwrap(),
            labels["arch"].as_str().unwrap(),
        );
        seen.push(format!("{os}/{arch}"));
        let uri = p["uri"].as_str().expect("uri");
        assert!(
            uri.starts_with("https://") && uri.contains("v9.9.9"),
            "{uri}"
        );
        let sha = p["sha256"].as_str().unwrap();
        assert!(
            sha.len() == 64 && sha.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')),
            "{sha}"
        );
        let bin = p["bin"].as_str().unwrap();
        let expected = if os == "windows" {
            "kubectl-breakglass.exe"
        } else {
            "kubectl-breakglass"
        };
        assert_eq!(bin, expected);
        let files: Vec<&str> = p["files"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|f| f["from"].as_str().unwrap())
            .collect();
        let completer = bin.replace("kubectl-breakglass", "kubectl_complete-breakglass");
        assert!(
            files.contains(&bin)
                && files.contains(&completer.as_str())
                && files.contains(&"LICENSE"),
            "{files:?}"
        );
    }
    for wanted in [
        "linux/amd64",
        "linux/arm64",
        "darwin/amd64",
        "darwin/arm64",
        "windows/amd64",
    ] {
        assert!(seen.iter().any(|s| s == wanted), "no {wanted} in {seen:?}");
    }
    assert!(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/LICENSE")).exists());
}

#[test]
fn platforms_without_an_archive_are_left_out_and_named_or_refused() {
    let tmp = tempfile::tempdir().unwrap();
    dist(tmp.path(), &PLATFORMS[..1]);
    let out = render(tmp.path(), &[]);
    assert_ok(&out, "render-krew-manifest");
    let manifest: Value = serde_norway::from_slice(&out.stdout).unwrap();
    let platforms = manifest["spec"]["platforms"].as_sequence().unwrap();
    assert_eq!(platforms.len(), 1);
    assert_eq!(platforms[0]["selector"]["matchLabels"]["arch"], "amd64");
    let err = stderr(&out);
    assert!(err.contains("left out 4 platform(s)"), "{err}");
    assert!(
        err.contains("kubectl-breakglass-v9.9.9-x86_64-apple-darwin.tar.gz"),
        "{err}"
    );

    let out = render(tmp.path(), &["--require-all"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.starts_with("error: no archive in") && err.contains("x86_64-pc-windows-msvc.zip"),
        "{err}"
    );

    let empty = tempfile::tempdir().unwrap();
    let out = render(empty.path(), &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("error: no archive in"),
        "{}",
        stderr(&out)
    );
}
