//! Lint: guardrails that are valid but cannot protect, as warnings at their fields.
//!
//! Validation answers "will AWS accept this?"; lint answers "will it catch a bad
//! model?". Each rule reasons from the schedule and the metric's arithmetic, for
//! example that the Average of a 0-or-1 error metric is the error fraction, so an
//! endpoint-wide `Average >= 1` cannot fire while blue still serves.

mod metrics;

use crate::alarm::{trim_float, AlarmRule, Comparison, Metric, Scope};
use crate::assumptions::{instances_for, rollback_steps};
use crate::field::limits::MAX_INSTANCES;
use crate::field::{AlarmField, Field, Policy, Size, SizePart};
use crate::fleets::Fleets;
use crate::instance_types;
use crate::plan::{
    CapacitySize, CapacitySizeType, MetricAlarm, Plan, TrafficRoutingType, TreatMissingData,
};
use crate::problem::Problem;
use crate::rollout::{Rollout, Strategy};
use crate::schedule::{schedule, Phase, Schedule, Step};
use crate::units::mmss;
use metrics::worst_case;

/// A rolling rollback slower than this is worth a warning.
const SLOW_ROLLBACK_SECONDS: u64 = 3_600;

/// All warnings for `plan`; the deeper rules need the validated `rollout`.
pub(crate) fn lint(plan: &Plan, rollout: Option<&Rollout>) -> Vec<Problem> {
    let mut warnings = Vec::new();
    plan_level(plan, &mut warnings);
    if let Some(rollout) = rollout {
        let schedule = schedule(rollout);
        timing(plan, rollout, &schedule, &mut warnings);
        for rule in rollout.alarms() {
            let Some(index) = plan
                .alarms
                .iter()
                .position(|alarm| alarm.alarm_name == rule.name)
            else {
                continue;
            };
            let context = AlarmContext {
                plan,
                definition: &plan.alarms[index],
                index,
                rule,
                rollout,
                schedule: &schedule,
            };
            context.lint(&mut warnings);
        }
        metrics::judge_acts(plan, rollout, &mut warnings);
    }
    warnings
}

fn warn(warnings: &mut Vec<Problem>, field: Field, code: &str, message: impl Into<String>) {
    warnings.push(Problem::at(field, code, message));
}

fn plan_level(plan: &Plan, warnings: &mut Vec<Problem>) {
    let rollback = plan.rollback_alarm_names();
    if rollback.is_empty() {
        warn(
            warnings,
            Field::AutoRollback,
            "no_alarms",
            "no rollback alarms: SageMaker will shift traffic on schedule and never roll back by itself",
        );
    }
    for (index, alarm) in plan.alarms.iter().enumerate() {
        if !alarm.alarm_name.is_empty() && !rollback.contains(&alarm.alarm_name.as_str()) {
            warn(
                warnings,
                Field::Alarm(index, AlarmField::AlarmName),
                "alarm_not_used",
                format!(
                    "`{}` is defined but not listed in AutoRollbackConfiguration.Alarms, so it cannot roll back",
                    alarm.alarm_name
                ),
            );
        }
    }
    instance_type(plan, warnings);
    let Some(config) = &plan.deployment_config else {
        return;
    };
    let fleet = plan
        .instance_count
        .filter(|count| *count >= 1)
        .map(|count| count.min(i64::from(MAX_INSTANCES)) as u32);
    if let Some(routing) = config
        .blue_green_update_policy
        .as_ref()
        .and_then(|policy| policy.traffic_routing_configuration.as_ref())
    {
        unused_routing_fields(routing, warnings);
        for (size, value) in [
            (Size::Canary, &routing.canary_size),
            (Size::LinearStep, &routing.linear_step_size),
        ] {
            if let (Some(value), Some(fleet)) = (value, fleet) {
                percent_rounding(size, value, fleet, warnings);
            }
        }
    }
    if let (Some(policy), Some(fleet)) = (&config.rolling_update_policy, fleet) {
        for (size, value) in [
            (Size::Batch, &policy.maximum_batch_size),
            (Size::RollbackBatch, &policy.rollback_maximum_batch_size),
        ] {
            if let Some(value) = value {
                percent_rounding(size, value, fleet, warnings);
            }
        }
    }
}

