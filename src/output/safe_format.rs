//! `-o json|yaml` that a terminal can show: the same data, but every character that
//! `Untrusted` escapes is written as an escape the format defines (`\u202E`), never raw.
//! serde_json escapes only C0 controls, and serde_norway leaves bidirectional overrides and
//! zero-width characters raw; a record made by hand may hold them.

use crate::untrusted::is_unsafe;
use serde_json::ser::{Formatter, PrettyFormatter};
use serde_json::Value;
use std::io::{self, Write};

/// Pretty JSON with unsafe characters as `\uXXXX` escapes (the same string to a parser).
pub fn json(value: &impl serde::Serialize) -> serde_json::Result<String> {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, Safe(PrettyFormatter::new()));
    value.serialize(&mut ser)?;
    Ok(String::from_utf8(out).expect("serde_json writes UTF-8") + "\n")
}

/// [`json`], written to `out` as it is produced (a [`crate::streamed::Streamed`] sequence
/// inside `value` is never held whole).
pub fn json_to(out: &mut dyn Write, value: &impl serde::Serialize) -> serde_json::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(&mut *out, Safe(PrettyFormatter::new()));
    value.serialize(&mut ser)?;
    out.write_all(b"\n").map_err(serde_json::Error::io)
}

/// One line of compact JSON (JSON lines) with unsafe characters as `\uXXXX` escapes.
pub fn json_line(value: &impl serde::Serialize) -> serde_json::Result<String> {
    let mut out = Vec::new();
    let mut ser =
        serde_json::Serializer::with_formatter(&mut out, Safe(serde_json::ser::CompactFormatter));
    value.serialize(&mut ser)?;
    Ok(String::from_utf8(out).expect("serde_json writes UTF-8") + "\n")
}

/// YAML in serde_norway's block style; a string holding an unsafe character is written
/// double-quoted with escapes (the same string to a parser).
pub fn yaml(value: &impl serde::Serialize) -> anyhow::Result<String> {
    let value = serde_json::to_value(value)?;
    let mut out = String::new();
    match &value {
        Value::Object(m) if !m.is_empty() => block(&value, 0, &mut out)?,
        Value::Array(a) if !a.is_empty() => block(&value, 0, &mut out)?,
        other => {
            out.push_str(&scalar(other)?);
            out.push('\n');
        }
    }
    Ok(out)
}

/// [`yaml`] of the map `head` with its sequence under `key` replaced by `items`, written to
/// `out` an item at a time: the same text as [`yaml`] of the whole value, never held whole.
pub fn yaml_to(
    out: &mut dyn Write,
    head: &impl serde::Serialize,
    key: &str,
    items: impl Iterator<Item = anyhow::Result<Value>>,
) -> anyhow::Result<()> {
    let Value::Object(map) = serde_json::to_value(head)? else {
        anyhow::bail!("yaml_to is given a map");
    };
    let mut items = items.peekable();
    for (k, v) in &map {
        let mut text = String::new();
        if k != key {
            let one: serde_json::Map<String, Value> =
                [(k.clone(), v.clone())].into_iter().collect();
            block(&Value::Object(one), 0, &mut text)?;
            out.write_all(text.as_bytes())?;
            continue;
        }
        if items.peek().is_none() {
            text.push_str(&scalar(&Value::String(k.clone()))?);
            text.push_str(": []\n");
            out.write_all(text.as_bytes())?;
            continue;
        }
        text.push_str(&scalar(&Value::String(k.clone()))?);
        text.push_str(":\n");
        out.write_all(text.as_bytes())?;
        for item in items.by_ref() {
            let mut text = String::new();
            block(&Value::Array(vec![item?]), 0, &mut text)?;
            out.write_all(text.as_bytes())?;
        }
    }
    Ok(())
}

/// A non-empty map or sequence, each line indented by `indent` spaces.
fn block(value: &Value, indent: usize, out: &mut String) -> anyhow::Result<()> {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                out.push_str(&pad);
                out.push_str(&scalar(&Value::String(k.clone()))?);
                out.push(':');
                match v {
                    Value::Object(m) if !m.is_empty() => {
                        out.push('\n');
                        block(v, indent + 2, out)?;
                    }
                    // serde_norway puts a sequence under a key at the key's own indentation.
                    Value::Array(a) if !a.is_empty() => {
                        out.push('\n');
                        block(v, indent, out)?;
                    }
                    _ => {
                        out.push(' ');
                        out.push_str(&scalar(v)?);
                        out.push('\n');
                    }
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                out.push_str(&pad);
                out.push('-');
                match item {
                    Value::Object(m) if !m.is_empty() => nested(item, indent + 2, out)?,
                    Value::Array(a) if !a.is_empty() => nested(item, indent + 2, out)?,
                    _ => {
                        out.push(' ');
                        out.push_str(&scalar(item)?);
                        out.push('\n');
                    }
                }
            }
        }
        _ => unreachable!("block() is given maps and sequences only"),
    }
    Ok(())
}

