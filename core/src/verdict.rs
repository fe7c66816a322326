//! The plan's verdict, in one word and one line: validation, lint and the
//! what-if together, so that a plan that cannot work is never called green.
//!
//! - **Blocked**: AWS would refuse it, or it is certain to roll back with no
//!   regression at all: the execution timeout is shorter than the schedule, or
//!   an alarm fires while green behaves exactly as blue.
//! - **Unprotected**: a regression the user cares about would ship: no alarm
//!   can roll the update back, the what-if's own regression shipped with no
//!   alarm firing, an error alarm cannot fire in some phase and no alarm on
//!   the new fleet covers it (lint's `alarm_blind_in_phase`), or the
//!   guardrails catch the scenario's regression less often than the user
//!   asked for.
//! - **Guarded**: none of the above.

use serde::{Deserialize, Serialize};

use crate::check::Checked;
use crate::controller::{Outcome, RollbackCause};
use crate::plan::Scenario;
use crate::problem::Problem;
use crate::rollout::Rollout;
use crate::simulate::{simulate, Simulation, SimulationError};
use crate::units::mmss;

/// How often, by default, the guardrails must catch the scenario's regression
/// before a plan counts as guarded (defined with the plan's scenario, which
/// reads it).
pub use crate::plan::DEFAULT_REQUIRED_DETECTION;

/// The verdict's word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    Blocked,
    Unprotected,
    Guarded,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Blocked => "Blocked",
            Verdict::Unprotected => "Unprotected",
            Verdict::Guarded => "Guarded",
        }
    }
}

/// A verdict and why, in one line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Judgement {
    pub verdict: Verdict,
    pub why: String,
    /// What the what-if found that the verdict rests on, as problems at the
    /// fields to change (the check's own problems are in its report): the
    /// Problems box lists them with the rest, as errors when the verdict is
    /// Blocked, else as warnings.
    #[serde(default)]
    pub found: Vec<Problem>,
}

impl Judgement {
    fn new(verdict: Verdict, why: String) -> Judgement {
        Judgement {
            verdict,
            why,
            found: Vec::new(),
        }
    }

    /// A verdict that rests on `problem`, which says why in its own words.
    fn on(verdict: Verdict, problem: Problem) -> Judgement {
        Judgement {
            verdict,
            why: problem.message.clone(),
            found: vec![problem],
        }
    }
}

/// Whether a lint warning blocks the plan on its own (the verdict is
/// Blocked), so that the Problems box counts it as an error.
pub fn blocks(problem: &Problem) -> bool {
    problem.code == "schedule_times_out"
}

/// What the what-if found that the verdict needs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// With no regression at all (green behaves as blue does), the rollout
    /// still rolled back: why, in words.
    pub false_alarm: Option<String>,
    /// The alarm that rolled it back, if an alarm did.
    #[serde(default)]
    pub false_alarm_by: Option<String>,
    /// The scenario's own seeded run succeeded although green failed this
    /// many more requests than blue's error rate explains.
    pub shipped_failures: Option<u64>,
    /// The share of seeded runs an alarm rolled back, at the scenario's green
    /// error rate (which is the second number), once the analysis is done.
    pub detection: Option<(f64, f64)>,
}

/// Whether `rollout` rolls back with no regression: green behaving exactly
/// as blue does under `scenario`. Returns why, in words.
pub fn false_alarm(
    rollout: &Rollout,
    scenario: &Scenario,
) -> Result<Option<String>, SimulationError> {
    Ok(healthy_rollback(rollout, scenario)?.map(|(why, _)| why))
}

/// As [`false_alarm`], with the alarm that rolled back, if one did.
fn healthy_rollback(
    rollout: &Rollout,
    scenario: &Scenario,
) -> Result<Option<(String, Option<String>)>, SimulationError> {
    let mut healthy = scenario.clone();
    healthy.green.error_rate = scenario.blue.error_rate;
    healthy.green.latency_ms = scenario.blue.latency_ms;
    let simulation = simulate(rollout, &healthy)?;
    Ok(match &simulation.outcome {
        Outcome::Succeeded { .. } => None,
        Outcome::RolledBack {
            decided_at_ms,
            cause,
            ..
        } => Some(match cause {
            RollbackCause::Alarm { alarm, .. } => (
                format!(
                    "{alarm} goes to ALARM at {} with no regression at all (green as healthy as blue): every update would roll back",
                    mmss(decided_at_ms / 1_000)
                ),
                Some(alarm.clone()),
            ),
            other => (
                format!(
                    "with no regression at all (green as healthy as blue) the update rolls back at {}: {}",
                    mmss(decided_at_ms / 1_000),
                    other.describe()
                ),
                None,
            ),
        }),
    })
}

