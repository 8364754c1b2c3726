//! Grant durations in Go's (and so kubectl's) form: `90m`, `1h30m`, `1.5h`, `45s` — the
//! form the admission policy's CEL `duration()` reads from the same policy object. Strict on
//! purpose: units are case-sensitive (`10M` is not ten minutes, nor ten months), there are
//! no days or words (`1d`, `10 minutes`), and units below a second mean nothing for a grant.

use std::time::Duration;

/// The shortest token a Kubernetes API server issues (`expirationSeconds` < 600 is refused).
pub const MIN_GRANT: Duration = Duration::from_secs(600);

/// What a valid duration looks like, for messages.
pub const FORMS: &str = "a number with a unit h, m or s, or several: 90m, 1h30m, 1.5h, 45s \
                         (units are lower-case; no days: 24h)";

/// The longest duration Go represents (an int64 of nanoseconds, about 292 years).
const MAX_NANOS: u128 = i64::MAX as u128;

/// Why a text is not a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("it is empty")]
    Empty,
    #[error("a grant cannot last a negative time")]
    Negative,
    #[error("give a unit, such as {0}m for minutes or {0}h for hours")]
    NoUnit(String),
    #[error("a duration has no spaces")]
    Space,
    #[error("{0:?} is a unit below a second, which no grant can use")]
    BelowASecond(String),
    #[error("{0:?} is not a unit (units are case-sensitive: h, m, s)")]
    UnknownUnit(String),
    #[error("that is not a duration")]
    Malformed,
    #[error("that is longer than any duration can be (about 292 years)")]
    TooLong,
}

/// Parses a Go duration of hours, minutes and seconds, rounded down to whole seconds.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    if text.starts_with('-') {
        return Err(DurationError::Negative);
    }
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    if rest.chars().any(char::is_whitespace) {
        return Err(DurationError::Space);
    }
    if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DurationError::NoUnit(rest.to_string()));
    }
    if rest.is_empty() {
        return Err(DurationError::Malformed);
    }
    let digits_end = |s: &str| s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let mut nanos: u128 = 0;
    while !rest.is_empty() {
        let (whole, after) = rest.split_at(digits_end(rest));
        let (fraction, after) = match after.strip_prefix('.') {
            Some(f) => f.split_at(digits_end(f)),
            None => ("", after),
        };
        if whole.is_empty() && fraction.is_empty() {
            return Err(DurationError::Malformed);
        }
        let unit_end = after
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_end);
        let per_unit: u128 = match unit {
            "h" => 3_600_000_000_000,
            "m" => 60_000_000_000,
            "s" => 1_000_000_000,
            "ms" | "us" | "µs" | "μs" | "ns" => {
                return Err(DurationError::BelowASecond(unit.to_string()))
            }
            "" if fraction.is_empty() => return Err(DurationError::NoUnit(whole.to_string())),
            "" => return Err(DurationError::NoUnit(format!("{whole}.{fraction}"))),
            other => return Err(DurationError::UnknownUnit(other.to_string())),
        };
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| DurationError::TooLong)?
        };
        // Digits past nanosecond precision change nothing, as in Go.
        let fraction = &fraction[..fraction.len().min(18)];
        let part = match fraction.parse::<u128>() {
            Ok(f) => f * per_unit / 10u128.pow(fraction.len() as u32),
            Err(_) => 0,
        };
        nanos = whole
            .checked_mul(per_unit)
            .and_then(|n| n.checked_add(part))
            .and_then(|n| n.checked_add(nanos))
            .filter(|n| *n <= MAX_NANOS)
            .ok_or(DurationError::TooLong)?;
        rest = after;
    }
    Ok(Duration::from_secs((nanos / 1_000_000_000) as u64))
}

/// Parses the value of a command-line flag; the error names the flag and the valid forms.
pub fn parse_flag(flag: &str, text: &str) -> anyhow::Result<Duration> {
    parse(text).map_err(|e| anyhow::anyhow!("invalid {flag} {text:?}: {e}; use {FORMS}"))
}

/// Formats whole seconds the way people write durations: `1h`, `30m`, `1h30m`, `45s`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if sec > 0 || out.is_empty() {
        out.push_str(&format!("{sec}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        /// Any text is a duration or a reason why not.
        #[test]
        fn any_text_is_a_duration_or_a_reason(text in crate::test_support::arb_text()) {
            let _ = parse(&text);
        }

        /// What Go writes is read back exactly; what we print is read back as well.
        #[test]
        fn go_forms_are_read_exactly(h in 0u64..100_000, m in 0u64..600, s in 0u64..600, tenths in 0u64..10) {
            let text = format!("{h}h{m}m{s}s");
            prop_assert_eq!(parse(&text), Ok(Duration::from_secs(h * 3600 + m * 60 + s)));
            prop_assert_eq!(
                parse(&format!("{h}.{tenths}h")),
                Ok(Duration::from_secs(h * 3600 + tenths * 360))
            );
            let d = Duration::from_secs(h * 3600 + m * 60 + s);
            prop_assert_eq!(parse(&human(d)), Ok(d));
        }
    }

    fn secs(text: &str) -> u64 {
        parse(text)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .as_secs()
    }

    #[test]
    fn go_forms_are_accepted() {
        assert_eq!(secs("30m"), 1800);
        assert_eq!(secs("1h"), 3600);
        assert_eq!(secs("90m"), 5400);
        assert_eq!(secs("1h30m"), 5400);
        assert_eq!(secs("1.5h"), 5400);
        assert_eq!(secs("45s"), 45);
        assert_eq!(secs("1h0m30s"), 3630);
        assert_eq!(secs(".5h"), 1800);
        assert_eq!(secs("1.h"), 3600);
        assert_eq!(secs("+10m"), 600);
        assert_eq!(secs("2562047h"), 2562047 * 3600);
        assert_eq!(secs("1.0000000000000000000000001s"), 1);
    }

    #[test]
    fn everything_else_is_refused_with_its_reason() {
        use DurationError::*;
        for (text, why) in [
            ("", Empty),
            ("-5m", Negative),
            ("90", NoUnit("90".into())),
            ("10M", UnknownUnit("M".into())),
            ("1H", UnknownUnit("H".into())),
            ("1d", UnknownUnit("d".into())),
            ("7days", UnknownUnit("days".into())),
            ("300000y", UnknownUnit("y".into())),
            ("10 minutes", Space),
            (" 10m", Space),
            ("500ms", BelowASecond("ms".into())),
            ("10ns", BelowASecond("ns".into())),
            ("1h30", NoUnit("30".into())),
            ("1.5", NoUnit("1.5".into())),
            ("h", Malformed),
            (".h", Malformed),
            ("+", Malformed),
            ("2562048h", TooLong),
            ("99999999999999999999999999999999999999999h", TooLong),
            ("soon", Malformed),
        ] {
            assert_eq!(parse(text), Err(why.clone()), "{text:?}");
        }
        let e = parse("90").unwrap_err().to_string();
        assert!(e.contains("such as 90m") && !e.contains("ms"), "{e}");
    }

    #[test]
    fn formats_back() {
        assert_eq!(human(Duration::from_secs(3600)), "1h");
        assert_eq!(human(Duration::from_secs(5400)), "1h30m");
        assert_eq!(human(Duration::from_secs(600)), "10m");
        assert_eq!(human(Duration::from_secs(59)), "59s");
        assert_eq!(human(Duration::from_secs(0)), "0s");
    }
}
