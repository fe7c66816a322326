//! The plan document: the user's JSON, in SageMaker's and CloudWatch's own shapes.
//!
//! Everything here mirrors the wire format on purpose. A `DeploymentConfig` that
//! `aws sagemaker update-endpoint --deployment-config file://x.json` accepts imports
//! unchanged, and `Alarms` holds `PutMetricAlarm`-shaped objects. Required fields are
//! still `Option`s or may be empty, so that a half-written plan parses and
//! [`crate::validate`] can report every problem at once instead of stopping at the
//! first missing field.

use serde::{Deserialize, Serialize};

use crate::problem::{ParseError, Problem};

/// A whole plan: which endpoint is updated to which config, how, and which alarms guard it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Plan {
    #[serde(default)]
    pub endpoint_name: String,
    /// The name of the *new* endpoint config.
    #[serde(default)]
    pub endpoint_config_name: String,
    #[serde(default = "default_variant_name")]
    pub variant_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_count: Option<i64>,
    #[serde(default)]
    pub instance_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_config: Option<DeploymentConfig>,
    #[serde(default)]
    pub alarms: Vec<MetricAlarm>,
    /// How long launching green instances takes, in seconds. Not a SageMaker field:
    /// SageMaker does not publish it, so the plan states it. Default 300.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning_seconds: Option<i64>,
    /// How long terminating the blue fleet takes, in seconds. Default 60.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<Scenario>,
    /// `PutCompositeAlarm` requests: alarms whose state follows other alarms'.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub composite_alarms: Vec<CompositeAlarm>,
    /// The canary judge (`core::judge`), when the plan has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<JudgeSection>,
}

/// A plan's top-level fields, as JSON names them.
pub const PLAN_KEYS: [&str; 12] = [
    "EndpointName",
    "EndpointConfigName",
    "VariantName",
    "InstanceCount",
    "InstanceType",
    "DeploymentConfig",
    "Alarms",
    "ProvisioningSeconds",
    "TerminationSeconds",
    "Scenario",
    "CompositeAlarms",
    "Judge",
];

pub const DEFAULT_VARIANT_NAME: &str = "AllTraffic";
pub const DEFAULT_PROVISIONING_SECONDS: u32 = 300;
pub const DEFAULT_TERMINATION_SECONDS: u32 = 60;

fn default_variant_name() -> String {
    DEFAULT_VARIANT_NAME.to_string()
}

/// SageMaker's `DeploymentConfig`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeploymentConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blue_green_update_policy: Option<BlueGreenUpdatePolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolling_update_policy: Option<RollingUpdatePolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_rollback_configuration: Option<AutoRollbackConfig>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BlueGreenUpdatePolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_routing_configuration: Option<TrafficRoutingConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_wait_in_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_execution_timeout_in_seconds: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TrafficRoutingConfig {
    #[serde(rename = "Type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<TrafficRoutingType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_interval_in_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_size: Option<CapacitySize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linear_step_size: Option<CapacitySize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TrafficRoutingType {
    AllAtOnce,
    Canary,
    Linear,
}

impl TrafficRoutingType {
    pub const ALL: [TrafficRoutingType; 3] = [Self::AllAtOnce, Self::Canary, Self::Linear];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AllAtOnce => "ALL_AT_ONCE",
            Self::Canary => "CANARY",
            Self::Linear => "LINEAR",
        }
    }
}

/// SageMaker's `CapacitySize`: a number of instances or a percent of the fleet.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CapacitySize {
    #[serde(rename = "Type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<CapacitySizeType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<i64>,
}

impl CapacitySize {
    pub fn instances(value: i64) -> Self {
        Self {
            kind: Some(CapacitySizeType::InstanceCount),
            value: Some(value),
        }
    }

