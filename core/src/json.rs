//! The planner's one JSON reader and one JSON writer.
//!
//! serde compiles each type's reading once per kind of reader and its
//! writing once per kind of writer. Every JSON document the planner reads
//! goes through [`from_json`] (a plan, a link's or a record's contents once
//! decoded, an import, what the browser stored, a run's event stream), and
//! every one it writes through `serde_json::Value` ([`to_json_pretty`] and
//! [`to_json`]), so each type's serde code is in the Wasm once for reading
//! and once for writing (BENCHMARKS.md, "Bundle size").

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::problem::{strip_position, ParseError};

/// Reads JSON `text` as a `T`. The first error names its line, column and
/// field path, as [`ParseError`] says; text after the document is an error.
pub fn from_json<T: DeserializeOwned>(text: &str) -> Result<T, ParseError> {
    let deserializer = &mut serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(&mut *deserializer)
        .map_err(|error| ParseError::from_path_error(&error))?;
    deserializer.end().map_err(|error| ParseError {
        line: error.line(),
        column: error.column(),
        path: String::new(),
        message: strip_position(&error.to_string()),
    })?;
    Ok(value)
}

/// `value` as JSON on one line, or `null` if it cannot be written (a map
/// with keys that are not strings; none of guardrail's types has one).
pub fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .unwrap_or(serde_json::Value::Null)
        .to_string()
}

/// `value` as pretty JSON (two-space indents), in its fields' order, or
/// `{}` if it cannot be written.
pub fn to_json_pretty<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .and_then(|value| serde_json::to_string_pretty(&value))
        .unwrap_or_else(|_| "{}".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::examples;
    use crate::plan::Plan;

    #[test]
    fn written_through_a_value_is_what_serde_json_writes_directly() {
        for text in [
            examples::NOTEBOOK_CANARY,
            examples::ROLLING,
            examples::TEAM_GUARDRAILS,
        ] {
            let plan: Plan = from_json(text).expect("an example");
            assert_eq!(
                to_json_pretty(&plan),
                serde_json::to_string_pretty(&plan).expect("json")
            );
            assert_eq!(to_json(&plan), serde_json::to_string(&plan).expect("json"));
        }
        // Floats keep every digit, and a float that is not a number is null
        // either way.
        let numbers = [0.1_f64, 1.0 / 3.0, 1e-300, f64::NAN];
        assert_eq!(
            to_json(&numbers),
            serde_json::to_string(&numbers).expect("json")
        );
    }

    #[test]
    fn what_follows_the_document_and_a_wrong_field_are_errors_that_say_where() {
        let trailing = from_json::<Vec<u32>>("[1, 2] x").expect_err("trailing text");
        assert_eq!((trailing.line, trailing.column), (1, 8), "{trailing:?}");
        assert!(
            trailing.message.contains("trailing characters"),
            "{trailing:?}"
        );
        let wrong = from_json::<Plan>("{\n  \"Alarms\": [{\"Period\": \"sixty\"}]\n}")
            .expect_err("a string for a number");
        assert_eq!(wrong.path, "Alarms[0].Period", "{wrong:?}");
        assert_eq!(wrong.line, 2, "{wrong:?}");
        assert_eq!(
            from_json::<Vec<u32>>(" [1, 2]\n").expect("reads"),
            vec![1, 2]
        );
    }
}
