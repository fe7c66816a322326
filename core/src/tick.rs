//! What the fleets served over one tick of a run's metric clock, and over one
//! period of a record: the measurements every other part reads (the alarm
//! monitor, the canary judge, the simulator, the engine, the records).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::alarm::{Metric, PeriodSamples, Quantiles, Stat};

/// Latency histogram buckets are 2 % wide: bucket `i` holds values near
/// `1.02^i` microseconds.
pub const LATENCY_BUCKET_GROWTH: f64 = 1.02;

/// One period's metrics of one fleet, in SageMaker's names and units.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FleetMetrics {
    pub invocations: u64,
    pub invocation_4xx_errors: u64,
    pub invocation_5xx_errors: u64,
    pub invocation_model_errors: u64,
    /// Mean ModelLatency in microseconds, when there were invocations.
    pub model_latency_average_us: Option<f64>,
    pub model_latency_p99_us: Option<f64>,
    /// Mean OverheadLatency in microseconds.
    pub overhead_latency_average_us: Option<f64>,
}

impl FleetMetrics {
    /// The period as a tick without per-request latencies: counts, and the
    /// latency sum its average implies. The canary judge compares such ticks
    /// by their counts and averages ([`crate::judge`]).
    pub fn as_tick(&self) -> FleetTick {
        FleetTick {
            invocations: self.invocations,
            errors_4xx: self.invocation_4xx_errors,
            errors_5xx: self.invocation_5xx_errors,
            model_errors: self.invocation_model_errors,
            model_latency_sum_us: self
                .model_latency_average_us
                .filter(|average| average.is_finite() && *average > 0.0)
                .map_or(0.0, |average| average * self.invocations as f64),
            ..FleetTick::default()
        }
    }
}

/// One fleet's invocations over one tick of a run's metric clock: what the
/// alarm monitor needs of every metric SageMaker publishes per endpoint
/// (counts, sums, extremes and the latency histogram). The local engine judges
/// its alarms from these, and records them in `MetricPeriod` events, so that
/// alarms re-judged from a record see exactly the datapoints the run's own did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FleetTick {
    pub invocations: u64,
    pub errors_4xx: u64,
    pub errors_5xx: u64,
    pub model_errors: u64,
    pub model_latency_sum_us: f64,
    pub overhead_sum_us: f64,
    /// Log bucket index ([`LATENCY_BUCKET_GROWTH`]) → count of ModelLatency
    /// samples; written as `[[index, count], …]`, since an event's kind is read
    /// through serde's buffered form, which cannot read integer map keys.
    #[serde(with = "pairs")]
    pub latency: BTreeMap<i32, u64>,
    pub latency_min_us: Option<f64>,
    pub latency_max_us: Option<f64>,
    /// Instances serving when the tick last saw an invocation.
    pub instances: u32,
}

impl FleetTick {
    /// Adds `other`'s invocations to these.
    pub fn add(&mut self, other: &FleetTick) {
        self.invocations = self.invocations.saturating_add(other.invocations);
        self.errors_4xx = self.errors_4xx.saturating_add(other.errors_4xx);
        self.errors_5xx = self.errors_5xx.saturating_add(other.errors_5xx);
        self.model_errors = self.model_errors.saturating_add(other.model_errors);
        self.model_latency_sum_us += other.model_latency_sum_us;
        self.overhead_sum_us += other.overhead_sum_us;
        for (bucket, count) in &other.latency {
            let entry = self.latency.entry(*bucket).or_default();
            *entry = entry.saturating_add(*count);
        }
        self.latency_min_us = extreme(self.latency_min_us, other.latency_min_us, f64::min);
        self.latency_max_us = extreme(self.latency_max_us, other.latency_max_us, f64::max);
        self.instances = self.instances.max(other.instances);
    }

