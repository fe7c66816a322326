//! Per-period metrics of an endpoint, in SageMaker's names and units, on the
//! running rollout's plan clock.
//!
//! The router records every invocation here. While a rollout runs, requests are
//! summed into ticks of plan time (the greatest common divisor of the alarm
//! periods), per fleet; alarm datapoints and the `MetricPeriod` events are read
//! from those ticks. Latency keeps a log-bucket histogram (2 % wide buckets) so
//! that percentiles cost the same at any request rate.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use guardrail_core::alarm::{Metric, PeriodSamples, Quantiles, Scope};
use guardrail_core::event::{Fleet, FleetMetrics};
use guardrail_core::Fleets;

/// Plan time of a run: real time since the start, times the time scale.
#[derive(Clone, Copy, Debug)]
pub struct PlanClock {
    start: Instant,
    scale: f64,
}

impl PlanClock {
    pub fn start(scale: f64) -> PlanClock {
        PlanClock {
            start: Instant::now(),
            scale: scale.max(1e-6),
        }
    }

    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// Plan milliseconds since the start.
    pub fn now_ms(&self) -> u64 {
        (self.start.elapsed().as_secs_f64() * 1_000.0 * self.scale) as u64
    }

    /// The real instant at which plan time reaches `plan_ms`.
    pub fn instant_at(&self, plan_ms: u64) -> Instant {
        self.start + std::time::Duration::from_secs_f64(plan_ms as f64 / 1_000.0 / self.scale)
    }
}

const BUCKET_GROWTH: f64 = 1.02;

/// One fleet's sums over one tick.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FleetBucket {
    pub invocations: u64,
    pub errors_4xx: u64,
    pub errors_5xx: u64,
    pub model_errors: u64,
    pub model_latency_sum_us: f64,
    pub overhead_sum_us: f64,
    /// Log bucket index → count of ModelLatency samples.
    pub latency: BTreeMap<i32, u64>,
}

impl FleetBucket {
    fn add(&mut self, other: &FleetBucket) {
        self.invocations += other.invocations;
        self.errors_4xx += other.errors_4xx;
        self.errors_5xx += other.errors_5xx;
        self.model_errors += other.model_errors;
        self.model_latency_sum_us += other.model_latency_sum_us;
        self.overhead_sum_us += other.overhead_sum_us;
        for (bucket, count) in &other.latency {
            *self.latency.entry(*bucket).or_default() += count;
        }
    }

    fn quantile_us(&self, q: f64) -> Option<f64> {
        let samples = self.samples(Metric::ModelLatency, 1)?;
        Some(samples.statistic(guardrail_core::alarm::Stat::Percentile(q * 100.0)))
    }

    /// The metrics event form of this bucket.
    pub fn summary(&self) -> FleetMetrics {
        let average = |sum: f64| (self.invocations > 0).then(|| sum / self.invocations as f64);
        FleetMetrics {
            invocations: self.invocations,
            invocation_4xx_errors: self.errors_4xx,
            invocation_5xx_errors: self.errors_5xx,
            invocation_model_errors: self.model_errors,
            model_latency_average_us: average(self.model_latency_sum_us),
            model_latency_p99_us: self.quantile_us(0.99),
            overhead_latency_average_us: average(self.overhead_sum_us),
        }
    }

    /// The samples of `metric` in this bucket, `None` without invocations.
    /// `instances` serve the bucket, for InvocationsPerInstance.
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
                minimum: None,
                maximum: None,
                quantiles: Quantiles::Histogram(
                    self.latency
                        .iter()
                        .map(|(bucket, count)| (BUCKET_GROWTH.powi(*bucket), *count))
                        .collect(),
                ),
            },
        })
    }
}

/// What the router saw of one invocation.
#[derive(Clone, Copy, Debug)]
pub struct Observation {
    pub fleet: Fleet,
    /// The HTTP status returned to the caller.
    pub status: u16,
    pub model_latency_us: f64,
    pub overhead_us: f64,
}

struct Recording {
    clock: PlanClock,
    tick_ms: u64,
    ticks: BTreeMap<u64, [FleetBucket; 2]>,
}

/// An endpoint's metrics. Outside a rollout only the total count is kept.
#[derive(Default)]
pub struct Metrics {
    recording: Mutex<Option<Recording>>,
    total: std::sync::atomic::AtomicU64,
}

fn slot(fleet: Fleet) -> usize {
    match fleet {
        Fleet::Blue => 0,
        Fleet::Green => 1,
    }
}

impl Metrics {
    /// Starts summing into ticks of `tick_ms` plan milliseconds.
    pub fn begin(&self, clock: PlanClock, tick_ms: u64) {
        if let Ok(mut recording) = self.recording.lock() {
            *recording = Some(Recording {
                clock,
                tick_ms: tick_ms.max(1),
                ticks: BTreeMap::new(),
            });
        }
    }

