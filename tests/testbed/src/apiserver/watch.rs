//! Watches: a stream of `{"type": ADDED|MODIFIED|DELETED|ERROR, "object": ...}` lines, starting
//! with the current objects (no resourceVersion) or the changes after a given resourceVersion.

use super::crud::Ctx;
use super::resources::ResourceDef;
use super::selectors::{FieldSelector, LabelSelector};
use super::serve::Body;
use super::status::ApiError;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Frame;
use serde_json::{json, Value};
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::mpsc;

struct ChannelBody(mpsc::Receiver<Bytes>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}

fn line(kind: &str, object: &Value) -> Bytes {
    let mut s = json!({"type": kind, "object": object}).to_string();
    s.push('\n');
    Bytes::from(s)
}

/// `table` is the `includeObject` mode when the client asked for Table rows.
/// `served` is the resource as requested (it differs from `ctx.def` for events.k8s.io Events,
/// which are stored as core Events).
pub fn watch(ctx: &Ctx<'_>, served: &ResourceDef, table: Option<String>) -> Result<Body, ApiError> {
    let q = |k: &str| ctx.query.get(k).map_or("", String::as_str);
    let labels = LabelSelector::parse(q("labelSelector")).map_err(ApiError::bad_request)?;
    let fields = FieldSelector::parse(
        q("fieldSelector"),
        &["type", "involvedObject.name", "regarding.name"],
    )
    .map_err(ApiError::bad_request)?;
    let timeout = q("timeoutSeconds").parse::<u64>().unwrap_or(1800);
    let (group, plural) = (ctx.def.group.clone(), ctx.def.plural.clone());
    let namespace = if ctx.def.namespaced {
        ctx.info.namespace.clone()
    } else {
        String::new()
    };
    let api_version = served.api_version();
    let kind = served.kind.clone();
    let convert = super::events::is_events_v1(served);
    let matches = move |c_group: &str, c_plural: &str, c_ns: &str, o: &Value| {
        c_group == group
            && c_plural == plural
            && (namespace.is_empty() || c_ns == namespace)
            && labels.matches(&o["metadata"]["labels"])
            && fields.matches(o)
    };
    let def = served.clone();
    let versioned = move |o: Value| {
        let mut o = if convert { super::events::to_v1(o) } else { o };
        o["apiVersion"] = json!(api_version);
        o["kind"] = json!(kind);
        match &table {
            Some(include) => super::table::to_table(&def, &o, include),
            None => o,
        }
    };
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let mut initial = vec![];
    let mut feed = {
        let store = ctx.state.store.lock().unwrap();
        let rv = q("resourceVersion");
        if rv.is_empty() || rv == "0" {
            for (k, o) in store.all() {
                if matches(&k.0, &k.1, &k.2, o) {
                    initial.push(line("ADDED", &versioned(o.clone())));
                }
            }
        } else {
            match rv
                .parse::<u64>()
                .ok()
                .and_then(|rv| store.changes_since(rv))
            {
                Some(changes) => {
                    for c in changes {
                        if matches(&c.group, &c.plural, &c.namespace, &c.object) {
                            initial.push(line(c.kind, &versioned(c.object)));
                        }
                    }
                }
                None => {
                    let gone = ApiError::new(
                        410,
                        "Expired",
                        format!("too old resource version: {rv} ({})", store.current_rv()),
                    );
                    initial.push(line("ERROR", &gone.to_status()));
                }
            }
        }
        store.subscribe()
    };
    tokio::spawn(async move {
        for b in initial {
            if tx.send(b).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::sleep(Duration::from_secs(timeout));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = tx.closed() => return,
                c = feed.recv() => match c {
                    Ok(c) => {
                        if matches(&c.group, &c.plural, &c.namespace, &c.object)
                            && tx.send(line(c.kind, &versioned(c.object))).await.is_err()
                        {
                            return;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => return,
                    Err(_) => return,
                },
            }
        }
    });
    Ok(ChannelBody(rx).boxed())
}
