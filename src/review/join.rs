//! The join: one pass over the audit log keeping only the events of one grant's token — every
//! call made with it (`user.extra[credential-id] = JTI=<jti>`) and the TokenRequest that
//! minted it (`annotations[issued-credential-id]`) — with what reviewers must look at flagged.
//! Memory is bounded: a line at a time, the earliest `limit` actions, counts for the rest.

use super::audit_event::{parse_line, quick_time, Event, Outline};
use super::error::ReviewError;
use super::input::{next_line, Line, Source, MAX_LINE};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, BinaryHeap};

/// What a reviewer must look at in an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Flag {
    /// get/list/watch of Secrets.
    SecretRead,
    /// pods/exec, pods/attach, pods/portforward.
    ExecAttachPortForward,
    /// A write to RBAC (roles, bindings).
    RbacChange,
    /// A write to admission policies or webhooks (the break-glass protocol's guards).
    AdmissionPolicyChange,
    /// delete or deletecollection of anything.
    Delete,
    /// A write in the break-glass namespace: the audit trail itself.
    BreakglassNamespaceWrite,
    /// Made after the grant ended (revoked or expired): a revocation that did not hold.
    AfterGrantEnded,
}

impl Flag {
    /// How the flag reads in a report for people.
    pub fn label(self) -> &'static str {
        match self {
            Flag::SecretRead => "Secret read",
            Flag::ExecAttachPortForward => "exec/attach/portforward",
            Flag::RbacChange => "RBAC change",
            Flag::AdmissionPolicyChange => "admission policy change",
            Flag::Delete => "delete",
            Flag::BreakglassNamespaceWrite => "write to the breakglass namespace",
            Flag::AfterGrantEnded => "after the grant ended",
        }
    }
}

/// How an event belongs to the grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum How {
    /// The TokenRequest that issued the grant's token (made by the requester).
    Minted,
    /// A call made with the grant's token.
    Used,
}

/// One event of the grant, as the timeline shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Action {
    /// `requestReceivedTimestamp` (else `stageTimestamp`), as logged.
    pub time: String,
    pub how: How,
    pub verb: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub api_group: String,
    pub resource: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub subresource: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The response code (absent when the log has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
    pub user: String,
    pub user_agent: String,
    #[serde(rename = "sourceIPs")]
    pub source_ips: Vec<String>,
    pub request_uri: String,
    #[serde(rename = "auditID")]
    pub audit_id: String,
    pub flags: Vec<Flag>,
    #[serde(skip)]
    at: Option<DateTime<Utc>>,
}

/// Counts of what a log held.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogStats {
    pub sources: Vec<String>,
    /// Non-empty lines read.
    pub lines: u64,
    /// Audit events read (an EventList counts its items).
    pub events: u64,
    /// Lines that were not an audit event (not JSON, another kind): skipped.
    pub malformed_lines: u64,
    /// Lines over the 64 MiB cap: skipped.
    pub too_long_lines: u64,
    /// Events of the grant at a stage other than ResponseComplete/Panic (RequestReceived,
    /// ResponseStarted): the same request is counted once, at its end.
    pub other_stage_events: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_event: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_event: Option<String>,
    #[serde(skip)]
    range: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

/// One line of the summary: how often a verb was used on a resource.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Count {
    pub verb: String,
    /// `resource` or `resource/subresource`, with `.group` for API groups other than core.
    pub resource: String,
    pub count: u64,
    /// Of those, answered with a code of 400 or more.
    pub failed: u64,
}

/// The join of a log to one grant.
pub struct Join {
    key: String,
    finder: memchr::memmem::Finder<'static>,
    ended: Option<DateTime<Utc>>,
    limit: usize,
    seq: u64,
    pub stats: LogStats,
    timeline: BinaryHeap<Keyed>,
    flagged: BinaryHeap<Keyed>,
    pub actions: u64,
    pub minted: u64,
    summary: BTreeMap<(String, String), (u64, u64)>,
    pub flag_counts: BTreeMap<Flag, u64>,
}