    pub fn percent(value: i64) -> Self {
        Self {
            kind: Some(CapacitySizeType::CapacityPercent),
            value: Some(value),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CapacitySizeType {
    InstanceCount,
    CapacityPercent,
}

impl CapacitySizeType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InstanceCount => "INSTANCE_COUNT",
            Self::CapacityPercent => "CAPACITY_PERCENT",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RollingUpdatePolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_batch_size: Option<CapacitySize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_interval_in_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_execution_timeout_in_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_maximum_batch_size: Option<CapacitySize>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AutoRollbackConfig {
    #[serde(default)]
    pub alarms: Vec<AlarmRef>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AlarmRef {
    #[serde(default)]
    pub alarm_name: String,
}

/// A CloudWatch `PutMetricAlarm` request: on one metric (`Namespace`,
/// `MetricName`, `Dimensions`, `Statistic`, `Period`), or on metric math
/// (`Metrics`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetricAlarm {
    #[serde(default)]
    pub alarm_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm_description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "OKActions")]
    pub ok_actions: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm_actions: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insufficient_data_actions: Option<Vec<String>>,
    /// Empty in a math alarm (its metrics are in `Metrics`): left out then.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub metric_name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dimensions: Vec<Dimension>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statistic: Option<Statistic>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extended_statistic: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluation_periods: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datapoints_to_alarm: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison_operator: Option<ComparisonOperator>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub treat_missing_data: Option<TreatMissingData>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluate_low_sample_count_percentile: Option<LowSampleCountPercentile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Metric math: the metrics and expressions, exactly one returning data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Vec<MetricDataQuery>>,
    /// Anomaly-detection alarms name their band here; parsed so that
    /// validation can refuse it at the field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold_metric_id: Option<String>,
}

impl MetricAlarm {
    /// Whether the alarm is on metric math (`Metrics`) rather than one metric.
    pub fn is_math(&self) -> bool {
        self.metrics.is_some()
    }

    /// Its OK, ALARM and INSUFFICIENT_DATA actions, in that order.
    pub fn actions(&self) -> [&Option<Vec<String>>; 3] {
        [
            &self.ok_actions,
            &self.alarm_actions,
            &self.insufficient_data_actions,
        ]
    }
}

/// One entry of a math alarm's `Metrics`: a metric (`MetricStat`) or an
/// expression over the others (`Expression`), named by `Id`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetricDataQuery {
    #[serde(default)]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_stat: Option<MetricStat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_data: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
}

impl MetricDataQuery {
    /// A metric to read, with `Stat` and `Period`.
    pub fn metric(id: &str, metric: MetricIdentity, stat: &str, period: i64) -> Self {
        Self {
            id: id.to_string(),
            metric_stat: Some(MetricStat {
                metric,
                period: Some(period),
                stat: stat.to_string(),
                unit: None,
            }),
            return_data: Some(false),
            ..Self::default()
        }
    }

    /// An expression; `returns` marks the one the alarm watches.
    pub fn expression(id: &str, expression: &str, label: &str, returns: bool) -> Self {
        Self {
            id: id.to_string(),
            expression: Some(expression.to_string()),
            label: (!label.is_empty()).then(|| label.to_string()),
            return_data: Some(returns),
            ..Self::default()
        }
    }

    /// Whether the query returns data: CloudWatch's default is true.
    pub fn returns_data(&self) -> bool {
        self.return_data.unwrap_or(true)
    }
}

/// CloudWatch's `MetricStat`: a metric, a period and a statistic.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetricStat {
    #[serde(default)]
    pub metric: MetricIdentity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<i64>,
    #[serde(default)]
    pub stat: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

/// CloudWatch's `Metric`: a namespace, a name and dimensions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetricIdentity {
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub metric_name: String,
    #[serde(default)]
    pub dimensions: Vec<Dimension>,
}

impl MetricIdentity {
    pub fn new(namespace: &str, metric_name: &str, dimensions: Vec<Dimension>) -> Self {
        Self {
            namespace: namespace.to_string(),
            metric_name: metric_name.to_string(),
            dimensions,
        }
    }

    /// Whether `other` names the same metric: the same namespace and name, and
    /// the same dimensions in any order (CloudWatch matches them exactly).
    pub fn same_as(&self, other: &MetricIdentity) -> bool {
        fn sorted(dimensions: &[Dimension]) -> Vec<(&str, &str)> {
            let mut pairs: Vec<(&str, &str)> = dimensions
                .iter()
                .map(|dimension| (dimension.name.as_str(), dimension.value.as_str()))
                .collect();
            pairs.sort_unstable();
            pairs
        }
        self.namespace == other.namespace
            && self.metric_name == other.metric_name
            && sorted(&self.dimensions) == sorted(&other.dimensions)
    }
}

/// The plan's canary judge: what it compares of green and blue while both
/// serve, and how sure it must be. Optional fields take the defaults of
/// [`crate::judge::JudgeSpec::default_judge`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JudgeSection {
    #[serde(default)]
    pub metrics: Vec<JudgedMetric>,
    /// 1 minus the false-alarm rate, in percent (99 means 1 %).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence_percent: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass_score: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marginal_score: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_seconds: Option<i64>,
}

/// One metric the judge compares.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JudgedMetric {
    /// `Invocation5XXErrors`, `Invocation4XXErrors`, `InvocationModelErrors`
    /// (rates over `Invocations`) or `ModelLatency`.
    #[serde(default)]
    pub metric_name: String,
    /// `Increase` (the default), `Decrease` or `Either`: which change is bad.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
    /// How much worse green may be before it counts, in percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_effect_percent: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_samples: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub critical: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
}

