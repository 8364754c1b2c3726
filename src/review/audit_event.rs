//! One Kubernetes audit event (`audit.k8s.io/v1` `Event`), reduced to what a review shows,
//! and the parse of one log line: an Event, an `EventList` (as the webhook backend sends
//! them), or something else (counted, never fatal). Request and response bodies are never
//! kept: serde skips them, so a huge object costs its line buffer and nothing more.

use serde::Deserialize;
use std::collections::HashMap;

/// The `user.extra` key under which the API server records a token's credential id.
pub const CREDENTIAL_ID_KEY: &str = crate::grant::audit::CREDENTIAL_ID_KEY;
/// The annotation a TokenRequest's event carries naming the credential it issued.
pub const ISSUED_CREDENTIAL_ID_KEY: &str = "authentication.kubernetes.io/issued-credential-id";

/// An audit event: the fields a review reads; everything else is skipped unread.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default, rename = "auditID")]
    pub audit_id: Option<String>,
    #[serde(default)]
    pub stage: Option<String>,
    #[serde(default, rename = "requestURI")]
    pub request_uri: Option<String>,
    #[serde(default)]
    pub verb: Option<String>,
    #[serde(default)]
    pub user: Option<User>,
    #[serde(default, rename = "sourceIPs")]
    pub source_ips: Vec<String>,
    #[serde(default)]
    pub user_agent: Option<String>,
    #[serde(default)]
    pub object_ref: Option<ObjectRef>,
    #[serde(default)]
    pub response_status: Option<ResponseStatus>,
    #[serde(default)]
    pub request_received_timestamp: Option<String>,
    #[serde(default)]
    pub stage_timestamp: Option<String>,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
}

/// `user` of an event: who the API server authenticated.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct User {
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub extra: HashMap<String, Vec<String>>,
}

/// `objectRef` of an event: what the request was about.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    #[serde(default)]
    pub resource: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub api_group: Option<String>,
    #[serde(default)]
    pub subresource: Option<String>,
}

/// `responseStatus` of an event.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ResponseStatus {
    #[serde(default)]
    pub code: Option<i64>,
}

/// A line that holds events only in outline: the time, to say which range a log covers.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Outline {
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default, rename = "auditID")]
    pub audit_id: Option<String>,
    #[serde(default)]
    pub verb: Option<String>,
    #[serde(default)]
    pub request_received_timestamp: Option<String>,
}

#[derive(Deserialize)]
struct List<E> {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default = "Vec::new")]
    items: Vec<E>,
}

/// What is known of an event, in full or in outline.
pub trait AuditShape {
    fn kind(&self) -> Option<&str>;
    fn looks_like_event(&self) -> bool;
}

impl AuditShape for Event {
    fn kind(&self) -> Option<&str> {
        self.kind.as_deref()
    }
    fn looks_like_event(&self) -> bool {
        shape_ok(self.kind(), self.audit_id.is_some(), self.verb.is_some())
    }
}

impl AuditShape for Outline {
    fn kind(&self) -> Option<&str> {
        self.kind.as_deref()
    }
    fn looks_like_event(&self) -> bool {
        shape_ok(self.kind(), self.audit_id.is_some(), self.verb.is_some())
    }
}

/// An Event says so; a SIEM's export may drop `kind` but keeps `auditID` and `verb`.
fn shape_ok(kind: Option<&str>, has_id: bool, has_verb: bool) -> bool {
    match kind {
        Some(k) => k == "Event",
        None => has_id && has_verb,
    }
}

/// Parses one line into its events: one for an Event, its items for an EventList, None for
/// anything that is not audit JSON (the caller counts it).
pub fn parse_line<E>(line: &[u8]) -> Option<Vec<E>>
where
    E: AuditShape + for<'de> Deserialize<'de>,
{
    let line = line.trim_ascii();
    if line.is_empty() {
        return Some(Vec::new());
    }
    // Most lines are Events: try the list shape only when the line mentions one.
    if memchr::memmem::find(line, b"EventList\"").is_some() {
        if let Ok(list) = serde_json::from_slice::<List<E>>(line) {
            if list.kind.as_deref() == Some("EventList") {
                return list
                    .items
                    .into_iter()
                    .map(|e| e.looks_like_event().then_some(e))
                    .collect();
            }
        }
    }
    let event: E = serde_json::from_slice(line).ok()?;
    event.looks_like_event().then(|| vec![event])
}

/// The time of a line in the API server's own format (`{"kind":"Event",...}`), read
/// without parsing the line: the fast path for the lines a review does not keep. Anything
/// else (`EventList`s, a SIEM's reordered export, a damaged line) returns None and is parsed.
pub fn quick_time(line: &[u8]) -> Option<&str> {
    const NEEDLE: &[u8] = b"\"requestReceivedTimestamp\":\"";
    let line = line.trim_ascii();
    if !line.starts_with(b"{\"kind\":\"Event\",") || !line.ends_with(b"}") {
        return None;
    }
    let at = memchr::memmem::find(line, NEEDLE)? + NEEDLE.len();
    let len = memchr::memchr(b'"', &line[at..])?;
    std::str::from_utf8(&line[at..at + len]).ok()
}

