//! History does not slow an emergency (issue 11, item 4): `request` end to end with 10
//! grant records in the cluster and with 10,000, and `audit` over 20, 1,000 and 10,000
//! (time and peak memory, in each output form: memory bounded by a page shows as the same
//! peak at 1,000 and 10,000).
//!
//! The history is written by the admin straight to the API server (no plugin): valid
//! chain records (named after their place, linked by the predecessor's digest, labelled
//! with their expiry, in the admin's own name, as the admission policies want), each
//! already expired, created up to 64 at a time. Then `request` runs as the person (a
//! release build): it finds the chain's head from where this machine last saw it, reads
//! the grants that may be live, writes record, seal and token. After each timed request the
//! admin ends the grant directly (seal deleted, record Revoked: `revoke` would wait ~10 s
//! for the API server's token cache). Target: the median at 10,000 at most 1.2× the
//! median at 10.
//!
//! A real history is old; this one is written moments before the requests, and the API
//! server's `creationTimestamp` cannot be set back. `request` reads the records back from
//! the head while they were created within two minutes of it (requests in flight, see
//! docs/grant-protocol.md), so after each write the bench waits that window out before it
//! times a request: otherwise the 10,000th size would measure a walk over records no real
//! cluster has that young (and its fallback, the label list). The first request after the history grew (this machine's hint 9,990
//! places behind) is shown apart.
//!
//! `cargo bench --bench history` (`BENCH_RUNS=N` requests per size, default 9;
//! `BENCH_RECORDS=N` history, default 10000). Needs the test bed's real API server, like
//! `request_latency`; without Go it exits 1 saying so. A bench, never run by `cargo test`.

#![allow(clippy::print_stdout, clippy::print_stderr)] // the report is this program's output

#[path = "../src/grant/model/canonical.rs"]
mod canonical;
mod support;

use breakglass_testbed::idp::IdpConfig;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::core::DynamicObject;
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::bed::Bed;
use support::process::{load_average, median, ms, percentile, time};

const NS: &str = "breakglass";

