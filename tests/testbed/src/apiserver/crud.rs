//! get, list, create, update, patch, delete and deletecollection on stored resources.

use super::admission::{self, AdmissionRequest, Operation};
use super::authn::UserInfo;
use super::objects::{self, name, uid};
use super::paths::RequestInfo;
use super::resources::{self, ResourceDef};
use super::selectors::{FieldSelector, LabelSelector};
use super::status::{self, ApiError};
use super::store::{key, Store};
use super::{patch, schema, validation, State};
use serde_json::{json, Value};
use std::collections::HashMap;

pub type Reply = Result<(u16, Value), ApiError>;

/// Everything one resource request carries.
pub struct Ctx<'a> {
    pub state: &'a State,
    pub def: &'a ResourceDef,
    pub info: &'a RequestInfo,
    pub query: &'a HashMap<String, String>,
    pub body: &'a [u8],
    pub content_type: &'a str,
    pub user: &'a UserInfo,
}

impl Ctx<'_> {
    fn ns(&self) -> &str {
        if self.def.namespaced {
            &self.info.namespace
        } else {
            ""
        }
    }

    fn not_found(&self) -> ApiError {
        ApiError::not_found(&self.def.group, &self.def.plural, &self.info.name)
    }

    fn dry_run(&self) -> Result<bool, ApiError> {
        dry_run_value(self.query.get("dryRun").map(String::as_str))
    }
}

fn dry_run_value(v: Option<&str>) -> Result<bool, ApiError> {
    match v {
        None | Some("") => Ok(false),
        Some("All") => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!(
            "dryRun: Unsupported value: {other:?}: supported values: \"All\""
        ))),
    }
}

/// Decodes a JSON or YAML request body.
pub fn parse_body(body: &[u8], content_type: &str) -> Result<Value, ApiError> {
    let v: Result<Value, String> = if content_type.contains("protobuf") {
        super::protobuf::decode(body)
    } else if content_type.contains("yaml") {
        serde_norway::from_slice(body).map_err(|e| e.to_string())
    } else {
        serde_json::from_slice(body).map_err(|e| e.to_string())
    };
    v.map_err(|e| {
        ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
    })
}

/// Selected objects of a resource, kind/apiVersion set for the requested version.
fn select(ctx: &Ctx<'_>, store: &Store) -> Result<Vec<Value>, ApiError> {
    let labels = LabelSelector::parse(ctx.query.get("labelSelector").map_or("", String::as_str))
        .map_err(ApiError::bad_request)?;
    let extra: &[&str] = match ctx.def.plural.as_str() {
        "secrets" => &["type"],
        "events" => &[
            "involvedObject.kind",
            "involvedObject.name",
            "involvedObject.namespace",
            "involvedObject.uid",
            "reason",
            "type",
            "regarding.kind",
            "regarding.name",
            "regarding.namespace",
            "regarding.uid",
        ],
        _ => &[],
    };
    let fields = FieldSelector::parse(
        ctx.query.get("fieldSelector").map_or("", String::as_str),
        extra,
    )
    .map_err(ApiError::bad_request)?;
    let ns = (!ctx.ns().is_empty()).then(|| ctx.ns());
    Ok(store
        .list(&ctx.def.group, &ctx.def.plural, ns)
        .into_iter()
        .filter(|o| labels.matches(&o["metadata"]["labels"]) && fields.matches(o))
        .map(|o| for_version(ctx.def, o))
        .collect())
}

/// Custom resources are served in every version without conversion (strategy None).
fn for_version(def: &ResourceDef, mut obj: Value) -> Value {
    obj["apiVersion"] = json!(def.api_version());
    obj["kind"] = json!(def.kind);
    obj
}

pub fn get(ctx: &Ctx<'_>) -> Reply {
    let store = ctx.state.store.lock().unwrap();
    let obj = store
        .get(&ctx.def.group, &ctx.def.plural, ctx.ns(), &ctx.info.name)
        .ok_or_else(|| ctx.not_found())?;
    Ok((200, for_version(ctx.def, obj.clone())))
}

