//! The admission policies of `deploy/04-admission.yaml`, enforced by the API double: the
//! protocol is the only way in, even for a person whose RBAC allows each single step.

mod common;

use common::grants::Bed;
use common::*;

/// Runs kubectl and expects a refusal by the named admission policy.
#[track_caller]
fn denied(bed: &Bed, who: &[&str], rest: &[&str], policy: &str, says: &str) {
    let args: Vec<&str> = who.iter().chain(rest).copied().collect();
    let out = bed.kubectl(&args);
    let err = stderr(&out);
    assert!(
        !out.status.success(),
        "{args:?} must be denied; stdout: {}",
        stdout(&out)
    );
    assert!(
        err.contains(&format!("ValidatingAdmissionPolicy '{policy}'")) && err.contains(says),
        "{args:?}: expected {policy}: {says:?} in:\n{err}"
    );
}

fn write_json(bed: &Bed, name: &str, v: serde_json::Value) -> String {
    let path = bed.sb.path(name);
    std::fs::write(&path, v.to_string()).unwrap();
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_protocol_is_the_only_way_in() {
    let bed = Bed::start().await;
    bed.login("alice").await;
    let me = ["--context", "playground", "-n", "breakglass"];

    // RBAC lets alice mint tokens for the role's account; admission demands a seal.
    denied(
        &bed,
        &me,
        &["create", "token", "cluster-admin", "--duration", "10m"],
        "breakglass-token-requests",
        "must be bound to its seal Secret",
    );

    // Through the protocol it works; bound to that seal, a longer token is still refused.
    assert_ok(&bed.request(&["--role", "cluster-admin"]), "request");
    denied(
        &bed,
        &me,
        &[
            "create",
            "token",
            "cluster-admin",
            "--duration",
            "2h",
            "--bound-object-kind",
            "Secret",
            "--bound-object-name",
            "grant-000001-cluster-admin-seal",
        ],
        "breakglass-token-requests",
        "may last at most 3600 seconds",
    );

    // Secrets there are seals only; a record names its creator.
    denied(
        &bed,
        &me,
        &["create", "secret", "generic", "loot", "--from-literal=a=b"],
        "breakglass-seals",
        "must be seals",
    );
    let forged = write_json(
        &bed,
        "forged.json",
        serde_json::json!({
            "apiVersion": "breakglass.dev/v1alpha1", "kind": "BreakGlassGrant",
            "metadata": {"name": "grant-000002", "namespace": "breakglass"},
            "spec": {
                "requester": "bob@example.com", "reason": "not me", "role": "cluster-admin",
                "serviceAccount": "cluster-admin", "durationSeconds": 600,
                "startTime": "2026-11-27T11:00:00Z", "expiryTime": "2026-11-27T11:10:00Z",
                "clientHost": "x", "pluginVersion": "0", "requestId": "x", "sequence": 2
            }
        }),
    );
    denied(
        &bed,
        &me,
        &["create", "-f", &forged],
        "breakglass-records",
        "must name its creator",
    );

    // Records are immutable where it matters, even for an admin.
    let admin = ["--context", "playground-admin", "-n", "breakglass"];
    denied(
        &bed,
        &admin,
        &[
            "patch",
            "bgg",
            "grant-000001",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"reason":"nothing happened"}}"#,
        ],
        "breakglass-records",
        "spec is immutable",
    );
    denied(
        &bed,
        &admin,
        &[
            "patch",
            "bgg",
            "grant-000001",
            "--subresource",
            "status",
            "--type",
            "merge",
            "-p",
            r#"{"status":{"jti":"someone-else"}}"#,
        ],
        "breakglass-records",
        "jti cannot change",
    );

    // Once revoked, final: nobody brings it back.
    assert_ok(&bed.run(&["revoke", "grant-000001"]), "revoke");
    denied(
        &bed,
        &admin,
        &[
            "patch",
            "bgg",
            "grant-000001",
            "--subresource",
            "status",
            "--type",
            "merge",
            "-p",
            r#"{"status":{"state":"Active"}}"#,
        ],
        "breakglass-records",
        "is final",
    );
    // Records are never deleted, not even by an admin.
    denied(
        &bed,
        &admin,
        &["delete", "bgg", "grant-000001"],
        "breakglass-records-kept",
        "never deleted",
    );
    let r = &bed.records()[0];
    assert_eq!(r["spec"]["reason"], "checkout is down, need to look");
    assert_eq!(r["status"]["state"], "Revoked");
}

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";

