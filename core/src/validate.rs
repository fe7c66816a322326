//! Validation: every rule SageMaker and CloudWatch state, all problems at once.
//!
//! [`validate`] walks the whole plan, records each problem at its [`Field`], and
//! builds a [`Rollout`] only when there are no errors. The rules are those of
//! SageMaker's `UpdateEndpoint` and CloudWatch's `PutMetricAlarm` API references
//! (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_UpdateEndpoint.html,
//! https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html),
//! and `core/tests/botocore_model.rs` holds them against the service models that
//! botocore publishes, naming every rule where guardrail is deliberately
//! stricter. Messages name the allowed range. Arithmetic on user numbers is done
//! in 128 bits or checked, so no input overflows or wraps.

use crate::alarm::{
    scope_of, AlarmRule, Comparison, Metric, Query, Scope, Source, Stat, NAMESPACE,
};
use crate::assumptions::instances_for;
use crate::composite;
use crate::field::limits::{
    ACTION_MAX, ALARM_DESCRIPTION_MAX, ALARM_NAME_MAX, CONFIDENCE_MAX, CONFIDENCE_MIN,
    DIMENSION_NAME_MAX, DIMENSION_VALUE_MAX, EXPRESSION_MAX, JUDGE_PERIOD_MAX, LATENCY_MS_MAX,
    MAX_ACTIONS, MAX_COMPOSITE_ALARMS, MAX_DIMENSIONS, MAX_EXPRESSIONS, MAX_INSTANCES,
    MAX_JUDGED_METRICS, MAX_METRIC_QUERIES, MAX_METRIC_STATS, MAX_ROLLBACK_ALARMS,
    MAX_TEAM_METRICS, METRIC_TEXT_MAX, MINIMUM_SAMPLES_MAX, NAME_MAX, ONSET_SECONDS_MAX,
    PROVISIONING_MAX, PUBLISH_SECONDS_MAX, REQUESTS_PER_SECOND_MAX, TERMINATION_MAX, TIMEOUT_MAX,
    TIMEOUT_MIN, WAIT_MAX, WEIGHT_MAX, WINDOW_MAX, WINDOW_MAX_SHORT_PERIODS,
};
use crate::field::{
    AlarmField, CompositeField, DimensionPart, Field, Fleet, JudgeField, JudgedMetricField, Policy,
    QueryField, ScenarioField, Size, SizePart, TeamMetricField,
};
use crate::judge::{Criterion, Direction, JudgeSpec, Signal};
use crate::math::{self, Definition, Expr};
use crate::plan::{
    AlarmRef, CapacitySize, CapacitySizeType, ComparisonOperator, CompositeAlarm, Dimension,
    JudgeSection, JudgedMetric, LowSampleCountPercentile, MetricAlarm, MetricDataQuery,
    MetricIdentity, MetricStat, Plan, Scenario, TeamMetric, TeamMetricKind, TrafficRoutingConfig,
    TrafficRoutingType, TreatMissingData, DEFAULT_PROVISIONING_SECONDS,
    DEFAULT_TERMINATION_SECONDS, STANDARD_UNITS,
};
use crate::problem::Problem;
use crate::rollout::{Rollout, Strategy};

/// Validates `plan`, adding to `errors` (problems found while parsing), and
/// builds the rollout when nothing is wrong.
pub(crate) fn validate(plan: &Plan, errors: Vec<Problem>) -> (Vec<Problem>, Option<Rollout>) {
    let mut checker = Checker { errors };
    let rollout = checker.plan(plan);
    let rollout = if checker.errors.is_empty() {
        rollout
    } else {
        None
    };
    (checker.errors, rollout)
}

/// Validates one `PutMetricAlarm` request on its own, as CloudWatch does: the
/// same rules as a plan's alarms. Problems are reported at `Alarms[0].…`.
pub(crate) fn validate_alarm(alarm: &MetricAlarm) -> Result<AlarmRule, Vec<Problem>> {
    let mut checker = Checker { errors: Vec::new() };
    // Each metric's scope is judged against its own dimensions: CloudWatch
    // evaluates the alarm whatever rollout it watches.
    let own_scope = |identity: &MetricIdentity| {
        let dimension = |name: &str| {
            identity
                .dimensions
                .iter()
                .find(|dimension| dimension.name == name)
                .map(|dimension| dimension.value.as_str())
                .unwrap_or_default()
        };
        scope_of(
            &identity.namespace,
            &identity.metric_name,
            &identity.dimensions,
            (
                dimension("EndpointName"),
                dimension("VariantName"),
                dimension("EndpointConfigName"),
            ),
        )
    };
    match checker.alarm(0, alarm, &own_scope) {
        Some(rule) if checker.errors.is_empty() => Ok(rule),
        _ => Err(checker.errors),
    }
}

/// Validates one `PutCompositeAlarm` request on its own, as CloudWatch does:
/// its name, description, actions and rule. Problems are reported at
/// `CompositeAlarms[0].…`; whether the alarms it names exist is the caller's
/// to check.
pub(crate) fn validate_composite(alarm: &CompositeAlarm) -> Result<composite::Rule, Vec<Problem>> {
    let mut checker = Checker { errors: Vec::new() };
    match checker.composite(0, alarm) {
        Some(rule) if checker.errors.is_empty() => Ok(rule),
        _ => Err(checker.errors),
    }
}

/// The update policy, resolved: how traffic moves, the final bake and the timeout.
struct ResolvedPolicy {
    strategy: Strategy,
    termination_wait: u32,
    timeout: u32,
}

/// The window of an alarm: period, evaluation periods and datapoints to alarm.
struct Window {
    period: u32,
    evaluation_periods: u32,
    datapoints: u32,
}

struct Checker {
    errors: Vec<Problem>,
}

/// A size's bounds as percents of the fleet, its error code and what it sizes.
struct SizeRule {
    min_percent: Option<u32>,
    max_percent: u32,
    code: &'static str,
    what: &'static str,
}

impl Size {
    fn rule(self) -> SizeRule {
        match self {
            Size::Canary => SizeRule {
                min_percent: None,
                max_percent: 50,
                code: "canary_too_large",
                what: "the canary",
            },
            Size::LinearStep => SizeRule {
                min_percent: Some(10),
                max_percent: 50,
                code: "linear_step_out_of_range",
                what: "a linear step",
            },
            Size::Batch => SizeRule {
                min_percent: Some(5),
                max_percent: 50,
                code: "batch_size_out_of_range",
                what: "a rolling batch",
            },
            Size::RollbackBatch => SizeRule {
                min_percent: None,
                max_percent: 100,
                code: "rollback_batch_out_of_range",
                what: "a rollback batch",
            },
        }
    }
}

/// Characters, as AWS counts lengths (Unicode code points, not bytes).
fn chars(text: &str) -> usize {
    text.chars().count()
}

/// Control characters, which CloudWatch alarm names may not contain.
fn has_control(text: &str) -> bool {
    text.chars().any(char::is_control)
}

/// Line terminators, which `.` in AWS's patterns does not match.
fn has_line_break(text: &str) -> bool {
    text.chars()
        .any(|c| matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}'))
}

/// The query of `identity` with `stat`, and what the metric is to this rollout.
fn query_of(
    identity: MetricIdentity,
    stat: Stat,
    scope_for: &dyn Fn(&MetricIdentity) -> Scope,
) -> Query {
    let scope = scope_for(&identity);
    let metric = (identity.namespace == NAMESPACE)
        .then(|| Metric::from_name(&identity.metric_name))
        .flatten();
    Query {
        identity,
        metric,
        scope,
        stat,
    }
}

impl Checker {
    fn error(&mut self, field: Field, code: &str, message: impl Into<String>) {
        self.errors.push(Problem::at(field, code, message));
    }

    /// An integer field within `min..=max`. Reports a missing required field and an
    /// out-of-range value; returns the value only when it is usable.
    fn integer(
        &mut self,
        field: Field,
        value: Option<i64>,
        (min, max): (u32, u32),
        required: bool,
    ) -> Option<u32> {
        match value {
            None => {
                if required {
                    self.error(
                        field,
                        "required",
                        format!("is required; allowed range {min} to {max}"),
                    );
                }
                None
            }
            Some(value) => match u32::try_from(value) {
                Ok(value) if (min..=max).contains(&value) => Some(value),
                _ => {
                    self.error(
                        field,
                        "out_of_range",
                        format!("{value} is out of range; allowed range {min} to {max}"),
                    );
                    None
                }
            },
        }
    }

