//! Linux with glibc: the process entry point is ours rather than std's.
//!
//! std's start-up (`lang_start`) finds the main thread's stack by parsing
//! `/proc/self/maps` (`pthread_getattr_np`) and sets up an alternate signal stack, so
//! that a stack overflow is reported by name: ~100k instructions and a file read, a
//! sixth of a cache-hit `credential` call, which kubectl makes before every command.
//! This entry point does the rest of what std's does — standard descriptors that are
//! closed are opened on /dev/null (so nothing meant for stdout lands in a file opened
//! later), SIGPIPE is ignored (a closed pipe is an error, not a silent death), stdout
//! is flushed at exit, a panic exits 101 — and gives up only the stack overflow's
//! message: the kernel's guard gap still stops an overflow, which then ends the process
//! with SIGSEGV instead of "has overflowed its stack".
//!
//! Arguments and the environment need no start-up here: glibc hands them to std before
//! `main` (std reads them from `.init_array`).

use std::ffi::{c_char, c_int};

/// The C `main` glibc's start-up calls.
#[unsafe(no_mangle)]
pub extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    open_closed_standard_fds();
    // SAFETY: setting a signal's disposition to SIG_IGN, before any thread exists.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    // Under panic=abort the hook exits 101 itself; an unwinding build ends here.
    let code = std::panic::catch_unwind(crate::run).unwrap_or(101);
    // Flushes stdout, as returning from std's main would.
    std::process::exit(c_int::from(code))
}

/// Opens /dev/null on each of stdin, stdout and stderr that is closed.
fn open_closed_standard_fds() {
    for fd in 0..=2 {
        // SAFETY: fcntl(F_GETFD) only inspects the descriptor.
        let closed = unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::EBADF);
        if closed {
            // The lowest free descriptor is `fd`: the ones below it are open.
            // SAFETY: a plain open of a constant path.
            let opened = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
            if opened != fd {
                std::process::abort();
            }
        }
    }
}
