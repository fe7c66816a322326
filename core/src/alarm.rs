//! CloudWatch alarm semantics: statistics per period, M out of N, missing data, states.
//!
//! [`evaluate`] is the single implementation of how an alarm moves between OK,
//! ALARM and INSUFFICIENT_DATA. The simulator and the local engine both call it.
//! The rules follow AWS's "Using Amazon CloudWatch alarms" page; where that page is
//! silent, `crate::assumptions` decides (evaluation range, `missing` with too few
//! points).

use serde::{Deserialize, Serialize};

use crate::assumptions::EVALUATION_RANGE_EXTRA;
use crate::math::{self, Expr};
use crate::plan::{
    Dimension, LowSampleCountPercentile, MetricIdentity, Statistic, TreatMissingData,
};

/// The three states of a CloudWatch alarm. A new alarm starts in `InsufficientData`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlarmState {
    Ok,
    Alarm,
    #[default]
    InsufficientData,
}

impl AlarmState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Alarm => "ALARM",
            Self::InsufficientData => "INSUFFICIENT_DATA",
        }
    }
}

/// The SageMaker endpoint metrics guardrail understands, with their units.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Metric {
    Invocations,
    InvocationsPerInstance,
    Invocation4XXErrors,
    Invocation5XXErrors,
    InvocationModelErrors,
    ModelLatency,
    OverheadLatency,
}

impl Metric {
    pub const ALL: [Metric; 7] = [
        Self::Invocation5XXErrors,
        Self::Invocation4XXErrors,
        Self::InvocationModelErrors,
        Self::ModelLatency,
        Self::OverheadLatency,
        Self::Invocations,
        Self::InvocationsPerInstance,
    ];

    pub fn from_name(name: &str) -> Option<Metric> {
        Self::ALL.into_iter().find(|metric| metric.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invocations => "Invocations",
            Self::InvocationsPerInstance => "InvocationsPerInstance",
            Self::Invocation4XXErrors => "Invocation4XXErrors",
            Self::Invocation5XXErrors => "Invocation5XXErrors",
            Self::InvocationModelErrors => "InvocationModelErrors",
            Self::ModelLatency => "ModelLatency",
            Self::OverheadLatency => "OverheadLatency",
        }
    }

    /// The unit CloudWatch reports, for labels.
    pub fn unit(self) -> &'static str {
        match self {
            Self::ModelLatency | Self::OverheadLatency => "microseconds",
            _ => "count",
        }
    }

    /// Metrics that emit 1 or 0 per request, so that their Average is a fraction.
    pub fn is_per_request_flag(self) -> bool {
        matches!(
            self,
            Self::Invocation4XXErrors | Self::Invocation5XXErrors | Self::InvocationModelErrors
        )
    }

    /// The statistics AWS documents as meaningful for the metric.
    pub fn documented_statistics(self) -> &'static str {
        match self {
            Self::Invocations | Self::InvocationsPerInstance => "Sum",
            Self::Invocation4XXErrors | Self::Invocation5XXErrors | Self::InvocationModelErrors => {
                "Average, Sum"
            }
            Self::ModelLatency => "Average, Sum, Minimum, Maximum, SampleCount, percentiles",
            Self::OverheadLatency => "Average, Sum, Minimum, Maximum, SampleCount",
        }
    }

    pub fn documents(self, statistic: Stat) -> bool {
        match (self, statistic) {
            (Self::Invocations | Self::InvocationsPerInstance, Stat::Basic(Statistic::Sum)) => true,
            (Self::Invocations | Self::InvocationsPerInstance, _) => false,
            (
                Self::Invocation4XXErrors | Self::Invocation5XXErrors | Self::InvocationModelErrors,
                Stat::Basic(Statistic::Average | Statistic::Sum),
            ) => true,
            (
                Self::Invocation4XXErrors | Self::Invocation5XXErrors | Self::InvocationModelErrors,
                _,
            ) => false,
            (Self::ModelLatency, _) => true,
            (Self::OverheadLatency, Stat::Percentile(_)) => false,
            (Self::OverheadLatency, _) => true,
        }
    }
}

/// Which requests an alarm's metric counts, for one rollout.
///
/// CloudWatch matches an alarm's dimensions exactly: the alarm sees the metric
/// published under exactly that set of dimensions, and nothing else. SageMaker
/// publishes its invocation metrics under two sets, so only two scopes see data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// `{EndpointName, VariantName}`: the whole variant, both fleets, and blue
    /// alone before the update.
    Endpoint,
    /// `{EndpointName, VariantName, EndpointConfigName}` with the new config: green only.
    NewFleet,
    /// A set of dimensions SageMaker never publishes the metric under, such as
    /// `EndpointName` alone: the alarm sees no data at all.
    NoMetric,
    /// Another endpoint, variant, config, AWS namespace or metric: no data from this rollout.
    Unrelated,
    /// A namespace outside `AWS/`: a metric the team publishes itself
    /// (`PutMetricData`), which the what-if models from the plan's scenario.
    Team,
}

impl Scope {
    /// Whether the alarm's data comes from SageMaker's metrics of this rollout.
    pub fn sees_rollout(self) -> bool {
        matches!(self, Scope::Endpoint | Scope::NewFleet)
    }
}

/// SageMaker's endpoint namespace.
pub const NAMESPACE: &str = "AWS/SageMaker";

