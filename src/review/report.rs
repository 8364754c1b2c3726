//! The review report: the grant (who, why, when, how it ended), the summary, the flags and the
//! timeline; as a machine object (`-o json|yaml`), as text for people, as Markdown for the
//! incident ticket. Every string from the log or the record is shown escaped.

use super::join::{resource_label, Action, Count, Flag, How, LogStats};
use crate::grant::audit::Entry;
use crate::untrusted::Untrusted;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// What `review` reports.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Review {
    /// The record, in `audit`'s shape.
    pub grant: Entry,
    /// How the grant ended, as far as the record says.
    pub ended: Ended,
    pub log: LogStats,
    /// Calls made with the grant's token.
    pub actions: u64,
    /// TokenRequests that minted it (one, when the log covers the request).
    pub minted: u64,
    pub summary: Vec<Count>,
    /// How many actions carry each flag.
    pub flags: BTreeMap<Flag, u64>,
    /// The flagged actions, oldest first (up to the limit).
    pub flagged: Vec<Action>,
    /// Every action, oldest first (up to the limit).
    pub timeline: Vec<Action>,
    /// How many actions the timeline leaves out (past the limit).
    pub timeline_left_out: u64,
}

/// How a grant ended.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ended {
    /// `revoked`, `expired`, `failed`, or `live` (not yet).
    pub how: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

impl Ended {
    fn text(&self) -> String {
        match (self.how, &self.at, &self.by) {
            ("revoked", Some(at), Some(by)) => format!("revoked by {} at {at}", Untrusted(by)),
            ("revoked", Some(at), None) => format!("revoked at {at}"),
            ("expired", Some(at), _) => format!("expired at {at}"),
            ("live", Some(at), _) => format!("still live, until {at}"),
            (how, _, _) => how.to_string(),
        }
    }
}

fn flag_list(a: &Action) -> String {
    a.flags
        .iter()
        .map(|f| f.label())
        .collect::<Vec<_>>()
        .join(", ")
}

fn object(a: &Action) -> String {
    match (a.namespace.as_str(), a.name.as_str()) {
        ("", "") => "-".into(),
        ("", n) => n.into(),
        (ns, "") => format!("{ns}/"),
        (ns, n) => format!("{ns}/{n}"),
    }
}

fn code(a: &Action) -> String {
    a.code.map_or("-".into(), |c| c.to_string())
}

fn verb(a: &Action) -> String {
    match a.how {
        How::Minted => format!("{} (minted the token)", a.verb),
        How::Used => a.verb.clone(),
    }
}

/// A timeline row for people: one action, or a run of actions that differ only in time.
struct Run<'a> {
    first: &'a Action,
    last: &'a Action,
    count: usize,
}

impl Run<'_> {
    /// The verb, and for a run how many and until when (`create ×32 until …`).
    fn verb(&self) -> String {
        match self.count {
            1 => verb(self.first),
            n => format!("{} ×{n} until {}", verb(self.first), self.last.time),
        }
    }
}

/// Folds consecutive actions that read the same in every column but time — a client
/// polling (revoke's confirmation probes, a watch re-listing) — into one row each, so
/// the timeline shows what was done rather than how often a loop ran. Machine output
/// keeps every action.
fn runs(actions: &[Action]) -> Vec<Run<'_>> {
    let same = |a: &Action, b: &Action| {
        a.how == b.how
            && a.verb == b.verb
            && resource_label(a) == resource_label(b)
            && object(a) == object(b)
            && a.code == b.code
            && a.source_ips == b.source_ips
            && a.user_agent == b.user_agent
            && a.flags == b.flags
    };
    let mut out: Vec<Run<'_>> = Vec::new();
    for a in actions {
        match out.last_mut() {
            Some(run) if same(run.last, a) => {
                run.last = a;
                run.count += 1;
            }
            _ => out.push(Run {
                first: a,
                last: a,
                count: 1,
            }),
        }
    }
    out
}

