//! The retrospective judge: "would these alarms have caught that?", asked of a
//! run that really happened.
//!
//! A local run records, in every `MetricPeriod` event, each fleet's samples
//! over one tick of its metric clock ([`FleetTick`]: counts, sums, extremes
//! and the latency histogram), exactly what the run's own alarms were judged
//! from. The judge feeds those ticks to the core's alarm monitor under other
//! alarm definitions, so the verdicts are the ones the run would have reached,
//! not an approximation: with the run's own alarms it finds the same
//! transitions at the same moments (tested).
//!
//! The team's own metrics are in the record too: each tick keeps what was
//! published of every team metric the run's plan named ([`TeamTick`]), so
//! alarms on those metrics (any statistic, threshold or period) are re-judged
//! from the data the run's alarms read as it had arrived by each tick's end.
//! An alarm on a team metric the plan did not name is refused with the reason.
//!
//! Every statistic can be re-judged: SampleCount, Sum, Average, Minimum,
//! Maximum and any percentile (from the 2 %-wide latency histogram the engine
//! judges percentiles from). What cannot be: periods that are not a whole
//! number of the record's ticks, and runs recorded without ticks (SageMaker
//! runs, whose metrics come from GetMetricData as statistics, and runs
//! recorded before ticks were kept).
//!
//! Alarms roll back where the controller watches them: during the bakes.
//! What happened after the recorded run's own rollback is not in the record,
//! so an alarm that would have fired only later says so.

use serde::Serialize;
use thiserror::Error;

use crate::alarm::{AlarmRule, AlarmState, Scope};
use crate::assumptions::datapoint_window_ms;
use crate::event::{Event, EventKind, FleetTick, RunTimeline, TeamTick};
use crate::fleets::Fleets;
use crate::judge::{JudgeSpec, Look, Watch};
use crate::monitor::{Ask, Monitor};
use crate::plan::{AlarmRef, MetricAlarm, Plan};
use crate::problem::Problem;
use crate::published::TeamView;
use crate::schedule::Phase;
use crate::timeline::AlarmTransition;
use crate::units::mmss;

/// Why a run cannot be re-judged.
#[derive(Clone, Debug, PartialEq, Error)]
pub enum RetroError {
    #[error("the run has no recorded samples to re-judge: only local runs record them (a SageMaker run's metrics come from GetMetricData as statistics, and runs recorded before this version kept none)")]
    NoSamples,
    #[error("no alarms to re-judge: give at least one alarm definition")]
    NoAlarms,
    #[error("the alarms are not valid: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<Problem>),
    #[error("alarm {alarm} has a period of {period} s, not a whole number of the record's {tick} s ticks: re-judging needs periods that are multiples of {tick} s")]
    Period {
        alarm: String,
        period: u32,
        tick: u32,
    },
    #[error("alarm {alarm} reads {metric}, a metric the team publishes that the run did not record: a run records the team metrics its own plan names (in its alarms or its what-if), so add the metric to the plan before the next run; CloudWatch keeps the team's data meanwhile (ask GetMetricData for it)")]
    TeamMetric { alarm: String, metric: String },
}

/// One alarm's re-judgement.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RetroAlarm {
    pub name: String,
    /// "Average of Invocation5XXErrors >= 0.1", with its period and M of N.
    pub condition: String,
    /// Every state change it would have made over the record.
    pub transitions: Vec<AlarmTransition>,
    /// When it would first have entered ALARM, if it would.
    pub first_alarm_ms: Option<u64>,
    /// When the run's own alarm of this name first entered ALARM, if it had one.
    pub recorded_alarm_ms: Option<u64>,
}

