//! The alarm monitor: CloudWatch's side of a rollout, sans IO.
//!
//! It owns each alarm's state and its evaluation times. Time is a parameter:
//! [`Monitor::next_due`] says when the next evaluation is due and
//! [`Monitor::handle_due`] carries out every evaluation due by `now`, each at its
//! own time, asking the driver for the datapoints it needs. It never reads a
//! clock and never reads metrics itself, in the shape of quinn-proto's
//! connection. The simulator, the local engine and (through them) replay all
//! drive this one monitor, so they agree on when an alarm changes state.
//!
//! The rules it keeps:
//! - periods are aligned to the monitor's time 0 (the update request), and an
//!   alarm is evaluated at the end of each of its periods (assumption
//!   `alarm_periods`);
//! - evaluations due at the same moment run in time order, then in the order the
//!   alarms were given, so two drivers see the same transitions in the same order;
//! - a datapoint that ends at `t` describes what happened before `t`, so its
//!   verdict is handed over before anything else due at `t`
//!   ([`crate::session::Session`] judges alarms before it lets a phase end).

use crate::alarm::{evaluate_at, AlarmRule, AlarmState, EvaluatedPoint, Query, Times};
use crate::composite;
use crate::timeline::AlarmTransition;

/// What the monitor asks its driver for: the value of one metric of one alarm
/// over one period.
#[derive(Clone, Copy, Debug)]
pub struct Ask<'a> {
    /// The alarm's index.
    pub alarm: usize,
    pub rule: &'a AlarmRule,
    /// Which of the alarm's metrics (0 for a single-metric alarm).
    pub metric: usize,
    pub query: &'a Query,
    /// The period's number: it starts at `period × Period`; negative before 0.
    pub period: i64,
}

impl Ask<'_> {
    /// The period's start and end, in milliseconds of the monitor's clock,
    /// or `None` before its time 0.
    pub fn window_ms(&self) -> Option<(u64, u64)> {
        let period_ms = self.rule.period_ms();
        let start = u64::try_from(self.period).ok()?.checked_mul(period_ms)?;
        Some((start, start.checked_add(period_ms)?))
    }
}

/// A composite alarm the monitor keeps: its state follows its rule.
#[derive(Clone, Debug, PartialEq)]
pub struct CompositeRule {
    pub name: String,
    pub rule: composite::Rule,
}

/// An evaluation that changed an alarm's state.
#[derive(Clone, Debug, PartialEq)]
pub struct Judgement {
    /// The alarm's index: the order in which the monitor was given its rules.
    pub index: usize,
    pub transition: AlarmTransition,
    /// The datapoints of the evaluation range, oldest first.
    pub points: Vec<EvaluatedPoint>,
}

#[derive(Clone, Debug)]
enum Kind {
    Metric { rule: AlarmRule, next_ms: u64 },
    Composite(CompositeRule),
}

#[derive(Clone, Debug)]
struct Watched {
    kind: Kind,
    state: AlarmState,
}

impl Watched {
    fn name(&self) -> &str {
        match &self.kind {
            Kind::Metric { rule, .. } => &rule.name,
            Kind::Composite(composite) => &composite.name,
        }
    }

    fn next_ms(&self) -> Option<u64> {
        match &self.kind {
            Kind::Metric { next_ms, .. } => Some(*next_ms),
            Kind::Composite(_) => None,
        }
    }
}

/// A set of alarms and their states. See the module documentation.
///
/// An alarm keeps its index for as long as it is watched: removing one leaves
/// a gap rather than renumbering the others.
#[derive(Clone, Debug, Default)]
pub struct Monitor {
    alarms: Vec<Option<Watched>>,
    /// How reasons write datapoint times.
    times: Times,
}

impl Monitor {
    /// An empty monitor on the epoch clock (CloudWatch's): reasons write
    /// datapoint times as dates.
    pub fn on_epoch_clock() -> Monitor {
        Monitor {
            alarms: Vec::new(),
            times: Times::Epoch,
        }
    }