/// Inf1 falls back to all at once; a well-formed type SageMaker does not list is
/// probably a typo (validation already refused a malformed one).
fn instance_type(plan: &Plan, warnings: &mut Vec<Problem>) {
    let name = plan.instance_type.as_str();
    if name.starts_with("ml.inf1.") {
        warn(
            warnings,
            Field::InstanceType,
            "guardrails_excluded",
            "Inf1 instances cannot use deployment guardrails: SageMaker falls back to blue/green all at once with no final bake",
        );
    }
    // A malformed type is a validation error already; lint names unlisted ones.
    let well_formed = name.starts_with("ml.") && name.split('.').count() == 3;
    if well_formed && !instance_types::is_listed(name) {
        let family = name.split('.').nth(1).unwrap_or_default();
        let similar: Vec<&str> = instance_types::INSTANCE_TYPES
            .iter()
            .copied()
            .filter(|listed| listed.split('.').nth(1) == Some(family))
            .take(6)
            .collect();
        warn(
            warnings,
            Field::InstanceType,
            "instance_type_unknown",
            format!(
                "`{name}` is not an instance type SageMaker lists for endpoints; UpdateEndpoint will fail if it does not exist{}",
                if similar.is_empty() {
                    String::new()
                } else {
                    format!(" (listed in this family: {})", similar.join(", "))
                }
            ),
        );
    }
}

fn unused_routing_fields(routing: &crate::plan::TrafficRoutingConfig, warnings: &mut Vec<Problem>) {
    let Some(kind) = routing.kind else { return };
    let unused = match kind {
        TrafficRoutingType::Canary => routing.linear_step_size.as_ref().map(|_| Size::LinearStep),
        TrafficRoutingType::Linear => routing.canary_size.as_ref().map(|_| Size::Canary),
        TrafficRoutingType::AllAtOnce => routing
            .canary_size
            .as_ref()
            .map(|_| Size::Canary)
            .or(routing.linear_step_size.as_ref().map(|_| Size::LinearStep)),
    };
    if let Some(size) = unused {
        let name = match size {
            Size::Canary => "CanarySize",
            _ => "LinearStepSize",
        };
        warn(
            warnings,
            Field::Size(size, SizePart::Whole),
            "unused_field",
            format!("{name} is ignored for Type {}", kind.as_str()),
        );
    }
    if kind == TrafficRoutingType::AllAtOnce && routing.wait_interval_in_seconds.unwrap_or(0) > 0 {
        warn(
            warnings,
            Field::Wait(Policy::BlueGreen),
            "unused_field",
            "WaitIntervalInSeconds is required, but ALL_AT_ONCE has one step and nothing to wait between: \
             guardrail assumes it has no effect. The bake after the shift is TerminationWaitInSeconds",
        );
    }
}

fn percent_rounding(size: Size, value: &CapacitySize, fleet: u32, warnings: &mut Vec<Problem>) {
    let (Some(CapacitySizeType::CapacityPercent), Some(percent)) = (value.kind, value.value) else {
        return;
    };
    if !(1..=100).contains(&percent) {
        return;
    }
    let sizing = instances_for(CapacitySizeType::CapacityPercent, percent as u32, fleet);
    if sizing.rounded_to_zero {
        warn(
            warnings,
            Field::Size(size, SizePart::Value),
            "percent_rounds_to_zero",
            format!(
                "{percent}% of {fleet} instances is {:.2}, which rounds to 0; guardrail assumes 1 instance ({:.1}% of the fleet). \
                 SageMaker does not document this rounding; use INSTANCE_COUNT to be exact",
                percent as f64 * f64::from(fleet) / 100.0,
                100.0 / f64::from(fleet)
            ),
        );
        return;
    }
    if (u64::from(percent as u32) * u64::from(fleet)) % 100 == 0 {
        return;
    }
    let share = f64::from(sizing.instances) * 100.0 / f64::from(fleet);
    let fix = match crate::assumptions::exact_fleet_for(percent as u32, fleet) {
        Some(count) => format!(
            "for steps of exactly {percent}%, use {count} instances (InstanceCount {count}), or INSTANCE_COUNT"
        ),
        None => "use INSTANCE_COUNT to be exact".to_string(),
    };
    warn(
        warnings,
        Field::Size(size, SizePart::Value),
        "percent_rounds",
        format!(
            "{percent}% of {fleet} instances is {:.2}, which guardrail rounds to {} (SageMaker does not document its \
             rounding): each step is {share:.2}% of the fleet, {} step(s) in all, not the {percent}% asked for; {fix}",
            f64::from(percent as u32) * f64::from(fleet) / 100.0,
            sizing.instances,
            fleet.div_ceil(sizing.instances)
        ),
    );
}