/// What the alarms would have done to the recorded run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Retro {
    pub alarms: Vec<RetroAlarm>,
    /// When traffic would have returned to blue: the first ALARM of an alarm
    /// during a bake, up to the recorded rollback.
    pub rollback_at_ms: Option<u64>,
    /// The alarm that would have rolled back, and in which phase.
    pub rollback_alarm: Option<String>,
    pub rollback_phase: Option<Phase>,
    /// When the recorded run rolled back, if it did.
    pub recorded_rollback_at_ms: Option<u64>,
    /// Requests green served, and failed, after the would-be rollback, up to
    /// the recorded rollback or end: what rolling back then would have spared.
    pub spared_requests: u64,
    pub spared_failures: u64,
    /// In plain words.
    pub verdict: String,
}

/// Re-judges the recorded run `events` (of `plan`) under `alarms`: each is a
/// rollback alarm, scoped by its dimensions against the run's endpoint,
/// variant and new config.
pub fn rejudge(events: &[Event], plan: &Plan, alarms: &[MetricAlarm]) -> Result<Retro, RetroError> {
    if alarms.is_empty() {
        return Err(RetroError::NoAlarms);
    }
    let ticks = recorded_ticks(events);
    let Some(tick_ms) = ticks.first().map(|tick| tick.end_ms - tick.start_ms) else {
        return Err(RetroError::NoSamples);
    };
    let rules = rules_for(plan, alarms)?;
    check_rules(&rules, &ticks, tick_ms)?;
    let timeline = RunTimeline::from_events(events);
    let end_ms = ticks.last().map(|tick| tick.end_ms).unwrap_or(0);
    let transitions = replay(&rules, &ticks, &timeline, end_ms);
    let recorded_rollback_at_ms = timeline.rollback_at_ms;
    let mut candidates: Vec<(u64, String, Phase)> = Vec::new();
    let alarms: Vec<RetroAlarm> = rules
        .iter()
        .zip(transitions)
        .map(|(rule, transitions)| {
            if let Some(candidate) = first_bake_alarm(rule, &transitions, &timeline) {
                candidates.push(candidate);
            }
            retro_alarm(rule, transitions, &timeline)
        })
        .collect();
    candidates.sort_by_key(|(at, _, _)| *at);
    let first = candidates.into_iter().next();
    let valid = first
        .clone()
        .filter(|(at, _, _)| recorded_rollback_at_ms.is_none_or(|recorded| *at <= recorded));
    let (spared_requests, spared_failures) = match &valid {
        Some((at, _, _)) => spared(&ticks, *at, recorded_rollback_at_ms.unwrap_or(u64::MAX)),
        None => (0, 0),
    };
    let verdict = verdict(
        &timeline,
        valid.as_ref(),
        first.as_ref(),
        (spared_requests, spared_failures),
        end_ms,
    );
    Ok(Retro {
        alarms,
        rollback_at_ms: valid.as_ref().map(|(at, _, _)| *at),
        rollback_alarm: valid.as_ref().map(|(_, alarm, _)| alarm.clone()),
        rollback_phase: valid.as_ref().map(|(_, _, phase)| *phase),
        recorded_rollback_at_ms,
        spared_requests,
        spared_failures,
        verdict,
    })
}

/// Refuses rules the record cannot answer: a team metric the run did not
/// record, or a period that is not a whole number of the record's ticks.
fn check_rules(rules: &[AlarmRule], ticks: &[Tick], tick_ms: u64) -> Result<(), RetroError> {
    let mut recorded = TeamView::default();
    for tick in ticks {
        recorded.apply(&tick.team);
    }
    if let Some((rule, query)) = rules.iter().find_map(|rule| {
        rule.queries()
            .iter()
            .find(|query| query.scope == Scope::Team && !recorded.knows(&query.identity))
            .map(|query| (rule, query))
    }) {
        return Err(RetroError::TeamMetric {
            alarm: rule.name.clone(),
            metric: format!(
                "{} {}",
                query.identity.namespace, query.identity.metric_name
            ),
        });
    }
    let tick_seconds = (tick_ms / 1_000) as u32;
    for rule in rules {
        if tick_ms == 0 || rule.period_ms() % tick_ms != 0 {
            return Err(RetroError::Period {
                alarm: rule.name.clone(),
                period: rule.period_seconds,
                tick: tick_seconds,
            });
        }
    }
    Ok(())
}