/// A collection inside a sequence item: its first line follows the `- `.
fn nested(value: &Value, indent: usize, out: &mut String) -> anyhow::Result<()> {
    let mut inner = String::new();
    block(value, indent, &mut inner)?;
    out.push(' ');
    out.push_str(&inner[indent..]);
    Ok(())
}

fn scalar(value: &Value) -> anyhow::Result<String> {
    Ok(match value {
        Value::Object(_) => "{}".to_string(),
        Value::Array(_) => "[]".to_string(),
        Value::String(s) if s.chars().any(is_unsafe) => {
            // A JSON string is a YAML double-quoted scalar with the same escapes.
            let mut out = Vec::new();
            let mut ser = serde_json::Serializer::with_formatter(&mut out, Safe(Compact));
            serde::Serialize::serialize(s, &mut ser)?;
            String::from_utf8(out).expect("serde_json writes UTF-8")
        }
        other => serde_norway::to_string(other)?
            .trim_end_matches('\n')
            .to_string(),
    })
}

struct Compact;
impl Formatter for Compact {}

/// A JSON formatter that escapes unsafe characters inside strings, delegating layout.
struct Safe<F>(F);

impl<F: Formatter> Formatter for Safe<F> {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if is_unsafe(c) {
                writer.write_all(&fragment.as_bytes()[start..i])?;
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    write!(writer, "\\u{:04X}", unit)?;
                }
                start = i + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn end_object_key<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_key(w)
    }
    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_value(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Any report data: the same data to a parser, nothing unsafe to a terminal.
        #[test]
        fn any_data_round_trips_with_nothing_raw(v in crate::test_support::arb_json()) {
            let j = json(&v).unwrap();
            proptest::prop_assert!(!j.chars().any(is_unsafe_but_layout), "{}", j);
            proptest::prop_assert_eq!(serde_json::from_str::<Value>(&j).unwrap(), v.clone());
            let y = yaml(&v).unwrap();
            proptest::prop_assert!(!y.chars().any(is_unsafe_but_layout), "{}", y);
            // The same value serde_norway's own output reads back as (floats included).
            let back: Value = serde_norway::from_str(&y).unwrap();
            let theirs: Value = serde_norway::from_str(&serde_norway::to_string(&v).unwrap()).unwrap();
            proptest::prop_assert_eq!(back, theirs, "{}", y);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// A report written an item at a time reads as the whole report written at once.
        #[test]
        fn yaml_written_an_item_at_a_time_is_yaml_of_the_whole(
            items in proptest::collection::vec(crate::test_support::arb_json(), 0..4),
            other in crate::test_support::arb_json(),
        ) {
            let whole = serde_json::json!({ "a": other, "records": items, "z": 1 });
            let head = serde_json::json!({ "a": other, "records": [], "z": 1 });
            let mut streamed = Vec::new();
            yaml_to(&mut streamed, &head, "records", items.clone().into_iter().map(Ok)).unwrap();
            proptest::prop_assert_eq!(String::from_utf8(streamed).unwrap(), yaml(&whole).unwrap());
            let mut streamed = Vec::new();
            json_to(&mut streamed, &whole).unwrap();
            proptest::prop_assert_eq!(String::from_utf8(streamed).unwrap(), json(&whole).unwrap());
        }
    }

    fn sample() -> Value {
        serde_json::json!({
            "name": "grant-000001",
            "reason": "a\u{1b}]0;title\u{7}\u{202e}b\u{200b}\u{85}\nFAKE",
            "ticket": null,
            "groups": ["sre", "evil\u{2028}x"],
            "nested": {"n": 1, "ok": true, "list": [{"a": "x", "b": []}, [1, 2]], "empty": {}},
            "records": [],
            "numberish": "123",
            "long": "word ".repeat(60),
            "list": [{"reason": "word ".repeat(60), "x": "y"}],
        })
    }

    #[test]
    fn the_same_data_with_nothing_raw() {
        let v = sample();
        let j = json(&v).unwrap();
        assert!(!j.chars().any(is_unsafe_but_layout), "{j}");
        assert_eq!(serde_json::from_str::<Value>(&j).unwrap(), v);
        let y = yaml(&v).unwrap();
        assert!(!y.chars().any(is_unsafe_but_layout), "{y}");
        assert_eq!(serde_norway::from_str::<Value>(&y).unwrap(), v, "{y}");
        // Without unsafe characters, exactly what serde_norway writes.
        let plain =
            serde_json::json!({"a": "x", "l": ["y", {"k": "v", "m": [1]}], "e": [], "n": null});
        assert_eq!(
            yaml(&plain).unwrap(),
            serde_norway::to_string(&plain).unwrap()
        );
        assert_eq!(
            yaml(&Vec::<u8>::new()).unwrap(),
            serde_norway::to_string(&Vec::<u8>::new()).unwrap()
        );
    }

    fn is_unsafe_but_layout(c: char) -> bool {
        is_unsafe(c) && c != '\n'
    }
}
