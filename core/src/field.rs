//! Where a problem is, typed: every field of the plan that validation and lint
//! report on, and the limits that go with them.
//!
//! A problem's path is text on the wire (`Problem::path`), but it is only ever
//! built from a [`Field`] here, and the planner finds its fields by the same
//! values, so a misspelt path is a compile error rather than a problem that is
//! silently shown nowhere. Paths use the plan's own key names, dotted, with list
//! indices in brackets: `Alarms[1].Period`,
//! `DeploymentConfig.BlueGreenUpdatePolicy.TrafficRoutingConfiguration.CanarySize.Value`.

use std::fmt;

/// The limits of a plan. Those marked as SageMaker's or CloudWatch's come from
/// their API references (and are held against botocore's service models by
/// `core/tests/botocore_model.rs`); the others are guardrail's own, with the
/// reason beside them.
pub mod limits {
    /// Guardrail's own ceiling on `InstanceCount`. SageMaker's model sets no
    /// maximum (account quotas are far lower); the ceiling bounds the work of a
    /// simulation and of the local engine.
    pub const MAX_INSTANCES: u32 = 1_000;
    /// `AutoRollbackConfiguration.Alarms` holds 1 to 10 alarms (SageMaker).
    pub const MAX_ROLLBACK_ALARMS: usize = 10;
    /// Alarms a plan defines: the planner's editor offers as many as can roll back.
    pub const MAX_ALARMS: usize = MAX_ROLLBACK_ALARMS;
    /// SageMaker resource names (endpoint, config, variant): at most 63 characters.
    pub const NAME_MAX: usize = 63;
    /// `WaitIntervalInSeconds` and `TerminationWaitInSeconds`: 0 to 3600 s (SageMaker).
    pub const WAIT_MAX: u32 = 3_600;
    /// `MaximumExecutionTimeoutInSeconds`: 600 to 28800 s (SageMaker).
    pub const TIMEOUT_MIN: u32 = 600;
    pub const TIMEOUT_MAX: u32 = 28_800;
    /// Guardrail's own bounds on `ProvisioningSeconds` and `TerminationSeconds`,
    /// which SageMaker does not have: two hours and one hour.
    pub const PROVISIONING_MAX: u32 = 7_200;
    pub const TERMINATION_MAX: u32 = 3_600;
    /// CloudWatch alarm names and SageMaker's `Alarm.AlarmName`: 1 to 255 characters.
    pub const ALARM_NAME_MAX: usize = 255;
    /// `AlarmDescription`: at most 1024 characters (CloudWatch).
    pub const ALARM_DESCRIPTION_MAX: usize = 1_024;
    /// `Namespace` and `MetricName`: 1 to 255 characters (CloudWatch).
    pub const METRIC_TEXT_MAX: usize = 255;
    /// `Dimensions`: at most 30; a name 1 to 255, a value 1 to 1024 characters (CloudWatch).
    pub const MAX_DIMENSIONS: usize = 30;
    pub const DIMENSION_NAME_MAX: usize = 255;
    pub const DIMENSION_VALUE_MAX: usize = 1_024;
    /// `OKActions`, `AlarmActions`, `InsufficientDataActions`: at most 5 ARNs of
    /// 1 to 1024 characters each (CloudWatch).
    pub const MAX_ACTIONS: usize = 5;
    pub const ACTION_MAX: usize = 1_024;
    /// `Period × EvaluationPeriods`: at most one day when the period is under an
    /// hour, one week otherwise (CloudWatch).
    pub const WINDOW_MAX_SHORT_PERIODS: u64 = 86_400;
    pub const WINDOW_MAX: u64 = 604_800;
    /// Guardrail's own bounds on the what-if scenario.
    pub const REQUESTS_PER_SECOND_MAX: f64 = 100_000.0;
    /// A math alarm's `Metrics`: at most 20 queries, of which at most 10
    /// `MetricStat`s and 10 expressions; an expression at most 2048
    /// characters (CloudWatch).
    pub const MAX_METRIC_QUERIES: usize = 20;
    pub const MAX_METRIC_STATS: usize = 10;
    pub const MAX_EXPRESSIONS: usize = 10;
    pub const EXPRESSION_MAX: usize = 2_048;
    /// Composite alarms a plan defines: guardrail's own bound, as many as its
    /// metric alarms.
    pub const MAX_COMPOSITE_ALARMS: usize = 10;
    /// Team metrics a scenario models: guardrail's own bound, enough for the
    /// 10 metrics a math alarm reads.
    pub const MAX_TEAM_METRICS: usize = 10;
    /// A team metric's `PublishSeconds`: 1 s to an hour (guardrail's own).
    pub const PUBLISH_SECONDS_MAX: u32 = 3_600;
    pub const LATENCY_MS_MAX: f64 = 600_000.0;
    /// The judge's metrics: at most one per signal it knows.
    pub const MAX_JUDGED_METRICS: usize = 4;
    /// `Judge.ConfidencePercent`: 80 to 99.99 (guardrail's own).
    pub const CONFIDENCE_MIN: f64 = 80.0;
    pub const CONFIDENCE_MAX: f64 = 99.99;
    /// `Judge.Metrics[i].MinimumSamples`: 1 to a million requests per fleet.
    pub const MINIMUM_SAMPLES_MAX: u32 = 1_000_000;
    /// `Judge.Metrics[i].Weight`: more than 0 up to 100.
    pub const WEIGHT_MAX: f64 = 100.0;
    /// `Judge.PeriodSeconds`: 10 s to an hour, as a CloudWatch period (10, 30
    /// or a multiple of 60) so an alarm can read the score it publishes.
    pub const JUDGE_PERIOD_MAX: u32 = 3_600;
    pub const ONSET_SECONDS_MAX: f64 = 86_400.0;
}

