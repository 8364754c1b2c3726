//! Loopback ports that no other test of this machine's run has used.
//!
//! The plugin keys what it caches by the API server's URL (and the IdP's): two test beds
//! that happen to get the same port from the kernel look like one cluster to it, and a
//! token one test left in the shared kernel keyring is served to the next. The kernel's
//! ephemeral ports repeat often enough over a few hundred test beds for that to happen, so
//! every port the test bed listens on comes from here instead: handed out in turn from a
//! range below the ephemeral one, through a counter file that every test process of the
//! machine shares (locked while it is read and advanced).

use anyhow::{Context, Result};
use std::io::{Read, Seek, SeekFrom, Write};

/// Below Linux's default ephemeral range (32768–60999), so no outgoing connection holds one.
const FIRST: u16 = 20000;
const LAST: u16 = 32000;

/// A free loopback port, not handed out before by this machine's test runs until the range
/// wraps (12,000 ports later).
pub fn unique_port() -> Result<u16> {
    let path = std::env::temp_dir().join("kubectl-breakglass-testbed-ports");
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    file.lock()
        .with_context(|| format!("locking {}", path.display()))?;
    let mut text = String::new();
    file.read_to_string(&mut text)?;
    let mut port = text.trim().parse::<u16>().unwrap_or(LAST);
    for _ in FIRST..=LAST {
        port = if port >= LAST { FIRST } else { port + 1 };
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            file.seek(SeekFrom::Start(0))?;
            file.set_len(0)?;
            write!(file, "{port}")?;
            return Ok(port);
        }
    }
    anyhow::bail!("no free loopback port between {FIRST} and {LAST}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_not_handed_out_twice_in_a_row_and_are_free() {
        let a = unique_port().unwrap();
        let b = unique_port().unwrap();
        assert_ne!(a, b);
        assert!((FIRST..=LAST).contains(&a) && (FIRST..=LAST).contains(&b));
        std::net::TcpListener::bind(("127.0.0.1", b)).unwrap();
    }
}
