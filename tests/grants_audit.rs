//! `audit` on the real Playground: every record with its fields and audit-log key, the
//! chain verified; tampering by an admin (who first removes the admission policy that
//! protects the records) is found and named.

mod common;

use common::grants::Bed;
use common::*;
use serde_json::Value;

fn audit_json(bed: &Bed) -> (std::process::Output, Value) {
    let out = bed.run(&["audit", "-o", "json"]);
    assert_no_jwt(&stdout(&out));
    assert_no_jwt(&stderr(&out));
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("audit -o json ({e}): {}\n{}", stdout(&out), stderr(&out)));
    (out, v)
}

/// As admin, sets grant-000002's reason (the records policy must be gone).
fn set_reason(bed: &Bed, reason: &str) {
    let patch = serde_json::json!({ "spec": { "reason": reason } }).to_string();
    admin(
        bed,
        &[
            "-n",
            "breakglass",
            "patch",
            "bgg",
            "grant-000002",
            "--type",
            "merge",
            "-p",
            &patch,
        ],
    );
}

fn admin(bed: &Bed, args: &[&str]) {
    let mut all = vec!["--context", "playground-admin"];
    all.extend_from_slice(args);
    let out = bed.kubectl(&all);
    assert_ok(&out, &format!("kubectl {args:?}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_lists_every_record_and_finds_tampering() {
    let bed = Bed::start_double().await;
    bed.login("alice").await;

    // 1: revoked; 2: still active, with a ticket; 3: expired (a short grant whose expiry passes).
    assert_ok(&bed.request(&["--role", "cluster-admin"]), "request 1");
    assert_ok(&bed.run(&["revoke", "grant-000001"]), "revoke 1");
    assert_ok(
        &bed.request(&["--ticket", "INC-42", "--duration", "20m"]),
        "request 2",
    );
    // Kubectl through grant 2 (the cached token; grant 3 will replace it in the cache).
    let used = bed.kubectl_elevated(&["get", "namespaces"]);
    assert_ok(&used, "kubectl through grant-000002");
    bed.allow_short_grants(2);
    assert_ok(
        &bed.request(&[
            "--additional",
            "--role",
            "cluster-admin",
            "--duration",
            "2s",
        ]),
        "request 3",
    );
    let records = bed.records();
    let expiry3 =
        chrono::DateTime::parse_from_rfc3339(records[2]["spec"]["expiryTime"].as_str().unwrap())
            .unwrap();
    while chrono::Utc::now() <= expiry3 {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // Its seal outlives it until alice's next run of the plugin sweeps it; meanwhile audit
    // (requesters may list the seals) names it, because a token could still be bound to it.
    let (out, report) = audit_json(&bed);
    assert!(!out.status.success(), "{}", stderr(&out));
    assert_eq!(report["seals"]["checked"], true, "{}", report["seals"]);
    let findings = report["seals"]["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0]["seal"], "grant-000003-cluster-admin-seal");
    assert!(
        stderr(&out).contains("finding: seal grant-000003-cluster-admin-seal serves no live grant"),
        "{}",
        stderr(&out)
    );
    assert_ok(
        &bed.run(&["status"]),
        "status sweeps the expired grant's seal",
    );

    let (out, report) = audit_json(&bed);
    assert_ok(&out, "audit");
    let listed = report["records"].as_array().unwrap();
    let names: Vec<&str> = listed.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["grant-000001", "grant-000002", "grant-000003"]);
    let states: Vec<&str> = listed
        .iter()
        .map(|r| r["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["Revoked", "Active", "Expired"]);
    for (shown, stored) in listed.iter().zip(&records) {
        let spec = &stored["spec"];
        assert_eq!(shown["requester"], "alice@example.com");
        assert_eq!(shown["requester"], spec["requester"]);
        assert_eq!(shown["role"], spec["role"]);
        assert_eq!(shown["reason"], spec["reason"]);
        assert_eq!(shown["start"], spec["startTime"]);
        assert_eq!(shown["expiry"], spec["expiryTime"]);
        let jti = stored["status"]["jti"].as_str().unwrap();
        assert_eq!(shown["jti"], jti);
        assert_eq!(shown["auditLogCredentialId"], format!("JTI={jti}"));
    }
    assert_eq!(listed[0]["role"], "cluster-admin");
    assert_eq!(listed[0]["revokedBy"], "alice@example.com");
    assert_eq!(listed[0]["revokedAt"], records[0]["status"]["revokedAt"]);
    assert_eq!(listed[1]["ticket"], "INC-42");
    assert!(listed[2].get("ticket").is_none());
    assert_eq!(
        report["auditLogKey"],
        "authentication.kubernetes.io/credential-id"
    );
    assert_eq!(report["chain"]["intact"], true);
    assert_eq!(report["chain"]["records"], 3);
    assert_eq!(report["chain"]["head"], "grant-000003");

    // The key finds grant 2's calls in the API server's audit log.
    let key = listed[1]["auditLogCredentialId"].as_str().unwrap();
    let audited = bed.pg.api.audit_log();
    assert!(
        audited
            .iter()
            .any(|e| e.credential_id() == Some(key) && e.resource == "namespaces"),
        "the API server's audit log has kubectl's call under {key}"
    );

    // The table for people, and the verdict on stderr.
    let out = bed.run(&["audit"]);
    assert_ok(&out, "audit (table)");
    let table = stdout(&out);
    let header = table.lines().next().unwrap();
    for col in [
        "NAME",
        "STATE",
        "REQUESTER",
        "ROLE",
        "START",
        "EXPIRY",
        "REVOKED",
        "TICKET",
        "CREDENTIAL-ID",
        "REASON",
    ] {
        assert!(header.contains(col), "{col} in {header}");
    }
    assert_eq!(table.lines().count(), 4, "{table}");
    assert!(table.contains(key), "{table}");
    assert!(
        stderr(&out).contains("Hash chain intact: 3 record(s) verified, newest grant-000003"),
        "{}",
        stderr(&out)
    );

    // --since lists only recent records but still verifies all of them.
    let out = bed.run(&["audit", "--since", "1h", "-o", "json"]);
    assert_ok(&out, "audit --since 1h");
    let recent: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(recent["records"].as_array().unwrap().len(), 3);
    let out = bed.run(&["audit", "--since", "soon"]);
    assert_fails_with(&out, &["invalid --since", "24h"]);

    // An admin alters grant-000002's reason: the policy that forbids it must go first.
    admin(
        &bed,
        &[
            "delete",
            "validatingadmissionpolicybinding",
            "breakglass-records",
        ],
    );
    set_reason(&bed, "routine maintenance");
    let (out, report) = audit_json(&bed);
    assert!(
        !out.status.success(),
        "audit must fail on an altered record"
    );
    let err = stderr(&out);
    assert!(
        err.contains("error: on playground: the grant record chain is broken at grant-000002"),
        "{err}"
    );
    assert!(
        err.contains("chain break at grant-000002 (altered)"),
        "{err}"
    );
    assert_eq!(report["chain"]["intact"], false);
    let breaks = report["chain"]["breaks"].as_array().unwrap();
    assert_eq!(breaks.len(), 1, "{breaks:?}");
    assert_eq!(breaks[0]["record"], "grant-000002");
    assert_eq!(breaks[0]["kind"], "altered");
    // The listing is still printed in full.
    assert_eq!(report["records"].as_array().unwrap().len(), 3);
    assert_eq!(report["records"][1]["reason"], "routine maintenance");

    // Put it back: the chain is whole again, which shows the digest covers exactly the spec.
    let original = records[1]["spec"]["reason"].as_str().unwrap();
    set_reason(&bed, original);
    let (out, _) = audit_json(&bed);
    assert_ok(&out, "audit after the reason is restored");

    // An admin deletes the middle record (after removing the policy that forbids it).
    admin(
        &bed,
        &[
            "delete",
            "validatingadmissionpolicybinding",
            "breakglass-records-kept",
        ],
    );
    admin(&bed, &["-n", "breakglass", "delete", "bgg", "grant-000002"]);
    let out = bed.run(&["audit"]);
    let err = stderr(&out);
    assert!(
        !out.status.success(),
        "audit must fail on a deleted record:\n{err}"
    );
    assert!(
        err.contains("chain break at grant-000003 (sequence gap): records between grant-000001 and grant-000003 are missing (grant-000002 is gone"),
        "{err}"
    );
    assert!(
        err.contains("error: on playground: the grant record chain is broken at grant-000003"),
        "{err}"
    );
    assert_no_jwt(&err);
    // The listing comes first, with what is left.
    let table = stdout(&out);
    assert!(
        table.contains("grant-000001") && table.contains("grant-000003"),
        "{table}"
    );
    assert!(!table.contains("grant-000002"), "{table}");
}

/// `sha256:` of the canonical JSON (sorted keys, no spaces) of `{"name", "spec"}`,
/// computed here independently of the plugin.
fn chain_digest(record: &Value) -> String {
    use sha2::{Digest, Sha256};
    let doc = serde_json::json!({ "name": record["metadata"]["name"], "spec": record["spec"] });
    let text = serde_json::to_string(&doc).unwrap();
    format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes())))
}

fn create_as(bed: &Bed, context: &str, obj: &Value) {
    let file = bed.sb.path("hand-made.json");
    std::fs::write(&file, obj.to_string()).unwrap();
    let out = bed.kubectl(&["--context", context, "create", "-f", file.to_str().unwrap()]);
    assert_ok(
        &out,
        &format!("{context} creates {}", obj["metadata"]["name"]),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_link_is_blamed_on_its_maker_and_every_break_and_odd_time_is_found() {
    let bed = Bed::start().await;
    bed.login("alice").await;
    assert_ok(&bed.request(&[]), "request 1");

    // alice, with the admission policies in force, writes places 2 to 4 by hand: named,
    // sequenced and linked by name as the policy wants. Place 2's digest for grant-000001
    // is garbage; 3 and 4 link their predecessors' real digests, as the plugin would.
    let now = chrono::Utc::now();
    let at =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let first = bed.records()[0].clone();
    let by_hand = |sequence: i64, digest: String| {
        serde_json::json!({
            "apiVersion": "breakglass.dev/v1alpha1", "kind": "BreakGlassGrant",
            "metadata": {
                "name": format!("grant-{sequence:06}"), "namespace": "breakglass",
                "labels": {"breakglass.dev/live-until": (now + chrono::Duration::seconds(600)).timestamp().to_string()}
            },
            "spec": {
                "requester": "alice@example.com",
                "requesterGroups": first["spec"]["requesterGroups"],
                "reason": "nothing to see here", "role": "incident-debug",
                "serviceAccount": "incident-debug", "durationSeconds": 600,
                "startTime": at(now), "expiryTime": at(now + chrono::Duration::seconds(600)),
                "clientHost": "x", "pluginVersion": "0", "requestId": "x", "sequence": sequence,
                "previous": {"name": format!("grant-{:06}", sequence - 1), "digest": digest}
            }
        })
    };
    let poisoned = by_hand(2, format!("sha256:{}", "0".repeat(64)));
    create_as(&bed, "playground", &poisoned);
    for sequence in [3, 4] {
        let before = bed.records()[sequence as usize - 2].clone();
        create_as(
            &bed,
            "playground",
            &by_hand(sequence, chain_digest(&before)),
        );
    }

    // An admin, policies removed, rewrites grant-000003 after grant-000004 linked it, and
    // adds a record at place 5 (linked right) that starts in 2099 and lasts a day.
    bed.drop_admission();
    admin(
        &bed,
        &[
            "-n",
            "breakglass",
            "patch",
            "bgg",
            "grant-000003",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"reason":"routine maintenance"}}"#,
        ],
    );
    let fourth = bed.records()[3].clone();
    let start: chrono::DateTime<chrono::Utc> = "2099-01-01T00:00:00Z".parse().unwrap();
    let mut future = poisoned.clone();
    future["metadata"]["name"] = "grant-000005".into();
    future["spec"]["requester"] = "mallory@example.com".into();
    future["spec"]["sequence"] = 5.into();
    future["spec"]["durationSeconds"] = 86400.into();
    future["spec"]["startTime"] = at(start).into();
    future["spec"]["expiryTime"] = at(start + chrono::Duration::days(1)).into();
    future["spec"]["previous"] =
        serde_json::json!({"name": "grant-000004", "digest": chain_digest(&fourth)});
    create_as(&bed, "playground-admin", &future);

    let (out, report) = audit_json(&bed);
    assert!(!out.status.success());
    let breaks: Vec<(&str, &str, Option<&str>)> = report["chain"]["breaks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["kind"].as_str().unwrap(),
                b["record"].as_str().unwrap(),
                b["suspect"].as_str(),
            )
        })
        .collect();
    // The forged record is named, with its maker as suspect, not the honest record before
    // it; the verification goes on and finds the later alteration too.
    assert_eq!(
        breaks,
        [
            ("brokenLink", "grant-000002", Some("alice@example.com")),
            ("altered", "grant-000003", None),
        ]
    );
    let odd: Vec<&str> = report["implausible"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["name"] == "grant-000005" && f["requester"] == "mallory@example.com")
        .map(|f| f["why"].as_str().unwrap())
        .collect();
    // Its live-until label (copied from grant-000002) is not its expiry: status and request
    // would not see it if it went live.
    assert_eq!(odd.len(), 4, "{odd:?}");
    assert!(odd[0].contains("after it was created"), "{odd:?}");
    assert!(
        odd[3].contains("request and status do not see it"),
        "{odd:?}"
    );
    assert!(
        odd[1].contains("starts in the future (2099-01-01T00:00:00Z)"),
        "{odd:?}"
    );
    assert!(
        odd[2].contains("lasts 24h, longer than role incident-debug's maximum"),
        "{odd:?}"
    );
    assert!(
        report["implausible"].as_array().unwrap().len() == 4,
        "only grant-000005: {}",
        report["implausible"]
    );

    let out = bed.run(&["audit"]);
    let err = stderr(&out);
    assert!(
        err.contains("chain break at grant-000002 (broken link): grant-000002 (requested by alice@example.com) links grant-000001 with a digest grant-000001 never had")
            && err.contains("suspect alice@example.com"),
        "{err}"
    );
    assert!(
        err.contains("finding: record grant-000005 (requested by mallory@example.com) has implausible times: it starts in the future"),
        "{err}"
    );
    // The listing on stdout, then one error line that counts every kind of finding.
    assert!(!out.status.success());
    for said in [
        "error: on playground: the grant record chain is broken at grant-000002, grant-000003 (2 break(s)",
        "1 record(s) have implausible times (grant-000005)",
    ] {
        assert!(err.contains(said), "{said:?} in:\n{err}");
    }
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error: ")).count(),
        1,
        "{err}"
    );
}
