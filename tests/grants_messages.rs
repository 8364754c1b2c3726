//! Snapshots of what people read from `request`, `status`, `revoke` and the elevated
//! credential: help texts, every refusal, a fault, success output. A changed message is a
//! visible diff in `tests/snapshots/grants-*.txt`; after an intended change, re-run with
//! `BLESS=1 cargo test --test grants_messages` and review the diff.

mod common;

use breakglass_testbed::apiserver::{FaultKind, FaultRule};
use common::grants::Bed;
use common::snapshot::snapshot;
use common::*;
use serde_json::json;

/// Replaces what changes from run to run: the server URL, RFC 3339 times, token ids,
/// measured seconds.
fn normalize(bed: &Bed, text: &str) -> String {
    let mut out = text.replace(bed.pg.api.url(), "$SERVER");
    for r in bed.records() {
        if let Some(jti) = r["status"]["jti"].as_str() {
            out = out.replace(jti, "$JTI");
        }
    }
    let mut masked = String::new();
    let chars: Vec<char> = out.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        // 2026-11-27T11:55:51Z
        let is_time = i + 20 <= chars.len()
            && chars[i..i + 4].iter().all(char::is_ascii_digit)
            && chars[i + 4] == '-'
            && chars[i + 10] == 'T'
            && chars[i + 19] == 'Z';
        // "12.3 s"
        let secs_len = chars[i..]
            .iter()
            .take_while(|c| c.is_ascii_digit() || **c == '.')
            .count();
        if is_time {
            masked.push_str("$TIME");
            i += 20;
        } else if secs_len > 0
            && chars[i..i + secs_len].contains(&'.')
            && chars[i + secs_len..].starts_with(&[' ', 's', ' '])
            && (i == 0 || !chars[i - 1].is_ascii_alphanumeric())
        {
            masked.push_str("$SECS");
            i += secs_len;
        } else {
            masked.push(chars[i]);
            i += 1;
        }
    }
    masked
}

/// Appends one titled section (with the exit code) to a transcript; no token may show.
fn section(all: &mut String, title: &str, out: &std::process::Output, text: &str) {
    assert_no_jwt(text);
    let code = out.status.code().unwrap_or(-1);
    all.push_str(&format!("## {title} (exit {code})\n{text}"));
}

#[test]
fn help_texts() {
    let ca = breakglass_testbed::tls::Ca::generate().unwrap();
    let sb = Sandbox::new("https://idp.example.invalid", "kubectl-breakglass", &ca);
    for cmd in [
        "request", "status", "revoke", "audit", "review", "drill", "setup", "standby",
    ] {
        let out = sb
            .plugin(&[cmd, "--help"])
            .env("COLUMNS", "100")
            .output()
            .unwrap();
        assert_ok(&out, "help");
        snapshot(&format!("grants-help-{cmd}"), &stdout(&out));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_people_read() {
    let bed = Bed::start().await;
    let mut all = String::new();
    let mut show = |title: &str, out: &std::process::Output, text: String| {
        section(&mut all, title, out, &text)
    };
    let reason = "checkout is down, need to look";

    bed.login("bob").await;
    let out = bed.run(&["request", "--reason", reason]);
    show("bob", &out, normalize(&bed, &stderr(&out)));
    for (title, args) in [
        ("bob, status", vec!["status"]),
        ("bob, audit", vec!["audit"]),
        ("bob, revoke", vec!["revoke", "grant-000001"]),
    ] {
        let out = bed.run(&args);
        show(title, &out, normalize(&bed, &stderr(&out)));
    }
    bed.login("alice").await;
    for (title, args) in [
        ("no reason", vec!["request"]),
        ("short reason", vec!["request", "--reason", "down"]),
        (
            "unknown role",
            vec!["request", "--reason", reason, "--role", "root"],
        ),
        (
            "too long",
            vec!["request", "--reason", reason, "--duration", "2h"],
        ),
        (
            "too short",
            vec!["request", "--reason", reason, "--duration", "5m"],
        ),
    ] {
        let out = bed.run(&args);
        show(title, &out, normalize(&bed, &stderr(&out)));
    }
    bed.patch_policy(json!({ "ticketRequired": "true" }));
    let out = bed.run(&["request", "--reason", reason]);
    show("ticket required", &out, normalize(&bed, &stderr(&out)));
    bed.patch_policy(json!({ "ticketRequired": "false" }));

    bed.pg.api.faults().add(FaultRule {
        method: Some("POST".into()),
        path_contains: "/token".into(),
        on_calls: 1..=1,
        kind: FaultKind::Status(500),
    });
    let out = bed.run(&["request", "--reason", reason]);
    show("token step fails", &out, normalize(&bed, &stderr(&out)));

    let out = bed.run(&[
        "request",
        "--reason",
        reason,
        "--ticket",
        "INC-7",
        "--duration",
        "30m",
    ]);
    assert_ok(&out, "request");
    show("granted", &out, normalize(&bed, &stderr(&out)));
    let out = bed.run(&["request", "--reason", reason]);
    show("second grant", &out, normalize(&bed, &stderr(&out)));
    let out = bed.run(&["request", "--reason", reason, "--additional"]);
    show(
        "second grant, same role",
        &out,
        normalize(&bed, &stderr(&out)),
    );
    let out = bed.run(&["status"]);
    // Columns joined with " | " and the ticking time left masked: the content is what matters.
    let table: String = normalize(&bed, &stdout(&out))
        .lines()
        .map(|l| {
            let mut cells: Vec<&str> = l
                .split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect();
            if cells[0] != "NAME" {
                cells[4] = "$LEFT";
            }
            format!("{}\n", cells.join(" | "))
        })
        .collect();
    show("status", &out, table);
    let out = bed.run(&["revoke"]);
    show("revoke", &out, normalize(&bed, &stderr(&out)));
    let out = bed.kubectl_elevated(&["get", "secrets"]);
    let fail_fast = stderr(&out)
        .lines()
        .filter(|l| l.starts_with("error: no active"))
        .take(1)
        .map(|l| format!("{l}\n"))
        .collect::<String>();
    show("kubectl after revoke", &out, normalize(&bed, &fail_fast));
    let out = bed.run(&["revoke"]);
    show("nothing to revoke", &out, normalize(&bed, &stderr(&out)));
    let out = bed.run(&["revoke", "grant-000002"]);
    show("already revoked", &out, normalize(&bed, &stderr(&out)));
    let out = bed.run(&["request", "--reason", reason, "--no-kubeconfig"]);
    show("no kubeconfig", &out, normalize(&bed, &stderr(&out)));
    snapshot("grants-messages", &all);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_auditors_and_drills_read() {
    let bed = Bed::start().await;
    let mut all = String::new();
    let mut show = |title: &str, out: &std::process::Output, text: String| {
        section(&mut all, title, out, &text)
    };
    bed.login("bob").await;
    let out = bed.run(&["drill"]);
    show("drill, bob", &out, normalize(&bed, &stderr(&out)));
    bed.login("alice").await;
    let out = bed.run(&["audit"]);
    show("audit, no records", &out, normalize(&bed, &stderr(&out)));
    let out = bed.run(&["drill"]);
    show("drill, alice", &out, normalize(&bed, &stderr(&out)));
    let out = bed.run(&["audit"]);
    let text = normalize(&bed, &(stdout(&out) + &stderr(&out)));
    show("audit", &out, text);
    snapshot("grants-audit-drill-messages", &all);
}
