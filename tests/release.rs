//! `scripts/release`: archives that are byte-for-byte reproducible and hold what krew and
//! an admin need, a checksum file `sha256sum -c` accepts, and refusals of a dirty tree
//! and of a version that is not Cargo.toml's.
//!
//! The packaging runs on stand-in executables (`--binary`/`--completer`): what is proven
//! here does not depend on the binary, and packaging the real one takes seconds each
//! time (tests/krew_install.rs packages the real one once and installs it).

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const VERSION: &str = env!("CARGO_PKG_VERSION");

fn target() -> String {
    let out = Command::new("rustc").arg("-vV").output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .unwrap()
        .to_string()
}

/// Two small executables standing in for the plugin and its completer.
fn stand_ins(dir: &Path) -> (PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt as _;
    let make = |name: &str| {
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\necho {name}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    };
    (make("plugin"), make("completer"))
}

fn release(repo: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(repo.join("scripts/release"))
        .args(args)
        .envs(env.iter().copied())
        .current_dir(repo)
        .output()
        .unwrap()
}

fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=Release Test",
            "-c",
            "user.email=release@example.com",
        ])
        .args(args)
        .current_dir(repo)
        .output()
        .unwrap();
    assert_ok(&out, &format!("git {args:?}"));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn archives_are_reproducible_and_hold_what_krew_and_admins_need() {
    let tmp = tempfile::tempdir().unwrap();
    let (plugin, completer) = stand_ins(tmp.path());
    let epoch = git(Path::new(ROOT), &["log", "-1", "--format=%ct"]);
    let name = format!("kubectl-breakglass-v{VERSION}-{}.tar.gz", target());
    let mut runs = Vec::new();
    for run in ["first", "second"] {
        let out_dir = tmp.path().join(run);
        let out = release(
            Path::new(ROOT),
            &[
                VERSION,
                "--binary",
                plugin.to_str().unwrap(),
                "--completer",
                completer.to_str().unwrap(),
                "--allow-dirty",
                "--out",
                out_dir.to_str().unwrap(),
            ],
            &[],
        );
        assert_ok(&out, "scripts/release");
        assert!(out.stdout.is_empty(), "stdout: {}", stdout(&out));
        runs.push(out_dir);
    }
    for file in [
        name.clone(),
        format!("{name}.sha256"),
        "breakglass.yaml".into(),
    ] {
        let first = std::fs::read(runs[0].join(&file)).unwrap();
        let second = std::fs::read(runs[1].join(&file)).unwrap();
        assert!(first == second, "{file} differs between two runs");
    }

    // The checksum file is what `sha256sum -c` checks, lowercase, and names the archive.
    let check = Command::new("sha256sum")
        .args(["-c", &format!("{name}.sha256")])
        .current_dir(&runs[0])
        .output()
        .unwrap();
    assert_ok(&check, "sha256sum -c");
    let sum = std::fs::read_to_string(runs[0].join(format!("{name}.sha256"))).unwrap();
    let digest = sum.split_whitespace().next().unwrap();
    assert!(digest.len() == 64 && digest.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')));
    assert_eq!(sum.split_whitespace().nth(1), Some(name.as_str()));

    // gzip stores no file name and no time.
    let archive = std::fs::read(runs[0].join(&name)).unwrap();
    assert_eq!(&archive[..3], &[0x1f, 0x8b, 8]);
    assert_eq!(archive[3] & 0x08, 0, "gzip header names a file");
    assert_eq!(&archive[4..8], &[0, 0, 0, 0], "gzip header has a time");

    // Sorted entries, one fixed time (the commit's), owner 0/0 without names.
    let listing = Command::new("tar")
        .args(["--list", "--verbose", "--full-time", "--file"])
        .arg(runs[0].join(&name))
        .output()
        .unwrap();
    assert_ok(&listing, "tar --list");
    let listing = stdout(&listing);
    let when = Command::new("date")
        .args(["-u", "-d", &format!("@{epoch}"), "+%Y-%m-%d %H:%M:%S"])
        .output()
        .unwrap();
    let when = stdout(&when).trim().to_string();
    let mut names = Vec::new();
    for line in listing.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields[1], "0/0", "owner of {line}");
        assert_eq!(
            format!("{} {}", fields[3], fields[4]),
            when,
            "time of {line}"
        );
        let mode = fields[0];
        let entry = fields[5];
        let expected = if entry.ends_with('/') || entry.starts_with("kubectl") {
            "rwxr-xr-x"
        } else {
            "rw-r--r--"
        };
        assert_eq!(&mode[1..], expected, "mode of {entry}");
        names.push(entry.to_string());
    }
    let mut deploy: Vec<String> = std::fs::read_dir(Path::new(ROOT).join("deploy"))
        .unwrap()
        .map(|e| format!("deploy/{}", e.unwrap().file_name().to_str().unwrap()))
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    deploy.sort();
    let mut expected = vec!["LICENSE".to_string(), "README.md".into(), "deploy/".into()];
    expected.extend(deploy);
    // The opt-in standby manifests (kubectl apply -f deploy/standby/).
    let mut standby: Vec<String> = std::fs::read_dir(Path::new(ROOT).join("deploy/standby"))
        .unwrap()
        .map(|e| {
            format!(
                "deploy/standby/{}",
                e.unwrap().file_name().to_str().unwrap()
            )
        })
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    standby.sort();
    expected.push("deploy/standby/".into());
    expected.extend(standby);
    expected.extend([
        "kubectl-breakglass".into(),
        "kubectl_complete-breakglass".into(),
    ]);
    assert_eq!(names, expected);

    // The binaries are the ones given, under their installed names.
    let unpacked = tmp.path().join("unpacked");
    std::fs::create_dir(&unpacked).unwrap();
    let untar = Command::new("tar")
        .arg("-xzf")
        .arg(runs[0].join(&name))
        .arg("-C")
        .arg(&unpacked)
        .output()
        .unwrap();
    assert_ok(&untar, "tar -x");
    let ran = Command::new(unpacked.join("kubectl-breakglass"))
        .output()
        .unwrap();
    assert_eq!(stdout(&ran), "plugin\n");
}

