//! Lint: guardrails that are valid but cannot protect, as warnings with paths.
//!
//! Validation answers "will AWS accept this?"; lint answers "will it catch a bad
//! model?". Each rule reasons from the schedule and the metric's arithmetic, for
//! example that the Average of a 0-or-1 error metric is the error fraction, so an
//! endpoint-wide `Average >= 1` cannot fire while blue still serves.

use crate::alarm::{trim_float, AlarmRule, Comparison, Metric, Scope, Stat};
use crate::assumptions::instances_for;
use crate::plan::{
    CapacitySize, CapacitySizeType, MetricAlarm, Plan, Statistic, TrafficRoutingType,
    TreatMissingData,
};
use crate::problem::Problem;
use crate::rollout::{Rollout, Strategy};
use crate::schedule::{schedule, Phase, Schedule};

/// All warnings for `plan`; the deeper rules need the validated `rollout`.
pub fn lint(plan: &Plan, rollout: Option<&Rollout>) -> Vec<Problem> {
    let mut warnings = Vec::new();
    plan_level(plan, &mut warnings);
    if let Some(rollout) = rollout {
        let schedule = schedule(rollout);
        timing(plan, rollout, &schedule, &mut warnings);
        for rule in &rollout.alarms {
            let Some(index) = plan
                .alarms
                .iter()
                .position(|alarm| alarm.alarm_name == rule.name)
            else {
                continue;
            };
            alarm(
                plan,
                &plan.alarms[index],
                &format!("Alarms[{index}]"),
                rule,
                rollout,
                &schedule,
                &mut warnings,
            );
        }
    }
    warnings
}

fn warn(
    warnings: &mut Vec<Problem>,
    path: impl Into<String>,
    code: &str,
    message: impl Into<String>,
) {
    warnings.push(Problem::new(path, code, message));
}

fn plan_level(plan: &Plan, warnings: &mut Vec<Problem>) {
    let rollback = plan.rollback_alarm_names();
    if rollback.is_empty() {
        warn(
            warnings,
            "DeploymentConfig.AutoRollbackConfiguration",
            "no_alarms",
            "no rollback alarms: SageMaker will shift traffic on schedule and never roll back by itself",
        );
    }
    for (index, alarm) in plan.alarms.iter().enumerate() {
        if !alarm.alarm_name.is_empty() && !rollback.contains(&alarm.alarm_name.as_str()) {
            warn(
                warnings,
                format!("Alarms[{index}].AlarmName"),
                "alarm_not_used",
                format!(
                    "`{}` is defined but not listed in AutoRollbackConfiguration.Alarms, so it cannot roll back",
                    alarm.alarm_name
                ),
            );
        }
    }
    if plan.instance_type.starts_with("ml.inf1.") {
        warn(
            warnings,
            "InstanceType",
            "guardrails_excluded",
            "Inf1 instances cannot use deployment guardrails: SageMaker falls back to blue/green all at once with no final bake",
        );
    }

    let Some(config) = &plan.deployment_config else {
        return;
    };
    if let Some(policy) = &config.blue_green_update_policy {
        if let Some(routing) = &policy.traffic_routing_configuration {
            let base = "DeploymentConfig.BlueGreenUpdatePolicy.TrafficRoutingConfiguration";
            let (unused, name) = match routing.kind {
                Some(TrafficRoutingType::Canary) => {
                    (routing.linear_step_size.is_some(), "LinearStepSize")
                }
                Some(TrafficRoutingType::Linear) => (routing.canary_size.is_some(), "CanarySize"),
                Some(TrafficRoutingType::AllAtOnce) => (
                    routing.canary_size.is_some() || routing.linear_step_size.is_some(),
                    if routing.canary_size.is_some() {
                        "CanarySize"
                    } else {
                        "LinearStepSize"
                    },
                ),
                None => (false, ""),
            };
            if unused {
                warn(
                    warnings,
                    format!("{base}.{name}"),
                    "unused_field",
                    format!(
                        "{name} is ignored for Type {}",
                        routing
                            .kind
                            .map(TrafficRoutingType::as_str)
                            .unwrap_or_default()
                    ),
                );
            }
            if let Some(instances) = plan.instance_count.filter(|count| *count >= 1) {
                let fleet = instances.min(crate::validate::MAX_INSTANCES) as u32;
                for (name, size) in [
                    ("CanarySize", &routing.canary_size),
                    ("LinearStepSize", &routing.linear_step_size),
                ] {
                    if let Some(size) = size {
                        percent_rounding(&format!("{base}.{name}.Value"), size, fleet, warnings);
                    }
                }
            }
        }
    }
    if let (Some(policy), Some(instances)) = (&config.rolling_update_policy, plan.instance_count) {
        if instances >= 1 {
            let fleet = instances.min(crate::validate::MAX_INSTANCES) as u32;
            let base = "DeploymentConfig.RollingUpdatePolicy";
            for (name, size) in [
                ("MaximumBatchSize", &policy.maximum_batch_size),
                (
                    "RollbackMaximumBatchSize",
                    &policy.rollback_maximum_batch_size,
                ),
            ] {
                if let Some(size) = size {
                    percent_rounding(&format!("{base}.{name}.Value"), size, fleet, warnings);
                }
            }
        }
    }
}

