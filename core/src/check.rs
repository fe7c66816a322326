//! The one check every caller runs: validation, then lint.
//!
//! Validation ([`crate::validate`]) answers "will AWS accept this?" and builds
//! the [`Rollout`]; lint ([`crate::lint`]) answers "will it catch a bad model?".
//! Neither knows the other: this module runs them in order.

use crate::lint::lint;
use crate::plan::Plan;
use crate::problem::{ParseError, Problem, Report};
use crate::rollout::Rollout;
use crate::validate::validate;

/// The result of checking a plan: the report, and the rollout when it is valid.
#[derive(Clone, Debug, PartialEq)]
pub struct Checked {
    pub report: Report,
    pub rollout: Option<Rollout>,
}

/// Validates `plan`, lints it, and resolves it into a [`Rollout`] when it is valid.
pub fn check(plan: &Plan) -> Checked {
    check_with(plan, Vec::new())
}

/// As [`check`], adding problems found while parsing (unknown fields) as errors.
pub fn check_with(plan: &Plan, parse_problems: Vec<Problem>) -> Checked {
    let (errors, rollout) = validate(plan, parse_problems);
    let warnings = lint(plan, rollout.as_ref());
    Checked {
        report: Report { errors, warnings },
        rollout,
    }
}

/// Parses JSON text and checks it: the one call the CLI, the UI and the server use.
pub fn check_json(text: &str) -> Result<(Plan, Checked), ParseError> {
    let (plan, unknown) = Plan::from_json_with_unknown(text)?;
    let checked = check_with(&plan, unknown);
    Ok((plan, checked))
}