/// Every state change each rule would have made over the record up to
/// `end_ms`, evaluating as CloudWatch does at each rule's deadlines.
fn replay(
    rules: &[AlarmRule],
    ticks: &[Tick],
    timeline: &RunTimeline,
    end_ms: u64,
) -> Vec<Vec<AlarmTransition>> {
    let mut monitor = Monitor::new(rules);
    let mut transitions: Vec<Vec<AlarmTransition>> = vec![Vec::new(); rules.len()];
    // The team's data as the run had recorded it by each moment.
    let mut team = TeamView::default();
    let mut applied = 0;
    while let Some(due) = monitor.next_due().filter(|due| *due <= end_ms) {
        let serving = serving_at(timeline, due);
        while let Some(tick) = ticks.get(applied).filter(|tick| tick.end_ms <= due) {
            team.apply(&tick.team);
            applied += 1;
        }
        for judgement in monitor.handle_due(due, |ask| datapoint(ticks, &team, ask, serving)) {
            if let Some(list) = transitions.get_mut(judgement.index) {
                list.push(judgement.transition);
            }
        }
    }
    transitions
}

/// The rule's first ALARM during a bake, with the bake's phase: when it would
/// have rolled back.
fn first_bake_alarm(
    rule: &AlarmRule,
    transitions: &[AlarmTransition],
    timeline: &RunTimeline,
) -> Option<(u64, String, Phase)> {
    transitions
        .iter()
        .filter(|change| change.to == AlarmState::Alarm)
        .find_map(|change| bake_at(timeline, change.at_ms).map(|phase| (change.at_ms, phase)))
        .map(|(at, phase)| (at, rule.name.clone(), phase))
}

fn retro_alarm(
    rule: &AlarmRule,
    transitions: Vec<AlarmTransition>,
    timeline: &RunTimeline,
) -> RetroAlarm {
    RetroAlarm {
        name: rule.name.clone(),
        condition: format!(
            "{}, {} s, {} of {}",
            rule.condition(),
            rule.period_seconds,
            rule.datapoints_to_alarm,
            rule.evaluation_periods
        ),
        first_alarm_ms: transitions
            .iter()
            .find(|change| change.to == AlarmState::Alarm)
            .map(|change| change.at_ms),
        recorded_alarm_ms: timeline
            .alarm_changes
            .iter()
            .find(|change| change.alarm == rule.name && change.to == AlarmState::Alarm)
            .map(|change| change.at_ms),
        transitions,
    }
}

/// Requests green served, and failed, in the ticks starting in `[at, until)`.
fn spared(ticks: &[Tick], at: u64, until: u64) -> (u64, u64) {
    ticks
        .iter()
        .filter(|tick| tick.start_ms >= at && tick.start_ms < until)
        .fold((0u64, 0u64), |(requests, failed), tick| {
            let green = &tick.samples[1];
            (
                requests.saturating_add(green.invocations),
                failed.saturating_add(green.errors_4xx.saturating_add(green.errors_5xx)),
            )
        })
}