fn percent_rounding(path: &str, size: &CapacitySize, fleet: u32, warnings: &mut Vec<Problem>) {
    let (Some(CapacitySizeType::CapacityPercent), Some(value)) = (size.kind, size.value) else {
        return;
    };
    if !(1..=100).contains(&value) {
        return;
    }
    let sizing = instances_for(CapacitySizeType::CapacityPercent, value as u32, fleet);
    if sizing.rounded_to_zero {
        warn(
            warnings,
            path,
            "percent_rounds_to_zero",
            format!(
                "{value}% of {fleet} instances is {:.2}, which rounds to 0; guardrail assumes 1 instance ({:.1}% of the fleet). \
                 SageMaker does not document this rounding; use INSTANCE_COUNT to be exact",
                value as f64 * fleet as f64 / 100.0,
                100.0 / fleet as f64
            ),
        );
    }
}

fn timing(plan: &Plan, rollout: &Rollout, schedule: &Schedule, warnings: &mut Vec<Problem>) {
    let timeout_path = match rollout.strategy {
        Strategy::Rolling { .. } => {
            "DeploymentConfig.RollingUpdatePolicy.MaximumExecutionTimeoutInSeconds"
        }
        _ => "DeploymentConfig.BlueGreenUpdatePolicy.MaximumExecutionTimeoutInSeconds",
    };
    if schedule.times_out() {
        let phase = schedule
            .step_at(schedule.timeout_seconds)
            .map(|step| step.phase.label())
            .unwrap_or_default();
        warn(
            warnings,
            timeout_path,
            "schedule_times_out",
            format!(
                "the schedule needs {} s to complete (provisioning included) but the timeout is {} s: \
                 the update will time out during {phase} and roll back",
                schedule.completes_at_seconds(),
                schedule.timeout_seconds
            ),
        );
    }
    let blue_green = plan
        .deployment_config
        .as_ref()
        .is_some_and(|config| config.blue_green_update_policy.is_some());
    if blue_green && rollout.termination_wait_seconds == 0 && !rollout.alarms.is_empty() {
        warn(
            warnings,
            "DeploymentConfig.BlueGreenUpdatePolicy.TerminationWaitInSeconds",
            "no_final_bake",
            match rollout.strategy {
                Strategy::AllAtOnce => {
                    "no final bake: with all-at-once shifting, alarms are never watched and blue is terminated at once"
                }
                _ => "no final bake: once green has all traffic, blue is terminated at once and alarms stop being watched",
            },
        );
    }
}