impl Evidence {
    /// What the what-if's seeded run of `rollout` under `scenario`
    /// (`simulation`) says, and one more with no regression at all; the
    /// detection comes later, from the analysis.
    pub fn of_run(
        rollout: &Rollout,
        scenario: &Scenario,
        simulation: &Simulation,
    ) -> Result<Evidence, SimulationError> {
        let healthy = healthy_rollback(rollout, scenario)?;
        Ok(Evidence {
            false_alarm_by: healthy.as_ref().and_then(|(_, alarm)| alarm.clone()),
            false_alarm: healthy.map(|(why, _)| why),
            shipped_failures: shipped_failures(scenario, simulation),
            detection: None,
        })
    }
}

/// The failures green added that no alarm acted on, when `simulation` of
/// `scenario` succeeded with green failing more than blue's rate explains.
/// A scenario whose green is as healthy as blue ships no regression, whatever
/// chance put in its failures.
pub fn shipped_failures(scenario: &Scenario, simulation: &Simulation) -> Option<u64> {
    (scenario.has_regression()
        && matches!(simulation.outcome, Outcome::Succeeded { .. })
        && simulation.excess_failed_requests > 0)
        .then_some(simulation.excess_failed_requests)
}

/// The verdict on a checked plan, with what the what-if found so far
/// (`None` while it runs), against the detection the user requires (0 to 1).
/// `untaken` are the form's own errors: fields holding text the plan cannot
/// take (the plan keeps their last value), which block as the plan's do.
pub fn judge(
    checked: &Checked,
    untaken: &[Problem],
    evidence: Option<&Evidence>,
    required: f64,
) -> Judgement {
    let blocked = |why: String| Judgement::new(Verdict::Blocked, why);
    let unprotected = |why: String| Judgement::new(Verdict::Unprotected, why);
    let report = &checked.report;
    let mut errors = untaken.iter().chain(&report.errors);
    if let Some(first) = errors.next() {
        let more = match errors.count() {
            0 => String::new(),
            more => format!(" (and {more} more)"),
        };
        return blocked(format!("{first}{more}"));
    }
    let warning = |code: &str| report.warnings.iter().find(|warning| warning.code == code);
    if let Some(timeout) = warning("schedule_times_out") {
        return blocked(timeout.message.clone());
    }
    if let Some(evidence) = evidence.filter(|evidence| evidence.false_alarm.is_some()) {
        return Judgement::on(Verdict::Blocked, false_alarm_problem(checked, evidence));
    }
    if let Some(none) = warning("no_alarms") {
        return unprotected(none.message.clone());
    }
    if let Some(excluded) = warning("guardrails_excluded") {
        return unprotected(excluded.message.clone());
    }
    if let Some(failures) = evidence.and_then(|evidence| evidence.shipped_failures) {
        return Judgement::on(
            Verdict::Unprotected,
            Problem::new(
                "Alarms",
                "regression_shipped",
                format!(
                    "in the what-if the regression shipped: green failed {failures} more request(s) than blue would have, and no alarm rolled it back. Add an alarm on the new fleet alone (EndpointConfigName) that green's errors reach, or lower a rollback alarm's threshold"
                ),
            ),
        );
    }
    // A phase in which no alarm on the metric can fire, however badly green
    // fails: a regression there reaches every request before anything acts.
    if let Some(blind) = warning("alarm_blind_in_phase") {
        return unprotected(blind.to_string());
    }
    match evidence.and_then(|evidence| evidence.detection) {
        Some((probability, rate)) if probability < required => Judgement::on(
            Verdict::Unprotected,
            Problem::new(
                "Alarms",
                "detection_below_required",
                format!(
                    "the alarms caught a green error rate of {} in {:.1}% of seeded runs; you require {:.0}%. Lower a rollback alarm's threshold, watch the new fleet alone, or bake longer",
                    crate::alarm::trim_float(rate),
                    probability * 100.0,
                    required * 100.0
                ),
            ),
        ),
        Some((probability, rate)) => Judgement::new(
            Verdict::Guarded,
            format!(
                "the alarms caught a green error rate of {} in {:.1}% of seeded runs (you require {:.0}%)",
                crate::alarm::trim_float(rate),
                probability * 100.0,
                required * 100.0
            ),
        ),
        None => Judgement::new(
            Verdict::Guarded,
            "valid, and the what-if found no problem so far; the detection analysis is still running".into(),
        ),
    }
}

