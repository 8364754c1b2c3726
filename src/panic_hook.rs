//! A panic is a bug; it reaches the person as one `error:` line on stderr, like every
//! other failure. Release builds abort on panic (smaller and faster to start, see the
//! README's Benchmarks), so there the hook also ends the process with the exit code an
//! unwinding panic gives (101) instead of an abort signal and a core dump.

use std::any::Any;
use std::io::Write as _;
use std::panic::Location;

/// Replaces the default panic message ("thread 'main' panicked at ...").
pub fn install() {
    std::panic::set_hook(Box::new(|info| {
        // Never panic here: a write to a closed stderr is ignored.
        let _ = writeln!(
            std::io::stderr(),
            "{}",
            message(info.payload(), info.location())
        );
        #[cfg(panic = "abort")]
        std::process::exit(101);
    }));
}

/// The line printed for a panic with `payload` at `location`.
fn message(payload: &(dyn Any + Send), location: Option<&Location<'_>>) -> String {
    let what = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("unknown cause");
    let at = location
        .map(|l| format!(" at {}:{}", l.file(), l.line()))
        .unwrap_or_default();
    format!(
        "error: internal error{at}: {what}\n  this is a bug in kubectl-breakglass {}; \
         please report it with the command that was run",
        env!("CARGO_PKG_VERSION")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_error_line_with_the_cause_and_where() {
        let at = Location::caller();
        let text = message(&"index out of bounds", Some(at));
        assert!(
            text.starts_with(&format!(
                "error: internal error at {}:{}: index out of bounds\n",
                at.file(),
                at.line()
            )),
            "{text}"
        );
        let owned: Box<dyn Any + Send> = Box::new(String::from("formatted 42"));
        assert!(message(owned.as_ref(), None).starts_with("error: internal error: formatted 42"));
        assert!(message(&17u8, None).starts_with("error: internal error: unknown cause"));
    }
}
