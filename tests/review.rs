//! `review` on the real API server's audit log: a grant is used with real kubectl, revoked,
//! its raw token presented again, and the review's timeline and flags are checked field by
//! field; then each kind of bad input ends in one `error:` line.

mod common;

use common::grants::Bed;
use common::*;
use serde_json::Value;
use std::time::{Duration, Instant};

const SA: &str = "system:serviceaccount:breakglass:cluster-admin";

fn admin(bed: &Bed, args: &[&str]) {
    let mut all = vec!["--context", "playground-admin"];
    all.extend_from_slice(args);
    assert_ok(&bed.kubectl(&all), &format!("kubectl {args:?}"));
}

/// The log's events, parsed.
fn events(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// A failure told in one `error:` line, naming each of `needles`.
#[track_caller]
fn one_error(out: &std::process::Output, needles: &[&str]) {
    assert_fails_with(out, needles);
    assert_eq!(stderr(out).lines().count(), 1, "{}", stderr(out));
}

fn find<'a>(timeline: &'a [Value], verb: &str, resource: &str, sub: Option<&str>) -> &'a Value {
    timeline
        .iter()
        .find(|a| {
            a["verb"] == verb
                && a["resource"] == resource
                && a["subresource"].as_str() == sub
                && a["how"] == "used"
        })
        .unwrap_or_else(|| panic!("no {verb} {resource} {sub:?} in {timeline:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_shows_what_a_grant_did_from_the_real_audit_log() {
    let Some(bed) = Bed::start_real().await else {
        return;
    };
    admin(
        &bed,
        &[
            "create",
            "secret",
            "generic",
            "db-password",
            "-n",
            "default",
            "--from-literal=p=x",
        ],
    );
    admin(
        &bed,
        &[
            "create",
            "configmap",
            "app-config",
            "-n",
            "default",
            "--from-literal=a=b",
        ],
    );
    bed.login("alice").await;
    assert_ok(
        &bed.request(&["--role", "cluster-admin", "--ticket", "INC-7"]),
        "request",
    );
    let token = bed.elevated_token();

    assert_ok(&bed.kubectl_elevated(&["get", "pods", "-A"]), "list pods");
    assert_ok(
        &bed.kubectl_elevated(&["get", "secret", "db-password", "-n", "default"]),
        "get the secret",
    );
    // An exec on a pod that does not exist: the API server audits it and answers 404.
    let body = bed.sb.path("empty.json");
    std::fs::write(&body, "{}").unwrap();
    let exec = bed.kubectl_elevated(&[
        "create",
        "--raw",
        "/api/v1/namespaces/default/pods/no-such-pod/exec?command=true&stdout=true",
        "-f",
        body.to_str().unwrap(),
    ]);
    assert!(
        !exec.status.success(),
        "exec on a missing pod: {}",
        stderr(&exec)
    );
    assert_ok(
        &bed.kubectl_elevated(&[
            "patch",
            "configmap",
            "app-config",
            "-n",
            "default",
            "-p",
            r#"{"data":{"a":"c"}}"#,
        ]),
        "patch the configmap",
    );
    assert_ok(&bed.run(&["revoke"]), "revoke");

    // The revoked token, presented again straight to the API server: rejected there.
    let again = bed.kubectl(&[
        "--context",
        "playground-admin",
        "--token",
        &token,
        "get",
        "pods",
        "-n",
        "default",
    ]);
    assert!(!again.status.success(), "the revoked token still works");
    let log = bed.pg.api.real().unwrap().audit_log_path().to_path_buf();
    let deadline = Instant::now() + Duration::from_secs(20);
    let rejected = loop {
        let found = events(&log).into_iter().find(|e| {
            e["responseStatus"]["code"] == 401
                && e["requestURI"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("/api/v1/namespaces/default/pods"))
        });
        if let Some(e) = found {
            break e;
        }
        assert!(
            Instant::now() < deadline,
            "the API server never logged the 401"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };

    let records = bed.records();
    let record = &records[0];
    let jti = record["status"]["jti"].as_str().unwrap();
    let out = bed.run(&[
        "review",
        "grant-000001",
        "--audit-log",
        log.to_str().unwrap(),
        "-o",
        "json",
    ]);
    assert_ok(&out, "review -o json");
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();

    // The header: who, why, when, how it ended, in audit's shape.
    let g = &r["grant"];
    assert_eq!(g["name"], "grant-000001");
    assert_eq!(g["requester"], "alice@example.com");
    assert_eq!(g["role"], "cluster-admin");
    assert_eq!(g["reason"], "checkout is down, need to look");
    assert_eq!(g["ticket"], "INC-7");
    assert_eq!(g["state"], "Revoked");
    assert_eq!(g["jti"], jti);
    assert_eq!(g["auditLogCredentialId"], format!("JTI={jti}"));
    assert_eq!(g["start"], record["spec"]["startTime"]);
    assert_eq!(r["ended"]["how"], "revoked");
    assert_eq!(r["ended"]["by"], "alice@example.com");
    assert_eq!(r["ended"]["at"], record["status"]["revokedAt"]);

    // The timeline: the mint first (by alice), then every call, oldest first.
    let timeline = r["timeline"].as_array().unwrap();
    assert_eq!(r["minted"], 1);
    let mint = &timeline[0];
    assert_eq!(mint["how"], "minted");
    assert_eq!(mint["user"], "alice@example.com");
    assert_eq!(mint["verb"], "create");
    assert_eq!(mint["resource"], "serviceaccounts");
    assert_eq!(mint["subresource"], "token");
    assert_eq!(mint["namespace"], "breakglass");
    assert_eq!(mint["name"], "cluster-admin");
    assert_eq!(mint["code"], 201);
    assert_eq!(mint["flags"], serde_json::json!([]));
    // The plugin's own calls say so: the mint, and revoke's checks that the token is dead.
    let ours = concat!("kubectl-breakglass/", env!("CARGO_PKG_VERSION"));
    assert_eq!(mint["userAgent"], ours);
    let check = find(timeline, "create", "selfsubjectreviews", None);
    assert_eq!(
        check["userAgent"],
        format!("{ours} (token check)"),
        "{check}"
    );
    let times: Vec<&str> = timeline
        .iter()
        .map(|a| a["time"].as_str().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted, "oldest first");
    for a in &timeline[1..] {
        assert_eq!(a["how"], "used", "{a}");
        assert_eq!(a["user"], SA, "{a}");
        assert!(!a["sourceIPs"].as_array().unwrap().is_empty(), "{a}");
        assert!(a["auditID"].as_str().is_some_and(|s| !s.is_empty()), "{a}");
    }

    let pods = find(timeline, "list", "pods", None);
    assert_eq!(pods["code"], 200);
    assert!(pods["namespace"].is_null(), "all namespaces: {pods}");
    assert!(
        pods["userAgent"].as_str().unwrap().starts_with("kubectl"),
        "{pods}"
    );
    assert_eq!(pods["flags"], serde_json::json!([]));

    let secret = find(timeline, "get", "secrets", None);
    assert_eq!(secret["namespace"], "default");
    assert_eq!(secret["name"], "db-password");
    assert_eq!(secret["code"], 200);
    assert_eq!(secret["flags"], serde_json::json!(["secretRead"]));

    let exec = find(timeline, "create", "pods", Some("exec"));
    assert_eq!(exec["namespace"], "default");
    assert_eq!(exec["name"], "no-such-pod");
    assert_eq!(exec["code"], 404);
    assert_eq!(exec["flags"], serde_json::json!(["execAttachPortForward"]));

    let patch = find(timeline, "patch", "configmaps", None);
    assert_eq!(patch["namespace"], "default");
    assert_eq!(patch["name"], "app-config");
    assert_eq!(patch["code"], 200);
    assert_eq!(patch["flags"], serde_json::json!([]));

    // Flags: counted over every action; nothing after the grant ended — the rejected attempt
    // after the revoke carries no identity in the log (authentication failed), so it is not
    // the grant's.
    assert_eq!(r["flags"]["secretRead"], 1);
    assert_eq!(r["flags"]["execAttachPortForward"], 1);
    assert!(r["flags"]["afterGrantEnded"].is_null(), "{:#}", r["flags"]);
    let flagged: Vec<&str> = r["flagged"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["resource"].as_str().unwrap())
        .collect();
    assert_eq!(flagged, ["secrets", "pods"]);
    assert!(rejected["user"]["extra"].is_null(), "{rejected}");
    assert!(timeline.iter().all(|a| a["code"] != 401), "{timeline:#?}");
    assert!(timeline.iter().all(|a| a["auditID"] != rejected["auditID"]));

    // The summary counts each verb and resource; the log's range and counts are there.
    let summary = r["summary"].as_array().unwrap();
    let count = |verb: &str, res: &str| {
        summary
            .iter()
            .find(|c| c["verb"] == verb && c["resource"] == res)
            .map(|c| c["count"].as_u64().unwrap())
    };
    assert_eq!(count("get", "secrets"), Some(1));
    assert_eq!(count("patch", "configmaps"), Some(1));
    assert_eq!(count("create", "pods/exec"), Some(1));
    assert!(count("list", "pods").is_some());
    let total: u64 = summary.iter().map(|c| c["count"].as_u64().unwrap()).sum();
    assert_eq!(r["actions"].as_u64(), Some(total));
    assert_eq!(r["timelineLeftOut"], 0);
    assert!(r["log"]["events"].as_u64().unwrap() > total);
    assert_eq!(r["log"]["malformedLines"], 0);

    // The same as a report for people and as Markdown for the ticket.
    let out = bed.run(&[
        "review",
        "grant-000001",
        "--audit-log",
        log.to_str().unwrap(),
    ]);
    assert_ok(&out, "review");
    let text = stdout(&out);
    assert!(
        text.contains("Flags: Secret read ×1, exec/attach/portforward ×1"),
        "{text}"
    );
    assert!(text.contains("db-password"), "{text}");
    assert_no_jwt(&text);
    let out = bed.run(&[
        "review",
        "grant-000001",
        "--audit-log",
        log.to_str().unwrap(),
        "-o",
        "markdown",
    ]);
    assert_ok(&out, "review -o markdown");
    let md = stdout(&out);
    assert!(
        md.starts_with("## Break-glass review: grant\\-000001"),
        "{md}"
    );
    assert!(md.contains("| ticket | INC\\-7 |"), "{md}");

    // Gzip and rotation: the same log compressed and split in two gives the same review.
    let all = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = all.lines().collect();
    let dir = bed.sb.path("rotated");
    std::fs::create_dir_all(&dir).unwrap();
    let half = lines.len() / 2;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, (lines[..half].join("\n") + "\n").as_bytes()).unwrap();
    std::fs::write(dir.join("audit-1.log.gz"), gz.finish().unwrap()).unwrap();
    std::fs::write(dir.join("audit-2.log"), lines[half..].join("\n") + "\n").unwrap();
    let out = bed.run(&[
        "review",
        "grant-000001",
        "--audit-log",
        dir.to_str().unwrap(),
        "-o",
        "json",
    ]);
    assert_ok(&out, "review of a rotated, gzipped log");
    let rotated: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rotated["timeline"], r["timeline"]);

    // Bad input: each one error line, nothing on stdout.
    let missing = bed.sb.path("no-such.log");
    let out = bed.run(&[
        "review",
        "grant-000001",
        "--audit-log",
        missing.to_str().unwrap(),
    ]);
    one_error(
        &out,
        &["cannot read the audit log", "no-such.log", "--audit-log"],
    );
    let notes = bed.sb.path("notes.txt");
    std::fs::write(&notes, "hello\nworld\n").unwrap();
    let out = bed.run(&[
        "review",
        "grant-000001",
        "--audit-log",
        notes.to_str().unwrap(),
    ]);
    one_error(&out, &["is not a Kubernetes audit log", "2 line(s)"]);
    let out = bed.run(&[
        "review",
        "grant-000099",
        "--audit-log",
        log.to_str().unwrap(),
    ]);
    one_error(
        &out,
        &["no grant record grant-000099", "kubectl breakglass audit"],
    );
    // A log that holds nothing of the grant says which time range it covers.
    let other = bed.sb.path("other.log");
    std::fs::write(&other, lines[0].to_string() + "\n").unwrap();
    let first = serde_json::from_str::<Value>(lines[0]).unwrap()["requestReceivedTimestamp"]
        .as_str()
        .unwrap()
        .to_string();
    let out = bed.run(&[
        "review",
        "grant-000001",
        "--audit-log",
        other.to_str().unwrap(),
    ]);
    one_error(
        &out,
        &[
            "holds no event of grant grant-000001",
            &format!("JTI={jti}"),
            &first[..19],
        ],
    );
}
