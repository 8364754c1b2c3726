//! Grant durations: parsed from `30m`/`1h`/`1h30m`, bounded by the API server's token minimum.

use std::time::Duration;

/// The shortest token a Kubernetes API server issues (`expirationSeconds` < 600 is refused).
pub const MIN_GRANT: Duration = Duration::from_secs(600);

/// Parses a duration like `30m`, `1h` or `1h30m`; says what a valid one looks like otherwise.
pub fn parse(text: &str) -> anyhow::Result<Duration> {
    let t = text.trim();
    if t.starts_with('-') {
        anyhow::bail!(
            "invalid --duration {text:?}: a grant cannot last a negative time; use a duration \
             such as 30m or 1h"
        );
    }
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        anyhow::bail!(
            "invalid --duration {text:?}: give a unit, such as {t}m for minutes (30m, 1h and \
             1h30m are durations)"
        );
    }
    // humantime's own hints suggest units like `ms` that no grant can use: say ours.
    let d = humantime::parse_duration(t).map_err(|_| {
        anyhow::anyhow!(
            "invalid --duration {text:?}: use a number with a unit, such as 30m, 1h or 1h30m"
        )
    })?;
    Ok(Duration::from_secs(d.as_secs()))
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

    #[test]
    fn parses_what_people_type() {
        assert_eq!(parse("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse("1h30m").unwrap(), Duration::from_secs(5400));
        let err = parse("soon").unwrap_err().to_string();
        assert!(err.contains("30m"), "{err}");
        let err = parse("90").unwrap_err().to_string();
        assert!(err.contains("give a unit, such as 90m"), "{err}");
        assert!(!err.contains("ms"), "{err}");
        let err = parse("-5m").unwrap_err().to_string();
        assert!(err.contains("cannot last a negative time"), "{err}");
        assert_eq!(parse("1d").unwrap(), Duration::from_secs(86400));
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
