//! Interrupts (Ctrl-C, a closed terminal: SIGINT, SIGTERM, SIGHUP) while a grant is made
//! or taken back. The work in flight is raced against the signals; when a signal wins, the
//! work is dropped and what it created is undone, so an interrupt never leaves a half-made
//! grant. A further signal abandons the clean-up, saying what may be left.

use std::fmt;
use std::future::Future;

/// A signal that ends a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(unix), allow(dead_code))] // only Ctrl-C is listened for there
pub enum Signal {
    Interrupt,
    Terminate,
    Hangup,
}

impl Signal {
    /// The conventional exit status of a command ended by this signal (128 + its number).
    pub fn exit_code(self) -> u8 {
        match self {
            Signal::Interrupt => 130,
            Signal::Terminate => 143,
            Signal::Hangup => 129,
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
            Signal::Hangup => "SIGHUP",
        })
    }
}

/// A command stopped by a signal; `main` exits with the signal's status.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Interrupted {
    pub signal: Signal,
    pub message: String,
}

/// The signals that interrupt a command, listened for from its start: from then on they
/// no longer kill the process, they are answered here.
pub struct Signals {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hup: tokio::signal::unix::Signal,
    first: Option<Signal>,
    count: u32,
}

impl Signals {
    /// Starts listening; must run inside the runtime.
    pub fn listen() -> anyhow::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let on = |kind: SignalKind| {
                signal(kind).map_err(|e| anyhow::anyhow!("cannot listen for Ctrl-C: {e}"))
            };
            Ok(Signals {
                int: on(SignalKind::interrupt())?,
                term: on(SignalKind::terminate())?,
                hup: on(SignalKind::hangup())?,
                first: None,
                count: 0,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {
            first: None,
            count: 0,
        })
    }

    /// The first signal received, if any.
    pub fn received(&self) -> Option<Signal> {
        self.first
    }

    /// How many signals have been received: compare before and after a step to tell
    /// whether one came during it.
    pub fn count(&self) -> u32 {
        self.count
    }

    #[cfg(unix)]
    async fn next(&mut self) -> Signal {
        tokio::select! {
            Some(()) = self.int.recv() => Signal::Interrupt,
            Some(()) = self.term.recv() => Signal::Terminate,
            Some(()) = self.hup.recv() => Signal::Hangup,
            else => std::future::pending::<Signal>().await,
        }
    }

    #[cfg(not(unix))]
    async fn next(&mut self) -> Signal {
        match tokio::signal::ctrl_c().await {
            Ok(()) => Signal::Interrupt,
            Err(_) => std::future::pending().await,
        }
    }

    /// Runs `work` unless a signal comes first (then `work` is dropped mid-step).
    pub async fn race<T>(&mut self, work: impl Future<Output = T>) -> Result<T, Signal> {
        tokio::pin!(work);
        tokio::select! {
            biased;
            done = &mut work => Ok(done),
            signal = self.next() => {
                self.first.get_or_insert(signal);
                self.count += 1;
                Err(signal)
            }
        }
    }

    /// Runs clean-up `work` to its end through a first signal (said on stderr); a further
    /// signal abandons it.
    pub async fn finish<T>(
        &mut self,
        doing: &str,
        work: impl Future<Output = T>,
    ) -> Result<T, Signal> {
        tokio::pin!(work);
        let mut patient = self.first.is_none();
        loop {
            match self.race(&mut work).await {
                Ok(done) => return Ok(done),
                Err(signal) if patient => {
                    patient = false;
                    say!("{signal} received: {doing} first; press Ctrl-C again to abandon that");
                }
                Err(signal) => return Err(signal),
            }
        }
    }
}