    /// Watches `rules` from time 0. Every alarm starts in INSUFFICIENT_DATA, as a
    /// new CloudWatch alarm does, and is first evaluated at the end of its first
    /// period.
    pub fn new(rules: &[AlarmRule]) -> Monitor {
        let mut monitor = Monitor::default();
        for rule in rules {
            monitor.add(rule.clone(), 0);
        }
        monitor
    }

    /// Adds an alarm at `now_ms`; it is first evaluated at the end of the period
    /// that contains `now_ms`. Returns its index.
    pub fn add(&mut self, rule: AlarmRule, now_ms: u64) -> usize {
        let next_ms = next_period_end(&rule, now_ms);
        self.alarms.push(Some(Watched {
            kind: Kind::Metric { rule, next_ms },
            state: AlarmState::InsufficientData,
        }));
        self.alarms.len() - 1
    }

    /// Replaces an alarm's definition, keeping its state (as `PutMetricAlarm`
    /// on an existing alarm does); its next evaluation is at the end of the new
    /// period that contains `now_ms`.
    pub fn replace(&mut self, index: usize, rule: AlarmRule, now_ms: u64) {
        if let Some(Some(alarm)) = self.alarms.get_mut(index) {
            alarm.kind = Kind::Metric {
                next_ms: next_period_end(&rule, now_ms),
                rule,
            };
        }
    }

    /// Adds a composite alarm at `now_ms`, or replaces one's rule (keeping its
    /// state) when `index` is given. It is evaluated at once, as CloudWatch
    /// evaluates a composite alarm when it is put; returns its index and the
    /// changes that made, its own and those of composites that name it.
    pub fn put_composite(
        &mut self,
        index: Option<usize>,
        composite: CompositeRule,
        now_ms: u64,
    ) -> (usize, Vec<Judgement>) {
        let index = match index.filter(|index| self.watched(*index).is_some()) {
            Some(index) => {
                if let Some(Some(alarm)) = self.alarms.get_mut(index) {
                    alarm.kind = Kind::Composite(composite);
                }
                index
            }
            None => {
                self.alarms.push(Some(Watched {
                    kind: Kind::Composite(composite),
                    state: AlarmState::InsufficientData,
                }));
                self.alarms.len() - 1
            }
        };
        let mut judgements = Vec::new();
        if let Some(judgement) = self.judge_composite(index, now_ms) {
            judgements.push(judgement);
        }
        self.follow_composites(&mut judgements, now_ms);
        (index, judgements)
    }

    /// Stops watching an alarm; the other indices stay as they are.
    pub fn remove(&mut self, index: usize) {
        if let Some(slot) = self.alarms.get_mut(index) {
            *slot = None;
        }
    }

    /// Sets an alarm's state by hand (CloudWatch's `SetAlarmState`): it holds
    /// until the next evaluation decides again. Returns the transition, if the
    /// state changed.
    pub fn set_state(
        &mut self,
        index: usize,
        state: AlarmState,
        reason: &str,
        at_ms: u64,
    ) -> Option<AlarmTransition> {
        let alarm = self.alarms.get_mut(index)?.as_mut()?;
        if alarm.state == state {
            return None;
        }
        let from = std::mem::replace(&mut alarm.state, state);
        Some(AlarmTransition {
            at_ms,
            alarm: alarm.name().to_string(),
            from,
            to: state,
            reason: reason.to_string(),
        })
    }

    /// Re-evaluates every composite alarm after the changes in `judgements`,
    /// adding its own changes, until nothing changes (a composite may name
    /// another). A rule that keeps changing in a circle stops after as many
    /// rounds as there are alarms, as CloudWatch stops evaluating a cycle.
    pub fn follow_composites(&mut self, judgements: &mut Vec<Judgement>, now_ms: u64) {
        for _ in 0..self.alarms.len() {
            let mut changed = false;
            for index in 0..self.alarms.len() {
                if let Some(judgement) = self.judge_composite(index, now_ms) {
                    judgements.push(judgement);
                    changed = true;
                }
            }
            if !changed {
                return;
            }
        }
    }

