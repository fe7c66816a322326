//! Data a team publishes with `PutMetricData`, summed over a span of time:
//! the local CloudWatch keeps one [`Aggregate`] per unit in each of its
//! buckets, and a local run's record keeps one per team metric in each tick,
//! so that the retrospective judge re-judges the team's metrics from what the
//! run's own alarms read.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::alarm::{AlarmRule, PeriodSamples, Quantiles, Scope};
use crate::plan::MetricIdentity;

/// Distinct values an aggregate keeps exactly before it merges near
/// neighbours.
pub const MAX_VALUES: usize = 2_000;

/// The sums of one unit's data in one bucket.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Aggregate {
    pub count: f64,
    pub sum: f64,
    pub minimum: f64,
    pub maximum: f64,
    /// (value, count), sorted by value.
    pub values: Vec<(f64, f64)>,
    /// Whether some data came as a statistic set that cannot give percentiles.
    #[serde(default)]
    pub no_percentiles: bool,
}

impl Aggregate {
    pub fn is_empty(&self) -> bool {
        self.count <= 0.0
    }

    /// Adds `count` samples of `value`.
    pub fn add_value(&mut self, value: f64, count: f64) {
        self.add_stats(count, value * count, value, value);
        match self
            .values
            .binary_search_by(|(existing, _)| existing.total_cmp(&value))
        {
            Ok(at) => self.values[at].1 += count,
            Err(at) => self.values.insert(at, (value, count)),
        }
        self.compact();
    }

    /// Adds a statistic set; a set that is one value (its minimum equals its
    /// maximum, and its sum their product with the count) keeps percentiles.
    pub fn add_set(&mut self, count: f64, sum: f64, minimum: f64, maximum: f64) {
        if minimum == maximum && (sum - minimum * count).abs() <= 1e-9 * sum.abs().max(1.0) {
            self.add_value(minimum, count);
            return;
        }
        self.add_stats(count, sum, minimum, maximum);
        self.no_percentiles = true;
    }

    fn add_stats(&mut self, count: f64, sum: f64, minimum: f64, maximum: f64) {
        if self.is_empty() {
            self.minimum = minimum;
            self.maximum = maximum;
        } else {
            self.minimum = self.minimum.min(minimum);
            self.maximum = self.maximum.max(maximum);
        }
        self.count += count;
        self.sum += sum;
    }

    pub fn merge(&mut self, other: &Aggregate) {
        if other.is_empty() {
            return;
        }
        self.add_stats(other.count, other.sum, other.minimum, other.maximum);
        self.no_percentiles |= other.no_percentiles;
        for (value, count) in &other.values {
            match self
                .values
                .binary_search_by(|(existing, _)| existing.total_cmp(value))
            {
                Ok(at) => self.values[at].1 += count,
                Err(at) => self.values.insert(at, (*value, *count)),
            }
        }
        self.compact();
    }

    /// Past [`MAX_VALUES`] distinct values, merges neighbours within 0.5 %
    /// of each other (into their weighted mean) until it fits.
    fn compact(&mut self) {
        let mut tolerance = 0.005;
        while self.values.len() > MAX_VALUES {
            let mut merged: Vec<(f64, f64)> = Vec::with_capacity(self.values.len());
            for &(value, count) in &self.values {
                match merged.last_mut() {
                    Some((last, total))
                        if (value - *last).abs() <= tolerance * value.abs().max(last.abs()) =>
                    {
                        *last = (*last * *total + value * count) / (*total + count);
                        *total += count;
                    }
                    _ => merged.push((value, count)),
                }
            }
            self.values = merged;
            tolerance *= 2.0;
        }
    }

    /// The samples the core's statistics are computed from.
    pub fn samples(&self) -> Option<PeriodSamples> {
        if self.is_empty() {
            return None;
        }
        let count = (self.count.round() as u64).max(1);
        let quantiles = if self.no_percentiles || self.values.is_empty() {
            // Percentiles of data CloudWatch cannot give them for: none.
            Quantiles::Histogram(Vec::new())
        } else {
            Quantiles::Histogram(
                self.values
                    .iter()
                    .map(|(value, count)| (*value, (count.round() as u64).max(1)))
                    .collect(),
            )
        };
        Some(PeriodSamples {
            count,
            sum: self.sum,
            minimum: Some(self.minimum),
            maximum: Some(self.maximum),
            quantiles,
        })
    }
}