fn main() {
    let runs: usize = env_number("BENCH_RUNS", 9);
    let history: i64 = env_number("BENCH_RECORDS", 10_000);
    let bed = Bed::start(
        "history",
        IdpConfig {
            id_token_ttl: Duration::from_secs(3600),
            ..IdpConfig::default()
        },
    );
    bed.log_in();
    let admin = bed.runtime.block_on(Admin::connect(&bed));
    let mut request = bed.plugin(&[
        "--context",
        "playground",
        "request",
        "--reason",
        "benchmark of request with history",
        "--role",
        "incident-debug",
        "--duration",
        "10m",
    ]);
    request.stdout(Stdio::null()).stderr(Stdio::null());

    // 10 records, then the requests (which add theirs).
    let mut head = bed.runtime.block_on(admin.write_history(None, 1, 10));
    age_past_the_walk();
    let load_before = load_average();
    // Warm the path (the API server's first use of each call, the hint file).
    time(&mut request);
    bed.runtime.block_on(admin.end_live_grants());
    let from = chrono::Utc::now();
    let small = timed_requests(&bed, &admin, &mut request, runs);
    let small_server = server_time(&bed, from, runs);
    let small_records = bed.runtime.block_on(admin.count());
    let small_probe = bed.runtime.block_on(admin.probe());
    let small_audits: Vec<Audit> = FORMATS.iter().map(|f| audit(&bed, f)).collect();

    // Grow the history to a tenth of `history` (audit measured there: more than a page, so
    // its peak shows whether memory grows past one), then to `history` records.
    let last = bed.runtime.block_on(admin.last_record(&head));
    let from = last["spec"]["sequence"].as_i64().unwrap() + 1;
    let tenth = history / 10;
    head = bed
        .runtime
        .block_on(admin.write_history(Some(last), from, tenth - from + 1));
    let middle_records = bed.runtime.block_on(admin.count());
    let middle_audits: Vec<Audit> = FORMATS.iter().map(|f| audit(&bed, f)).collect();
    let last = bed.runtime.block_on(admin.last_record(&head));
    let from = last["spec"]["sequence"].as_i64().unwrap() + 1;
    let t = Instant::now();
    head = bed
        .runtime
        .block_on(admin.write_history(Some(last), from, history - from + 1));
    let wrote = t.elapsed();
    eprintln!(
        "  wrote {} records in {:.1} s ({:.0}/s)",
        history - from + 1,
        wrote.as_secs_f64(),
        (history - from + 1) as f64 / wrote.as_secs_f64()
    );
    age_past_the_walk();
    let cold = time(&mut request);
    bed.runtime.block_on(admin.end_live_grants());
    let from = chrono::Utc::now();
    let large = timed_requests(&bed, &admin, &mut request, runs);
    let large_server = server_time(&bed, from, runs);
    let large_records = bed.runtime.block_on(admin.count());
    let large_probe = bed.runtime.block_on(admin.probe());
    let _ = head;

    // audit over everything, as the person, in a fresh process: time and peak memory, in
    // each output form, with the small history (before it grew: measured here from the
    // large one's numbers would not tell) kept from above.
    let large_audits: Vec<Audit> = FORMATS.iter().map(|f| audit(&bed, f)).collect();
    let load_after = load_average();

    let (m_small, m_large) = (median(&small), median(&large));
    println!(
        "request with history on kube-apiserver {}, {runs} runs per size, load average \
         {load_before} before, {load_after} after",
        bed.version()
    );
    println!(
        "  {small_records:>6} records  request median {:>7.1} ms  p90 {:>7.1} ms",
        ms(m_small),
        ms(percentile(&small, 90.0))
    );
    println!(
        "  {large_records:>6} records  request median {:>7.1} ms  p90 {:>7.1} ms  {:.2}x the small history (target <= 1.2x)",
        ms(m_large),
        ms(percentile(&large, 90.0)),
        m_large.as_secs_f64() / m_small.as_secs_f64()
    );
    let (s_total, l_total) = (small_server.per_request, large_server.per_request);
    println!(
        "  the API server's own time for the plugin's calls, per request (its audit log): {s_total:.1} ms at {small_records}, {l_total:.1} ms at {large_records}; the rest of the wall time (the plugin, the network, process start): {:.1} ms, {:.1} ms ({:.2}x)",
        ms(m_small) - s_total,
        ms(m_large) - l_total,
        (ms(m_large) - l_total) / (ms(m_small) - s_total)
    );
    for (call, small_ms) in &small_server.by_call {
        let large_ms = large_server
            .by_call
            .iter()
            .find(|(c, _)| c == call)
            .map_or(f64::NAN, |(_, t)| *t);
        println!("    {call:<44} median {small_ms:>5.2} ms at {small_records}, {large_ms:>5.2} ms at {large_records}");
    }
    println!(
        "  first request after the history grew (hint {} places behind): {:.1} ms",
        history - small_records as i64,
        ms(cold)
    );
    println!(
        "  API server alone: live-label list {:.1} ms at {small_records}, {:.1} ms at {large_records} (request's fallback); seal list {:.1} ms, {:.1} ms; GET by name {:.1} ms, {:.1} ms (from the cache {:.1} ms, {:.1} ms)",
        ms(small_probe.labels),
        ms(large_probe.labels),
        ms(small_probe.seals),
        ms(large_probe.seals),
        ms(small_probe.get),
        ms(large_probe.get),
        ms(small_probe.get_cached),
        ms(large_probe.get_cached)
    );
    for ((small, middle), large) in small_audits.iter().zip(&middle_audits).zip(&large_audits) {
        println!(
            "  audit {:<5}  {small_records:>5} records {:>5.2} s {:>5.1} MiB;  {middle_records:>5} records {:>5.2} s {:>5.1} MiB;  {large_records:>5} records {:>5.2} s {:>5.1} MiB peak RSS ({:.2}x the {middle_records})",
            large.format,
            small.seconds,
            small.peak_mib,
            middle.seconds,
            middle.peak_mib,
            large.seconds,
            large.peak_mib,
            large.peak_mib / middle.peak_mib
        );
    }
}

