//! Text from outside — the cluster's objects, the identity provider's answers — is hostile
//! until shown otherwise: the people the tool audits write it. It reaches a terminal only
//! through `Untrusted`, which shows control characters, bidirectional overrides and
//! invisible characters escaped (`\n`, `\u{1b}`, `\u{202e}`, `\u{200b}`), the way git quotes
//! control characters in paths, so such text cannot forge a line, recolour or clear the
//! screen, set the window title, reorder what is read, or hide what is there.

use std::fmt;

/// A string read from the cluster or the identity provider, for display.
#[derive(Debug, Clone, Copy)]
pub struct Untrusted<'a>(pub &'a str);

impl fmt::Display for Untrusted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        escape(f, self.0, false)
    }
}

/// Whether `c` must never reach a terminal raw: control characters (C0 incl. newline and
/// ESC, DEL, C1), bidirectional overrides and isolates, and characters that are invisible
/// or break lines: zero-width space/joiners, LRM/RLM/ALM, word joiner and invisible
/// operators, the byte-order mark, line and paragraph separators, Mongolian vowel separator.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
                | '\u{200B}'..='\u{200F}'
                | '\u{061C}'
                | '\u{FEFF}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{2060}'..='\u{2064}'
                | '\u{180E}'
        )
}

/// `text` with every unsafe character but the line break escaped: for the plugin's own
/// multi-line messages, where a value that was not wrapped in `Untrusted` still cannot drive
/// the terminal.
pub fn keeping_lines(text: &str) -> String {
    struct Lines<'a>(&'a str);
    impl fmt::Display for Lines<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            escape(f, self.0, true)
        }
    }
    Lines(text).to_string()
}

fn escape(f: &mut fmt::Formatter<'_>, text: &str, keep_newlines: bool) -> fmt::Result {
    use fmt::Write as _;
    for c in text.chars() {
        if is_unsafe(c) && !(keep_newlines && c == '\n') {
            for e in c.escape_default() {
                f.write_char(e)?;
            }
        } else {
            f.write_char(c)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1024))]

        #[test]
        fn no_text_keeps_an_unsafe_character(text in crate::test_support::arb_text()) {
            proptest::prop_assert!(!Untrusted(&text).to_string().chars().any(is_unsafe));
            proptest::prop_assert!(!keeping_lines(&text).chars().any(|c| c != '\n' && is_unsafe(c)));
        }
    }

    #[test]
    fn nothing_that_drives_a_terminal_survives() {
        assert_eq!(
            Untrusted("plain text, ümlaut").to_string(),
            "plain text, ümlaut"
        );
        let hostile = "a\nFAKE\r\u{1b}]0;title\u{7}\u{1b}[2J\u{202e}\u{200b}\u{feff}\u{2028}\u{61c}\u{180e}\u{2063}\u{9b}";
        let shown = Untrusted(hostile).to_string();
        assert!(shown.chars().all(|c| !is_unsafe(c)), "{shown:?}");
        assert_eq!(
            shown,
            "a\\nFAKE\\r\\u{1b}]0;title\\u{7}\\u{1b}[2J\\u{202e}\\u{200b}\\u{feff}\\u{2028}\\u{61c}\\u{180e}\\u{2063}\\u{9b}"
        );
        assert_eq!(keeping_lines("one\ntwo\u{1b}[31m"), "one\ntwo\\u{1b}[31m");
    }
}
