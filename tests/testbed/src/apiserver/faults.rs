//! Fault injection: latency, error statuses, dropped connections and conflicts for requests
//! whose method and path match a rule, on chosen (1-based) matching calls.

use serde::{Deserialize, Serialize};
use std::ops::RangeInclusive;
use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// Answer normally after this delay.
    Latency(Duration),
    /// A `Status` body with the real reason for this code.
    Status(u16),
    /// Close the connection without a response.
    Drop,
    /// A 409 Conflict `Status`.
    Conflict,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    /// HTTP method (e.g. "POST"); None = any.
    pub method: Option<String>,
    /// Matches when the request path (with query) contains this.
    pub path_contains: String,
    /// Which matching calls (1-based count) the fault applies to.
    pub on_calls: RangeInclusive<u32>,
    pub kind: FaultKind,
}

/// The JSON form of a rule for `POST /testbed/faults`:
/// `{"method":"POST","path_contains":"/token","on_calls":[1,2],"kind":{"status":503}}`;
/// kind is `{"latency_ms":N}`, `{"status":N}`, `"drop"` or `"conflict"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FaultRuleJson {
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub path_contains: String,
    #[serde(default)]
    pub on_calls: Option<(u32, u32)>,
    pub kind: FaultKindJson,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKindJson {
    LatencyMs(u64),
    Status(u16),
    Drop,
    Conflict,
}

impl From<FaultRuleJson> for FaultRule {
    fn from(j: FaultRuleJson) -> FaultRule {
        let (a, b) = j.on_calls.unwrap_or((1, u32::MAX));
        FaultRule {
            method: j.method,
            path_contains: j.path_contains,
            on_calls: a..=b,
            kind: match j.kind {
                FaultKindJson::LatencyMs(ms) => FaultKind::Latency(Duration::from_millis(ms)),
                FaultKindJson::Status(c) => FaultKind::Status(c),
                FaultKindJson::Drop => FaultKind::Drop,
                FaultKindJson::Conflict => FaultKind::Conflict,
            },
        }
    }
}

/// The active rules, each with its count of matching calls.
#[derive(Default)]
pub struct Faults {
    rules: Mutex<Vec<(FaultRule, u32)>>,
}

impl Faults {
    pub fn add(&self, rule: FaultRule) {
        self.rules.lock().unwrap().push((rule, 0));
    }

    pub fn clear(&self) {
        self.rules.lock().unwrap().clear();
    }

    /// Counts this call against every matching rule; returns the first fault that applies.
    pub(crate) fn check(&self, method: &str, path_and_query: &str) -> Option<FaultKind> {
        let mut hit = None;
        for (rule, count) in self.rules.lock().unwrap().iter_mut() {
            let method_ok = rule
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method));
            if !method_ok || !path_and_query.contains(&rule.path_contains) {
                continue;
            }
            *count += 1;
            if hit.is_none() && rule.on_calls.contains(count) {
                hit = Some(rule.kind.clone());
            }
        }
        hit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_matching_calls_only() {
        let f = Faults::default();
        f.add(FaultRule {
            method: Some("GET".into()),
            path_contains: "/secrets".into(),
            on_calls: 2..=2,
            kind: FaultKind::Status(503),
        });
        assert_eq!(f.check("GET", "/api/v1/configmaps"), None);
        assert_eq!(f.check("POST", "/api/v1/secrets"), None);
        assert_eq!(f.check("GET", "/api/v1/secrets"), None);
        assert_eq!(
            f.check("GET", "/api/v1/secrets"),
            Some(FaultKind::Status(503))
        );
        assert_eq!(f.check("GET", "/api/v1/secrets"), None);
    }

    #[test]
    fn json_form() {
        let j: FaultRuleJson = serde_json::from_str(
            r#"{"path_contains":"/token","on_calls":[1,3],"kind":{"latency_ms":20}}"#,
        )
        .unwrap();
        let r: FaultRule = j.into();
        assert_eq!(r.on_calls, 1..=3);
        assert_eq!(r.kind, FaultKind::Latency(Duration::from_millis(20)));
    }
}
