//! An endpoint's metrics, in SageMaker's names and units.
//!
//! The router records every invocation twice over, under one lock:
//! - **published**, as SageMaker publishes to CloudWatch: per endpoint config
//!   (the fleet), in 10-second buckets of the API clock, always, kept as
//!   CloudWatch keeps them: 10-second buckets for 3 hours, then rolled up into
//!   minutes (kept 15 days), 5 minutes (63 days) and hours (455 days).
//!   CloudWatch's alarms and `GetMetricData` read these.
//! - **for a run**, while one runs: per fleet, in ticks of the run's plan clock
//!   (the greatest common divisor of its alarm periods). The run's own alarms
//!   and `MetricPeriod` events read these.
//!
//! Latency keeps a log-bucket histogram (2 % wide buckets) so that percentiles
//! cost the same at any request rate.
//!
//! An invocation counts at the moment the router **received** it, not when it
//! was answered. At a time scale a model's latency stays real: at 600× a 50 ms
//! answer would otherwise land 30 plan seconds late, and a blue request sent
//! just before green took all traffic would count in green's first period.
//! Before a run reads a period it waits for the requests received in it to be
//! answered ([`Metrics::settle`], at most [`SETTLE_LIMIT`] past the period's
//! end). One answered after its period was read, or a published bucket
//! already rolled up, counts when it is answered instead, so nothing is lost
//! or counted twice.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use guardrail_core::alarm::{Metric, PeriodSamples, Scope};
use guardrail_core::event::{Fleet, FleetTick};
use guardrail_core::Fleets;

use crate::engine::clock::{ApiClock, PlanClock};

/// Published buckets are this long, in API milliseconds: every period an alarm
/// may have (10, 20, 30 s or whole minutes) is a whole number of them.
pub const PUBLISHED_BUCKET_MS: u64 = 10_000;

/// How long published metrics are kept, in API milliseconds: 455 days, as
/// CloudWatch keeps hourly data points.
pub const PUBLISHED_RETENTION_MS: u64 = 455 * DAY_MS;

const HOUR_MS: u64 = 3_600_000;
const DAY_MS: u64 = 24 * HOUR_MS;

/// CloudWatch's retention ("data points with a period of less than 60 seconds
/// are available for 3 hours; 60 seconds, 15 days; 300 seconds, 63 days;
/// 3600 seconds, 455 days"), as the rolls-up it implies: buckets older than
/// the age are summed into buckets of the width.
pub const ROLL_UPS: [(u64, u64); 3] = [
    (3 * HOUR_MS, 60_000),
    (15 * DAY_MS, 300_000),
    (63 * DAY_MS, HOUR_MS),
];

/// The roll-ups due as of `now_ms`: for each tier of [`ROLL_UPS`] whose
/// window has moved past `rolled_up_below`, its index, width and the starts
/// `[from, end)` it now covers.
pub(crate) fn roll_ups_due(
    now_ms: u64,
    rolled_up_below: &[u64; 3],
) -> impl Iterator<Item = (usize, u64, std::ops::Range<u64>)> + '_ {
    ROLL_UPS
        .iter()
        .enumerate()
        .filter_map(move |(tier, (age_ms, width_ms))| {
            let cutoff = now_ms.saturating_sub(*age_ms);
            let end = cutoff - cutoff % width_ms;
            let from = rolled_up_below[tier];
            (end > from).then_some((tier, *width_ms, from..end))
        })
}

/// Bucket starts grouped by the start of the `width_ms` bucket they roll
/// up into.
pub(crate) fn group_by_width(
    starts: impl IntoIterator<Item = u64>,
    width_ms: u64,
) -> BTreeMap<u64, Vec<u64>> {
    let mut groups: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for start in starts {
        groups
            .entry(start - start % width_ms)
            .or_default()
            .push(start);
    }
    groups
}

/// Published buckets of one start: how long they last, and one per endpoint
/// config.
#[derive(Clone, Debug)]
struct Slot {
    width_ms: u64,
    configs: Vec<(Arc<str>, FleetBucket)>,
}

/// A roll-up the store must follow: the buckets in `[start_ms, start_ms +
/// width_ms)` are now these, one per config.
#[derive(Clone, Debug, PartialEq)]
pub struct RolledUp {
    pub start_ms: u64,
    pub width_ms: u64,
    pub configs: Vec<(String, FleetBucket)>,
}

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
    /// When the router received it: the moment it counts at.
    pub received: Instant,
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
    /// Ticks below this have been read: a late answer no longer joins them.
    read_below: u64,
}

/// How long past a period's end a run waits for the requests received in it:
/// longer than a busy machine's answers, shorter than a hung model's.
pub const SETTLE_LIMIT: Duration = Duration::from_millis(250);

