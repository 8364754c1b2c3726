//! History does not slow an emergency, and what makes that so cannot be turned against the
//! chain (real API server): the head is found from a hint this machine keeps, however wrong
//! the hint; live grants are found by their live-until label, which nobody changes while
//! the policies are installed and `audit` checks when they are not; `audit` reads the
//! records a page at a time with the same result as one list.

mod common;

use common::grants::Bed;
use common::*;
use serde_json::Value;

/// Where this machine's plugin keeps its hint of the chain's head.
fn hint_file(bed: &Bed) -> std::path::PathBuf {
    bed.sb.path("cache/kubectl-breakglass/chain-head")
}

/// Points the hint for the playground's API server at `place` (any text).
fn forge_hint(bed: &Bed, place: &str) {
    let file = hint_file(bed);
    let known = std::fs::read_to_string(&file).expect("a request leaves a hint");
    let server = known
        .lines()
        .next()
        .and_then(|l| l.rsplit_once(' '))
        .map(|(s, _)| s.to_string())
        .expect("a hint line");
    std::fs::write(&file, format!("{server} {place}\n")).unwrap();
}

fn names(bed: &Bed) -> Vec<String> {
    bed.records()
        .iter()
        .map(|r| r["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

fn audit_json(bed: &Bed, page: Option<&str>) -> (std::process::Output, Value) {
    let mut cmd = bed.plugin(&["audit", "-o", "json"]);
    if let Some(p) = page {
        cmd.env("KUBECTL_BREAKGLASS_AUDIT_PAGE", p);
    }
    let out = cmd.output().unwrap();
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("audit -o json ({e}): {}\n{}", stdout(&out), stderr(&out)));
    (out, v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_hint_still_finds_the_next_place_and_the_chain_verifies() {
    let bed = Bed::start().await;
    bed.login("alice").await;
    assert_ok(&bed.request(&[]), "request 1");
    // Too far forward, not a place at all, too far back (by turns), between requests that
    // each hold another role or were revoked.
    forge_hint(&bed, "4000");
    assert_ok(
        &bed.request(&["--additional", "--role", "cluster-admin"]),
        "request 2 with a hint far ahead",
    );
    assert_ok(&bed.run(&["revoke", "grant-000002"]), "revoke 2");
    forge_hint(&bed, "not-a-place");
    assert_ok(
        &bed.request(&["--additional", "--role", "cluster-admin"]),
        "request 3 with a hint that is no place",
    );
    assert_ok(&bed.run(&["revoke", "grant-000003"]), "revoke 3");
    forge_hint(&bed, "-7");
    assert_ok(
        &bed.request(&["--additional", "--role", "cluster-admin"]),
        "request 4 with a hint far back",
    );
    assert_eq!(
        names(&bed),
        [
            "grant-000001",
            "grant-000002",
            "grant-000003",
            "grant-000004"
        ]
    );
    // The hint is where this machine saw the head last.
    assert!(
        std::fs::read_to_string(hint_file(&bed))
            .unwrap()
            .trim_end()
            .ends_with(" 4"),
        "{}",
        std::fs::read_to_string(hint_file(&bed)).unwrap()
    );
    // And a second live grant of the same person is still refused, whatever the hint.
    forge_hint(&bed, "1");
    let out = bed.request(&[]);
    assert_fails_with(
        &out,
        &["you already have a live break-glass grant grant-000001"],
    );
    let (out, report) = audit_json(&bed, None);
    assert_ok(&out, "audit");
    assert_eq!(report["chain"]["intact"], true, "{}", report["chain"]);
    assert_eq!(report["chain"]["records"], 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_grant_cannot_be_hidden_from_status_and_audit_names_one_that_was() {
    let bed = Bed::start().await;
    bed.login("alice").await;
    assert_ok(&bed.request(&[]), "request");
    let unlabel = [
        "-n",
        "breakglass",
        "label",
        "bgg",
        "grant-000001",
        "breakglass.dev/live-until-",
    ];
    // The requester may not touch the record itself (RBAC: status only).
    let mut as_alice = vec!["--context", "playground"];
    as_alice.extend_from_slice(&unlabel);
    let out = bed.kubectl(&as_alice);
    assert!(!out.status.success(), "alice removed the label");
    assert!(stderr(&out).contains("forbidden"), "{}", stderr(&out));
    // Not even an admin, while the policy is installed.
    let mut as_admin = vec!["--context", "playground-admin"];
    as_admin.extend_from_slice(&unlabel);
    let out = bed.kubectl(&as_admin);
    assert!(!out.status.success(), "the admin removed the label");
    assert!(
        stderr(&out).contains("breakglass.dev/live-until label cannot change"),
        "{}",
        stderr(&out)
    );
    let relabel = [
        "--context",
        "playground-admin",
        "-n",
        "breakglass",
        "label",
        "--overwrite",
        "bgg",
        "grant-000001",
        "breakglass.dev/live-until=1",
    ];
    let out = bed.kubectl(&relabel);
    assert!(!out.status.success(), "the admin changed the label");

    // Without the policies, it can be done: status no longer sees the grant, audit does.
    bed.drop_admission();
    assert_ok(
        &bed.kubectl(&as_admin),
        "remove the label without the policy",
    );
    let status = bed.run(&["status"]);
    assert_ok(&status, "status");
    assert!(
        !stderr(&status).contains("grant-000001"),
        "{}",
        stderr(&status)
    );
    let (out, report) = audit_json(&bed, None);
    assert!(!out.status.success(), "audit passed a hidden live grant");
    let findings = report["implausible"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0]["name"], "grant-000001");
    assert!(
        findings[0]["why"]
            .as_str()
            .unwrap()
            .contains("request and status do not see it"),
        "{findings:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_a_page_at_a_time_says_what_one_list_says() {
    let bed = Bed::start().await;
    bed.login("alice").await;
    assert_ok(&bed.request(&[]), "request 1");
    assert_ok(
        &bed.request(&["--additional", "--role", "cluster-admin"]),
        "request 2",
    );
    // A break, so the verdict has something to agree on.
    let first = bed.records()[0].clone();
    bed.drop_admission();
    assert_ok(
        &bed.admin_create(&Bed::forged_record(&first, "grant-000003", 1)),
        "a misnumbered record",
    );
    let (whole_out, whole) = audit_json(&bed, Some("1000"));
    for page in ["1", "2"] {
        let (out, paged) = audit_json(&bed, Some(page));
        assert_eq!(out.status.code(), whole_out.status.code(), "page {page}");
        assert_eq!(paged["chain"], whole["chain"], "page {page}");
        let names = |r: &Value| -> Vec<Value> {
            r["records"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["name"].clone())
                .collect()
        };
        assert_eq!(names(&paged), names(&whole), "page {page}");
        assert_eq!(names(&whole).len(), 3);
    }
    assert_eq!(whole["chain"]["intact"], false);
}