/// A clean git repository holding what `scripts/release` reads.
fn scratch_repo(dir: &Path) -> PathBuf {
    let repo = dir.join("repo");
    for path in [
        "scripts/release",
        "scripts/render-krew-manifest",
        "Cargo.toml",
        "LICENSE",
        "README.md",
        "krew.yaml",
        ".gitignore",
    ] {
        let to = repo.join(path);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(Path::new(ROOT).join(path), to).unwrap();
    }
    for dir in ["deploy", "deploy/standby"] {
        std::fs::create_dir_all(repo.join(dir)).unwrap();
        for entry in std::fs::read_dir(Path::new(ROOT).join(dir)).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                std::fs::copy(entry.path(), repo.join(dir).join(entry.file_name())).unwrap();
            }
        }
    }
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "release candidate"]);
    repo
}

/// Asserts a refusal: exit 1, one `error:` line holding each of `needles`, nothing written.
#[track_caller]
fn assert_refused(out: &Output, out_dir: &Path, needles: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: "), "{err}");
    for needle in needles {
        assert!(err.contains(needle), "{needle:?} not in: {err}");
    }
    assert!(
        !out_dir.exists(),
        "a refused release wrote {}",
        out_dir.display()
    );
}

#[test]
fn a_release_is_refused_for_another_version_or_uncommitted_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let (plugin, completer) = stand_ins(tmp.path());
    let repo = scratch_repo(tmp.path());
    let out_dir = tmp.path().join("dist");
    let args = |version: &str| {
        vec![
            version.to_string(),
            "--binary".into(),
            plugin.display().to_string(),
            "--completer".into(),
            completer.display().to_string(),
            "--out".into(),
            out_dir.display().to_string(),
        ]
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        release(&repo, &args, &[])
    };

    let out = run(args("9.9.9"));
    assert_refused(
        &out,
        &out_dir,
        &[
            "version 9.9.9 is not the version in Cargo.toml",
            &format!("({VERSION})"),
            &format!("scripts/release {VERSION}"),
        ],
    );

    std::fs::write(repo.join("notes.txt"), "not committed").unwrap();
    std::fs::write(repo.join("LICENSE"), "changed").unwrap();
    let out = run(args(VERSION));
    assert_refused(
        &out,
        &out_dir,
        &[
            "uncommitted changes",
            "LICENSE",
            "notes.txt",
            "commit or stash them",
        ],
    );

    // Committed, the same release goes through (and leaves the tree clean).
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "notes"]);
    let out = run(args(VERSION));
    assert_ok(&out, "scripts/release on a clean tree");
    assert!(out_dir.join("breakglass.yaml").exists());
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");
    // A leading v is the tag's spelling of the same version.
    let out = run(args(&format!("v{VERSION}")));
    assert_ok(&out, "scripts/release vVERSION");
}

/// The oldest glibc the Linux archives claim (README, "From a release archive"): Debian 12,
/// Ubuntu 22.04 and RHEL 9 have it.
const OLDEST_GLIBC: (u32, u32) = (2, 34);

/// The plugin and its completer ask the dynamic loader for no glibc symbol newer than the
/// claimed floor, whatever the build settings do (linking libgcc's static unwinder, for
/// one, would add `_dl_find_object` from glibc 2.35; see src/no_unwinder.rs).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn the_binaries_need_no_glibc_newer_than_the_claimed_one() {
    let Some(objdump) = common::prerequisites::which("objdump") else {
        return skip("objdump is missing; install binutils (Debian package binutils)");
    };
    for bin in [PLUGIN, env!("CARGO_BIN_EXE_kubectl_complete-breakglass")] {
        let out = Command::new(&objdump).arg("-T").arg(bin).output().unwrap();
        assert_ok(&out, &format!("objdump -T {bin}"));
        let versions: Vec<(u32, u32)> = String::from_utf8_lossy(&out.stdout)
            .split("GLIBC_")
            .skip(1)
            .filter_map(|rest| {
                let version = rest.split([')', ' ', '\n']).next()?;
                let (major, minor) = version.split_once('.')?;
                let minor = minor.split('.').next()?;
                Some((major.parse().ok()?, minor.parse().ok()?))
            })
            .collect();
        assert!(
            !versions.is_empty(),
            "{bin}: no GLIBC_ symbol versions found"
        );
        let newest = versions.iter().max().unwrap();
        assert!(
            *newest <= OLDEST_GLIBC,
            "{bin} needs glibc {}.{}, newer than the {}.{} the release claims",
            newest.0,
            newest.1,
            OLDEST_GLIBC.0,
            OLDEST_GLIBC.1
        );
    }
}