/// The re-judgement in plain words. `valid` is the would-be rollback (if it
/// comes no later than the recorded one), `first` the first bake ALARM.
fn verdict(
    timeline: &RunTimeline,
    valid: Option<&(u64, String, Phase)>,
    first: Option<&(u64, String, Phase)>,
    (spared_requests, spared_failures): (u64, u64),
    end_ms: u64,
) -> String {
    match (valid, first, timeline.rollback_at_ms) {
        (Some((at, alarm, phase)), _, Some(recorded)) if *at == recorded => format!(
            "{alarm} would have rolled back at {} during the {}, when the run did",
            mmss(at / 1_000),
            phase.label()
        ),
        (Some((at, alarm, phase)), _, Some(recorded)) => format!(
            "{alarm} would have rolled back at {} during the {}, {} before the run did, sparing {spared_failures} failed request(s) of {spared_requests} green served",
            mmss(at / 1_000),
            phase.label(),
            mmss((recorded - at) / 1_000)
        ),
        (Some((at, alarm, phase)), _, None) => format!(
            "{alarm} would have rolled back at {} during the {}, where the run went on ({}); sparing {spared_failures} failed request(s) of {spared_requests} green served",
            mmss(at / 1_000),
            phase.label(),
            timeline
                .outcome
                .as_ref()
                .map(|outcome| outcome.status().replace('_', " "))
                .unwrap_or_else(|| "unfinished".into())
        ),
        (None, Some((at, alarm, _)), Some(recorded)) => format!(
            "{alarm} would have fired only at {}, after the run's own rollback at {}: what green would have done by then is not in the record",
            mmss(at / 1_000),
            mmss(recorded / 1_000)
        ),
        (None, _, _) => format!(
            "no alarm would have rolled back during the recorded bakes (the record ends at {})",
            mmss(end_ms / 1_000)
        ),
    }
}

/// Whether the record holds the per-period samples a re-judgement needs.
pub fn has_samples(events: &[Event]) -> bool {
    events
        .iter()
        .any(|event| matches!(&event.kind, EventKind::MetricPeriod { ticks: Some(_), .. }))
}

/// One recorded tick: blue's and green's samples over `[start_ms, end_ms)`,
/// and what the team published then.
struct Tick {
    start_ms: u64,
    end_ms: u64,
    samples: [FleetTick; 2],
    team: Vec<TeamTick>,
}

/// The record's ticks, in time order.
fn recorded_ticks(events: &[Event]) -> Vec<Tick> {
    let mut ticks: Vec<Tick> = events
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::MetricPeriod {
                start_ms,
                end_ms,
                ticks: Some(ticks),
                team,
                ..
            } if end_ms > start_ms => Some(Tick {
                start_ms: *start_ms,
                end_ms: *end_ms,
                samples: (**ticks).clone(),
                team: team.clone(),
            }),
            _ => None,
        })
        .collect();
    ticks.sort_by_key(|tick| tick.start_ms);
    ticks
}

/// The alarms as rules, scoped as the run's own plan would scope them: the
/// run's plan with these alarms as its rollback alarms, checked.
fn rules_for(plan: &Plan, alarms: &[MetricAlarm]) -> Result<Vec<AlarmRule>, RetroError> {
    let mut candidate = plan.clone();
    candidate.alarms = alarms.to_vec();
    // Composite alarms never roll back (see the assumption
    // `composite_rollback`), and may name alarms left out here.
    candidate.composite_alarms.clear();
    if let Some(config) = candidate.deployment_config.as_mut() {
        let rollback = config
            .auto_rollback_configuration
            .get_or_insert_with(Default::default);
        rollback.alarms = alarms
            .iter()
            .map(|alarm| AlarmRef {
                alarm_name: alarm.alarm_name.clone(),
            })
            .collect();
    }
    let checked = crate::check(&candidate);
    match checked.rollout {
        Some(rollout) => Ok(rollout.alarms().to_vec()),
        None => Err(RetroError::Invalid(checked.report.errors)),
    }
}

/// The instances serving when a verdict at `at_ms` was reached: alarms due
/// at a moment are judged before a traffic change then.
fn serving_at(timeline: &RunTimeline, at_ms: u64) -> Fleets {
    timeline
        .traffic
        .iter()
        .take_while(|change| change.at_ms < at_ms)
        .last()
        .map(|change| change.serving)
        .unwrap_or_default()
}