/// Which update policy a field belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Policy {
    BlueGreen,
    Rolling,
}

impl Policy {
    pub fn path(self) -> &'static str {
        match self {
            Self::BlueGreen => "DeploymentConfig.BlueGreenUpdatePolicy",
            Self::Rolling => "DeploymentConfig.RollingUpdatePolicy",
        }
    }
}

/// The four `CapacitySize` fields of a `DeploymentConfig`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Size {
    Canary,
    LinearStep,
    Batch,
    RollbackBatch,
}

impl Size {
    pub fn path(self) -> String {
        match self {
            Self::Canary => format!("{TRAFFIC_ROUTING}.CanarySize"),
            Self::LinearStep => format!("{TRAFFIC_ROUTING}.LinearStepSize"),
            Self::Batch => format!("{}.MaximumBatchSize", Policy::Rolling.path()),
            Self::RollbackBatch => format!("{}.RollbackMaximumBatchSize", Policy::Rolling.path()),
        }
    }
}

/// A part of a `CapacitySize`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SizePart {
    /// The `CapacitySize` object itself.
    Whole,
    Type,
    Value,
}

/// A field of one alarm in `Alarms`, named as in `PutMetricAlarm`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AlarmField {
    AlarmName,
    AlarmDescription,
    OkActions,
    AlarmActions,
    InsufficientDataActions,
    Namespace,
    MetricName,
    Dimensions,
    Statistic,
    ExtendedStatistic,
    Period,
    EvaluationPeriods,
    DatapointsToAlarm,
    Threshold,
    ComparisonOperator,
    TreatMissingData,
    EvaluateLowSampleCountPercentile,
    Unit,
    /// A math alarm's `Metrics` list itself.
    Metrics,
    ThresholdMetricId,
}

impl AlarmField {
    pub fn name(self) -> &'static str {
        match self {
            Self::AlarmName => "AlarmName",
            Self::AlarmDescription => "AlarmDescription",
            Self::OkActions => "OKActions",
            Self::AlarmActions => "AlarmActions",
            Self::InsufficientDataActions => "InsufficientDataActions",
            Self::Namespace => "Namespace",
            Self::MetricName => "MetricName",
            Self::Dimensions => "Dimensions",
            Self::Statistic => "Statistic",
            Self::ExtendedStatistic => "ExtendedStatistic",
            Self::Period => "Period",
            Self::EvaluationPeriods => "EvaluationPeriods",
            Self::DatapointsToAlarm => "DatapointsToAlarm",
            Self::Threshold => "Threshold",
            Self::ComparisonOperator => "ComparisonOperator",
            Self::TreatMissingData => "TreatMissingData",
            Self::EvaluateLowSampleCountPercentile => "EvaluateLowSampleCountPercentile",
            Self::Unit => "Unit",
            Self::Metrics => "Metrics",
            Self::ThresholdMetricId => "ThresholdMetricId",
        }
    }
}