/// The highest value an alarm's statistic can take when every green request fails
/// and blue is healthy, with green serving `share` (0 to 1) of what the alarm sees.
/// `None` when it depends on things lint does not know (latency, traffic volume).
fn worst_case(rule: &AlarmRule, share: f64, requests_per_period: f64) -> Option<f64> {
    let metric = rule.metric?;
    if !metric.is_per_request_flag() || metric == Metric::Invocation4XXErrors {
        return None;
    }
    let share = match rule.scope {
        Scope::NewFleet => 1.0,
        _ => share,
    };
    Some(match rule.stat {
        Stat::Basic(Statistic::Average) => share,
        Stat::Basic(Statistic::Maximum) => 1.0,
        Stat::Basic(Statistic::Minimum) => {
            if share >= 1.0 {
                1.0
            } else {
                0.0
            }
        }
        Stat::Basic(Statistic::Sum) => share * requests_per_period,
        Stat::Basic(Statistic::SampleCount) => return None,
        Stat::Percentile(p) => {
            if share > 1.0 - p / 100.0 || p >= 100.0 {
                1.0
            } else {
                0.0
            }
        }
    })
}

#[allow(clippy::too_many_arguments)]
fn alarm(
    plan: &Plan,
    definition: &MetricAlarm,
    path: &str,
    rule: &AlarmRule,
    rollout: &Rollout,
    schedule: &Schedule,
    warnings: &mut Vec<Problem>,
) {
    if rule.scope == Scope::Unrelated {
        warn(
            warnings,
            format!("{path}.Dimensions"),
            "alarm_unrelated",
            format!(
                "`{}` does not watch this rollout: it needs Namespace AWS/SageMaker, a SageMaker endpoint metric, and \
                 dimensions EndpointName={} and VariantName={} (plus EndpointConfigName={} for the new fleet only)",
                rule.name, plan.endpoint_name, plan.variant_name, plan.endpoint_config_name
            ),
        );
        return;
    }
    let Some(metric) = rule.metric else {
        return;
    };
    if !metric.documents(rule.stat) {
        warn(
            warnings,
            format!(
                "{path}.{}",
                if definition.extended_statistic.is_some() {
                    "ExtendedStatistic"
                } else {
                    "Statistic"
                }
            ),
            "statistic_undocumented",
            format!(
                "SageMaker documents {} for {}; {} may not be published",
                metric.documented_statistics(),
                metric.as_str(),
                rule.stat.label()
            ),
        );
    }
    if metric == Metric::ModelLatency
        && rule.threshold > 0.0
        && rule.threshold < 1_000.0
        && matches!(
            rule.comparison,
            Comparison::Greater | Comparison::GreaterOrEqual
        )
    {
        warn(
            warnings,
            format!("{path}.Threshold"),
            "latency_units",
            format!(
                "ModelLatency is in microseconds: {} µs is {} ms. For {} ms use {}",
                trim_float(rule.threshold),
                trim_float(rule.threshold / 1_000.0),
                trim_float(rule.threshold),
                trim_float(rule.threshold * 1_000.0)
            ),
        );
    }
    if rule.scope == Scope::NewFleet && rule.treat_missing_data != TreatMissingData::Breaching {
        warn(
            warnings,
            format!("{path}.TreatMissingData"),
            "silent_green_hidden",
            format!(
                "this alarm watches only the new fleet, and missing data is treated as {}: if green stops reporting \
                 (no traffic reaches it, or it stops publishing), the alarm {} instead of firing. AWS recommends \
                 breaching for rollback alarms on continuously reported metrics",
                rule.treat_missing_data.as_str(),
                match rule.treat_missing_data {
                    TreatMissingData::NotBreaching => "stays OK",
                    TreatMissingData::Ignore => "keeps its state",
                    _ => "goes to INSUFFICIENT_DATA, which never rolls back,",
                }
            ),
        );
    }

    // Phases in which alarms are watched and green serves.
    let requests_per_period =
        plan.scenario_or_default().requests_per_second * f64::from(rule.period_seconds);
    let watched: Vec<_> = schedule
        .steps
        .iter()
        .filter(|step| step.phase.is_bake() && step.green_traffic_bp > 0)
        .collect();
    if watched.is_empty() {
        return;
    }
    let greater = matches!(
        rule.comparison,
        Comparison::Greater | Comparison::GreaterOrEqual
    );
    if greater {
        let reachable: Vec<bool> = watched
            .iter()
            .map(|step| {
                worst_case(
                    rule,
                    step.green_traffic_percent() / 100.0,
                    requests_per_period,
                )
                .is_none_or(|worst| rule.comparison.breaches(worst, rule.threshold))
            })
            .collect();
        let blocked: Vec<String> = watched
            .iter()
            .zip(&reachable)
            .filter(|(_, reachable)| !**reachable)
            .map(|(step, _)| {
                let worst = worst_case(
                    rule,
                    step.green_traffic_percent() / 100.0,
                    requests_per_period,
                )
                .unwrap_or_default();
                format!(
                    "{} (green serves {}%, so at most {})",
                    step.phase.label(),
                    trim_float(step.green_traffic_percent()),
                    trim_float((worst * 10_000.0).round() / 10_000.0)
                )
            })
            .collect();
        let threshold_path = format!("{path}.Threshold");
        if reachable.iter().all(|reachable| !reachable) {
            warn(
                warnings,
                threshold_path,
                "alarm_never_fires",
                format!(
                    "{} can never be reached, even if every green request fails: {}. {} is 1 per failed request and 0 \
                     otherwise, so its Average is the error fraction",
                    rule.condition(),
                    blocked.join("; "),
                    metric.as_str()
                ),
            );
        } else if !blocked.is_empty() {
            let can = watched
                .iter()
                .zip(&reachable)
                .filter(|(_, reachable)| **reachable)
                .map(|(step, _)| step.phase.label())
                .collect::<Vec<_>>()
                .join(", ");
            warn(
                warnings,
                threshold_path,
                "alarm_blind_in_phase",
                format!(
                    "{} cannot fire during {}, even if every green request fails; it can fire only during {can}. \
                     Add an alarm with EndpointConfigName={} to watch the new fleet alone",
                    rule.condition(),
                    blocked.join("; "),
                    rollout.endpoint_config_name
                ),
            );
        }
    }

    // A bake shorter than the datapoints the alarm needs cannot trip on its own.
    let needed = rule.datapoints_to_alarm * rule.period_seconds;
    let short: Vec<String> = watched
        .iter()
        .filter(|step| step.green_traffic_bp < 10_000 || step.phase == Phase::FinalBake)
        .filter(|step| step.duration_seconds() < needed)
        .map(|step| format!("{} ({} s)", step.phase.label(), step.duration_seconds()))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if !short.is_empty() {
        warn(
            warnings,
            format!("{path}.Period"),
            "alarm_slower_than_bake",
            format!(
                "needs {} breaching datapoint(s) of {} s = {needed} s, longer than {}: a regression there can only \
                 roll back if it lasts into a later phase",
                rule.datapoints_to_alarm,
                rule.period_seconds,
                short.join(", ")
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::examples;
    use crate::validate::check_json;

    fn warnings(text: &str) -> Vec<(String, String)> {
        let (_, checked) = check_json(text).expect("parses");
        checked
            .report
            .warnings
            .into_iter()
            .map(|problem| (problem.path, problem.code))
            .collect()
    }

    fn has(warnings: &[(String, String)], path: &str, code: &str) -> bool {
        warnings.iter().any(|(p, c)| p == path && c == code)
    }

    #[test]
    fn the_notebook_error_alarm_is_blind_during_the_canary() {
        let found = warnings(examples::NOTEBOOK_CANARY);
        assert!(
            has(&found, "Alarms[0].Threshold", "alarm_blind_in_phase"),
            "{found:?}"
        );
        let (_, checked) = check_json(examples::NOTEBOOK_CANARY).expect("parses");
        let message = &checked
            .report
            .warnings
            .iter()
            .find(|problem| problem.code == "alarm_blind_in_phase")
            .expect("warning")
            .message;
        assert!(
            message.contains("canary bake (green serves 25%, so at most 0.25)")
                && message.contains("only during final bake"),
            "{message}"
        );
        // The latency alarm can fire in any phase.
        assert!(
            !has(&found, "Alarms[1].Threshold", "alarm_blind_in_phase"),
            "{found:?}"
        );
    }

    #[test]
    fn an_average_above_one_never_fires() {
        let mut value: serde_json::Value =
            serde_json::from_str(examples::NOTEBOOK_CANARY).expect("json");
        value["Alarms"][0]["ComparisonOperator"] = serde_json::json!("GreaterThanThreshold");
        let found = warnings(&value.to_string());
        assert!(
            has(&found, "Alarms[0].Threshold", "alarm_never_fires"),
            "{found:?}"
        );
    }

    #[test]
    fn no_alarms_means_no_rollback() {
        let mut value: serde_json::Value =
            serde_json::from_str(examples::NOTEBOOK_CANARY).expect("json");
        value["DeploymentConfig"]
            .as_object_mut()
            .expect("config")
            .remove("AutoRollbackConfiguration");
        let found = warnings(&value.to_string());
        assert!(
            has(
                &found,
                "DeploymentConfig.AutoRollbackConfiguration",
                "no_alarms"
            ),
            "{found:?}"
        );
        assert!(
            has(&found, "Alarms[0].AlarmName", "alarm_not_used"),
            "{found:?}"
        );
    }

    #[test]
    fn a_percent_that_rounds_to_zero_is_flagged() {
        let mut value: serde_json::Value =
            serde_json::from_str(examples::NOTEBOOK_LINEAR).expect("json");
        value["DeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
            ["LinearStepSize"]["Value"] = serde_json::json!(10);
        let found = warnings(&value.to_string());
        assert!(
            has(
                &found,
                "DeploymentConfig.BlueGreenUpdatePolicy.TrafficRoutingConfiguration.LinearStepSize.Value",
                "percent_rounds_to_zero"
            ),
            "{found:?}"
        );
    }

    #[test]
    fn a_new_fleet_alarm_that_treats_missing_data_as_good_is_flagged() {
        let mut value: serde_json::Value =
            serde_json::from_str(examples::NOTEBOOK_CANARY).expect("json");
        value["Alarms"][0]["Dimensions"]
            .as_array_mut()
            .expect("dims")
            .push(serde_json::json!({"Name": "EndpointConfigName", "Value": "incompatible"}));
        let found = warnings(&value.to_string());
        assert!(
            has(&found, "Alarms[0].TreatMissingData", "silent_green_hidden"),
            "{found:?}"
        );
        // Scoped to green, Average >= 1 is reachable in every phase.
        assert!(
            !has(&found, "Alarms[0].Threshold", "alarm_blind_in_phase"),
            "{found:?}"
        );
    }

    #[test]
    fn latency_thresholds_in_milliseconds_are_flagged() {
        let mut value: serde_json::Value =
            serde_json::from_str(examples::NOTEBOOK_CANARY).expect("json");
        value["Alarms"][1]["Threshold"] = serde_json::json!(100);
        assert!(has(
            &warnings(&value.to_string()),
            "Alarms[1].Threshold",
            "latency_units"
        ));
    }

    #[test]
    fn a_bake_shorter_than_the_alarm_window_is_flagged() {
        let mut value: serde_json::Value =
            serde_json::from_str(examples::NOTEBOOK_CANARY).expect("json");
        value["Alarms"][1]["Period"] = serde_json::json!(600);
        let found = warnings(&value.to_string());
        assert!(
            has(&found, "Alarms[1].Period", "alarm_slower_than_bake"),
            "{found:?}"
        );
    }

    #[test]
    fn a_schedule_past_the_timeout_is_flagged() {
        let mut value: serde_json::Value = serde_json::from_str(examples::ROLLING).expect("json");
        value["ProvisioningSeconds"] = serde_json::json!(600);
        let found = warnings(&value.to_string());
        assert!(
            has(
                &found,
                "DeploymentConfig.RollingUpdatePolicy.MaximumExecutionTimeoutInSeconds",
                "schedule_times_out"
            ),
            "{found:?}"
        );
    }
}
