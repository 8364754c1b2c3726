//! Events (`events.k8s.io/v1`) for live visibility; the record stays the audit trail
//! because Events expire after about an hour.

use super::record::{Grant, KIND};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;

/// The reporting controller named on every Event.
const CONTROLLER: &str = "breakglass.dev/kubectl-breakglass";

/// An Event about `record`; `reason` is e.g. `Granted` or `Revoked`.
pub fn build(record: &Grant, reason: &str, action: &str, note: String) -> Event {
    Event {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}.", record.name())),
            namespace: Some(super::NAMESPACE.to_string()),
            ..ObjectMeta::default()
        },
        event_time: Some(MicroTime(Timestamp::now())),
        action: Some(action.to_string()),
        reason: Some(reason.to_string()),
        note: Some(note),
        type_: Some(
            if reason == "Granted" {
                "Warning"
            } else {
                "Normal"
            }
            .to_string(),
        ),
        reporting_controller: Some(CONTROLLER.to_string()),
        reporting_instance: Some(gethostname::gethostname().to_string_lossy().into_owned()),
        regarding: Some(ObjectReference {
            api_version: Some(format!("{}/{}", super::GROUP, super::VERSION)),
            kind: Some(KIND.to_string()),
            name: record.metadata.name.clone(),
            namespace: Some(super::NAMESPACE.to_string()),
            uid: record.metadata.uid.clone(),
            ..ObjectReference::default()
        }),
        ..Event::default()
    }
}
