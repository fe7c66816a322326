//! Problems found in a plan, and the error for text that is not a plan at all.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::field::Field;

/// One problem at one place in the plan.
///
/// `path` uses the plan's own key names, dotted, with list indices in brackets, for
/// example `DeploymentConfig.BlueGreenUpdatePolicy.TrafficRoutingConfiguration.LinearStepSize.Value`
/// or `Alarms[1].Period`. `code` is stable and meant for programs; `message` is for people
/// and names the allowed range.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub path: String,
    pub code: String,
    pub message: String,
}

impl Problem {
    /// A problem at a field of the plan.
    pub fn at(field: Field, code: &str, message: impl Into<String>) -> Self {
        Self::new(field.path(), code, message)
    }

    /// A problem at a path that is not one of the plan's fields: a key the plan
    /// does not know, reported where the input put it.
    pub(crate) fn new(path: impl Into<String>, code: &str, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            code: code.to_string(),
            message: message.into(),
        }
    }
}

/// "Alarms[1].Period: must be 10, 20, 30 or a multiple of 60": where, then what.
impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Everything validation and lint found: errors make the plan unusable, warnings
/// describe guardrails that cannot protect.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub errors: Vec<Problem>,
    pub warnings: Vec<Problem>,
}

impl Report {
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Text that is not valid JSON, or JSON that is not a plan.
#[derive(Clone, Debug, PartialEq, Eq, Error, Serialize, Deserialize)]
#[error("{}", self.one_line())]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    /// The field being read when parsing stopped; empty at the top level.
    pub path: String,
    pub message: String,
}

impl ParseError {
    pub(crate) fn from_path_error(error: &serde_path_to_error::Error<serde_json::Error>) -> Self {
        let inner = error.inner();
        let path = error.path().to_string();
        let path = if path == "." { String::new() } else { path };
        Self {
            line: inner.line(),
            column: inner.column(),
            path,
            message: strip_position(&inner.to_string()),
        }
    }

    /// What went wrong and at which field, without the line and column: for
    /// JSON nobody wrote by hand (a link's or a record's decoded contents).
    pub fn at_path(&self) -> String {
        if self.path.is_empty() {
            self.message.clone()
        } else {
            format!("{}: {}", self.path, self.message)
        }
    }

    /// One line that names the position, for the CLI and the import box.
    pub fn one_line(&self) -> String {
        let at = if self.path.is_empty() {
            String::new()
        } else {
            format!(" at {}", self.path)
        };
        format!(
            "line {}, column {}{}: {}",
            self.line, self.column, at, self.message
        )
    }
}

/// serde_json appends " at line L column C" to its messages; the position is
/// reported separately, so drop it from the text.
pub(crate) fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_string(),
        None => message.to_string(),
    }
}