pub fn list(ctx: &Ctx<'_>) -> Reply {
    let store = ctx.state.store.lock().unwrap();
    let items = select(ctx, &store)?;
    Ok((
        200,
        json!({
            "kind": format!("{}List", ctx.def.kind),
            "apiVersion": ctx.def.api_version(),
            "metadata": {"resourceVersion": store.current_rv().to_string()},
            "items": items,
        }),
    ))
}

/// Assigns server-owned metadata to a new object.
pub fn stamp_new(def: &ResourceDef, obj: &mut Value) {
    let has_generation = validation::has_generation(def, obj);
    let meta = objects::metadata_mut(obj);
    for f in [
        "resourceVersion",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "selfLink",
        "managedFields",
    ] {
        meta.remove(f);
    }
    meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
    meta.insert("creationTimestamp".into(), json!(objects::now_rfc3339()));
    if has_generation {
        meta.insert("generation".into(), json!(1));
    } else {
        meta.remove("generation");
    }
    validation::default_on_create(def, obj);
}

/// Stores a new object built by the server itself (bootstrap, default service accounts).
pub fn insert_system(store: &mut Store, def: &ResourceDef, mut obj: Value) {
    obj["apiVersion"] = json!(def.api_version());
    obj["kind"] = json!(def.kind);
    stamp_new(def, &mut obj);
    let ns = objects::meta_str(&obj, "namespace").to_string();
    let k = key(&def.group, &def.plural, &ns, name(&obj));
    store.put(k, obj);
}

fn check_identity(ctx: &Ctx<'_>, obj: &mut Value) -> Result<(), ApiError> {
    let want = ctx.def.api_version();
    match obj["apiVersion"].as_str() {
        None | Some("") => obj["apiVersion"] = json!(want),
        Some(v) if v == want => {}
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({want})"
            )))
        }
    }
    match obj["kind"].as_str() {
        None | Some("") => obj["kind"] = json!(ctx.def.kind),
        Some(k) if k == ctx.def.kind => {}
        Some(k) => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                ctx.def.kind
            )))
        }
    }
    let body_ns = objects::meta_str(obj, "namespace").to_string();
    let meta = objects::metadata_mut(obj);
    if ctx.def.namespaced {
        if body_ns.is_empty() {
            meta.insert("namespace".into(), json!(ctx.info.namespace));
        } else if body_ns != ctx.info.namespace {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
    } else {
        meta.remove("namespace");
    }
    Ok(())
}

fn require_namespace(store: &Store, ctx: &Ctx<'_>) -> Result<(), ApiError> {
    if ctx.def.namespaced && store.get("", "namespaces", "", ctx.ns()).is_none() {
        return Err(ApiError::not_found("", "namespaces", ctx.ns()));
    }
    Ok(())
}