    /// Adds one invocation: its HTTP status, latencies and the fleet's
    /// instances at the time.
    pub fn record(&mut self, status: u16, model_latency_us: f64, overhead_us: f64, instances: u32) {
        self.invocations = self.invocations.saturating_add(1);
        match status {
            200..=299 => {}
            400..=499 => {
                self.errors_4xx = self.errors_4xx.saturating_add(1);
                self.model_errors = self.model_errors.saturating_add(1);
            }
            _ => {
                self.errors_5xx = self.errors_5xx.saturating_add(1);
                self.model_errors = self.model_errors.saturating_add(1);
            }
        }
        self.model_latency_sum_us += model_latency_us;
        self.overhead_sum_us += overhead_us;
        let index = (libm::log(model_latency_us.max(1.0)) / libm::log(LATENCY_BUCKET_GROWTH))
            .round() as i32;
        let entry = self.latency.entry(index).or_default();
        *entry = entry.saturating_add(1);
        self.latency_min_us = extreme(self.latency_min_us, Some(model_latency_us), f64::min);
        self.latency_max_us = extreme(self.latency_max_us, Some(model_latency_us), f64::max);
        self.instances = instances;
    }

    /// The metrics event summary of this tick.
    pub fn summary(&self) -> FleetMetrics {
        let average = |sum: f64| (self.invocations > 0).then(|| sum / self.invocations as f64);
        FleetMetrics {
            invocations: self.invocations,
            invocation_4xx_errors: self.errors_4xx,
            invocation_5xx_errors: self.errors_5xx,
            invocation_model_errors: self.model_errors,
            model_latency_average_us: average(self.model_latency_sum_us),
            model_latency_p99_us: self
                .samples(Metric::ModelLatency, 1)
                .map(|samples| samples.statistic(Stat::Percentile(99.0))),
            overhead_latency_average_us: average(self.overhead_sum_us),
        }
    }

    /// The samples of `metric` in this tick, `None` without invocations.
    /// `instances` serve it, for InvocationsPerInstance.
    pub fn samples(&self, metric: Metric, instances: u32) -> Option<PeriodSamples> {
        let count = self.invocations;
        if count == 0 {
            return None;
        }
        Some(match metric {
            Metric::Invocations => PeriodSamples::constant(count, 1.0),
            Metric::InvocationsPerInstance => {
                PeriodSamples::constant(count, 1.0 / f64::from(instances.max(1)))
            }
            Metric::Invocation4XXErrors => PeriodSamples::flags(count, self.errors_4xx),
            Metric::Invocation5XXErrors => PeriodSamples::flags(count, self.errors_5xx),
            Metric::InvocationModelErrors => PeriodSamples::flags(count, self.model_errors),
            Metric::OverheadLatency => {
                PeriodSamples::constant(count, self.overhead_sum_us / count as f64)
            }
            Metric::ModelLatency => PeriodSamples {
                count,
                sum: self.model_latency_sum_us,
                minimum: self.latency_min_us,
                maximum: self.latency_max_us,
                quantiles: Quantiles::Histogram(
                    self.latency
                        .iter()
                        .map(|(bucket, count)| {
                            (libm::pow(LATENCY_BUCKET_GROWTH, f64::from(*bucket)), *count)
                        })
                        .collect(),
                ),
            },
        })
    }
}

/// A map as a list of `[key, value]` pairs.
mod pairs {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(
        map: &BTreeMap<i32, u64>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let pairs: Vec<(i32, u64)> = map.iter().map(|(key, value)| (*key, *value)).collect();
        pairs.serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<BTreeMap<i32, u64>, D::Error> {
        let pairs = Vec::<(i32, u64)>::deserialize(deserializer)?;
        Ok(pairs.into_iter().collect())
    }
}

/// `pick` of two extremes, either of which may be unknown.
fn extreme(a: Option<f64>, b: Option<f64>, pick: fn(f64, f64) -> f64) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(pick(a, b)),
        (a, b) => a.or(b),
    }
}