    /// Evaluates composite alarm `index` now; its change, if any.
    fn judge_composite(&mut self, index: usize, at_ms: u64) -> Option<Judgement> {
        let Some(Watched {
            kind: Kind::Composite(composite),
            state,
        }) = self.watched(index)
        else {
            return None;
        };
        let state_of = |name: &str| self.state_named(name);
        let to = composite.rule.state(&state_of);
        if to == *state {
            return None;
        }
        let reason = composite.rule.reason(&state_of);
        let transition = self.set_state(index, to, &reason, at_ms)?;
        Some(Judgement {
            index,
            transition,
            points: Vec::new(),
        })
    }

    /// The state of the alarm named `name`, if it is watched.
    pub fn state_named(&self, name: &str) -> Option<AlarmState> {
        self.alarms
            .iter()
            .flatten()
            .find(|alarm| alarm.name() == name)
            .map(|alarm| alarm.state)
    }

    /// The composite alarm at `index`.
    pub fn composite(&self, index: usize) -> Option<&CompositeRule> {
        match &self.watched(index)?.kind {
            Kind::Composite(composite) => Some(composite),
            Kind::Metric { .. } => None,
        }
    }

    /// How many alarms are watched.
    pub fn len(&self) -> usize {
        self.alarms.iter().flatten().count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The metric alarm at `index`.
    pub fn rule(&self, index: usize) -> Option<&AlarmRule> {
        match &self.watched(index)?.kind {
            Kind::Metric { rule, .. } => Some(rule),
            Kind::Composite(_) => None,
        }
    }

    pub fn state(&self, index: usize) -> Option<AlarmState> {
        self.watched(index).map(|alarm| alarm.state)
    }

    fn watched(&self, index: usize) -> Option<&Watched> {
        self.alarms.get(index).and_then(Option::as_ref)
    }

    /// Every alarm's name and state, in order.
    pub fn states(&self) -> impl Iterator<Item = (&str, AlarmState)> {
        self.alarms
            .iter()
            .flatten()
            .map(|alarm| (alarm.name(), alarm.state))
    }

    /// When the next evaluation is due, in plan milliseconds.
    pub fn next_due(&self) -> Option<u64> {
        self.alarms
            .iter()
            .flatten()
            .filter_map(Watched::next_ms)
            .min()
    }

    /// Carries out every evaluation due at or before `now_ms`, each at its own
    /// due time, and returns the ones that changed a state, in order; a
    /// composite alarm that a change moves follows it at the same time.
    ///
    /// `datapoint(ask)` gives the value of one metric of one alarm over one
    /// period (see [`Ask`]), or `None` where the period is missing.
    pub fn handle_due(
        &mut self,
        now_ms: u64,
        mut datapoint: impl FnMut(&Ask) -> Option<f64>,
    ) -> Vec<Judgement> {
        let mut judgements = Vec::new();
        while let Some((index, at_ms)) = self
            .alarms
            .iter()
            .enumerate()
            .filter_map(|(index, alarm)| Some((index, alarm.as_ref()?.next_ms()?)))
            .filter(|(_, at_ms)| *at_ms <= now_ms)
            .min_by_key(|(index, at_ms)| (*at_ms, *index))
        {
            let Some(alarm) = self.alarms[index].as_mut() else {
                break;
            };
            let state = alarm.state;
            let Kind::Metric { rule, next_ms } = &mut alarm.kind else {
                break;
            };
            let evaluation = evaluate_at(rule, at_ms, state, |metric, period| {
                let query = rule.queries().get(metric)?;
                datapoint(&Ask {
                    alarm: index,
                    rule,
                    metric,
                    query,
                    period,
                })
            });
            *next_ms = at_ms.saturating_add(rule.period_ms());
            if evaluation.state == state {
                continue;
            }
            let reason = evaluation.reason_in(rule, self.times);
            let name = rule.name.clone();
            alarm.state = evaluation.state;
            judgements.push(Judgement {
                index,
                transition: AlarmTransition {
                    at_ms,
                    alarm: name,
                    from: state,
                    to: evaluation.state,
                    reason,
                },
                points: evaluation.points,
            });
            self.follow_composites(&mut judgements, at_ms);
        }
        judgements
    }
}

/// The end of the period of `rule` that contains `now_ms`.
fn next_period_end(rule: &AlarmRule, now_ms: u64) -> u64 {
    let period_ms = rule.period_ms().max(1);
    (now_ms / period_ms + 1).saturating_mul(period_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alarm::{Comparison, Metric, Scope, Source, Stat};
    use crate::plan::{LowSampleCountPercentile, MetricIdentity, Statistic, TreatMissingData};

    fn rule(name: &str, period_seconds: u32) -> AlarmRule {
        AlarmRule {
            name: name.into(),
            source: Source::Metric(Query {
                identity: MetricIdentity::new("AWS/SageMaker", "Invocation5XXErrors", Vec::new()),
                metric: Some(Metric::Invocation5XXErrors),
                scope: Scope::NewFleet,
                stat: Stat::Basic(Statistic::Average),
            }),
            period_seconds,
            evaluation_periods: 1,
            datapoints_to_alarm: 1,
            threshold: 0.5,
            comparison: Comparison::GreaterOrEqual,
            treat_missing_data: TreatMissingData::Missing,
            low_sample_count: LowSampleCountPercentile::Evaluate,
        }
    }

    #[test]
    fn alarms_are_due_at_the_end_of_each_period_in_time_then_list_order() {
        let mut monitor = Monitor::new(&[rule("slow", 60), rule("fast", 30)]);
        assert_eq!(monitor.next_due(), Some(30_000));
        let mut asked = Vec::new();
        // Called late, at 60 s: fast at 30 s, then both at 60 s, slow first. Each
        // evaluation asks for its evaluation range, EvaluationPeriods + 2 periods.
        let judgements = monitor.handle_due(60_000, |ask| {
            asked.push((ask.alarm, ask.period));
            Some(1.0)
        });
        assert_eq!(
            asked,
            vec![
                (1, -2),
                (1, -1),
                (1, 0),
                (0, -2),
                (0, -1),
                (0, 0),
                (1, -1),
                (1, 0),
                (1, 1)
            ]
        );
        let order: Vec<(&str, u64)> = judgements
            .iter()
            .map(|judgement| {
                (
                    judgement.transition.alarm.as_str(),
                    judgement.transition.at_ms,
                )
            })
            .collect();
        // fast changed at 30 s; slow at 60 s; fast's second evaluation changed nothing.
        assert_eq!(order, vec![("fast", 30_000), ("slow", 60_000)]);
        assert_eq!(monitor.state(0), Some(AlarmState::Alarm));
        assert_eq!(monitor.next_due(), Some(90_000));
    }

    #[test]
    fn a_transition_names_both_states_and_the_reason() {
        let mut monitor = Monitor::new(&[rule("a", 60)]);
        let first = monitor.handle_due(60_000, |_| Some(0.0));
        assert_eq!(first[0].transition.from, AlarmState::InsufficientData);
        assert_eq!(first[0].transition.to, AlarmState::Ok);
        let second = monitor.handle_due(120_000, |_| Some(0.9));
        assert_eq!(
            (second[0].transition.from, second[0].transition.to),
            (AlarmState::Ok, AlarmState::Alarm)
        );
        assert!(
            second[0].transition.reason.contains("0.9!"),
            "{:?}",
            second[0]
        );
        assert_eq!(second[0].points.len(), 3);
    }

    #[test]
    fn alarms_can_be_replaced_removed_and_set_by_hand() {
        let mut monitor = Monitor::new(&[rule("a", 60), rule("b", 60)]);
        let set = monitor
            .set_state(1, AlarmState::Alarm, "by hand", 10_000)
            .expect("a change");
        assert_eq!(
            (set.from, set.to),
            (AlarmState::InsufficientData, AlarmState::Alarm)
        );
        assert!(monitor
            .set_state(1, AlarmState::Alarm, "again", 11_000)
            .is_none());
        // The next evaluation decides again.
        let judged = monitor.handle_due(60_000, |_| Some(0.0));
        assert_eq!(judged.len(), 2);
        assert_eq!(monitor.state(1), Some(AlarmState::Ok));
        monitor.remove(0);
        assert_eq!((monitor.len(), monitor.rule(0).is_none()), (1, true));
        monitor.replace(1, rule("b", 300), 90_000);
        assert_eq!(monitor.next_due(), Some(300_000));
        assert_eq!(
            monitor.state(1),
            Some(AlarmState::Ok),
            "a new definition keeps the state"
        );
    }

    #[test]
    fn an_alarm_added_later_starts_at_its_next_period_end() {
        let mut monitor = Monitor::default();
        monitor.add(rule("late", 60), 90_000);
        assert_eq!(monitor.next_due(), Some(120_000));
        assert!(monitor.handle_due(119_999, |_| Some(1.0)).is_empty());
    }

    #[test]
    fn composite_alarms_follow_the_alarms_they_name_at_once() {
        let mut monitor = Monitor::new(&[rule("a", 60), rule("b", 60)]);
        let either = composite::parse("ALARM(a) OR ALARM(b)").expect("parses");
        let (index, put) = monitor.put_composite(
            None,
            CompositeRule {
                name: "either".into(),
                rule: either,
            },
            1_000,
        );
        // Evaluated when put: nothing is in ALARM, so OK at once.
        assert_eq!(put.len(), 1);
        assert_eq!(
            (
                put[0].transition.from,
                put[0].transition.to,
                put[0].transition.at_ms
            ),
            (AlarmState::InsufficientData, AlarmState::Ok, 1_000)
        );
        let both = composite::parse("ALARM(either) AND ALARM(b)").expect("parses");
        let (outer, _) = monitor.put_composite(
            None,
            CompositeRule {
                name: "both".into(),
                rule: both,
            },
            1_000,
        );
        // `a` breaches at 60 s: `either` follows at once; `both` stays OK.
        let judged = monitor.handle_due(60_000, |ask| Some(if ask.alarm == 0 { 1.0 } else { 0.0 }));
        let names: Vec<(&str, AlarmState)> = judged
            .iter()
            .map(|judgement| (judgement.transition.alarm.as_str(), judgement.transition.to))
            .collect();
        assert_eq!(
            names,
            [
                ("a", AlarmState::Alarm),
                ("either", AlarmState::Alarm),
                ("b", AlarmState::Ok),
            ]
        );
        assert_eq!(monitor.state(index), Some(AlarmState::Alarm));
        assert_eq!(monitor.state(outer), Some(AlarmState::Ok));
        assert!(
            judged[1].transition.reason.contains("a is ALARM"),
            "{:?}",
            judged[1]
        );
        // A composite has no evaluation times of its own.
        assert_eq!(monitor.next_due(), Some(120_000));
        // By hand on `b`: the composite that names both follows.
        let set = monitor
            .set_state(1, AlarmState::Alarm, "test", 70_000)
            .expect("a change");
        let mut followed = vec![Judgement {
            index: 1,
            transition: set,
            points: Vec::new(),
        }];
        monitor.follow_composites(&mut followed, 70_000);
        assert_eq!(followed.len(), 2);
        assert_eq!(monitor.state(outer), Some(AlarmState::Alarm));
    }

    #[test]
    fn composite_alarms_in_a_circle_stop() {
        let mut monitor = Monitor::default();
        for (name, text) in [("x", "NOT ALARM(y)"), ("y", "ALARM(x)")] {
            let rule = composite::parse(text).expect("parses");
            monitor.put_composite(
                None,
                CompositeRule {
                    name: name.into(),
                    rule,
                },
                0,
            );
        }
        // x = NOT y, y = x flips forever; the monitor stops rather than loop.
        let mut judgements = Vec::new();
        monitor.follow_composites(&mut judgements, 0);
        assert!(judgements.len() <= 2 * monitor.len());
    }
}