/// An action ordered by time, then by reading order.
struct Keyed(Option<DateTime<Utc>>, u64, Action);

impl PartialEq for Keyed {
    fn eq(&self, o: &Self) -> bool {
        (self.0, self.1) == (o.0, o.1)
    }
}
impl Eq for Keyed {}
impl PartialOrd for Keyed {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Keyed {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.0, self.1).cmp(&(o.0, o.1))
    }
}

/// Slack for comparing audit times (microseconds) with the record's (whole seconds,
/// written just after the revocation was confirmed).
const END_SLACK: chrono::TimeDelta = chrono::TimeDelta::seconds(1);

impl Join {
    /// A join on credential id `JTI=<jti>`; `ended` is when the grant ended (revoked or
    /// expired), if it has; the timeline keeps the earliest `limit` actions.
    pub fn new(jti: &str, ended: Option<DateTime<Utc>>, limit: usize) -> Join {
        let key = format!("JTI={jti}");
        Join {
            finder: memchr::memmem::Finder::new(key.as_bytes()).into_owned(),
            key,
            ended,
            limit,
            seq: 0,
            stats: LogStats::default(),
            timeline: BinaryHeap::new(),
            flagged: BinaryHeap::new(),
            actions: 0,
            minted: 0,
            summary: BTreeMap::new(),
            flag_counts: BTreeMap::new(),
        }
    }

    /// Reads every line of `source`. A source that holds lines but no audit event is refused.
    pub fn read(&mut self, source: &mut Source) -> Result<(), ReviewError> {
        self.stats.sources.push(source.name.clone());
        let (lines_before, events_before) = (self.stats.lines, self.stats.events);
        let mut buf = Vec::with_capacity(64 << 10);
        loop {
            let read = next_line(&mut *source.reader, &mut buf, MAX_LINE).map_err(|cause| {
                ReviewError::Unreadable {
                    path: source.name.clone(),
                    cause,
                }
            })?;
            match read {
                Line::End => break,
                Line::TooLong => {
                    self.stats.lines += 1;
                    self.stats.too_long_lines += 1;
                }
                Line::Read => self.line(&buf),
            }
        }
        let lines = self.stats.lines - lines_before;
        if lines > 0 && self.stats.events == events_before {
            return Err(ReviewError::NotAuditLog {
                path: source.name.clone(),
                lines,
            });
        }
        Ok(())
    }

    /// One line: parsed in full only when it mentions the key; the others only for their
    /// time, read straight from a line in the API server's own format, else by parsing.
    pub fn line(&mut self, line: &[u8]) {
        if line.trim_ascii().is_empty() {
            return;
        }
        self.stats.lines += 1;
        if self.finder.find(line).is_some() {
            match parse_line::<Event>(line) {
                Some(events) => events.into_iter().for_each(|e| self.event(e)),
                None => self.stats.malformed_lines += 1,
            }
        } else if let Some(time) = quick_time(line) {
            self.stats.events += 1;
            self.seen(Some(time));
        } else {
            match parse_line::<Outline>(line) {
                Some(events) => {
                    for e in events {
                        self.stats.events += 1;
                        self.seen(e.request_received_timestamp.as_deref());
                    }
                }
                None => self.stats.malformed_lines += 1,
            }
        }
    }