/// The bake a verdict at `at_ms` belongs to: a period that ends as a phase
/// ends is judged before the phase may end, so the phase just before counts.
fn bake_at(timeline: &RunTimeline, at_ms: u64) -> Option<Phase> {
    let is_bake = |phase: Phase| {
        matches!(
            phase,
            Phase::CanaryBake
                | Phase::LinearStepBake { .. }
                | Phase::RollingBatchBake { .. }
                | Phase::FinalBake
        )
    };
    let during = |at: u64| {
        timeline
            .phases
            .iter()
            .find(|span| span.start_ms <= at && at < span.end_ms)
            .map(|span| span.phase)
    };
    during(at_ms.saturating_sub(1))
        .filter(|phase| is_bake(*phase))
        .or_else(|| during(at_ms).filter(|phase| is_bake(*phase)))
}

/// One metric's datapoint for one period, from the ticks inside it; a team
/// metric's from what the run had recorded of it by then.
fn datapoint(ticks: &[Tick], team: &TeamView, ask: &Ask, serving: Fleets) -> Option<f64> {
    let query = ask.query;
    if query.scope == Scope::Team {
        let (start, end) = ask.window_ms()?;
        let samples = team.samples(&query.identity, start, end)?;
        return query.datapoint(&samples, ask.rule.low_sample_count);
    }
    let metric = query.metric?;
    let (start, _) = ask.window_ms()?;
    let (start, end) = datapoint_window_ms(start as i64, ask.rule.period_ms() as i64, false)?;
    let (start, end) = (u64::try_from(start).ok()?, u64::try_from(end).ok()?);
    // Ticks are in time order: find the period's by bisection, so that long
    // runs with many alarms stay cheap to re-judge.
    let first = ticks.partition_point(|tick| tick.start_ms < start);
    let last = ticks.partition_point(|tick| tick.start_ms < end);
    let mut total: [FleetTick; 2] = Default::default();
    for tick in ticks.get(first..last).unwrap_or_default() {
        total[0].add(&tick.samples[0]);
        total[1].add(&tick.samples[1]);
    }
    let samples = match query.scope {
        Scope::NoMetric | Scope::Unrelated | Scope::Team => None,
        Scope::NewFleet => total[1].samples(metric, serving.green),
        Scope::Endpoint => {
            let [mut both, green] = total;
            both.add(&green);
            both.samples(metric, serving.green.saturating_add(serving.blue))
        }
    }?;
    query.datapoint(&samples, ask.rule.low_sample_count)
}

/// Why a recorded run cannot be judged.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum RejudgeError {
    #[error(
        "the run recorded its metrics every {tick_seconds} s, and the judge's period of {period_seconds} s is not a whole number of them; use a period that is"
    )]
    Period {
        period_seconds: u32,
        tick_seconds: u64,
    },
    #[error("the run recorded no metric periods: the fleets never served while it was watched")]
    NoSamples,
}

/// The record's period, and the judge as [`judge_record`] runs it on the record:
/// `spec`, or, on statistics alone, [`JudgeSpec::looking_every`] the
/// record's period. A SageMaker record's first period is cut short at the
/// update request (CloudWatch's minute began before it): the longest is the
/// record's.
pub fn judge_as_recorded(events: &[Event], spec: &JudgeSpec) -> (u64, JudgeSpec) {
    let periods = || {
        events.iter().filter_map(|event| match &event.kind {
            EventKind::MetricPeriod {
                start_ms,
                end_ms,
                ticks,
                ..
            } => Some((end_ms.saturating_sub(*start_ms), ticks.is_some())),
            _ => None,
        })
    };
    let record_ms = periods()
        .map(|(length, _)| length)
        .max()
        .unwrap_or(0)
        .max(1);
    let statistics_only = !periods().any(|(_, ticks)| ticks);
    let spec = if statistics_only {
        spec.looking_every(u32::try_from(record_ms / 1_000).unwrap_or(u32::MAX))
    } else {
        spec.clone()
    };
    (record_ms, spec)
}

