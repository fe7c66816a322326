//! An endpoint's metrics, in SageMaker's names and units.
//!
//! The router records every invocation twice over, under one lock:
//! - **published**, as SageMaker publishes to CloudWatch: per endpoint config
//!   (the fleet), in 10-second buckets of the API clock, always, for a day of API
//!   time. CloudWatch's alarms and `GetMetricData` read these.
//! - **for a run**, while one runs: per fleet, in ticks of the run's plan clock
//!   (the greatest common divisor of its alarm periods). The run's own alarms
//!   and `MetricPeriod` events read these.
//!
//! Latency keeps a log-bucket histogram (2 % wide buckets) so that percentiles
//! cost the same at any request rate.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use guardrail_core::alarm::{Metric, PeriodSamples, Scope};
use guardrail_core::event::{Fleet, FleetTick};
use guardrail_core::Fleets;

use crate::engine::clock::{ApiClock, PlanClock};

/// Published buckets are this long, in API milliseconds: every period an alarm
/// may have (10, 20, 30 s or whole minutes) is a whole number of them.
pub const PUBLISHED_BUCKET_MS: u64 = 10_000;

/// How long published metrics are kept, in API milliseconds: one day.
pub const PUBLISHED_RETENTION_MS: u64 = 86_400_000;

/// One fleet's sums over one tick: the core's [`FleetTick`], which run
/// records carry so that alarms can be re-judged exactly.
pub type FleetBucket = FleetTick;

/// Adds one invocation to `bucket`.
fn observe(bucket: &mut FleetBucket, observation: &Observation) {
    bucket.record(
        observation.status,
        observation.model_latency_us,
        observation.overhead_us,
        observation.instances,
    );
}

/// What the router saw of one invocation.
#[derive(Clone, Debug)]
pub struct Observation {
    pub fleet: Fleet,
    /// The endpoint config of the instance that served it.
    pub config: Arc<str>,
    /// Instances of that fleet serving at the time.
    pub instances: u32,
    /// The model's HTTP status (a caller of SageMaker Runtime sees 424 for an error).
    pub status: u16,
    pub model_latency_us: f64,
    pub overhead_us: f64,
}

struct Recording {
    clock: PlanClock,
    tick_ms: u64,
    ticks: BTreeMap<u64, [FleetBucket; 2]>,
}

/// Published buckets: start (API ms) → one bucket per endpoint config.
type Published = BTreeMap<u64, Vec<(Arc<str>, FleetBucket)>>;

struct Inner {
    run: Option<Recording>,
    published: Published,
    /// The oldest published bucket changed since the store last took them.
    unsaved_from: Option<u64>,
}

/// An endpoint's metrics.
pub struct Metrics {
    clock: ApiClock,
    inner: Mutex<Inner>,
    total: std::sync::atomic::AtomicU64,
}

fn slot(fleet: Fleet) -> usize {
    match fleet {
        Fleet::Blue => 0,
        Fleet::Green => 1,
    }
}

impl Metrics {
    pub fn new(clock: ApiClock) -> Metrics {
        Metrics {
            clock,
            inner: Mutex::new(Inner {
                run: None,
                published: BTreeMap::new(),
                unsaved_from: None,
            }),
            total: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Starts summing into ticks of `tick_ms` plan milliseconds for a run.
    pub fn begin(&self, clock: PlanClock, tick_ms: u64) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.run = Some(Recording {
                clock,
                tick_ms: tick_ms.max(1),
                ticks: BTreeMap::new(),
            });
        }
    }

