//! `version` tells the truth about the binary (and the README agrees on the minimum
//! Kubernetes), and the help of the commands an admin meets first is snapshotted:
//! `BLESS=1 cargo test --test version_and_help` after an intended change.

mod common;

use common::snapshot::snapshot;
use common::*;
use std::process::Command;

fn plugin(args: &[&str]) -> std::process::Output {
    Command::new(PLUGIN)
        .args(args)
        .env("COLUMNS", "100")
        .output()
        .unwrap()
}

#[test]
fn version_reports_commit_date_target_and_minimum_kubernetes() {
    let out = plugin(&["version", "-o", "json"]);
    assert_ok(&out, "version -o json");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["minKubernetesVersion"], "1.30");
    let target = v["target"].as_str().unwrap();
    assert!(
        target.starts_with(std::env::consts::ARCH) && target.contains(std::env::consts::OS),
        "{target}"
    );
    // Built from this checkout: the commit is HEAD's, the date is HEAD's commit date
    // (SOURCE_DATE_EPOCH overrides it; the wall clock never is used).
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    assert_eq!(v["gitCommit"], git(&["rev-parse", "HEAD"]));
    let committed =
        chrono::DateTime::parse_from_rfc3339(&git(&["log", "-1", "--format=%cI"])).unwrap();
    let built = chrono::DateTime::parse_from_rfc3339(v["buildDate"].as_str().unwrap()).unwrap();
    assert_eq!(built, committed);

    let text = plugin(&["version"]);
    assert_ok(&text, "version");
    assert!(text.stderr.is_empty());
    let text = stdout(&text);
    for field in [
        format!("kubectl-breakglass {}", env!("CARGO_PKG_VERSION")),
        format!("git commit:  {}", v["gitCommit"].as_str().unwrap()),
        format!("target:      {target}"),
        "kubernetes:  1.30 or newer".to_string(),
    ] {
        assert!(text.contains(&field), "{field:?} not in:\n{text}");
    }
    let short = plugin(&["--version"]);
    assert_eq!(
        stdout(&short),
        format!("kubectl-breakglass {}\n", env!("CARGO_PKG_VERSION"))
    );

    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert!(
        readme.contains("**Kubernetes 1.30 or newer**"),
        "the README's minimum Kubernetes differs from `version`'s"
    );
}

#[test]
fn help_texts() {
    let mut all = String::new();
    for args in [
        vec!["--help"],
        vec!["completion", "--help"],
        vec!["version", "--help"],
    ] {
        let out = plugin(&args);
        assert_ok(&out, "help");
        all.push_str(&format!(
            "## kubectl breakglass {}\n{}\n",
            args.join(" "),
            stdout(&out)
        ));
    }
    let out = plugin(&["completion", "tcsh"]);
    all.push_str(&format!(
        "## kubectl breakglass completion tcsh (exit {})\n{}",
        out.status.code().unwrap(),
        stderr(&out)
    ));
    snapshot("help-top-completion-version", &all);
}