    fn seen(&mut self, time: Option<&str>) -> Option<DateTime<Utc>> {
        let t = time
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))?;
        self.stats.range = Some(match self.stats.range {
            None => (t, t),
            Some((a, b)) => (a.min(t), b.max(t)),
        });
        Some(t)
    }

    fn event(&mut self, e: Event) {
        self.stats.events += 1;
        let time = e
            .request_received_timestamp
            .clone()
            .or_else(|| e.stage_timestamp.clone())
            .unwrap_or_default();
        let at = self.seen(Some(&time));
        let how = if e.credential_ids().contains(&self.key) {
            How::Used
        } else if e.issued_credential_id() == Some(self.key.as_str()) {
            How::Minted
        } else {
            return;
        };
        if !matches!(
            e.stage.as_deref(),
            None | Some("ResponseComplete" | "Panic")
        ) {
            self.stats.other_stage_events += 1;
            return;
        }
        let o = e.object_ref.clone().unwrap_or_default();
        let mut action = Action {
            time,
            how,
            verb: e.verb.clone().unwrap_or_default(),
            api_group: o.api_group.unwrap_or_default(),
            resource: o.resource.unwrap_or_default(),
            subresource: o.subresource.unwrap_or_default(),
            namespace: o.namespace.unwrap_or_default(),
            name: o.name.unwrap_or_default(),
            code: e.response_status.as_ref().and_then(|s| s.code),
            user: e
                .user
                .as_ref()
                .and_then(|u| u.username.clone())
                .unwrap_or_default(),
            user_agent: e.user_agent.clone().unwrap_or_default(),
            source_ips: e.source_ips.clone(),
            request_uri: e.request_uri.clone().unwrap_or_default(),
            audit_id: e.audit_id.clone().unwrap_or_default(),
            flags: Vec::new(),
            at,
        };
        action.flags = flags(&action, self.ended);
        match how {
            How::Minted => self.minted += 1,
            How::Used => {
                self.actions += 1;
                let c = self
                    .summary
                    .entry((action.verb.clone(), resource_label(&action)))
                    .or_default();
                c.0 += 1;
                if action.code.is_some_and(|c| c >= 400) {
                    c.1 += 1;
                }
                for f in &action.flags {
                    *self.flag_counts.entry(*f).or_default() += 1;
                }
            }
        }
        self.seq += 1;
        if !action.flags.is_empty() {
            keep(
                &mut self.flagged,
                Keyed(at, self.seq, action.clone()),
                self.limit,
            );
        }
        keep(&mut self.timeline, Keyed(at, self.seq, action), self.limit);
    }

    /// The earliest actions (oldest first), up to the limit, and how many were left out.
    pub fn timeline(&self) -> (Vec<Action>, u64) {
        let shown = sorted(&self.timeline);
        let left_out = (self.actions + self.minted).saturating_sub(shown.len() as u64);
        (shown, left_out)
    }

    /// The flagged actions (oldest first), up to the limit.
    pub fn flagged(&self) -> Vec<Action> {
        sorted(&self.flagged)
    }

    /// Counts by verb and resource, most frequent first.
    pub fn summary(&self) -> Vec<Count> {
        let mut all: Vec<Count> = self
            .summary
            .iter()
            .map(|((verb, resource), (count, failed))| Count {
                verb: verb.clone(),
                resource: resource.clone(),
                count: *count,
                failed: *failed,
            })
            .collect();
        all.sort_by_key(|c| std::cmp::Reverse(c.count));
        all
    }

    /// The log's counts, with its time range written out.
    pub fn stats(&self) -> LogStats {
        let mut s = self.stats.clone();
        if let Some((a, b)) = s.range {
            s.first_event = Some(crate::grant::model::record::timestamp(a));
            s.last_event = Some(crate::grant::model::record::timestamp(b));
        }
        s
    }
}

fn keep(heap: &mut BinaryHeap<Keyed>, k: Keyed, limit: usize) {
    heap.push(k);
    if heap.len() > limit {
        heap.pop(); // the latest
    }
}

fn sorted(heap: &BinaryHeap<Keyed>) -> Vec<Action> {
    let mut all: Vec<&Keyed> = heap.iter().collect();
    all.sort();
    all.into_iter().map(|k| k.2.clone()).collect()
}

/// `resource[/subresource][.group]`, as the summary and timeline show it.
pub fn resource_label(a: &Action) -> String {
    let mut s = a.resource.clone();
    if !a.subresource.is_empty() {
        s.push('/');
        s.push_str(&a.subresource);
    }
    if !a.api_group.is_empty() {
        s.push('.');
        s.push_str(&a.api_group);
    }
    if s.is_empty() {
        // A non-resource URL (/version, /apis): the path is what was asked for.
        s = a
            .request_uri
            .split('?')
            .next()
            .unwrap_or_default()
            .to_string();
    }
    s
}