/// The scope of an alarm on `namespace`/`metric_name` with `dimensions`, for an
/// update of `endpoint`'s variant `variant` to `new_config`.
///
/// Worked examples for endpoint `ep`, variant `AllTraffic`, new config `v2`:
/// - `{EndpointName=ep, VariantName=AllTraffic}` → `Endpoint`;
/// - the same plus `EndpointConfigName=v2` → `NewFleet`;
/// - plus `EndpointConfigName=v1` (the old config) → `Unrelated`: it sees blue only;
/// - `{EndpointName=ep}` alone, or any set with another dimension → `NoMetric`;
/// - `{EndpointName=other, VariantName=AllTraffic}` → `Unrelated`;
/// - namespace `Shop/Checkout` (not `AWS/…`), whatever the dimensions → `Team`.
pub fn scope_of(
    namespace: &str,
    metric_name: &str,
    dimensions: &[Dimension],
    (endpoint, variant, new_config): (&str, &str, &str),
) -> Scope {
    if !namespace.starts_with("AWS/") {
        return Scope::Team;
    }
    if namespace != NAMESPACE || Metric::from_name(metric_name).is_none() {
        return Scope::Unrelated;
    }
    let value = |name: &str| -> Option<&str> {
        let mut found = dimensions.iter().filter(|dimension| dimension.name == name);
        let first = found.next()?;
        // A name given twice is not a dimension set SageMaker publishes.
        found.next().is_none().then_some(first.value.as_str())
    };
    let known = ["EndpointName", "VariantName", "EndpointConfigName"];
    let (Some(endpoint_value), Some(variant_value)) = (value("EndpointName"), value("VariantName"))
    else {
        return Scope::NoMetric;
    };
    let config_value = value("EndpointConfigName");
    let expected = 2 + usize::from(config_value.is_some());
    if dimensions.len() != expected
        || dimensions
            .iter()
            .any(|dimension| !known.contains(&dimension.name.as_str()))
    {
        return Scope::NoMetric;
    }
    if endpoint_value != endpoint || variant_value != variant {
        return Scope::Unrelated;
    }
    match config_value {
        None => Scope::Endpoint,
        Some(config) if config == new_config => Scope::NewFleet,
        Some(_) => Scope::Unrelated,
    }
}

/// A statistic: one of the five basic ones, or a percentile such as p99.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stat {
    Basic(Statistic),
    /// Percentile, 0 to 100.
    Percentile(f64),
}

impl Stat {
    /// Parses CloudWatch's `pNN` / `pNN.NN` form.
    pub fn parse_percentile(text: &str) -> Option<Stat> {
        let number = text.strip_prefix('p')?;
        if number.is_empty()
            || !number.chars().all(|c| c.is_ascii_digit() || c == '.')
            || number.starts_with('.')
            || number.ends_with('.')
        {
            return None;
        }
        let value: f64 = number.parse().ok()?;
        (0.0..=100.0)
            .contains(&value)
            .then_some(Stat::Percentile(value))
    }

    pub fn label(self) -> String {
        match self {
            Stat::Basic(statistic) => statistic.as_str().to_string(),
            Stat::Percentile(p) => format!("p{}", trim_float(p)),
        }
    }
}

/// The comparison of a statistic against the threshold; the statistic is on the left.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    GreaterOrEqual,
    Greater,
    Less,
    LessOrEqual,
}

impl Comparison {
    pub fn breaches(self, value: f64, threshold: f64) -> bool {
        match self {
            Self::GreaterOrEqual => value >= threshold,
            Self::Greater => value > threshold,
            Self::Less => value < threshold,
            Self::LessOrEqual => value <= threshold,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Self::GreaterOrEqual => ">=",
            Self::Greater => ">",
            Self::Less => "<",
            Self::LessOrEqual => "<=",
        }
    }

    pub fn words(self) -> &'static str {
        match self {
            Self::GreaterOrEqual => "greater than or equal to",
            Self::Greater => "greater than",
            Self::Less => "less than",
            Self::LessOrEqual => "less than or equal to",
        }
    }
}

/// One metric an alarm reads, with its statistic: a single-metric alarm's
/// metric, or one `MetricStat` of a math alarm.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Query {
    pub identity: MetricIdentity,
    /// The SageMaker metric it is; `None` for any other metric.
    pub metric: Option<Metric>,
    pub scope: Scope,
    pub stat: Stat,
}

impl Query {
    pub fn metric_name(&self) -> &str {
        &self.identity.metric_name
    }

    /// The statistic's value for one period's samples, or `None` when the period
    /// has no data or, for percentiles set to ignore low sample counts, too little.
    pub fn datapoint(&self, samples: &PeriodSamples, low: LowSampleCountPercentile) -> Option<f64> {
        if samples.count == 0 {
            return None;
        }
        if let Stat::Percentile(p) = self.stat {
            if low == LowSampleCountPercentile::Ignore
                && (samples.count as f64) < low_sample_limit(p)
            {
                return None;
            }
        }
        // A statistic the data cannot give (a percentile of a statistic set)
        // is no datapoint.
        let value = samples.statistic(self.stat);
        value.is_finite().then_some(value)
    }

    /// "Average of Invocation5XXErrors", for sentences.
    pub fn describe(&self) -> String {
        format!("{} of {}", self.stat.label(), self.identity.metric_name)
    }
}

/// What an alarm compares with its threshold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Source {
    /// One metric and one statistic.
    Metric(Query),
    /// Metric math: the metrics it reads, and the expression whose result the
    /// alarm watches, with every other expression it names written into it.
    Math {
        metrics: Vec<Query>,
        expression: Expr,
        /// The returned query's `Label`, or its expression's text.
        label: String,
    },
}

