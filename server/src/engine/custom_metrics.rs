//! The metrics users publish with `PutMetricData`, as CloudWatch keeps them.
//!
//! Each metric (namespace, name and dimensions, in any order) keeps buckets on
//! the API clock: a second wide for high-resolution data (`StorageResolution`
//! 1), a minute wide otherwise, stamped at their start; a period reads the
//! seconds and minutes that start in it. As CloudWatch keeps
//! data, seconds become minutes after 3 hours, minutes become 5 minutes after
//! 15 days and hours after 63 days, and nothing is kept past 455 days
//! ([`crate::engine::metrics::ROLL_UPS`]). A bucket keeps, per unit, the
//! sample count, sum, minimum and maximum, and the values with their counts
//! for percentiles: exactly while there are at most [`MAX_VALUES`] distinct
//! values, then merged where neighbours are within 0.5 % of each other.
//! Percentiles of data published as a `StatisticValues` set exist only when
//! the set is one value (CloudWatch's own rule).

use std::collections::BTreeMap;
use std::sync::Mutex;

use guardrail_core::alarm::PeriodSamples;
use guardrail_core::plan::{Dimension, MetricIdentity};
pub use guardrail_core::published::{Aggregate, MAX_VALUES};
use serde::{Deserialize, Serialize};

use crate::engine::metrics::{group_by_width, roll_ups_due, PUBLISHED_RETENTION_MS, ROLL_UPS};

/// Metrics the local CloudWatch keeps: a bound on its memory.
pub const MAX_SERIES: usize = 10_000;
/// Buckets it keeps in all (seconds, minutes and their roll-ups): with at
/// most [`MAX_VALUES`] values each, the rest of the bound on its memory.
pub const MAX_BUCKETS: usize = 500_000;

const SECOND_MS: u64 = 1_000;
const MINUTE_MS: u64 = 60_000;

/// A metric's identity with its dimensions sorted, as a map key.
pub type SeriesKey = (String, String, Vec<(String, String)>);

pub fn key_of(identity: &MetricIdentity) -> SeriesKey {
    let mut dimensions: Vec<(String, String)> = identity
        .dimensions
        .iter()
        .map(|dimension| (dimension.name.clone(), dimension.value.clone()))
        .collect();
    dimensions.sort();
    (
        identity.namespace.clone(),
        identity.metric_name.clone(),
        dimensions,
    )
}

pub fn identity_of(key: &SeriesKey) -> MetricIdentity {
    MetricIdentity::new(
        &key.0,
        &key.1,
        key.2
            .iter()
            .map(|(name, value)| Dimension::new(name, value))
            .collect(),
    )
}

/// One bucket of one metric: its width, and its data per unit.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    pub width_ms: u64,
    pub units: Vec<(String, Aggregate)>,
}

impl Bucket {
    fn unit_mut(&mut self, unit: &str) -> &mut Aggregate {
        let position = match self.units.iter().position(|(name, _)| name == unit) {
            Some(position) => position,
            None => {
                self.units.push((unit.to_string(), Aggregate::default()));
                self.units.len() - 1
            }
        };
        &mut self.units[position].1
    }

    fn merge(&mut self, other: &Bucket) {
        for (unit, aggregate) in &other.units {
            self.unit_mut(unit).merge(aggregate);
        }
    }
}

/// One datum of `PutMetricData`, checked.
#[derive(Clone, Debug)]
pub struct Datum {
    pub identity: MetricIdentity,
    pub at_ms: u64,
    pub high_resolution: bool,
    /// `None` stands for CloudWatch's `None` unit.
    pub unit: Option<String>,
    pub data: DatumData,
}

/// What one datum carries.
#[derive(Clone, Debug)]
pub enum DatumData {
    /// `Value`, or `Values` with `Counts` (each 1 when left out).
    Values(Vec<(f64, f64)>),
    /// `StatisticValues`.
    Set {
        count: f64,
        sum: f64,
        minimum: f64,
        maximum: f64,
    },
}

type Series = BTreeMap<u64, Bucket>;

#[derive(Default)]
struct Inner {
    series: BTreeMap<SeriesKey, Series>,
    /// Per roll-up, the start below which it is done.
    rolled_up_below: [u64; 3],
}

/// A roll-up the store must follow: the buckets of `series` in `[start_ms,
/// start_ms + width_ms)` are now this one.
#[derive(Clone, Debug, PartialEq)]
pub struct RolledUp {
    pub series: SeriesKey,
    pub start_ms: u64,
    pub bucket: Bucket,
}