/// Width of an [`InFlight`] slot, in real milliseconds.
const IN_FLIGHT_SLOT_MS: u64 = 4;
/// Slots in the ring: it remembers about a second of arrivals.
const IN_FLIGHT_SLOTS: usize = 256;

/// Requests not yet answered, counted by when they arrived, in a ring of
/// 4 ms slots: one atomic add when a request arrives and one subtract when it
/// is answered, with no lock.
struct InFlight {
    origin: Instant,
    slots: Box<[AtomicU32]>,
}

impl InFlight {
    fn new() -> InFlight {
        InFlight {
            origin: Instant::now(),
            slots: (0..IN_FLIGHT_SLOTS).map(|_| AtomicU32::new(0)).collect(),
        }
    }

    fn slot_of(&self, at: Instant) -> u64 {
        (at.saturating_duration_since(self.origin).as_millis() as u64) / IN_FLIGHT_SLOT_MS
    }

    fn cell(&self, slot: u64) -> &AtomicU32 {
        &self.slots[(slot % IN_FLIGHT_SLOTS as u64) as usize]
    }

    /// Whether a request that arrived at or before `bound`, within the ring's
    /// memory, is still unanswered. Conservative: the slot of `bound` also holds
    /// requests up to 4 ms after it.
    fn any_by(&self, bound: Instant) -> bool {
        let now = self.slot_of(Instant::now());
        let last = self.slot_of(bound).min(now);
        let first = now.saturating_sub(IN_FLIGHT_SLOTS as u64 - 1);
        (first..=last).any(|slot| self.cell(slot).load(Ordering::Acquire) > 0)
    }
}

/// One request in flight; answered (or abandoned) when dropped.
pub struct Flight<'a> {
    in_flight: &'a InFlight,
    slot: u64,
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        self.in_flight
            .cell(self.slot)
            .fetch_sub(1, Ordering::Release);
    }
}

/// Published buckets by start (API ms).
type Published = BTreeMap<u64, Slot>;

struct Inner {
    run: Option<Recording>,
    published: Published,
    /// The oldest published bucket changed since the store last took them.
    unsaved_from: Option<u64>,
    /// Per roll-up, the start below which it is done.
    rolled_up_below: [u64; 3],
}