    pub fn end(&self) {
        if let Ok(mut recording) = self.recording.lock() {
            *recording = None;
        }
    }

    /// Invocations seen since start-up.
    pub fn total(&self) -> u64 {
        self.total.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn record(&self, observation: Observation) {
        self.total
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let Ok(mut guard) = self.recording.lock() else {
            return;
        };
        let Some(recording) = guard.as_mut() else {
            return;
        };
        let tick = recording.clock.now_ms() / recording.tick_ms;
        let bucket = &mut recording.ticks.entry(tick).or_default()[slot(observation.fleet)];
        bucket.invocations += 1;
        match observation.status {
            200..=299 => {}
            400..=499 => {
                bucket.errors_4xx += 1;
                bucket.model_errors += 1;
            }
            _ => {
                bucket.errors_5xx += 1;
                bucket.model_errors += 1;
            }
        }
        bucket.model_latency_sum_us += observation.model_latency_us;
        bucket.overhead_sum_us += observation.overhead_us;
        let index =
            (observation.model_latency_us.max(1.0).ln() / BUCKET_GROWTH.ln()).round() as i32;
        *bucket.latency.entry(index).or_default() += 1;
    }

    /// Blue and green sums over `[from_ms, to_ms)` of plan time.
    pub fn window(&self, from_ms: u64, to_ms: u64) -> [FleetBucket; 2] {
        let mut total: [FleetBucket; 2] = Default::default();
        let Ok(guard) = self.recording.lock() else {
            return total;
        };
        let Some(recording) = guard.as_ref() else {
            return total;
        };
        let first = from_ms / recording.tick_ms;
        let last = to_ms.div_ceil(recording.tick_ms);
        for (_, buckets) in recording.ticks.range(first..last) {
            total[0].add(&buckets[0]);
            total[1].add(&buckets[1]);
        }
        total
    }

    /// The samples an alarm with `scope` sees of `metric` over a window.
    /// `serving` counts the instances, for InvocationsPerInstance.
    pub fn samples(
        &self,
        metric: Metric,
        scope: Scope,
        from_ms: u64,
        to_ms: u64,
        serving: Fleets,
    ) -> Option<PeriodSamples> {
        let [blue, green] = self.window(from_ms, to_ms);
        match scope {
            Scope::NoMetric | Scope::Unrelated => None,
            Scope::NewFleet => green.samples(metric, serving.green),
            Scope::Endpoint => {
                let mut both = blue;
                both.add(&green);
                both.samples(metric, serving.green + serving.blue)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use guardrail_core::alarm::Stat;
    use guardrail_core::plan::Statistic;

    fn observe(metrics: &Metrics, fleet: Fleet, status: u16, latency_us: f64) {
        metrics.record(Observation {
            fleet,
            status,
            model_latency_us: latency_us,
            overhead_us: 100.0,
        });
    }

    #[test]
    fn errors_and_latency_sum_per_fleet_and_scope() {
        let metrics = Metrics::default();
        // A huge scale would move the clock between records; a tiny one keeps
        // every record in tick 0.
        metrics.begin(PlanClock::start(1e-6), 60_000);
        for _ in 0..3 {
            observe(&metrics, Fleet::Blue, 200, 1_000.0);
        }
        observe(&metrics, Fleet::Green, 500, 5_000.0);
        let endpoint = metrics
            .samples(
                Metric::Invocation5XXErrors,
                Scope::Endpoint,
                0,
                60_000,
                Fleets::new(1, 3),
            )
            .expect("data");
        assert_eq!(endpoint.statistic(Stat::Basic(Statistic::Average)), 0.25);
        let green = metrics
            .samples(
                Metric::Invocation5XXErrors,
                Scope::NewFleet,
                0,
                60_000,
                Fleets::new(1, 3),
            )
            .expect("data");
        assert_eq!(green.statistic(Stat::Basic(Statistic::Average)), 1.0);
        let latency = metrics
            .samples(
                Metric::ModelLatency,
                Scope::Endpoint,
                0,
                60_000,
                Fleets::new(1, 3),
            )
            .expect("data");
        assert_eq!(latency.statistic(Stat::Basic(Statistic::Average)), 2_000.0);
        let p99 = latency.statistic(Stat::Percentile(99.0));
        assert!((p99 - 5_000.0).abs() / 5_000.0 < 0.02, "{p99}");
        assert_eq!(metrics.total(), 4);
        metrics.end();
        assert!(metrics
            .samples(
                Metric::Invocations,
                Scope::Endpoint,
                0,
                60_000,
                Fleets::new(1, 3)
            )
            .is_none());
    }
}
