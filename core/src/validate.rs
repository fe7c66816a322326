//! Validation: every documented SageMaker and CloudWatch rule, all problems at once.
//!
//! [`check`] walks the whole plan, records each problem with its path, and builds a
//! [`Rollout`] only when there are no errors. Lint ([`crate::lint`]) then adds
//! warnings about guardrails that cannot protect. Ranges come from
//! `shared/reference/sagemaker-semantics.md`; messages name the allowed range.

use crate::alarm::{AlarmRule, Comparison, Metric, Scope, Stat};
use crate::assumptions::instances_for;
use crate::lint;
use crate::plan::{
    CapacitySize, CapacitySizeType, ComparisonOperator, LowSampleCountPercentile, MetricAlarm,
    Plan, Scenario, TrafficRoutingType, TreatMissingData, DEFAULT_PROVISIONING_SECONDS,
    DEFAULT_TERMINATION_SECONDS,
};
use crate::problem::{Problem, Report};
use crate::rollout::{Rollout, Strategy};

/// The result of checking a plan: the report, and the rollout when it is valid.
#[derive(Clone, Debug, PartialEq)]
pub struct Checked {
    pub report: Report,
    pub rollout: Option<Rollout>,
}

/// Validates `plan`, lints it when it is valid, and resolves it into a [`Rollout`].
pub fn check(plan: &Plan) -> Checked {
    check_with(plan, Vec::new())
}

/// As [`check`], adding problems found while parsing (unknown fields) as errors.
pub fn check_with(plan: &Plan, parse_problems: Vec<Problem>) -> Checked {
    let mut checker = Checker {
        errors: parse_problems,
    };
    let rollout = checker.plan(plan);
    let mut report = Report {
        errors: checker.errors,
        warnings: Vec::new(),
    };
    let rollout = if report.errors.is_empty() {
        rollout
    } else {
        None
    };
    report.warnings = lint::lint(plan, rollout.as_ref());
    Checked { report, rollout }
}

/// Parses JSON text and checks it: the one call the CLI, the UI and the server use.
pub fn check_json(text: &str) -> Result<(Plan, Checked), crate::problem::ParseError> {
    let (plan, unknown) = Plan::from_json_with_unknown(text)?;
    let checked = check_with(&plan, unknown);
    Ok((plan, checked))
}

pub const MAX_INSTANCES: i64 = 1_000;
const WAIT_MAX: i64 = 3_600;
const TIMEOUT_MIN: i64 = 600;
const TIMEOUT_MAX: i64 = 28_800;
const MAX_ROLLBACK_ALARMS: usize = 10;
const NAME_MAX: usize = 63;

const DC: &str = "DeploymentConfig";
const BG: &str = "DeploymentConfig.BlueGreenUpdatePolicy";
const TRC: &str = "DeploymentConfig.BlueGreenUpdatePolicy.TrafficRoutingConfiguration";
const ROLLING: &str = "DeploymentConfig.RollingUpdatePolicy";
const ROLLBACK: &str = "DeploymentConfig.AutoRollbackConfiguration.Alarms";

struct Checker {
    errors: Vec<Problem>,
}

impl Checker {
    fn error(&mut self, path: impl Into<String>, code: &str, message: impl Into<String>) {
        self.errors.push(Problem::new(path, code, message));
    }

    /// An integer field within `min..=max`. Reports a missing required field and an
    /// out-of-range value; returns the value only when it is usable.
    fn integer(
        &mut self,
        path: &str,
        value: Option<i64>,
        min: i64,
        max: i64,
        required: bool,
    ) -> Option<u32> {
        match value {
            None => {
                if required {
                    self.error(
                        path,
                        "required",
                        format!("is required; allowed range {min} to {max}"),
                    );
                }
                None
            }
            Some(value) if value < min || value > max => {
                self.error(
                    path,
                    "out_of_range",
                    format!("{value} is out of range; allowed range {min} to {max}"),
                );
                None
            }
            Some(value) => Some(value as u32),
        }
    }

    /// SageMaker's resource-name rule: `[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}`, at most 63
    /// characters.
    fn resource_name(&mut self, path: &str, value: &str) {
        if value.is_empty() {
            self.error(
                path,
                "required",
                "is required; 1 to 63 letters, digits and hyphens",
            );
            return;
        }
        if value.len() > NAME_MAX {
            self.error(
                path,
                "too_long",
                format!(
                    "is {} characters long; at most {NAME_MAX} allowed",
                    value.len()
                ),
            );
        }
        let bytes = value.as_bytes();
        let valid = bytes
            .iter()
            .all(|byte| byte.is_ascii_alphanumeric() || *byte == b'-')
            && bytes[0].is_ascii_alphanumeric()
            && bytes[bytes.len() - 1].is_ascii_alphanumeric();
        if !valid {
            self.error(
                path,
                "pattern",
                format!(
                    "`{value}` does not match [a-zA-Z0-9](-*[a-zA-Z0-9]){{0,62}}: use letters, digits and \
                     hyphens, starting and ending with a letter or digit"
                ),
            );
        }
    }