/// Another member of `sre`: the admin impersonating bob with that group, as the API
/// server authorises impersonation (the double has only alice in `sre`).
const BOB_IN_SRE: [&str; 8] = [
    "--context",
    "playground-admin",
    "-n",
    "breakglass",
    "--as",
    BOB,
    "--as-group",
    "sre",
];

/// A grant record as the plugin writes it, for `who` at chain place `sequence`, starting now.
fn record(who: &str, sequence: i64, previous: Option<&str>) -> serde_json::Value {
    let start = chrono::Utc::now();
    let at =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut r = serde_json::json!({
        "apiVersion": "breakglass.dev/v1alpha1", "kind": "BreakGlassGrant",
        "metadata": {
            "name": format!("grant-{sequence:06}"), "namespace": "breakglass",
            "labels": {"breakglass.dev/live-until": (start + chrono::Duration::seconds(600)).timestamp().to_string()}
        },
        "spec": {
            "requester": who, "requesterGroups": ["sre", "system:authenticated"],
            "reason": "checkout is down, need to look", "role": "incident-debug",
            "serviceAccount": "incident-debug", "durationSeconds": 600,
            "startTime": at(start), "expiryTime": at(start + chrono::Duration::seconds(600)),
            "clientHost": "laptop", "pluginVersion": "0", "requestId": "r", "sequence": sequence
        }
    });
    if let Some(p) = previous {
        r["spec"]["previous"] = serde_json::json!({"name": p, "digest": "sha256:00"});
    }
    r
}

/// The seal the plugin makes for `record` (as stored, with its uid), in `maker`'s name.
fn seal(record: &serde_json::Value, maker: &str) -> serde_json::Value {
    let name = record["metadata"]["name"].as_str().unwrap();
    let role = record["spec"]["role"].as_str().unwrap();
    serde_json::json!({
        "apiVersion": "v1", "kind": "Secret", "type": "breakglass.dev/seal",
        "metadata": {
            "name": format!("{name}-{role}-seal"), "namespace": "breakglass",
            "labels": {
                "breakglass.dev/seal": "true", "breakglass.dev/grant": name,
                "breakglass.dev/role": role
            },
            "annotations": {"breakglass.dev/requester": maker},
            "ownerReferences": [{
                "apiVersion": "breakglass.dev/v1alpha1", "kind": "BreakGlassGrant",
                "name": name, "uid": record["metadata"]["uid"], "controller": true,
                "blockOwnerDeletion": false
            }]
        }
    })
}

