//! User impersonation (`kubectl --as/--as-group/--as-uid`, `Impersonate-*` headers), authorised
//! like the real server: the requester needs `impersonate` on users (or the service account),
//! each group, the uid and each extra value.

use super::authn::UserInfo;
use super::rbac::{self, Attributes};
use super::status::ApiError;
use super::store::Store;
use std::collections::BTreeMap;

const EXTRA_PREFIX: &str = "impersonate-extra-";

fn values(headers: &hyper::HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(String::from)
        .collect()
}

fn check(
    store: &Store,
    requester: &UserInfo,
    group: &str,
    resource: &str,
    subresource: &str,
    namespace: &str,
    name: &str,
) -> Result<(), ApiError> {
    let attrs = Attributes {
        verb: "impersonate".into(),
        is_resource: true,
        group: group.into(),
        resource: resource.into(),
        subresource: subresource.into(),
        name: name.into(),
        namespace: namespace.into(),
        path: String::new(),
    };
    match rbac::authorize(store, requester, &attrs) {
        Some(_) => Ok(()),
        None => Err(ApiError::forbidden(
            &requester.username,
            "impersonate",
            group,
            resource,
            subresource,
            name,
            namespace,
        )),
    }
}

/// The impersonated user, None when the request impersonates nobody.
pub fn impersonate(
    store: &Store,
    requester: &UserInfo,
    headers: &hyper::HeaderMap,
) -> Result<Option<UserInfo>, ApiError> {
    let user = values(headers, "impersonate-user").into_iter().next();
    let groups = values(headers, "impersonate-group");
    let uid = values(headers, "impersonate-uid").into_iter().next();
    let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in headers {
        if let Some(key) = name.as_str().strip_prefix(EXTRA_PREFIX) {
            let key = url::form_urlencoded::parse(key.as_bytes())
                .map(|(k, v)| {
                    if v.is_empty() {
                        k.into_owned()
                    } else {
                        format!("{k}={v}")
                    }
                })
                .collect::<String>();
            if let Ok(v) = value.to_str() {
                extra.entry(key).or_default().push(v.to_string());
            }
        }
    }
    let Some(username) = user else {
        if groups.is_empty() && uid.is_none() && extra.is_empty() {
            return Ok(None);
        }
        return Err(ApiError::internal(
            "requested impersonation of groups, uid or extra without impersonating a user",
        ));
    };
    let mut all_groups = groups.clone();
    match username
        .strip_prefix("system:serviceaccount:")
        .and_then(|rest| rest.split_once(':'))
    {
        Some((ns, name)) => {
            check(store, requester, "", "serviceaccounts", "", ns, name)?;
            if groups.is_empty() {
                all_groups = vec![
                    "system:serviceaccounts".into(),
                    format!("system:serviceaccounts:{ns}"),
                ];
            }
        }
        None => check(store, requester, "", "users", "", "", &username)?,
    }
    for g in &groups {
        check(store, requester, "", "groups", "", "", g)?;
    }
    if let Some(u) = &uid {
        check(store, requester, "authentication.k8s.io", "uids", "", "", u)?;
    }
    for (k, vs) in &extra {
        for v in vs {
            check(
                store,
                requester,
                "authentication.k8s.io",
                "userextras",
                k,
                "",
                v,
            )?;
        }
    }
    if username != "system:anonymous" && !all_groups.iter().any(|g| g == "system:authenticated") {
        all_groups.push("system:authenticated".into());
    }
    Ok(Some(UserInfo {
        username,
        uid: uid.unwrap_or_default(),
        groups: all_groups,
        extra,
    }))
}