    fn plan(&mut self, plan: &Plan) -> Option<Rollout> {
        self.resource_name("EndpointName", &plan.endpoint_name);
        self.resource_name("EndpointConfigName", &plan.endpoint_config_name);
        self.resource_name("VariantName", &plan.variant_name);
        let instance_count =
            self.integer("InstanceCount", plan.instance_count, 1, MAX_INSTANCES, true);
        self.instance_type(&plan.instance_type);
        let provisioning = self
            .integer(
                "ProvisioningSeconds",
                plan.provisioning_seconds,
                0,
                7_200,
                false,
            )
            .unwrap_or(DEFAULT_PROVISIONING_SECONDS);
        let termination = self
            .integer(
                "TerminationSeconds",
                plan.termination_seconds,
                0,
                3_600,
                false,
            )
            .unwrap_or(DEFAULT_TERMINATION_SECONDS);

        let policy = self.policy(plan, instance_count);
        let alarms = self.alarms(plan);
        if let Some(scenario) = &plan.scenario {
            self.scenario(scenario);
        }

        let (strategy, termination_wait_seconds, timeout_seconds) = policy?;
        Some(Rollout {
            endpoint_name: plan.endpoint_name.clone(),
            endpoint_config_name: plan.endpoint_config_name.clone(),
            variant_name: plan.variant_name.clone(),
            instance_count: instance_count?,
            strategy,
            termination_wait_seconds,
            timeout_seconds,
            provisioning_seconds: provisioning,
            termination_seconds: termination,
            alarms: alarms?,
        })
    }

    fn instance_type(&mut self, value: &str) {
        if value.is_empty() {
            self.error(
                "InstanceType",
                "required",
                "is required, for example ml.m5.xlarge",
            );
            return;
        }
        let mut parts = value.split('.');
        let valid = parts.next() == Some("ml")
            && parts.clone().count() >= 2
            && parts.all(|part| {
                !part.is_empty()
                    && part.bytes().all(|byte| {
                        byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-'
                    })
            });
        if !valid {
            self.error(
                "InstanceType",
                "pattern",
                format!("`{value}` is not a SageMaker instance type such as ml.m5.xlarge"),
            );
        }
    }

    /// Checks the update policy and returns (strategy, final bake, timeout).
    fn policy(&mut self, plan: &Plan, fleet: Option<u32>) -> Option<(Strategy, u32, u32)> {
        let Some(config) = &plan.deployment_config else {
            // No DeploymentConfig: SageMaker uses blue/green, all at once.
            return Some((Strategy::AllAtOnce, 0, TIMEOUT_MAX as u32));
        };
        match (
            &config.blue_green_update_policy,
            &config.rolling_update_policy,
        ) {
            (Some(_), Some(_)) => {
                self.error(
                    DC,
                    "policy_conflict",
                    "use only one update policy: BlueGreenUpdatePolicy or RollingUpdatePolicy, not both",
                );
                // Still check both, so that every problem shows at once.
                self.blue_green(plan, fleet);
                self.rolling(plan, fleet);
                None
            }
            (None, Some(_)) => self.rolling(plan, fleet),
            (Some(_), None) => self.blue_green(plan, fleet),
            (None, None) => Some((Strategy::AllAtOnce, 0, TIMEOUT_MAX as u32)),
        }
    }

    fn blue_green(&mut self, plan: &Plan, fleet: Option<u32>) -> Option<(Strategy, u32, u32)> {
        let policy = plan
            .deployment_config
            .as_ref()?
            .blue_green_update_policy
            .as_ref()?;
        let termination_wait = self
            .integer(
                &format!("{BG}.TerminationWaitInSeconds"),
                policy.termination_wait_in_seconds,
                0,
                WAIT_MAX,
                false,
            )
            .unwrap_or(0);
        let timeout = self.integer(
            &format!("{BG}.MaximumExecutionTimeoutInSeconds"),
            policy.maximum_execution_timeout_in_seconds,
            TIMEOUT_MIN,
            TIMEOUT_MAX,
            false,
        );

        let Some(routing) = &policy.traffic_routing_configuration else {
            self.error(
                TRC,
                "required",
                "is required: give Type ALL_AT_ONCE, CANARY or LINEAR",
            );
            return None;
        };
        let Some(kind) = routing.kind else {
            self.error(
                format!("{TRC}.Type"),
                "required",
                "is required: ALL_AT_ONCE, CANARY or LINEAR",
            );
            return None;
        };
        let wait = self.integer(
            &format!("{TRC}.WaitIntervalInSeconds"),
            routing.wait_interval_in_seconds,
            0,
            WAIT_MAX,
            kind != TrafficRoutingType::AllAtOnce,
        );

        let strategy = match kind {
            TrafficRoutingType::AllAtOnce => Some(Strategy::AllAtOnce),
            TrafficRoutingType::Canary => {
                let size = self.capacity(
                    &format!("{TRC}.CanarySize"),
                    routing.canary_size.as_ref(),
                    fleet,
                    (None, 50),
                    "canary_too_large",
                    "the canary",
                );
                Some(Strategy::Canary {
                    canary_instances: size?,
                    wait_seconds: wait?,
                })
            }
            TrafficRoutingType::Linear => {
                let size = self.capacity(
                    &format!("{TRC}.LinearStepSize"),
                    routing.linear_step_size.as_ref(),
                    fleet,
                    (Some(10), 50),
                    "linear_step_out_of_range",
                    "a linear step",
                );
                Some(Strategy::Linear {
                    step_instances: size?,
                    wait_seconds: wait?,
                })
            }
        };

        let wait_total = i64::from(wait.unwrap_or(0)) + i64::from(termination_wait);
        if let Some(timeout) = timeout {
            if i64::from(timeout) <= wait_total {
                self.error(
                    format!("{BG}.MaximumExecutionTimeoutInSeconds"),
                    "timeout_too_short",
                    format!(
                        "{timeout} s must be larger than TerminationWaitInSeconds + WaitIntervalInSeconds = {wait_total} s"
                    ),
                );
                return None;
            }
        }
        Some((
            strategy?,
            termination_wait,
            timeout.unwrap_or(TIMEOUT_MAX as u32),
        ))
    }

