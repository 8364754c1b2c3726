//! `request` and `revoke` reach the cluster the way kubectl does: kube builds the client from
//! the context's cluster entry, so `proxy-url` and `tls-server-name` are honoured, and only
//! the credentials are the plugin's own.

mod common;

use breakglass_testbed::connect_proxy::{ConnectProxy, TcpForward};
use common::grants::Bed;
use common::*;

/// The kubeconfig with the context's cluster entry pointed at `server` and given `extra`
/// fields (e.g. `proxy-url`), as kubectl would read them.
fn rewrite_cluster(bed: &Bed, server: &str, extra: &[(&str, &str)]) {
    let text = bed.kubeconfig_text();
    let line = regex::Regex::new(&format!(
        r"(?m)^(\s*)server: {}\s*$",
        regex::escape(bed.pg.api.url())
    ))
    .unwrap();
    let indent = line
        .captures(&text)
        .expect("the kubeconfig names the API server")[1]
        .to_string();
    let mut with = format!("{indent}server: {server}");
    for (key, value) in extra {
        with.push_str(&format!("\n{indent}{key}: {value}"));
    }
    let changed = line.replace_all(&text, regex::NoExpand(&with)).into_owned();
    std::fs::write(bed.pg.kubeconfig_path(), changed).unwrap();
}

/// Breaks the glass and revokes with confirmation: both must reach the cluster.
#[track_caller]
fn request_and_revoke(bed: &Bed) {
    let out = bed.request(&[]);
    assert_ok(&out, "request");
    let out = bed.run(&["revoke", "-o", "json"]);
    assert_ok(&out, "revoke");
    let outcomes: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(outcomes[0]["confirmation"], "observed", "{outcomes}");
    let records = bed.records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["status"]["state"], "Revoked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_context_behind_an_http_connect_proxy_works() {
    let bed = Bed::start().await;
    bed.login("alice").await;
    let proxy = ConnectProxy::start().await.unwrap();
    let server = bed.pg.api.url().to_string();
    rewrite_cluster(&bed, &server, &[("proxy-url", proxy.url())]);

    let out = bed.request(&[]);
    assert_ok(&out, "request through the proxy");
    let after_request = proxy.tunnels();
    assert!(after_request > 0, "request did not use proxy-url");
    let out = bed.run(&["revoke", "-o", "json"]);
    assert_ok(&out, "revoke through the proxy");
    let outcomes: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(outcomes[0]["confirmation"], "observed", "{outcomes}");
    assert!(
        proxy.tunnels() > after_request,
        "revoke did not use proxy-url"
    );
    assert_eq!(bed.records()[0]["status"]["state"], "Revoked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_reached_by_an_address_its_certificate_lacks_works_with_tls_server_name() {
    let bed = Bed::start().await;
    bed.login("alice").await;
    // The serving certificate names localhost, 127.0.0.1 and ::1; 127.0.0.2 is none of them.
    let upstream = bed.pg.api.url().trim_start_matches("https://").to_string();
    let forward = TcpForward::start("127.0.0.2:0", &upstream).await.unwrap();
    let server = format!("https://{}", forward.addr());

    rewrite_cluster(&bed, &server, &[]);
    let out = bed.request(&[]);
    assert_fails_with(
        &out,
        &["presented a TLS certificate this machine refuses", &server],
    );

    rewrite_cluster_again(&bed, &server, &[("tls-server-name", "localhost")]);
    // kubectl (the admin reads) honours tls-server-name as well.
    assert!(
        bed.records().is_empty(),
        "nothing is created on a refused certificate"
    );
    request_and_revoke(&bed);
}

/// Like [`rewrite_cluster`], for a kubeconfig whose server was rewritten already.
fn rewrite_cluster_again(bed: &Bed, server: &str, extra: &[(&str, &str)]) {
    let text = bed.kubeconfig_text();
    let mut with = format!("server: {server}");
    let indent = text
        .lines()
        .find(|l| l.trim_start() == with)
        .map(|l| l[..l.len() - l.trim_start().len()].to_string())
        .expect("the rewritten server line");
    for (key, value) in extra {
        with.push_str(&format!("\n{indent}{key}: {value}"));
    }
    let changed = text.replace(&format!("server: {server}"), &with);
    std::fs::write(bed.pg.kubeconfig_path(), changed).unwrap();
}