/// Re-judges a recorded run with `spec`: the judge's look after each of its
/// periods, from the ticks the run recorded (`MetricPeriod`'s `ticks`), or,
/// where a run recorded statistics alone (SageMaker), from those, with the
/// judge's period rounded up to the record's as the watcher ran it
/// ([`JudgeSpec::looking_every`]).
pub fn judge_record(events: &[Event], spec: &JudgeSpec) -> Result<Vec<Look>, RejudgeError> {
    let (record_ms, spec) = judge_as_recorded(events, spec);
    let mut watch = Watch::new(&spec);
    let mut looks = Vec::new();
    let mut any = false;
    for event in events {
        let EventKind::MetricPeriod {
            end_ms,
            ticks,
            blue,
            green,
            ..
        } = &event.kind
        else {
            continue;
        };
        if !watch.period_ms.is_multiple_of(record_ms) {
            return Err(RejudgeError::Period {
                period_seconds: spec.period_seconds,
                tick_seconds: record_ms / 1_000,
            });
        }
        any = true;
        // The local engine records every request's latency; a SageMaker run
        // records CloudWatch's statistics, judged from counts and averages.
        let (blue, green) = match ticks {
            Some(ticks) => {
                let [blue, green] = &**ticks;
                (blue.clone(), green.clone())
            }
            None => (blue.as_tick(), green.as_tick()),
        };
        if watch.tick_span(record_ms, *end_ms, &green, &blue) {
            looks.push(Look {
                at_ms: *end_ms,
                judgement: watch.judge().judgement(),
            });
        }
    }
    if !any {
        return Err(RejudgeError::NoSamples);
    }
    Ok(looks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::FleetMetrics;

    fn period(start_ms: u64, green_errors: u64) -> Event {
        let green = FleetTick {
            invocations: 10,
            errors_5xx: green_errors,
            ..FleetTick::default()
        };
        Event {
            run_id: "run-1".into(),
            seq: 1,
            at_ms: start_ms + 60_000,
            wall_ms: 0,
            kind: EventKind::MetricPeriod {
                start_ms,
                end_ms: start_ms + 60_000,
                blue: FleetMetrics::default(),
                green: green.summary(),
                ticks: Some(Box::new([FleetTick::default(), green])),
                team: Vec::new(),
            },
        }
    }

    #[test]
    fn runs_without_samples_or_alarms_are_refused_with_the_reason() {
        let plan = crate::examples::notebook_canary();
        let mut bare = period(0, 0);
        if let EventKind::MetricPeriod { ticks, .. } = &mut bare.kind {
            *ticks = None;
        }
        assert!(!has_samples(std::slice::from_ref(&bare)));
        assert!(has_samples(&[bare.clone(), period(0, 0)]));
        assert_eq!(
            rejudge(&[bare], &plan, &plan.alarms),
            Err(RetroError::NoSamples)
        );
        assert_eq!(
            rejudge(&[period(0, 0)], &plan, &[]),
            Err(RetroError::NoAlarms)
        );
        let mut invalid = plan.alarms[0].clone();
        invalid.threshold = None;
        let error = rejudge(&[period(0, 0)], &plan, &[invalid]).expect_err("invalid");
        assert!(error.to_string().contains("Alarms[0].Threshold"), "{error}");
        // A team metric is not in the record: said, not judged on no data.
        let team = crate::Plan::from_json(crate::examples::TEAM_GUARDRAILS).expect("example");
        match rejudge(&[period(0, 0)], &plan, &team.alarms[4..]) {
            Err(RetroError::TeamMetric { alarm, metric }) => {
                assert_eq!(alarm, "CheckoutConversion-guardrail-demo");
                assert_eq!(metric, "Shop/Checkout ConversionRate");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_team_metric_is_re_judged_from_what_the_run_had_recorded_by_then() {
        use crate::event::TeamTick;
        use crate::plan::{Dimension, MetricIdentity};
        use crate::published::Aggregate;
        let team = crate::Plan::from_json(crate::examples::TEAM_GUARDRAILS).expect("example");
        let plan = crate::examples::notebook_canary();
        let conversion = MetricIdentity::new(
            "Shop/Checkout",
            "ConversionRate",
            vec![Dimension::new("Site", "www")],
        );
        let record = |start_ms: u64, value: f64| {
            let mut data = Aggregate::default();
            data.add_value(value, 1.0);
            TeamTick {
                metric: conversion.clone(),
                start_ms,
                data,
            }
        };
        // Conversion 3.1 % in minute 0, then 1 %; minute 2's datum arrives
        // late, recorded only with minute 3.
        let published = [
            vec![record(0, 3.1)],
            vec![record(60_000, 1.0)],
            vec![],
            vec![record(120_000, 1.0), record(180_000, 1.0)],
        ];
        let events: Vec<Event> = published
            .into_iter()
            .zip(0u64..)
            .map(|(records, minute)| {
                let mut event = period(minute * 60_000, 0);
                if let EventKind::MetricPeriod { team, .. } = &mut event.kind {
                    *team = records;
                }
                event
            })
            .collect();
        // "Average < 2.5, 2 of 2 minutes, missing data not breaching": at
        // 3:00 minute 2 is missing, so only at 4:00 are two minutes low.
        let retro = rejudge(&events, &plan, &team.alarms[4..5]).expect("re-judged");
        assert_eq!(retro.alarms[0].first_alarm_ms, Some(240_000), "{retro:?}");
        // Any statistic and threshold: the minimum is never under 0.5.
        let mut lower = team.alarms[4].clone();
        lower.statistic = Some(crate::plan::Statistic::Minimum);
        lower.threshold = Some(0.5);
        let retro = rejudge(&events, &plan, &[lower]).expect("re-judged");
        assert_eq!(retro.alarms[0].first_alarm_ms, None);
        // A metric the run did not record is refused, not judged on no data.
        let mut other = team.alarms[4].clone();
        other.metric_name = "BasketSize".into();
        match rejudge(&events, &plan, &[other]) {
            Err(RetroError::TeamMetric { metric, .. }) => {
                assert_eq!(metric, "Shop/Checkout BasketSize")
            }
            result => panic!("{result:?}"),
        }
    }

    #[test]
    fn a_math_alarm_is_re_judged_from_the_recorded_ticks() {
        // The new fleet's 5XX rate: 10 of 10 green requests fail each minute.
        let team = crate::Plan::from_json(crate::examples::TEAM_GUARDRAILS).expect("example");
        let mut plan = crate::examples::notebook_canary();
        plan.endpoint_config_name = team.endpoint_config_name.clone();
        let events: Vec<Event> = (0..3).map(|minute| period(minute * 60_000, 10)).collect();
        let retro = rejudge(&events, &plan, &team.alarms[2..3]).expect("re-judged");
        assert_eq!(retro.alarms[0].first_alarm_ms, Some(60_000));
        assert!(
            retro.alarms[0].transitions[0]
                .reason
                .contains("[100! (t=0s)]"),
            "{:?}",
            retro.alarms[0].transitions
        );
    }

    #[test]
    fn an_alarm_outside_the_bakes_rolls_nothing_back() {
        // Errors from the first minute, but the record has no bake at all:
        // the alarm fires, and nothing would have rolled back.
        let plan = crate::examples::notebook_canary();
        let events: Vec<Event> = (0..3).map(|minute| period(minute * 60_000, 10)).collect();
        let retro = rejudge(&events, &plan, &plan.alarms[..1]).expect("re-judged");
        assert_eq!(retro.alarms[0].first_alarm_ms, Some(60_000));
        assert_eq!(retro.rollback_at_ms, None);
        assert!(
            retro.verdict.starts_with("no alarm would have rolled back"),
            "{}",
            retro.verdict
        );
    }
}