/// The report for people (stdout).
pub fn text(r: &Review) -> String {
    let g = &r.grant.grant;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Grant {}: {} as {}",
        Untrusted(&g.name),
        // Standby hook (issue 13): "(standby)" when made through a standby credential.
        Untrusted(&g.requester_shown()),
        Untrusted(&g.role)
    );
    let _ = writeln!(out, "  reason:  {}", Untrusted(&g.reason));
    let _ = writeln!(
        out,
        "  ticket:  {}",
        Untrusted(g.ticket.as_deref().unwrap_or("-"))
    );
    let _ = writeln!(
        out,
        "  from:    {} to {}",
        Untrusted(&g.start),
        Untrusted(&g.expiry)
    );
    let _ = writeln!(out, "  ended:   {}", r.ended.text());
    let _ = writeln!(
        out,
        "  token:   {}",
        Untrusted(r.grant.audit_log_credential_id.as_deref().unwrap_or("-"))
    );
    let _ = writeln!(
        out,
        "  log:     {} event(s) from {} to {}; {} line(s) skipped as not audit JSON, {} over 64 MiB",
        r.log.events,
        r.log.first_event.as_deref().unwrap_or("-"),
        r.log.last_event.as_deref().unwrap_or("-"),
        r.log.malformed_lines,
        r.log.too_long_lines
    );
    let _ = writeln!(
        out,
        "\n{} call(s) made with the token; minted {} time(s) in this log.",
        r.actions, r.minted
    );
    if !r.summary.is_empty() {
        let mut rows = vec![["COUNT", "FAILED", "VERB", "RESOURCE"]
            .map(String::from)
            .to_vec()];
        rows.extend(r.summary.iter().map(|c| {
            vec![
                c.count.to_string(),
                c.failed.to_string(),
                c.verb.clone(),
                c.resource.clone(),
            ]
        }));
        let _ = write!(out, "\n{}", crate::output::columns(&rows));
    }
    if r.flags.is_empty() {
        let _ = writeln!(out, "\nFlags: none.");
    } else {
        let counts: Vec<String> = r
            .flags
            .iter()
            .map(|(f, n)| format!("{} ×{n}", f.label()))
            .collect();
        let _ = writeln!(out, "\nFlags: {}", counts.join(", "));
        let mut rows = vec![["TIME", "VERB", "RESOURCE", "OBJECT", "CODE", "FLAGS"]
            .map(String::from)
            .to_vec()];
        rows.extend(r.flagged.iter().map(|a| {
            vec![
                a.time.clone(),
                verb(a),
                resource_label(a),
                object(a),
                code(a),
                flag_list(a),
            ]
        }));
        let _ = write!(out, "{}", crate::output::columns(&rows));
    }
    let _ = writeln!(out, "\nTimeline:");
    let mut rows = vec![[
        "TIME",
        "VERB",
        "RESOURCE",
        "OBJECT",
        "CODE",
        "SOURCE-IP",
        "USER-AGENT",
    ]
    .map(String::from)
    .to_vec()];
    rows.extend(runs(&r.timeline).iter().map(|run| {
        let a = run.first;
        vec![
            a.time.clone(),
            run.verb(),
            resource_label(a),
            object(a),
            code(a),
            a.source_ips.join(","),
            a.user_agent.clone(),
        ]
    }));
    let _ = write!(out, "{}", crate::output::columns(&rows));
    if r.timeline_left_out > 0 {
        let _ = writeln!(
            out,
            "... and {} later event(s) left out (--limit)",
            r.timeline_left_out
        );
    }
    out
}