/// Unknown fields (dropped by the typed round trip, or pruned by a CRD's schema) fail with
/// `fieldValidation=Strict`, as kubectl requests by default; otherwise they are silently dropped
/// (the real server's Warn mode would add a Warning header). Custom resources are then
/// validated against their schema.
fn check_fields(ctx: &Ctx<'_>, sent: &Value, obj: &mut Value) -> Result<(), ApiError> {
    let mut unknown = vec![];
    let mut errors = vec![];
    if ctx.def.custom {
        let crd_name = format!("{}.{}", ctx.def.plural, ctx.def.group);
        let schema = {
            let store = ctx.state.store.lock().unwrap();
            store
                .get(
                    "apiextensions.k8s.io",
                    "customresourcedefinitions",
                    "",
                    &crd_name,
                )
                .and_then(|crd| {
                    crd["spec"]["versions"]
                        .as_array()?
                        .iter()
                        .find(|v| v["name"] == ctx.def.version.as_str())
                        .map(|v| v["schema"]["openAPIV3Schema"].clone())
                })
        };
        if let Some(schema) = schema.filter(|s| s.is_object()) {
            let outcome = schema::validate(&schema, obj);
            unknown = outcome.pruned;
            errors = outcome.errors;
        }
    } else {
        let mut sent = sent.clone();
        if let Some(o) = sent.as_object_mut() {
            o.remove("stringData");
        }
        schema::dropped_fields(&sent, obj, "", &mut unknown);
    }
    if !unknown.is_empty() && ctx.query.get("fieldValidation").map(String::as_str) == Some("Strict")
    {
        let list: Vec<String> = unknown
            .iter()
            .map(|u| format!("unknown field {u:?}"))
            .collect();
        return Err(ApiError::bad_request(format!(
            "{kind} in version {:?} cannot be handled as a {kind}: strict decoding error: {}",
            ctx.def.version,
            list.join(", "),
            kind = ctx.def.kind,
        )));
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(
            &ctx.def.group,
            &ctx.def.kind,
            name(obj),
            errors,
        ));
    }
    Ok(())
}

pub fn create(ctx: &Ctx<'_>) -> Reply {
    let obj = parse_body(ctx.body, ctx.content_type)?;
    create_object(ctx, obj)
}

fn create_object(ctx: &Ctx<'_>, mut obj: Value) -> Reply {
    check_identity(ctx, &mut obj)?;
    if name(&obj).is_empty() {
        if let Some(prefix) = obj["metadata"]["generateName"]
            .as_str()
            .filter(|p| !p.is_empty())
        {
            obj["metadata"]["name"] = json!(objects::generate_name(prefix));
        }
    }
    // With the status subresource, the real server resets `status` on create (a custom
    // resource's PrepareForCreate): status is written only through `/status`.
    if ctx.def.custom && ctx.def.subresources.iter().any(|s| s == "status") {
        if let Some(o) = obj.as_object_mut() {
            o.remove("status");
        }
    }
    let sent = obj.clone();
    let mut obj = validation::decode(ctx.def, obj)?;
    check_fields(ctx, &sent, &mut obj)?;
    validation::validate_create(ctx.def, &obj)?;
    let dry_run = ctx.dry_run()?;
    let mut store = ctx.state.store.lock().unwrap();
    require_namespace(&store, ctx)?;
    let n = name(&obj).to_string();
    let k = key(&ctx.def.group, &ctx.def.plural, ctx.ns(), &n);
    if store.get(&k.0, &k.1, &k.2, &k.3).is_some() {
        return Err(ApiError::already_exists(
            &ctx.def.group,
            &ctx.def.plural,
            &n,
        ));
    }
    if ctx.def.plural == "customresourcedefinitions" {
        let (group, plural) = (&obj["spec"]["group"], &obj["spec"]["names"]["plural"]);
        let taken = resources::builtins()
            .iter()
            .any(|d| d.group == *group && d.plural == *plural);
        if taken {
            return Err(ApiError::invalid(
                &ctx.def.group,
                &ctx.def.kind,
                &n,
                vec![status::FieldError::invalid(
                    "spec.names.plural",
                    plural,
                    "conflicts with a built-in resource",
                )],
            ));
        }
    }
    stamp_new(ctx.def, &mut obj);
    admission::admit(
        ctx.state,
        &store,
        &AdmissionRequest {
            operation: Operation::Create,
            resource: ctx.def,
            subresource: "",
            namespace: ctx.ns(),
            name: &n,
            object: Some(&obj),
            old_object: None,
            user: ctx.user,
        },
    )?;
    if dry_run {
        return Ok((201, obj));
    }
    let stored = store.put(k, obj);
    if ctx.def.group.is_empty() && ctx.def.plural == "namespaces" {
        let sa = resources::builtins()
            .into_iter()
            .find(|d| d.plural == "serviceaccounts")
            .expect("serviceaccounts is built in");
        insert_system(
            &mut store,
            &sa,
            json!({"metadata": {"name": "default", "namespace": n}}),
        );
    }
    Ok((201, stored))
}

