//! Request attributes from method, path and query, like the real server's RequestInfoFactory.

use std::collections::HashMap;

#[derive(Debug, Clone, Default)]
pub struct RequestInfo {
    pub is_resource: bool,
    pub path: String,
    /// Kubernetes verb (get, list, watch, create, ...) or, for non-resource paths, the
    /// lower-case HTTP method.
    pub verb: String,
    pub group: String,
    pub version: String,
    pub namespace: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
}

/// Decoded query parameters (last value wins).
pub fn parse_query(query: Option<&str>) -> HashMap<String, String> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

pub fn request_info(method: &str, path: &str, query: &HashMap<String, String>) -> RequestInfo {
    let mut info = RequestInfo {
        path: path.to_string(),
        verb: method.to_lowercase(),
        ..Default::default()
    };
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let mut rest: &[&str] = match parts.as_slice() {
        ["api", version, rest @ ..] if !rest.is_empty() => {
            info.version = version.to_string();
            rest
        }
        ["apis", group, version, rest @ ..] if !rest.is_empty() => {
            info.group = group.to_string();
            info.version = version.to_string();
            rest
        }
        _ => return info,
    };
    info.is_resource = true;
    let mut watch_prefix = false;
    if rest[0] == "watch" {
        watch_prefix = true;
        rest = &rest[1..];
        if rest.is_empty() {
            info.is_resource = false;
            return info;
        }
    }
    if rest[0] == "namespaces" && rest.len() > 1 {
        info.namespace = rest[1].to_string();
        if rest.len() > 2 && !matches!(rest[2], "status" | "finalize") {
            rest = &rest[2..];
        }
    }
    info.resource = rest[0].to_string();
    if rest.len() > 1 {
        info.name = rest[1].to_string();
    }
    if rest.len() > 2 {
        info.subresource = rest[2..].join("/");
    }
    let watch = watch_prefix
        || matches!(
            query.get("watch").map(String::as_str),
            Some("true") | Some("1")
        );
    info.verb = match method {
        "GET" | "HEAD" if watch => "watch",
        "GET" | "HEAD" if info.name.is_empty() => "list",
        "GET" | "HEAD" => "get",
        "POST" => "create",
        "PUT" => "update",
        "PATCH" => "patch",
        "DELETE" if info.name.is_empty() => "deletecollection",
        "DELETE" => "delete",
        other => {
            return RequestInfo {
                verb: other.to_lowercase(),
                ..info
            }
        }
    }
    .to_string();
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaced_subresource() {
        let i = request_info(
            "POST",
            "/api/v1/namespaces/ns1/serviceaccounts/sa/token",
            &HashMap::new(),
        );
        assert!(i.is_resource);
        assert_eq!(
            (
                i.verb.as_str(),
                i.namespace.as_str(),
                i.resource.as_str(),
                i.name.as_str(),
                i.subresource.as_str()
            ),
            ("create", "ns1", "serviceaccounts", "sa", "token")
        );
    }

    #[test]
    fn namespace_itself_and_discovery() {
        let i = request_info("GET", "/api/v1/namespaces/foo", &HashMap::new());
        assert_eq!(
            (i.resource.as_str(), i.name.as_str(), i.namespace.as_str()),
            ("namespaces", "foo", "foo")
        );
        assert!(
            !request_info("GET", "/apis/rbac.authorization.k8s.io/v1", &HashMap::new()).is_resource
        );
        let w = request_info("GET", "/apis/g/v1/things", &parse_query(Some("watch=true")));
        assert_eq!(w.verb, "watch");
    }
}
