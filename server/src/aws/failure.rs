//! A refused or failed AWS call, before it is written in a client's format.

use axum::http::StatusCode;
use serde_json::Value;

/// A refused or failed call: the HTTP status, the code the client maps, and a
/// message that says what is wrong and where.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl Failure {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Failure {
        Failure {
            status,
            code,
            message: message.into(),
        }
    }
}

/// Reads a request into its shape; a member of the wrong type is named, and
/// the failure carries `code`. A member the shape does not have is refused
/// too, by name: guardrail does not model it, and a rehearsal that quietly
/// ignored a setting would mislead (the assumption `api_refusals`).
pub fn parse<T: serde::de::DeserializeOwned>(
    input: Value,
    code: &'static str,
) -> Result<T, Failure> {
    let mut unknown = Vec::new();
    let parsed: T = serde_path_to_error::deserialize(serde_ignored::Deserializer::new(
        input,
        &mut |path: serde_ignored::Path<'_>| unknown.push(path.to_string()),
    ))
    .map_err(|error| {
        let path = error.path().to_string();
        Failure::new(
            StatusCode::BAD_REQUEST,
            code,
            format!("{path}: {}", error.into_inner()),
        )
    })?;
    // Tags change nothing in a rehearsal: accepted, and not kept.
    unknown.retain(|path| path != "Tags");
    if !unknown.is_empty() {
        return Err(Failure::new(
            StatusCode::BAD_REQUEST,
            code,
            format!(
                "unknown member(s) {}: guardrail does not model them, and would otherwise ignore them; remove them or rehearse without them",
                unknown.join(", ")
            ),
        ));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Shape {
        #[allow(dead_code)]
        endpoint_name: String,
    }

    #[test]
    fn an_unknown_member_is_named_and_tags_are_let_through() {
        let error = parse::<Shape>(
            json!({"EndpointName": "e", "Bogus": 1, "Deep": {"X": 2}}),
            "SerializationException",
        )
        .expect_err("refused");
        assert_eq!(error.status, StatusCode::BAD_REQUEST);
        assert_eq!(error.code, "SerializationException");
        assert!(
            error.message.contains("unknown member(s) Bogus, Deep"),
            "{}",
            error.message
        );
        parse::<Shape>(
            json!({"EndpointName": "e", "Tags": [{"Key": "team", "Value": "ml"}]}),
            "SerializationException",
        )
        .expect("tags change nothing");
        let mistyped = parse::<Shape>(json!({"EndpointName": 5}), "X").expect_err("mistyped");
        assert!(
            mistyped.message.starts_with("EndpointName: invalid type"),
            "{}",
            mistyped.message
        );
    }
}
