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
        let _ = write!(out, "\n{}", crate::grant::output::columns(&rows));
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
        let _ = write!(out, "{}", crate::grant::output::columns(&rows));
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
    rows.extend(r.timeline.iter().map(|a| {
        vec![
            a.time.clone(),
            verb(a),
            resource_label(a),
            object(a),
            code(a),
            a.source_ips.join(","),
            a.user_agent.clone(),
        ]
    }));
    let _ = write!(out, "{}", crate::grant::output::columns(&rows));
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
        table_md(&mut out, &r.flagged, true);
    }
    let _ = writeln!(out, "\n### Timeline\n");
    table_md(&mut out, &r.timeline, false);
    if r.timeline_left_out > 0 {
        let _ = writeln!(
            out,
            "\n… and {} later event(s) left out.",
            r.timeline_left_out
        );
    }
    out
}

fn table_md(out: &mut String, actions: &[Action], with_flags: bool) {
    let _ = writeln!(
        out,
        "| time | verb | resource | object | code | source IP | user agent |{}",
        if with_flags { " flags |" } else { "" }
    );
    let _ = writeln!(
        out,
        "| --- | --- | --- | --- | ---: | --- | --- |{}",
        if with_flags { " --- |" } else { "" }
    );
    for a in actions {
        let _ = write!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            md(&a.time),
            md(&verb(a)),
            md(&resource_label(a)),
            md(&object(a)),
            code(a),
            md(&a.source_ips.join(",")),
            md(&a.user_agent)
        );
        if with_flags {
            let _ = write!(out, " {} |", flag_list(a));
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_cannot_be_driven_by_what_the_audited_wrote() {
        assert_eq!(md("a|b](http://x)\n"), "a\\|b\\]\\(http\\:\\/\\/x\\)\\\\n");
        assert!(!md("x\u{1b}[2J").contains('\u{1b}'));
    }
}