/// A CloudWatch `PutCompositeAlarm` request.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CompositeAlarm {
    #[serde(default)]
    pub alarm_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm_description: Option<String>,
    #[serde(default)]
    pub alarm_rule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "OKActions")]
    pub ok_actions: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm_actions: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insufficient_data_actions: Option<Vec<String>>,
}

impl CompositeAlarm {
    /// Its OK, ALARM and INSUFFICIENT_DATA actions, in that order.
    pub fn actions(&self) -> [&Option<Vec<String>>; 3] {
        [
            &self.ok_actions,
            &self.alarm_actions,
            &self.insufficient_data_actions,
        ]
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Dimension {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub value: String,
}

impl Dimension {
    pub fn new(name: &str, value: &str) -> Self {
        Self {
            name: name.to_string(),
            value: value.to_string(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Statistic {
    SampleCount,
    Average,
    Sum,
    Minimum,
    Maximum,
}

impl Statistic {
    pub const ALL: [Statistic; 5] = [
        Self::Average,
        Self::Sum,
        Self::SampleCount,
        Self::Minimum,
        Self::Maximum,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SampleCount => "SampleCount",
            Self::Average => "Average",
            Self::Sum => "Sum",
            Self::Minimum => "Minimum",
            Self::Maximum => "Maximum",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ComparisonOperator {
    GreaterThanOrEqualToThreshold,
    GreaterThanThreshold,
    LessThanThreshold,
    LessThanOrEqualToThreshold,
    /// Anomaly-detection operators: valid in CloudWatch, but they need a band, which
    /// guardrail does not model. Parsed so that validation can say so at the field.
    LessThanLowerOrGreaterThanUpperThreshold,
    LessThanLowerThreshold,
    GreaterThanUpperThreshold,
}

impl ComparisonOperator {
    pub const THRESHOLD: [ComparisonOperator; 4] = [
        Self::GreaterThanOrEqualToThreshold,
        Self::GreaterThanThreshold,
        Self::LessThanThreshold,
        Self::LessThanOrEqualToThreshold,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::GreaterThanOrEqualToThreshold => "GreaterThanOrEqualToThreshold",
            Self::GreaterThanThreshold => "GreaterThanThreshold",
            Self::LessThanThreshold => "LessThanThreshold",
            Self::LessThanOrEqualToThreshold => "LessThanOrEqualToThreshold",
            Self::LessThanLowerOrGreaterThanUpperThreshold => {
                "LessThanLowerOrGreaterThanUpperThreshold"
            }
            Self::LessThanLowerThreshold => "LessThanLowerThreshold",
            Self::GreaterThanUpperThreshold => "GreaterThanUpperThreshold",
        }
    }

    /// The operator as a symbol, for sentences such as "Average >= 1".
    pub fn symbol(self) -> &'static str {
        match self {
            Self::GreaterThanOrEqualToThreshold => ">=",
            Self::GreaterThanThreshold => ">",
            Self::LessThanThreshold => "<",
            Self::LessThanOrEqualToThreshold => "<=",
            Self::LessThanLowerOrGreaterThanUpperThreshold => "outside band",
            Self::LessThanLowerThreshold => "below band",
            Self::GreaterThanUpperThreshold => "above band",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TreatMissingData {
    Breaching,
    NotBreaching,
    Ignore,
    Missing,
}

impl TreatMissingData {
    pub const ALL: [TreatMissingData; 4] = [
        Self::Missing,
        Self::NotBreaching,
        Self::Breaching,
        Self::Ignore,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Breaching => "breaching",
            Self::NotBreaching => "notBreaching",
            Self::Ignore => "ignore",
            Self::Missing => "missing",
        }
    }
}

/// CloudWatch's `StandardUnit` values, the only ones `Unit` may take.
pub const STANDARD_UNITS: [&str; 27] = [
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LowSampleCountPercentile {
    Evaluate,
    Ignore,
}

/// How often, by default, the guardrails must catch the scenario's regression
/// before a plan counts as guarded.
pub const DEFAULT_REQUIRED_DETECTION: f64 = 0.9;

/// What-if inputs: the traffic and how each fleet behaves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Scenario {
    #[serde(default = "default_requests_per_second")]
    pub requests_per_second: f64,
    #[serde(default)]
    pub seed: u64,
    #[serde(default = "FleetBehaviour::healthy")]
    pub blue: FleetBehaviour,
    #[serde(default = "GreenBehaviour::incompatible")]
    pub green: GreenBehaviour,
    /// How often (0 to 1) the guardrails must catch green's regression, in
    /// the detection analysis, for the plan to count as guarded. Default
    /// [`DEFAULT_REQUIRED_DETECTION`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_detection: Option<f64>,
    /// Metrics the team publishes itself (`PutMetricData`), modelled for the
    /// what-if: an alarm on one of them sees what this says it would.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub team_metrics: Vec<TeamMetric>,
}

/// A metric the team publishes with `PutMetricData`, as the what-if models it.
///
/// `Level` is a business metric (a conversion rate, a fraud score): one value
/// every `PublishSeconds`, around `Level` with a standard deviation of `Noise`,
/// moved towards `GreenLevel` in proportion to green's share of traffic once
/// the regression starts. `Requests`, `Errors` and `Latency` are the client's
/// own count of the endpoint's invocations (1 per request; 1 per failed
/// request, else 0; the request's latency in milliseconds), endpoint-wide:
/// a client cannot tell which fleet answered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TeamMetric {
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub metric_name: String,
    #[serde(default)]
    pub dimensions: Vec<Dimension>,
    #[serde(default = "TeamMetricKind::level")]
    pub kind: TeamMetricKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub green_level: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish_seconds: Option<i64>,
    /// 1 (high resolution) or 60 (standard, the default), as in `PutMetricData`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_resolution: Option<i64>,
}

impl TeamMetric {
    pub fn identity(&self) -> MetricIdentity {
        MetricIdentity::new(&self.namespace, &self.metric_name, self.dimensions.clone())
    }

    /// Whether data is stored at one second (`StorageResolution` 1).
    pub fn high_resolution(&self) -> bool {
        self.storage_resolution == Some(1)
    }
}

/// What a [`TeamMetric`] counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TeamMetricKind {
    Level,
    Requests,
    Errors,
    Latency,
}

impl TeamMetricKind {
    pub const ALL: [TeamMetricKind; 4] = [Self::Level, Self::Requests, Self::Errors, Self::Latency];

    fn level() -> Self {
        Self::Level
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Level => "Level",
            Self::Requests => "Requests",
            Self::Errors => "Errors",
            Self::Latency => "Latency",
        }
    }
}

fn default_requests_per_second() -> f64 {
    5.0
}

impl Default for Scenario {
    /// The seed notebook's rollback case: a healthy baseline and a new model that
    /// fails every invocation from the start.
    fn default() -> Self {
        Self {
            requests_per_second: default_requests_per_second(),
            seed: 0,
            blue: FleetBehaviour::healthy(),
            green: GreenBehaviour::incompatible(),
            required_detection: None,
            team_metrics: Vec::new(),
        }
    }
}

impl Scenario {
    /// The detection the user requires, or the default.
    /// Whether green is worse than blue in this scenario: more errors or
    /// more latency.
    pub fn has_regression(&self) -> bool {
        self.green.error_rate > self.blue.error_rate || self.green.latency_ms > self.blue.latency_ms
    }

    pub fn required_detection(&self) -> f64 {
        self.required_detection
            .unwrap_or(DEFAULT_REQUIRED_DETECTION)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FleetBehaviour {
    /// Fraction of invocations that fail with a 5xx, 0 to 1.
    #[serde(default)]
    pub error_rate: f64,
    /// Mean model latency in milliseconds.
    #[serde(default = "default_latency_ms")]
    pub latency_ms: f64,
}

fn default_latency_ms() -> f64 {
    4.0
}

impl FleetBehaviour {
    pub fn healthy() -> Self {
        Self {
            error_rate: 0.0,
            latency_ms: default_latency_ms(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GreenBehaviour {
    #[serde(default)]
    pub error_rate: f64,
    #[serde(default = "default_latency_ms")]
    pub latency_ms: f64,
    /// When the regression starts, in seconds from the start of the rollout. Before
    /// it, green behaves exactly like blue.
    #[serde(default)]
    pub onset_seconds: f64,
}

impl GreenBehaviour {
    pub fn incompatible() -> Self {
        Self {
            error_rate: 1.0,
            latency_ms: default_latency_ms(),
            onset_seconds: 0.0,
        }
    }
}

impl Plan {
    /// Parses a plan from JSON text.
    ///
    /// Syntax and type errors stop parsing and come back as one [`ParseError`] that
    /// names the line, the column and the field path. Fields that are not part of the
    /// plan are not an error here; [`unknown_fields`] lists them so that validation
    /// can report them with everything else.
    pub fn from_json(text: &str) -> Result<Plan, ParseError> {
        crate::json::from_json(text)
    }

    /// Parses a plan and lists the fields it ignored, as warnings-to-be with paths.
    pub fn from_json_with_unknown(text: &str) -> Result<(Plan, Vec<Problem>), ParseError> {
        let plan = Plan::from_json(text)?;
        let value: serde_json::Value = serde_json::from_str(text).map_err(|error| ParseError {
            line: error.line(),
            column: error.column(),
            path: String::new(),
            message: error.to_string(),
        })?;
        let unknown = unknown_fields(&value, &plan);
        Ok((plan, unknown))
    }

    /// The plan as pretty JSON, in the same shape it was read.
    pub fn to_json_pretty(&self) -> String {
        crate::json::to_json_pretty(self)
    }

    pub fn deployment_config_json_pretty(&self) -> String {
        crate::json::to_json_pretty(&self.deployment_config.clone().unwrap_or_default())
    }

    /// The team's own metrics (outside the `AWS/` namespaces) that the plan
    /// names, each once: those its alarms read, then those its what-if
    /// models, at most `limit`. A local run records what was published of
    /// these, so that other alarms on them can re-judge it.
    pub fn team_metrics_named(&self, limit: usize) -> Vec<MetricIdentity> {
        let from_alarms = self.alarms.iter().flat_map(|alarm| {
            let single = (!alarm.metric_name.is_empty()).then(|| {
                MetricIdentity::new(
                    &alarm.namespace,
                    &alarm.metric_name,
                    alarm.dimensions.clone(),
                )
            });
            let math = alarm
                .metrics
                .iter()
                .flatten()
                .filter_map(|query| query.metric_stat.as_ref())
                .map(|stat| stat.metric.clone());
            single.into_iter().chain(math)
        });
        let modelled = self
            .scenario
            .iter()
            .flat_map(|scenario| scenario.team_metrics.iter().map(TeamMetric::identity));
        let mut named: Vec<MetricIdentity> = Vec::new();
        for identity in from_alarms.chain(modelled) {
            if named.len() >= limit {
                break;
            }
            if !identity.namespace.starts_with("AWS/")
                && !identity.metric_name.is_empty()
                && !named.iter().any(|known| known.same_as(&identity))
            {
                named.push(identity);
            }
        }
        named
    }

    /// The scenario in force: the plan's own, or the default.
    pub fn scenario_or_default(&self) -> Scenario {
        self.scenario.clone().unwrap_or_default()
    }

    /// The names listed in `AutoRollbackConfiguration.Alarms`, in order.
    pub fn rollback_alarm_names(&self) -> Vec<&str> {
        self.deployment_config
            .as_ref()
            .and_then(|config| config.auto_rollback_configuration.as_ref())
            .map(|rollback| {
                rollback
                    .alarms
                    .iter()
                    .map(|alarm| alarm.alarm_name.as_str())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Lists every key of `input` that the plan model does not know, with its path.
///
/// The trick: serialise the parsed plan back and compare key sets. A key the model
/// kept is present in both; a key it dropped is unknown. Keys whose input value is
/// `null` are skipped, because the model drops those on purpose.
pub fn unknown_fields(input: &serde_json::Value, plan: &Plan) -> Vec<Problem> {
    let known = serde_json::to_value(plan).unwrap_or(serde_json::Value::Null);
    let mut problems = Vec::new();
    collect_unknown(input, &known, "", &mut problems);
    problems
}

fn collect_unknown(
    input: &serde_json::Value,
    known: &serde_json::Value,
    path: &str,
    problems: &mut Vec<Problem>,
) {
    use serde_json::Value;
    match (input, known) {
        (Value::Object(input), Value::Object(known)) => {
            for (key, value) in input {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match known.get(key) {
                    Some(known_value) => collect_unknown(value, known_value, &child, problems),
                    None if value.is_null() => {}
                    // A list or text the model leaves out when empty
                    // (`CompositeAlarms: []`, a math alarm's `Namespace: ""`).
                    None if value.as_array().is_some_and(Vec::is_empty)
                        || value.as_str().is_some_and(str::is_empty) => {}
                    None => problems.push(Problem::new(
                        child,
                        "unknown_field",
                        format!(
                            "unknown field `{key}`; it is not part of the plan and was ignored"
                        ),
                    )),
                }
            }
        }
        (Value::Array(input), Value::Array(known)) => {
            for (index, (value, known_value)) in input.iter().zip(known.iter()).enumerate() {
                collect_unknown(value, known_value, &format!("{path}[{index}]"), problems);
            }
        }
        _ => {}
    }
}