/// What a run has recorded of the team's metrics, tick by tick: each tick's
/// latest record ([`TeamTick`]). A run's alarms read the team's data from it,
/// and the retrospective judge replays the same records into one, so both
/// see the same datapoints.
#[derive(Clone, Debug, Default)]
pub struct TeamView {
    /// Per metric, each tick's latest record by the tick's start.
    metrics: Vec<(MetricIdentity, BTreeMap<u64, Aggregate>)>,
}

impl TeamView {
    /// Takes in records, later ones replacing earlier ones of the same tick.
    pub fn apply(&mut self, records: &[TeamTick]) {
        for record in records {
            let at = match self
                .metrics
                .iter()
                .position(|(metric, _)| metric.same_as(&record.metric))
            {
                Some(at) => at,
                None => {
                    self.metrics.push((record.metric.clone(), BTreeMap::new()));
                    self.metrics.len() - 1
                }
            };
            self.metrics[at]
                .1
                .insert(record.start_ms, record.data.clone());
        }
    }

    /// Whether the run recorded `metric` at all.
    pub fn knows(&self, metric: &MetricIdentity) -> bool {
        self.metrics.iter().any(|(known, _)| known.same_as(metric))
    }

    fn ticks(&self, metric: &MetricIdentity) -> Option<&BTreeMap<u64, Aggregate>> {
        self.metrics
            .iter()
            .find(|(known, _)| known.same_as(metric))
            .map(|(_, ticks)| ticks)
    }

    /// The latest record of the tick that starts at `start_ms`.
    pub fn latest(&self, metric: &MetricIdentity, start_ms: u64) -> Option<&Aggregate> {
        self.ticks(metric)?.get(&start_ms)
    }

    /// What was published of `metric` for the ticks that start in
    /// `[start_ms, end_ms)`, or `None` when nothing was.
    pub fn samples(
        &self,
        metric: &MetricIdentity,
        start_ms: u64,
        end_ms: u64,
    ) -> Option<PeriodSamples> {
        let mut total = Aggregate::default();
        for data in self
            .ticks(metric)?
            .range(start_ms..end_ms)
            .map(|(_, data)| data)
        {
            total.merge(data);
        }
        total.samples()
    }

    /// Forgets the records of ticks that start before `start_ms`.
    pub fn forget_before(&mut self, start_ms: u64) {
        for (_, ticks) in &mut self.metrics {
            *ticks = ticks.split_off(&start_ms);
        }
    }
}

/// How a run records the team's metrics: at each tick's end, every tick
/// still in reach of its alarms (`reach_ms` back) is read again, and
/// recorded when it changed (late data: a minute's datum sent half a minute
/// in belongs to the minute's first tick). The first tick records every
/// metric, even with no data, so that the record says which were watched.
#[derive(Clone, Debug)]
pub struct TeamRecorder {
    metrics: Vec<MetricIdentity>,
    tick_ms: u64,
    reach_ms: u64,
    view: TeamView,
    started: bool,
}

/// How long after it starts a run reads a tick of the team's data again,
/// for a run whose alarms are `rules` and whose ticks are `tick_ms` long:
/// as far back as an evaluation of an alarm on a team metric reads (its
/// whole evaluation range, [`AlarmRule::evaluation_range`] periods, from a
/// deadline anywhere in a period), and at least a minute and a tick (a
/// minute's datum may come at the minute's end).
///
/// The run's alarms read the run's record of the team's data, and a
/// re-judgement reads the same record. A record that forgot a tick an
/// evaluation still reads would leave the run's alarms judging a missing
/// datapoint where the re-judgement finds data: when a newer period has no
/// data, CloudWatch looks further back in the range.
pub fn team_reach_ms(rules: &[AlarmRule], tick_ms: u64) -> u64 {
    rules
        .iter()
        .filter(|rule| {
            rule.queries()
                .iter()
                .any(|query| query.scope == Scope::Team)
        })
        .map(|rule| {
            rule.period_ms()
                .saturating_mul(u64::from(rule.evaluation_range()) + 1)
        })
        .fold(60_000 + tick_ms, u64::max)
}

impl TeamRecorder {
    /// Records `metrics` over ticks of `tick_ms`, each for `reach_ms` after
    /// it starts (at least one tick): [`team_reach_ms`] for a run's alarms.
    pub fn new(metrics: Vec<MetricIdentity>, tick_ms: u64, reach_ms: u64) -> TeamRecorder {
        TeamRecorder {
            metrics,
            tick_ms: tick_ms.max(1),
            reach_ms: reach_ms.max(tick_ms),
            view: TeamView::default(),
            started: false,
        }
    }

