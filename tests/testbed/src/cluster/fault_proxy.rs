//! A TLS proxy in front of the real API server that injects faults (latency, error
//! statuses, dropped connections, 409s) by method, path and call count — the same rules
//! ([`Faults`]) the API double applies to itself — and passes everything else through,
//! streaming answers (watches) as they come.

use crate::apiserver::paths;
use crate::apiserver::serve::DropConnection;
use crate::apiserver::status::ApiError;
use crate::apiserver::{FaultKind, Faults};
use anyhow::{Context, Result};
use bytes::Bytes;
use futures_util::TryStreamExt;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::sync::Arc;

type ProxyBody = BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// Headers that belong to one connection, not to the request or answer.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "host",
];

/// A running proxy; dropping it stops accepting connections.
pub struct FaultProxy {
    url: String,
    faults: Arc<Faults>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on a free loopback port with a certificate from `ca`, forwarding to `upstream`
    /// (which must present a certificate from the same CA).
    pub async fn start(upstream: &str, ca: &crate::tls::Ca) -> Result<FaultProxy> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", crate::ports::unique_port()?))
            .await
            .context("binding the fault proxy to 127.0.0.1")?;
        let url = format!("https://127.0.0.1:{}", listener.local_addr()?.port());
        let tls = ca.issue_loopback_server_cert()?.rustls_server_config()?;
        let client = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(ca.cert_pem().as_bytes())?)
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("building the fault proxy's client")?;
        let faults = Arc::new(Faults::default());
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_string(),
            client,
            faults: faults.clone(),
        });
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                // As the API server does (Go sets it on every connection): without it, an
                // answer written in two pieces waits for the client's delayed ACK (~40 ms).
                let _ = tcp.set_nodelay(true);
                let acceptor = acceptor.clone();
                let shared = shared.clone();
                tokio::spawn(async move {
                    let Ok(stream) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(move |req| {
                        let shared = shared.clone();
                        async move { shared.handle(req).await }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(FaultProxy { url, faults, task })
    }

    /// `https://127.0.0.1:PORT`: what the kubeconfig points at.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The fault rules applied to requests through this proxy.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Shared {
    upstream: String,
    client: reqwest::Client,
    faults: Arc<Faults>,
}

impl Shared {
    async fn handle(&self, req: Request<Incoming>) -> Result<Response<ProxyBody>, DropConnection> {
        let method = req.method().as_str().to_string();
        let path_and_query = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        match self.faults.check(&method, &path_and_query) {
            Some(FaultKind::Latency(d)) => tokio::time::sleep(d).await,
            Some(FaultKind::Status(code)) => return Ok(status(&ApiError::from_code(code))),
            Some(FaultKind::Drop) => return Err(DropConnection),
            Some(FaultKind::Conflict) => {
                let query = paths::parse_query(req.uri().query());
                let info = paths::request_info(&method, req.uri().path(), &query);
                let name = if info.name.is_empty() {
                    "unknown"
                } else {
                    &info.name
                };
                return Ok(status(&ApiError::conflict(
                    &info.group,
                    &info.resource,
                    name,
                )));
            }
            None => {}
        }
        match self.forward(req, &path_and_query).await {
            Ok(r) => Ok(r),
            // The upstream went away: so does this connection, as a real network would.
            Err(_) => Err(DropConnection),
        }
    }

    async fn forward(
        &self,
        req: Request<Incoming>,
        path_and_query: &str,
    ) -> Result<Response<ProxyBody>> {
        let (parts, body) = req.into_parts();
        let body = body.collect().await?.to_bytes();
        let mut upstream = self.client.request(
            parts.method.clone(),
            format!("{}{}", self.upstream, path_and_query),
        );
        for (name, value) in &parts.headers {
            if !HOP_BY_HOP.contains(&name.as_str()) {
                upstream = upstream.header(name, value);
            }
        }
        let answer = upstream.body(body).send().await?;
        let mut response = Response::builder().status(answer.status().as_u16());
        for (name, value) in answer.headers() {
            if !HOP_BY_HOP.contains(&name.as_str()) {
                response = response.header(name, value);
            }
        }
        let stream = answer
            .bytes_stream()
            .map_ok(Frame::data)
            .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>);
        Ok(response.body(BodyExt::boxed(StreamBody::new(stream)))?)
    }
}

fn status(e: &ApiError) -> Response<ProxyBody> {
    let mut r = Response::builder()
        .status(e.code)
        .header("Content-Type", "application/json");
    if e.code == 429 {
        r = r.header("Retry-After", "1");
    }
    r.body(
        Full::new(Bytes::from(e.to_status().to_string()))
            .map_err(|never| match never {})
            .boxed(),
    )
    .expect("valid response")
}