/// A validated alarm, ready to evaluate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlarmRule {
    pub name: String,
    pub source: Source,
    pub period_seconds: u32,
    pub evaluation_periods: u32,
    pub datapoints_to_alarm: u32,
    pub threshold: f64,
    pub comparison: Comparison,
    pub treat_missing_data: TreatMissingData,
    pub low_sample_count: LowSampleCountPercentile,
}

impl AlarmRule {
    /// The period in milliseconds.
    pub fn period_ms(&self) -> u64 {
        u64::from(self.period_seconds) * 1_000
    }

    /// How many datapoints CloudWatch retrieves for one evaluation.
    pub fn evaluation_range(&self) -> u32 {
        self.evaluation_periods + EVALUATION_RANGE_EXTRA
    }

    /// The metrics the alarm reads: one, or a math alarm's `MetricStat`s.
    pub fn queries(&self) -> &[Query] {
        match &self.source {
            Source::Metric(query) => std::slice::from_ref(query),
            Source::Math { metrics, .. } => metrics,
        }
    }

    /// The one metric of a single-metric alarm.
    pub fn query(&self) -> Option<&Query> {
        match &self.source {
            Source::Metric(query) => Some(query),
            Source::Math { .. } => None,
        }
    }

    /// The SageMaker metric a single-metric alarm watches.
    pub fn metric(&self) -> Option<Metric> {
        self.query().and_then(|query| query.metric)
    }

    pub fn is_math(&self) -> bool {
        matches!(self.source, Source::Math { .. })
    }

    /// Which requests the alarm's data counts: its metric's scope, or, for
    /// metric math, the scope its metrics share (`Endpoint` when they mix
    /// fleets, `Team` when any is the team's own).
    pub fn scope(&self) -> Scope {
        let scopes: Vec<Scope> = self.queries().iter().map(|query| query.scope).collect();
        match scopes.as_slice() {
            [] => Scope::NoMetric,
            [only] => *only,
            all if all.iter().all(|scope| *scope == all[0]) => all[0],
            all if all.contains(&Scope::Team) => Scope::Team,
            all if all.iter().any(|scope| scope.sees_rollout()) => Scope::Endpoint,
            _ => Scope::NoMetric,
        }
    }

    /// What is compared: "Average of Invocation5XXErrors", or a math alarm's
    /// label or expression.
    pub fn subject(&self) -> String {
        match &self.source {
            Source::Metric(query) => query.describe(),
            Source::Math { label, .. } => label.clone(),
        }
    }

    /// The metric name for labels: the metric's, or a math alarm's label.
    pub fn metric_name(&self) -> &str {
        match &self.source {
            Source::Metric(query) => query.metric_name(),
            Source::Math { label, .. } => label,
        }
    }

    /// "Average of Invocation5XXErrors >= 1", for sentences.
    pub fn condition(&self) -> String {
        format!(
            "{} {} {}",
            self.subject(),
            self.comparison.symbol(),
            trim_float(self.threshold)
        )
    }

    /// The alarm's value for each period of a range, from its metrics' values:
    /// `value(metric, n)` is metric `metric`'s value for period `n`.
    pub fn values(
        &self,
        periods: std::ops::RangeInclusive<i64>,
        mut value: impl FnMut(usize, i64) -> Option<f64>,
    ) -> Vec<Option<f64>> {
        match &self.source {
            Source::Metric(_) => periods.map(|period| value(0, period)).collect(),
            Source::Math {
                metrics,
                expression,
                ..
            } => {
                let series: Vec<Vec<Option<f64>>> = (0..metrics.len())
                    .map(|metric| {
                        periods
                            .clone()
                            .map(|period| value(metric, period))
                            .collect()
                    })
                    .collect();
                let len = periods.count();
                math::evaluate(expression, len, &|metric| {
                    series.get(metric).cloned().unwrap_or_default()
                })
            }
        }
    }
}

/// The sample count below which a percentile counts as "low sample": 10/(1-p) for p
/// of at least 0.5, and 10/p below it (AWS: fewer than 1 000 samples for p99).
pub fn low_sample_limit(percentile: f64) -> f64 {
    let p = percentile / 100.0;
    if p >= 0.5 {
        if p >= 1.0 {
            f64::INFINITY
        } else {
            10.0 / (1.0 - p)
        }
    } else if p <= 0.0 {
        f64::INFINITY
    } else {
        10.0 / p
    }
}

/// Everything needed to compute any statistic of one period of one metric.
///
/// Values are summarised rather than stored per request, so that a simulated
/// period costs the same at 1 or 10 000 requests per second. Percentiles come from
/// a quantile function supplied by the producer (the simulator knows the latency
/// distribution; the engine keeps a histogram).
#[derive(Clone, Debug, PartialEq)]
pub struct PeriodSamples {
    pub count: u64,
    pub sum: f64,
    /// `None`: derive from the quantiles when asked (costly for mixtures).
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    /// Percentile values, looked up by [`PeriodSamples::statistic`].
    pub quantiles: Quantiles,
}

/// How a period's percentiles are known.
#[derive(Clone, Debug, PartialEq)]
pub enum Quantiles {
    /// Every sample is 0 or 1; `ones` of `count` are 1.
    Flags { ones: u64 },
    /// All samples have (about) the same value: percentiles equal the average.
    Constant,
    /// A mixture of log-normal populations: (weight, mu, sigma) of the underlying normal.
    LogNormalMixture(Vec<(f64, f64, f64)>),
    /// Sorted values, for small exact sets.
    Sorted(Vec<f64>),
    /// (value, count) buckets sorted by value: the local engine's latency histogram.
    Histogram(Vec<(f64, u64)>),
}