    /// At `at_ms`, the end of a tick: `read(metric, starts)` gives what is
    /// published for the ticks starting at `starts` (each `tick_ms` long).
    /// Returns the records to keep, and takes them in.
    pub fn tick(
        &mut self,
        at_ms: u64,
        read: impl Fn(&MetricIdentity, &[u64]) -> Vec<Aggregate>,
    ) -> Vec<TeamTick> {
        if self.metrics.is_empty() {
            return Vec::new();
        }
        let first = at_ms.saturating_sub(self.reach_ms) / self.tick_ms * self.tick_ms;
        let starts: Vec<u64> = (first..at_ms)
            .step_by(usize::try_from(self.tick_ms).unwrap_or(usize::MAX))
            .collect();
        let mut records = Vec::new();
        for metric in &self.metrics {
            let read = read(metric, &starts);
            for (start, data) in starts.iter().zip(read) {
                let last = self.view.latest(metric, *start);
                let changed = match last {
                    Some(last) => *last != data,
                    None => !data.is_empty(),
                };
                let first_record = !self.started && *start + self.tick_ms == at_ms;
                if changed || (first_record && last.is_none()) {
                    records.push(TeamTick {
                        metric: metric.clone(),
                        start_ms: *start,
                        data,
                    });
                }
            }
        }
        self.started = true;
        self.view.apply(&records);
        self.view.forget_before(first);
        records
    }

    /// What the run's alarms read: the records taken in so far.
    pub fn view(&self) -> &TeamView {
        &self.view
    }
}

