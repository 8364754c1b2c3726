//! ValidatingAdmissionPolicies, evaluated like the API server does: every binding whose
//! policy's `matchConstraints.resourceRules` match the request, its `paramRef` resolved,
//! `matchConditions`, `variables` and `validations` evaluated in CEL, `Deny` bindings
//! refusing with 422 `ValidatingAdmissionPolicy 'P' with binding 'B' denied request: ...`.
//! The CEL environment is the standard library plus the strings extension and optionals, as
//! Kubernetes 1.30 has them. Not emulated: namespace/object selectors, `excludeResourceRules`,
//! audit/warn actions, type checking (so `format: date-time` fields stay strings), cost limits.

use super::admission::{AdmissionRequest, Operation};
use super::status::ApiError;
use super::store::Store;
use cel::objects::Map;
use cel::{Context, Env, Value as Cel};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

const GROUP: &str = "admissionregistration.k8s.io";

/// Refuses the request if a bound policy with the `Deny` action says no.
pub fn evaluate(store: &Store, req: &AdmissionRequest<'_>) -> Result<(), ApiError> {
    let mut bindings = store.list(GROUP, "validatingadmissionpolicybindings", None);
    bindings.sort_by(|a, b| name(a).cmp(name(b)));
    for binding in bindings {
        let policy_name = binding["spec"]["policyName"].as_str().unwrap_or_default();
        let Some(policy) = store.get(GROUP, "validatingadmissionpolicies", "", policy_name) else {
            continue;
        };
        if !matches(&policy["spec"]["matchConstraints"], req) {
            continue;
        }
        let deny = strings(&binding["spec"]["validationActions"]).any(|a| a == "Deny");
        if let Err(message) = check(store, policy, &binding, req) {
            if deny {
                return Err(ApiError::new(
                    422,
                    "Invalid",
                    format!(
                        "ValidatingAdmissionPolicy '{policy_name}' with binding '{}' denied request: {message}",
                        name(&binding)
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn name(o: &Value) -> &str {
    o["metadata"]["name"].as_str().unwrap_or_default()
}

fn strings(v: &Value) -> impl Iterator<Item = &str> {
    v.as_array().into_iter().flatten().filter_map(Value::as_str)
}

fn operation(op: Operation) -> &'static str {
    match op {
        Operation::Create => "CREATE",
        Operation::Update => "UPDATE",
        Operation::Delete => "DELETE",
    }
}

/// Whether any resource rule covers this group, version, operation and (sub)resource.
fn matches(constraints: &Value, req: &AdmissionRequest<'_>) -> bool {
    let def = req.resource;
    let op = operation(req.operation);
    constraints["resourceRules"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|rule| {
            let any_or =
                |field: &str, want: &str| strings(&rule[field]).any(|x| x == "*" || x == want);
            let resource_ok = strings(&rule["resources"]).any(|r| {
                let (res, sub) = r.split_once('/').unwrap_or((r, ""));
                (res == "*" || res == def.plural)
                    && (sub == req.subresource || (sub == "*" && !req.subresource.is_empty()))
                    || r == "*/*"
            });
            any_or("apiGroups", &def.group)
                && (rule.get("apiVersions").is_none() || any_or("apiVersions", &def.version))
                && any_or("operations", op)
                && resource_ok
        })
}

/// Evaluates one policy for one binding: `Err(message)` when it refuses.
fn check(
    store: &Store,
    policy: &Value,
    binding: &Value,
    req: &AdmissionRequest<'_>,
) -> Result<(), String> {
    let spec = &policy["spec"];
    let fail_closed = spec["failurePolicy"].as_str() != Some("Ignore");
    let params = match spec.get("paramKind").filter(|k| !k.is_null()) {
        None => Cel::Null,
        Some(kind) => {
            let r = &binding["spec"]["paramRef"];
            let api_version = kind["apiVersion"].as_str().unwrap_or("v1");
            let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
            let plural = format!(
                "{}s",
                kind["kind"].as_str().unwrap_or_default().to_lowercase()
            );
            let ns = r["namespace"].as_str().unwrap_or(req.namespace);
            match store.get(group, &plural, ns, r["name"].as_str().unwrap_or_default()) {
                Some(p) => to_cel(p),
                None if r["parameterNotFoundAction"].as_str() == Some("Deny") => {
                    return Err("failed to configure binding: no params found for policy binding with `Deny` parameterNotFoundAction"
                        .to_string());
                }
                None => return Ok(()),
            }
        }
    };
    let mut vars: Vec<(&str, Cel)> = vec![
        ("object", req.object.map_or(Cel::Null, to_cel)),
        ("oldObject", req.old_object.map_or(Cel::Null, to_cel)),
        ("request", request(req)),
        ("params", params),
    ];
    let failed = |expr: &str, e: String| {
        if fail_closed {
            Err(format!("expression '{expr}' resulted in error: {e}"))
        } else {
            Ok(())
        }
    };
    for mc in spec["matchConditions"].as_array().into_iter().flatten() {
        let expr = mc["expression"].as_str().unwrap_or_default();
        match eval(expr, &vars) {
            Ok(Cel::Bool(true)) => {}
            Ok(Cel::Bool(false)) => return Ok(()),
            Ok(other) => return failed(expr, format!("not a bool: {other:?}")),
            Err(e) => return failed(expr, e),
        }
    }
    let mut variables: HashMap<String, Cel> = HashMap::new();
    for v in spec["variables"].as_array().into_iter().flatten() {
        let expr = v["expression"].as_str().unwrap_or_default();
        vars.retain(|(n, _)| *n != "variables");
        vars.push(("variables", Cel::Map(Map::from(variables.clone()))));
        // An erroring variable fails only the validations that use it, as in Kubernetes.
        if let Ok(value) = eval(expr, &vars) {
            variables.insert(v["name"].as_str().unwrap_or_default().to_string(), value);
        }
    }
    vars.retain(|(n, _)| *n != "variables");
    vars.push(("variables", Cel::Map(Map::from(variables))));
    for v in spec["validations"].as_array().into_iter().flatten() {
        let expr = v["expression"].as_str().unwrap_or_default();
        match eval(expr, &vars) {
            Ok(Cel::Bool(true)) => {}
            Ok(Cel::Bool(false)) => {
                let message = v["messageExpression"]
                    .as_str()
                    .and_then(|m| match eval(m, &vars) {
                        Ok(Cel::String(s)) => Some(s.to_string()),
                        _ => None,
                    })
                    .or_else(|| v["message"].as_str().map(String::from))
                    .unwrap_or_else(|| format!("failed expression: {expr}"));
                return Err(message);
            }
            Ok(other) => return failed(expr, format!("not a bool: {other:?}")),
            Err(e) => return failed(expr, e),
        }
    }
    Ok(())
}

/// The CEL environment of a Kubernetes API server: the standard library plus the strings
/// extension (`split`, `substring`, `trim`, ...), which Kubernetes enables for policies.
fn env() -> Arc<Env> {
    static ENV: OnceLock<Arc<Env>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Env::stdlib();
        cel::extensions::strings(&mut env).expect("the strings extension registers once");
        Arc::new(env)
    })
    .clone()
}

fn eval(expr: &str, vars: &[(&str, Cel)]) -> Result<Cel, String> {
    let env = env();
    let program = env
        .compile(expr)
        .map_err(|e| format!("compilation failed: {e}"))?;
    let mut context = Context::with_env(env);
    for (n, v) in vars {
        context.add_variable_from_value(*n, v.clone());
    }
    program.execute(&context).map_err(|e| e.to_string())
}

/// The `request` variable (admission.k8s.io AdmissionRequest, the fields policies use).
fn request(req: &AdmissionRequest<'_>) -> Cel {
    let def = req.resource;
    to_cel(&serde_json::json!({
        "operation": operation(req.operation),
        "name": req.name,
        "namespace": req.namespace,
        "subResource": req.subresource,
        "kind": {"group": def.group, "version": def.version, "kind": def.kind},
        "resource": {"group": def.group, "version": def.version, "resource": def.plural},
        "userInfo": {
            "username": req.user.username,
            "uid": req.user.uid,
            "groups": req.user.groups,
        },
    }))
}

/// JSON to CEL; fields set to null are left out, as the API server's Go types omit them.
pub fn to_cel(v: &Value) -> Cel {
    match v {
        Value::Null => Cel::Null,
        Value::Bool(b) => Cel::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Cel::Int(i),
            (None, Some(u)) => Cel::UInt(u),
            _ => Cel::Float(n.as_f64().unwrap_or_default()),
        },
        Value::String(s) => Cel::String(Arc::new(s.clone())),
        Value::Array(a) => Cel::List(Arc::new(a.iter().map(to_cel).collect())),
        Value::Object(o) => {
            let map: HashMap<String, Cel> = o
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), to_cel(v)))
                .collect();
            Cel::Map(Map::from(map))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(expr: &str, object: Value) -> Result<Cel, String> {
        eval(expr, &[("object", to_cel(&object))])
    }

    #[test]
    fn the_cel_kubernetes_policies_rely_on() {
        let obj = serde_json::json!({
            "spec": {"a": 1, "gone": null, "name": "grant-1-seal", "list": [{"k": "x"}]},
            "data": {"x.maxDuration": "30m"}
        });
        let yes = |e: &str| assert_eq!(run(e, obj.clone()), Ok(Cel::Bool(true)), "{e}");
        yes("has(object.spec.a) && !has(object.spec.gone) && !has(object.status)");
        yes("object.spec.name.endsWith('-seal') && 'x.maxDuration' in object.data");
        yes("duration(object.data['x.maxDuration']).getSeconds() == 1800");
        yes("object.spec.list.exists(r, r.k == 'x')");
        yes("object.spec == object.spec && object.spec != object.data");
        yes("'a' + string(1800) == 'a1800'");
        // The strings extension and optionals, as Kubernetes enables them for policies.
        yes("'grant-000042'.substring(6) == '000042' && '000000'.substring(size('42')) == '0000'");
        yes("'x' in ' a, x '.split(',').map(r, r.trim())");
        yes("object.?status.?state.orValue('Pending') == 'Pending'");
        yes("object.spec.?name.orValue('') == 'grant-1-seal'");
        yes("object.data[?'x.maxDuration'].orValue('') == '30m' && object.data[?'y'].orValue('n') == 'n'");
        yes("timestamp('2026-11-27T11:10:00Z') - timestamp('2026-11-27T11:00:00Z') == duration(string(600) + 's')");
        yes("['a', 'b'].all(g, g in ['b', 'a']) && 'Active>Revoked' in ['Active>Revoked']");
        assert!(run("object.spec.nope.deeper", obj).is_err());
    }
}