/// The problem a false alarm is: where to change the plan, and how.
fn false_alarm_problem(checked: &Checked, evidence: &Evidence) -> Problem {
    use crate::alarm::Scope;
    use crate::plan::TreatMissingData;
    let why = evidence.false_alarm.clone().unwrap_or_default();
    let rules = checked
        .rollout
        .as_ref()
        .map(Rollout::alarms)
        .unwrap_or_default();
    let found = evidence.false_alarm_by.as_ref().and_then(|name| {
        rules
            .iter()
            .enumerate()
            .find(|(_, rule)| &rule.name == name)
    });
    match found {
        Some((index, rule))
            if rule.scope() == Scope::NewFleet
                && rule.treat_missing_data == TreatMissingData::Breaching =>
        {
            Problem::new(
                format!("Alarms[{index}].TreatMissingData"),
                "false_alarm",
                format!(
                    "{why}. It watches only the new fleet, which publishes nothing before it serves, and treats that missing data as breaching: set TreatMissingData to notBreaching"
                ),
            )
        }
        Some((index, _)) => Problem::new(
            format!("Alarms[{index}].Threshold"),
            "false_alarm",
            format!(
                "{why}. A healthy fleet reaches its threshold: raise the threshold above what blue reaches in the what-if, or ask for more breaching datapoints (DatapointsToAlarm, EvaluationPeriods)"
            ),
        ),
        None => Problem::new(
            "DeploymentConfig",
            "false_alarm",
            format!("{why}. Change what the reason names"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{check, examples, Plan};

    fn checked(plan: &Plan) -> (Checked, Rollout) {
        let checked = check(plan);
        let rollout = checked.rollout.clone().expect("valid");
        (checked, rollout)
    }

    /// The seed notebook with its error alarm also on the new fleet alone.
    fn with_new_fleet_alarm(plan: Plan) -> Plan {
        let name = format!("{}-new-fleet", plan.alarms[0].alarm_name);
        examples::with_new_fleet_copy(plan, &name)
    }

    #[test]
    fn the_seed_notebook_is_unprotected_until_the_new_fleet_is_watched() {
        let plan = examples::notebook_canary();
        let (checked, rollout) = checked(&plan);
        let scenario = plan.scenario_or_default();
        assert_eq!(false_alarm(&rollout, &scenario).expect("simulates"), None);
        let caught = Evidence {
            detection: Some((1.0, 1.0)),
            ..Evidence::default()
        };
        // Its endpoint-wide alarm is blind during the canary bake: a
        // regression reaches all traffic before it can fire.
        let judged = judge(&checked, &[], Some(&caught), DEFAULT_REQUIRED_DETECTION);
        assert_eq!(judged.verdict, Verdict::Unprotected, "{}", judged.why);
        assert!(
            judged.why.contains("cannot fire during canary bake"),
            "{}",
            judged.why
        );
        let fixed = with_new_fleet_alarm(plan);
        let checked = check(&fixed);
        let judged = judge(&checked, &[], Some(&caught), DEFAULT_REQUIRED_DETECTION);
        assert_eq!(judged.verdict, Verdict::Guarded, "{}", judged.why);
        let weak = Evidence {
            detection: Some((0.5, 0.02)),
            ..Evidence::default()
        };
        let judged = judge(&checked, &[], Some(&weak), DEFAULT_REQUIRED_DETECTION);
        assert_eq!(judged.verdict, Verdict::Unprotected);
        assert!(
            judged.why.contains("50.0%") && judged.why.contains("90%"),
            "{}",
            judged.why
        );
    }

    #[test]
    fn a_timeout_shorter_than_the_schedule_is_blocked() {
        let mut plan = examples::notebook_canary();
        if let Some(policy) = plan
            .deployment_config
            .as_mut()
            .and_then(|config| config.blue_green_update_policy.as_mut())
        {
            policy.maximum_execution_timeout_in_seconds = Some(600);
        }
        let (checked, _) = checked(&plan);
        let judged = judge(&checked, &[], None, DEFAULT_REQUIRED_DETECTION);
        assert_eq!(judged.verdict, Verdict::Blocked);
        assert!(judged.why.contains("time out"), "{}", judged.why);
        // The Problems box counts what blocks as an error.
        let overrun = checked
            .report
            .warnings
            .iter()
            .find(|warning| warning.code == "schedule_times_out")
            .expect("the lint's warning");
        assert!(blocks(overrun));
        assert!(!checked
            .report
            .warnings
            .iter()
            .filter(|warning| warning.code != "schedule_times_out")
            .any(blocks));
    }

    #[test]
    fn an_alarm_that_fires_with_no_regression_is_blocked() {
        let mut plan = examples::notebook_canary();
        plan.alarms[0].threshold = Some(-1.0);
        let (checked, rollout) = checked(&plan);
        let why = false_alarm(&rollout, &plan.scenario_or_default())
            .expect("simulates")
            .expect("rolls back with no regression");
        assert!(why.contains(&plan.alarms[0].alarm_name), "{why}");
        let simulation = simulate(&rollout, &plan.scenario_or_default()).expect("simulates");
        let evidence = Evidence {
            detection: Some((1.0, 1.0)),
            ..Evidence::of_run(&rollout, &plan.scenario_or_default(), &simulation).expect("runs")
        };
        assert_eq!(evidence.false_alarm.as_deref(), Some(why.as_str()));
        let judged = judge(&checked, &[], Some(&evidence), DEFAULT_REQUIRED_DETECTION);
        assert_eq!(judged.verdict, Verdict::Blocked, "{}", judged.why);
        // The Blocked verdict comes with the problem that says why and how
        // to get out, at the field to change.
        let [problem] = judged.found.as_slice() else {
            panic!("one problem: {:?}", judged.found);
        };
        assert_eq!(problem.path, "Alarms[0].Threshold");
        assert_eq!(problem.code, "false_alarm");
        assert!(problem.message.starts_with(&why), "{}", problem.message);
        assert!(
            problem.message.contains("raise the threshold"),
            "{}",
            problem.message
        );
        assert_eq!(judged.why, problem.message, "the same words");
    }

    #[test]
    fn a_new_fleet_alarm_breaching_on_missing_data_is_blocked_with_the_fix() {
        let mut plan = with_new_fleet_alarm(examples::notebook_canary());
        plan.alarms[2].treat_missing_data = Some(crate::plan::TreatMissingData::Breaching);
        let (checked, rollout) = checked(&plan);
        let scenario = plan.scenario_or_default();
        let simulation = simulate(&rollout, &scenario).expect("simulates");
        let evidence = Evidence::of_run(&rollout, &scenario, &simulation).expect("runs");
        let judged = judge(&checked, &[], Some(&evidence), DEFAULT_REQUIRED_DETECTION);
        assert_eq!(judged.verdict, Verdict::Blocked, "{}", judged.why);
        assert_eq!(judged.found[0].path, "Alarms[2].TreatMissingData");
        assert!(
            judged.found[0]
                .message
                .contains("set TreatMissingData to notBreaching"),
            "{}",
            judged.found[0].message
        );
        // The lint says the same, and notBreaching clears both.
        assert!(checked
            .report
            .warnings
            .iter()
            .any(|warning| warning.code == "new_fleet_breaching"));
        plan.alarms[2].treat_missing_data = Some(crate::plan::TreatMissingData::NotBreaching);
        let (checked_again, rollout) = self::checked(&plan);
        let simulation = simulate(&rollout, &scenario).expect("simulates");
        let evidence = Evidence::of_run(&rollout, &scenario, &simulation).expect("runs");
        assert_eq!(evidence.false_alarm, None);
        assert!(!checked_again
            .report
            .warnings
            .iter()
            .any(|warning| warning.code == "new_fleet_breaching"));
    }

    #[test]
    fn a_regression_that_ships_is_unprotected() {
        let mut plan = examples::notebook_canary();
        let mut scenario = plan.scenario_or_default();
        scenario.green.error_rate = 0.02;
        scenario.green.onset_seconds = 400.0;
        plan.scenario = Some(scenario.clone());
        let (checked, rollout) = checked(&plan);
        let simulation = simulate(&rollout, &scenario).expect("simulates");
        let failures = shipped_failures(&scenario, &simulation).expect("it ships");
        assert!(failures > 0);
        let evidence = Evidence {
            shipped_failures: Some(failures),
            ..Evidence::default()
        };
        let judged = judge(&checked, &[], Some(&evidence), DEFAULT_REQUIRED_DETECTION);
        assert_eq!(judged.verdict, Verdict::Unprotected);
        assert!(judged.why.contains("shipped"), "{}", judged.why);
    }

    #[test]
    fn errors_come_first_and_say_where() {
        let mut plan = examples::notebook_canary();
        plan.instance_count = Some(0);
        let checked = check(&plan);
        let judged = judge(&checked, &[], None, DEFAULT_REQUIRED_DETECTION);
        assert_eq!(judged.verdict, Verdict::Blocked);
        assert!(judged.why.starts_with("InstanceCount"), "{}", judged.why);
        // The form's own errors (text the plan cannot take) come first.
        let untaken = Problem {
            path: "Alarms[0].Period".into(),
            code: "not_taken".into(),
            message: "`1.5` is not a whole number".into(),
        };
        let judged = judge(
            &checked,
            std::slice::from_ref(&untaken),
            None,
            DEFAULT_REQUIRED_DETECTION,
        );
        assert_eq!(
            judged.why,
            "Alarms[0].Period: `1.5` is not a whole number (and 1 more)"
        );
        let valid = check(&examples::notebook_canary());
        let judged = judge(&valid, &[untaken], None, DEFAULT_REQUIRED_DETECTION);
        assert_eq!(judged.verdict, Verdict::Blocked, "{}", judged.why);
    }
}