/// What the team had published of one metric for one tick of a run's metric
/// clock (`[start_ms, start_ms + tick)`: the data whose minute or second
/// starts in it), as the local CloudWatch held it when the `MetricPeriod`
/// that carries it ended. Data may arrive after its tick, so a run records a
/// tick again while it changes, for as long as its alarms could still read
/// it: an alarm judged at a moment reads each tick's latest record by then.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TeamTick {
    pub metric: MetricIdentity,
    pub start_ms: u64,
    pub data: Aggregate,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alarm::Stat;
    use crate::plan::Statistic;

    fn one(value: f64) -> Aggregate {
        let mut data = Aggregate::default();
        data.add_value(value, 1.0);
        data
    }

    #[test]
    fn a_run_records_each_tick_again_while_late_data_changes_it() {
        let conversion = MetricIdentity::new("Shop", "Conversion", Vec::new());
        let fraud = MetricIdentity::new("Shop", "Fraud", Vec::new());
        // 10 s ticks, read again for 70 s.
        let mut recorder =
            TeamRecorder::new(vec![conversion.clone(), fraud.clone()], 10_000, 70_000);
        // What CloudWatch holds, by tick start: the minute's conversion datum
        // (for 0 s) arrives at 30 s; nothing of fraud.
        let held = std::cell::RefCell::new(BTreeMap::<u64, f64>::new());
        let read = |metric: &MetricIdentity, starts: &[u64]| -> Vec<Aggregate> {
            starts
                .iter()
                .map(|start| match held.borrow().get(start) {
                    Some(value) if metric.same_as(&conversion) => one(*value),
                    _ => Aggregate::default(),
                })
                .collect()
        };
        // The first tick names both metrics, even with no data.
        let first = recorder.tick(10_000, read);
        assert_eq!(first.len(), 2);
        assert!(first
            .iter()
            .all(|record| record.start_ms == 0 && record.data.is_empty()));
        assert!(recorder.tick(20_000, read).is_empty());
        held.borrow_mut().insert(0, 3.1);
        let late = recorder.tick(30_000, read);
        assert_eq!(late.len(), 1);
        assert_eq!(
            (late[0].start_ms, late[0].metric.same_as(&conversion)),
            (0, true)
        );
        // Unchanged: not recorded again.
        assert!(recorder.tick(40_000, read).is_empty());
        let minute = recorder
            .view()
            .samples(&conversion, 0, 60_000)
            .expect("data");
        assert_eq!((minute.count, minute.sum), (1, 3.1));
        assert!(recorder.view().samples(&fraud, 0, 60_000).is_none());
        assert!(recorder.view().knows(&fraud));
        // Past its reach a tick is read no more, and forgotten.
        held.borrow_mut().insert(0, 9.0);
        assert!(recorder.tick(80_000, read).is_empty());
        assert!(recorder.view().latest(&conversion, 0).is_none());
        // The records replay into the same view.
        let mut replayed = TeamView::default();
        replayed.apply(&first);
        replayed.apply(&late);
        assert_eq!(replayed.samples(&conversion, 0, 60_000), Some(minute));
    }

    #[test]
    fn a_run_keeps_every_tick_its_team_alarms_read_so_a_re_judgement_agrees() {
        use crate::alarm::AlarmState;
        use crate::monitor::{Ask, Monitor};
        // The shop's conversion alarm: 2 of 2 periods of 60 s, missing data
        // not breaching. An evaluation reads its range: 4 periods.
        let plan = crate::Plan::from_json(crate::examples::TEAM_GUARDRAILS).expect("example");
        let rule = crate::check::check_alarm(&plan.alarms[4]).expect("valid");
        let query = rule.query().expect("one metric").clone();
        assert_eq!(query.scope, Scope::Team);
        assert_eq!(rule.evaluation_range(), 4);
        let rules = std::slice::from_ref(&rule);
        let tick_ms = 10_000;
        assert_eq!(team_reach_ms(rules, tick_ms), 300_000);
        let mut recorder = TeamRecorder::new(
            vec![query.identity.clone()],
            tick_ms,
            team_reach_ms(rules, tick_ms),
        );
        // 1 % for two minutes, then nothing: the newer periods are missing,
        // and CloudWatch judges the latest two it finds in the range.
        let read = |_: &MetricIdentity, starts: &[u64]| -> Vec<Aggregate> {
            starts
                .iter()
                .map(|start| match *start < 120_000 {
                    true => one(1.0),
                    false => Aggregate::default(),
                })
                .collect()
        };
        // The run's alarms read the run's view as it goes; the re-judgement
        // reads the whole record as it stood at each moment.
        let judge = |monitor: &mut Monitor, view: &TeamView, at: u64| -> Vec<(u64, AlarmState)> {
            monitor
                .handle_due(at, |ask: &Ask| {
                    let (start, end) = ask.window_ms()?;
                    let samples = view.samples(&ask.query.identity, start, end)?;
                    ask.query.datapoint(&samples, ask.rule.low_sample_count)
                })
                .into_iter()
                .map(|judgement| (judgement.transition.at_ms, judgement.transition.to))
                .collect()
        };
        let (mut run, mut rejudged) = (Monitor::new(rules), Monitor::new(rules));
        let (mut by_run, mut by_record) = (Vec::new(), Vec::new());
        let mut record = TeamView::default();
        for at in (1..=40).map(|tick| tick * tick_ms) {
            record.apply(&recorder.tick(at, read));
            by_run.extend(judge(&mut run, recorder.view(), at));
            by_record.extend(judge(&mut rejudged, &record, at));
        }
        assert_eq!(by_run, by_record);
        // Both alarm at two minutes and stay in ALARM while the two breaching
        // periods are in the range (until 5 minutes).
        assert_eq!(
            by_record,
            [
                (60_000, AlarmState::Ok),
                (120_000, AlarmState::Alarm),
                (300_000, AlarmState::Ok)
            ]
        );
    }

    #[test]
    fn many_distinct_values_stay_bounded_and_percentiles_close() {
        let mut aggregate = Aggregate::default();
        for index in 0..20_000 {
            aggregate.add_value(1.0 + f64::from(index) / 1_000.0, 1.0);
        }
        assert!(aggregate.values.len() <= MAX_VALUES);
        let samples = aggregate.samples().expect("data");
        let p50 = samples.statistic(Stat::Percentile(50.0));
        assert!((p50 - 11.0).abs() / 11.0 < 0.02, "{p50}");
        assert_eq!(samples.count, 20_000);
        // A statistic set of several values: no percentiles, as on CloudWatch.
        let mut set = Aggregate::default();
        set.add_set(3.0, 6.0, 1.0, 3.0);
        let samples = set.samples().expect("data");
        assert!(samples.statistic(Stat::Percentile(50.0)).is_nan());
        assert_eq!(samples.statistic(Stat::Basic(Statistic::Average)), 2.0);
        // Merging two halves is adding all of it.
        let (mut low, mut high) = (Aggregate::default(), Aggregate::default());
        low.add_value(1.0, 2.0);
        high.add_value(5.0, 1.0);
        low.merge(&high);
        let samples = low.samples().expect("data");
        assert_eq!(
            (samples.count, samples.sum, samples.minimum, samples.maximum),
            (3, 7.0, Some(1.0), Some(5.0))
        );
        assert!(!low.is_empty() && Aggregate::default().is_empty());
    }
}