/// The API server's time for single reads (see [`Admin::probe`]).
struct Probe {
    labels: Duration,
    seals: Duration,
    get: Duration,
    get_cached: Duration,
}

/// Waits until the newest record is older than the window `request` walks back over (two
/// minutes of the API server's clock; see the module's note), as any real history is.
fn age_past_the_walk() {
    eprintln!("  waiting 125 s: the history just written must be older than request's walk");
    std::thread::sleep(Duration::from_secs(125));
}

/// What the API server's audit log says of the plugin's calls during timed requests.
struct ServerTime {
    /// Milliseconds the API server spent on them (received to response complete), per
    /// request.
    per_request: f64,
    /// Median milliseconds per kind of call (`verb resource`), in the order first seen.
    by_call: Vec<(String, f64)>,
}

/// The API server's own time for the plugin's calls (its user agent) received since
/// `from`, over `runs` requests, from the real API server's audit log.
fn server_time(bed: &Bed, from: chrono::DateTime<chrono::Utc>, runs: usize) -> ServerTime {
    let path = bed
        .pg
        .api
        .real()
        .expect("a real API server")
        .audit_log_path();
    let text = std::fs::read_to_string(path).unwrap();
    let at = |v: &Value, field: &str| {
        v[field]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&chrono::Utc))
    };
    let mut total = 0.0;
    let mut by_call: Vec<(String, Vec<f64>)> = Vec::new();
    for line in text.lines() {
        let Ok(event) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let agent = event["userAgent"].as_str().unwrap_or_default();
        if event["stage"] != "ResponseComplete"
            || !agent.starts_with("kubectl-breakglass/")
            || agent.contains("token check")
        {
            continue;
        }
        let (Some(received), Some(done)) = (
            at(&event, "requestReceivedTimestamp"),
            at(&event, "stageTimestamp"),
        ) else {
            continue;
        };
        if received < from {
            continue;
        }
        let took = (done - received).num_microseconds().unwrap_or(0) as f64 / 1000.0;
        total += took;
        let resource = event["objectRef"]["resource"]
            .as_str()
            .or(event["requestURI"].as_str())
            .unwrap_or_default();
        let sub = event["objectRef"]["subresource"]
            .as_str()
            .unwrap_or_default();
        let call = format!(
            "{} {resource}{}{sub}",
            event["verb"].as_str().unwrap_or_default(),
            if sub.is_empty() { "" } else { "/" }
        );
        match by_call.iter_mut().find(|(c, _)| *c == call) {
            Some((_, times)) => times.push(took),
            None => by_call.push((call, vec![took])),
        }
    }
    ServerTime {
        per_request: total / runs as f64,
        by_call: by_call
            .into_iter()
            .map(|(call, mut times)| {
                times.sort_by(f64::total_cmp);
                (call, times[times.len() / 2])
            })
            .collect(),
    }
}

/// The output forms `audit` is measured in: the table, the JSON document, JSON lines.
const FORMATS: [&str; 3] = ["table", "json", "jsonl"];

/// One `audit` run: its wall time and peak resident memory.
struct Audit {
    format: &'static str,
    seconds: f64,
    peak_mib: f64,
}

/// `audit` over every record, as the person, in a fresh process under `/usr/bin/time`;
/// fails unless the chain verifies (and, for JSON, the report parses).
fn audit(bed: &Bed, format: &'static str) -> Audit {
    let mut audit = Command::new("/usr/bin/time");
    audit.args(["-f", "%e %M"]).arg(&bed.plugin);
    bed.env(&mut audit)
        .args(["--context", "playground", "audit"]);
    if format != "table" {
        audit.args(["-o", format]);
    }
    let t = Instant::now();
    let out = audit.output().unwrap();
    let seconds = t.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "audit -o {format} failed: {stderr}");
    let peak_kib: f64 = stderr
        .lines()
        .last()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|k| k.parse().ok())
        .unwrap_or(0.0);
    assert!(
        stderr.contains("Hash chain intact"),
        "the written history must verify: {stderr}"
    );
    if format == "json" {
        let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("audit printed no report ({e}): {stderr}");
        });
        assert_eq!(report["chain"]["intact"], true, "{}", report["chain"]);
    }
    Audit {
        format,
        seconds,
        peak_mib: peak_kib / 1024.0,
    }
}

fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `runs` timed requests, each grant ended by the admin before the next.
fn timed_requests(bed: &Bed, admin: &Admin, request: &mut Command, runs: usize) -> Vec<Duration> {
    let mut times = Vec::new();
    for i in 0..runs {
        times.push(time(request));
        bed.runtime.block_on(admin.end_live_grants());
        eprintln!("  run {}/{runs}: request {:.1} ms", i + 1, ms(times[i]));
    }
    times
}

/// The admin's own client, straight to the API server.
struct Admin {
    records: Api<DynamicObject>,
    seals: Api<k8s_openapi::api::core::v1::Secret>,
    username: String,
    groups: Vec<String>,
}

impl Admin {
    async fn connect(bed: &Bed) -> Admin {
        let kubeconfig = kube::config::Kubeconfig::read_from(bed.kubeconfig()).unwrap();
        let options = kube::config::KubeConfigOptions {
            context: Some("playground-admin".into()),
            ..Default::default()
        };
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .unwrap();
        let client = kube::Client::try_from(config).unwrap();
        let review: Api<k8s_openapi::api::authentication::v1::SelfSubjectReview> =
            Api::all(client.clone());
        let me = review
            .create(&PostParams::default(), &Default::default())
            .await
            .unwrap();
        let user = me.status.and_then(|s| s.user_info).unwrap_or_default();
        let resource = kube::api::ApiResource {
            group: "breakglass.dev".into(),
            version: "v1alpha1".into(),
            api_version: "breakglass.dev/v1alpha1".into(),
            kind: "BreakGlassGrant".into(),
            plural: "breakglassgrants".into(),
        };
        Admin {
            records: Api::namespaced_with(client.clone(), NS, &resource),
            seals: Api::namespaced(client, NS),
            username: user.username.unwrap_or_default(),
            groups: user.groups.unwrap_or_default(),
        }
    }

    /// Writes `count` expired records at places `from`.., linked to `previous` (the
    /// record before `from`, as stored); the last one written.
    async fn write_history(&self, previous: Option<Value>, from: i64, count: i64) -> Value {
        let mut previous = previous;
        let mut in_flight = tokio::task::JoinSet::new();
        let mut last = Value::Null;
        for sequence in from..from + count {
            let record = self.record(sequence, previous.as_ref());
            previous = Some(record.clone());
            last = record.clone();
            let api = self.records.clone();
            let obj: DynamicObject = serde_json::from_value(record).unwrap();
            in_flight.spawn(async move { api.create(&PostParams::default(), &obj).await });
            if in_flight.len() >= 64 {
                in_flight.join_next().await.unwrap().unwrap().unwrap();
            }
        }
        while let Some(done) = in_flight.join_next().await {
            done.unwrap().unwrap();
        }
        last
    }

    /// A record as the plugin writes it, in the admin's name, at `sequence`, run out
    /// already (started 3 minutes ago for 60 s: the policy wants its start within 5
    /// minutes of its creation).
    fn record(&self, sequence: i64, previous: Option<&Value>) -> Value {
        let start = chrono::Utc::now() - chrono::Duration::minutes(3);
        let expiry = start + chrono::Duration::seconds(60);
        let at =
            |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let name = format!("grant-{sequence:06}");
        let mut spec = json!({
            "requester": self.username, "requesterGroups": self.groups,
            "reason": format!("history record {sequence}"), "role": "incident-debug",
            "serviceAccount": "incident-debug", "durationSeconds": 60,
            "startTime": at(start), "expiryTime": at(expiry),
            "clientHost": "bench", "pluginVersion": "bench", "requestId": format!("bench-{sequence}"),
            "sequence": sequence
        });
        if let Some(p) = previous {
            let p_name = p["metadata"]["name"].as_str().unwrap();
            spec["previous"] = json!({"name": p_name, "digest": digest(p_name, &p["spec"])});
        }
        json!({
            "apiVersion": "breakglass.dev/v1alpha1", "kind": "BreakGlassGrant",
            "metadata": {
                "name": name, "namespace": NS,
                "labels": {"breakglass.dev/live-until": expiry.timestamp().to_string()}
            },
            "spec": spec,
        })
    }