fn timing(plan: &Plan, rollout: &Rollout, schedule: &Schedule, warnings: &mut Vec<Problem>) {
    let policy = match rollout.strategy() {
        Strategy::Rolling { .. } => Policy::Rolling,
        _ => Policy::BlueGreen,
    };
    if schedule.times_out() {
        let phase = schedule
            .step_at(schedule.timeout_seconds)
            .map(|step| step.phase.label())
            .unwrap_or_default();
        warn(
            warnings,
            Field::Timeout(policy),
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
    if blue_green && rollout.termination_wait_seconds() == 0 && !rollout.alarms().is_empty() {
        warn(
            warnings,
            Field::TerminationWait,
            "no_final_bake",
            match rollout.strategy() {
                Strategy::AllAtOnce => {
                    "no final bake: with all-at-once shifting, alarms are never watched and blue is terminated at once"
                }
                _ => "no final bake: once green has all traffic, blue is terminated at once and alarms stop being watched",
            },
        );
    }
    slow_rollback(rollout, schedule, warnings);
}

/// A rolling rollback that has to bring many blue instances back in small
/// batches keeps green serving for a long time.
fn slow_rollback(rollout: &Rollout, schedule: &Schedule, warnings: &mut Vec<Problem>) {
    let Strategy::Rolling {
        rollback_batch_instances,
        ..
    } = *rollout.strategy()
    else {
        return;
    };
    let fleet = rollout.instance_count();
    // The worst moment: the last batch bakes, with the most blue already removed.
    let Some(worst) = schedule
        .steps
        .iter()
        .filter(|step| step.phase.is_bake())
        .min_by_key(|step| step.blue_instances)
    else {
        return;
    };
    let steps = rollback_steps(
        fleet,
        Fleets::new(worst.green_instances, worst.blue_instances),
        rollback_batch_instances,
    );
    let launches = steps.iter().filter(|step| step.launch_blue > 0).count() as u64;
    let seconds = launches * u64::from(rollout.provisioning_seconds());
    // One launch is just a provisioning time; batches are what make it slow.
    if launches > 1 && seconds > SLOW_ROLLBACK_SECONDS {
        warn(
            warnings,
            Field::Size(Size::RollbackBatch, SizePart::Value),
            "rollback_slow",
            format!(
                "a rollback during {} brings {} blue instance(s) back in {launches} batch(es) of {} s: {} during which \
                 green keeps serving. Without RollbackMaximumBatchSize SageMaker brings the whole fleet back at once",
                worst.phase.label(),
                fleet - worst.blue_instances,
                rollout.provisioning_seconds(),
                mmss(seconds)
            ),
        );
    }
}

/// One rollback alarm and everything lint weighs it against.
struct AlarmContext<'a> {
    plan: &'a Plan,
    definition: &'a MetricAlarm,
    index: usize,
    rule: &'a AlarmRule,
    rollout: &'a Rollout,
    schedule: &'a Schedule,
}

impl AlarmContext<'_> {
    fn field(&self, part: AlarmField) -> Field {
        Field::Alarm(self.index, part)
    }

    fn lint(&self, warnings: &mut Vec<Problem>) {
        let (plan, index, rule) = (self.plan, self.index, self.rule);
        metrics::team_metrics(plan, index, rule, warnings);
        metrics::short_periods(plan, index, rule, warnings);
        metrics::blind_metrics(plan, index, rule, warnings);
        if !self.sees_this_rollout(warnings) {
            return;
        }
        if let Some(metric) = rule.metric() {
            self.statistic_documented(metric, warnings);
            self.latency_units(metric, warnings);
        }
        self.new_fleet_breaching(warnings);
        let watched: Vec<&Step> = self
            .schedule
            .steps
            .iter()
            .filter(|step| step.phase.is_bake() && step.green_traffic_bp > 0)
            .collect();
        if watched.is_empty() {
            return;
        }
        metrics::zero_denominators(plan, index, rule, &watched, warnings);
        self.reachability(&watched, warnings);
        self.slower_than_bake(&watched, warnings);
    }

    /// Whether the alarm's dimensions select a metric of this rollout at all.
    fn sees_this_rollout(&self, warnings: &mut Vec<Problem>) -> bool {
        let plan = self.plan;
        let rule = self.rule;
        if rule.is_math() {
            // Each of its metrics is judged on its own (metrics::blind_metrics).
            return rule
                .queries()
                .iter()
                .any(|query| query.scope.sees_rollout() || query.scope == Scope::Team);
        }
        match rule.scope() {
            Scope::Endpoint | Scope::NewFleet | Scope::Team => true,
            Scope::Unrelated => {
                warn(
                    warnings,
                    self.field(AlarmField::Dimensions),
                    "alarm_unrelated",
                    format!(
                        "`{}` does not watch this rollout: it needs Namespace AWS/SageMaker, a SageMaker endpoint metric, and \
                         dimensions EndpointName={} and VariantName={} (plus EndpointConfigName={} for the new fleet only)",
                        rule.name, plan.endpoint_name, plan.variant_name, plan.endpoint_config_name
                    ),
                );
                false
            }
            Scope::NoMetric => {
                let names: Vec<&str> = self
                    .definition
                    .dimensions
                    .iter()
                    .map(|dimension| dimension.name.as_str())
                    .collect();
                let effect = match rule.treat_missing_data {
                    TreatMissingData::Breaching => {
                        "with TreatMissingData breaching it goes to ALARM as soon as it is evaluated and rolls back every update"
                    }
                    TreatMissingData::NotBreaching => {
                        "with TreatMissingData notBreaching it stays OK whatever green does"
                    }
                    TreatMissingData::Ignore => "with TreatMissingData ignore it keeps its first state",
                    TreatMissingData::Missing => {
                        "with TreatMissingData missing it stays in INSUFFICIENT_DATA, which never rolls back"
                    }
                };
                warn(
                    warnings,
                    self.field(AlarmField::Dimensions),
                    "alarm_matches_no_metric",
                    format!(
                        "`{}` can never fire on a regression: CloudWatch matches dimensions exactly, and SageMaker publishes \
                         {} only under {{EndpointName, VariantName}} (both fleets) and {{EndpointName, VariantName, \
                         EndpointConfigName}} (one config's fleet). {{{}}} matches neither, so the alarm sees no data; \
                         {effect}. Use EndpointName={} and VariantName={} (plus EndpointConfigName={} for the new fleet only)",
                        rule.name,
                        rule.metric_name(),
                        names.join(", "),
                        plan.endpoint_name,
                        plan.variant_name,
                        plan.endpoint_config_name
                    ),
                );
                false
            }
        }
    }

    fn statistic_documented(&self, metric: Metric, warnings: &mut Vec<Problem>) {
        let Some(stat) = self.rule.query().map(|query| query.stat) else {
            return;
        };
        if metric.documents(stat) {
            return;
        }
        let part = if self.definition.extended_statistic.is_some() {
            AlarmField::ExtendedStatistic
        } else {
            AlarmField::Statistic
        };
        warn(
            warnings,
            self.field(part),
            "statistic_undocumented",
            format!(
                "SageMaker documents {} for {}; {} may not be published",
                metric.documented_statistics(),
                metric.as_str(),
                stat.label()
            ),
        );
    }

    fn latency_units(&self, metric: Metric, warnings: &mut Vec<Problem>) {
        let rule = self.rule;
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
                self.field(AlarmField::Threshold),
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
    }

    /// A new-fleet alarm that treats missing data as breaching: green
    /// publishes nothing until traffic reaches it, so the periods before it
    /// serves breach. The one recommendation for new-fleet alarms is
    /// `notBreaching` (AWS's own new-fleet examples use it): green's missing
    /// data then counts as healthy, and its errors, once it serves, still
    /// fire the alarm.
    fn new_fleet_breaching(&self, warnings: &mut Vec<Problem>) {
        if self.rule.scope() != Scope::NewFleet
            || self.rule.treat_missing_data != TreatMissingData::Breaching
        {
            return;
        }
        warn(
            warnings,
            self.field(AlarmField::TreatMissingData),
            "new_fleet_breaching",
            "this alarm watches only the new fleet, which publishes no datapoints until traffic reaches it: with \
             TreatMissingData breaching, the periods before green serves count as breaching, so the alarm goes to \
             ALARM with no regression at all and rolls the update back. Use notBreaching (as AWS's own new-fleet \
             alarm examples do): green's errors still fire it once green serves"
                .to_string(),
        );
    }

    /// Whether another rollback alarm on the same metric watches the new
    /// fleet alone and can fire when green fails: then this alarm being blind
    /// while green's share is small is covered, and the warning (which asks
    /// for exactly that alarm) clears.
    fn new_fleet_covers(&self) -> bool {
        let requests_per_second = self.plan.scenario_or_default().requests_per_second;
        let reads = |rule: &AlarmRule| -> Vec<Metric> {
            rule.queries()
                .iter()
                .filter_map(|query| query.metric)
                .collect()
        };
        let mine = reads(self.rule);
        self.rollout.alarms().iter().any(|other| {
            other.name != self.rule.name
                && reads(other).iter().any(|metric| mine.contains(metric))
                && other.scope() == Scope::NewFleet
                && matches!(
                    other.comparison,
                    Comparison::Greater | Comparison::GreaterOrEqual
                )
                && worst_case(
                    other,
                    1.0,
                    requests_per_second * f64::from(other.period_seconds),
                )
                .is_none_or(|worst| other.comparison.breaches(worst, other.threshold))
        })
    }

    /// Whether the canary judge compares this alarm's metric and a rollback
    /// alarm acts on its score: the phases in which green's share is too
    /// small for this alarm are those in which both fleets serve, which the
    /// judge watches.
    fn judge_covers(&self) -> bool {
        let Some(spec) = self.rollout.judge() else {
            return false;
        };
        let judged = self
            .rule
            .queries()
            .iter()
            .filter_map(|query| query.metric)
            .any(|metric| {
                spec.criteria
                    .iter()
                    .any(|criterion| criterion.signal.name() == metric.as_str())
            });
        judged && self.rollout.judge_score_read()
    }

    /// In which watched phases a failing green could push the statistic past
    /// the threshold at all.
    fn reachability(&self, watched: &[&Step], warnings: &mut Vec<Problem>) {
        let rule = self.rule;
        if !matches!(
            rule.comparison,
            Comparison::Greater | Comparison::GreaterOrEqual
        ) {
            return;
        }
        let requests_per_period =
            self.plan.scenario_or_default().requests_per_second * f64::from(rule.period_seconds);
        let worst = |step: &Step| {
            worst_case(
                rule,
                step.green_traffic_percent() / 100.0,
                requests_per_period,
            )
        };
        let reachable: Vec<bool> = watched
            .iter()
            .map(|step| {
                worst(step).is_none_or(|worst| rule.comparison.breaches(worst, rule.threshold))
            })
            .collect();
        let blocked: Vec<String> = watched
            .iter()
            .zip(&reachable)
            .filter(|(_, reachable)| !**reachable)
            .map(|(step, _)| {
                format!(
                    "{} (green serves {}%, so at most {})",
                    step.phase.label(),
                    trim_float(step.green_traffic_percent()),
                    trim_float((worst(step).unwrap_or_default() * 10_000.0).round() / 10_000.0)
                )
            })
            .collect();
        let threshold = self.field(AlarmField::Threshold);
        if reachable.iter().all(|reachable| !reachable) {
            let why = match rule.metric() {
                Some(metric) => format!(
                    "{} is 1 per failed request and 0 otherwise, so its Average is the error fraction",
                    metric.as_str()
                ),
                None if metrics::reads_errors(rule) => {
                    "blue's requests do not fail, so the fleets' errors are at most green's share of the requests".into()
                }
                None => "green's share of the requests bounds what its failures can do".into(),
            };
            warn(
                warnings,
                threshold,
                "alarm_never_fires",
                format!(
                    "{} can never be reached, even if every green request fails: {}. {why}",
                    rule.condition(),
                    blocked.join("; "),
                ),
            );
        } else if !blocked.is_empty() && !self.new_fleet_covers() && !self.judge_covers() {
            let can = watched
                .iter()
                .zip(&reachable)
                .filter(|(_, reachable)| **reachable)
                .map(|(step, _)| step.phase.label())
                .collect::<Vec<_>>()
                .join(", ");
            warn(
                warnings,
                threshold,
                "alarm_blind_in_phase",
                format!(
                    "{} cannot fire during {}, even if every green request fails; it can fire only during {can}. \
                     Add an alarm with EndpointConfigName={} to watch the new fleet alone",
                    rule.condition(),
                    blocked.join("; "),
                    self.rollout.endpoint_config_name()
                ),
            );
        }
    }

    /// A bake shorter than the datapoints the alarm needs cannot trip on its own.
    fn slower_than_bake(&self, watched: &[&Step], warnings: &mut Vec<Problem>) {
        let rule = self.rule;
        let needed = rule.datapoints_to_alarm.saturating_mul(rule.period_seconds);
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
                self.field(AlarmField::Period),
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
}

#[cfg(test)]
mod tests {
    use crate::check_json;
    use crate::examples;

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
    fn a_percent_that_does_not_divide_the_fleet_is_a_warning_with_the_count_that_does() {
        let mut value: serde_json::Value =
            serde_json::from_str(examples::NOTEBOOK_LINEAR).expect("json");
        let routing =
            &mut value["DeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"];
        routing["LinearStepSize"] = serde_json::json!({"Type": "CAPACITY_PERCENT", "Value": 25});
        value["InstanceCount"] = serde_json::json!(3);
        let text = value.to_string();
        let plan = crate::Plan::from_json(&text).expect("plan");
        let checked = crate::check(&plan);
        let warning = checked
            .report
            .warnings
            .iter()
            .find(|warning| warning.code == "percent_rounds")
            .expect("a warning");
        assert!(
            warning
                .message
                .contains("each step is 33.33% of the fleet, 3 step(s) in all")
                && warning
                    .message
                    .contains("use 4 instances (InstanceCount 4)"),
            "{}",
            warning.message
        );
        assert_eq!(crate::assumptions::exact_fleet_for(25, 3), Some(4));
        assert_eq!(crate::assumptions::exact_fleet_for(25, 6), Some(8));
        assert_eq!(crate::assumptions::exact_fleet_for(10, 3), Some(10));
        assert_eq!(crate::assumptions::exact_fleet_for(50, 5), Some(6));
        value["InstanceCount"] = serde_json::json!(4);
        assert!(!warnings(&value.to_string())
            .iter()
            .any(|(_, code)| code == "percent_rounds"));
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
    fn a_new_fleet_alarm_treating_missing_data_as_breaching_is_flagged_and_does_roll_back() {
        let mut value: serde_json::Value =
            serde_json::from_str(examples::NOTEBOOK_CANARY).expect("json");
        value["Alarms"][0]["Dimensions"]
            .as_array_mut()
            .expect("dims")
            .push(serde_json::json!({"Name": "EndpointConfigName", "Value": "incompatible"}));
        // notBreaching, the recommendation: nothing to say about missing data.
        let found = warnings(&value.to_string());
        assert!(
            !found.iter().any(|(_, code)| code == "new_fleet_breaching"),
            "{found:?}"
        );
        // Scoped to green, Average >= 1 is reachable in every phase.
        assert!(
            !has(&found, "Alarms[0].Threshold", "alarm_blind_in_phase"),
            "{found:?}"
        );
        value["Alarms"][0]["TreatMissingData"] = serde_json::json!("breaching");
        let text = value.to_string();
        assert!(
            has(
                &warnings(&text),
                "Alarms[0].TreatMissingData",
                "new_fleet_breaching"
            ),
            "{:?}",
            warnings(&text)
        );
        // The what-if agrees: with green as healthy as blue it rolls back.
        let plan = crate::Plan::from_json(&text).expect("plan");
        let rollout = crate::check(&plan).rollout.expect("valid");
        let why =
            crate::verdict::false_alarm(&rollout, &plan.scenario_or_default()).expect("simulates");
        assert!(why.is_some_and(|why| why.contains("with no regression at all")));
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

    #[test]
    fn an_alarm_on_the_endpoint_name_alone_can_never_fire() {
        let mut value: serde_json::Value =
            serde_json::from_str(examples::NOTEBOOK_CANARY).expect("json");
        value["Alarms"][0]["Dimensions"]
            .as_array_mut()
            .expect("dims")
            .retain(|dimension| dimension["Name"] == "EndpointName");
        let (_, checked) = check_json(&value.to_string()).expect("parses");
        let warning = checked
            .report
            .warnings
            .iter()
            .find(|problem| problem.code == "alarm_matches_no_metric")
            .expect("a warning");
        assert_eq!(warning.path, "Alarms[0].Dimensions");
        assert!(
            warning.message.contains("can never fire")
                && warning.message.contains("{EndpointName} matches neither")
                && warning.message.contains("stays OK"),
            "{}",
            warning.message
        );
        // It is not also reported as blind: it sees nothing at all.
        let found = warnings(&value.to_string());
        assert!(
            !has(&found, "Alarms[0].Threshold", "alarm_blind_in_phase"),
            "{found:?}"
        );
    }

    #[test]
    fn an_unlisted_instance_type_is_flagged_with_its_family() {
        let mut value: serde_json::Value =
            serde_json::from_str(examples::NOTEBOOK_CANARY).expect("json");
        value["InstanceType"] = serde_json::json!("ml.m5.xlarg");
        let (_, checked) = check_json(&value.to_string()).expect("parses");
        let warning = checked
            .report
            .warnings
            .iter()
            .find(|problem| problem.code == "instance_type_unknown")
            .expect("a warning");
        assert!(
            warning.message.contains("ml.m5.xlarge"),
            "{}",
            warning.message
        );
        assert!(checked.report.errors.is_empty());
        assert!(!has(
            &warnings(examples::NOTEBOOK_CANARY),
            "InstanceType",
            "instance_type_unknown"
        ));
    }

    #[test]
    fn a_wait_with_all_at_once_is_flagged_as_unused() {
        let mut value: serde_json::Value =
            serde_json::from_str(examples::ALL_AT_ONCE).expect("json");
        assert!(!has(
            &warnings(&value.to_string()),
            "DeploymentConfig.BlueGreenUpdatePolicy.TrafficRoutingConfiguration.WaitIntervalInSeconds",
            "unused_field"
        ));
        value["DeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
            ["WaitIntervalInSeconds"] = serde_json::json!(300);
        assert!(has(
            &warnings(&value.to_string()),
            "DeploymentConfig.BlueGreenUpdatePolicy.TrafficRoutingConfiguration.WaitIntervalInSeconds",
            "unused_field"
        ));
    }

    #[test]
    fn a_rollback_in_small_batches_is_flagged_as_slow() {
        let mut value: serde_json::Value = serde_json::from_str(examples::ROLLING).expect("json");
        value["InstanceCount"] = serde_json::json!(30);
        value["DeploymentConfig"]["RollingUpdatePolicy"]["MaximumBatchSize"] =
            serde_json::json!({"Type": "CAPACITY_PERCENT", "Value": 50});
        assert!(!has(
            &warnings(&value.to_string()),
            "DeploymentConfig.RollingUpdatePolicy.RollbackMaximumBatchSize.Value",
            "rollback_slow"
        ));
        value["DeploymentConfig"]["RollingUpdatePolicy"]["RollbackMaximumBatchSize"] =
            serde_json::json!({"Type": "INSTANCE_COUNT", "Value": 1});
        // The last batch bakes beside 15 blue: 15 come back one at a time, 300 s each.
        let (_, checked) = check_json(&value.to_string()).expect("parses");
        let warning = checked
            .report
            .warnings
            .iter()
            .find(|problem| problem.code == "rollback_slow")
            .expect("a warning");
        assert!(
            warning.message.contains("15 batch(es) of 300 s: 1:15:00"),
            "{}",
            warning.message
        );
    }

    /// The team example edited at JSON pointers: its warnings' (path, code).
    fn team_warnings(edits: &[(&str, serde_json::Value)]) -> Vec<(String, String)> {
        let mut value: serde_json::Value =
            serde_json::from_str(examples::TEAM_GUARDRAILS).expect("example");
        for (pointer, new) in edits {
            *value.pointer_mut(pointer).expect("pointer") = new.clone();
        }
        warnings(&value.to_string())
    }

    #[test]
    fn team_metrics_say_who_publishes_them_and_what_the_what_if_assumes() {
        let found = team_warnings(&[]);
        for path in [
            "Alarms[3].Metrics[0].MetricStat.Metric.MetricName",
            "Alarms[3].Metrics[1].MetricStat.Metric.MetricName",
            "Alarms[4].MetricName",
        ] {
            assert!(
                has(&found, path, "team_metric_publisher"),
                "{path}: {found:?}"
            );
        }
        // The new-fleet rate covers the endpoint-wide 5XX alarm's blind canary.
        assert!(
            !has(&found, "Alarms[0].Threshold", "alarm_blind_in_phase"),
            "{found:?}"
        );
        let (_, checked) = check_json(examples::TEAM_GUARDRAILS).expect("parses");
        let said = checked
            .report
            .warnings
            .iter()
            .find(|problem| problem.path == "Alarms[4].MetricName")
            .map(|problem| problem.message.clone())
            .unwrap_or_default();
        assert!(
            said.contains("about 3.1 (noise 0.2), moving towards 0"),
            "{said}"
        );
        // A team metric the scenario does not model: the what-if sees no data.
        let unmodelled = team_warnings(&[("/Alarms/4/MetricName", serde_json::json!("Basket"))]);
        assert!(has(
            &unmodelled,
            "Alarms[4].MetricName",
            "team_metric_publisher"
        ));
    }

    #[test]
    fn an_endpoint_wide_rate_cannot_see_a_small_canary() {
        use serde_json::json;
        let endpoint = json!([
            {"Name": "EndpointName", "Value": "guardrail-demo"},
            {"Name": "VariantName", "Value": "AllTraffic"}
        ]);
        let found = team_warnings(&[
            (
                "/Alarms/2/Metrics/0/MetricStat/Metric/Dimensions",
                endpoint.clone(),
            ),
            ("/Alarms/2/Metrics/1/MetricStat/Metric/Dimensions", endpoint),
            ("/Alarms/2/Threshold", json!(30)),
        ]);
        // Every green request failing is 25 % of the endpoint's during the canary.
        assert!(
            has(&found, "Alarms[2].Threshold", "alarm_blind_in_phase"),
            "{found:?}"
        );
        let (_, checked) = check_json(&{
            let mut value: serde_json::Value =
                serde_json::from_str(examples::TEAM_GUARDRAILS).expect("example");
            value["Alarms"][2]["Threshold"] = json!(30);
            value.to_string()
        })
        .expect("parses");
        // On the new fleet alone, 100 % is within reach.
        assert!(!checked
            .report
            .warnings
            .iter()
            .any(|problem| problem.path == "Alarms[2].Threshold"));
    }

    #[test]
    fn a_denominator_often_zero_and_a_period_below_resolution_are_flagged() {
        use serde_json::json;
        let found = team_warnings(&[("/Scenario/RequestsPerSecond", json!(0.1))]);
        // The client counts about 1 request a 10 s period: 0 in 37 % of them.
        assert!(
            has(
                &found,
                "Alarms[3].Metrics[1].MetricStat.Stat",
                "denominator_often_zero"
            ),
            "{found:?}"
        );
        // The canary's own minute holds about 1.5 requests: 0 in 22 % of minutes.
        assert!(has(
            &found,
            "Alarms[2].Metrics[1].MetricStat.Stat",
            "denominator_often_zero"
        ));
        assert!(!has(
            &team_warnings(&[]),
            "Alarms[2].Metrics[1].MetricStat.Stat",
            "denominator_often_zero"
        ));
        let found = team_warnings(&[
            ("/Alarms/2/Metrics/0/MetricStat/Period", json!(10)),
            ("/Alarms/2/Metrics/1/MetricStat/Period", json!(10)),
        ]);
        assert!(
            has(
                &found,
                "Alarms[2].Metrics[0].MetricStat.Period",
                "period_below_resolution"
            ),
            "{found:?}"
        );
        // The client's metrics are high resolution: 10 s is what they hold.
        assert!(!has(
            &found,
            "Alarms[3].Metrics[0].MetricStat.Period",
            "period_below_resolution"
        ));
        let found = team_warnings(&[(
            "/Alarms/2/Metrics/0/MetricStat/Metric/Dimensions",
            json!([{"Name": "EndpointName", "Value": "guardrail-demo"}]),
        )]);
        assert!(
            has(
                &found,
                "Alarms[2].Metrics[0].MetricStat.Metric.Dimensions",
                "alarm_matches_no_metric"
            ),
            "{found:?}"
        );
    }
}