impl Event {
    /// The credential ids the API server attached to the caller (`user.extra`).
    pub fn credential_ids(&self) -> &[String] {
        self.user
            .as_ref()
            .and_then(|u| u.extra.get(CREDENTIAL_ID_KEY))
            .map_or(&[], Vec::as_slice)
    }

    /// The credential id a TokenRequest issued, if this event is one.
    pub fn issued_credential_id(&self) -> Option<&str> {
        self.annotations
            .get(ISSUED_CREDENTIAL_ID_KEY)
            .map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const USE: &str = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a1","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/secrets/db","verb":"get","user":{"username":"system:serviceaccount:breakglass:cluster-admin","groups":["system:serviceaccounts"],"extra":{"authentication.kubernetes.io/credential-id":["JTI=abc"]}},"sourceIPs":["127.0.0.1"],"userAgent":"kubectl/v1.37.2","objectRef":{"resource":"secrets","namespace":"default","name":"db","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-11-29T08:00:00.000001Z","stageTimestamp":"2026-11-29T08:00:00.002Z"}"#;

    #[test]
    fn an_event_line_gives_its_fields() {
        let events: Vec<Event> = parse_line(USE.as_bytes()).unwrap();
        let e = &events[0];
        assert_eq!(e.credential_ids(), ["JTI=abc"]);
        assert_eq!(e.verb.as_deref(), Some("get"));
        let o = e.object_ref.as_ref().unwrap();
        assert_eq!(o.resource.as_deref(), Some("secrets"));
        assert_eq!(o.name.as_deref(), Some("db"));
        assert_eq!(e.response_status.as_ref().unwrap().code, Some(200));
        assert_eq!(e.source_ips, ["127.0.0.1"]);
    }

    #[test]
    fn an_event_without_user_extra_has_no_credential_id() {
        let line = r#"{"kind":"Event","auditID":"x","verb":"list","user":{"username":"alice@example.com"}}"#;
        let events: Vec<Event> = parse_line(line.as_bytes()).unwrap();
        assert!(events[0].credential_ids().is_empty());
        let line = r#"{"kind":"Event","auditID":"x","verb":"get","responseStatus":{"code":401}}"#;
        let events: Vec<Event> = parse_line(line.as_bytes()).unwrap();
        assert!(events[0].credential_ids().is_empty());
        assert!(events[0].issued_credential_id().is_none());
    }

    #[test]
    fn an_event_list_gives_its_items() {
        let line = format!(
            r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{{}},"items":[{USE},{USE}]}}"#
        );
        let events: Vec<Event> = parse_line(line.as_bytes()).unwrap();
        assert_eq!(events.len(), 2);
        let outlines: Vec<Outline> = parse_line(line.as_bytes()).unwrap();
        assert_eq!(
            outlines[1].request_received_timestamp.as_deref(),
            Some("2026-11-29T08:00:00.000001Z")
        );
    }

    #[test]
    fn what_is_not_audit_json_is_refused_not_fatal() {
        for line in [
            "not json",
            "{\"kind\":\"Event\",",
            "[1,2]",
            r#"{"kind":"Pod","metadata":{}}"#,
            r#"{"hello":"world"}"#,
            r#"{"kind":"Event","verb":3}"#,
            r#"{"kind":"EventList","items":[{"kind":"Pod"}]}"#,
        ] {
            assert!(parse_line::<Event>(line.as_bytes()).is_none(), "{line}");
            assert!(parse_line::<Outline>(line.as_bytes()).is_none(), "{line}");
        }
        assert_eq!(parse_line::<Event>(b"   ").unwrap().len(), 0);
    }

    #[test]
    fn a_huge_request_object_is_skipped_unread() {
        let big = "x".repeat(8 << 20);
        let line = USE.replace(
            "\"requestReceivedTimestamp\"",
            &format!(
                "\"requestObject\":{{\"data\":{{\"k\":\"{big}\"}}}},\"requestReceivedTimestamp\""
            ),
        );
        let events: Vec<Event> = parse_line(line.as_bytes()).unwrap();
        assert_eq!(events[0].credential_ids(), ["JTI=abc"]);
    }

    #[test]
    fn the_fast_path_takes_only_the_servers_own_whole_lines() {
        assert_eq!(
            quick_time(USE.as_bytes()),
            Some("2026-11-29T08:00:00.000001Z")
        );
        let cut = &USE[..USE.len() - 1];
        assert_eq!(quick_time(cut.as_bytes()), None, "a damaged line is parsed");
        let list = format!(r#"{{"kind":"EventList","items":[{USE}]}}"#);
        assert_eq!(quick_time(list.as_bytes()), None);
        assert_eq!(quick_time(br#"{"kind":"Event","auditID":"x"}"#), None);
    }
}