    fn rolling(&mut self, plan: &Plan, fleet: Option<u32>) -> Option<(Strategy, u32, u32)> {
        let policy = plan
            .deployment_config
            .as_ref()?
            .rolling_update_policy
            .as_ref()?;
        let batch = self.capacity(
            &format!("{ROLLING}.MaximumBatchSize"),
            policy.maximum_batch_size.as_ref(),
            fleet,
            (Some(5), 50),
            "batch_size_out_of_range",
            "a rolling batch",
        );
        let wait = self.integer(
            &format!("{ROLLING}.WaitIntervalInSeconds"),
            policy.wait_interval_in_seconds,
            0,
            WAIT_MAX,
            true,
        );
        let timeout = self.integer(
            &format!("{ROLLING}.MaximumExecutionTimeoutInSeconds"),
            policy.maximum_execution_timeout_in_seconds,
            TIMEOUT_MIN,
            TIMEOUT_MAX,
            false,
        );
        let rollback_batch = match &policy.rollback_maximum_batch_size {
            None => Some(None),
            Some(size) => self
                .capacity(
                    &format!("{ROLLING}.RollbackMaximumBatchSize"),
                    Some(size),
                    fleet,
                    (None, 100),
                    "rollback_batch_out_of_range",
                    "a rollback batch",
                )
                .map(Some),
        };
        if let (Some(timeout), Some(wait)) = (timeout, wait) {
            if timeout <= wait {
                self.error(
                    format!("{ROLLING}.MaximumExecutionTimeoutInSeconds"),
                    "timeout_too_short",
                    format!("{timeout} s must be larger than WaitIntervalInSeconds = {wait} s"),
                );
                return None;
            }
        }
        Some((
            Strategy::Rolling {
                batch_instances: batch?,
                wait_seconds: wait?,
                rollback_batch_instances: rollback_batch?,
            },
            0,
            timeout.unwrap_or(TIMEOUT_MAX as u32),
        ))
    }

    /// A `CapacitySize` that must lie between `min_percent` (if any) and `max_percent`
    /// of the fleet. Returns the size in whole instances.
    fn capacity(
        &mut self,
        path: &str,
        size: Option<&CapacitySize>,
        fleet: Option<u32>,
        (min_percent, max_percent): (Option<u32>, u32),
        code: &str,
        what: &str,
    ) -> Option<u32> {
        let range_text = match min_percent {
            Some(min) => format!("{min}% to {max_percent}%"),
            None => format!("at most {max_percent}%"),
        };
        let Some(size) = size else {
            self.error(
                path,
                "required",
                format!(
                    "is required: {{Type: INSTANCE_COUNT or CAPACITY_PERCENT, Value}}, {range_text} of the instance count"
                ),
            );
            return None;
        };
        if size.kind.is_none() {
            self.error(
                format!("{path}.Type"),
                "required",
                "is required: INSTANCE_COUNT or CAPACITY_PERCENT",
            );
        }
        let value_path = format!("{path}.Value");
        let value = match size.value {
            None => {
                self.error(&value_path, "required", "is required; at least 1");
                return None;
            }
            Some(value) if value < 1 => {
                self.error(
                    &value_path,
                    "out_of_range",
                    format!("{value} is out of range; at least 1"),
                );
                return None;
            }
            Some(value) => value,
        };
        let kind = size.kind?;
        match kind {
            CapacitySizeType::CapacityPercent => {
                let low = i64::from(min_percent.unwrap_or(1));
                if value < low || value > i64::from(max_percent) {
                    self.error(
                        &value_path,
                        code,
                        format!(
                            "{value}% is out of range: {what} must be {range_text} of the instance count"
                        ),
                    );
                    return None;
                }
                let fleet = fleet?;
                Some(instances_for(kind, value as u32, fleet).instances)
            }
            CapacitySizeType::InstanceCount => {
                let fleet = fleet?;
                let fleet_i = i64::from(fleet);
                // value / fleet within [min, max] percent, in integers.
                let too_big = value * 100 > i64::from(max_percent) * fleet_i;
                let too_small =
                    min_percent.is_some_and(|min| value * 100 < i64::from(min) * fleet_i);
                if too_big || too_small {
                    let percent = value as f64 * 100.0 / fleet as f64;
                    self.error(
                        &value_path,
                        code,
                        format!(
                            "{value} of {fleet} instances is {percent:.1}%: {what} must be {range_text} of the instance count ({})",
                            allowed_instances(min_percent, max_percent, fleet)
                        ),
                    );
                    return None;
                }
                Some(value as u32)
            }
        }
    }

