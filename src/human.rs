//! Human messages, on stderr. A write never panics (`say!` does when stderr is a pipe
//! whose reader has gone): the message is lost and the command's own outcome still decides
//! the exit status. Every message passes through the `Untrusted` escaping with its own line
//! breaks kept, so a value from outside that a message forgot to wrap still cannot drive the
//! terminal; cursor control of our own goes through `terminal_control`.

use std::io::Write as _;

/// Writes one line (like `say!`) to stderr; never panics.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::human::write(&format!($($arg)*), true)
    };
}

/// Writes text without a line break (a prompt) to stderr and flushes; never panics.
macro_rules! say_partial {
    ($($arg:tt)*) => {
        $crate::human::write(&format!($($arg)*), false)
    };
}

/// Writes `text` (escaped, line breaks kept) and, if `newline`, a line break.
pub fn write(text: &str, newline: bool) {
    let mut text = crate::untrusted::keeping_lines(text);
    if newline {
        text.push('\n');
    }
    raw(&text);
}

/// Our own cursor control on a terminal (`\r\x1b[2K`), written as it is.
pub fn terminal_control(seq: &str) {
    raw(seq);
}

fn raw(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes()).and_then(|()| err.flush());
}