pub fn update(ctx: &Ctx<'_>) -> Reply {
    let new = parse_body(ctx.body, ctx.content_type)?;
    let old = {
        let store = ctx.state.store.lock().unwrap();
        store
            .get(&ctx.def.group, &ctx.def.plural, ctx.ns(), &ctx.info.name)
            .cloned()
            .ok_or_else(|| ctx.not_found())?
    };
    update_object(ctx, old, new)
}

/// Replaces `old` with `new` (PUT semantics, also used by PATCH after applying the patch).
fn update_object(ctx: &Ctx<'_>, old: Value, mut new: Value) -> Reply {
    check_identity(ctx, &mut new)?;
    let url_name = &ctx.info.name;
    match name(&new) {
        "" => new["metadata"]["name"] = json!(url_name),
        n if n != url_name => {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({url_name})"
            )))
        }
        _ => {}
    }
    let sent_rv = objects::meta_str(&new, "resourceVersion").to_string();
    if !sent_rv.is_empty() && sent_rv != objects::meta_str(&old, "resourceVersion") {
        return Err(ApiError::conflict(
            &ctx.def.group,
            &ctx.def.plural,
            url_name,
        ));
    }
    let status_sub = ctx.info.subresource == "status";
    if status_sub {
        let status = new["status"].clone();
        new = old.clone();
        new["status"] = status;
    } else if ctx.def.subresources.iter().any(|s| s == "status") {
        new["status"] = old["status"].clone();
        if new["status"].is_null() {
            new.as_object_mut().map(|o| o.remove("status"));
        }
    }
    let sent = new.clone();
    let mut new = validation::decode(ctx.def, new)?;
    check_fields(ctx, &sent, &mut new)?;
    // Server-owned metadata survives every update.
    for f in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "resourceVersion",
    ] {
        match old["metadata"].get(f) {
            Some(v) => new["metadata"][f] = v.clone(),
            None => {
                objects::metadata_mut(&mut new).remove(f);
            }
        }
    }
    if validation::has_generation(ctx.def, &new) {
        let generation = old["metadata"]["generation"].as_i64().unwrap_or(1);
        let strip = |v: &Value| {
            let mut v = v.clone();
            if let Some(o) = v.as_object_mut() {
                o.remove("metadata");
                o.remove("status");
            }
            v
        };
        let bumped = if strip(&old) != strip(&new) {
            generation + 1
        } else {
            generation
        };
        new["metadata"]["generation"] = json!(bumped);
    }
    validation::validate_update(ctx.def, &old, &new)?;
    admission::admit(
        ctx.state,
        &ctx.state.store.lock().unwrap(),
        &AdmissionRequest {
            operation: Operation::Update,
            resource: ctx.def,
            subresource: &ctx.info.subresource,
            namespace: ctx.ns(),
            name: url_name,
            object: Some(&new),
            old_object: Some(&old),
            user: ctx.user,
        },
    )?;
    if ctx.dry_run()? || new == old {
        return Ok((200, new));
    }
    let mut store = ctx.state.store.lock().unwrap();
    let current_rv = store
        .get(&ctx.def.group, &ctx.def.plural, ctx.ns(), url_name)
        .map(|o| objects::meta_str(o, "resourceVersion").to_string())
        .ok_or_else(|| ctx.not_found())?;
    if current_rv != objects::meta_str(&old, "resourceVersion") {
        return Err(ApiError::conflict(
            &ctx.def.group,
            &ctx.def.plural,
            url_name,
        ));
    }
    let stored = store.put(
        key(&ctx.def.group, &ctx.def.plural, ctx.ns(), url_name),
        new,
    );
    Ok((200, stored))
}