    /// SageMaker's resource-name rule: `[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}`, the
    /// whole name, at most 63 characters.
    fn resource_name(&mut self, field: Field, value: &str) {
        if value.is_empty() {
            self.error(
                field,
                "required",
                "is required; 1 to 63 letters, digits and hyphens",
            );
            return;
        }
        if chars(value) > NAME_MAX {
            self.error(
                field,
                "too_long",
                format!(
                    "is {} characters long; at most {NAME_MAX} allowed",
                    chars(value)
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
                field,
                "pattern",
                format!(
                    "`{value}` does not match [a-zA-Z0-9](-*[a-zA-Z0-9]){{0,62}}: use letters, digits and \
                     hyphens, starting and ending with a letter or digit"
                ),
            );
        }
    }

    /// Text of `min..=max` characters (as AWS counts them, code points).
    fn length(
        &mut self,
        field: Field,
        value: &str,
        (min, max): (usize, usize),
        what: &str,
    ) -> bool {
        let length = chars(value);
        if length < min || length > max {
            let code = if length < min { "required" } else { "too_long" };
            self.error(
                field,
                code,
                format!("is {length} characters long; {what}: {min} to {max} characters"),
            );
            return false;
        }
        true
    }

    /// An alarm name: 1 to 255 characters, and (CloudWatch's API reference) no
    /// ASCII control characters.
    fn alarm_name(&mut self, field: Field, value: &str) {
        if self.length(field, value, (1, ALARM_NAME_MAX), "an alarm name") && has_control(value) {
            self.error(
                field,
                "control_character",
                "must not contain line breaks or other control characters",
            );
        }
    }

    fn plan(&mut self, plan: &Plan) -> Option<Rollout> {
        self.resource_name(Field::EndpointName, &plan.endpoint_name);
        self.resource_name(Field::EndpointConfigName, &plan.endpoint_config_name);
        self.resource_name(Field::VariantName, &plan.variant_name);
        let instance_count = self.integer(
            Field::InstanceCount,
            plan.instance_count,
            (1, MAX_INSTANCES),
            true,
        );
        self.instance_type(&plan.instance_type);
        let provisioning = self
            .integer(
                Field::ProvisioningSeconds,
                plan.provisioning_seconds,
                (0, PROVISIONING_MAX),
                false,
            )
            .unwrap_or(DEFAULT_PROVISIONING_SECONDS);
        let termination = self
            .integer(
                Field::TerminationSeconds,
                plan.termination_seconds,
                (0, TERMINATION_MAX),
                false,
            )
            .unwrap_or(DEFAULT_TERMINATION_SECONDS);

        let policy = self.policy(plan, instance_count);
        let alarms = self.alarms(plan);
        self.composites(plan);
        if let Some(scenario) = &plan.scenario {
            self.scenario(scenario);
        }
        let judge = plan.judge.as_ref().map(|judge| self.judge(judge));

        let policy = policy?;
        Some(Rollout {
            endpoint_name: plan.endpoint_name.clone(),
            endpoint_config_name: plan.endpoint_config_name.clone(),
            variant_name: plan.variant_name.clone(),
            instance_count: instance_count?,
            strategy: policy.strategy,
            termination_wait_seconds: policy.termination_wait,
            timeout_seconds: policy.timeout,
            provisioning_seconds: provisioning,
            termination_seconds: termination,
            alarms: alarms?,
            judge: judge.flatten(),
        })
    }

    /// A number field within `[min, max]` (`min_open`: above `min`), or its
    /// default when absent.
    fn number(
        &mut self,
        field: Field,
        value: Option<f64>,
        (min, max, min_open): (f64, f64, bool),
        default: f64,
        what: &str,
    ) -> Option<f64> {
        let Some(value) = value else {
            return Some(default);
        };
        let low_ok = if min_open { value > min } else { value >= min };
        if value.is_finite() && low_ok && value <= max {
            return Some(value);
        }
        let from = if min_open { "more than " } else { "" };
        self.error(
            field,
            "out_of_range",
            format!("{value} is out of range; {what}: {from}{min} to {max}"),
        );
        None
    }

    fn judge(&mut self, judge: &JudgeSection) -> Option<JudgeSpec> {
        if judge.metrics.is_empty() || judge.metrics.len() > MAX_JUDGED_METRICS {
            self.error(
                Field::Judge(JudgeField::Metrics),
                if judge.metrics.is_empty() {
                    "required"
                } else {
                    "too_many"
                },
                format!(
                    "names {} metrics; the judge compares 1 to {MAX_JUDGED_METRICS}, one of each",
                    judge.metrics.len()
                ),
            );
        }
        let criteria: Vec<Criterion> = (0..judge.metrics.len())
            .filter_map(|index| self.judged_metric(&judge.metrics, index))
            .collect();
        let confidence = self.number(
            Field::Judge(JudgeField::ConfidencePercent),
            judge.confidence_percent,
            (CONFIDENCE_MIN, CONFIDENCE_MAX, false),
            99.0,
            "a confidence in percent",
        );
        let (pass, marginal) = self.judge_scores(judge);
        let period = self.judge_period(judge.period_seconds);
        if criteria.len() != judge.metrics.len() {
            return None;
        }
        Some(JudgeSpec {
            criteria,
            false_alarm_rate: (100.0 - confidence?) / 100.0,
            pass_score: pass?,
            marginal_score: marginal?,
            period_seconds: period?,
        })
    }

    /// The judge's criterion for `metrics[index]`, if it is whole.
    fn judged_metric(&mut self, metrics: &[JudgedMetric], index: usize) -> Option<Criterion> {
        let metric = metrics.get(index)?;
        let at = |part| Field::JudgedMetric(index, part);
        let signal = Signal::from_name(&metric.metric_name);
        if signal.is_none() {
            let known: Vec<&str> = Signal::ALL.iter().map(|signal| signal.name()).collect();
            self.error(
                at(JudgedMetricField::MetricName),
                if metric.metric_name.is_empty() {
                    "required"
                } else {
                    "unknown_metric"
                },
                format!(
                    "`{}` is not a metric the judge compares; one of {}",
                    metric.metric_name,
                    known.join(", ")
                ),
            );
        } else if metrics[..index]
            .iter()
            .any(|earlier| earlier.metric_name == metric.metric_name)
        {
            self.error(
                at(JudgedMetricField::MetricName),
                "duplicate_metric",
                format!("`{}` is judged twice", metric.metric_name),
            );
        }
        let direction = match metric.direction.as_deref() {
            None => Some(Direction::Increase),
            Some(name) => {
                let direction = Direction::from_name(name);
                if direction.is_none() {
                    self.error(
                        at(JudgedMetricField::Direction),
                        "unknown_direction",
                        format!("`{name}` is not a direction; Increase, Decrease or Either"),
                    );
                }
                direction
            }
        };
        let default_effect = if signal == Some(Signal::ModelLatency) {
            10.0
        } else {
            0.0
        };
        let effect = self.number(
            at(JudgedMetricField::AllowedEffectPercent),
            metric.allowed_effect_percent,
            (0.0, 99.0, false),
            default_effect,
            "a percentage",
        );
        let samples = self.integer(
            at(JudgedMetricField::MinimumSamples),
            metric.minimum_samples,
            (1, MINIMUM_SAMPLES_MAX),
            false,
        );
        let weight = self.number(
            at(JudgedMetricField::Weight),
            metric.weight,
            (0.0, WEIGHT_MAX, true),
            1.0,
            "a weight",
        );
        Some(Criterion {
            signal: signal?,
            direction: direction?,
            allowed_effect: effect? / 100.0,
            minimum_samples: samples.map_or(50, u64::from),
            critical: metric.critical.unwrap_or(false),
            weight: weight?,
        })
    }

    /// The pass and marginal scores, the marginal no higher than the pass.
    fn judge_scores(&mut self, judge: &JudgeSection) -> (Option<f64>, Option<f64>) {
        let pass = self.number(
            Field::Judge(JudgeField::PassScore),
            judge.pass_score,
            (0.0, 100.0, false),
            75.0,
            "a score",
        );
        let marginal = self.number(
            Field::Judge(JudgeField::MarginalScore),
            judge.marginal_score,
            (0.0, 100.0, false),
            50.0,
            "a score",
        );
        if let (Some(pass), Some(marginal)) = (pass, marginal) {
            if marginal > pass {
                self.error(
                    Field::Judge(JudgeField::MarginalScore),
                    "out_of_range",
                    format!("{marginal} is above the pass score {pass}; the marginal score is 0 to {pass}"),
                );
            }
        }
        (pass, marginal)
    }

    /// The judge's period: 10 s unless given, and one CloudWatch keeps.
    fn judge_period(&mut self, period_seconds: Option<i64>) -> Option<u32> {
        match self.integer(
            Field::Judge(JudgeField::PeriodSeconds),
            period_seconds,
            (10, JUDGE_PERIOD_MAX),
            false,
        ) {
            Some(period) if period != 10 && period != 30 && period % 60 != 0 => {
                self.error(
                    Field::Judge(JudgeField::PeriodSeconds),
                    "period",
                    format!("{period} is not a CloudWatch period; 10, 30 or a multiple of 60"),
                );
                None
            }
            Some(period) => Some(period),
            None if period_seconds.is_none() => Some(10),
            None => None,
        }
    }

    /// The shape of an instance type, `ml.family.size`. Whether SageMaker lists
    /// it is lint's concern: AWS adds instance types between guardrail releases.
    fn instance_type(&mut self, value: &str) {
        if value.is_empty() {
            self.error(
                Field::InstanceType,
                "required",
                "is required, for example ml.m5.xlarge",
            );
            return;
        }
        let mut parts = value.split('.');
        let valid = parts.next() == Some("ml")
            && parts.clone().count() == 2
            && parts.all(|part| {
                !part.is_empty()
                    && part.bytes().all(|byte| {
                        byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-'
                    })
            });
        if !valid {
            self.error(
                Field::InstanceType,
                "pattern",
                format!("`{value}` is not a SageMaker instance type such as ml.m5.xlarge"),
            );
        }
    }

    /// Checks the update policy and resolves it.
    fn policy(&mut self, plan: &Plan, fleet: Option<u32>) -> Option<ResolvedPolicy> {
        // No DeploymentConfig, or no update policy: SageMaker uses blue/green, all at once.
        let all_at_once = || ResolvedPolicy {
            strategy: Strategy::AllAtOnce,
            termination_wait: 0,
            timeout: TIMEOUT_MAX,
        };
        let Some(config) = &plan.deployment_config else {
            return Some(all_at_once());
        };
        match (
            &config.blue_green_update_policy,
            &config.rolling_update_policy,
        ) {
            (Some(_), Some(_)) => {
                self.error(
                    Field::DeploymentConfig,
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
            (None, None) => Some(all_at_once()),
        }
    }

    fn blue_green(&mut self, plan: &Plan, fleet: Option<u32>) -> Option<ResolvedPolicy> {
        let policy = plan
            .deployment_config
            .as_ref()?
            .blue_green_update_policy
            .as_ref()?;
        let termination_wait = self
            .integer(
                Field::TerminationWait,
                policy.termination_wait_in_seconds,
                (0, WAIT_MAX),
                false,
            )
            .unwrap_or(0);
        let timeout = self.integer(
            Field::Timeout(Policy::BlueGreen),
            policy.maximum_execution_timeout_in_seconds,
            (TIMEOUT_MIN, TIMEOUT_MAX),
            false,
        );

        let Some(routing) = &policy.traffic_routing_configuration else {
            self.error(
                Field::TrafficRouting,
                "required",
                "is required: give Type ALL_AT_ONCE, CANARY or LINEAR, and WaitIntervalInSeconds",
            );
            return None;
        };
        // SageMaker's model requires WaitIntervalInSeconds for every type, even
        // ALL_AT_ONCE, which has no steps to wait between.
        let wait = self.integer(
            Field::Wait(Policy::BlueGreen),
            routing.wait_interval_in_seconds,
            (0, WAIT_MAX),
            true,
        );
        let Some(kind) = routing.kind else {
            self.error(
                Field::TrafficRoutingType,
                "required",
                "is required: ALL_AT_ONCE, CANARY or LINEAR",
            );
            return None;
        };

        let strategy = self.routing_strategy(kind, routing, wait, fleet);
        let wait_total = wait.unwrap_or(0) + termination_wait;
        if let Some(timeout) = timeout {
            if timeout <= wait_total {
                self.error(
                    Field::Timeout(Policy::BlueGreen),
                    "timeout_too_short",
                    format!(
                        "{timeout} s must be larger than TerminationWaitInSeconds + WaitIntervalInSeconds = {wait_total} s"
                    ),
                );
                return None;
            }
        }
        Some(ResolvedPolicy {
            strategy: strategy?,
            termination_wait,
            timeout: timeout.unwrap_or(TIMEOUT_MAX),
        })
    }

    /// The blue/green strategy of routing `kind`, its size checked against the fleet.
    fn routing_strategy(
        &mut self,
        kind: TrafficRoutingType,
        routing: &TrafficRoutingConfig,
        wait: Option<u32>,
        fleet: Option<u32>,
    ) -> Option<Strategy> {
        match kind {
            TrafficRoutingType::AllAtOnce => Some(Strategy::AllAtOnce),
            TrafficRoutingType::Canary => {
                let size = self.capacity(Size::Canary, routing.canary_size.as_ref(), fleet);
                Some(Strategy::Canary {
                    canary_instances: size?,
                    wait_seconds: wait?,
                })
            }
            TrafficRoutingType::Linear => {
                let size =
                    self.capacity(Size::LinearStep, routing.linear_step_size.as_ref(), fleet);
                Some(Strategy::Linear {
                    step_instances: size?,
                    wait_seconds: wait?,
                })
            }
        }
    }

    fn rolling(&mut self, plan: &Plan, fleet: Option<u32>) -> Option<ResolvedPolicy> {
        let policy = plan
            .deployment_config
            .as_ref()?
            .rolling_update_policy
            .as_ref()?;
        let batch = self.capacity(Size::Batch, policy.maximum_batch_size.as_ref(), fleet);
        let wait = self.integer(
            Field::Wait(Policy::Rolling),
            policy.wait_interval_in_seconds,
            (0, WAIT_MAX),
            true,
        );
        let timeout = self.integer(
            Field::Timeout(Policy::Rolling),
            policy.maximum_execution_timeout_in_seconds,
            (TIMEOUT_MIN, TIMEOUT_MAX),
            false,
        );
        // Without RollbackMaximumBatchSize, AWS rolls back 100 % of the capacity at once.
        let rollback_batch = match &policy.rollback_maximum_batch_size {
            None => fleet,
            Some(size) => self.capacity(Size::RollbackBatch, Some(size), fleet),
        };
        if let (Some(timeout), Some(wait)) = (timeout, wait) {
            if timeout <= wait {
                self.error(
                    Field::Timeout(Policy::Rolling),
                    "timeout_too_short",
                    format!("{timeout} s must be larger than WaitIntervalInSeconds = {wait} s"),
                );
                return None;
            }
        }
        Some(ResolvedPolicy {
            strategy: Strategy::Rolling {
                batch_instances: batch?,
                wait_seconds: wait?,
                rollback_batch_instances: rollback_batch?,
            },
            termination_wait: 0,
            timeout: timeout.unwrap_or(TIMEOUT_MAX),
        })
    }

    /// A `CapacitySize` that must lie within its size's bounds as percents of the
    /// fleet. Returns the size in whole instances.
    fn capacity(
        &mut self,
        which: Size,
        size: Option<&CapacitySize>,
        fleet: Option<u32>,
    ) -> Option<u32> {
        let rule = which.rule();
        let range_text = match rule.min_percent {
            Some(min) => format!("{min}% to {}%", rule.max_percent),
            None => format!("at most {}%", rule.max_percent),
        };
        let Some(size) = size else {
            self.error(
                Field::Size(which, SizePart::Whole),
                "required",
                format!(
                    "is required: {{Type: INSTANCE_COUNT or CAPACITY_PERCENT, Value}}, {range_text} of the instance count"
                ),
            );
            return None;
        };
        if size.kind.is_none() {
            self.error(
                Field::Size(which, SizePart::Type),
                "required",
                "is required: INSTANCE_COUNT or CAPACITY_PERCENT",
            );
        }
        let value_field = Field::Size(which, SizePart::Value);
        let value = match size.value {
            None => {
                self.error(value_field, "required", "is required; at least 1");
                return None;
            }
            Some(value) if value < 1 => {
                self.error(
                    value_field,
                    "out_of_range",
                    format!("{value} is out of range; at least 1"),
                );
                return None;
            }
            Some(value) => value,
        };
        let kind = size.kind?;
        self.capacity_instances(which, kind, value, fleet, &range_text)
    }

    /// `value` of `kind` in whole instances of `fleet`, within `which`'s
    /// bounds as percents of the fleet (`range_text` says them).
    fn capacity_instances(
        &mut self,
        which: Size,
        kind: CapacitySizeType,
        value: i64,
        fleet: Option<u32>,
        range_text: &str,
    ) -> Option<u32> {
        let rule = which.rule();
        let value_field = Field::Size(which, SizePart::Value);
        // Percents of the fleet in 128 bits: no value of an i64 overflows here.
        let value_wide = i128::from(value);
        match kind {
            CapacitySizeType::CapacityPercent => {
                let low = i128::from(rule.min_percent.unwrap_or(1));
                if value_wide < low || value_wide > i128::from(rule.max_percent) {
                    self.error(
                        value_field,
                        rule.code,
                        format!(
                            "{value}% is out of range: {} must be {range_text} of the instance count",
                            rule.what
                        ),
                    );
                    return None;
                }
                let fleet = fleet?;
                Some(instances_for(kind, value as u32, fleet).instances)
            }
            CapacitySizeType::InstanceCount => {
                let fleet = fleet?;
                let fleet_wide = i128::from(fleet);
                let too_big = value_wide * 100 > i128::from(rule.max_percent) * fleet_wide;
                let too_small = rule
                    .min_percent
                    .is_some_and(|min| value_wide * 100 < i128::from(min) * fleet_wide);
                if too_big || too_small {
                    let percent = value as f64 * 100.0 / f64::from(fleet);
                    self.error(
                        value_field,
                        rule.code,
                        format!(
                            "{value} of {fleet} instances is {percent:.1}%: {} must be {range_text} of the instance count ({})",
                            rule.what,
                            allowed_instances(rule.min_percent, rule.max_percent, fleet)
                        ),
                    );
                    return None;
                }
                u32::try_from(value).ok()
            }
        }
    }

    fn alarms(&mut self, plan: &Plan) -> Option<Vec<AlarmRule>> {
        let mut rules: Vec<Option<AlarmRule>> = Vec::new();
        let plan_scope = |identity: &MetricIdentity| {
            scope_of(
                &identity.namespace,
                &identity.metric_name,
                &identity.dimensions,
                (
                    &plan.endpoint_name,
                    &plan.variant_name,
                    &plan.endpoint_config_name,
                ),
            )
        };
        for (index, alarm) in plan.alarms.iter().enumerate() {
            rules.push(self.alarm(index, alarm, &plan_scope));
            if plan.alarms[..index].iter().any(|earlier| {
                earlier.alarm_name == alarm.alarm_name && !alarm.alarm_name.is_empty()
            }) {
                self.error(
                    Field::Alarm(index, AlarmField::AlarmName),
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
                Field::RollbackAlarms,
                "alarm_count",
                format!("lists {count} alarms; allowed 1 to {MAX_ROLLBACK_ALARMS}"),
            );
        }
        let mut resolved = Vec::new();
        let mut complete = true;
        for index in 0..rollback.alarms.len() {
            match self.rollback_alarm(plan, &rollback.alarms, index, &rules) {
                Some(rule) => resolved.push(rule),
                None => complete = false,
            }
        }
        complete.then_some(resolved)
    }

    /// The rule of rollback alarm `index` of `listed`, if it names a valid
    /// metric alarm of the plan; `rules` are the plan's alarms' rules.
    fn rollback_alarm(
        &mut self,
        plan: &Plan,
        listed: &[AlarmRef],
        index: usize,
        rules: &[Option<AlarmRule>],
    ) -> Option<AlarmRule> {
        let field = Field::RollbackAlarm(index);
        let name = &listed.get(index)?.alarm_name;
        if name.trim().is_empty() {
            self.error(
                field,
                "required",
                "is required: 1 to 255 characters, not only white space",
            );
            return None;
        }
        self.alarm_name(field, name);
        if listed[..index]
            .iter()
            .any(|earlier| &earlier.alarm_name == name)
        {
            self.error(
                field,
                "duplicate_alarm",
                format!("`{name}` is listed more than once"),
            );
        }
        let composite = plan
            .composite_alarms
            .iter()
            .any(|alarm| &alarm.alarm_name == name);
        match plan
            .alarms
            .iter()
            .position(|alarm| &alarm.alarm_name == name)
        {
            None if composite => {
                self.error(
                    field,
                    "composite_rollback",
                    format!(
                        "`{name}` is a composite alarm, and guardrail assumes SageMaker does not roll back on \
                         one (AWS does not say; SageMaker reads alarms with DescribeAlarms, which returns only \
                         metric alarms unless asked for composite ones). List the metric alarms it names instead"
                    ),
                );
                None
            }
            None => {
                self.error(
                    field,
                    "alarm_undefined",
                    format!(
                        "`{name}` is not defined in Alarms; define it there so guardrail can evaluate it"
                    ),
                );
                None
            }
            Some(position) => rules.get(position).cloned().flatten(),
        }
    }

    /// One `PutMetricAlarm` request: who it is, what it watches, how it counts
    /// and when it fires. Returns the rule only when all of it is valid.
    /// `scope_for` says what a metric is to this rollout.
    fn alarm(
        &mut self,
        index: usize,
        alarm: &MetricAlarm,
        scope_for: &dyn Fn(&MetricIdentity) -> Scope,
    ) -> Option<AlarmRule> {
        let errors_before = self.errors.len();
        self.alarm_identity(index, alarm);
        if alarm.threshold_metric_id.is_some() {
            self.error(
                Field::Alarm(index, AlarmField::ThresholdMetricId),
                "anomaly_detection_unsupported",
                "anomaly-detection alarms need a band, which guardrail does not model; use Threshold",
            );
        }
        let (source, period) = if alarm.is_math() {
            self.math_alarm(index, alarm, scope_for)
        } else {
            self.single_metric(index, alarm, scope_for)
        };
        let window = self.alarm_window(index, alarm, period);
        let condition = self.alarm_condition(index, alarm);
        if self.errors.len() > errors_before {
            return None;
        }
        let window = window?;
        let (threshold, comparison) = condition?;
        Some(AlarmRule {
            name: alarm.alarm_name.clone(),
            source: source?,
            period_seconds: window.period,
            evaluation_periods: window.evaluation_periods,
            datapoints_to_alarm: window.datapoints,
            threshold,
            comparison,
            treat_missing_data: alarm
                .treat_missing_data
                .unwrap_or(TreatMissingData::Missing),
            low_sample_count: alarm
                .evaluate_low_sample_count_percentile
                .unwrap_or(LowSampleCountPercentile::Evaluate),
        })
    }

    /// A single-metric alarm: its metric, statistic and period.
    fn single_metric(
        &mut self,
        index: usize,
        alarm: &MetricAlarm,
        scope_for: &dyn Fn(&MetricIdentity) -> Scope,
    ) -> (Option<Source>, Option<u32>) {
        self.alarm_metric(index, alarm);
        let stat = self.alarm_statistic(index, alarm);
        let period = self.period(Field::Alarm(index, AlarmField::Period), alarm.period);
        let identity = MetricIdentity::new(
            &alarm.namespace,
            &alarm.metric_name,
            alarm.dimensions.clone(),
        );
        let source = stat.map(|stat| Source::Metric(query_of(identity, stat, scope_for)));
        (source, period)
    }

    /// A metric math alarm: `Metrics` in place of the metric, each query
    /// checked, and the expression that returns data resolved.
    fn math_alarm(
        &mut self,
        index: usize,
        alarm: &MetricAlarm,
        scope_for: &dyn Fn(&MetricIdentity) -> Scope,
    ) -> (Option<Source>, Option<u32>) {
        let field = |part| Field::Alarm(index, part);
        self.math_conflicts(index, alarm);
        let queries: &[MetricDataQuery] = alarm.metrics.as_deref().unwrap_or_default();
        if !self.math_counts(index, queries) {
            return (None, None);
        }
        let mut checked = MathQueries {
            periods_agree: true,
            ..MathQueries::default()
        };
        for position in 0..queries.len() {
            self.math_query(index, queries, position, scope_for, &mut checked);
        }
        let returning: Vec<usize> = queries
            .iter()
            .enumerate()
            .filter(|(_, query)| query.returns_data())
            .map(|(position, _)| position)
            .collect();
        if returning.len() != 1 {
            self.error(
                field(AlarmField::Metrics),
                "return_data",
                format!(
                    "{} queries return data; exactly one must (ReturnData true, and false on every other: it is true when left out)",
                    returning.len()
                ),
            );
            return (None, checked.period);
        }
        let returned = returning[0];
        let resolved_returned = self.resolve_math(index, queries, &checked, returned);
        if !checked.periods_agree || checked.metrics.iter().any(Option::is_none) {
            return (None, checked.period);
        }
        let metrics: Vec<Query> = checked.metrics.into_iter().flatten().collect();
        if metrics.is_empty() {
            self.error(
                field(AlarmField::Metrics),
                "metric_count",
                "holds no MetricStat: an alarm's expression reads at least one metric",
            );
            return (None, checked.period);
        }
        let expression = match (&queries[returned].metric_stat, resolved_returned) {
            (Some(_), _) => checked.metric_of_query[returned].map(Expr::Metric),
            (None, resolved) => resolved,
        };
        let label = queries[returned]
            .label
            .clone()
            .filter(|label| !label.trim().is_empty())
            .or_else(|| queries[returned].expression.clone())
            .unwrap_or_else(|| queries[returned].id.clone());
        let source = expression.map(|expression| Source::Math {
            metrics,
            expression,
            label,
        });
        (source, checked.period)
    }

    /// What a math alarm leaves out: its metrics are in `Metrics`.
    fn math_conflicts(&mut self, index: usize, alarm: &MetricAlarm) {
        let field = |part| Field::Alarm(index, part);
        for (part, given) in [
            (AlarmField::Namespace, !alarm.namespace.is_empty()),
            (AlarmField::MetricName, !alarm.metric_name.is_empty()),
            (AlarmField::Dimensions, !alarm.dimensions.is_empty()),
            (AlarmField::Statistic, alarm.statistic.is_some()),
            (
                AlarmField::ExtendedStatistic,
                alarm.extended_statistic.is_some(),
            ),
            (AlarmField::Period, alarm.period.is_some()),
            (AlarmField::Unit, alarm.unit.is_some()),
        ] {
            if given {
                self.error(
                    field(part),
                    "math_conflict",
                    format!(
                        "a metric math alarm (Metrics) leaves out {}: each metric in Metrics has its own",
                        part.name()
                    ),
                );
            }
        }
    }

    /// How many queries, metrics and expressions a math alarm holds; `false`
    /// when too few or too many to go on.
    fn math_counts(&mut self, index: usize, queries: &[MetricDataQuery]) -> bool {
        let field = |part| Field::Alarm(index, part);
        let stats = queries
            .iter()
            .filter(|query| query.metric_stat.is_some())
            .count();
        let expressions = queries
            .iter()
            .filter(|query| query.expression.is_some())
            .count();
        if queries.is_empty() || queries.len() > MAX_METRIC_QUERIES {
            self.error(
                field(AlarmField::Metrics),
                "metric_count",
                format!(
                    "holds {} queries; allowed 1 to {MAX_METRIC_QUERIES}",
                    queries.len()
                ),
            );
            return false;
        }
        if stats > MAX_METRIC_STATS || expressions > MAX_EXPRESSIONS {
            self.error(
                field(AlarmField::Metrics),
                "metric_count",
                format!(
                    "holds {stats} metrics and {expressions} expressions; at most {MAX_METRIC_STATS} of each"
                ),
            );
        }
        true
    }

    /// One query of a math alarm: its Id, then a MetricStat or an expression.
    fn math_query(
        &mut self,
        index: usize,
        queries: &[MetricDataQuery],
        position: usize,
        scope_for: &dyn Fn(&MetricIdentity) -> Scope,
        checked: &mut MathQueries,
    ) {
        let query = &queries[position];
        let at = |part| Field::AlarmQuery(index, position, part);
        self.query_id(at(QueryField::Id), &query.id);
        if queries[..position]
            .iter()
            .any(|earlier| earlier.id == query.id)
            && !query.id.is_empty()
        {
            self.error(
                at(QueryField::Id),
                "duplicate_id",
                format!(
                    "`{}` is the Id of another query; each Id is unique",
                    query.id
                ),
            );
        }
        if query.account_id.is_some() {
            self.error(
                at(QueryField::AccountId),
                "cross_account_unsupported",
                "guardrail reads the metrics of one account; leave AccountId out",
            );
        }
        let expression_fits = query.expression.as_deref().is_none_or(|text| {
            let length = chars(text);
            let fits = (1..=EXPRESSION_MAX).contains(&length);
            if !fits {
                self.error(
                    at(QueryField::Expression),
                    "out_of_range",
                    format!("is {length} characters long; allowed 1 to {EXPRESSION_MAX}"),
                );
            }
            fits
        });
        match (&query.metric_stat, &query.expression) {
            (Some(_), Some(_)) | (None, None) => {
                self.error(
                    at(QueryField::Whole),
                    "query_kind",
                    "give exactly one of MetricStat and Expression",
                );
                checked.metric_of_query.push(None);
                checked.parsed.push(None);
            }
            (Some(stat), None) => self.math_metric_stat(&at, query, stat, scope_for, checked),
            (None, Some(text)) => {
                if query.period.is_some() {
                    self.error(
                        at(QueryField::Period),
                        "math_conflict",
                        "Period on an expression is for INSIGHT_RULE_METRIC, which guardrail does not evaluate; leave it out",
                    );
                }
                checked.metric_of_query.push(None);
                if !expression_fits {
                    checked.parsed.push(None);
                    return;
                }
                match math::parse(text) {
                    Ok(expr) => checked.parsed.push(Some(expr)),
                    Err(error) => {
                        self.math_error(at(QueryField::Expression), &query.id, &error);
                        checked.parsed.push(None);
                    }
                }
            }
        }
    }

    /// A MetricStat query: its period (one for all the alarm's metrics), its
    /// metric, unit and statistic.
    fn math_metric_stat(
        &mut self,
        at: &dyn Fn(QueryField) -> Field,
        query: &MetricDataQuery,
        stat: &MetricStat,
        scope_for: &dyn Fn(&MetricIdentity) -> Scope,
        checked: &mut MathQueries,
    ) {
        if query.period.is_some() {
            self.error(
                at(QueryField::Period),
                "math_conflict",
                "a MetricStat query sets its period in MetricStat.Period",
            );
        }
        let leaf_period = self.period(at(QueryField::StatPeriod), stat.period);
        match (checked.period, leaf_period) {
            (None, Some(leaf)) => checked.period = Some(leaf),
            (Some(first), Some(leaf)) if first != leaf => {
                checked.periods_agree = false;
                self.error(
                        at(QueryField::StatPeriod),
                        "period_mismatch",
                        format!(
                            "is {leaf} s, but the alarm's other metrics use {first} s; an alarm's metrics share one period"
                        ),
                    );
            }
            _ => {}
        }
        let identity = &stat.metric;
        self.metric_identity(
            (
                at(QueryField::Namespace),
                at(QueryField::MetricName),
                at(QueryField::Dimensions),
            ),
            identity,
            &|position, part| at(QueryField::Dimension(position, part)),
        );
        self.unit(at(QueryField::Unit), stat.unit.as_deref());
        let parsed_stat = self.stat_text(at(QueryField::Stat), &stat.stat);
        checked.metric_of_query.push(Some(checked.metrics.len()));
        checked
            .metrics
            .push(parsed_stat.map(|stat| query_of(identity.clone(), stat, scope_for)));
        checked.parsed.push(None);
    }

    /// Resolves every expression, so that each problem is at its own query;
    /// the expression of the query that returns data, when it resolves.
    fn resolve_math(
        &mut self,
        index: usize,
        queries: &[MetricDataQuery],
        checked: &MathQueries,
        returned: usize,
    ) -> Option<Expr> {
        // Resolve every expression, so that each problem is at its own query.
        let lookup = |id: &str| -> Option<Definition<'_>> {
            let position = queries.iter().position(|query| query.id == id)?;
            match (
                &checked.metric_of_query[position],
                &checked.parsed[position],
            ) {
                (Some(metric), _) => Some(Definition::Metric(*metric)),
                (None, Some(expr)) => Some(Definition::Expression(expr)),
                (None, None) => None,
            }
        };
        let mut resolved_returned = None;
        for (position, expr) in checked.parsed.iter().enumerate() {
            let Some(expr) = expr else { continue };
            let mut visiting = vec![queries[position].id.clone()];
            let resolved = math::resolve(expr, &lookup, &mut visiting).and_then(|resolved| {
                if position == returned {
                    math::check_returns_series(&resolved).map(|()| resolved)
                } else {
                    math::kind(&resolved).map(|_| resolved)
                }
            });
            match resolved {
                Ok(resolved) if position == returned => resolved_returned = Some(resolved),
                Ok(_) => {}
                // An id of a query that is itself wrong: that query says so.
                Err(math::MathError::UnknownId(id))
                    if queries.iter().any(|query| query.id == id) => {}
                Err(error) => self.math_error(
                    Field::AlarmQuery(index, position, QueryField::Expression),
                    &queries[position].id,
                    &error,
                ),
            }
        }
        resolved_returned
    }

    /// A query's `Id`: a lower-case letter, then letters, digits and underscores.
    fn query_id(&mut self, field: Field, id: &str) {
        let valid = id.as_bytes().first().is_some_and(u8::is_ascii_lowercase)
            && chars(id) <= 255
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid {
            self.error(
                field,
                "pattern",
                format!(
                    "`{id}` is not a query Id: start with a lower-case letter, then letters, digits and underscores (at most 255)"
                ),
            );
        }
    }

    fn math_error(&mut self, field: Field, id: &str, error: &math::MathError) {
        let code = match error {
            math::MathError::Syntax { .. } => "expression_syntax",
            math::MathError::UnknownFunction(_) => "expression_unknown_function",
            math::MathError::Unsupported(_) => "expression_unsupported",
            math::MathError::UnknownId(_) => "expression_unknown_id",
            math::MathError::Cycle(_) => "expression_cycle",
            math::MathError::Invalid(_) => "expression_invalid",
        };
        self.error(field, code, format!("Error in expression {id}: {error}"));
    }

    /// An alarm period: 10, 20, 30 (high resolution) or a multiple of 60 seconds.
    fn period(&mut self, field: Field, period: Option<i64>) -> Option<u32> {
        match period {
            None => {
                self.error(
                    field,
                    "required",
                    "is required: 10, 20, 30 or a multiple of 60 seconds",
                );
                None
            }
            Some(period) => match u32::try_from(period) {
                Ok(period)
                    if period >= 1 && (matches!(period, 10 | 20 | 30) || period % 60 == 0) =>
                {
                    Some(period)
                }
                _ => {
                    self.error(
                        field,
                        "period_invalid",
                        format!(
                            "{period} s is not allowed; use 10, 20, 30 or a multiple of 60 seconds"
                        ),
                    );
                    None
                }
            },
        }
    }

    /// The name, the description and the actions.
    fn alarm_identity(&mut self, index: usize, alarm: &MetricAlarm) {
        let field = |part| Field::Alarm(index, part);
        self.identity(
            (field(AlarmField::AlarmName), &alarm.alarm_name),
            (
                field(AlarmField::AlarmDescription),
                alarm.alarm_description.as_deref(),
            ),
            [
                (field(AlarmField::OkActions), alarm.ok_actions.as_deref()),
                (
                    field(AlarmField::AlarmActions),
                    alarm.alarm_actions.as_deref(),
                ),
                (
                    field(AlarmField::InsufficientDataActions),
                    alarm.insufficient_data_actions.as_deref(),
                ),
            ],
        );
    }

    /// Any alarm's name, description and actions.
    fn identity(
        &mut self,
        (name_field, name): (Field, &str),
        (description_field, description): (Field, Option<&str>),
        actions: [(Field, Option<&[String]>); 3],
    ) {
        if name.trim().is_empty() {
            self.error(name_field, "required", "is required: 1 to 255 characters");
        } else {
            self.alarm_name(name_field, name);
        }
        if let Some(description) = description {
            if chars(description) > ALARM_DESCRIPTION_MAX {
                self.error(
                    description_field,
                    "too_long",
                    format!(
                        "is {} characters long; at most {ALARM_DESCRIPTION_MAX}",
                        chars(description)
                    ),
                );
            }
        }
        for (field, actions) in actions {
            self.actions(field, actions);
        }
    }

    /// The namespace, the metric, its dimensions and its unit.
    fn alarm_metric(&mut self, index: usize, alarm: &MetricAlarm) {
        let field = |part| Field::Alarm(index, part);
        let identity = MetricIdentity::new(
            &alarm.namespace,
            &alarm.metric_name,
            alarm.dimensions.clone(),
        );
        self.metric_identity(
            (
                field(AlarmField::Namespace),
                field(AlarmField::MetricName),
                field(AlarmField::Dimensions),
            ),
            &identity,
            &|position, part| Field::Dimension(index, position, part),
        );
        self.unit(field(AlarmField::Unit), alarm.unit.as_deref());
    }

    /// A metric's namespace, name and dimensions, with CloudWatch's lengths
    /// and its namespace pattern `[^:].*`.
    fn metric_identity(
        &mut self,
        (namespace, metric_name, dimensions): (Field, Field, Field),
        identity: &MetricIdentity,
        dimension_field: &dyn Fn(usize, DimensionPart) -> Field,
    ) {
        if self.length(
            namespace,
            &identity.namespace,
            (1, METRIC_TEXT_MAX),
            "a namespace such as AWS/SageMaker",
        ) && (identity.namespace.starts_with(':') || has_line_break(&identity.namespace))
        {
            self.error(
                namespace,
                "pattern",
                "must not start with `:` or contain a line break ([^:].*)",
            );
        }
        self.length(
            metric_name,
            &identity.metric_name,
            (1, METRIC_TEXT_MAX),
            "a metric name such as Invocation5XXErrors",
        );
        self.dimensions(dimensions, &identity.dimensions, dimension_field);
    }

    fn dimensions(
        &mut self,
        field: Field,
        dimensions: &[Dimension],
        dimension_field: &dyn Fn(usize, DimensionPart) -> Field,
    ) {
        if dimensions.len() > MAX_DIMENSIONS {
            self.error(
                field,
                "too_many",
                format!(
                    "has {} dimensions; at most {MAX_DIMENSIONS}",
                    dimensions.len()
                ),
            );
        }
        for (position, dimension) in dimensions.iter().enumerate() {
            if dimension.name.is_empty() || chars(&dimension.name) > DIMENSION_NAME_MAX {
                self.error(
                    dimension_field(position, DimensionPart::Name),
                    "required",
                    format!("is required: 1 to {DIMENSION_NAME_MAX} characters"),
                );
            }
            if dimension.value.is_empty() || chars(&dimension.value) > DIMENSION_VALUE_MAX {
                self.error(
                    dimension_field(position, DimensionPart::Value),
                    "required",
                    format!("is required: 1 to {DIMENSION_VALUE_MAX} characters"),
                );
            }
        }
    }

    fn unit(&mut self, field: Field, unit: Option<&str>) {
        if let Some(unit) = unit {
            if !STANDARD_UNITS.contains(&unit) {
                self.error(
                    field,
                    "unit_unknown",
                    format!(
                        "`{unit}` is not a CloudWatch unit; use one of {}, or leave Unit out (AWS recommends omitting it)",
                        STANDARD_UNITS.join(", ")
                    ),
                );
            }
        }
    }

    /// A `MetricStat.Stat`: a basic statistic or a percentile.
    fn stat_text(&mut self, field: Field, text: &str) -> Option<Stat> {
        let parsed = crate::plan::Statistic::ALL
            .into_iter()
            .find(|statistic| statistic.as_str() == text)
            .map(Stat::Basic)
            .or_else(|| Stat::parse_percentile(text));
        if parsed.is_none() {
            self.error(
                field,
                if text.is_empty() { "required" } else { "extended_statistic" },
                format!(
                    "`{text}` is not supported; use SampleCount, Average, Sum, Minimum, Maximum or a percentile p0 to p100 such as p99"
                ),
            );
        }
        parsed
    }

    /// `Statistic` or `ExtendedStatistic`, exactly one of them.
    fn alarm_statistic(&mut self, index: usize, alarm: &MetricAlarm) -> Option<Stat> {
        match (&alarm.statistic, &alarm.extended_statistic) {
            (Some(_), Some(_)) => {
                self.error(
                    Field::Alarm(index, AlarmField::ExtendedStatistic),
                    "statistic_conflict",
                    "give either Statistic or ExtendedStatistic, not both",
                );
                None
            }
            (None, None) => {
                self.error(
                    Field::Alarm(index, AlarmField::Statistic),
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
                        Field::Alarm(index, AlarmField::ExtendedStatistic),
                        "extended_statistic",
                        format!(
                            "`{extended}` is not supported; use a percentile p0 to p100, such as p99 or p99.9"
                        ),
                    );
                }
                parsed
            }
        }
    }

    /// `EvaluationPeriods` and `DatapointsToAlarm` with the alarm's period
    /// (checked already), and the window they span.
    fn alarm_window(
        &mut self,
        index: usize,
        alarm: &MetricAlarm,
        period: Option<u32>,
    ) -> Option<Window> {
        let field = |part| Field::Alarm(index, part);
        let evaluation_periods = self.integer(
            field(AlarmField::EvaluationPeriods),
            alarm.evaluation_periods,
            (1, u32::MAX),
            true,
        );
        let mut window_fits = true;
        if let (Some(period), Some(count)) = (period, evaluation_periods) {
            let window = u64::from(period) * u64::from(count);
            let (limit, span) = if period < 3_600 {
                (
                    WINDOW_MAX_SHORT_PERIODS,
                    "(one day) when Period is under an hour",
                )
            } else {
                (WINDOW_MAX, "(one week)")
            };
            if window > limit {
                window_fits = false;
                self.error(
                    field(AlarmField::EvaluationPeriods),
                    "evaluation_window_too_long",
                    format!("Period × EvaluationPeriods = {window} s; at most {limit} s {span}"),
                );
            }
        }
        let datapoints = match alarm.datapoints_to_alarm {
            None => evaluation_periods,
            Some(value) if value < 1 => {
                self.error(
                    field(AlarmField::DatapointsToAlarm),
                    "out_of_range",
                    format!("{value} is out of range; at least 1"),
                );
                None
            }
            Some(value) => match evaluation_periods {
                Some(count) if value > i64::from(count) => {
                    self.error(
                        field(AlarmField::DatapointsToAlarm),
                        "datapoints_exceed_periods",
                        format!(
                            "{value} is larger than EvaluationPeriods ({count}); allowed 1 to {count}"
                        ),
                    );
                    None
                }
                _ => u32::try_from(value).ok(),
            },
        };
        if !window_fits {
            return None;
        }
        Some(Window {
            period: period?,
            evaluation_periods: evaluation_periods?,
            datapoints: datapoints?,
        })
    }

    /// `Threshold` and `ComparisonOperator`.
    fn alarm_condition(&mut self, index: usize, alarm: &MetricAlarm) -> Option<(f64, Comparison)> {
        let field = |part| Field::Alarm(index, part);
        let threshold = match alarm.threshold {
            None => {
                self.error(
                    field(AlarmField::Threshold),
                    "required",
                    "is required: the value the statistic is compared with",
                );
                None
            }
            Some(value) if !value.is_finite() => {
                self.error(
                    field(AlarmField::Threshold),
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
                    field(AlarmField::ComparisonOperator),
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
                    field(AlarmField::ComparisonOperator),
                    "comparison_unsupported",
                    format!(
                        "{} needs an anomaly-detection band, which guardrail does not model; use a threshold operator",
                        other.as_str()
                    ),
                );
                None
            }
        };
        Some((threshold?, comparison?))
    }

    /// The plan's composite alarms: each valid on its own, names unique among
    /// all the plan's alarms, and every alarm a rule names defined.
    fn composites(&mut self, plan: &Plan) {
        if plan.composite_alarms.len() > MAX_COMPOSITE_ALARMS {
            self.error(
                Field::CompositeAlarms,
                "too_many",
                format!(
                    "defines {} composite alarms; at most {MAX_COMPOSITE_ALARMS}",
                    plan.composite_alarms.len()
                ),
            );
        }
        for (index, alarm) in plan.composite_alarms.iter().enumerate() {
            let rule = self.composite(index, alarm);
            let name = &alarm.alarm_name;
            let earlier = plan.alarms.iter().any(|other| &other.alarm_name == name)
                || plan.composite_alarms[..index]
                    .iter()
                    .any(|other| &other.alarm_name == name);
            if earlier && !name.is_empty() {
                self.error(
                    Field::Composite(index, CompositeField::AlarmName),
                    "duplicate_alarm",
                    format!(
                        "`{name}` is defined more than once; alarm names are unique per Region"
                    ),
                );
            }
            let Some(rule) = rule else { continue };
            let missing: Vec<&str> = rule
                .children()
                .into_iter()
                .filter(|child| {
                    !plan.alarms.iter().any(|alarm| alarm.alarm_name == *child)
                        && !plan
                            .composite_alarms
                            .iter()
                            .any(|alarm| alarm.alarm_name == *child)
                })
                .collect();
            if !missing.is_empty() {
                self.error(
                    Field::Composite(index, CompositeField::AlarmRule),
                    "alarm_undefined",
                    format!(
                        "Could not save the composite alarm as alarms [{}] in the alarm rule do not exist; define them in Alarms or CompositeAlarms",
                        missing.join(", ")
                    ),
                );
            }
            if rule.children().contains(&name.as_str()) {
                self.error(
                    Field::Composite(index, CompositeField::AlarmRule),
                    "composite_cycle",
                    format!("`{name}` names itself; CloudWatch stops evaluating a cycle"),
                );
            }
        }
    }

    /// One `PutCompositeAlarm` request on its own.
    fn composite(&mut self, index: usize, alarm: &CompositeAlarm) -> Option<composite::Rule> {
        let field = |part| Field::Composite(index, part);
        self.identity(
            (field(CompositeField::AlarmName), &alarm.alarm_name),
            (
                field(CompositeField::AlarmDescription),
                alarm.alarm_description.as_deref(),
            ),
            [
                (
                    field(CompositeField::OkActions),
                    alarm.ok_actions.as_deref(),
                ),
                (
                    field(CompositeField::AlarmActions),
                    alarm.alarm_actions.as_deref(),
                ),
                (
                    field(CompositeField::InsufficientDataActions),
                    alarm.insufficient_data_actions.as_deref(),
                ),
            ],
        );
        match composite::parse(&alarm.alarm_rule) {
            Ok(rule) => Some(rule),
            Err(error) => {
                let code = if alarm.alarm_rule.is_empty() {
                    "required"
                } else {
                    "alarm_rule_invalid"
                };
                self.error(field(CompositeField::AlarmRule), code, error.to_string());
                None
            }
        }
    }

    /// An alarm's actions: at most 5 ARNs of 1 to 1024 characters.
    fn actions(&mut self, field: Field, actions: Option<&[String]>) {
        let Some(actions) = actions else { return };
        if actions.len() > MAX_ACTIONS {
            self.error(
                field,
                "too_many",
                format!("lists {} actions; at most {MAX_ACTIONS}", actions.len()),
            );
        }
        if let Some(bad) = actions
            .iter()
            .find(|action| action.is_empty() || chars(action) > ACTION_MAX)
        {
            self.error(
                field,
                "out_of_range",
                format!(
                    "an action is {} characters long; each ARN is 1 to {ACTION_MAX} characters",
                    chars(bad)
                ),
            );
        }
    }

    /// The scenario's models of the team's own metrics.
    fn team_metrics(&mut self, metrics: &[TeamMetric]) {
        if metrics.len() > MAX_TEAM_METRICS {
            self.error(
                Field::Scenario(ScenarioField::TeamMetrics),
                "too_many",
                format!(
                    "models {} team metrics; at most {MAX_TEAM_METRICS}",
                    metrics.len()
                ),
            );
        }
        for index in 0..metrics.len() {
            self.team_metric(metrics, index);
        }
    }

    /// Team metric `index` of `metrics`: its identity, outside AWS's
    /// namespaces and modelled once, and its model's numbers.
    fn team_metric(&mut self, metrics: &[TeamMetric], index: usize) {
        let Some(metric) = metrics.get(index) else {
            return;
        };
        let at = |part| Field::TeamMetric(index, part);
        self.metric_identity(
            (
                at(TeamMetricField::Namespace),
                at(TeamMetricField::MetricName),
                at(TeamMetricField::Dimensions),
            ),
            &metric.identity(),
            &|_, _| at(TeamMetricField::Dimensions),
        );
        if metric.namespace.starts_with("AWS/") {
            self.error(
                at(TeamMetricField::Namespace),
                "aws_namespace",
                format!(
                    "`{}` is an AWS namespace: the team publishes its own metrics under another (CloudWatch refuses PutMetricData to AWS/ namespaces)",
                    metric.namespace
                ),
            );
        }
        if metrics[..index]
            .iter()
            .any(|earlier| earlier.identity().same_as(&metric.identity()))
        {
            self.error(
                at(TeamMetricField::MetricName),
                "duplicate_metric",
                "the same metric (namespace, name and dimensions) is modelled twice",
            );
        }
        for (part, value) in [
            (TeamMetricField::Level, metric.level),
            (TeamMetricField::Noise, metric.noise),
            (TeamMetricField::GreenLevel, metric.green_level),
        ] {
            match value {
                Some(value) if !value.is_finite() || value.abs() > 1e15 => self.error(
                    at(part),
                    "out_of_range",
                    format!("{value} is out of range; a finite number within ±1e15"),
                ),
                Some(value) if part == TeamMetricField::Noise && value < 0.0 => self.error(
                    at(part),
                    "out_of_range",
                    format!("{value} is out of range; a standard deviation is 0 or more"),
                ),
                _ => {}
            }
        }
        if metric.kind == TeamMetricKind::Level && metric.level.is_none() {
            self.error(
                at(TeamMetricField::Level),
                "required",
                "is required for a Level metric: its value while green is healthy",
            );
        }
        self.integer(
            at(TeamMetricField::PublishSeconds),
            metric.publish_seconds,
            (1, PUBLISH_SECONDS_MAX),
            false,
        );
        if let Some(resolution) = metric.storage_resolution {
            if resolution != 1 && resolution != 60 {
                self.error(
                    at(TeamMetricField::StorageResolution),
                    "out_of_range",
                    format!("{resolution} is not allowed; 1 (high resolution) or 60 (standard)"),
                );
            }
        }
    }

    fn scenario(&mut self, scenario: &Scenario) {
        self.team_metrics(&scenario.team_metrics);
        let rps = scenario.requests_per_second;
        if !(rps > 0.0 && rps <= REQUESTS_PER_SECOND_MAX) {
            self.error(
                Field::Scenario(ScenarioField::RequestsPerSecond),
                "out_of_range",
                format!(
                    "{rps} is out of range; allowed more than 0 up to {REQUESTS_PER_SECOND_MAX}"
                ),
            );
        }
        for (fleet, error_rate, latency) in [
            (
                Fleet::Blue,
                scenario.blue.error_rate,
                scenario.blue.latency_ms,
            ),
            (
                Fleet::Green,
                scenario.green.error_rate,
                scenario.green.latency_ms,
            ),
        ] {
            if !(0.0..=1.0).contains(&error_rate) {
                self.error(
                    Field::Scenario(ScenarioField::ErrorRate(fleet)),
                    "out_of_range",
                    format!(
                        "{error_rate} is out of range; allowed 0 to 1 (a fraction, 0.05 = 5 %)"
                    ),
                );
            }
            if !(latency > 0.0 && latency <= LATENCY_MS_MAX) {
                self.error(
                    Field::Scenario(ScenarioField::LatencyMs(fleet)),
                    "out_of_range",
                    format!(
                        "{latency} is out of range; allowed more than 0 up to {LATENCY_MS_MAX} ms"
                    ),
                );
            }
        }
        let onset = scenario.green.onset_seconds;
        if !(0.0..=ONSET_SECONDS_MAX).contains(&onset) {
            self.error(
                Field::Scenario(ScenarioField::OnsetSeconds),
                "out_of_range",
                format!("{onset} is out of range; allowed 0 to {ONSET_SECONDS_MAX} s"),
            );
        }
        if let Some(required) = scenario.required_detection {
            if !(0.0..=1.0).contains(&required) {
                self.error(
                    Field::Scenario(ScenarioField::RequiredDetection),
                    "out_of_range",
                    format!("{required} is out of range; allowed 0 to 1 (a fraction, 0.9 = 90 %)"),
                );
            }
        }
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

/// What the queries of a math alarm came to, one entry per query.
#[derive(Default)]
struct MathQueries {
    /// Each MetricStat's query once checked (`None` where it is wrong).
    metrics: Vec<Option<Query>>,
    /// Per query: its index in `metrics`, if it is a MetricStat.
    metric_of_query: Vec<Option<usize>>,
    /// Per query: its expression, if it is one and it parses.
    parsed: Vec<Option<Expr>>,
    /// The metrics' one period, and whether they all agree on it.
    period: Option<u32>,
    periods_agree: bool,
}

#[cfg(test)]
mod tests {
    use crate::rollout::Strategy;
    use crate::{check_json, examples};

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
            (
                "all at once still needs WaitIntervalInSeconds",
                Box::new(|v| {
                    set(v, &format!("{TRC_PTR}/Type"), json!("ALL_AT_ONCE"));
                    v.pointer_mut(TRC_PTR)
                        .and_then(|t| t.as_object_mut())
                        .map(|t| t.remove("WaitIntervalInSeconds"));
                }),
                vec![(
                    "DeploymentConfig.BlueGreenUpdatePolicy.TrafficRoutingConfiguration.WaitIntervalInSeconds",
                    "required",
                )],
            ),
            (
                "a canary of i64::MAX instances does not overflow",
                Box::new(|v| set(v, &format!("{TRC_PTR}/CanarySize/Value"), json!(i64::MAX))),
                vec![(
                    "DeploymentConfig.BlueGreenUpdatePolicy.TrafficRoutingConfiguration.CanarySize.Value",
                    "canary_too_large",
                )],
            ),
            (
                "a period that does not fit 32 bits does not wrap",
                Box::new(|v| set(v, "/Alarms/0/Period", json!(60_i64 << 32))),
                vec![("Alarms[0].Period", "period_invalid")],
            ),
            (
                "a huge window does not overflow",
                Box::new(|v| {
                    set(v, "/Alarms/0/Period", json!(3_600));
                    set(v, "/Alarms/0/EvaluationPeriods", json!(u32::MAX));
                }),
                vec![("Alarms[0].EvaluationPeriods", "evaluation_window_too_long")],
            ),
            (
                "instance count past 32 bits",
                Box::new(|v| set(v, "/InstanceCount", json!(i64::MAX))),
                vec![("InstanceCount", "out_of_range")],
            ),
            (
                "a unit CloudWatch does not know",
                Box::new(|v| set(v, "/Alarms/1/Unit", json!("Microsecond"))),
                vec![("Alarms[1].Unit", "unit_unknown")],
            ),
            (
                "a unit CloudWatch knows",
                Box::new(|v| set(v, "/Alarms/1/Unit", json!("Microseconds"))),
                vec![],
            ),
            (
                "an alarm name may be any UTF-8 but not a control character",
                Box::new(|v| {
                    set(v, "/Alarms/0/AlarmName", json!("5xx-\u{e9}l\u{e8}ve"));
                    set(v, "/DeploymentConfig/AutoRollbackConfiguration/Alarms/0/AlarmName", json!("5xx-\u{e9}l\u{e8}ve"));
                    set(v, "/Alarms/1/AlarmName", json!("two\nlines"));
                    set(v, "/DeploymentConfig/AutoRollbackConfiguration/Alarms/1/AlarmName", json!("two\nlines"));
                }),
                vec![
                    ("Alarms[1].AlarmName", "control_character"),
                    ("DeploymentConfig.AutoRollbackConfiguration.Alarms[1].AlarmName", "control_character"),
                ],
            ),
            (
                "six alarm actions",
                Box::new(|v| set(v, "/Alarms/0/AlarmActions", json!(vec!["arn:aws:sns:us-east-1:1:t"; 6]))),
                vec![("Alarms[0].AlarmActions", "too_many")],
            ),
            (
                "a description over 1024 characters",
                Box::new(|v| set(v, "/Alarms/0/AlarmDescription", json!("\u{e9}".repeat(1_025)))),
                vec![("Alarms[0].AlarmDescription", "too_long")],
            ),
            (
                "a description of 1024 two-byte characters",
                Box::new(|v| set(v, "/Alarms/0/AlarmDescription", json!("\u{e9}".repeat(1_024)))),
                vec![],
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

    /// Applies `edit` to the team example (a new-fleet error rate by metric
    /// math at Alarms[2], team metrics, a composite alarm) and checks that
    /// exactly the expected (path, code) errors come back.
    fn check_team_errors(edit: impl FnOnce(&mut serde_json::Value), expected: &[(&str, &str)]) {
        let mut value: serde_json::Value =
            serde_json::from_str(examples::TEAM_GUARDRAILS).expect("example parses");
        edit(&mut value);
        let (_, checked) = check_json(&value.to_string()).expect("still a plan");
        let got: Vec<(&str, &str)> = checked
            .report
            .errors
            .iter()
            .map(|problem| (problem.path.as_str(), problem.code.as_str()))
            .collect();
        assert_eq!(got, expected, "errors: {:#?}", checked.report.errors);
    }

    /// Each case's edit of the team-guardrails example, and the errors it
    /// must give, named when one fails.
    fn run_team_cases(cases: Vec<Case>) {
        for (name, edit, expected) in cases {
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                check_team_errors(edit, &expected)
            }));
            assert!(run.is_ok(), "case `{name}` failed");
        }
    }

    #[test]
    fn math_composite_and_team_metric_table() {
        use serde_json::json;
        let expression = "/Alarms/2/Metrics/2/Expression";
        let at = "Alarms[2].Metrics[2].Expression";
        let cases: Vec<Case> = vec![
            ("valid", Box::new(|_| {}), vec![]),
            (
                "a function guardrail does not evaluate",
                Box::new(move |v| set(v, expression, json!("RATE(errors)"))),
                vec![(at, "expression_unsupported")],
            ),
            (
                "a function CloudWatch does not have",
                Box::new(move |v| set(v, expression, json!("FOO(errors)"))),
                vec![(at, "expression_unknown_function")],
            ),
            (
                "an unknown id",
                Box::new(move |v| set(v, expression, json!("100 * errs / requests"))),
                vec![(at, "expression_unknown_id")],
            ),
            (
                "a syntax error",
                Box::new(move |v| set(v, expression, json!("100 * (errors / requests"))),
                vec![(at, "expression_syntax")],
            ),
            (
                "a number is not a time series",
                Box::new(move |v| set(v, expression, json!("AVG(errors)"))),
                vec![(at, "expression_invalid")],
            ),
            (
                "an expression that names itself",
                Box::new(move |v| set(v, expression, json!("rate + 1"))),
                vec![(at, "expression_cycle")],
            ),
            (
                "two queries return data",
                Box::new(|v| set(v, "/Alarms/2/Metrics/0/ReturnData", json!(true))),
                vec![("Alarms[2].Metrics", "return_data")],
            ),
            (
                "ReturnData left out is true",
                Box::new(|v| {
                    if let Some(query) = v
                        .pointer_mut("/Alarms/2/Metrics/1")
                        .and_then(|q| q.as_object_mut())
                    {
                        query.remove("ReturnData");
                    }
                }),
                vec![("Alarms[2].Metrics", "return_data")],
            ),
            (
                "a math alarm names no metric of its own",
                Box::new(|v| set(v, "/Alarms/2/Namespace", json!("AWS/SageMaker"))),
                vec![("Alarms[2].Namespace", "math_conflict")],
            ),
            (
                "metrics of one alarm share a period",
                Box::new(|v| set(v, "/Alarms/2/Metrics/1/MetricStat/Period", json!(300))),
                vec![("Alarms[2].Metrics[1].MetricStat.Period", "period_mismatch")],
            ),
            (
                "a query id starts with a lower-case letter",
                Box::new(|v| set(v, "/Alarms/2/Metrics/0/Id", json!("Errors"))),
                vec![
                    ("Alarms[2].Metrics[0].Id", "pattern"),
                    (at, "expression_unknown_id"),
                ],
            ),
            (
                "a query is a metric or an expression",
                Box::new(|v| set(v, "/Alarms/2/Metrics/0/Expression", json!("1"))),
                vec![("Alarms[2].Metrics[0]", "query_kind")],
            ),
            (
                "a composite alarm names alarms that exist",
                Box::new(|v| {
                    set(
                        v,
                        "/CompositeAlarms/0/AlarmRule",
                        json!("ALARM(nope) OR TRUE"),
                    )
                }),
                vec![("CompositeAlarms[0].AlarmRule", "alarm_undefined")],
            ),
            (
                "a composite alarm's rule parses",
                Box::new(|v| set(v, "/CompositeAlarms/0/AlarmRule", json!("ALARM(x"))),
                vec![("CompositeAlarms[0].AlarmRule", "alarm_rule_invalid")],
            ),
            (
                "a composite alarm cannot roll back",
                Box::new(|v| {
                    if let Some(list) = v
                        .pointer_mut("/DeploymentConfig/AutoRollbackConfiguration/Alarms")
                        .and_then(|list| list.as_array_mut())
                    {
                        list.push(json!({"AlarmName": "Page-OnCall-guardrail-demo"}));
                    }
                }),
                vec![(
                    "DeploymentConfig.AutoRollbackConfiguration.Alarms[5].AlarmName",
                    "composite_rollback",
                )],
            ),
            (
                "alarm names are unique across kinds",
                Box::new(|v| {
                    set(
                        v,
                        "/CompositeAlarms/0/AlarmName",
                        json!("ErrorRate-NewFleet-guardrail-demo"),
                    )
                }),
                vec![
                    ("CompositeAlarms[0].AlarmName", "duplicate_alarm"),
                    ("CompositeAlarms[0].AlarmRule", "composite_cycle"),
                ],
            ),
            (
                "a team metric is not in an AWS namespace",
                Box::new(|v| set(v, "/Scenario/TeamMetrics/2/Namespace", json!("AWS/Shop"))),
                vec![("Scenario.TeamMetrics[2].Namespace", "aws_namespace")],
            ),
            (
                "a business metric has a level",
                Box::new(|v| {
                    if let Some(metric) = v
                        .pointer_mut("/Scenario/TeamMetrics/2")
                        .and_then(|m| m.as_object_mut())
                    {
                        metric.remove("Level");
                    }
                }),
                vec![("Scenario.TeamMetrics[2].Level", "required")],
            ),
            (
                "storage resolution is 1 or 60",
                Box::new(|v| set(v, "/Scenario/TeamMetrics/0/StorageResolution", json!(5))),
                vec![("Scenario.TeamMetrics[0].StorageResolution", "out_of_range")],
            ),
            (
                "noise is a standard deviation",
                Box::new(|v| set(v, "/Scenario/TeamMetrics/2/Noise", json!(-1))),
                vec![("Scenario.TeamMetrics[2].Noise", "out_of_range")],
            ),
        ];
        run_team_cases(cases);
    }

    #[test]
    fn judge_table() {
        use crate::plan::JudgeSection;
        use serde_json::json;
        let with_judge = |edit: Box<dyn Fn(&mut serde_json::Value)>| {
            Box::new(move |v: &mut serde_json::Value| {
                v["Judge"] =
                    serde_json::to_value(JudgeSection::default_judge()).expect("serialises");
                edit(v);
            }) as Box<dyn Fn(&mut serde_json::Value)>
        };
        let cases: Vec<Case> = vec![
            ("the default judge", with_judge(Box::new(|_| {})), vec![]),
            (
                "only metric names",
                Box::new(|v| {
                    v["Judge"] = json!({"Metrics": [{"MetricName": "ModelLatency"}]});
                }),
                vec![],
            ),
            (
                "no metrics",
                Box::new(|v| v["Judge"] = json!({})),
                vec![("Judge.Metrics", "required")],
            ),
            (
                "an unknown metric and direction",
                with_judge(Box::new(|v| {
                    set(v, "/Judge/Metrics/0/MetricName", json!("CPUUtilization"));
                    set(v, "/Judge/Metrics/1/Direction", json!("Up"));
                })),
                vec![
                    ("Judge.Metrics[0].MetricName", "unknown_metric"),
                    ("Judge.Metrics[1].Direction", "unknown_direction"),
                ],
            ),
            (
                "a metric twice",
                with_judge(Box::new(|v| {
                    set(
                        v,
                        "/Judge/Metrics/1/MetricName",
                        json!("Invocation5XXErrors"),
                    );
                })),
                vec![("Judge.Metrics[1].MetricName", "duplicate_metric")],
            ),
            (
                "numbers out of range",
                with_judge(Box::new(|v| {
                    set(v, "/Judge/Metrics/2/AllowedEffectPercent", json!(150));
                    set(v, "/Judge/Metrics/2/MinimumSamples", json!(0));
                    set(v, "/Judge/Metrics/2/Weight", json!(0));
                    set(v, "/Judge/ConfidencePercent", json!(100));
                    set(v, "/Judge/PeriodSeconds", json!(45));
                })),
                vec![
                    ("Judge.Metrics[2].AllowedEffectPercent", "out_of_range"),
                    ("Judge.Metrics[2].MinimumSamples", "out_of_range"),
                    ("Judge.Metrics[2].Weight", "out_of_range"),
                    ("Judge.ConfidencePercent", "out_of_range"),
                    ("Judge.PeriodSeconds", "period"),
                ],
            ),
            (
                "marginal above pass",
                with_judge(Box::new(|v| {
                    set(v, "/Judge/MarginalScore", json!(80));
                })),
                vec![("Judge.MarginalScore", "out_of_range")],
            ),
        ];
        run_team_cases(cases);
    }

    #[test]
    fn the_default_judge_round_trips_through_the_plan() {
        use crate::judge::JudgeSpec;
        use crate::plan::{JudgeSection, Plan};
        let mut plan: Plan = serde_json::from_str(examples::NOTEBOOK_CANARY).expect("parses");
        plan.judge = Some(JudgeSection::default_judge());
        let checked = crate::check::check(&plan);
        let rollout = checked.rollout.expect("valid");
        assert_eq!(rollout.judge(), Some(&JudgeSpec::default_judge()));
        // The judge looks every 10 s: the metric tick follows it.
        assert_eq!(rollout.metric_tick_seconds(), 10);
    }

    #[test]
    fn a_math_alarm_becomes_a_rule_over_its_metrics() {
        use crate::alarm::{Scope, Source};
        let (_, checked) = check_json(examples::TEAM_GUARDRAILS).expect("parses");
        let rollout = checked.rollout.expect("valid");
        let rule = &rollout.alarms()[2];
        let Source::Math { metrics, label, .. } = &rule.source else {
            panic!("{rule:?}")
        };
        assert_eq!(metrics.len(), 2);
        assert_eq!(label, "5XX rate on the new fleet (%)");
        assert_eq!((rule.scope(), rule.period_seconds), (Scope::NewFleet, 60));
        assert_eq!(rollout.alarms()[3].scope(), Scope::Team);
        assert_eq!(rollout.alarms()[3].period_seconds, 10);
        // 100 × errors ÷ requests, with AWS's rules: 5 of 50, no requests, none at all.
        let errors = [Some(5.0), Some(0.0), None];
        let requests = [Some(50.0), Some(0.0), None];
        let values = rule.values(0..=2, |metric, period| {
            let series = if metric == 0 { &errors } else { &requests };
            series[period as usize]
        });
        assert_eq!(values, vec![Some(10.0), None, None]);
        assert_eq!(rollout.metric_tick_seconds(), 10);
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
