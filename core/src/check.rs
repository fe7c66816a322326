//! The one check every caller runs: validation, then lint.
//!
//! Validation ([`crate::validate`]) answers "will AWS accept this?" and builds
//! the [`Rollout`]; lint ([`crate::lint`]) answers "will it catch a bad model?".
//! Neither knows the other: this module runs them in order.

use crate::alarm::AlarmRule;
use crate::lint::lint;
use crate::plan::{CompositeAlarm, MetricAlarm, Plan};
use crate::problem::{ParseError, Problem, Report};
use crate::rollout::Rollout;
use crate::validate::{validate, validate_alarm, validate_composite};

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

/// Checks one alarm definition (a `PutMetricAlarm` request) on its own, with the
/// rules a plan's alarms follow; problems are at `Alarms[0].…`.
pub fn check_alarm(alarm: &MetricAlarm) -> Result<AlarmRule, Vec<Problem>> {
    validate_alarm(alarm)
}

/// Checks one composite alarm (a `PutCompositeAlarm` request) on its own;
/// problems are at `CompositeAlarms[0].…`. Whether the alarms its rule names
/// exist is for the caller to check.
pub fn check_composite(alarm: &CompositeAlarm) -> Result<crate::composite::Rule, Vec<Problem>> {
    validate_composite(alarm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alarm::Scope;

    #[test]
    fn an_alarm_is_checked_on_its_own() {
        let plan = crate::examples::notebook_canary();
        let mut alarm = plan.alarms[0].clone();
        let rule = check_alarm(&alarm).expect("valid");
        assert_eq!((rule.period_seconds, rule.scope()), (60, Scope::Endpoint));
        alarm.period = Some(45);
        alarm.threshold = None;
        let problems = check_alarm(&alarm).expect_err("invalid");
        let paths: Vec<&str> = problems
            .iter()
            .map(|problem| problem.path.as_str())
            .collect();
        assert_eq!(paths, ["Alarms[0].Period", "Alarms[0].Threshold"]);
    }
}
