//! Plain sentences that explain a simulated rollout: what happened, and why an
//! alarm did or did not fire.

use crate::alarm::{trim_float, AlarmState, Scope};
use crate::controller::{Outcome, RollbackCause};
use crate::plan::Scenario;
use crate::schedule::Schedule;
use crate::simulate::{AlarmTrace, Simulation};

pub use crate::units::mmss;

fn at(ms: u64) -> String {
    format!(
        "{} ({} s)",
        mmss(ms / 1_000),
        trim_float(ms as f64 / 1_000.0)
    )
}

/// Why an alarm fired although green behaves like blue: named by the scope
/// of the alarm that rolled back, so the advice fits the cause.
fn healthy_rollback_cause(scenario: &Scenario, simulation: &Simulation) -> String {
    let fired = match &simulation.outcome {
        Outcome::RolledBack {
            cause: RollbackCause::Alarm { alarm, .. },
            ..
        } => simulation.alarms.iter().find(|trace| &trace.name == alarm),
        _ => None,
    };
    let blue = trim_float(scenario.blue.error_rate);
    match fired {
        Some(trace) if trace.scope == Scope::NewFleet => {
            let missing = trace.datapoints.iter().any(|(_, value)| value.is_none());
            if missing && trace.treat_missing_data == crate::plan::TreatMissingData::Breaching {
                format!(
                    "Green behaves like blue here, yet {} fired: it watches only the new fleet, which publishes \
                     nothing before it serves, and it treats missing data as breaching. Set TreatMissingData to \
                     notBreaching.",
                    trace.name
                )
            } else {
                format!(
                    "Green behaves like blue here, yet {} fired: it watches only the new fleet, and a healthy \
                     green at blue's error rate ({blue}) reaches its threshold of {} by chance, since a period of \
                     green's small share holds few requests. Raise the threshold, or ask for more breaching \
                     datapoints (DatapointsToAlarm, EvaluationPeriods).",
                    trace.name,
                    trim_float(trace.threshold)
                )
            }
        }
        Some(trace) => format!(
            "Green behaves like blue here, yet {} fired: it watches the whole endpoint, which includes the old \
             fleet, and AWS documents that an old-fleet alarm rolls the deployment back. Its threshold of {} is \
             within what blue reaches at its error rate ({blue}): raise it, or scope it to the new fleet with \
             EndpointConfigName.",
            trace.name,
            trim_float(trace.threshold)
        ),
        None => "Green behaves like blue here, yet the update rolled back: see why above.".into(),
    }
}

/// Explains `simulation` in a few sentences, most important first.
pub fn explain(schedule: &Schedule, scenario: &Scenario, simulation: &Simulation) -> Vec<String> {
    let mut sentences = vec![outcome_sentence(simulation), green_sentence(simulation)];
    if let Some(seconds) = simulation.time_to_rollback_seconds() {
        if simulation.detected() {
            sentences.push(format!(
                "The regression reached users {} before the rollback.",
                mmss(seconds as u64)
            ));
        }
    }
    if !scenario.has_regression() {
        if !simulation.detected() {
            sentences
                .push("Green behaves like blue in this scenario, so no alarm should fire.".into());
        } else {
            sentences.push(healthy_rollback_cause(scenario, simulation));
        }
        return sentences;
    }
    let Some((start, end)) = schedule.monitoring else {
        sentences.push(
            "Alarms are never watched in this plan (no bake with green traffic), so nothing can roll back.".into(),
        );
        return sentences;
    };
    let onset_ms = (scenario.green.onset_seconds * 1_000.0).max(0.0) as u64;
    if onset_ms >= u64::from(end) * 1_000 {
        sentences.push(format!(
            "The regression starts at {}, after alarms stop being watched at {}: no alarm can catch it.",
            at(onset_ms),
            at(u64::from(end) * 1_000)
        ));
        return sentences;
    }
    if simulation.detected() {
        return sentences;
    }
    let window = (i64::from(start) * 1_000, i64::from(end) * 1_000);
    sentences.extend(
        simulation
            .alarms
            .iter()
            .filter_map(|trace| quiet_alarm(trace, window)),
    );
    sentences
}

/// How the run ended: succeeded, or rolled back when, why and how fast.
fn outcome_sentence(simulation: &Simulation) -> String {
    match &simulation.outcome {
        Outcome::Succeeded { completed_at_ms } => format!(
            "Succeeded at {}: green serves all traffic and blue is terminated.",
            at(*completed_at_ms)
        ),
        Outcome::RolledBack {
            decided_at_ms,
            completed_at_ms,
            phase,
            cause,
        } => {
            let how = if completed_at_ms > decided_at_ms {
                format!("Traffic was back on blue at {}.", at(*completed_at_ms))
            } else {
                "All traffic returned to blue at once.".to_string()
            };
            let why = match cause {
                RollbackCause::Alarm { alarm, reason } => {
                    format!("{alarm} entered ALARM. {reason}.")
                }
                other => format!("{}.", capitalise(&other.describe())),
            };
            format!(
                "Rolled back at {} during the {}: {why} {how}",
                at(*decided_at_ms),
                phase.label()
            )
        }
    }
}