impl PeriodSamples {
    /// `count` samples of 0 or 1, `ones` of them 1: the error metrics.
    pub fn flags(count: u64, ones: u64) -> PeriodSamples {
        PeriodSamples {
            count,
            sum: ones as f64,
            minimum: Some(if ones == count { 1.0 } else { 0.0 }),
            maximum: Some(if ones > 0 { 1.0 } else { 0.0 }),
            quantiles: Quantiles::Flags { ones },
        }
    }

    /// `count` samples of the same `value`.
    pub fn constant(count: u64, value: f64) -> PeriodSamples {
        PeriodSamples {
            count,
            sum: value * count as f64,
            minimum: Some(value),
            maximum: Some(value),
            quantiles: Quantiles::Constant,
        }
    }

    /// The same samples with every value multiplied by `factor` (microseconds
    /// to milliseconds: 0.001).
    pub fn scaled(self, factor: f64) -> PeriodSamples {
        let quantiles = match self.quantiles {
            Quantiles::Flags { .. } | Quantiles::Constant => self.quantiles,
            Quantiles::LogNormalMixture(parts) => Quantiles::LogNormalMixture(
                parts
                    .into_iter()
                    .map(|(weight, mu, sigma)| (weight, mu + libm::log(factor), sigma))
                    .collect(),
            ),
            Quantiles::Sorted(values) => {
                Quantiles::Sorted(values.into_iter().map(|value| value * factor).collect())
            }
            Quantiles::Histogram(buckets) => Quantiles::Histogram(
                buckets
                    .into_iter()
                    .map(|(value, count)| (value * factor, count))
                    .collect(),
            ),
        };
        PeriodSamples {
            count: self.count,
            sum: self.sum * factor,
            minimum: self.minimum.map(|value| value * factor),
            maximum: self.maximum.map(|value| value * factor),
            quantiles,
        }
    }

    pub fn statistic(&self, stat: Stat) -> f64 {
        match stat {
            Stat::Basic(Statistic::SampleCount) => self.count as f64,
            Stat::Basic(Statistic::Sum) => self.sum,
            Stat::Basic(Statistic::Average) => self.sum / self.count as f64,
            Stat::Basic(Statistic::Minimum) => self.minimum(),
            Stat::Basic(Statistic::Maximum) => self.maximum(),
            Stat::Percentile(p) => self.percentile(p),
        }
    }

    /// The smallest sample: given, or the 1/(n+1) quantile of the distribution.
    fn minimum(&self) -> f64 {
        self.minimum
            .unwrap_or_else(|| self.percentile(100.0 / (self.count as f64 + 1.0)))
    }

    /// The largest sample: given, or the n/(n+1) quantile of the distribution.
    fn maximum(&self) -> f64 {
        self.maximum.unwrap_or_else(|| {
            self.percentile(100.0 * self.count as f64 / (self.count as f64 + 1.0))
        })
    }

    fn percentile(&self, p: f64) -> f64 {
        let q = (p / 100.0).clamp(0.0, 1.0);
        match &self.quantiles {
            Quantiles::Flags { ones } => {
                // The q-quantile of `count` flags, `ones` of them set: 1 once more than
                // (1 - q) of the samples are ones. p100 is the Maximum, p0 the Minimum.
                if q >= 1.0 {
                    if *ones > 0 {
                        1.0
                    } else {
                        0.0
                    }
                } else if q <= 0.0 {
                    if *ones == self.count {
                        1.0
                    } else {
                        0.0
                    }
                } else if (*ones as f64) > (1.0 - q) * self.count as f64 {
                    1.0
                } else {
                    0.0
                }
            }
            Quantiles::Constant => self.sum / self.count as f64,
            Quantiles::LogNormalMixture(parts) => {
                // p0 and p100 are the extremes; a log-normal has no finite ones, so
                // use the 1/(n+1) and n/(n+1) quantiles, as for Minimum and Maximum.
                let n = self.count as f64;
                lognormal_mixture_quantile(parts, q.clamp(1.0 / (n + 1.0), n / (n + 1.0)))
            }
            Quantiles::Sorted(values) => nearest_rank(values, q),
            Quantiles::Histogram(buckets) => {
                let total: u64 = buckets.iter().map(|(_, count)| count).sum();
                let rank = (libm::ceil(q * total as f64) as u64).clamp(1, total.max(1));
                let mut seen = 0;
                for (value, count) in buckets {
                    seen += count;
                    if seen >= rank {
                        return *value;
                    }
                }
                buckets.last().map(|(value, _)| *value).unwrap_or(f64::NAN)
            }
        }
    }
}

