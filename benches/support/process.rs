//! Commands run as whole processes and what one run costs: wall time (interleaved with
//! the commands it is compared with, so drift hits each alike), instructions retired
//! (callgrind: deterministic, so a regression shows on a noisy machine) and page faults.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `cmd` once and returns how long it took; a failure panics with what it said.
pub fn time(cmd: &mut Command) -> Duration {
    let t = Instant::now();
    let status = cmd.status().unwrap();
    let elapsed = t.elapsed();
    if !status.success() {
        // Run it once more, capturing what it says (the timed runs discard it).
        let out = copy(cmd).output().unwrap();
        panic!(
            "{:?} failed ({status}); run again: {}, stderr: {}",
            cmd.get_program(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    elapsed
}

/// Runs every command `runs` times, one round after another (after 10 warm-up rounds),
/// and returns each one's times. Each round takes the commands in a new order: what runs
/// just before a command (a Go process's exit, say) changes its time, and no command
/// should always follow the same one.
pub fn interleaved(cmds: &mut [&mut Command], runs: usize) -> Vec<Vec<Duration>> {
    for _ in 0..10 {
        for cmd in cmds.iter_mut() {
            time(cmd);
        }
    }
    let mut times = vec![Vec::with_capacity(runs); cmds.len()];
    let mut order: Vec<usize> = (0..cmds.len()).collect();
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..runs {
        // Fisher-Yates with xorshift64: the same sequence of orders on every run.
        for i in (1..order.len()).rev() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            order.swap(i, (seed % (i as u64 + 1)) as usize);
        }
        for &i in &order {
            times[i].push(time(cmds[i]));
        }
    }
    times
}

/// The `p`th percentile (0–100) of `times`, nearest rank.
pub fn percentile(times: &[Duration], p: f64) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The median of `times`.
pub fn median(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Instructions one run of `cmd` retires (valgrind's callgrind, the process and any
/// threads it starts, the dynamic loader included); `None` without valgrind. The run
/// sees only the variables set on `cmd` (and PATH): `Command` cannot tell whether its
/// environment was cleared, and every variable inherited costs each process start a scan.
pub fn instructions(cmd: &Command) -> Option<u64> {
    let mut under = Command::new("valgrind");
    under
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    under
        .args([
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            "--trace-children=no",
        ])
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    copy_env(cmd, &mut under);
    // Go's preemption signals trip an assertion in callgrind; without them Go runs the
    // same code, only never preempted (the count is for one single-minded run).
    under.env("GODEBUG", "asyncpreemptoff=1");
    let out = under.output().ok()?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{:?} under callgrind failed: {err}",
        cmd.get_program()
    );
    // "==123== Collected : 448713"
    let collected = err.lines().find_map(|l| l.split("Collected : ").nth(1))?;
    collected.trim().parse().ok()
}

/// Minor page faults per run of `cmd`, averaged over `runs` runs (the kernel's count
/// for this process's waited-for children).
pub fn minor_faults(cmd: &mut Command, runs: usize) -> f64 {
    let before = children_minor_faults();
    for _ in 0..runs {
        time(cmd);
    }
    (children_minor_faults() - before) as f64 / runs as f64
}

/// `cminflt` of `/proc/self/stat`.
fn children_minor_faults() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the parenthesised command name: state is field 3, cminflt field 11.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    after.split(' ').nth(11 - 3).unwrap().parse().unwrap()
}

/// `/proc/loadavg`'s 1-, 5- and 15-minute load averages.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split(' ').take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// A fresh command with `cmd`'s program, arguments and environment changes.
fn copy(cmd: &Command) -> Command {
    let mut again = Command::new(cmd.get_program());
    again.args(cmd.get_args());
    copy_env(cmd, &mut again);
    again
}

fn copy_env(from: &Command, to: &mut Command) {
    for (k, v) in from.get_envs() {
        match v {
            Some(v) => to.env(k, v),
            None => to.env_remove(k),
        };
    }
}