/// A field of one query in a math alarm's `Metrics`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QueryField {
    /// The query itself.
    Whole,
    Id,
    Expression,
    Label,
    ReturnData,
    Period,
    AccountId,
    MetricStat,
    Namespace,
    MetricName,
    Dimensions,
    Dimension(usize, DimensionPart),
    Stat,
    StatPeriod,
    Unit,
}

impl QueryField {
    fn suffix(self) -> String {
        const METRIC: &str = "MetricStat.Metric";
        match self {
            Self::Whole => String::new(),
            Self::Id => ".Id".into(),
            Self::Expression => ".Expression".into(),
            Self::Label => ".Label".into(),
            Self::ReturnData => ".ReturnData".into(),
            Self::Period => ".Period".into(),
            Self::AccountId => ".AccountId".into(),
            Self::MetricStat => ".MetricStat".into(),
            Self::Namespace => format!(".{METRIC}.Namespace"),
            Self::MetricName => format!(".{METRIC}.MetricName"),
            Self::Dimensions => format!(".{METRIC}.Dimensions"),
            Self::Dimension(index, part) => {
                format!(".{METRIC}.Dimensions[{index}].{}", part.name())
            }
            Self::Stat => ".MetricStat.Stat".into(),
            Self::StatPeriod => ".MetricStat.Period".into(),
            Self::Unit => ".MetricStat.Unit".into(),
        }
    }
}

/// A field of one composite alarm in `CompositeAlarms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CompositeField {
    AlarmName,
    AlarmDescription,
    AlarmRule,
    OkActions,
    AlarmActions,
    InsufficientDataActions,
}

impl CompositeField {
    pub fn name(self) -> &'static str {
        match self {
            Self::AlarmName => "AlarmName",
            Self::AlarmDescription => "AlarmDescription",
            Self::AlarmRule => "AlarmRule",
            Self::OkActions => "OKActions",
            Self::AlarmActions => "AlarmActions",
            Self::InsufficientDataActions => "InsufficientDataActions",
        }
    }
}

/// A field of one team metric in `Scenario.TeamMetrics`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TeamMetricField {
    Whole,
    Namespace,
    MetricName,
    Dimensions,
    Kind,
    Level,
    Noise,
    GreenLevel,
    PublishSeconds,
    StorageResolution,
}

impl TeamMetricField {
    fn suffix(self) -> &'static str {
        match self {
            Self::Whole => "",
            Self::Namespace => ".Namespace",
            Self::MetricName => ".MetricName",
            Self::Dimensions => ".Dimensions",
            Self::Kind => ".Kind",
            Self::Level => ".Level",
            Self::Noise => ".Noise",
            Self::GreenLevel => ".GreenLevel",
            Self::PublishSeconds => ".PublishSeconds",
            Self::StorageResolution => ".StorageResolution",
        }
    }
}

/// A field of the judge itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JudgeField {
    Whole,
    Metrics,
    ConfidencePercent,
    PassScore,
    MarginalScore,
    PeriodSeconds,
}

impl JudgeField {
    fn suffix(self) -> &'static str {
        match self {
            Self::Whole => "",
            Self::Metrics => ".Metrics",
            Self::ConfidencePercent => ".ConfidencePercent",
            Self::PassScore => ".PassScore",
            Self::MarginalScore => ".MarginalScore",
            Self::PeriodSeconds => ".PeriodSeconds",
        }
    }
}

/// A field of one metric the judge compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JudgedMetricField {
    Whole,
    MetricName,
    Direction,
    AllowedEffectPercent,
    MinimumSamples,
    Critical,
    Weight,
}

impl JudgedMetricField {
    fn suffix(self) -> &'static str {
        match self {
            Self::Whole => "",
            Self::MetricName => ".MetricName",
            Self::Direction => ".Direction",
            Self::AllowedEffectPercent => ".AllowedEffectPercent",
            Self::MinimumSamples => ".MinimumSamples",
            Self::Critical => ".Critical",
            Self::Weight => ".Weight",
        }
    }
}

/// A part of one dimension of one alarm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DimensionPart {
    Name,
    Value,
}

impl DimensionPart {
    pub fn name(self) -> &'static str {
        match self {
            Self::Name => "Name",
            Self::Value => "Value",
        }
    }
}