/// The nearest-rank percentile of sorted values.
pub fn nearest_rank(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = libm::ceil(q * sorted.len() as f64) as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The q-quantile of a weighted mixture of log-normal distributions, by bisection
/// on the log scale (40 halvings: far below a microsecond of error).
pub fn lognormal_mixture_quantile(parts: &[(f64, f64, f64)], q: f64) -> f64 {
    let total: f64 = parts.iter().map(|(weight, _, _)| weight).sum();
    if total <= 0.0 {
        return f64::NAN;
    }
    let cdf = |x: f64| -> f64 {
        let ln_x = libm::log(x);
        parts
            .iter()
            .map(|(weight, mu, sigma)| weight * normal_cdf((ln_x - mu) / sigma))
            .sum::<f64>()
            / total
    };
    let mut low = parts
        .iter()
        .map(|(_, mu, sigma)| mu - 9.0 * sigma)
        .fold(f64::INFINITY, f64::min);
    let mut high = parts
        .iter()
        .map(|(_, mu, sigma)| mu + 9.0 * sigma)
        .fold(f64::NEG_INFINITY, f64::max);
    for _ in 0..40 {
        let middle = 0.5 * (low + high);
        if cdf(libm::exp(middle)) < q {
            low = middle;
        } else {
            high = middle;
        }
    }
    libm::exp(0.5 * (low + high))
}

/// The standard normal CDF, via libm's erfc so that Wasm and native agree.
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * libm::erfc(-z / core::f64::consts::SQRT_2)
}

/// One datapoint in an evaluation, oldest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvaluatedPoint {
    /// Start of the period, in seconds from the start of the rollout (negative
    /// before it).
    pub period_start_seconds: i64,
    pub value: Option<f64>,
    pub breaching: Option<bool>,
}

/// The outcome of one evaluation: the state and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub state: AlarmState,
    /// The datapoints of the evaluation range, oldest first.
    pub points: Vec<EvaluatedPoint>,
    /// Breaching datapoints among those that counted (real or filled).
    pub breaching: u32,
    /// How many points counted: `EvaluationPeriods`, or fewer real ones for `missing`.
    pub considered: u32,
    /// How many missing points were filled in by `TreatMissingData`.
    pub filled: u32,
}

impl Evaluation {
    /// A sentence in the spirit of CloudWatch's StateReason: the observed values,
    /// the threshold, and how many datapoints breached. Built on demand, because
    /// most evaluations change nothing and need no sentence.
    pub fn reason(&self, rule: &AlarmRule) -> String {
        describe(rule, self, Times::Plan)
    }

    /// The same sentence, with each datapoint's time written as `times` says.
    pub fn reason_in(&self, rule: &AlarmRule, times: Times) -> String {
        describe(rule, self, times)
    }
}

/// How a reason writes a datapoint's time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Times {
    /// Seconds from the start of the rollout: `t=60s`.
    #[default]
    Plan,
    /// Epoch seconds, written as CloudWatch writes them in a StateReason:
    /// `22/11/26 16:15:00` (day/month/year, UTC).
    Epoch,
}

impl Times {
    fn label(self, seconds: i64) -> String {
        match self {
            Times::Plan => format!("t={seconds}s"),
            Times::Epoch => {
                let days = seconds.div_euclid(86_400);
                let of_day = seconds.rem_euclid(86_400);
                let (year, month, day) = civil_from_days(days);
                format!(
                    "{day:02}/{month:02}/{:02} {:02}:{:02}:{:02}",
                    year.rem_euclid(100),
                    of_day / 3_600,
                    of_day / 60 % 60,
                    of_day % 60
                )
            }
        }
    }
}

/// The proleptic Gregorian date of a day count from 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Evaluates an alarm the way CloudWatch does.
///
/// `range` holds the datapoints of the evaluation range, oldest first: the value of
/// each period, or `None` where the period is missing. `range[i]` starts at
/// `first_period_start + i * period`. `current` is the state before this
/// evaluation, used by `TreatMissingData: ignore`.
///
/// The rules, from AWS's page on alarms and missing data:
/// - none missing: the most recent `EvaluationPeriods` points count;
/// - some missing, but at least `EvaluationPeriods` real points: the most recent
///   real points count, and `TreatMissingData` does not matter;
/// - fewer real points than that: missing points are filled as `TreatMissingData`
///   says, as few as possible, keeping every real point;
/// - `DatapointsToAlarm` or more breaching points give ALARM, fewer give OK.
///
/// `missing` and `ignore` with too few real points are not fully specified by AWS;
/// see `crate::assumptions` (`missing_data_missing`) for the rule that reproduces
/// every row of AWS's two tables.
pub fn evaluate(
    rule: &AlarmRule,
    range: &[Option<f64>],
    first_period_start: i64,
    current: AlarmState,
) -> Evaluation {
    let needed = rule.datapoints_to_alarm;
    let periods = rule.evaluation_periods as usize;
    let points: Vec<EvaluatedPoint> = range
        .iter()
        .enumerate()
        .map(|(index, value)| EvaluatedPoint {
            period_start_seconds: first_period_start
                + index as i64 * i64::from(rule.period_seconds),
            value: *value,
            breaching: value.map(|value| rule.comparison.breaches(value, rule.threshold)),
        })
        .collect();
    let real: Vec<bool> = points.iter().filter_map(|point| point.breaching).collect();
    let newest_missing = points.last().is_none_or(|point| point.value.is_none());

    let verdict = if real.len() >= periods {
        // Enough real data: the most recent `periods` real points decide.
        let recent = &real[real.len() - periods..];
        let breaching = count_true(recent);
        Verdict::decided(breaching, periods as u32, 0, needed)
    } else if real.is_empty() {
        match rule.treat_missing_data {
            TreatMissingData::Missing => Verdict::state(AlarmState::InsufficientData, 0, 0, 0),
            TreatMissingData::Ignore => Verdict::state(current, 0, 0, 0),
            TreatMissingData::Breaching => {
                Verdict::decided(periods as u32, periods as u32, periods as u32, needed)
            }
            TreatMissingData::NotBreaching => {
                Verdict::decided(0, periods as u32, periods as u32, needed)
            }
        }
    } else {
        let breaching = count_true(&real);
        let fills = (periods - real.len()) as u32;
        let considered = real.len() as u32;
        match rule.treat_missing_data {
            TreatMissingData::Breaching => {
                Verdict::decided(breaching + fills, periods as u32, fills, needed)
            }
            TreatMissingData::NotBreaching => {
                Verdict::decided(breaching, periods as u32, fills, needed)
            }
            TreatMissingData::Missing | TreatMissingData::Ignore => {
                let all_breaching = breaching == considered;
                let state = if breaching >= needed {
                    AlarmState::Alarm
                } else if !all_breaching {
                    AlarmState::Ok
                } else if rule.treat_missing_data == TreatMissingData::Ignore {
                    current
                } else if newest_missing {
                    AlarmState::Alarm
                } else {
                    AlarmState::InsufficientData
                };
                Verdict::state(state, breaching, considered, 0)
            }
        }
    };

    Evaluation {
        state: verdict.state,
        points,
        breaching: verdict.breaching,
        considered: verdict.considered,
        filled: verdict.filled,
    }
}