pub fn patch(ctx: &Ctx<'_>) -> Reply {
    let old = {
        let store = ctx.state.store.lock().unwrap();
        store
            .get(&ctx.def.group, &ctx.def.plural, ctx.ns(), &ctx.info.name)
            .cloned()
    };
    let ct = ctx
        .content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim();
    let Some(old) = old else {
        if ct == "application/apply-patch+yaml" {
            // Server-side apply of a missing object creates it.
            let mut obj = parse_body(ctx.body, "yaml")?;
            if name(&obj).is_empty() {
                obj["metadata"]["name"] = json!(ctx.info.name);
            }
            return create_object(ctx, obj);
        }
        return Err(ctx.not_found());
    };
    let mut doc = old.clone();
    // A patch carries no resourceVersion precondition unless it sets one itself.
    objects::metadata_mut(&mut doc).remove("resourceVersion");
    match ct {
        "application/merge-patch+json" => patch::merge_patch(&mut doc, &parse_body(ctx.body, ct)?),
        "application/strategic-merge-patch+json" => {
            patch::strategic_merge_patch(&mut doc, &parse_body(ctx.body, ct)?)
        }
        "application/json-patch+json" => patch::json_patch(&mut doc, &parse_body(ctx.body, ct)?)
            .map_err(|e| ApiError::new(422, "Invalid", e))?,
        // Server-side apply without field ownership tracking: the applied fields are merged in.
        "application/apply-patch+yaml" => {
            if !ctx.query.contains_key("fieldManager") {
                return Err(ApiError::bad_request(
                    "PATCH, application/apply-patch+yaml requests must supply a fieldManager",
                ));
            }
            patch::merge_patch(&mut doc, &parse_body(ctx.body, "yaml")?)
        }
        other => {
            return Err(ApiError::new(
                415,
                "UnsupportedMediaType",
                format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {other:?})"),
            ))
        }
    }
    if objects::meta_str(&doc, "resourceVersion").is_empty() {
        doc["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
    }
    update_object(ctx, old, doc)
}

/// Delete options from the query and the (optional) DeleteOptions body.
struct DeleteOptions {
    orphan: bool,
    dry_run: bool,
    uid: Option<String>,
    resource_version: Option<String>,
}

fn delete_options(ctx: &Ctx<'_>) -> Result<DeleteOptions, ApiError> {
    let body = if ctx.body.is_empty() {
        json!({})
    } else {
        parse_body(ctx.body, ctx.content_type)?
    };
    let policy = ctx
        .query
        .get("propagationPolicy")
        .cloned()
        .or_else(|| body["propagationPolicy"].as_str().map(String::from));
    let orphan = policy.as_deref() == Some("Orphan") || body["orphanDependents"] == json!(true);
    let dry_run = ctx.dry_run()?
        || dry_run_value(
            body["dryRun"]
                .as_array()
                .and_then(|a| a.first())
                .and_then(Value::as_str),
        )?;
    Ok(DeleteOptions {
        orphan,
        dry_run,
        uid: body["preconditions"]["uid"].as_str().map(String::from),
        resource_version: body["preconditions"]["resourceVersion"]
            .as_str()
            .map(String::from),
    })
}

