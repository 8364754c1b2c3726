//! The admission hook: runs after defaulting and validation, before create/update/delete
//! persists. ValidatingAdmissionPolicies and their bindings are evaluated in `vap.rs`.

use super::authn::UserInfo;
use super::resources::ResourceDef;
use super::status::ApiError;
use super::store::Store;
use super::State;
use serde_json::Value;

/// The operation being admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
}

/// One admission request, like `admission.Attributes` (the fields are for the policy evaluator).
#[allow(dead_code)]
pub struct AdmissionRequest<'a> {
    pub operation: Operation,
    pub resource: &'a ResourceDef,
    pub subresource: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
    pub object: Option<&'a Value>,
    pub old_object: Option<&'a Value>,
    pub user: &'a UserInfo,
}

/// Admits or rejects a request; `store` is the caller's view (it may hold the lock).
pub fn admit(_state: &State, store: &Store, req: &AdmissionRequest<'_>) -> Result<(), ApiError> {
    super::vap::evaluate(store, req)
}