/// Text from outside, safe inside Markdown: escaped like any untrusted text, then every
/// ASCII punctuation character backslash-escaped, so it cannot make a link, a heading, an
/// image or a table cell of its own.
fn md(s: &str) -> String {
    let shown = Untrusted(s).to_string();
    let mut out = String::with_capacity(shown.len());
    for c in shown.chars() {
        if c.is_ascii_punctuation() {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The report as Markdown, to paste into the incident ticket.
pub fn markdown(r: &Review) -> String {
    let g = &r.grant.grant;
    let mut out = String::new();
    let _ = writeln!(out, "## Break-glass review: {}\n", md(&g.name));
    let _ = writeln!(out, "| | |\n| --- | --- |");
    let _ = writeln!(out, "| requester | {} |", md(&g.requester_shown()));
    let _ = writeln!(out, "| role | {} |", md(&g.role));
    let _ = writeln!(out, "| reason | {} |", md(&g.reason));
    let _ = writeln!(
        out,
        "| ticket | {} |",
        md(g.ticket.as_deref().unwrap_or("-"))
    );
    let _ = writeln!(out, "| start | {} |", md(&g.start));
    let _ = writeln!(out, "| expiry | {} |", md(&g.expiry));
    let _ = writeln!(out, "| ended | {} |", md(&r.ended.text()));
    let _ = writeln!(
        out,
        "| credential id | {} |",
        md(r.grant.audit_log_credential_id.as_deref().unwrap_or("-"))
    );
    let _ = writeln!(
        out,
        "| audit log | {} events, {} to {}; {} malformed lines skipped |",
        r.log.events,
        md(r.log.first_event.as_deref().unwrap_or("-")),
        md(r.log.last_event.as_deref().unwrap_or("-")),
        r.log.malformed_lines
    );
    let _ = writeln!(out, "\n**{} call(s)** made with the token.\n", r.actions);
    if !r.summary.is_empty() {
        let _ = writeln!(
            out,
            "| count | failed | verb | resource |\n| ---: | ---: | --- | --- |"
        );
        for c in &r.summary {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                c.count,
                c.failed,
                md(&c.verb),
                md(&c.resource)
            );
        }
    }
    let _ = writeln!(out, "\n### Flags\n");
    if r.flags.is_empty() {
        let _ = writeln!(out, "None.");
    } else {
        for (f, n) in &r.flags {
            let _ = writeln!(out, "- **{}**: {n}", f.label());
        }
        let _ = writeln!(out);
        flagged_md(&mut out, &r.flagged);
    }
    let _ = writeln!(out, "\n### Timeline\n");
    timeline_md(&mut out, &r.timeline);
    if r.timeline_left_out > 0 {
        let _ = writeln!(
            out,
            "\n… and {} later event(s) left out.",
            r.timeline_left_out
        );
    }
    out
}

fn timeline_md(out: &mut String, actions: &[Action]) {
    let _ = writeln!(
        out,
        "| time | verb | resource | object | code | source IP | user agent |"
    );
    let _ = writeln!(out, "| --- | --- | --- | --- | ---: | --- | --- |");
    for run in runs(actions) {
        let a = run.first;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            md(&a.time),
            md(&run.verb()),
            md(&resource_label(a)),
            md(&object(a)),
            code(a),
            md(&a.source_ips.join(",")),
            md(&a.user_agent)
        );
    }
}

fn flagged_md(out: &mut String, actions: &[Action]) {
    let _ = writeln!(
        out,
        "| time | verb | resource | object | code | source IP | user agent | flags |"
    );
    let _ = writeln!(out, "| --- | --- | --- | --- | ---: | --- | --- | --- |");
    for a in actions {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            md(&a.time),
            md(&verb(a)),
            md(&resource_label(a)),
            md(&object(a)),
            code(a),
            md(&a.source_ips.join(",")),
            md(&a.user_agent),
            flag_list(a)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(id: u32, second: u32, verb: &str, resource: &str, agent: &str) -> String {
        format!(
            r#"{{"kind":"Event","auditID":"{id}","stage":"ResponseComplete","verb":"{verb}","user":{{"username":"sa","extra":{{"authentication.kubernetes.io/credential-id":["JTI=j1"]}}}},"objectRef":{{"resource":"{resource}"}},"responseStatus":{{"code":201}},"userAgent":"{agent}","requestReceivedTimestamp":"2026-11-29T08:00:{second:02}Z"}}"#
        )
    }

    #[test]
    fn a_polling_loop_folds_into_one_row_and_anything_different_breaks_the_run() {
        let mut join = super::super::join::Join::new("j1", None, 100);
        let mut lines = vec![call(1, 0, "list", "pods", "kubectl")];
        lines.extend((2..=33).map(|i| call(i, i, "create", "selfsubjectreviews", "probe")));
        lines.push(call(34, 40, "create", "selfsubjectreviews", "kubectl"));
        lines.push(call(35, 41, "create", "selfsubjectreviews", "probe"));
        for l in &lines {
            join.line(l.as_bytes());
        }
        let (timeline, _) = join.timeline();
        assert_eq!(timeline.len(), 35);
        let shown: Vec<(String, usize)> = runs(&timeline)
            .iter()
            .map(|r| (r.verb(), r.count))
            .collect();
        assert_eq!(
            shown,
            [
                ("list".to_string(), 1),
                ("create ×32 until 2026-11-29T08:00:33Z".to_string(), 32),
                ("create".to_string(), 1),
                ("create".to_string(), 1),
            ]
        );
        assert_eq!(runs(&timeline)[1].first.time, "2026-11-29T08:00:02Z");
    }

    #[test]
    fn markdown_cannot_be_driven_by_what_the_audited_wrote() {
        assert_eq!(md("a|b](http://x)\n"), "a\\|b\\]\\(http\\:\\/\\/x\\)\\\\n");
        assert!(!md("x\u{1b}[2J").contains('\u{1b}'));
    }
}