/// What green served, what failed, and what blue's rate would not have.
fn green_sentence(simulation: &Simulation) -> String {
    let green = simulation.requests_to_green;
    let failed = simulation.failed_requests_from_green;
    if green == 0 {
        return "No request reached green.".to_string();
    }
    format!(
        "Green served {green} request(s); {failed} failed ({:.1}%){}.",
        failed as f64 * 100.0 / green as f64,
        if simulation.excess_failed_requests > 0 && simulation.excess_failed_requests != failed {
            format!(
                ", {} more than blue's error rate would have caused",
                simulation.excess_failed_requests
            )
        } else {
            String::new()
        }
    )
}

/// Why `trace` never fired over the watched `(from_ms, to_ms)`; `None` if it did.
fn quiet_alarm(trace: &AlarmTrace, (from_ms, to_ms): (i64, i64)) -> Option<String> {
    if trace
        .transitions
        .iter()
        .any(|transition| transition.to == AlarmState::Alarm)
    {
        return None;
    }
    let period_ms = i64::from(trace.period_seconds) * 1_000;
    let highest = trace
        .datapoints
        .iter()
        .filter(|(start, _)| {
            let start_ms = start * 1_000;
            start_ms + period_ms > from_ms && start_ms < to_ms
        })
        .filter_map(|(_, value)| *value)
        .reduce(f64::max);
    let watching = match trace.scope {
        Scope::NewFleet => "it watches the new fleet",
        Scope::Endpoint => "it watches the whole endpoint",
        Scope::NoMetric => "its dimensions match no metric SageMaker publishes",
        Scope::Unrelated => "it watches nothing of this rollout",
        Scope::Team => "it watches a metric the team publishes, as the scenario models it",
    };
    Some(match highest {
        None => format!(
            "{} never fired: {watching}, and it had no datapoints while alarms were watched.",
            trace.name
        ),
        Some(highest) => format!(
            "{} never fired: {watching}; its highest value while alarms were watched was {}, and it \
             fires on {}.",
            trace.name,
            trim_float((highest * 10_000.0).round() / 10_000.0),
            trace.condition
        ),
    })
}

/// `text` with its first letter in upper case, to start a sentence.
pub fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().collect::<String>() + chars.as_str())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check;
    use crate::examples;
    use crate::schedule::schedule;
    use crate::simulate::simulate;

    /// The seed notebook with a new-fleet copy of its error alarm at
    /// `threshold`, blue and green both failing 1 % of requests.
    fn healthy_with_new_fleet_alarm(threshold: f64, seed: u64) -> (crate::Plan, Scenario) {
        let mut plan =
            examples::with_new_fleet_copy(examples::notebook_canary(), "new-fleet-errors");
        plan.alarms[2].threshold = Some(threshold);
        let mut scenario = plan.scenario_or_default();
        scenario.blue.error_rate = 0.01;
        scenario.green.error_rate = 0.01;
        scenario.seed = seed;
        (plan, scenario)
    }

    #[test]
    fn a_healthy_rollback_by_a_new_fleet_alarm_names_its_real_cause() {
        // Some seed makes a healthy green reach 2.5 % in a canary period.
        let (plan, scenario, simulation) = (0..500)
            .find_map(|seed| {
                let (plan, scenario) = healthy_with_new_fleet_alarm(0.025, seed);
                let rollout = check(&plan).rollout.expect("valid");
                let simulation = simulate(&rollout, &scenario).expect("simulates");
                simulation
                    .detected()
                    .then_some((plan, scenario, simulation))
            })
            .expect("a seed where the new-fleet alarm fires on a healthy green");
        let rollout = check(&plan).rollout.expect("valid");
        let sentences = explain(&schedule(&rollout), &scenario, &simulation);
        let cause = sentences
            .iter()
            .find(|sentence| sentence.starts_with("Green behaves like blue here"))
            .expect("the cause");
        assert!(
            cause.contains("new-fleet-errors fired: it watches only the new fleet"),
            "{cause}"
        );
        assert!(cause.contains("blue's error rate (0.01)"), "{cause}");
        assert!(!cause.contains("endpoint"), "{cause}");
    }

    #[test]
    fn durations_read_as_minutes_and_seconds() {
        assert_eq!(mmss(0), "0:00");
        assert_eq!(mmss(300), "5:00");
        assert_eq!(mmss(3_725), "1:02:05");
    }

    #[test]
    fn a_rollback_names_the_alarm_the_phase_and_the_values() {
        let plan = examples::notebook_canary();
        let rollout = check(&plan).rollout.expect("valid");
        let scenario = plan.scenario_or_default();
        let simulation = simulate(&rollout, &scenario).expect("simulates");
        let text = explain(&schedule(&rollout), &scenario, &simulation).join(" ");
        assert!(
            text.contains("Rolled back at 11:00 (660 s) during the final bake"),
            "{text}"
        );
        assert!(
            text.contains("TestAlarm-5XXErrors-guardrail-demo entered ALARM"),
            "{text}"
        );
    }

    #[test]
    fn a_missed_regression_says_why() {
        let plan = examples::notebook_canary();
        let rollout = check(&plan).rollout.expect("valid");
        let mut scenario = plan.scenario_or_default();
        scenario.green.error_rate = 0.2;
        let simulation = simulate(&rollout, &scenario).expect("simulates");
        assert!(simulation.outcome.succeeded());
        let text = explain(&schedule(&rollout), &scenario, &simulation).join(" ");
        assert!(
            text.contains(
                "TestAlarm-5XXErrors-guardrail-demo never fired: it watches the whole endpoint"
            ),
            "{text}"
        );
        assert!(
            text.contains("fires on Average of Invocation5XXErrors >= 1"),
            "{text}"
        );
    }
}
