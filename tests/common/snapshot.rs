//! Snapshot comparison for what people read: help texts and messages.

use std::path::PathBuf;

/// Compares `actual` with `tests/snapshots/NAME.txt` (or writes it under BLESS=1).
#[track_caller]
pub fn snapshot(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(format!("{name}.txt"));
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "no snapshot {}; run with BLESS=1 to create it",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "{name} changed; if intended, re-run with BLESS=1 and review the diff.\n--- expected\n{expected}\n--- actual\n{actual}"
    );
}