    fn alarms(&mut self, plan: &Plan) -> Option<Vec<AlarmRule>> {
        let mut rules: Vec<Option<AlarmRule>> = Vec::new();
        for (index, alarm) in plan.alarms.iter().enumerate() {
            rules.push(self.alarm(&format!("Alarms[{index}]"), alarm, plan));
            if plan.alarms[..index].iter().any(|earlier| {
                earlier.alarm_name == alarm.alarm_name && !alarm.alarm_name.is_empty()
            }) {
                self.error(
                    format!("Alarms[{index}].AlarmName"),
                    "duplicate_alarm",
                    format!(
                        "`{}` is defined more than once; alarm names are unique per Region",
                        alarm.alarm_name
                    ),
                );
            }
        }

        let rollback = plan
            .deployment_config
            .as_ref()
            .and_then(|config| config.auto_rollback_configuration.as_ref());
        let Some(rollback) = rollback else {
            return Some(Vec::new());
        };
        let count = rollback.alarms.len();
        if count == 0 || count > MAX_ROLLBACK_ALARMS {
            self.error(
                ROLLBACK,
                "alarm_count",
                format!("lists {count} alarms; allowed 1 to {MAX_ROLLBACK_ALARMS}"),
            );
        }
        let mut resolved = Vec::new();
        let mut complete = true;
        for (index, reference) in rollback.alarms.iter().enumerate() {
            let path = format!("{ROLLBACK}[{index}].AlarmName");
            let name = &reference.alarm_name;
            if name.trim().is_empty() {
                self.error(
                    &path,
                    "required",
                    "is required: 1 to 255 characters, not only white space",
                );
                complete = false;
                continue;
            }
            if name.chars().count() > 255 {
                self.error(&path, "too_long", "is longer than 255 characters");
            }
            if rollback.alarms[..index]
                .iter()
                .any(|earlier| &earlier.alarm_name == name)
            {
                self.error(
                    &path,
                    "duplicate_alarm",
                    format!("`{name}` is listed more than once"),
                );
            }
            match plan
                .alarms
                .iter()
                .position(|alarm| &alarm.alarm_name == name)
            {
                None => {
                    self.error(
                        &path,
                        "alarm_undefined",
                        format!(
                            "`{name}` is not defined in Alarms; define it there so guardrail can evaluate it"
                        ),
                    );
                    complete = false;
                }
                Some(position) => match &rules[position] {
                    Some(rule) => resolved.push(rule.clone()),
                    None => complete = false,
                },
            }
        }
        complete.then_some(resolved)
    }

    fn alarm(&mut self, path: &str, alarm: &MetricAlarm, plan: &Plan) -> Option<AlarmRule> {
        let errors_before = self.errors.len();
        let name = &alarm.alarm_name;
        if name.trim().is_empty() {
            self.error(
                format!("{path}.AlarmName"),
                "required",
                "is required: 1 to 255 characters",
            );
        } else if name.chars().count() > 255 {
            self.error(
                format!("{path}.AlarmName"),
                "too_long",
                "is longer than 255 characters",
            );
        } else if !name.is_ascii() {
            self.error(
                format!("{path}.AlarmName"),
                "not_ascii",
                "must contain only ASCII characters",
            );
        }
        if alarm.namespace.is_empty() || alarm.namespace.len() > 255 {
            self.error(
                format!("{path}.Namespace"),
                "required",
                "is required: 1 to 255 characters, for example AWS/SageMaker",
            );
        } else if alarm.namespace.starts_with(':') {
            self.error(
                format!("{path}.Namespace"),
                "pattern",
                "must not start with `:`",
            );
        }
        if alarm.metric_name.is_empty() || alarm.metric_name.len() > 255 {
            self.error(
                format!("{path}.MetricName"),
                "required",
                "is required: 1 to 255 characters, for example Invocation5XXErrors",
            );
        }
        if alarm.dimensions.len() > 30 {
            self.error(
                format!("{path}.Dimensions"),
                "too_many",
                format!("has {} dimensions; at most 30", alarm.dimensions.len()),
            );
        }
        for (index, dimension) in alarm.dimensions.iter().enumerate() {
            if dimension.name.is_empty() || dimension.name.len() > 255 {
                self.error(
                    format!("{path}.Dimensions[{index}].Name"),
                    "required",
                    "is required: 1 to 255 characters",
                );
            }
            if dimension.value.is_empty() || dimension.value.len() > 1024 {
                self.error(
                    format!("{path}.Dimensions[{index}].Value"),
                    "required",
                    "is required: 1 to 1024 characters",
                );
            }
        }

        let stat = match (&alarm.statistic, &alarm.extended_statistic) {
            (Some(_), Some(_)) => {
                self.error(
                    format!("{path}.ExtendedStatistic"),
                    "statistic_conflict",
                    "give either Statistic or ExtendedStatistic, not both",
                );
                None
            }
            (None, None) => {
                self.error(
                    format!("{path}.Statistic"),
                    "required",
                    "is required: SampleCount, Average, Sum, Minimum or Maximum (or ExtendedStatistic such as p99)",
                );
                None
            }
            (Some(statistic), None) => Some(Stat::Basic(*statistic)),
            (None, Some(extended)) => {
                let parsed = Stat::parse_percentile(extended);
                if parsed.is_none() {
                    self.error(
                        format!("{path}.ExtendedStatistic"),
                        "extended_statistic",
                        format!(
                            "`{extended}` is not supported; use a percentile p0 to p100, such as p99 or p99.9"
                        ),
                    );
                }
                parsed
            }
        };

        let period_path = format!("{path}.Period");
        let period = match alarm.period {
            None => {
                self.error(
                    &period_path,
                    "required",
                    "is required: 10, 20, 30 or a multiple of 60 seconds",
                );
                None
            }
            Some(period) if period < 1 || !(matches!(period, 10 | 20 | 30) || period % 60 == 0) => {
                self.error(
                    &period_path,
                    "period_invalid",
                    format!(
                        "{period} s is not allowed; use 10, 20, 30 or a multiple of 60 seconds"
                    ),
                );
                None
            }
            Some(period) => Some(period),
        };
        let evaluation_periods = self.integer(
            &format!("{path}.EvaluationPeriods"),
            alarm.evaluation_periods,
            1,
            i64::from(u32::MAX),
            true,
        );
        if let (Some(period), Some(count)) = (period, evaluation_periods) {
            let window = period * i64::from(count);
            let limit = if period < 3_600 { 86_400 } else { 604_800 };
            if window > limit {
                self.error(
                    format!("{path}.EvaluationPeriods"),
                    "evaluation_window_too_long",
                    format!(
                        "Period × EvaluationPeriods = {window} s; at most {limit} s {}",
                        if period < 3_600 {
                            "(one day) when Period is under an hour"
                        } else {
                            "(one week)"
                        }
                    ),
                );
            }
        }
        let datapoints = match alarm.datapoints_to_alarm {
            None => evaluation_periods,
            Some(value) if value < 1 => {
                self.error(
                    format!("{path}.DatapointsToAlarm"),
                    "out_of_range",
                    format!("{value} is out of range; at least 1"),
                );
                None
            }
            Some(value) => match evaluation_periods {
                Some(count) if value > i64::from(count) => {
                    self.error(
                        format!("{path}.DatapointsToAlarm"),
                        "datapoints_exceed_periods",
                        format!("{value} is larger than EvaluationPeriods ({count}); allowed 1 to {count}"),
                    );
                    None
                }
                _ => Some(value as u32),
            },
        };
        let threshold = match alarm.threshold {
            None => {
                self.error(
                    format!("{path}.Threshold"),
                    "required",
                    "is required: the value the statistic is compared with",
                );
                None
            }
            Some(value) if !value.is_finite() => {
                self.error(
                    format!("{path}.Threshold"),
                    "out_of_range",
                    "must be a finite number",
                );
                None
            }
            Some(value) => Some(value),
        };
        let comparison = match alarm.comparison_operator {
            None => {
                self.error(
                    format!("{path}.ComparisonOperator"),
                    "required",
                    "is required: GreaterThanOrEqualToThreshold, GreaterThanThreshold, LessThanThreshold or LessThanOrEqualToThreshold",
                );
                None
            }
            Some(ComparisonOperator::GreaterThanOrEqualToThreshold) => {
                Some(Comparison::GreaterOrEqual)
            }
            Some(ComparisonOperator::GreaterThanThreshold) => Some(Comparison::Greater),
            Some(ComparisonOperator::LessThanThreshold) => Some(Comparison::Less),
            Some(ComparisonOperator::LessThanOrEqualToThreshold) => Some(Comparison::LessOrEqual),
            Some(other) => {
                self.error(
                    format!("{path}.ComparisonOperator"),
                    "comparison_unsupported",
                    format!(
                        "{} needs an anomaly-detection band, which guardrail does not model; use a threshold operator",
                        other.as_str()
                    ),
                );
                None
            }
        };

        if self.errors.len() > errors_before {
            return None;
        }
        Some(AlarmRule {
            name: name.clone(),
            metric: (alarm.namespace == "AWS/SageMaker")
                .then(|| Metric::from_name(&alarm.metric_name))
                .flatten(),
            metric_name: alarm.metric_name.clone(),
            scope: scope_of(alarm, plan),
            stat: stat?,
            period_seconds: period? as u32,
            evaluation_periods: evaluation_periods?,
            datapoints_to_alarm: datapoints?,
            threshold: threshold?,
            comparison: comparison?,
            treat_missing_data: alarm
                .treat_missing_data
                .unwrap_or(TreatMissingData::Missing),
            low_sample_count: alarm
                .evaluate_low_sample_count_percentile
                .unwrap_or(LowSampleCountPercentile::Evaluate),
        })
    }

