//! Grant durations: parsed from `30m`/`1h`/`1h30m`, bounded by the API server's token minimum.

use std::time::Duration;

/// The shortest token a Kubernetes API server issues (`expirationSeconds` < 600 is refused).
pub const MIN_GRANT: Duration = Duration::from_secs(600);

/// Parses a duration like `30m`, `1h` or `1h30m`; says what a valid one looks like otherwise.
pub fn parse(text: &str) -> anyhow::Result<Duration> {
    let d = humantime::parse_duration(text.trim()).map_err(|e| {
        anyhow::anyhow!("invalid --duration {text:?} ({e}): use a duration such as 30m or 1h")
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