/// An endpoint's metrics.
pub struct Metrics {
    clock: ApiClock,
    inner: Mutex<Inner>,
    total: AtomicU64,
    in_flight: InFlight,
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
                rolled_up_below: [0; 3],
            }),
            total: AtomicU64::new(0),
            in_flight: InFlight::new(),
        }
    }

    /// A request received at `at` is in flight until the flight is dropped:
    /// record it first, then drop the flight.
    pub fn arrived(&self, at: Instant) -> Flight<'_> {
        let slot = self.in_flight.slot_of(at);
        self.in_flight.cell(slot).fetch_add(1, Ordering::Relaxed);
        Flight {
            in_flight: &self.in_flight,
            slot,
        }
    }

    /// Waits until every request received by `bound` is answered, but not
    /// past `bound + limit`: a hung model's requests then count when they
    /// are answered.
    pub async fn settle(&self, bound: Instant, limit: Duration) {
        let deadline = bound + limit;
        while self.in_flight.any_by(bound) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Starts summing into ticks of `tick_ms` plan milliseconds for a run.
    pub fn begin(&self, clock: PlanClock, tick_ms: u64) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.run = Some(Recording {
                clock,
                tick_ms: tick_ms.max(1),
                ticks: BTreeMap::new(),
                read_below: 0,
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
        self.total.fetch_add(1, Ordering::Relaxed);
        let now = self.clock.now_ms();
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        // When it arrived, unless that bucket is already rolled up.
        let received = self.clock.ms_at(observation.received).min(now);
        let at = if received >= inner.rolled_up_below[0] && now - received < ROLL_UPS[0].0 {
            received
        } else {
            now
        };
        let start = at - at % PUBLISHED_BUCKET_MS;
        let configs = &mut inner
            .published
            .entry(start)
            .or_insert_with(|| Slot {
                width_ms: PUBLISHED_BUCKET_MS,
                configs: Vec::new(),
            })
            .configs;
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
        inner.unsaved_from = Some(inner.unsaved_from.map_or(start, |from| from.min(start)));
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
            let received = recording.clock.ms_at(observation.received) / recording.tick_ms;
            let tick = received.max(recording.read_below);
            observe(
                &mut recording.ticks.entry(tick).or_default()[slot(observation.fleet)],
                &observation,
            );
        }
    }

    /// A run's blue and green sums over `[from_ms, to_ms)` of its plan time.
    /// Its ticks are read from then on: an answer that comes later counts in
    /// the tick it is answered in.
    pub fn window(&self, from_ms: u64, to_ms: u64) -> [FleetBucket; 2] {
        let mut total: [FleetBucket; 2] = Default::default();
        let Ok(mut inner) = self.inner.lock() else {
            return total;
        };
        let Some(recording) = inner.run.as_mut() else {
            return total;
        };
        let first = from_ms / recording.tick_ms;
        let last = to_ms.div_ceil(recording.tick_ms);
        recording.read_below = recording.read_below.max(last);
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
            Scope::NoMetric | Scope::Unrelated | Scope::Team => None,
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
        // Only buckets wholly inside the window: rolled-up data has no
        // datapoints of a shorter period, as in CloudWatch.
        for (_, slot) in inner.published.range(first..to_ms).filter(|(start, slot)| {
            slot.width_ms == PUBLISHED_BUCKET_MS || **start + slot.width_ms <= to_ms
        }) {
            let configs = &slot.configs;
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
            .flat_map(|(start, slot)| {
                slot.configs
                    .iter()
                    .map(|(config, bucket)| (*start, config.to_string(), bucket.clone()))
            })
            .collect()
    }

    /// Rolls up what has aged past each of [`ROLL_UPS`] as of `now_ms` (API
    /// time), after forgetting what is older than the retention; what the
    /// store must do to follow.
    pub fn roll_up(&self, now_ms: u64) -> Vec<RolledUp> {
        let Ok(mut inner) = self.inner.lock() else {
            return Vec::new();
        };
        let oldest = now_ms.saturating_sub(PUBLISHED_RETENTION_MS);
        while inner
            .published
            .first_key_value()
            .is_some_and(|(start, _)| *start < oldest)
        {
            inner.published.pop_first();
        }
        let mut rolled = Vec::new();
        let due: Vec<_> = roll_ups_due(now_ms, &inner.rolled_up_below).collect();
        for (tier, width_ms, window) in due {
            let end = window.end;
            let starts: Vec<u64> = inner
                .published
                .range(window)
                .map(|(start, _)| *start)
                .collect();
            for (group, members) in group_by_width(starts, width_ms) {
                let compact = members == [group]
                    && inner
                        .published
                        .get(&group)
                        .is_some_and(|slot| slot.width_ms >= width_ms);
                if compact {
                    continue;
                }
                let mut merged = Slot {
                    width_ms,
                    configs: Vec::new(),
                };
                for start in members {
                    let Some(slot) = inner.published.remove(&start) else {
                        continue;
                    };
                    for (config, bucket) in slot.configs {
                        match merged.configs.iter_mut().find(|(name, _)| *name == config) {
                            Some((_, sum)) => sum.add(&bucket),
                            None => merged.configs.push((config, bucket)),
                        }
                    }
                }
                rolled.push(RolledUp {
                    start_ms: group,
                    width_ms,
                    configs: merged
                        .configs
                        .iter()
                        .map(|(config, bucket)| (config.to_string(), bucket.clone()))
                        .collect(),
                });
                inner.published.insert(group, merged);
            }
            inner.rolled_up_below[tier] = end;
        }
        rolled
    }

    /// Puts back a bucket the store kept (at start-up, before any
    /// invocation). Its width follows from its age at `now_ms` and its start:
    /// one aligned to the roll-up its age calls for is taken as rolled up
    /// (the next [`Metrics::roll_up`] sums any that are not).
    pub fn restore(&self, start_ms: u64, config: &str, bucket: FleetBucket, now_ms: u64) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        let age = now_ms.saturating_sub(start_ms);
        let width_ms = ROLL_UPS
            .iter()
            .rev()
            .find(|(tier_age, width)| age >= *tier_age && start_ms.is_multiple_of(*width))
            .map_or(PUBLISHED_BUCKET_MS, |(_, width)| *width);
        let slot = inner.published.entry(start_ms).or_insert_with(|| Slot {
            width_ms,
            configs: Vec::new(),
        });
        slot.width_ms = slot.width_ms.max(width_ms);
        slot.configs.retain(|(name, _)| **name != *config);
        slot.configs.push((Arc::from(config), bucket));
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
            .flat_map(|slot| slot.configs.iter().map(|(name, _)| name.to_string()))
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
            received: Instant::now(),
            fleet,
            config: Arc::from(config),
            instances: 3,
            status,
            model_latency_us: latency_us,
            overhead_us: 100.0,
        });
    }

    fn arriving(metrics: &Metrics, received: Instant, status: u16) {
        metrics.record(Observation {
            received,
            fleet: Fleet::Green,
            config: Arc::from("incompatible"),
            instances: 1,
            status,
            model_latency_us: 1_000.0,
            overhead_us: 100.0,
        });
    }

    #[test]
    fn an_invocation_counts_when_it_arrived_unless_its_period_was_read() {
        let metrics = Metrics::new(ApiClock::start(1.0));
        // At 1000×, the run began a real second ago: plan time is ~1000 s,
        // tick 16 of 60 s ticks.
        let start = Instant::now() - Duration::from_secs(1);
        metrics.begin(PlanClock::starting_at(start, 1_000.0), 60_000);
        // Received 10 plan seconds in (tick 0), answered now: it counts in tick 0.
        arriving(&metrics, start + Duration::from_millis(10), 500);
        let [_, green] = metrics.window(0, 60_000);
        assert_eq!((green.invocations, green.errors_5xx), (1, 1));
        // Tick 0 has been read: another answer for it joins the first tick
        // not yet read, and is counted once.
        arriving(&metrics, start + Duration::from_millis(20), 200);
        let [_, again] = metrics.window(0, 60_000);
        assert_eq!(again.invocations, 1, "a read period never changes");
        let [_, next] = metrics.window(60_000, 120_000);
        assert_eq!((next.invocations, next.errors_5xx), (1, 0));
        let [_, all] = metrics.window(0, 2_000_000);
        assert_eq!(all.invocations, 2);
    }

    #[tokio::test]
    async fn a_run_waits_for_what_arrived_by_a_moment_but_not_past_the_limit() {
        let metrics = Metrics::new(ApiClock::start(1.0));
        std::thread::sleep(Duration::from_millis(120));
        let bound = Instant::now() - Duration::from_millis(100);
        let early = metrics.arrived(bound - Duration::from_millis(20));
        assert!(metrics.in_flight.any_by(bound));
        // A request that arrived later is not waited for.
        let later = metrics.arrived(bound + Duration::from_millis(50));
        drop(early);
        assert!(!metrics.in_flight.any_by(bound));
        assert!(metrics.in_flight.any_by(bound + Duration::from_millis(50)));
        // One never answered holds a settle only until its limit.
        let hung = metrics.arrived(bound);
        metrics.settle(bound, Duration::from_millis(5)).await;
        assert!(metrics.in_flight.any_by(bound), "still in flight");
        drop((hung, later));
        assert!(!metrics.in_flight.any_by(Instant::now()));
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

    #[test]
    fn published_buckets_roll_up_and_expire_as_cloudwatch_keeps_data() {
        let metrics = Metrics::new(ApiClock::start(1e-6));
        let now = 500 * DAY_MS + 7_777;
        let one = || FleetBucket {
            invocations: 1,
            instances: 3,
            ..FleetBucket::default()
        };
        // Two minutes of 10-second buckets four hours ago, one a minute ago,
        // 16 days ago two minutes of minute buckets, and one past retention.
        let minute = (now - 4 * HOUR_MS) / 60_000 * 60_000;
        for n in 0..12 {
            metrics.restore(minute + n * 10_000, "baseline", one(), now);
        }
        let recent = (now - 60_000) / 10_000 * 10_000;
        metrics.restore(recent, "baseline", one(), now);
        let five = (now - 16 * DAY_MS) / 300_000 * 300_000;
        metrics.restore(five, "baseline", one(), now);
        metrics.restore(five + 60_000, "baseline", one(), now);
        metrics.restore(now - 456 * DAY_MS, "baseline", one(), now);
        let rolled = metrics.roll_up(now);
        let starts: Vec<(u64, u64)> = rolled
            .iter()
            .map(|rolled| (rolled.start_ms, rolled.width_ms))
            .collect();
        assert_eq!(
            starts,
            [(minute, 60_000), (minute + 60_000, 60_000), (five, 300_000)]
        );
        assert_eq!(rolled[0].configs[0].1.invocations, 6);
        let count = |from: u64, to: u64| metrics.published(Some("baseline"), from, to).invocations;
        assert_eq!(count(minute, minute + 60_000), 6);
        assert_eq!(count(minute, minute + 120_000), 12);
        assert_eq!(
            count(minute, minute + 10_000),
            0,
            "no 10-second datapoints after 3 hours"
        );
        assert_eq!(count(recent, recent + 10_000), 1, "recent data stays fine");
        assert_eq!(count(five, five + 300_000), 2);
        assert_eq!(count(five, five + 60_000), 0, "no minutes after 15 days");
        assert_eq!(count(0, now - 455 * DAY_MS), 0, "forgotten after 455 days");
        assert!(metrics.roll_up(now).is_empty(), "once");
        // Restored as rolled up, they are not rolled up again.
        let again = Metrics::new(ApiClock::start(1e-6));
        for rolled in &rolled {
            for (config, bucket) in &rolled.configs {
                again.restore(rolled.start_ms, config, bucket.clone(), now);
            }
        }
        assert!(again.roll_up(now).is_empty());
        assert_eq!(
            again
                .published(Some("baseline"), minute, minute + 10_000)
                .invocations,
            0
        );
    }
}
