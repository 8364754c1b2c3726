//! Every refusal happens before anything is created, in one `error:` line that says what to
//! do next: reason, ticket, role, duration, group, login, policy, CRD, unreachable cluster.

mod common;

use common::grants::Bed;
use common::*;
use serde_json::json;

/// Runs `request ARGS` and checks the refusal left the cluster untouched.
#[track_caller]
fn refused(bed: &Bed, args: &[&str], needles: &[&str]) {
    let out = bed.run(args);
    assert_fails_with(&out, needles);
    assert_eq!(
        stderr(&out)
            .lines()
            .filter(|l| l.starts_with("error: "))
            .count(),
        1,
        "{}",
        stderr(&out)
    );
    assert!(bed.records().is_empty(), "no record after {args:?}");
    assert!(bed.seals().is_empty(), "no seal after {args:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_before_anything_is_created() {
    let bed = Bed::start().await;
    refused(
        &bed,
        &["request", "--reason", "checkout is down, need to look"],
        &["not logged in", "kubectl breakglass login"],
    );
    bed.login("alice").await;
    refused(&bed, &["request"], &["a reason is required", "--reason"]);
    refused(
        &bed,
        &["request", "--reason", "down"],
        &["too short", "at least 10"],
    );
    let reason = "checkout is down, need to look";
    refused(
        &bed,
        &["request", "--reason", reason, "--role", "root"],
        &["unknown role \"root\"", "incident-debug, cluster-admin"],
    );
    refused(
        &bed,
        &["request", "--reason", reason, "--duration", "2h"],
        &["longer than role incident-debug's maximum of 1h"],
    );
    refused(
        &bed,
        &["request", "--reason", reason, "--duration", "5m"],
        &[
            "shorter than the minimum of 10m",
            "API server refuses",
            "10 minutes",
        ],
    );
    refused(
        &bed,
        &["request", "--reason", reason, "--duration", "soon"],
        &["invalid --duration \"soon\"", "30m"],
    );
    refused(
        &bed,
        &["request", "--reason", reason, "--duration", "-5m"],
        &["invalid --duration \"-5m\": a grant cannot last a negative time"],
    );
    refused(
        &bed,
        &["request", "--reason", reason, "--duration", "90"],
        &["invalid --duration \"90\": give a unit, such as 90m"],
    );
    bed.patch_policy(json!({ "ticketRequired": "true" }));
    refused(
        &bed,
        &["request", "--reason", reason],
        &["requires a ticket", "--ticket"],
    );
    bed.patch_policy(json!({ "ticketRequired": "sometimes" }));
    refused(
        &bed,
        &["request", "--reason", reason, "--ticket", "INC-1"],
        &["field \"ticketRequired\"", "deploy/03-policy.yaml"],
    );
    bed.patch_policy(json!({ "ticketRequired": "false", "cluster-admin.maxDuration": "forever" }));
    refused(
        &bed,
        &["request", "--reason", reason, "--role", "cluster-admin"],
        &["malformed: field \"cluster-admin.maxDuration\""],
    );
    // Text that could forge a listing, or will not fit a record.
    refused(
        &bed,
        &[
            "request",
            "--reason",
            "line one\nFAKE grant-000099 bob@example.com",
        ],
        &[
            "--reason contains the control or invisible character U+000A",
            "one line of plain text",
        ],
    );
    refused(
        &bed,
        &["request", "--reason", "red \u{1b}[31m alert \u{1b}[0m"],
        &["--reason contains the control or invisible character U+001B"],
    );
    refused(
        &bed,
        &["request", "--reason", reason, "--ticket", "\u{1b}[2J"],
        &["--ticket contains the control or invisible character U+001B"],
    );
    for invisible in ['\u{200B}', '\u{200F}', '\u{061C}', '\u{FEFF}', '\u{2028}'] {
        let sneaky = format!("checkout is{invisible} down, need to look");
        refused(
            &bed,
            &["request", "--reason", &sneaky],
            &[&format!("U+{:04X}", u32::from(invisible))],
        );
    }
    refused(
        &bed,
        &["request", "--reason", reason, "--ticket", "   "],
        &["--ticket is empty"],
    );
    let long = "x".repeat(100_000);
    refused(
        &bed,
        &["request", "--reason", &long],
        &["--reason is 100000 characters long, more than the 1024 a record takes"],
    );
    let out = bed.kubectl(&[
        "--context",
        "playground-admin",
        "-n",
        "breakglass",
        "delete",
        "configmap",
        "breakglass-policy",
    ]);
    assert_ok(&out, "delete the policy");
    refused(
        &bed,
        &["request", "--reason", reason],
        &["no break-glass policy", "kubectl apply -f deploy/"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_without_the_crd_says_which_manifest_to_apply() {
    let bed = Bed::start().await;
    bed.login("alice").await;
    let out = bed.kubectl(&[
        "--context",
        "playground-admin",
        "delete",
        "crd",
        "breakglassgrants.breakglass.dev",
    ]);
    assert_ok(&out, "delete the CRD");
    let out = bed.request(&[]);
    assert_fails_with(
        &out,
        &[
            "CRD is not installed",
            "kubectl apply -f deploy/",
            "deploy/01-crd.yaml",
        ],
    );
    assert!(bed.seals().is_empty());
    // revoke and review read one record by name: the missing CRD is still named as such.
    let log = tempfile::NamedTempFile::new().unwrap();
    let log = log.path().to_str().unwrap();
    for args in [
        &["revoke", "grant-000001"][..],
        &["review", "grant-000001", "--audit-log", log],
    ] {
        let out = bed.run(args);
        assert_fails_with(
            &out,
            &[
                "CRD is not installed",
                "kubectl apply -f deploy/",
                "deploy/01-crd.yaml",
            ],
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_cluster_is_named() {
    let bed = Bed::start().await;
    bed.login("alice").await;
    let text = bed.kubeconfig_text();
    let url = bed.pg.api.url().to_string();
    let dead = format!("https://127.0.0.1:{}", dead_port());
    std::fs::write(bed.pg.kubeconfig_path(), text.replace(&url, &dead)).unwrap();
    let out = bed.request(&[]);
    assert_fails_with(&out, &["no answer from the cluster at", &dead]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_certificate_from_an_unknown_ca_is_named_as_such() {
    use base64::Engine as _;
    let bed = Bed::start().await;
    bed.login("alice").await;
    let b64 = |pem: &str| base64::engine::general_purpose::STANDARD.encode(pem);
    let trusted = b64(bed.pg.ca.cert_pem());
    let other = {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "some other CA");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .self_signed(&rcgen::KeyPair::generate().unwrap())
            .unwrap()
            .pem()
    };
    let text = bed.kubeconfig_text();
    assert!(text.contains(&trusted));
    std::fs::write(
        bed.pg.kubeconfig_path(),
        text.replace(&trusted, &b64(&other)),
    )
    .unwrap();
    // As the person (the plugin builds the client) and as the admin (kube's own loader).
    for args in [
        &["request", "--reason", "checkout is down, need to look"][..],
        &["--context", "playground-admin", "status", "--all"],
    ] {
        let out = bed.run(args);
        assert_fails_with(
            &out,
            &[
                "a CA this machine does not trust (UnknownIssuer)",
                bed.pg.api.url(),
                "certificate-authority",
            ],
        );
        assert!(
            !stderr(&out).contains("check your network"),
            "{}",
            stderr(&out)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_bad_role_blocks_only_itself_and_hand_made_text_is_printed_escaped() {
    let bed = Bed::start().await;
    bed.login("alice").await;
    bed.patch_policy(json!({ "cluster-admin.maxDuration": "forever" }));
    let out = bed.request(&[]);
    assert_ok(&out, "a request for the role whose keys are fine");
    assert!(
        stderr(&out).contains(
            "warning: role cluster-admin cannot be requested: the break-glass policy (ConfigMap \
             breakglass/breakglass-policy) is malformed: field \"cluster-admin.maxDuration\""
        ),
        "{}",
        stderr(&out)
    );

    // A record made by hand with a line break and a terminal escape in its reason: the
    // CRD's pattern refuses it; a cluster with an older CRD keeps it, and then it is printed
    // escaped, one line per record.
    bed.drop_admission();
    let mut forged = Bed::forged_record(&bed.records()[0], "grant-000002", 2);
    forged["spec"]["reason"] = "one\nFAKE grant-000099 bob@example.com\u{1b}[31m RED".into();
    let created = bed.admin_create(&forged);
    if !created.status.success() {
        assert!(
            stderr(&created).contains("spec.reason in body should match"),
            "{}",
            stderr(&created)
        );
        return;
    }
    let out = bed.run(&["--context", "playground-admin", "audit"]);
    let table = stdout(&out);
    assert!(!table.contains('\u{1b}'), "{table}");
    assert_eq!(table.lines().count(), 3, "one line per record:\n{table}");
    assert!(
        table.contains("one\\nFAKE grant-000099 bob@example.com\\u{1b}[31m RED"),
        "{table}"
    );
}
