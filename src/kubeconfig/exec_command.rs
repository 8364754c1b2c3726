//! The command a kubeconfig exec entry runs to reach this program, for `setup` and
//! `request` alike: the bare name when PATH finds this very file under it, else this
//! program's absolute path.
//!
//! Under krew this program lives in `~/.krew/store/breakglass/<version>/`, which
//! `kubectl krew upgrade` deletes; krew's link in `~/.krew/bin` (on PATH) stays and follows
//! the upgrade. kubectl looks exec commands up on PATH, so the bare name keeps working where
//! the absolute path would break every context written before the upgrade.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// The command's name on PATH; krew and the install instructions put it there.
pub const COMMAND: &str = "kubectl-breakglass";

/// What an exec entry written now should run: `kubectl-breakglass` when the first one on
/// PATH is this program (through any links), else this program's absolute path (a build
/// run from elsewhere, or nothing on PATH), else the bare name when this program's own path
/// is unknown.
pub fn exec_command() -> String {
    match std::env::current_exe() {
        Ok(me) => command_for(&me, std::env::var_os("PATH").as_deref()),
        Err(_) => COMMAND.to_string(),
    }
}

/// [`exec_command`] for the program at `me` and the search path `path`.
fn command_for(me: &Path, path: Option<&OsStr>) -> String {
    let same = |found: &Path| match (std::fs::canonicalize(found), std::fs::canonicalize(me)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    match first_on_path(path) {
        Some(found) if same(&found) => COMMAND.to_string(),
        _ => me.display().to_string(),
    }
}

/// The `kubectl-breakglass` kubectl would run: the first executable file of that name in an
/// absolute PATH directory (Go's `exec.LookPath` refuses relative results).
pub fn first_on_path(path: Option<&OsStr>) -> Option<PathBuf> {
    let name = format!("{COMMAND}{}", std::env::consts::EXE_SUFFIX);
    std::env::split_paths(path?)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(&name))
        .find(|p| is_executable(p))
}

#[cfg(unix)]
fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(p: &Path) -> bool {
    p.is_file()
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt as _};

    fn executable(path: &Path) {
        std::fs::write(path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// `names` made as directories under `root`, and the program `kubectl-breakglass` in
    /// the first.
    fn layout<const N: usize>(root: &Path, names: [&str; N]) -> ([PathBuf; N], PathBuf) {
        let dirs = names.map(|n| root.join(n));
        for d in &dirs {
            std::fs::create_dir_all(d).unwrap();
        }
        let me = dirs[0].join(COMMAND);
        executable(&me);
        (dirs, me)
    }

    /// krew's layout: the program in a versioned store directory, a link to it on PATH.
    #[test]
    fn the_bare_name_when_path_leads_to_this_very_file() {
        let dir = tempfile::tempdir().unwrap();
        let ([store, bin], me) = layout(dir.path(), ["store/breakglass/v1.2.3", "bin"]);
        symlink(&me, bin.join(COMMAND)).unwrap();
        let path = std::env::join_paths([Path::new("/nonexistent"), &bin]).unwrap();
        assert_eq!(command_for(&me, Some(&path)), COMMAND);
        // Its own directory on PATH, no link: the same file.
        let path = std::env::join_paths([&store]).unwrap();
        assert_eq!(command_for(&me, Some(&path)), COMMAND);
    }

    #[test]
    fn the_absolute_path_when_path_finds_another_file_or_none() {
        let dir = tempfile::tempdir().unwrap();
        let ([build, other, link], me) = layout(dir.path(), ["target/debug", "other", "link"]);
        let mine = me.display().to_string();
        // Another copy comes first on PATH: kubectl would run that one, not this.
        executable(&other.join(COMMAND));
        let path = std::env::join_paths([&other, &build]).unwrap();
        assert_eq!(command_for(&me, Some(&path)), mine);
        // Nothing on PATH, no PATH, and a relative PATH entry kubectl would not use.
        let empty = std::env::join_paths([dir.path()]).unwrap();
        assert_eq!(command_for(&me, Some(&empty)), mine);
        assert_eq!(command_for(&me, None), mine);
        let relative = std::env::join_paths([Path::new("target/debug")]).unwrap();
        assert_eq!(command_for(&me, Some(&relative)), mine);
        // A file of that name that is not executable is not what kubectl would run.
        std::fs::set_permissions(other.join(COMMAND), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        symlink(&me, link.join(COMMAND)).unwrap();
        let path = std::env::join_paths([&other, &link]).unwrap();
        assert_eq!(command_for(&me, Some(&path)), COMMAND);
    }
}