/// Evaluates `rule` at `now_ms`, the end of one of its periods, over its
/// evaluation range; `datapoint(metric, n)` gives the value of the alarm's
/// metric number `metric` (always 0 for a single-metric alarm) for period
/// number `n` (the period starting at `n × Period`), or `None` where it is
/// missing. A math alarm's expression is evaluated over the range. The
/// simulator and the local engine both evaluate through here.
pub fn evaluate_at(
    rule: &AlarmRule,
    now_ms: u64,
    current: AlarmState,
    datapoint: impl FnMut(usize, i64) -> Option<f64>,
) -> Evaluation {
    let period_ms = i64::from(rule.period_seconds) * 1_000;
    let newest = now_ms as i64 / period_ms - 1;
    let oldest = newest - i64::from(rule.evaluation_range()) + 1;
    let values = rule.values(oldest..=newest, datapoint);
    evaluate(
        rule,
        &values,
        oldest * i64::from(rule.period_seconds),
        current,
    )
}

struct Verdict {
    state: AlarmState,
    breaching: u32,
    considered: u32,
    filled: u32,
}

impl Verdict {
    fn decided(breaching: u32, considered: u32, filled: u32, needed: u32) -> Self {
        let state = if breaching >= needed {
            AlarmState::Alarm
        } else {
            AlarmState::Ok
        };
        Self::state(state, breaching, considered, filled)
    }

    fn state(state: AlarmState, breaching: u32, considered: u32, filled: u32) -> Self {
        Self {
            state,
            breaching,
            considered,
            filled,
        }
    }
}

fn count_true(flags: &[bool]) -> u32 {
    flags.iter().filter(|flag| **flag).count() as u32
}

fn describe(rule: &AlarmRule, verdict: &Evaluation, times: Times) -> String {
    let recent: Vec<String> = verdict
        .points
        .iter()
        .rev()
        .take(rule.evaluation_periods as usize)
        .map(|point| match point.value {
            Some(value) => format!(
                "{}{} ({})",
                trim_float(round_to(value, 4)),
                if point.breaching == Some(true) {
                    "!"
                } else {
                    ""
                },
                times.label(point.period_start_seconds)
            ),
            None => format!("missing ({})", times.label(point.period_start_seconds)),
        })
        .collect();
    let fills = if verdict.filled > 0 {
        format!(
            "; {} missing datapoint(s) treated as {}",
            verdict.filled,
            rule.treat_missing_data.as_str()
        )
    } else {
        String::new()
    };
    let what = match verdict.state {
        AlarmState::Alarm => "Threshold crossed",
        AlarmState::Ok => "Within threshold",
        AlarmState::InsufficientData => "Insufficient data",
    };
    if verdict.considered == 0 {
        return format!(
            "{what}: no datapoints in the last {} period(s) [{}]; missing data is treated as {}",
            rule.evaluation_range(),
            recent.join(", "),
            rule.treat_missing_data.as_str()
        );
    }
    format!(
        "{what}: {} of the last {} datapoint(s) [{}] {} {} {} (needs {} to alarm){fills}",
        verdict.breaching,
        verdict.considered,
        recent.join(", "),
        if verdict.breaching == 1 {
            "was"
        } else {
            "were"
        },
        rule.comparison.words(),
        trim_float(rule.threshold),
        rule.datapoints_to_alarm,
    )
}

fn round_to(value: f64, digits: i32) -> f64 {
    let scale = libm::pow(10.0, f64::from(digits));
    libm::round(value * scale) / scale
}

