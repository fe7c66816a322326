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
/// the failure carries `code`.
pub fn parse<T: serde::de::DeserializeOwned>(
    input: Value,
    code: &'static str,
) -> Result<T, Failure> {
    serde_path_to_error::deserialize(input).map_err(|error| {
        let path = error.path().to_string();
        Failure::new(
            StatusCode::BAD_REQUEST,
            code,
            format!("{path}: {}", error.into_inner()),
        )
    })
}