    /// The record with the highest place now (the requests added theirs after `written`).
    async fn last_record(&self, written: &Value) -> Value {
        let mut sequence = written["spec"]["sequence"].as_i64().unwrap();
        let stored = self.records.get(&format!("grant-{sequence:06}")).await;
        let mut last = serde_json::to_value(stored.unwrap()).unwrap();
        loop {
            sequence += 1;
            match self
                .records
                .get_opt(&format!("grant-{sequence:06}"))
                .await
                .unwrap()
            {
                Some(r) => last = serde_json::to_value(r).unwrap(),
                None => return last,
            }
        }
    }

    /// The API server's own time for the reads whose cost could grow with the history: the
    /// label-selector list of grants that may be live (request's fallback), the seal list
    /// request makes instead (as it makes it: by label, from the cache) and a GET by name,
    /// from etcd and from the cache (medians of 15, as the admin).
    async fn probe(&self) -> Probe {
        let mut listed = Vec::new();
        let mut sealed = Vec::new();
        let mut got = Vec::new();
        let mut cached = Vec::new();
        for _ in 0..15 {
            let t = Instant::now();
            self.seals
                .list(
                    &ListParams::default()
                        .labels("breakglass.dev/seal=true")
                        .match_any(),
                )
                .await
                .unwrap();
            sealed.push(t.elapsed());
            let since = chrono::Utc::now().timestamp() - 120;
            let selector = format!("breakglass.dev/live-until>{since}");
            let t = Instant::now();
            self.records
                .list(&ListParams::default().labels(&selector))
                .await
                .unwrap();
            listed.push(t.elapsed());
            let t = Instant::now();
            self.records.get_opt("grant-000001").await.unwrap();
            got.push(t.elapsed());
            let t = Instant::now();
            self.records
                .get_with("grant-000001", &kube::api::GetParams::any())
                .await
                .unwrap();
            cached.push(t.elapsed());
        }
        Probe {
            labels: median(&listed),
            seals: median(&sealed),
            get: median(&got),
            get_cached: median(&cached),
        }
    }

    /// Ends every grant that may be live: seal deleted, record Revoked by the admin.
    async fn end_live_grants(&self) {
        let since = chrono::Utc::now().timestamp() - 120;
        let selector = format!("breakglass.dev/live-until>{since}");
        let live = self
            .records
            .list(&ListParams::default().labels(&selector))
            .await
            .unwrap();
        for r in live.items {
            let data = &r.data;
            if data["status"]["state"] != "Active" {
                continue;
            }
            let name = r.metadata.name.clone().unwrap();
            let seal = data["status"]["sealName"].as_str().unwrap_or_default();
            let _ = self.seals.delete(seal, &DeleteParams::default()).await;
            let status = json!({"status": {
                "state": "Revoked", "revokedBy": self.username,
                "revokedAt": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            }});
            self.records
                .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
                .await
                .unwrap();
        }
    }

    async fn count(&self) -> usize {
        let mut n = 0;
        let mut params = ListParams::default().limit(1000);
        loop {
            let page = self.records.list_metadata(&params).await.unwrap();
            n += page.items.len();
            match page.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(c) => params = params.continue_token(&c),
                None => return n,
            }
        }
    }
}

/// The digest `src/grant/model/chain.rs` gives a record: of `{"name", "spec"}`.
fn digest(name: &str, spec: &Value) -> String {
    canonical::digest(&json!({"name": name, "spec": spec}))
}
