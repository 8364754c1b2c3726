//! Embeds what `kubectl breakglass version` reports and a build cannot know by itself:
//! the git commit, the build date and the target. Works without git (a crates.io
//! tarball, a source archive): the commit is then read from `.cargo_vcs_info.json`, else
//! "unknown". Also links the executables non-PIE on Linux with glibc ([`link_non_pie`]).

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let in_git = git_commit(&root);
    let date = build_date(&root, in_git.is_some());
    let commit = in_git
        .or_else(|| vcs_info_commit(&root))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=BREAKGLASS_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=BREAKGLASS_BUILD_DATE={date}");
    println!(
        "cargo:rustc-env=BREAKGLASS_TARGET={}",
        std::env::var("TARGET").unwrap_or_else(|_| "unknown".into())
    );
    link_non_pie();
    // Reproducible builds pin the date; releases set it from the commit.
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    println!("cargo:rerun-if-changed=build.rs");
}

/// Links the executables non-PIE on Linux with glibc: kubectl starts the plugin before
/// every command, and a PIE of this size had the loader apply ~15,000 relocations (and
/// copy every page they touch) before `main` — most of a cache hit's page faults. What
/// that gives up (address randomisation of the executable's own image) is weighed in the
/// README's Benchmarks. A link argument rather than `-C relocation-model=static`: cargo
/// would apply that flag to proc-macros too unless every build named `--target`.
/// `BREAKGLASS_PIE=1` keeps a PIE, for those who would rather pay for address
/// randomisation on every call.
fn link_non_pie() {
    println!("cargo:rerun-if-env-changed=BREAKGLASS_PIE");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") == "linux"
        && var("CARGO_CFG_TARGET_ENV") == "gnu"
        && var("BREAKGLASS_PIE") != "1"
    {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}

/// `git rev-parse HEAD`, only when the manifest directory is itself the top of a work
/// tree (not a crate unpacked somewhere inside an unrelated repository).
fn git_commit(root: &Path) -> Option<String> {
    let top = git(root, &["rev-parse", "--show-toplevel"])?;
    if Path::new(&top).canonicalize().ok()? != root.canonicalize().ok()? {
        return None;
    }
    // Rebuild when HEAD moves: HEAD, its reflog, the branch it points to, packed refs.
    // (A path that does not exist would make cargo rerun this script on every build.)
    let branch = git(root, &["symbolic-ref", "-q", "HEAD"]);
    for path in ["HEAD", "logs/HEAD", "packed-refs"]
        .into_iter()
        .chain(branch.as_deref())
    {
        if let Some(p) = git(root, &["rev-parse", "--git-path", path]) {
            let p = root.join(p);
            if p.exists() {
                println!("cargo:rerun-if-changed={}", p.display());
            }
        }
    }
    git(root, &["rev-parse", "HEAD"])
}

/// `git.sha1` from the `.cargo_vcs_info.json` that `cargo package` writes.
fn vcs_info_commit(root: &Path) -> Option<String> {
    let text = std::fs::read_to_string(root.join(".cargo_vcs_info.json")).ok()?;
    let start = text.find("\"sha1\"")?;
    let rest = &text[start + "\"sha1\"".len()..];
    let value = rest.split('"').nth(1)?;
    (value.len() == 40 && value.chars().all(|c| c.is_ascii_hexdigit())).then(|| value.into())
}

/// `SOURCE_DATE_EPOCH` when set (reproducible builds), else the commit's date, else
/// "unknown" — never the wall clock, which would make two builds of one commit differ.
fn build_date(root: &Path, in_git: bool) -> String {
    if let Some(epoch) = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
    {
        if let Some(date) = rfc3339(epoch) {
            return date;
        }
    }
    in_git
        .then(|| git(root, &["log", "-1", "--format=%ct"]))
        .flatten()
        .and_then(|s| s.parse::<i64>().ok())
        .and_then(rfc3339)
        .unwrap_or_else(|| "unknown".into())
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (no dependency for one date).
fn rfc3339(epoch: i64) -> Option<String> {
    if epoch < 0 {
        return None;
    }
    let (days, secs) = (epoch / 86_400, epoch % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    ))
}