    fn scenario(&mut self, scenario: &Scenario) {
        let path = "Scenario";
        let rps = scenario.requests_per_second;
        if !(rps > 0.0 && rps <= 100_000.0) {
            self.error(
                format!("{path}.RequestsPerSecond"),
                "out_of_range",
                format!("{rps} is out of range; allowed more than 0 up to 100000"),
            );
        }
        for (fleet, error_rate, latency) in [
            ("Blue", scenario.blue.error_rate, scenario.blue.latency_ms),
            (
                "Green",
                scenario.green.error_rate,
                scenario.green.latency_ms,
            ),
        ] {
            if !(0.0..=1.0).contains(&error_rate) {
                self.error(
                    format!("{path}.{fleet}.ErrorRate"),
                    "out_of_range",
                    format!(
                        "{error_rate} is out of range; allowed 0 to 1 (a fraction, 0.05 = 5 %)"
                    ),
                );
            }
            if !(latency > 0.0 && latency <= 600_000.0) {
                self.error(
                    format!("{path}.{fleet}.LatencyMs"),
                    "out_of_range",
                    format!("{latency} is out of range; allowed more than 0 up to 600000 ms"),
                );
            }
        }
        let onset = scenario.green.onset_seconds;
        if !(0.0..=86_400.0).contains(&onset) {
            self.error(
                format!("{path}.Green.OnsetSeconds"),
                "out_of_range",
                format!("{onset} is out of range; allowed 0 to 86400 s"),
            );
        }
    }
}

/// Which requests an alarm's dimensions select, for this plan.
///
/// SageMaker publishes endpoint metrics with `EndpointName` + `VariantName`, and,
/// once the new fleet serves, also with `EndpointConfigName` of the new config.
/// An alarm on another endpoint, variant or config sees nothing of this rollout.
pub fn scope_of(alarm: &MetricAlarm, plan: &Plan) -> Scope {
    if alarm.namespace != "AWS/SageMaker" || Metric::from_name(&alarm.metric_name).is_none() {
        return Scope::Unrelated;
    }
    let mut endpoint = false;
    let mut new_fleet = false;
    for dimension in &alarm.dimensions {
        match dimension.name.as_str() {
            "EndpointName" if dimension.value == plan.endpoint_name => endpoint = true,
            "VariantName" if dimension.value == plan.variant_name => {}
            "EndpointConfigName" if dimension.value == plan.endpoint_config_name => {
                new_fleet = true
            }
            _ => return Scope::Unrelated,
        }
    }
    match (endpoint, new_fleet) {
        (true, true) => Scope::NewFleet,
        (true, false) => Scope::Endpoint,
        _ => Scope::Unrelated,
    }
}

