//! Opening the verification page in the person's browser, only when there is
//! a display to show it on.

/// Why no browser was opened, or `None` when one can be.
pub fn unavailable_reason() -> Option<&'static str> {
    if cfg!(target_os = "linux") || cfg!(target_os = "freebsd") {
        let set = |v: &str| std::env::var_os(v).is_some_and(|s| !s.is_empty());
        if !set("DISPLAY") && !set("WAYLAND_DISPLAY") {
            return Some("no display (DISPLAY and WAYLAND_DISPLAY are unset)");
        }
    }
    None
}

/// Opens `url` in the default browser, without waiting for it.
pub fn open(url: &str) -> std::io::Result<()> {
    open::that_detached(url)
}