/// `kubectl create -f` of `obj` as `who`, expected to succeed; the stored object.
#[track_caller]
fn created(bed: &Bed, who: &[&str], file: &str, obj: serde_json::Value) -> serde_json::Value {
    let path = write_json(bed, file, obj);
    let args: Vec<&str> = who
        .iter()
        .copied()
        .chain(["create", "-o", "json", "-f", &path])
        .collect();
    let out = bed.kubectl(&args);
    assert_ok(&out, &format!("{args:?}"));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[track_caller]
fn denied_create(bed: &Bed, who: &[&str], obj: serde_json::Value, policy: &str, says: &str) {
    let path = write_json(bed, "attempt.json", obj);
    denied(bed, who, &["create", "-f", &path], policy, says);
}

fn status_patch<'a>(name: &'a str, patch: &'a str) -> [&'a str; 9] {
    [
        "patch",
        "bgg",
        name,
        "--subresource",
        "status",
        "--type",
        "merge",
        "-p",
        patch,
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seals_name_their_maker_and_only_the_maker_or_an_admin_deletes_one() {
    let bed = Bed::start().await;
    bed.login("alice").await;
    let me = ["--context", "playground", "-n", "breakglass"];
    assert_ok(&bed.request(&[]), "alice's request");
    let mine = bed.records()[0].clone();
    assert_eq!(mine["metadata"]["name"], "grant-000001");

    // bob (also in sre) breaks the glass by hand, step by step as the plugin does.
    let bobs = created(
        &bed,
        &BOB_IN_SRE,
        "bob-record.json",
        record(BOB, 2, Some("grant-000001")),
    );
    created(&bed, &BOB_IN_SRE, "bob-seal.json", seal(&bobs, BOB));

    // alice cannot revoke bob's grant by deleting his seal, nor change it.
    denied(
        &bed,
        &me,
        &["delete", "secret", "grant-000002-incident-debug-seal"],
        "breakglass-seal-deletes",
        "only bob@example.com or a break-glass admin",
    );
    denied(
        &bed,
        &["--context", "playground-admin", "-n", "breakglass"],
        &[
            "label",
            "secret",
            "grant-000002-incident-debug-seal",
            "breakglass.dev/grant=grant-000001",
            "--overwrite",
        ],
        "breakglass-seals",
        "a seal is never changed",
    );

    // After her revoke, alice cannot bring a seal back in another's name or without one,
    // nor in the unlabelled shape the review forged.
    assert_ok(&bed.run(&["revoke", "grant-000001"]), "revoke");
    let mut anonymous = seal(&mine, ALICE);
    anonymous["metadata"]["annotations"] = serde_json::json!({});
    denied_create(
        &bed,
        &me,
        anonymous,
        "breakglass-seals",
        "annotation breakglass.dev/requester must be alice@example.com",
    );
    denied_create(
        &bed,
        &me,
        seal(&mine, BOB),
        "breakglass-seals",
        "annotation breakglass.dev/requester must be alice@example.com",
    );
    let mut unlabelled = seal(&mine, ALICE);
    unlabelled["metadata"]["labels"] = serde_json::json!({});
    denied_create(
        &bed,
        &me,
        unlabelled,
        "breakglass-seals",
        "breakglass.dev/role=<role>, and is named <record>-<role>-seal",
    );
    let mut not_controller = seal(&mine, ALICE);
    not_controller["metadata"]["ownerReferences"][0]["controller"] = false.into();
    denied_create(
        &bed,
        &me,
        not_controller,
        "breakglass-seals",
        "owned (controller: true)",
    );

    // bob deletes his own seal: that is his revoke.
    let out = bed.kubectl(
        &BOB_IN_SRE
            .iter()
            .copied()
            .chain(["delete", "secret", "grant-000002-incident-debug-seal"])
            .collect::<Vec<_>>(),
    );
    assert_ok(&out, "bob deletes his own seal");
    assert!(bed.seals().is_empty(), "{:?}", bed.seals());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_are_written_only_along_the_protocol() {
    let bed = Bed::start().await;
    bed.login("alice").await;
    let me = ["--context", "playground", "-n", "breakglass"];
    assert_ok(&bed.request(&[]), "request");
    let policy = "breakglass-records";

    // C2: a squatted name must carry its own place, and link the place before it.
    let mut squat = record(ALICE, 1, None);
    squat["metadata"]["name"] = "grant-000005".into();
    denied_create(&bed, &me, squat, policy, "sequence 1 is grant-000001");
    denied_create(
        &bed,
        &me,
        record(ALICE, 2, None),
        policy,
        "must link its predecessor grant-000001",
    );
    denied_create(
        &bed,
        &me,
        record(ALICE, 2, Some("grant-000000")),
        policy,
        "must link its predecessor grant-000001",
    );
    let mut beyond = record(ALICE, 1_000_000_000, Some("grant-999999999"));
    beyond["metadata"]["name"] = "grant-1000000000".into();
    let path = write_json(&bed, "beyond.json", beyond);
    let out = bed.kubectl(&[&me[..], &["create", "-f", &path]].concat());
    assert!(
        !out.status.success()
            && stderr(&out)
                .contains("spec.sequence in body should be less than or equal to 999999999"),
        "{}",
        stderr(&out)
    );

    // M1: groups, account, role, times and duration are the caller's and the policy's.
    let next = || record(ALICE, 2, Some("grant-000001"));
    let mut admin = next();
    admin["spec"]["requesterGroups"] = serde_json::json!(["sre", "breakglass-admins"]);
    denied_create(
        &bed,
        &me,
        admin,
        policy,
        "requesterGroups must be its creator's groups",
    );
    let mut wider = next();
    wider["spec"]["serviceAccount"] = "cluster-admin".into();
    denied_create(&bed, &me, wider, policy, "its serviceAccount is that role");
    let mut unknown = next();
    unknown["spec"]["role"] = "default".into();
    unknown["spec"]["serviceAccount"] = "default".into();
    denied_create(
        &bed,
        &me,
        unknown,
        policy,
        "for a role of the policy (incident-debug, cluster-admin)",
    );
    let mut back_dated = next();
    back_dated["spec"]["startTime"] = "2020-01-01T00:00:00Z".into();
    denied_create(
        &bed,
        &me,
        back_dated,
        policy,
        "expiryTime is its startTime plus durationSeconds",
    );
    // A record starts when the API server creates it: not in the future (it would never
    // expire, and its seal would take fresh tokens for ever), not long ago.
    for (when, start) in [
        (
            "future",
            chrono::Utc::now() + chrono::Duration::days(365 * 73),
        ),
        ("past", chrono::Utc::now() - chrono::Duration::days(365 * 6)),
        ("skewed", chrono::Utc::now() + chrono::Duration::minutes(6)),
    ] {
        let at =
            |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let mut dated = next();
        dated["spec"]["startTime"] = at(start).into();
        dated["spec"]["expiryTime"] = at(start + chrono::Duration::seconds(600)).into();
        let path = write_json(&bed, "dated.json", dated);
        let out = bed.kubectl(&[&me[..], &["create", "-f", &path]].concat());
        assert!(
            !out.status.success()
                && stderr(&out)
                    .contains("its startTime must be within 5 minutes of its creationTimestamp"),
            "{when}: {}",
            stderr(&out)
        );
    }
    let mut long = next();
    long["spec"]["durationSeconds"] = 86400.into();
    long["spec"]["expiryTime"] = "2026-11-28T11:00:00Z".into();
    denied_create(&bed, &me, long, policy, "may last at most 3600 seconds");
    let mut escapes = next();
    escapes["spec"]["reason"] = "line one\nFAKE grant-000099 bob\u{1b}[31m".into();
    let mut reversed = next();
    reversed["spec"]["ticket"] = "INC-\u{202e}1".into();
    for (what, attempt) in [("reason", escapes), ("ticket", reversed)] {
        let path = write_json(&bed, "escapes.json", attempt);
        let out = bed.kubectl(&[&me[..], &["create", "-f", &path]].concat());
        assert!(
            !out.status.success()
                && stderr(&out).contains(&format!("spec.{what} in body should match")),
            "{}",
            stderr(&out)
        );
    }

    // A status sent with the record is dropped (status subresource), so it cannot start
    // out Revoked with a made-up jti.
    let mut forged = next();
    forged["status"] = serde_json::json!({"state": "Revoked", "jti": "fake", "revokedBy": ALICE});
    let stored = created(&bed, &me, "forged-status.json", forged);
    assert!(stored.get("status").is_none(), "{stored}");

    // The status moves only along the protocol.
    denied(
        &bed,
        &me,
        &status_patch(
            "grant-000002",
            r#"{"status":{"state":"Revoked","revokedBy":"alice@example.com","revocationConfirmed":true}}"#,
        ),
        policy,
        "not Pending -> Revoked",
    );
    denied(
        &bed,
        &me,
        &status_patch("grant-000002", r#"{"status":{"state":"Active"}}"#),
        policy,
        "written once, when it becomes Active",
    );
    // The seal recorded on a record is its own: <record>-<role>-seal.
    denied(
        &bed,
        &me,
        &status_patch(
            "grant-000002",
            r#"{"status":{"state":"Active","jti":"j","sealName":"grant-000002-cluster-admin-seal","sealUid":"u"}}"#,
        ),
        policy,
        "the seal of grant record grant-000002 is grant-000002-incident-debug-seal",
    );
    // Nothing people read may carry a terminal escape: not the failure message a requester
    // writes onto their own record, not a seal name.
    for (field, patch) in [
        (
            "status.message",
            r#"{"status":{"state":"Failed","message":"\u001b]0;pwned\u0007\u001b[2Jall fine"}}"#,
        ),
        (
            "status.sealName",
            r#"{"status":{"state":"Active","jti":"j","sealName":"grant-000002-\u001b[2J","sealUid":"u"}}"#,
        ),
    ] {
        let out = bed.kubectl(&[&me[..], &status_patch("grant-000002", patch)].concat());
        assert!(
            !out.status.success()
                // Real servers name the leaf on a status update ("message in body should
                // match"; v1.37 prefixes the path "status.message: Invalid value", v1.30
                // does not), the double the full path.
                && stderr(&out).contains(&format!(
                    "{} in body should match",
                    field.rsplit('.').next().unwrap()
                )),
            "{field}: {}",
            stderr(&out)
        );
    }
    denied(
        &bed,
        &me,
        &status_patch(
            "grant-000001",
            r#"{"status":{"sealName":"elsewhere-seal"}}"#,
        ),
        policy,
        "written once, when it becomes Active",
    );
    denied(
        &bed,
        &me,
        &status_patch("grant-000001", r#"{"status":{"message":"all fine"}}"#),
        policy,
        "written only with a change of state",
    );
    denied(
        &bed,
        &me,
        &status_patch(
            "grant-000001",
            r#"{"status":{"state":"Revoked","revokedBy":"bob@example.com"}}"#,
        ),
        policy,
        "(revokedBy: alice@example.com)",
    );
    // M2: another requester cannot mark alice's grant revoked.
    denied(
        &bed,
        &BOB_IN_SRE,
        &status_patch(
            "grant-000001",
            r#"{"status":{"state":"Revoked","revokedBy":"bob@example.com"}}"#,
        ),
        policy,
        "only the requester or a break-glass admin",
    );
    let r = &bed.records()[0];
    assert_eq!(r["status"]["state"], "Active", "{r}");

    // The protocol's own transitions still work: alice revokes, an admin fails a Pending.
    assert_ok(&bed.run(&["revoke", "grant-000001"]), "revoke");
    let out = bed.kubectl(&[
        "--context",
        "playground-admin",
        "-n",
        "breakglass",
        "patch",
        "bgg",
        "grant-000002",
        "--subresource",
        "status",
        "--type",
        "merge",
        "-p",
        r#"{"status":{"state":"Failed","message":"made by hand"}}"#,
    ]);
    assert_ok(&out, "an admin fails a hand-made Pending record");
    let states: Vec<_> = bed
        .records()
        .iter()
        .map(|r| r["status"]["state"].clone())
        .collect();
    assert_eq!(states, ["Revoked", "Failed"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_only_for_the_policys_roles_and_bound_to_a_seal() {
    let bed = Bed::start().await;
    bed.login("alice").await;
    let me = ["--context", "playground", "-n", "breakglass"];
    let admin = ["--context", "playground-admin", "-n", "breakglass"];
    assert_ok(&bed.request(&[]), "request");
    let policy = "breakglass-token-requests";

    // Not a role of the policy: refused even to an admin, even bound to a seal. (Its own
    // ServiceAccount: a cluster without the controller manager has no `default` one.)
    let mut create_sa = admin.to_vec();
    create_sa.extend_from_slice(&["create", "serviceaccount", "not-a-role"]);
    assert_ok(
        &bed.kubectl(&create_sa),
        "create a ServiceAccount that is no role",
    );
    denied(
        &bed,
        &admin,
        &[
            "create",
            "token",
            "not-a-role",
            "--bound-object-kind",
            "Secret",
            "--bound-object-name",
            "grant-000001-incident-debug-seal",
        ],
        policy,
        "ServiceAccount not-a-role is not a break-glass role",
    );
    // Bound to anything but a seal Secret: refused before the object is even looked up.
    denied(
        &bed,
        &me,
        &[
            "create",
            "token",
            "cluster-admin",
            "--bound-object-kind",
            "Pod",
            "--bound-object-name",
            "grant-000001-incident-debug-seal",
            "--bound-object-uid",
            "0b7a5c1e-0000-4000-8000-000000000000",
        ],
        policy,
        "must be bound to its seal Secret",
    );
    // Bound to the seal of an incident-debug grant, a cluster-admin token is refused: the
    // seal's name carries its grant's role, and the token's role must be that one.
    let uid = bed
        .seals()
        .iter()
        .find(|s| s["metadata"]["name"] == "grant-000001-incident-debug-seal")
        .expect("alice's seal")["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    let bound = |role: &'static str| -> Vec<String> {
        [
            "create",
            "token",
            role,
            "--duration",
            "10m",
            "--bound-object-kind",
            "Secret",
            "--bound-object-name",
            "grant-000001-incident-debug-seal",
            "--bound-object-uid",
            &uid,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let escalate = bound("cluster-admin");
    let escalate: Vec<&str> = escalate.iter().map(String::as_str).collect();
    denied(
        &bed,
        &me,
        &escalate,
        policy,
        "must be bound to the seal of a cluster-admin grant (grant-NNNNNN-cluster-admin-seal)",
    );
    // The seal's own role passes this check (minting outside the protocol is the documented
    // gap: that token's jti is on no record, and it dies with the seal).
    let same = bound("incident-debug");
    let same: Vec<&str> = same.iter().map(String::as_str).collect();
    let out = bed.kubectl(&[&me[..], &same[..]].concat());
    assert_ok(&out, "a token of the seal's own role");
}