/// The metrics users published. See the module documentation.
#[derive(Default)]
pub struct CustomMetrics {
    inner: Mutex<Inner>,
}

/// Why data could not be taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PutError {
    TooManyMetrics,
    TooMuchData,
}

/// The width of the bucket a datum stamped `at_ms` goes into at `now_ms`:
/// a second or a minute by its resolution, or the roll-up its age already
/// calls for (data sent for six hours ago is kept per minute at once, as
/// CloudWatch keeps it, not per second until a roll-up that has passed).
fn width_for(at_ms: u64, now_ms: u64, high_resolution: bool) -> u64 {
    let age = now_ms.saturating_sub(at_ms);
    let base = if high_resolution {
        SECOND_MS
    } else {
        MINUTE_MS
    };
    ROLL_UPS
        .iter()
        .filter(|(tier_age, _)| age >= *tier_age)
        .map(|(_, width)| *width)
        .fold(base, u64::max)
}

impl CustomMetrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds checked data; the changed buckets, to keep in the store before the
    /// call answers.
    pub fn put(
        &self,
        data: &[Datum],
        now_ms: u64,
    ) -> Result<Vec<(SeriesKey, u64, Bucket)>, PutError> {
        let mut inner = self.lock();
        let new: std::collections::BTreeSet<SeriesKey> = data
            .iter()
            .map(|datum| key_of(&datum.identity))
            .filter(|key| !inner.series.contains_key(key))
            .collect();
        if inner.series.len() + new.len() > MAX_SERIES {
            return Err(PutError::TooManyMetrics);
        }
        // Each datum makes at most one bucket: refuse what could pass the bound.
        let buckets: usize = inner.series.values().map(BTreeMap::len).sum();
        if buckets + data.len() > MAX_BUCKETS {
            return Err(PutError::TooMuchData);
        }
        let mut touched: std::collections::BTreeSet<(SeriesKey, u64)> = Default::default();
        for datum in data {
            let key = key_of(&datum.identity);
            let width = width_for(datum.at_ms, now_ms, datum.high_resolution);
            let start = datum.at_ms - datum.at_ms % width;
            let series = inner.series.entry(key.clone()).or_default();
            // A second's data may land in a minute already rolled up: it
            // joins that minute.
            let start = series
                .range(..=start)
                .next_back()
                .filter(|(from, bucket)| **from + bucket.width_ms > start)
                .map(|(from, _)| *from)
                .unwrap_or(start);
            let bucket = series.entry(start).or_insert_with(|| Bucket {
                width_ms: width,
                units: Vec::new(),
            });
            let aggregate = bucket.unit_mut(datum.unit.as_deref().unwrap_or("None"));
            match &datum.data {
                DatumData::Values(values) => {
                    for (value, count) in values {
                        aggregate.add_value(*value, *count);
                    }
                }
                DatumData::Set {
                    count,
                    sum,
                    minimum,
                    maximum,
                } => aggregate.add_set(*count, *sum, *minimum, *maximum),
            }
            touched.insert((key, start));
        }
        Ok(touched
            .into_iter()
            .filter_map(|(key, start)| {
                let bucket = inner.series.get(&key)?.get(&start)?.clone();
                Some((key, start, bucket))
            })
            .collect())
    }

    /// The samples of metric `identity` over `[from_ms, to_ms)`: the buckets
    /// that start in it and fit in it (rolled-up data has no datapoints of a
    /// shorter period), of `unit` only when one is given.
    pub fn samples(
        &self,
        identity: &MetricIdentity,
        unit: Option<&str>,
        from_ms: u64,
        to_ms: u64,
    ) -> Option<PeriodSamples> {
        self.samples_with_unit(identity, unit, from_ms, to_ms)
            .map(|(samples, _)| samples)
    }

    /// As [`CustomMetrics::samples`], with the unit the data was published
    /// in (`None` when it was none, or several).
    pub fn samples_with_unit(
        &self,
        identity: &MetricIdentity,
        unit: Option<&str>,
        from_ms: u64,
        to_ms: u64,
    ) -> Option<(PeriodSamples, String)> {
        let inner = self.lock();
        let series = inner.series.get(&key_of(identity))?;
        let mut total = Aggregate::default();
        let mut units: Vec<&str> = Vec::new();
        for (start, bucket) in series.range(from_ms..to_ms) {
            // A second or a minute belongs to the period its start is in (a
            // shorter period sees a minute only where it starts, as on
            // standard resolution); rolled-up data has no datapoints of a
            // period it does not fit in.
            if bucket.width_ms > MINUTE_MS && *start + bucket.width_ms > to_ms {
                continue;
            }
            for (name, aggregate) in &bucket.units {
                if unit.is_none_or(|unit| unit == name) {
                    total.merge(aggregate);
                    if !units.contains(&name.as_str()) {
                        units.push(name);
                    }
                }
            }
        }
        let unit = match units.as_slice() {
            [only] => only.to_string(),
            _ => "None".to_string(),
        };
        total.samples().map(|samples| (samples, unit))
    }

    /// What is kept of `identity` (every unit) for each window `[edges[i],
    /// edges[i + 1])`, as [`CustomMetrics::samples`] reads a period: one
    /// aggregate per window, empty where nothing was published.
    pub fn aggregates(&self, identity: &MetricIdentity, edges: &[u64]) -> Vec<Aggregate> {
        let windows = edges.len().saturating_sub(1);
        let mut out = vec![Aggregate::default(); windows];
        let (Some(first), Some(last)) = (edges.first(), edges.last()) else {
            return out;
        };
        let inner = self.lock();
        let Some(series) = inner.series.get(&key_of(identity)) else {
            return out;
        };
        for (start, bucket) in series.range(*first..*last) {
            let window = edges
                .partition_point(|edge| edge <= start)
                .saturating_sub(1);
            let Some(total) = out.get_mut(window) else {
                continue;
            };
            if bucket.width_ms > MINUTE_MS && *start + bucket.width_ms > edges[window + 1] {
                continue;
            }
            for (_, aggregate) in &bucket.units {
                total.merge(aggregate);
            }
        }
        out
    }

    /// Every metric kept, for `ListMetrics`.
    pub fn identities(&self) -> Vec<MetricIdentity> {
        self.lock().series.keys().map(identity_of).collect()
    }

    /// Rolls up what has aged past each of [`ROLL_UPS`] as of `now_ms`, after
    /// forgetting what is older than the retention; what the store must do.
    pub fn roll_up(&self, now_ms: u64) -> Vec<RolledUp> {
        let mut inner = self.lock();
        let oldest = now_ms.saturating_sub(PUBLISHED_RETENTION_MS);
        for series in inner.series.values_mut() {
            *series = series.split_off(&oldest);
        }
        inner.series.retain(|_, series| !series.is_empty());
        let mut rolled = Vec::new();
        let due: Vec<_> = roll_ups_due(now_ms, &inner.rolled_up_below).collect();
        for (tier, width_ms, window) in due {
            let end = window.end;
            for (key, series) in inner.series.iter_mut() {
                let starts: Vec<u64> = series
                    .range(window.clone())
                    .filter(|(_, bucket)| bucket.width_ms < width_ms)
                    .map(|(start, _)| *start)
                    .collect();
                for (group, members) in group_by_width(starts, width_ms) {
                    let mut merged = series.remove(&group).unwrap_or_default();
                    merged.width_ms = width_ms;
                    for start in members.into_iter().filter(|start| *start != group) {
                        if let Some(bucket) = series.remove(&start) {
                            merged.merge(&bucket);
                        }
                    }
                    rolled.push(RolledUp {
                        series: key.clone(),
                        start_ms: group,
                        bucket: merged.clone(),
                    });
                    series.insert(group, merged);
                }
            }
            inner.rolled_up_below[tier] = end;
        }
        rolled
    }

    /// Puts back a bucket the store kept (at start-up).
    pub fn restore(&self, key: SeriesKey, start_ms: u64, bucket: Bucket) {
        let mut inner = self.lock();
        inner
            .series
            .entry(key)
            .or_default()
            .insert(start_ms, bucket);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use guardrail_core::alarm::Stat;
    use guardrail_core::plan::Statistic;

    fn identity(dimensions: &[(&str, &str)]) -> MetricIdentity {
        MetricIdentity::new(
            "Shop",
            "Conversion",
            dimensions
                .iter()
                .map(|(name, value)| Dimension::new(name, value))
                .collect(),
        )
    }

    fn datum(at_ms: u64, high: bool, data: DatumData) -> Datum {
        Datum {
            identity: identity(&[("Site", "www"), ("Region", "eu")]),
            at_ms,
            high_resolution: high,
            unit: None,
            data,
        }
    }

    fn stat(samples: &PeriodSamples, statistic: Statistic) -> f64 {
        samples.statistic(Stat::Basic(statistic))
    }

    #[test]
    fn values_counts_and_sets_read_back_exactly() {
        let metrics = CustomMetrics::default();
        let minute = 1_800_000_000_000 / MINUTE_MS * MINUTE_MS;
        metrics
            .put(
                &[
                    datum(minute + 5_000, false, DatumData::Values(vec![(2.0, 1.0)])),
                    datum(
                        minute + 20_000,
                        false,
                        DatumData::Values(vec![(1.0, 3.0), (10.0, 1.0)]),
                    ),
                    datum(
                        minute + 59_999,
                        false,
                        DatumData::Set {
                            count: 2.0,
                            sum: 8.0,
                            minimum: 4.0,
                            maximum: 4.0,
                        },
                    ),
                ],
                minute,
            )
            .expect("put");
        // The dimensions in another order name the same metric.
        let samples = metrics
            .samples(
                &identity(&[("Region", "eu"), ("Site", "www")]),
                None,
                minute,
                minute + MINUTE_MS,
            )
            .expect("data");
        assert_eq!(stat(&samples, Statistic::SampleCount), 7.0);
        assert_eq!(stat(&samples, Statistic::Sum), 23.0);
        assert_eq!(stat(&samples, Statistic::Minimum), 1.0);
        assert_eq!(stat(&samples, Statistic::Maximum), 10.0);
        assert_eq!(samples.statistic(Stat::Percentile(50.0)), 2.0);
        assert_eq!(samples.statistic(Stat::Percentile(90.0)), 10.0);
        // Standard resolution: a 10-second period sees the minute at its start only.
        assert!(metrics
            .samples(
                &identity(&[("Site", "www"), ("Region", "eu")]),
                None,
                minute + 10_000,
                minute + 20_000
            )
            .is_none());
        assert_eq!(
            metrics
                .samples(
                    &identity(&[("Site", "www"), ("Region", "eu")]),
                    None,
                    minute,
                    minute + 10_000
                )
                .map(|samples| samples.count),
            Some(7)
        );
        assert!(metrics
            .samples(
                &identity(&[("Site", "www")]),
                None,
                minute,
                minute + MINUTE_MS
            )
            .is_none());
    }

    #[test]
    fn high_resolution_keeps_seconds_for_three_hours_then_minutes() {
        let metrics = CustomMetrics::default();
        let start = 1_800_000_000_000 / MINUTE_MS * MINUTE_MS;
        for second in 0..60 {
            metrics
                .put(
                    &[datum(
                        start + second * SECOND_MS,
                        true,
                        DatumData::Values(vec![(second as f64, 1.0)]),
                    )],
                    start,
                )
                .expect("put");
        }
        let id = identity(&[("Site", "www"), ("Region", "eu")]);
        let ten = metrics
            .samples(&id, None, start + 10_000, start + 20_000)
            .expect("data");
        assert_eq!(stat(&ten, Statistic::Sum), (10..20).sum::<u64>() as f64);
        let rolled = metrics.roll_up(start + 4 * 3_600_000);
        assert_eq!(rolled.len(), 1);
        assert_eq!(rolled[0].bucket.width_ms, MINUTE_MS);
        assert!(metrics
            .samples(&id, None, start + 10_000, start + 20_000)
            .is_none());
        let minute = metrics
            .samples(&id, None, start, start + MINUTE_MS)
            .expect("data");
        assert_eq!(minute.count, 60);
        // Past the retention, forgotten.
        metrics.roll_up(start + 456 * 24 * 3_600_000);
        assert!(metrics.identities().is_empty());
    }

    #[test]
    fn data_sent_for_long_ago_is_kept_as_its_age_calls_for() {
        assert_eq!(width_for(0, 2 * 3_600_000, true), SECOND_MS);
        assert_eq!(width_for(0, 2 * 3_600_000, false), MINUTE_MS);
        assert_eq!(width_for(0, 4 * 3_600_000, true), MINUTE_MS);
        assert_eq!(width_for(0, 16 * 24 * 3_600_000, true), 300_000);
        // Second data for six hours ago: per minute at once.
        let metrics = CustomMetrics::default();
        let now = 1_800_000_000_000 / MINUTE_MS * MINUTE_MS;
        let long_ago = now - 6 * 3_600_000;
        let changed = metrics
            .put(
                &[datum(
                    long_ago + 7_000,
                    true,
                    DatumData::Values(vec![(1.0, 1.0)]),
                )],
                now,
            )
            .expect("put");
        assert_eq!((changed[0].1, changed[0].2.width_ms), (long_ago, MINUTE_MS));
    }
}