/// A field of the what-if scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScenarioField {
    RequestsPerSecond,
    Seed,
    ErrorRate(Fleet),
    LatencyMs(Fleet),
    OnsetSeconds,
    RequiredDetection,
    /// `Scenario.TeamMetrics` itself.
    TeamMetrics,
}

/// A fleet, as the scenario names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fleet {
    Blue,
    Green,
}

impl Fleet {
    fn key(self) -> &'static str {
        match self {
            Self::Blue => "Blue",
            Self::Green => "Green",
        }
    }
}

const TRAFFIC_ROUTING: &str = "DeploymentConfig.BlueGreenUpdatePolicy.TrafficRoutingConfiguration";
const AUTO_ROLLBACK: &str = "DeploymentConfig.AutoRollbackConfiguration";

/// One field of the plan. `Display` gives its path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    EndpointName,
    EndpointConfigName,
    VariantName,
    InstanceCount,
    InstanceType,
    ProvisioningSeconds,
    TerminationSeconds,
    DeploymentConfig,
    /// `BlueGreenUpdatePolicy` or `RollingUpdatePolicy` itself.
    Policy(Policy),
    TrafficRouting,
    TrafficRoutingType,
    /// `WaitIntervalInSeconds`: in `TrafficRoutingConfiguration` for blue/green,
    /// in `RollingUpdatePolicy` for rolling updates.
    Wait(Policy),
    /// `BlueGreenUpdatePolicy.TerminationWaitInSeconds`: the final bake.
    TerminationWait,
    Timeout(Policy),
    Size(Size, SizePart),
    AutoRollback,
    RollbackAlarms,
    /// `AutoRollbackConfiguration.Alarms[i].AlarmName`.
    RollbackAlarm(usize),
    Alarm(usize, AlarmField),
    /// `Alarms[i].Dimensions[j].Name` or `.Value`.
    Dimension(usize, usize, DimensionPart),
    /// `Alarms[i].Metrics[j]…`: a field of a math alarm's query.
    AlarmQuery(usize, usize, QueryField),
    /// `CompositeAlarms` itself.
    CompositeAlarms,
    /// `CompositeAlarms[i].…`.
    Composite(usize, CompositeField),
    Scenario(ScenarioField),
    /// `Scenario.TeamMetrics[i]…`.
    TeamMetric(usize, TeamMetricField),
    /// `Judge.…`.
    Judge(JudgeField),
    /// `Judge.Metrics[i]…`.
    JudgedMetric(usize, JudgedMetricField),
}