/// Removes an object with the cascades the real server performs synchronously or via
/// controllers: a namespace's contents, a CRD's custom resources, and orphaning dependents.
pub fn remove_object(
    store: &mut Store,
    def: &ResourceDef,
    namespace: &str,
    name: &str,
    orphan: bool,
) -> Option<Value> {
    let removed = store.remove(&key(&def.group, &def.plural, namespace, name))?;
    let mut doomed = vec![];
    if def.group.is_empty() && def.plural == "namespaces" {
        doomed.extend(
            store
                .all()
                .filter(|(k, _)| k.2 == name)
                .map(|(k, _)| k.clone()),
        );
    }
    if def.plural == "customresourcedefinitions" {
        let g = removed["spec"]["group"].as_str().unwrap_or_default();
        let p = removed["spec"]["names"]["plural"]
            .as_str()
            .unwrap_or_default();
        doomed.extend(
            store
                .all()
                .filter(|(k, _)| k.0 == g && k.1 == p)
                .map(|(k, _)| k.clone()),
        );
    }
    for k in doomed {
        store.remove(&k);
    }
    if orphan {
        let owner_uid = uid(&removed).to_string();
        let dependents: Vec<_> = store
            .all()
            .filter(|(_, o)| {
                o["metadata"]["ownerReferences"]
                    .as_array()
                    .is_some_and(|refs| refs.iter().any(|r| r["uid"] == owner_uid.as_str()))
            })
            .map(|(k, o)| (k.clone(), o.clone()))
            .collect();
        for (k, mut o) in dependents {
            if let Some(refs) = o["metadata"]["ownerReferences"].as_array_mut() {
                refs.retain(|r| r["uid"] != owner_uid.as_str());
            }
            store.put(k, o);
        }
    }
    Some(removed)
}

pub fn delete(ctx: &Ctx<'_>) -> Reply {
    let opts = delete_options(ctx)?;
    let mut store = ctx.state.store.lock().unwrap();
    let obj = store
        .get(&ctx.def.group, &ctx.def.plural, ctx.ns(), &ctx.info.name)
        .cloned()
        .ok_or_else(|| ctx.not_found())?;
    if let Some(want) = &opts.uid {
        if want != uid(&obj) {
            return Err(ApiError::conflict_msg(
                &ctx.def.group,
                &ctx.def.plural,
                &ctx.info.name,
                &format!(
                    "Precondition failed: UID in precondition: {want}, UID in object meta: {}",
                    uid(&obj)
                ),
            ));
        }
    }
    if let Some(want) = &opts.resource_version {
        let have = objects::meta_str(&obj, "resourceVersion");
        if want != have {
            return Err(ApiError::conflict_msg(
                &ctx.def.group,
                &ctx.def.plural,
                &ctx.info.name,
                &format!("Precondition failed: ResourceVersion in precondition: {want}, ResourceVersion in object meta: {have}"),
            ));
        }
    }
    admission::admit(
        ctx.state,
        &store,
        &AdmissionRequest {
            operation: Operation::Delete,
            resource: ctx.def,
            subresource: "",
            namespace: ctx.ns(),
            name: &ctx.info.name,
            object: None,
            old_object: Some(&obj),
            user: ctx.user,
        },
    )?;
    let removed = if opts.dry_run {
        obj
    } else {
        remove_object(&mut store, ctx.def, ctx.ns(), &ctx.info.name, opts.orphan)
            .ok_or_else(|| ctx.not_found())?
    };
    // Custom resources and namespaces answer with the object, other built-ins with a Status.
    if ctx.def.custom || ctx.def.plural == "namespaces" {
        return Ok((200, for_version(ctx.def, removed)));
    }
    Ok((
        200,
        status::success_status(
            &ctx.def.group,
            &ctx.def.plural,
            &ctx.info.name,
            uid(&removed),
        ),
    ))
}

pub fn delete_collection(ctx: &Ctx<'_>) -> Reply {
    let opts = delete_options(ctx)?;
    let mut store = ctx.state.store.lock().unwrap();
    if ctx.def.namespaced && !ctx.info.namespace.is_empty() {
        require_namespace(&store, ctx)?;
    }
    let items = select(ctx, &store)?;
    let mut deleted = vec![];
    for item in items {
        let ns = objects::meta_str(&item, "namespace").to_string();
        if opts.dry_run {
            deleted.push(item);
        } else if let Some(o) = remove_object(&mut store, ctx.def, &ns, name(&item), opts.orphan) {
            deleted.push(for_version(ctx.def, o));
        }
    }
    Ok((
        200,
        json!({
            "kind": format!("{}List", ctx.def.kind),
            "apiVersion": ctx.def.api_version(),
            "metadata": {"resourceVersion": store.current_rv().to_string()},
            "items": deleted,
        }),
    ))
}