/// "1 instance", "1 to 2 instances": the whole-instance values allowed for a fleet.
fn allowed_instances(min_percent: Option<u32>, max_percent: u32, fleet: u32) -> String {
    let high = u64::from(max_percent) * u64::from(fleet) / 100;
    let low = min_percent
        .map(|min| (u64::from(min) * u64::from(fleet)).div_ceil(100).max(1))
        .unwrap_or(1);
    if high < low {
        format!("no whole number of instances fits a fleet of {fleet}")
    } else if high == low {
        format!("exactly {low} instance(s) for a fleet of {fleet}")
    } else {
        format!("{low} to {high} instances for a fleet of {fleet}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::examples;

    /// Applies `edit` to the notebook canary plan and checks that exactly the expected
    /// (path, code) errors come back.
    fn check_errors(edit: impl FnOnce(&mut serde_json::Value), expected: &[(&str, &str)]) {
        let mut value: serde_json::Value =
            serde_json::from_str(examples::NOTEBOOK_CANARY).expect("example parses");
        edit(&mut value);
        let text = value.to_string();
        let (_, checked) = check_json(&text).expect("still a plan");
        let got: Vec<(&str, &str)> = checked
            .report
            .errors
            .iter()
            .map(|problem| (problem.path.as_str(), problem.code.as_str()))
            .collect();
        assert_eq!(got, expected, "errors: {:#?}", checked.report.errors);
        assert_eq!(checked.rollout.is_some(), expected.is_empty());
    }

    /// Sets the value at a JSON pointer, creating the last key if needed.
    fn set(value: &mut serde_json::Value, pointer: &str, new: serde_json::Value) {
        let (parent, key) = pointer.rsplit_once('/').expect("pointer has a parent");
        let parent = value.pointer_mut(parent).expect("parent exists");
        match parent {
            serde_json::Value::Object(map) => {
                map.insert(key.to_string(), new);
            }
            serde_json::Value::Array(items) => {
                items[key.parse::<usize>().expect("index")] = new;
            }
            _ => panic!("{pointer} has no container"),
        }
    }

    /// A table row: name, an edit of the notebook canary, the expected (path, code) errors.
    type Case = (
        &'static str,
        Box<dyn Fn(&mut serde_json::Value)>,
        Vec<(&'static str, &'static str)>,
    );

    const TRC_PTR: &str = "/DeploymentConfig/BlueGreenUpdatePolicy/TrafficRoutingConfiguration";

    #[test]
    fn the_examples_are_valid() {
        for (name, text) in examples::ALL {
            let (_, checked) = check_json(text).expect(name);
            assert!(
                checked.report.errors.is_empty(),
                "{name}: {:#?}",
                checked.report.errors
            );
        }
    }

    #[test]
    fn validation_table() {
        use serde_json::json;
        let cases: Vec<Case> = vec![
            ("valid", Box::new(|_| {}), vec![]),
            (
                "endpoint name pattern",
                Box::new(|v| set(v, "/EndpointName", json!("-bad_name"))),
                vec![("EndpointName", "pattern")],
            ),
            (
                "endpoint name too long",
                Box::new(|v| set(v, "/EndpointName", json!("a".repeat(64)))),
                vec![("EndpointName", "too_long")],
            ),
            (
                "instance count zero",
                Box::new(|v| set(v, "/InstanceCount", json!(0))),
                vec![("InstanceCount", "out_of_range")],
            ),
            (
                "canary of 2 in 3 is over half",
                Box::new(|v| set(v, &format!("{TRC_PTR}/CanarySize/Value"), json!(2))),
                vec![(
                    "DeploymentConfig.BlueGreenUpdatePolicy.TrafficRoutingConfiguration.CanarySize.Value",
                    "canary_too_large",
                )],
            ),
            (
                "canary percent 51",
                Box::new(|v| {
                    set(v, &format!("{TRC_PTR}/CanarySize"), json!({"Type": "CAPACITY_PERCENT", "Value": 51}))
                }),
                vec![(
                    "DeploymentConfig.BlueGreenUpdatePolicy.TrafficRoutingConfiguration.CanarySize.Value",
                    "canary_too_large",
                )],
            ),
            (
                "canary missing size",
                Box::new(|v| {
                    v.pointer_mut(TRC_PTR)
                        .and_then(|t| t.as_object_mut())
                        .map(|t| t.remove("CanarySize"));
                }),
                vec![(
                    "DeploymentConfig.BlueGreenUpdatePolicy.TrafficRoutingConfiguration.CanarySize",
                    "required",
                )],
            ),
            (
                "linear step 60 percent",
                Box::new(|v| {
                    set(v, &format!("{TRC_PTR}/Type"), json!("LINEAR"));
                    set(v, &format!("{TRC_PTR}/LinearStepSize"), json!({"Type": "CAPACITY_PERCENT", "Value": 60}));
                }),
                vec![(
                    "DeploymentConfig.BlueGreenUpdatePolicy.TrafficRoutingConfiguration.LinearStepSize.Value",
                    "linear_step_out_of_range",
                )],
            ),
            (
                "linear step 5 percent",
                Box::new(|v| {
                    set(v, &format!("{TRC_PTR}/Type"), json!("LINEAR"));
                    set(v, &format!("{TRC_PTR}/LinearStepSize"), json!({"Type": "CAPACITY_PERCENT", "Value": 5}));
                }),
                vec![(
                    "DeploymentConfig.BlueGreenUpdatePolicy.TrafficRoutingConfiguration.LinearStepSize.Value",
                    "linear_step_out_of_range",
                )],
            ),
            (
                "linear 1 of 20 instances is 5 percent",
                Box::new(|v| {
                    set(v, "/InstanceCount", json!(20));
                    set(v, &format!("{TRC_PTR}/Type"), json!("LINEAR"));
                    set(v, &format!("{TRC_PTR}/LinearStepSize"), json!({"Type": "INSTANCE_COUNT", "Value": 1}));
                }),
                vec![(
                    "DeploymentConfig.BlueGreenUpdatePolicy.TrafficRoutingConfiguration.LinearStepSize.Value",
                    "linear_step_out_of_range",
                )],
            ),
            (
                "wait over an hour",
                Box::new(|v| set(v, &format!("{TRC_PTR}/WaitIntervalInSeconds"), json!(3601))),
                vec![(
                    "DeploymentConfig.BlueGreenUpdatePolicy.TrafficRoutingConfiguration.WaitIntervalInSeconds",
                    "out_of_range",
                )],
            ),
            (
                "termination wait negative",
                Box::new(|v| set(v, "/DeploymentConfig/BlueGreenUpdatePolicy/TerminationWaitInSeconds", json!(-1))),
                vec![("DeploymentConfig.BlueGreenUpdatePolicy.TerminationWaitInSeconds", "out_of_range")],
            ),
            (
                "timeout below 600",
                Box::new(|v| set(v, "/DeploymentConfig/BlueGreenUpdatePolicy/MaximumExecutionTimeoutInSeconds", json!(599))),
                vec![("DeploymentConfig.BlueGreenUpdatePolicy.MaximumExecutionTimeoutInSeconds", "out_of_range")],
            ),
            (
                "timeout not larger than the waits",
                Box::new(|v| {
                    set(v, &format!("{TRC_PTR}/WaitIntervalInSeconds"), json!(600));
                    set(v, "/DeploymentConfig/BlueGreenUpdatePolicy/TerminationWaitInSeconds", json!(600));
                    set(v, "/DeploymentConfig/BlueGreenUpdatePolicy/MaximumExecutionTimeoutInSeconds", json!(1200));
                }),
                vec![("DeploymentConfig.BlueGreenUpdatePolicy.MaximumExecutionTimeoutInSeconds", "timeout_too_short")],
            ),
            (
                "both policies",
                Box::new(|v| {
                    set(v, "/DeploymentConfig/RollingUpdatePolicy", json!({
                        "MaximumBatchSize": {"Type": "CAPACITY_PERCENT", "Value": 33},
                        "WaitIntervalInSeconds": 180
                    }))
                }),
                vec![("DeploymentConfig", "policy_conflict")],
            ),
            (
                "rolling batch over half",
                Box::new(|v| {
                    let config = v.pointer_mut("/DeploymentConfig").and_then(|c| c.as_object_mut()).expect("config");
                    config.remove("BlueGreenUpdatePolicy");
                    config.insert("RollingUpdatePolicy".into(), json!({
                        "MaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": 2},
                        "WaitIntervalInSeconds": 180
                    }));
                }),
                vec![("DeploymentConfig.RollingUpdatePolicy.MaximumBatchSize.Value", "batch_size_out_of_range")],
            ),
            (
                "no rollback alarms listed",
                Box::new(|v| set(v, "/DeploymentConfig/AutoRollbackConfiguration/Alarms", json!([]))),
                vec![("DeploymentConfig.AutoRollbackConfiguration.Alarms", "alarm_count")],
            ),
            (
                "eleven rollback alarms",
                Box::new(|v| {
                    let name = v.pointer("/Alarms/0/AlarmName").cloned().expect("name");
                    set(v, "/DeploymentConfig/AutoRollbackConfiguration/Alarms",
                        json!(vec![json!({"AlarmName": name}); 11]));
                }),
                // Eleven entries, and ten of them repeat the first.
                {
                    let mut expected = vec![("DeploymentConfig.AutoRollbackConfiguration.Alarms", "alarm_count")];
                    for path in [
                        "DeploymentConfig.AutoRollbackConfiguration.Alarms[1].AlarmName",
                        "DeploymentConfig.AutoRollbackConfiguration.Alarms[2].AlarmName",
                        "DeploymentConfig.AutoRollbackConfiguration.Alarms[3].AlarmName",
                        "DeploymentConfig.AutoRollbackConfiguration.Alarms[4].AlarmName",
                        "DeploymentConfig.AutoRollbackConfiguration.Alarms[5].AlarmName",
                        "DeploymentConfig.AutoRollbackConfiguration.Alarms[6].AlarmName",
                        "DeploymentConfig.AutoRollbackConfiguration.Alarms[7].AlarmName",
                        "DeploymentConfig.AutoRollbackConfiguration.Alarms[8].AlarmName",
                        "DeploymentConfig.AutoRollbackConfiguration.Alarms[9].AlarmName",
                        "DeploymentConfig.AutoRollbackConfiguration.Alarms[10].AlarmName",
                    ] {
                        expected.push((path, "duplicate_alarm"));
                    }
                    expected
                },
            ),
            (
                "rollback alarm not defined",
                Box::new(|v| set(v, "/DeploymentConfig/AutoRollbackConfiguration/Alarms/1/AlarmName", json!("Nope"))),
                vec![("DeploymentConfig.AutoRollbackConfiguration.Alarms[1].AlarmName", "alarm_undefined")],
            ),
            (
                "blank rollback alarm name",
                Box::new(|v| set(v, "/DeploymentConfig/AutoRollbackConfiguration/Alarms/1/AlarmName", json!("   "))),
                vec![("DeploymentConfig.AutoRollbackConfiguration.Alarms[1].AlarmName", "required")],
            ),
            (
                "period 45",
                Box::new(|v| set(v, "/Alarms/0/Period", json!(45))),
                vec![("Alarms[0].Period", "period_invalid")],
            ),
            (
                "period 20 is high resolution",
                Box::new(|v| set(v, "/Alarms/0/Period", json!(20))),
                vec![],
            ),
            (
                "evaluation window over a day",
                Box::new(|v| {
                    set(v, "/Alarms/0/Period", json!(600));
                    set(v, "/Alarms/0/EvaluationPeriods", json!(145));
                }),
                vec![("Alarms[0].EvaluationPeriods", "evaluation_window_too_long")],
            ),
            (
                "hourly periods may span a week",
                Box::new(|v| {
                    set(v, "/Alarms/0/Period", json!(3600));
                    set(v, "/Alarms/0/EvaluationPeriods", json!(168));
                }),
                vec![],
            ),
            (
                "datapoints over evaluation periods",
                Box::new(|v| set(v, "/Alarms/1/DatapointsToAlarm", json!(2))),
                vec![("Alarms[1].DatapointsToAlarm", "datapoints_exceed_periods")],
            ),
            (
                "both statistics",
                Box::new(|v| set(v, "/Alarms/1/ExtendedStatistic", json!("p99"))),
                vec![("Alarms[1].ExtendedStatistic", "statistic_conflict")],
            ),
            (
                "trimmed mean unsupported",
                Box::new(|v| {
                    v.pointer_mut("/Alarms/1").and_then(|a| a.as_object_mut()).map(|a| a.remove("Statistic"));
                    set(v, "/Alarms/1/ExtendedStatistic", json!("tm90"));
                }),
                vec![("Alarms[1].ExtendedStatistic", "extended_statistic")],
            ),
            (
                "anomaly operator",
                Box::new(|v| set(v, "/Alarms/0/ComparisonOperator", json!("GreaterThanUpperThreshold"))),
                vec![("Alarms[0].ComparisonOperator", "comparison_unsupported")],
            ),
            (
                "unknown field is reported with its path",
                Box::new(|v| set(v, &format!("{TRC_PTR}/WaitIntervalInSecond"), json!(300))),
                vec![(
                    "DeploymentConfig.BlueGreenUpdatePolicy.TrafficRoutingConfiguration.WaitIntervalInSecond",
                    "unknown_field",
                )],
            ),
            (
                "scenario error rate above one",
                Box::new(|v| set(v, "/Scenario", json!({"Green": {"ErrorRate": 5}}))),
                vec![("Scenario.Green.ErrorRate", "out_of_range")],
            ),
        ];
        for (name, edit, expected) in cases {
            let mut value: serde_json::Value =
                serde_json::from_str(examples::NOTEBOOK_CANARY).expect("example parses");
            edit(&mut value);
            let (_, checked) = check_json(&value.to_string()).expect(name);
            let got: Vec<(&str, &str)> = checked
                .report
                .errors
                .iter()
                .map(|problem| (problem.path.as_str(), problem.code.as_str()))
                .collect();
            assert_eq!(got, expected, "case `{name}`: {:#?}", checked.report.errors);
        }
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        use serde_json::json;
        check_errors(
            |v| {
                set(v, "/EndpointName", json!(""));
                set(v, "/InstanceCount", json!(-3));
                set(v, &format!("{TRC_PTR}/WaitIntervalInSeconds"), json!(99999));
                set(v, "/Alarms/0/Period", json!(7));
                set(v, "/Alarms/1/Threshold", serde_json::Value::Null);
            },
            &[
                ("EndpointName", "required"),
                ("InstanceCount", "out_of_range"),
                (
                    "DeploymentConfig.BlueGreenUpdatePolicy.TrafficRoutingConfiguration.WaitIntervalInSeconds",
                    "out_of_range",
                ),
                ("Alarms[0].Period", "period_invalid"),
                ("Alarms[1].Threshold", "required"),
            ],
        );
    }

    #[test]
    fn messages_name_the_allowed_range() {
        let mut value: serde_json::Value =
            serde_json::from_str(examples::NOTEBOOK_CANARY).expect("example parses");
        set(
            &mut value,
            &format!("{TRC_PTR}/CanarySize/Value"),
            serde_json::json!(2),
        );
        let (_, checked) = check_json(&value.to_string()).expect("plan");
        let message = &checked.report.errors[0].message;
        assert!(
            message.contains("at most 50%") && message.contains("exactly 1 instance"),
            "{message}"
        );
    }

    #[test]
    fn a_type_error_names_line_column_and_path() {
        let error = check_json("{\n  \"InstanceCount\": \"three\"\n}").expect_err("type error");
        assert_eq!((error.line, error.path.as_str()), (2, "InstanceCount"));
        assert!(
            error.one_line().starts_with("line 2, column"),
            "{}",
            error.one_line()
        );
        let error = check_json("{\"EndpointName\": ").expect_err("truncated");
        assert!(error.one_line().contains("EOF"), "{}", error.one_line());
    }

    #[test]
    fn a_missing_deployment_config_means_all_at_once() {
        let (_, checked) = check_json(
            r#"{"EndpointName":"e","EndpointConfigName":"c","InstanceCount":2,"InstanceType":"ml.m5.large"}"#,
        )
        .expect("plan");
        let rollout = checked.rollout.expect("valid");
        assert_eq!(rollout.strategy, Strategy::AllAtOnce);
        assert!(checked
            .report
            .warnings
            .iter()
            .any(|warning| warning.code == "no_alarms"));
    }
}
