//! Nothing from the cluster or the identity provider reaches a terminal raw. Hostile text —
//! an OSC title-setter, ANSI colour and clear-screen, a CSI in C1 form, bidi overrides and
//! isolates, zero-width and line-breaking characters, and a newline that would start a
//! forged line — is put into every string field of hand-made records (an admin's older CRD
//! without the patterns), into the policy, and into a person's email and groups at the
//! IdP; then every command's output, on stdout and stderr, in every format, must show it
//! escaped and never raw.

mod common;

use breakglass_testbed::apiserver::ApiConfig;
use breakglass_testbed::idp::{IdpConfig, IdpUser};
use common::grants::Bed;
use common::*;
use serde_json::{json, Value};
use std::process::Output;

/// The forged line a hostile newline would start.
const FAKE: &str = "FAKE-LINE";

fn hostile(tag: &str) -> String {
    format!(
        "{tag}\u{1b}]0;pwned\u{7}\u{1b}[2J\u{1b}[31mred\u{202e}evil\u{2066}\u{200b}\u{feff}\u{2028}\u{61c}\u{180e}\u{2063}\r\n{FAKE} \u{9b}31m"
    )
}

/// A character that must never arrive raw (the line break aside, which is layout).
fn is_raw_hostile(c: char) -> bool {
    (c.is_control() && c != '\n')
        || matches!(
            c,
            '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
                | '\u{200B}'..='\u{200F}'
                | '\u{061C}'
                | '\u{FEFF}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{2060}'..='\u{2064}'
                | '\u{180E}'
        )
}

/// Checks both streams of `out`; `shows` says the hostile text must appear (escaped) in
/// them, so the check cannot pass by showing nothing.
#[track_caller]
fn nothing_raw(what: &str, out: &Output, shows: bool) {
    let both = format!("{}{}", stdout(out), stderr(out));
    for (name, text) in [("stdout", stdout(out)), ("stderr", stderr(out))] {
        if let Some(c) = text.chars().find(|c| is_raw_hostile(*c)) {
            panic!(
                "{what}: U+{:04X} reached {name} raw:\n{text:?}",
                u32::from(c)
            );
        }
        if let Some(line) = text.lines().find(|l| l.trim_start().starts_with(FAKE)) {
            panic!("{what}: a forged line on {name}: {line:?}\n{text}");
        }
    }
    if shows {
        assert!(
            both.contains(FAKE),
            "{what}: the hostile text is not shown at all:\n{both}"
        );
    }
    assert_no_jwt(&both);
}

fn admin(bed: &Bed, args: &[&str]) -> Output {
    let mut all = vec!["--context", "playground-admin"];
    all.extend_from_slice(args);
    bed.kubectl(&all)
}

/// As an admin with an older CRD: the same schema without any `pattern`.
fn drop_patterns(bed: &Bed) {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.remove("pattern");
                m.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let out = admin(
        bed,
        &[
            "get",
            "crd",
            "breakglassgrants.breakglass.dev",
            "-o",
            "json",
        ],
    );
    assert_ok(&out, "get the CRD");
    let mut crd: Value = serde_json::from_slice(&out.stdout).unwrap();
    strip(&mut crd["spec"]);
    let file = bed.sb.path("crd.json");
    std::fs::write(&file, crd.to_string()).unwrap();
    assert_ok(
        &admin(bed, &["replace", "-f", file.to_str().unwrap()]),
        "replace the CRD",
    );
}

