//! Events (`events.k8s.io/v1`) for live visibility; the record stays the audit trail
//! because Events expire after about an hour.

use crate::grant::model::record::{Grant, KIND};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;

/// The reporting controller named on every Event.
const CONTROLLER: &str = "breakglass.dev/kubectl-breakglass";

/// The API server refuses an Event whose note is longer than this (bytes).
pub const MAX_NOTE: usize = 1024;

/// `note` cut to fit `MAX_NOTE` bytes at a character boundary, marked when cut.
pub fn fit_note(note: String) -> String {
    if note.len() <= MAX_NOTE {
        return note;
    }
    const MORE: &str = " [...]";
    let mut end = MAX_NOTE - MORE.len();
    while !note.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{MORE}", &note[..end])
}

/// An Event about `record`; `reason` is e.g. `Granted` or `Revoked`.
pub fn build(record: &Grant, reason: &str, action: &str, note: String) -> Event {
    let note = fit_note(note);
    Event {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}-", record.name())),
            namespace: Some(crate::grant::NAMESPACE.to_string()),
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
            api_version: Some(format!("{}/{}", crate::grant::GROUP, crate::grant::VERSION)),
            kind: Some(KIND.to_string()),
            name: record.metadata.name.clone(),
            namespace: Some(crate::grant::NAMESPACE.to_string()),
            uid: record.metadata.uid.clone(),
            ..ObjectReference::default()
        }),
        ..Event::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_note_is_cut_to_fit_at_a_character_boundary() {
        assert_eq!(fit_note("short".into()), "short");
        let long = "é".repeat(1000);
        let cut = fit_note(long);
        assert!(cut.len() <= MAX_NOTE, "{}", cut.len());
        assert!(cut.ends_with(" [...]"));
    }
}
