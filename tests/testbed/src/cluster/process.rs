//! A control-plane process (etcd, kube-apiserver, kube-controller-manager) that never
//! outlives the test bed: it runs under a small `sh` watchdog that kills it when our end
//! of its stdin closes, which happens when we drop it *or* when we die (even by SIGKILL).

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Process {
    name: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    log: PathBuf,
}

/// Kills `$c` once stdin reaches end-of-file; exits with the program's status otherwise.
/// (A background job of a non-interactive shell reads /dev/null unless told otherwise:
/// hence stdin is kept as fd 3.)
const WATCHDOG: &str = r#"exec 3<&0; "$@" </dev/null 3<&- & c=$!; (cat <&3 >/dev/null; kill -9 $c 2>/dev/null) & exec 3<&-; wait $c"#;

/// The same for a program that starts its own children (Keycloak's `kc.sh` runs `java`
/// without exec): it gets a process group of its own, and the whole group is killed.
const GROUP_WATCHDOG: &str = r#"exec 3<&0; setsid "$@" </dev/null 3<&- & c=$!; (cat <&3 >/dev/null; kill -9 -$c 2>/dev/null) & exec 3<&-; wait $c"#;

impl Process {
    /// Starts `program args`, its stdout and stderr appended to `log`.
    pub fn spawn(
        name: &'static str,
        program: &Path,
        args: &[String],
        log: &Path,
    ) -> Result<Process> {
        Process::spawn_with(WATCHDOG, name, program, args, log)
    }

    /// Like [`spawn`](Self::spawn), for a program whose children must die with it.
    pub fn spawn_group(
        name: &'static str,
        program: &Path,
        args: &[String],
        log: &Path,
    ) -> Result<Process> {
        Process::spawn_with(GROUP_WATCHDOG, name, program, args, log)
    }

    fn spawn_with(
        watchdog: &str,
        name: &'static str,
        program: &Path,
        args: &[String],
        log: &Path,
    ) -> Result<Process> {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("creating {}", log.display()))?;
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(watchdog)
            .arg("sh")
            .arg(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        let stdin = child.stdin.take();
        Ok(Process {
            name,
            child,
            stdin,
            log: log.to_path_buf(),
        })
    }

    /// Fails with the log's last lines if the process has exited.
    pub fn check_running(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "{} exited ({status}) while starting; last lines of {}:\n{}",
                self.name,
                self.log.display(),
                tail(&self.log, 15)
            );
        }
        Ok(())
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    pub fn name(&self) -> &'static str {
        self.name
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The last `n` lines of a log file.
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A loopback port that was free a moment ago and that no other test bed of this run had.
pub fn free_port() -> Result<u16> {
    crate::ports::unique_port()
}