    pub fn end(&self) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.run = None;
        }
    }

    /// Invocations seen since start-up.
    pub fn total(&self) -> u64 {
        self.total.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn record(&self, observation: Observation) {
        self.total
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let now = self.clock.now_ms();
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        let start = now - now % PUBLISHED_BUCKET_MS;
        let configs = inner.published.entry(start).or_default();
        let position = match configs
            .iter()
            .position(|(config, _)| **config == *observation.config)
        {
            Some(position) => position,
            None => {
                configs.push((observation.config.clone(), FleetBucket::default()));
                configs.len() - 1
            }
        };
        observe(&mut configs[position].1, &observation);
        inner.unsaved_from.get_or_insert(start);
        // Forget what is older than the retention, a bucket at a time.
        let oldest = now.saturating_sub(PUBLISHED_RETENTION_MS);
        while inner
            .published
            .first_key_value()
            .is_some_and(|(start, _)| *start < oldest)
        {
            inner.published.pop_first();
        }
        if let Some(recording) = inner.run.as_mut() {
            let tick = recording.clock.now_ms() / recording.tick_ms;
            observe(
                &mut recording.ticks.entry(tick).or_default()[slot(observation.fleet)],
                &observation,
            );
        }
    }

    /// A run's blue and green sums over `[from_ms, to_ms)` of its plan time.
    pub fn window(&self, from_ms: u64, to_ms: u64) -> [FleetBucket; 2] {
        let mut total: [FleetBucket; 2] = Default::default();
        let Ok(inner) = self.inner.lock() else {
            return total;
        };
        let Some(recording) = inner.run.as_ref() else {
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

    /// The samples a run's alarm with `scope` sees of `metric` over a window of
    /// its plan time. `serving` counts the instances, for InvocationsPerInstance.
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

    /// The published sums over `[from_ms, to_ms)` of API time, for one endpoint
    /// config or, with `None`, the whole variant.
    pub fn published(&self, config: Option<&str>, from_ms: u64, to_ms: u64) -> FleetBucket {
        let mut total = FleetBucket::default();
        let Ok(inner) = self.inner.lock() else {
            return total;
        };
        let first = from_ms - from_ms % PUBLISHED_BUCKET_MS;
        for (_, configs) in inner.published.range(first..to_ms) {
            // The configs serving at one moment: their instances add up (the
            // variant's InvocationsPerInstance divides by both fleets).
            let mut moment = FleetBucket::default();
            let mut instances = 0u32;
            for (name, bucket) in configs {
                if config.is_none_or(|config| **name == *config) {
                    moment.add(bucket);
                    instances = instances.saturating_add(bucket.instances);
                }
            }
            moment.instances = instances;
            total.add(&moment);
        }
        total
    }

    /// The published buckets that changed since the last call: (start,
    /// config, sums), for the store.
    pub fn take_unsaved(&self) -> Vec<(u64, String, FleetBucket)> {
        let Ok(mut inner) = self.inner.lock() else {
            return Vec::new();
        };
        let Some(from_ms) = inner.unsaved_from.take() else {
            return Vec::new();
        };
        inner
            .published
            .range(from_ms..)
            .flat_map(|(start, configs)| {
                configs
                    .iter()
                    .map(|(config, bucket)| (*start, config.to_string(), bucket.clone()))
            })
            .collect()
    }

    /// Puts back a bucket the store kept (at start-up, before any invocation).
    pub fn restore(&self, start_ms: u64, config: &str, bucket: FleetBucket) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        let configs = inner.published.entry(start_ms).or_default();
        configs.retain(|(name, _)| **name != *config);
        configs.push((Arc::from(config), bucket));
    }

    /// When the newest published bucket started, if there is one.
    pub fn newest_ms(&self) -> Option<u64> {
        let inner = self.inner.lock().ok()?;
        inner.published.last_key_value().map(|(start, _)| *start)
    }

    /// The endpoint configs that published metrics, for `ListMetrics`.
    pub fn published_configs(&self) -> Vec<String> {
        let Ok(inner) = self.inner.lock() else {
            return Vec::new();
        };
        let mut names: Vec<String> = inner
            .published
            .values()
            .flat_map(|configs| configs.iter().map(|(name, _)| name.to_string()))
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use guardrail_core::alarm::Stat;
    use guardrail_core::plan::Statistic;

    fn observe(metrics: &Metrics, fleet: Fleet, status: u16, latency_us: f64) {
        let config = match fleet {
            Fleet::Blue => "baseline",
            Fleet::Green => "incompatible",
        };
        metrics.record(Observation {
            fleet,
            config: Arc::from(config),
            instances: 3,
            status,
            model_latency_us: latency_us,
            overhead_us: 100.0,
        });
    }

    #[test]
    fn errors_and_latency_sum_per_fleet_and_scope() {
        // The API clock all but stopped: every record falls in one bucket.
        let metrics = Metrics::new(ApiClock::start(1e-6));
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
        // Published per config on the API clock, whatever the run does.
        let now = ApiClock::start(1.0).now_ms();
        let green = metrics.published(Some("incompatible"), now - 60_000, now + 60_000);
        assert_eq!((green.invocations, green.errors_5xx), (1, 1));
        let variant = metrics.published(None, now - 60_000, now + 60_000);
        assert_eq!(variant.invocations, 4);
        // Both fleets' 3 instances serve the variant: 4 invocations over 6.
        assert_eq!(variant.instances, 6);
        let per_instance = variant
            .samples(Metric::InvocationsPerInstance, variant.instances)
            .expect("data");
        assert!((per_instance.statistic(Stat::Basic(Statistic::Sum)) - 4.0 / 6.0).abs() < 1e-9);
        assert_eq!(variant.latency_max_us, Some(5_000.0));
        assert_eq!(metrics.published_configs(), ["baseline", "incompatible"]);
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