impl Field {
    /// The field's path, as `Problem::path` and the planner's `data-path` hold it.
    pub fn path(self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::EndpointName => f.write_str("EndpointName"),
            Self::EndpointConfigName => f.write_str("EndpointConfigName"),
            Self::VariantName => f.write_str("VariantName"),
            Self::InstanceCount => f.write_str("InstanceCount"),
            Self::InstanceType => f.write_str("InstanceType"),
            Self::ProvisioningSeconds => f.write_str("ProvisioningSeconds"),
            Self::TerminationSeconds => f.write_str("TerminationSeconds"),
            Self::DeploymentConfig => f.write_str("DeploymentConfig"),
            Self::Policy(policy) => f.write_str(policy.path()),
            Self::TrafficRouting => f.write_str(TRAFFIC_ROUTING),
            Self::TrafficRoutingType => write!(f, "{TRAFFIC_ROUTING}.Type"),
            Self::Wait(Policy::BlueGreen) => write!(f, "{TRAFFIC_ROUTING}.WaitIntervalInSeconds"),
            Self::Wait(Policy::Rolling) => {
                write!(f, "{}.WaitIntervalInSeconds", Policy::Rolling.path())
            }
            Self::TerminationWait => {
                write!(f, "{}.TerminationWaitInSeconds", Policy::BlueGreen.path())
            }
            Self::Timeout(policy) => {
                write!(f, "{}.MaximumExecutionTimeoutInSeconds", policy.path())
            }
            Self::Size(size, SizePart::Whole) => f.write_str(&size.path()),
            Self::Size(size, SizePart::Type) => write!(f, "{}.Type", size.path()),
            Self::Size(size, SizePart::Value) => write!(f, "{}.Value", size.path()),
            Self::AutoRollback => f.write_str(AUTO_ROLLBACK),
            Self::RollbackAlarms => write!(f, "{AUTO_ROLLBACK}.Alarms"),
            Self::RollbackAlarm(index) => write!(f, "{AUTO_ROLLBACK}.Alarms[{index}].AlarmName"),
            Self::Alarm(index, field) => write!(f, "Alarms[{index}].{}", field.name()),
            Self::Dimension(alarm, dimension, part) => {
                write!(f, "Alarms[{alarm}].Dimensions[{dimension}].{}", part.name())
            }
            Self::AlarmQuery(alarm, query, part) => {
                write!(f, "Alarms[{alarm}].Metrics[{query}]{}", part.suffix())
            }
            Self::CompositeAlarms => f.write_str("CompositeAlarms"),
            Self::Composite(index, part) => {
                write!(f, "CompositeAlarms[{index}].{}", part.name())
            }
            Self::TeamMetric(index, part) => {
                write!(f, "Scenario.TeamMetrics[{index}]{}", part.suffix())
            }
            Self::Judge(part) => write!(f, "Judge{}", part.suffix()),
            Self::JudgedMetric(index, part) => {
                write!(f, "Judge.Metrics[{index}]{}", part.suffix())
            }
            Self::Scenario(ScenarioField::RequestsPerSecond) => {
                f.write_str("Scenario.RequestsPerSecond")
            }
            Self::Scenario(ScenarioField::Seed) => f.write_str("Scenario.Seed"),
            Self::Scenario(ScenarioField::ErrorRate(fleet)) => {
                write!(f, "Scenario.{}.ErrorRate", fleet.key())
            }
            Self::Scenario(ScenarioField::LatencyMs(fleet)) => {
                write!(f, "Scenario.{}.LatencyMs", fleet.key())
            }
            Self::Scenario(ScenarioField::OnsetSeconds) => {
                f.write_str("Scenario.Green.OnsetSeconds")
            }
            Self::Scenario(ScenarioField::RequiredDetection) => {
                f.write_str("Scenario.RequiredDetection")
            }
            Self::Scenario(ScenarioField::TeamMetrics) => f.write_str("Scenario.TeamMetrics"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_use_the_plan_keys() {
        for (field, path) in [
            (Field::EndpointName, "EndpointName"),
            (
                Field::Wait(Policy::BlueGreen),
                "DeploymentConfig.BlueGreenUpdatePolicy.TrafficRoutingConfiguration.WaitIntervalInSeconds",
            ),
            (
                Field::Wait(Policy::Rolling),
                "DeploymentConfig.RollingUpdatePolicy.WaitIntervalInSeconds",
            ),
            (
                Field::Size(Size::Canary, SizePart::Value),
                "DeploymentConfig.BlueGreenUpdatePolicy.TrafficRoutingConfiguration.CanarySize.Value",
            ),
            (
                Field::Size(Size::RollbackBatch, SizePart::Whole),
                "DeploymentConfig.RollingUpdatePolicy.RollbackMaximumBatchSize",
            ),
            (
                Field::RollbackAlarm(2),
                "DeploymentConfig.AutoRollbackConfiguration.Alarms[2].AlarmName",
            ),
            (Field::Alarm(1, AlarmField::OkActions), "Alarms[1].OKActions"),
            (
                Field::Dimension(0, 3, DimensionPart::Value),
                "Alarms[0].Dimensions[3].Value",
            ),
            (
                Field::Scenario(ScenarioField::ErrorRate(Fleet::Green)),
                "Scenario.Green.ErrorRate",
            ),
            (
                Field::AlarmQuery(2, 1, QueryField::Dimension(0, DimensionPart::Value)),
                "Alarms[2].Metrics[1].MetricStat.Metric.Dimensions[0].Value",
            ),
            (Field::AlarmQuery(0, 3, QueryField::Expression), "Alarms[0].Metrics[3].Expression"),
            (Field::AlarmQuery(0, 3, QueryField::Whole), "Alarms[0].Metrics[3]"),
            (
                Field::Composite(1, CompositeField::AlarmRule),
                "CompositeAlarms[1].AlarmRule",
            ),
            (
                Field::TeamMetric(0, TeamMetricField::GreenLevel),
                "Scenario.TeamMetrics[0].GreenLevel",
            ),
            (Field::Judge(JudgeField::PassScore), "Judge.PassScore"),
            (
                Field::JudgedMetric(2, JudgedMetricField::AllowedEffectPercent),
                "Judge.Metrics[2].AllowedEffectPercent",
            ),
        ] {
            assert_eq!(field.path(), path);
        }
    }
}