/// Formats a float without a trailing ".0" and without exponent noise for the
/// values people type (1, 0.05, 10000, 99.9).
pub fn trim_float(value: f64) -> String {
    if value.is_finite() && value == libm::trunc(value) && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(m: u32, n: u32, treat: TreatMissingData) -> AlarmRule {
        AlarmRule {
            name: "test".into(),
            source: Source::Metric(Query {
                identity: MetricIdentity::new(NAMESPACE, "Invocation5XXErrors", Vec::new()),
                metric: Some(Metric::Invocation5XXErrors),
                scope: Scope::Endpoint,
                stat: Stat::Basic(Statistic::Average),
            }),
            period_seconds: 300,
            evaluation_periods: n,
            datapoints_to_alarm: m,
            threshold: 1.0,
            comparison: Comparison::GreaterOrEqual,
            treat_missing_data: treat,
            low_sample_count: LowSampleCountPercentile::Evaluate,
        }
    }

    /// Turns "0 - X - X" (oldest first) into datapoints: X breaches (value 1), 0 does not.
    fn points(text: &str) -> Vec<Option<f64>> {
        text.split_whitespace()
            .map(|token| match token {
                "0" => Some(0.0),
                "X" => Some(1.0),
                "-" => None,
                other => panic!("bad token {other}"),
            })
            .collect()
    }

    /// `expected` lists MISSING, IGNORE, BREACHING, NOT BREACHING, as in AWS's tables;
    /// "retain" means the state before the evaluation is kept.
    fn check(m: u32, n: u32, data: &str, expected: [&str; 4]) {
        let treatments = [
            TreatMissingData::Missing,
            TreatMissingData::Ignore,
            TreatMissingData::Breaching,
            TreatMissingData::NotBreaching,
        ];
        for (treat, want) in treatments.into_iter().zip(expected) {
            for current in [
                AlarmState::Ok,
                AlarmState::Alarm,
                AlarmState::InsufficientData,
            ] {
                let got = evaluate(&rule(m, n, treat), &points(data), 0, current).state;
                let want = match want {
                    "OK" => AlarmState::Ok,
                    "ALARM" => AlarmState::Alarm,
                    "INSUFFICIENT_DATA" => AlarmState::InsufficientData,
                    "retain" => current,
                    other => panic!("bad expectation {other}"),
                };
                assert_eq!(
                    got, want,
                    "{m} of {n}, points `{data}`, {treat:?}, state before {current:?}"
                );
            }
        }
    }

    /// AWS's first table: DatapointsToAlarm = EvaluationPeriods = 3, five points retrieved.
    #[test]
    fn cloudwatch_missing_data_table_three_of_three() {
        check(3, 3, "0 - X - X", ["OK", "OK", "OK", "OK"]);
        check(3, 3, "0 - - - -", ["OK", "OK", "OK", "OK"]);
        check(
            3,
            3,
            "- - - - -",
            ["INSUFFICIENT_DATA", "retain", "ALARM", "OK"],
        );
        check(3, 3, "0 X X - X", ["ALARM", "ALARM", "ALARM", "ALARM"]);
        check(
            3,
            3,
            "- - - - X",
            ["INSUFFICIENT_DATA", "retain", "ALARM", "OK"],
        );
        check(3, 3, "X - - - -", ["ALARM", "retain", "ALARM", "OK"]);
    }

    /// AWS's second table: a 2 out of 3 alarm.
    #[test]
    fn cloudwatch_missing_data_table_two_of_three() {
        check(2, 3, "0 - X - X", ["ALARM", "ALARM", "ALARM", "ALARM"]);
        check(2, 3, "0 0 X 0 X", ["ALARM", "ALARM", "ALARM", "ALARM"]);
        check(2, 3, "0 - X - -", ["OK", "OK", "ALARM", "OK"]);
        check(2, 3, "- - - - 0", ["OK", "OK", "ALARM", "OK"]);
        check(
            2,
            3,
            "- - - - X",
            ["INSUFFICIENT_DATA", "retain", "ALARM", "OK"],
        );
    }

    #[test]
    fn m_out_of_n_needs_not_be_consecutive() {
        check(2, 4, "0 0 X 0 X 0", ["ALARM", "ALARM", "ALARM", "ALARM"]);
        check(3, 4, "0 0 X 0 X 0", ["OK", "OK", "OK", "OK"]);
    }

    #[test]
    fn comparison_operators_are_strict_or_not_as_named() {
        assert!(Comparison::GreaterOrEqual.breaches(1.0, 1.0));
        assert!(!Comparison::Greater.breaches(1.0, 1.0));
        assert!(Comparison::LessOrEqual.breaches(1.0, 1.0));
        assert!(!Comparison::Less.breaches(1.0, 1.0));
        assert!(Comparison::Less.breaches(0.5, 1.0));
    }

    #[test]
    fn statistics_of_a_period() {
        let flags = PeriodSamples {
            count: 100,
            sum: 3.0,
            minimum: Some(0.0),
            maximum: Some(1.0),
            quantiles: Quantiles::Flags { ones: 3 },
        };
        assert_eq!(flags.statistic(Stat::Basic(Statistic::Average)), 0.03);
        assert_eq!(flags.statistic(Stat::Basic(Statistic::Sum)), 3.0);
        assert_eq!(flags.statistic(Stat::Basic(Statistic::SampleCount)), 100.0);
        assert_eq!(flags.statistic(Stat::Basic(Statistic::Minimum)), 0.0);
        assert_eq!(flags.statistic(Stat::Basic(Statistic::Maximum)), 1.0);
        // 3 % ones: p98 is 1 (more than 2 % are ones), p97 is 0 (exactly 3 %, not more).
        assert_eq!(flags.statistic(Stat::Percentile(98.0)), 1.0);
        assert_eq!(flags.statistic(Stat::Percentile(97.0)), 0.0);

        let sorted = PeriodSamples {
            count: 4,
            sum: 10.0,
            minimum: Some(1.0),
            maximum: Some(4.0),
            quantiles: Quantiles::Sorted(vec![1.0, 2.0, 3.0, 4.0]),
        };
        assert_eq!(sorted.statistic(Stat::Percentile(50.0)), 2.0);
        assert_eq!(sorted.statistic(Stat::Percentile(99.0)), 4.0);
        assert_eq!(sorted.statistic(Stat::Basic(Statistic::Average)), 2.5);

        let histogram = PeriodSamples {
            count: 100,
            sum: 1_000.0,
            minimum: None,
            maximum: None,
            quantiles: Quantiles::Histogram(vec![(5.0, 90), (50.0, 9), (500.0, 1)]),
        };
        assert_eq!(histogram.statistic(Stat::Percentile(90.0)), 5.0);
        assert_eq!(histogram.statistic(Stat::Percentile(99.0)), 50.0);
        assert_eq!(histogram.statistic(Stat::Basic(Statistic::Maximum)), 500.0);
    }

    #[test]
    fn lognormal_quantile_matches_closed_form() {
        // One log-normal population: the median is exp(mu), p84.13 is exp(mu + sigma).
        let parts = [(1.0, 2.0, 0.5)];
        let median = lognormal_mixture_quantile(&parts, 0.5);
        assert!((median - libm::exp(2.0)).abs() < 1e-6, "{median}");
        let upper = lognormal_mixture_quantile(&parts, normal_cdf(1.0));
        assert!((upper - libm::exp(2.5)).abs() < 1e-6, "{upper}");
    }

    #[test]
    fn percentile_parsing_accepts_cloudwatch_forms_only() {
        assert_eq!(Stat::parse_percentile("p99"), Some(Stat::Percentile(99.0)));
        assert_eq!(
            Stat::parse_percentile("p99.9"),
            Some(Stat::Percentile(99.9))
        );
        assert_eq!(
            Stat::parse_percentile("p100"),
            Some(Stat::Percentile(100.0))
        );
        for bad in ["p", "p101", "99", "tm90", "p9.", "p.5", "p-1", "P99"] {
            assert_eq!(Stat::parse_percentile(bad), None, "{bad}");
        }
    }

    #[test]
    fn low_sample_limits_follow_aws() {
        assert!((low_sample_limit(99.0) - 1000.0).abs() < 1e-6);
        assert!((low_sample_limit(90.0) - 100.0).abs() < 1e-6);
        assert!((low_sample_limit(10.0) - 100.0).abs() < 1e-6);
    }

    #[test]
    fn scope_is_an_exact_dimension_match() {
        let for_plan = ("ep", "AllTraffic", "v2");
        let dims = |pairs: &[(&str, &str)]| -> Vec<Dimension> {
            pairs
                .iter()
                .map(|(name, value)| Dimension::new(name, value))
                .collect()
        };
        for (dimensions, expected) in [
            (
                dims(&[("EndpointName", "ep"), ("VariantName", "AllTraffic")]),
                Scope::Endpoint,
            ),
            (
                dims(&[("VariantName", "AllTraffic"), ("EndpointName", "ep")]),
                Scope::Endpoint,
            ),
            (
                dims(&[
                    ("EndpointName", "ep"),
                    ("VariantName", "AllTraffic"),
                    ("EndpointConfigName", "v2"),
                ]),
                Scope::NewFleet,
            ),
            (
                dims(&[
                    ("EndpointName", "ep"),
                    ("VariantName", "AllTraffic"),
                    ("EndpointConfigName", "v1"),
                ]),
                Scope::Unrelated,
            ),
            (dims(&[("EndpointName", "ep")]), Scope::NoMetric),
            (
                dims(&[("EndpointName", "ep"), ("EndpointConfigName", "v2")]),
                Scope::NoMetric,
            ),
            (
                dims(&[
                    ("EndpointName", "ep"),
                    ("VariantName", "AllTraffic"),
                    ("Host", "a"),
                ]),
                Scope::NoMetric,
            ),
            (
                dims(&[
                    ("EndpointName", "ep"),
                    ("EndpointName", "ep"),
                    ("VariantName", "AllTraffic"),
                ]),
                Scope::NoMetric,
            ),
            (dims(&[]), Scope::NoMetric),
            (
                dims(&[("EndpointName", "other"), ("VariantName", "AllTraffic")]),
                Scope::Unrelated,
            ),
        ] {
            assert_eq!(
                scope_of(NAMESPACE, "Invocation5XXErrors", &dimensions, for_plan),
                expected,
                "{dimensions:?}"
            );
        }
        let variant = dims(&[("EndpointName", "ep"), ("VariantName", "AllTraffic")]);
        assert_eq!(
            scope_of("Custom", "Invocation5XXErrors", &variant, for_plan),
            Scope::Team
        );
        assert_eq!(
            scope_of("AWS/EC2", "CPUUtilization", &variant, for_plan),
            Scope::Unrelated
        );
        assert_eq!(
            scope_of(NAMESPACE, "CPUUtilization", &variant, for_plan),
            Scope::Unrelated
        );
    }

    #[test]
    fn reason_names_values_and_threshold() {
        let evaluation = evaluate(
            &rule(1, 1, TreatMissingData::NotBreaching),
            &[Some(0.0), Some(0.2), Some(1.0)],
            -600,
            AlarmState::Ok,
        );
        assert_eq!(evaluation.state, AlarmState::Alarm);
        let reason = evaluation.reason(&rule(1, 1, TreatMissingData::NotBreaching));
        let epoch = evaluation.reason_in(&rule(1, 1, TreatMissingData::NotBreaching), Times::Epoch);
        assert!(epoch.contains("[1! (01/01/70 00:00:00)]"), "{epoch}");
        assert_eq!(Times::Epoch.label(1_795_364_100), "22/11/26 16:15:00");
        assert_eq!(Times::Epoch.label(951_782_400), "29/02/00 00:00:00");
        assert!(
            reason.contains("[1! (t=0s)]") && reason.contains("greater than or equal to 1"),
            "{reason}"
        );
    }
}