fn flags(a: &Action, ended: Option<DateTime<Utc>>) -> Vec<Flag> {
    let mut f = Vec::new();
    if let (Some(at), Some(end)) = (a.at, ended) {
        if at > end + END_SLACK {
            f.push(Flag::AfterGrantEnded);
        }
    }
    if a.how == How::Minted {
        // The requester's own TokenRequest is the protocol, not an action of the grant.
        return f;
    }
    let verb = a.verb.as_str();
    let write = matches!(
        verb,
        "create" | "update" | "patch" | "delete" | "deletecollection"
    );
    let group = a.api_group.as_str();
    if a.resource == "secrets" && group.is_empty() && matches!(verb, "get" | "list" | "watch") {
        f.push(Flag::SecretRead);
    }
    if a.resource == "pods" && matches!(a.subresource.as_str(), "exec" | "attach" | "portforward") {
        f.push(Flag::ExecAttachPortForward);
    }
    if write && group == "rbac.authorization.k8s.io" {
        f.push(Flag::RbacChange);
    }
    if write && group == "admissionregistration.k8s.io" {
        f.push(Flag::AdmissionPolicyChange);
    }
    if matches!(verb, "delete" | "deletecollection") {
        f.push(Flag::Delete);
    }
    let ns = crate::grant::NAMESPACE;
    if write && (a.namespace == ns || (a.resource == "namespaces" && a.name == ns)) {
        f.push(Flag::BreakglassNamespaceWrite);
    }
    f.sort();
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: &str, time: &str, verb: &str, res: &str, extra: &str) -> String {
        format!(
            r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"{id}","stage":"ResponseComplete","verb":"{verb}","user":{{"username":"sa","extra":{{"authentication.kubernetes.io/credential-id":["JTI=j1"]}}}},"objectRef":{{{res}}},"responseStatus":{{"code":200}},"requestReceivedTimestamp":"{time}"{extra}}}"#
        )
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn only_the_grants_events_are_kept_flagged_and_counted() {
        let mut j = Join::new("j1", Some(t("2026-11-29T08:10:00Z")), 100);
        let lines = [
            line("1", "2026-11-29T08:01:00.5Z", "get", r#""resource":"secrets","namespace":"default","name":"db""#, ""),
            line("2", "2026-11-29T08:02:00Z", "create", r#""resource":"pods","subresource":"exec","namespace":"default","name":"web""#, ""),
            line("3", "2026-11-29T08:03:00Z", "delete", r#""resource":"validatingadmissionpolicybindings","apiGroup":"admissionregistration.k8s.io","name":"x""#, ""),
            line("4", "2026-11-29T08:04:00Z", "patch", r#""resource":"breakglassgrants","apiGroup":"breakglass.dev","namespace":"breakglass","name":"grant-000001""#, ""),
            line("5", "2026-11-29T08:05:00Z", "create", r#""resource":"rolebindings","apiGroup":"rbac.authorization.k8s.io","namespace":"default""#, ""),
            line("6", "2026-11-29T08:10:00.9Z", "list", r#""resource":"pods""#, ""),
            line("7", "2026-11-29T08:10:02Z", "list", r#""resource":"pods""#, ""),
            // another token: read for the range, not kept
            line("8", "2026-11-29T07:00:00Z", "get", r#""resource":"secrets""#, "").replace("JTI=j1", "JTI=other"),
            // the minting TokenRequest, made by the person
            r#"{"kind":"Event","auditID":"0","stage":"ResponseComplete","verb":"create","user":{"username":"alice"},"objectRef":{"resource":"serviceaccounts","subresource":"token","namespace":"breakglass","name":"cluster-admin"},"responseStatus":{"code":201},"requestReceivedTimestamp":"2026-11-29T08:00:00Z","annotations":{"authentication.kubernetes.io/issued-credential-id":"JTI=j1"}}"#.to_string(),
            // the same request's first stage: counted once, at its end
            line("6", "2026-11-29T08:10:00.9Z", "list", r#""resource":"pods""#, "").replace("ResponseComplete", "RequestReceived"),
            "garbage".to_string(),
            String::new(),
        ];
        for l in &lines {
            j.line(l.as_bytes());
        }
        let s = j.stats();
        assert_eq!(
            (s.lines, s.events, s.malformed_lines, s.other_stage_events),
            (11, 10, 1, 1)
        );
        assert_eq!(s.first_event.as_deref(), Some("2026-11-29T07:00:00Z"));
        assert_eq!(s.last_event.as_deref(), Some("2026-11-29T08:10:02Z"));
        assert_eq!((j.actions, j.minted), (7, 1));
        let (timeline, left_out) = j.timeline();
        assert_eq!(left_out, 0);
        let ids: Vec<&str> = timeline.iter().map(|a| a.audit_id.as_str()).collect();
        assert_eq!(ids, ["0", "1", "2", "3", "4", "5", "6", "7"]);
        assert_eq!(timeline[0].how, How::Minted);
        assert!(timeline[0].flags.is_empty(), "the mint is the protocol");
        assert_eq!(timeline[1].flags, [Flag::SecretRead]);
        assert_eq!(timeline[2].flags, [Flag::ExecAttachPortForward]);
        assert_eq!(
            timeline[3].flags,
            [Flag::AdmissionPolicyChange, Flag::Delete]
        );
        assert_eq!(timeline[4].flags, [Flag::BreakglassNamespaceWrite]);
        assert_eq!(timeline[5].flags, [Flag::RbacChange]);
        assert!(
            timeline[6].flags.is_empty(),
            "within a second of the end: the record's rounding"
        );
        assert_eq!(timeline[7].flags, [Flag::AfterGrantEnded]);
        assert_eq!(j.flagged().len(), 6);
        let summary = j.summary();
        assert_eq!(summary[0].verb, "list");
        assert_eq!(summary[0].resource, "pods");
        assert_eq!(summary[0].count, 2);
        assert_eq!(resource_label(&timeline[2]), "pods/exec");
    }

    #[test]
    fn the_timeline_keeps_the_earliest_and_counts_the_rest() {
        let mut j = Join::new("j1", None, 3);
        for i in (0..10).rev() {
            j.line(
                line(
                    &i.to_string(),
                    &format!("2026-11-29T08:00:0{i}Z"),
                    "get",
                    r#""resource":"pods""#,
                    "",
                )
                .as_bytes(),
            );
        }
        let (timeline, left_out) = j.timeline();
        let ids: Vec<&str> = timeline.iter().map(|a| a.audit_id.as_str()).collect();
        assert_eq!(ids, ["0", "1", "2"]);
        assert_eq!(left_out, 7);
        assert_eq!(j.summary()[0].count, 10);
    }

    #[test]
    fn a_source_without_audit_events_is_refused() {
        let mut j = Join::new("j1", None, 3);
        let mut src = Source {
            name: "notes.txt".into(),
            reader: Box::new(std::io::Cursor::new(b"hello\n{\"a\":1}\n".to_vec())),
        };
        let err = j.read(&mut src).unwrap_err();
        assert!(
            matches!(err, ReviewError::NotAuditLog { lines: 2, .. }),
            "{err}"
        );
        let mut src = Source {
            name: "audit.log".into(),
            reader: Box::new(std::io::Cursor::new(
                format!(
                    "garbage\n{}\n",
                    line(
                        "1",
                        "2026-11-29T08:00:00Z",
                        "get",
                        r#""resource":"pods""#,
                        ""
                    )
                )
                .into_bytes(),
            )),
        };
        j.read(&mut src).unwrap();
        // The counts run on over sources: two skipped lines above, one here.
        assert_eq!((j.stats.malformed_lines, j.actions), (3, 1));
    }
}