/// Creates a record as admin (admission dropped) and sets its status.
fn hand_made(bed: &Bed, name: &str, requester: &str, h: &str, status: Value) {
    let now = chrono::Utc::now();
    let at =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let record = json!({
        "apiVersion": "breakglass.dev/v1alpha1", "kind": "BreakGlassGrant",
        "metadata": {
            "name": name, "namespace": "breakglass",
            "labels": {"breakglass.dev/live-until": (now + chrono::Duration::hours(1)).timestamp().to_string()}
        },
        "spec": {
            "requester": requester, "requesterGroups": [h],
            "reason": h, "ticket": h, "role": h, "serviceAccount": h,
            "durationSeconds": 3600,
            "startTime": at(now), "expiryTime": at(now + chrono::Duration::hours(1)),
            "clientHost": h, "pluginVersion": h, "requestId": h,
            "sequence": name.trim_start_matches("grant-").parse::<i64>().unwrap(),
            "previous": {"name": h, "digest": h}
        }
    });
    let file = bed.sb.path(&format!("{name}.json"));
    std::fs::write(&file, record.to_string()).unwrap();
    assert_ok(
        &admin(bed, &["create", "-f", file.to_str().unwrap()]),
        &format!("create {name}"),
    );
    let patch = json!({ "status": status }).to_string();
    assert_ok(
        &admin(
            bed,
            &[
                "-n",
                "breakglass",
                "patch",
                "bgg",
                name,
                "--subresource",
                "status",
                "--type",
                "merge",
                "-p",
                &patch,
            ],
        ),
        &format!("status of {name}"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_from_outside_reaches_the_terminal_raw() {
    let eve = IdpUser {
        name: "eve".into(),
        email: format!("eve{}@example.com", hostile("-mail")),
        groups: vec!["sre".into(), hostile("group")],
    };
    let idp = IdpConfig {
        users: vec![IdpUser::new("alice", &["sre"]), eve],
        ..IdpConfig::default()
    };
    let bed = Bed::start_with_idp(ApiConfig::default(), true, idp).await;

    // The identity provider's words: eve's email and groups, at login and as the cluster
    // echoes them back; her request is refused (her name cannot be recorded) in one line.
    let login = bed.sb.spawn_login(&[]);
    let code = bed
        .pg
        .idp
        .wait_for_pending_user_code(std::time::Duration::from_secs(20))
        .await
        .unwrap();
    bed.pg.idp.approve(&code, "eve").await.unwrap();
    let out = wait(login).await;
    assert_ok(&out, "eve logs in");
    nothing_raw("login", &out, true);
    nothing_raw("status as eve", &bed.run(&["status"]), true);
    let out = bed.request(&[]);
    assert!(!out.status.success());
    nothing_raw("request as eve", &out, false);

    // alice holds a live grant, then an admin with an older CRD writes records by hand.
    bed.login("alice").await;
    assert_ok(&bed.request(&[]), "alice's request");
    drop_patterns(&bed);
    bed.drop_admission();
    let now = record_time(chrono::Utc::now());
    let h = hostile("field");
    // Live, alice's, every string hostile (its seal name too: no Secret can have it).
    hand_made(
        &bed,
        "grant-000002",
        "alice@example.com",
        &h,
        json!({"state": "Active", "jti": h, "sealName": h, "sealUid": h}),
    );
    // Failed with a message of its maker's choosing.
    hand_made(
        &bed,
        "grant-000003",
        &hostile("maker"),
        &h,
        json!({"state": "Failed", "message": hostile("message")}),
    );
    // alice's, revoked by someone with a hostile name before its expiry.
    hand_made(
        &bed,
        "grant-000004",
        "alice@example.com",
        &h,
        json!({"state": "Active", "jti": "j4", "sealName": "grant-000004-x-seal", "sealUid": "u"}),
    );
    assert_ok(
        &admin(
            &bed,
            &[
                "-n", "breakglass", "patch", "bgg", "grant-000004", "--subresource", "status",
                "--type", "merge", "-p",
                &json!({"status": {"state": "Revoked", "revokedBy": hostile("revoker"), "revokedAt": now}}).to_string(),
            ],
        ),
        "revoke grant-000004 by hand",
    );
    // The policy's words: a role no one can request, named with the same text.
    bed.patch_policy(json!({ "roles": format!("incident-debug,cluster-admin,{}", hostile("role").replace(['\r', '\n', ' '], "")) }));

    for (what, args, shows) in [
        ("status", vec!["status"], true),
        ("status -o json", vec!["status", "-o", "json"], true),
        ("status -o yaml", vec!["status", "-o", "yaml"], true),
        ("audit", vec!["audit"], true),
        ("audit -o json", vec!["audit", "-o", "json"], true),
        ("audit -o yaml", vec!["audit", "-o", "yaml"], true),
        (
            "request while live",
            vec!["request", "--reason", "checkout is down, need to look"],
            false,
        ),
        (
            "revoke a Failed grant",
            vec!["--context", "playground-admin", "revoke", "grant-000003"],
            true,
        ),
        (
            "revoke someone else's",
            vec!["revoke", "grant-000003"],
            true,
        ),
        (
            "admin status --all",
            vec!["--context", "playground-admin", "status", "--all"],
            true,
        ),
        (
            "admin audit -o yaml",
            vec!["--context", "playground-admin", "audit", "-o", "yaml"],
            true,
        ),
        ("drill", vec!["drill"], false),
    ] {
        nothing_raw(what, &bed.run(&args), shows);
    }
    // revoke --all (admin), with a seal name no Secret can have on a live record: revoked,
    // every outcome escaped, no request sent for the malformed name.
    let out = bed.run(&[
        "--context",
        "playground-admin",
        "revoke",
        "--all",
        "-o",
        "json",
    ]);
    nothing_raw("revoke --all -o json", &out, true);
    assert!(
        !stderr(&out).contains("no answer from the cluster"),
        "{}",
        stderr(&out)
    );
    let states: Vec<Value> = bed
        .records()
        .iter()
        .map(|r| r["status"]["state"].clone())
        .collect();
    assert_eq!(states[1], "Revoked", "{states:?}");
    nothing_raw("logout", &bed.run(&["logout"]), false);
}

fn record_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
