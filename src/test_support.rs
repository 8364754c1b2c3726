//! Strategies for the property tests beside each parser: arbitrary JSON, text and grant
//! records, the shapes in which input arrives from outside (the cluster, the IdP, kubectl,
//! the token cache). Each property says: a value or an error, never a panic or a hang.

use crate::grant::model::record::{Grant, GrantSpec, GrantStatus, PreviousRecord, State};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use proptest::prelude::*;
use serde_json::Value;

/// Text as people and programs write it, hostile characters and extremes included.
pub fn arb_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-z0-9.:/@ -]{0,24}",
        proptest::collection::vec(
            prop_oneof![
                Just('\u{1b}'),
                Just('\n'),
                Just('\u{202e}'),
                Just('\u{200b}'),
                Just('\u{feff}'),
                Just('-'),
                Just('0'),
                Just('h'),
                Just('.'),
                any::<char>(),
            ],
            0..16
        )
        .prop_map(|cs| cs.into_iter().collect()),
    ]
}

/// Any JSON value, a few levels deep.
pub fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        // Decimal fractions as the API server writes them (whole-range floats only test the
        // JSON and YAML libraries' own precision).
        (any::<i32>(), 0i32..4).prop_map(|(m, e)| Value::from(f64::from(m) / 10f64.powi(e))),
        arb_text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    arb_text(),
                    Just("device_code".to_string()),
                    Just("user_code".to_string()),
                    Just("verification_uri".to_string()),
                    Just("expires_in".to_string()),
                    Just("interval".to_string()),
                    Just("id_token".to_string()),
                    Just("error".to_string()),
                    Just("apiVersion".to_string()),
                    Just("kind".to_string()),
                    Just("spec".to_string()),
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An RFC 3339 time near now, or anything at all.
fn arb_time_text() -> impl Strategy<Value = String> {
    prop_oneof![
        (-400_000_000i64..4_000_000_000i64).prop_map(|s| {
            chrono::DateTime::from_timestamp(s, 0)
                .map(crate::grant::model::record::timestamp)
                .unwrap_or_default()
        }),
        arb_text(),
    ]
}

/// A grant record as a hand (or a buggy writer) might leave it in the cluster.
pub fn arb_grant() -> impl Strategy<Value = Grant> {
    let spec = (
        (arb_text(), arb_text(), arb_text(), arb_text()),
        (any::<i64>(), arb_time_text(), arb_time_text()),
        prop_oneof![0i64..8, any::<i64>()],
        proptest::option::of((
            prop_oneof![
                (0i64..8).prop_map(crate::grant::model::record::name_for),
                arb_text()
            ],
            arb_text(),
        )),
    );
    let status = proptest::option::of((
        proptest::option::of(prop_oneof![
            Just(State::Pending),
            Just(State::Active),
            Just(State::Failed),
            Just(State::Revoked),
        ]),
        proptest::option::of(arb_text()),
        proptest::option::of(arb_text()),
    ));
    let meta = (
        prop_oneof![
            (0i64..8).prop_map(crate::grant::model::record::name_for),
            arb_text()
        ],
        proptest::option::of(any::<i64>()),
        proptest::option::of(-400_000_000i64..4_000_000_000i64),
    );
    (spec, status, meta).prop_map(
        |(
            ((requester, reason, role, ticket), (duration, start, expiry), sequence, previous),
            status,
            (name, generation, created),
        )| {
            let mut g = Grant::new(
                &name,
                GrantSpec {
                    requester,
                    requester_groups: vec![],
                    reason,
                    ticket: Some(ticket),
                    service_account: role.clone(),
                    role,
                    duration_seconds: duration,
                    start_time: start,
                    expiry_time: expiry,
                    client_host: String::new(),
                    plugin_version: String::new(),
                    request_id: String::new(),
                    sequence,
                    previous: previous.map(|(name, digest)| PreviousRecord { name, digest }),
                },
            );
            g.status = status.map(|(state, seal_name, seal_uid)| GrantStatus {
                state,
                seal_name,
                seal_uid,
                ..GrantStatus::default()
            });
            g.metadata.generation = generation;
            g.metadata.creation_timestamp =
                created.and_then(|s| k8s_openapi::jiff::Timestamp::from_second(s).ok().map(Time));
            g
        },
    )
}

/// A spec at `sequence` as the plugin writes it, linking `previous` (alice, incident-debug,
/// ten minutes from 2026-11-27 11:00).
pub fn spec(sequence: i64, previous: Option<&Grant>) -> GrantSpec {
    GrantSpec {
        requester: "alice@example.com".into(),
        requester_groups: vec!["sre".into()],
        reason: "etcd is down".into(),
        ticket: None,
        role: "incident-debug".into(),
        service_account: "incident-debug".into(),
        duration_seconds: 600,
        start_time: "2026-11-27T11:00:00Z".into(),
        expiry_time: "2026-11-27T11:10:00Z".into(),
        client_host: "laptop".into(),
        plugin_version: "0.1.0".into(),
        request_id: format!("r{sequence}"),
        sequence,
        previous: previous.map(|p| PreviousRecord {
            name: p.name().into(),
            digest: crate::grant::model::chain::digest_of(p),
        }),
    }
}

/// A record named `name` claiming `sequence`, with no link.
pub fn grant_named(name: &str, sequence: i64) -> Grant {
    Grant::new(name, spec(sequence, None))
}

/// `n` records chained as the plugin writes them, from sequence 1.
pub fn chain(n: i64) -> Vec<Grant> {
    let mut out: Vec<Grant> = Vec::new();
    for seq in 1..=n {
        let g = Grant::new(
            &crate::grant::model::record::name_for(seq),
            spec(seq, out.last()),
        );
        out.push(g);
    }
    out
}
