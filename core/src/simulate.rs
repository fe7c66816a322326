//! The what-if simulator: a seeded rollout with a regression on green, period by period.
//!
//! Traffic is simulated per metric tick (the greatest common divisor of the alarm
//! periods), not per request, so one run costs the same at 1 or 10 000 requests per
//! second and 1 000 runs fit in a keystroke. The simulator is a driver of the same
//! [`Session`] the local engine drives: the session decides (controller and alarm
//! monitor), the simulator supplies datapoints and the time instances take to
//! start.
//!
//! Once a rollback is decided alarms no longer matter, so from then on traffic is
//! counted per step of the rollback instead of per tick: a long, batched rolling
//! rollback costs memory per batch, not per tick.

use serde::{Deserialize, Serialize};

use crate::alarm::{AlarmRule, Comparison, Metric, PeriodSamples, Quantiles, Query, Scope};
use crate::assumptions::{datapoint_window_ms, LATENCY_LOG_SIGMA, OVERHEAD_LATENCY_US, WHOLE_BP};
use crate::controller::{Effect, Input, Outcome, RollbackCause};
use crate::event::FleetTick;
use crate::fleets::Fleets;
use crate::judge::{latency_histogram, Watch};
use crate::plan::{FleetBehaviour, Scenario, TeamMetric, TeamMetricKind};
use crate::random::Random;
use crate::rollout::Rollout;
use crate::schedule::{schedule, Schedule};
use crate::session::{Happening, Session};
use crate::timeline::{start_phase, AlarmTransition, PhaseSpan, TrafficChange};

/// The result of one simulated rollout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Simulation {
    pub outcome: Outcome,
    /// When the simulation ended: blue terminated, or rollback complete.
    pub end_ms: u64,
    pub requests_total: u64,
    /// Requests routed to green from the start to the end.
    pub requests_to_green: u64,
    /// Green's requests that failed.
    pub failed_requests_from_green: u64,
    /// Green's failures above what blue's error rate would have produced.
    pub excess_failed_requests: u64,
    /// When the regression first met a request: the later of the onset and green's
    /// first traffic. `None` when it never did.
    pub exposure_start_ms: Option<u64>,
    pub phases: Vec<PhaseSpan>,
    pub traffic: Vec<TrafficChange>,
    /// Per-alarm datapoints and transitions, only when recording.
    pub alarms: Vec<AlarmTrace>,
    /// What the plan's canary judge saw, when it has one. Never skipped when
    /// serialised: the planner's worker sends this in bincode, which cannot
    /// tell a skipped field.
    #[serde(default)]
    pub judge: Option<JudgeTrace>,
}

/// The canary judge's life during a simulation: it looks after each of its
/// periods in which both fleets served.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct JudgeTrace {
    /// When it first failed green (score under the pass score).
    pub failed_at_ms: Option<u64>,
    /// Whether that was during the first bake (the canary's, or the first
    /// linear step's).
    pub failed_early: bool,
    /// (period end, score) for each period judged; only when recording.
    pub scores: Vec<(u64, Option<f64>)>,
    /// The last judgement in full; only when recording.
    pub last: Option<crate::judge::Judgement>,
}

impl Simulation {
    /// Seconds from the update request to the rollback decision.
    pub fn rollback_at_seconds(&self) -> Option<f64> {
        match &self.outcome {
            Outcome::RolledBack { decided_at_ms, .. } => Some(*decided_at_ms as f64 / 1_000.0),
            Outcome::Succeeded { .. } => None,
        }
    }

    /// The rollback came from an alarm (not a timeout or a request).
    pub fn detected(&self) -> bool {
        matches!(
            self.outcome,
            Outcome::RolledBack {
                cause: RollbackCause::Alarm { .. },
                ..
            }
        )
    }

    /// Seconds from the regression's first request to the rollback decision.
    pub fn time_to_rollback_seconds(&self) -> Option<f64> {
        match (&self.outcome, self.exposure_start_ms) {
            (Outcome::RolledBack { decided_at_ms, .. }, Some(start)) => {
                Some(decided_at_ms.saturating_sub(start) as f64 / 1_000.0)
            }
            _ => None,
        }
    }
}

/// An alarm's life during the simulation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlarmTrace {
    pub name: String,
    pub condition: String,
    pub scope: Scope,
    pub comparison: Comparison,
    pub threshold: f64,
    pub period_seconds: u32,
    #[serde(default = "missing")]
    pub treat_missing_data: crate::plan::TreatMissingData,
    /// (period start in seconds, value) for every period from the history onwards.
    pub datapoints: Vec<(i64, Option<f64>)>,
    pub transitions: Vec<AlarmTransition>,
}

/// CloudWatch's default `TreatMissingData`.
fn missing() -> crate::plan::TreatMissingData {
    crate::plan::TreatMissingData::Missing
}

/// Why a simulation or an analysis gave no result.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum SimulationError {
    #[error("{runs} runs is more than the analysis allows; at most {max}")]
    TooManyRuns { runs: u32, max: u32 },
    #[error(
        "the simulation stopped at {at_ms} ms, during {phase}, without an outcome; this is a defect in guardrail"
    )]
    Stalled { at_ms: u64, phase: String },
}

/// Simulates `rollout` under `scenario`, recording traces for display.
pub fn simulate(rollout: &Rollout, scenario: &Scenario) -> Result<Simulation, SimulationError> {
    run(rollout, &schedule(rollout), scenario, scenario.seed, true)
}

/// One run with a given seed. `record` keeps per-alarm traces.
pub fn run(
    rollout: &Rollout,
    schedule: &Schedule,
    scenario: &Scenario,
    seed: u64,
    record: bool,
) -> Result<Simulation, SimulationError> {
    Run::new(rollout, schedule, scenario, seed, record).execute()
}

/// One fleet population within a tick: requests, failures, summed latency.
#[derive(Clone, Copy, Debug, Default)]
struct Population {
    requests: u64,
    errors: u64,
    latency_sum_us: f64,
}

/// Traffic over one stretch of time, per population.
#[derive(Clone, Copy, Debug)]
struct Tick {
    blue: Population,
    green_healthy: Population,
    green_regressed: Population,
    serving: Fleets,
}

/// The blast radius so far.
#[derive(Clone, Copy, Debug, Default)]
struct Totals {
    requests: u64,
    to_green: u64,
    failed_from_green: u64,
    expected_at_blue_rate: f64,
}

struct AlarmRun<'a> {
    rule: &'a AlarmRule,
    /// Each metric's datapoints by period index, from `first_period`.
    first_period: i64,
    datapoints: Vec<Vec<Option<Option<f64>>>>,
    /// For each metric, the scenario's model of it when it is a team metric.
    team: Vec<Option<usize>>,
    transitions: Vec<AlarmTransition>,
}

struct Run<'a> {
    rollout: &'a Rollout,
    schedule: &'a Schedule,
    scenario: &'a Scenario,
    record: bool,
    random: Random,
    /// The run's seed: team metrics draw their noise from it, value by value.
    seed: u64,
    tick_ms: i64,
    history_start_ms: i64,
    /// Ticks from `history_start_ms`, while alarms matter.
    ticks: Vec<Tick>,
    /// Where counted traffic ends: the ticks' end, then the last rollback step.
    counted_to_ms: i64,
    /// Set once a rollback is decided: traffic is counted per step from then on.
    ticks_closed: bool,
    request_carry: f64,
    totals: Totals,
    traffic: Vec<TrafficChange>,
    phases: Vec<PhaseSpan>,
    alarms: Vec<AlarmRun<'a>>,
    /// When the instances launched last are ready, and whether they are green.
    ready: Option<(u64, bool)>,
    judge: Option<JudgeRun>,
}

/// The canary judge as the simulator drives it: both fleets' ticks summed
/// into its periods, with latency histograms drawn from a stream of their
/// own so that the alarms see the same runs with or without a judge.
struct JudgeRun {
    watch: Watch,
    histograms: bool,
    random: Random,
    trace: JudgeTrace,
    /// The phase now, to tell whether a failure is early.
    early: bool,
    /// The scores published, (period end, score): what an alarm on
    /// `CanaryScore` reads, as the local engine publishes them.
    published: Vec<(i64, f64)>,
    /// The alarms' queries that read the score.
    score: crate::plan::MetricIdentity,
}

impl<'a> Run<'a> {
    fn new(
        rollout: &'a Rollout,
        schedule: &'a Schedule,
        scenario: &'a Scenario,
        seed: u64,
        record: bool,
    ) -> Self {
        let tick_ms = i64::from(rollout.metric_tick_seconds()) * 1_000;
        // Endpoint metrics exist before the update, from blue alone; keep as much
        // history as the widest evaluation range needs.
        let history_start_ms = -rollout
            .alarms()
            .iter()
            .map(|alarm| i64::from(alarm.evaluation_range()) * i64::from(alarm.period_seconds))
            .max()
            .unwrap_or(0)
            * 1_000;
        let alarms = rollout
            .alarms()
            .iter()
            .map(|rule| {
                let period_ms = i64::from(rule.period_seconds) * 1_000;
                AlarmRun {
                    rule,
                    first_period: history_start_ms.div_euclid(period_ms),
                    datapoints: vec![Vec::new(); rule.queries().len()],
                    team: rule
                        .queries()
                        .iter()
                        .map(|query| team_model(scenario, query))
                        .collect(),
                    transitions: Vec::new(),
                }
            })
            .collect();
        Self {
            rollout,
            schedule,
            scenario,
            record,
            random: Random::new(seed),
            seed,
            tick_ms,
            history_start_ms,
            ticks: Vec::new(),
            counted_to_ms: history_start_ms,
            ticks_closed: false,
            request_carry: 0.0,
            totals: Totals::default(),
            traffic: vec![TrafficChange {
                at_ms: 0,
                serving: Fleets::blue_only(rollout.instance_count()),
                green_traffic_bp: 0,
            }],
            phases: Vec::new(),
            alarms,
            ready: None,
            judge: rollout.judge().map(|spec| JudgeRun {
                watch: Watch::new(spec),
                histograms: spec
                    .criteria
                    .iter()
                    .any(|criterion| !criterion.signal.is_rate()),
                random: Random::new(seed ^ 0x6A09_E667_F3BC_C908),
                trace: JudgeTrace::default(),
                early: false,
                published: Vec::new(),
                score: crate::judge::score_metric(
                    rollout.endpoint_name(),
                    rollout.endpoint_config_name(),
                ),
            }),
        }
    }

    fn execute(mut self) -> Result<Simulation, SimulationError> {
        let mut session = Session::new(self.rollout, self.schedule.clone());
        let started = session.start(0);
        self.apply(started);
        let mut now: u64 = 0;
        let outcome = loop {
            if let Some(outcome) = session.outcome() {
                break outcome.clone();
            }
            let ready_at = self.ready.map(|(at, _)| at);
            let Some(next) = [session.next_due(), ready_at].into_iter().flatten().min() else {
                // Every launch sets `ready` and every other state has a wake-up,
                // so this cannot happen; say so rather than invent an outcome.
                return Err(SimulationError::Stalled {
                    at_ms: now,
                    phase: session
                        .phase()
                        .map(|phase| phase.label())
                        .unwrap_or_else(|| "no phase".into()),
                });
            };
            now = next;
            self.count_until(now as i64);
            let happened =
                session.handle_due(now, |ask| self.datapoint(ask.alarm, ask.metric, ask.period));
            self.apply(happened);
            if let Some((_, green)) = self.ready.filter(|(at, _)| *at == now) {
                self.ready = None;
                let input = if green {
                    Input::GreenReady
                } else {
                    Input::BlueReady
                };
                let happened = session.handle(now, input);
                self.apply(happened);
            }
            if !self.ticks_closed && !session.watches_alarms() {
                self.close_ticks(now as i64);
            }
        };
        Ok(self.finish(outcome))
    }

    /// Carries out what happened: phases, routing, launches, alarm transitions.
    fn apply(&mut self, happened: Vec<Happening>) {
        for happening in happened {
            match happening {
                Happening::Alarm(judgement) => {
                    if self.record {
                        self.alarms[judgement.index]
                            .transitions
                            .push(judgement.transition);
                    }
                }
                Happening::Effect { at_ms, effect } => self.effect(at_ms, effect),
            }
        }
    }

    fn effect(&mut self, now: u64, effect: Effect) {
        match effect {
            Effect::PhaseStarted { phase, .. } => {
                if let Some(judge) = &mut self.judge {
                    judge.early = matches!(
                        phase,
                        crate::schedule::Phase::CanaryBake
                            | crate::schedule::Phase::LinearStepBake { step: 1, .. }
                    );
                }
                start_phase(&mut self.phases, phase, now)
            }
            Effect::LaunchGreen { .. } | Effect::LaunchBlue { .. } => {
                let green = matches!(effect, Effect::LaunchGreen { .. });
                let at = now + u64::from(self.rollout.provisioning_seconds()) * 1_000;
                self.ready = Some((at, green));
            }
            Effect::Route {
                serving,
                green_traffic_bp,
            } => {
                // Traffic before this moment was routed the old way.
                if self.ticks_closed {
                    self.count_until(now as i64);
                }
                let change = TrafficChange {
                    at_ms: now,
                    serving,
                    green_traffic_bp,
                };
                match self.traffic.last_mut() {
                    Some(last) if last.at_ms == now => *last = change,
                    _ => self.traffic.push(change),
                }
            }
            Effect::TerminateBlue { .. }
            | Effect::TerminateGreen { .. }
            | Effect::RollbackStarted { .. }
            | Effect::Finished { .. } => {}
        }
    }

    /// The value of metric `metric` of alarm `index` over period number
    /// `period`, cached.
    fn datapoint(&mut self, index: usize, metric: usize, period: i64) -> Option<f64> {
        let alarm = &self.alarms[index];
        if period < alarm.first_period {
            return None;
        }
        let slot = usize::try_from(period - alarm.first_period).ok()?;
        if let Some(Some(cached)) = alarm.datapoints.get(metric)?.get(slot) {
            return *cached;
        }
        let rule = alarm.rule;
        let query = rule.queries().get(metric)?;
        let team = alarm.team.get(metric).copied().flatten();
        let period_ms = i64::from(rule.period_seconds) * 1_000;
        let value = self
            .query_samples(query, team, period * period_ms, period_ms)
            .and_then(|samples| query.datapoint(&samples, rule.low_sample_count));
        let cache = &mut self.alarms[index].datapoints[metric];
        if cache.len() <= slot {
            cache.resize(slot + 1, None);
        }
        cache[slot] = Some(value);
        value
    }

    /// The samples one metric of an alarm sees in the period `[start_ms,
    /// start_ms + period_ms)`. SageMaker's metrics and standard-resolution team
    /// metrics are per minute: a shorter period sees a minute's data only when
    /// it starts on the minute (`crate::assumptions::datapoint_window_ms`).
    fn query_samples(
        &mut self,
        query: &Query,
        team: Option<usize>,
        start_ms: i64,
        period_ms: i64,
    ) -> Option<PeriodSamples> {
        match query.scope {
            Scope::Endpoint | Scope::NewFleet => {
                let (start, end) = datapoint_window_ms(start_ms, period_ms, false)?;
                self.samples(query.metric?, query.scope == Scope::Endpoint, start, end)
            }
            Scope::Team if self.reads_score(query) => {
                let (start, end) = datapoint_window_ms(start_ms, period_ms, true)?;
                let mut values: Vec<f64> = self
                    .judge
                    .as_ref()?
                    .published
                    .iter()
                    .filter(|(at, _)| (start..end).contains(at))
                    .map(|(_, score)| *score)
                    .collect();
                if values.is_empty() {
                    return None;
                }
                values.sort_by(f64::total_cmp);
                Some(PeriodSamples {
                    count: values.len() as u64,
                    sum: values.iter().sum(),
                    minimum: values.first().copied(),
                    maximum: values.last().copied(),
                    quantiles: Quantiles::Sorted(values),
                })
            }
            Scope::Team => {
                let model = &self.scenario.team_metrics[team?];
                let (start, end) =
                    datapoint_window_ms(start_ms, period_ms, model.high_resolution())?;
                match model.kind {
                    TeamMetricKind::Level => self.level_samples(team?, start, end),
                    TeamMetricKind::Requests => self.samples(Metric::Invocations, true, start, end),
                    TeamMetricKind::Errors => {
                        self.samples(Metric::Invocation5XXErrors, true, start, end)
                    }
                    TeamMetricKind::Latency => self
                        .samples(Metric::ModelLatency, true, start, end)
                        .map(|samples| samples.scaled(1e-3)),
                }
            }
            Scope::NoMetric | Scope::Unrelated => None,
        }
    }

    /// Whether `query` reads the canary judge's score for this update, which
    /// the plan's judge publishes.
    fn reads_score(&self, query: &Query) -> bool {
        self.judge
            .as_ref()
            .is_some_and(|run| run.score.same_as(&query.identity))
    }

    /// A team's business metric over `[start_ms, end_ms)`: the values it
    /// published in it, each describing the `PublishSeconds` before its stamp
    /// (standard resolution stamps them on the minute).
    fn level_samples(&self, team: usize, start_ms: i64, end_ms: i64) -> Option<PeriodSamples> {
        let model: &TeamMetric = &self.scenario.team_metrics[team];
        let every_ms = model.publish_seconds.unwrap_or(60).max(1) * 1_000;
        let level = model.level.unwrap_or(0.0);
        let green_level = model.green_level.unwrap_or(level);
        let noise = model.noise.unwrap_or(0.0);
        let mut values = Vec::new();
        // Stamps that can land in the window once rounded to the minute.
        let first = (start_ms - 60_000).div_euclid(every_ms);
        let last = end_ms.div_euclid(every_ms);
        for k in first..=last {
            let stamp = k * every_ms;
            let stored = if model.high_resolution() {
                stamp
            } else {
                stamp.div_euclid(60_000) * 60_000
            };
            if stored < start_ms || stored >= end_ms || stamp < self.history_start_ms {
                continue;
            }
            let share = self.regressed_green_share(stamp - every_ms, stamp);
            let mut random = Random::new(
                self.seed
                    ^ (team as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    ^ (k as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F),
            );
            values.push(level + (green_level - level) * share + noise * random.normal());
        }
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let count = values.len() as u64;
        Some(PeriodSamples {
            count,
            sum: values.iter().sum(),
            minimum: values.first().copied(),
            maximum: values.last().copied(),
            quantiles: Quantiles::Sorted(values),
        })
    }

    /// Green's mean share of traffic over `[start_ms, end_ms)`, counting only
    /// the time after the regression's onset: how far the regression moves a
    /// business metric.
    fn regressed_green_share(&self, start_ms: i64, end_ms: i64) -> f64 {
        let onset_ms = libm::round(self.scenario.green.onset_seconds * 1_000.0) as i64;
        let from = start_ms.max(onset_ms);
        if from >= end_ms {
            return 0.0;
        }
        self.green_share(from, end_ms) * (end_ms - from) as f64 / (end_ms - start_ms) as f64
    }

    /// Summarises the samples of SageMaker's `metric` in `[start_ms, end_ms)`,
    /// green's alone or with blue's.
    fn samples(
        &self,
        metric: Metric,
        include_blue: bool,
        start_ms: i64,
        end_ms: i64,
    ) -> Option<PeriodSamples> {
        let first = ((start_ms - self.history_start_ms) / self.tick_ms).max(0) as usize;
        let last = (((end_ms - self.history_start_ms) / self.tick_ms).max(0) as usize)
            .min(self.ticks.len());
        let ticks = self.ticks.get(first..last)?;

        let mut parts: Vec<(Population, &FleetBehaviour)> = Vec::with_capacity(3);
        let mut per_instance_sum = 0.0;
        let blue_behaviour = &self.scenario.blue;
        let green_behaviour = regressed_behaviour(self.scenario);
        let mut blue = Population::default();
        let mut healthy = Population::default();
        let mut regressed = Population::default();
        for tick in ticks {
            if include_blue {
                add(&mut blue, &tick.blue);
            }
            add(&mut healthy, &tick.green_healthy);
            add(&mut regressed, &tick.green_regressed);
            let requests = tick.green_healthy.requests
                + tick.green_regressed.requests
                + if include_blue { tick.blue.requests } else { 0 };
            let instances = tick.serving.green + if include_blue { tick.serving.blue } else { 0 };
            if instances > 0 {
                per_instance_sum += requests as f64 / f64::from(instances);
            }
        }
        parts.push((blue, blue_behaviour));
        parts.push((healthy, blue_behaviour));
        parts.push((regressed, &green_behaviour));
        let count: u64 = parts
            .iter()
            .map(|(population, _)| population.requests)
            .sum();
        if count == 0 {
            return None;
        }
        let errors: u64 = parts.iter().map(|(population, _)| population.errors).sum();
        Some(match metric {
            Metric::Invocations => PeriodSamples::constant(count, 1.0),
            Metric::InvocationsPerInstance => PeriodSamples {
                count,
                sum: per_instance_sum,
                minimum: Some(per_instance_sum / count as f64),
                maximum: Some(per_instance_sum / count as f64),
                quantiles: Quantiles::Constant,
            },
            Metric::Invocation4XXErrors => PeriodSamples::flags(count, 0),
            Metric::Invocation5XXErrors | Metric::InvocationModelErrors => {
                PeriodSamples::flags(count, errors)
            }
            Metric::OverheadLatency => PeriodSamples::constant(count, OVERHEAD_LATENCY_US),
            Metric::ModelLatency => latency_samples(&parts, count),
        })
    }

    /// Simulates traffic up to `until_ms`: whole ticks while alarms matter, one
    /// stretch per call once a rollback is decided.
    fn count_until(&mut self, until_ms: i64) {
        if self.ticks_closed {
            if until_ms > self.counted_to_ms {
                let tick = self.traffic_between(self.counted_to_ms, until_ms);
                self.count(&tick);
                self.counted_to_ms = until_ms;
            }
            return;
        }
        while self.counted_to_ms + self.tick_ms <= until_ms {
            let start = self.counted_to_ms;
            let tick = self.traffic_between(start, start + self.tick_ms);
            if start >= 0 {
                self.count(&tick);
                self.judge_tick(&tick, start + self.tick_ms);
            }
            self.ticks.push(tick);
            self.counted_to_ms = start + self.tick_ms;
        }
    }

    /// Stops keeping ticks: from `now_ms` on, alarms are no longer evaluated.
    fn close_ticks(&mut self, now_ms: i64) {
        self.ticks_closed = true;
        self.count_until(now_ms);
    }

    /// Adds a tick ending at `end_ms` to the judge's period, and judges when
    /// the period ends with both fleets having served in it.
    fn judge_tick(&mut self, tick: &Tick, end_ms: i64) {
        let Some(run) = &mut self.judge else {
            return;
        };
        // Once failed, the judge's verdict stands, published every period:
        // only a recorded run needs its later looks.
        if run.trace.failed_at_ms.is_some() && !self.record {
            if run.watch.period_ended(end_ms as u64) {
                if let Some(score) = run.watch.judge().score() {
                    run.published.push((end_ms, score));
                }
            }
            return;
        }
        // Latencies are drawn only while both fleets serve: the judge looks
        // at nothing else.
        let histograms = run.histograms
            && tick.blue.requests > 0
            && tick.green_healthy.requests + tick.green_regressed.requests > 0;
        let blue = &self.scenario.blue;
        let green = regressed_behaviour(self.scenario);
        let mut green_tick = FleetTick::default();
        let mut blue_tick = FleetTick::default();
        for (to_green, population, behaviour) in [
            (false, &tick.blue, blue),
            (true, &tick.green_healthy, blue),
            (true, &tick.green_regressed, &green),
        ] {
            let mut part = FleetTick {
                invocations: population.requests,
                errors_5xx: population.errors,
                model_errors: population.errors,
                model_latency_sum_us: population.latency_sum_us,
                ..FleetTick::default()
            };
            if histograms {
                let (mu, sigma) = lognormal_parameters(behaviour.latency_ms * 1_000.0);
                part.latency = latency_histogram(&mut run.random, population.requests, mu, sigma);
            }
            if to_green {
                green_tick.add(&part);
            } else {
                blue_tick.add(&part);
            }
        }
        let at = end_ms as u64;
        let looked = run.watch.tick(at, &green_tick, &blue_tick);
        // At each period's end the score is published, looked at again or
        // standing (green alone serves), as the local engine does.
        if run.watch.period_ended(at) {
            if let Some(score) = run.watch.judge().score() {
                run.published.push((end_ms, score));
            }
        }
        if !looked {
            return;
        }
        let judge = run.watch.judge();
        if self.record {
            run.trace.scores.push((at, judge.score()));
        }
        if run.trace.failed_at_ms.is_none() && judge.failed() {
            run.trace.failed_at_ms = Some(at);
            run.trace.failed_early = run.early;
        }
    }

    fn count(&mut self, tick: &Tick) {
        let green = tick.green_healthy.requests + tick.green_regressed.requests;
        self.totals.requests += tick.blue.requests + green;
        self.totals.to_green += green;
        self.totals.failed_from_green += tick.green_healthy.errors + tick.green_regressed.errors;
        self.totals.expected_at_blue_rate += green as f64 * self.scenario.blue.error_rate;
    }

    fn traffic_between(&mut self, start_ms: i64, end_ms: i64) -> Tick {
        let seconds = (end_ms - start_ms) as f64 / 1_000.0;
        let expected = self.scenario.requests_per_second * seconds + self.request_carry;
        let requests = libm::floor(expected) as u64;
        self.request_carry = expected - requests as f64;

        let share = self.green_share(start_ms, end_ms);
        let green = self.random.binomial(requests, share);
        let blue_requests = requests - green;
        let onset_ms = libm::round(self.scenario.green.onset_seconds * 1_000.0) as i64;
        let regressed_fraction = if end_ms <= onset_ms {
            0.0
        } else if start_ms >= onset_ms {
            1.0
        } else {
            (end_ms - onset_ms) as f64 / (end_ms - start_ms) as f64
        };
        let green_regressed = libm::round(green as f64 * regressed_fraction) as u64;
        let green_healthy = green - green_regressed;

        let blue_behaviour = self.scenario.blue.clone();
        let green_behaviour = regressed_behaviour(self.scenario);
        let blue = self.population(blue_requests, &blue_behaviour);
        let healthy = self.population(green_healthy, &blue_behaviour);
        let regressed = self.population(green_regressed, &green_behaviour);
        Tick {
            blue,
            green_healthy: healthy,
            green_regressed: regressed,
            serving: self.serving_at((start_ms + end_ms) / 2),
        }
    }

    fn population(&mut self, requests: u64, behaviour: &FleetBehaviour) -> Population {
        let errors = self.random.binomial(requests, behaviour.error_rate);
        let mean_us = behaviour.latency_ms * 1_000.0;
        let latency_sum_us = if requests == 0 {
            0.0
        } else {
            // The sum of n log-normal latencies: mean n·m, deviation √n·sd.
            let sd = mean_us * libm::sqrt(libm::exp(LATENCY_LOG_SIGMA * LATENCY_LOG_SIGMA) - 1.0);
            let noise = libm::sqrt(requests as f64) * sd * self.random.normal();
            (requests as f64 * mean_us + noise).max(0.0)
        };
        Population {
            requests,
            errors,
            latency_sum_us,
        }
    }

    /// Green's mean share of traffic over `[start_ms, end_ms)`, 0 to 1.
    fn green_share(&self, start_ms: i64, end_ms: i64) -> f64 {
        let mut weighted = 0.0;
        for (index, change) in self.traffic.iter().enumerate() {
            let from = change.at_ms as i64;
            let to = self
                .traffic
                .get(index + 1)
                .map(|next| next.at_ms as i64)
                .unwrap_or(i64::MAX);
            let overlap = (to.min(end_ms) - from.max(start_ms)).max(0);
            weighted += overlap as f64 * f64::from(change.green_traffic_bp);
        }
        weighted / (end_ms - start_ms) as f64 / f64::from(WHOLE_BP)
    }

    fn serving_at(&self, at_ms: i64) -> Fleets {
        self.traffic
            .iter()
            .rev()
            .find(|change| change.at_ms as i64 <= at_ms)
            .map(|change| change.serving)
            .unwrap_or(Fleets::blue_only(self.rollout.instance_count()))
    }

    fn finish(mut self, outcome: Outcome) -> Simulation {
        let end_ms = outcome.completed_at_ms();
        let end = end_ms as i64;
        self.close_ticks(end);
        if let Some(last) = self.phases.last_mut() {
            last.end_ms = end_ms;
        }
        let excess =
            (self.totals.failed_from_green as f64 - self.totals.expected_at_blue_rate).max(0.0);
        let alarms = if self.record {
            (0..self.alarms.len())
                .map(|index| self.trace(index))
                .collect()
        } else {
            Vec::new()
        };
        let exposure_start_ms = exposure_start(&self.traffic, self.scenario, end_ms);
        let judge = self.judge.take().map(|run| JudgeTrace {
            last: self.record.then(|| run.watch.judge().judgement()),
            ..run.trace
        });
        Simulation {
            outcome,
            end_ms,
            requests_total: self.totals.requests,
            requests_to_green: self.totals.to_green,
            failed_requests_from_green: self.totals.failed_from_green,
            excess_failed_requests: libm::round(excess) as u64,
            exposure_start_ms,
            phases: self.phases,
            traffic: self.traffic,
            alarms,
            judge,
        }
    }

    /// Alarm `index`'s datapoints over the periods the ticks cover, and its transitions.
    fn trace(&mut self, index: usize) -> AlarmTrace {
        let rule = self.alarms[index].rule;
        let period_ms = i64::from(rule.period_seconds) * 1_000;
        let first = self.alarms[index].first_period;
        let covered = self.history_start_ms + self.ticks.len() as i64 * self.tick_ms;
        let last = covered.div_euclid(period_ms);
        let values = if last > first {
            rule.values(first..=last - 1, |metric, period| {
                self.datapoint(index, metric, period)
            })
        } else {
            Vec::new()
        };
        let datapoints = (first..last)
            .zip(values)
            .map(|(period, value)| (period * i64::from(rule.period_seconds), value))
            .collect();
        AlarmTrace {
            treat_missing_data: rule.treat_missing_data,
            name: rule.name.clone(),
            condition: rule.condition(),
            scope: rule.scope(),
            comparison: rule.comparison,
            threshold: rule.threshold,
            period_seconds: rule.period_seconds,
            datapoints,
            transitions: std::mem::take(&mut self.alarms[index].transitions),
        }
    }
}

/// ModelLatency's samples over `parts`: a mixture of each population's
/// log-normal latency, weighted by its requests.
fn latency_samples(parts: &[(Population, &FleetBehaviour)], count: u64) -> PeriodSamples {
    let mixture: Vec<(f64, f64, f64)> = parts
        .iter()
        .filter(|(population, _)| population.requests > 0)
        .map(|(population, behaviour)| {
            let (mu, sigma) = lognormal_parameters(behaviour.latency_ms * 1_000.0);
            (population.requests as f64, mu, sigma)
        })
        .collect();
    let sum: f64 = parts
        .iter()
        .map(|(population, _)| population.latency_sum_us)
        .sum();
    PeriodSamples {
        count,
        sum,
        minimum: None,
        maximum: None,
        quantiles: Quantiles::LogNormalMixture(mixture),
    }
}

/// How green behaves once the scenario's regression has started.
fn regressed_behaviour(scenario: &Scenario) -> FleetBehaviour {
    FleetBehaviour {
        error_rate: scenario.green.error_rate,
        latency_ms: scenario.green.latency_ms,
    }
}

/// Which of the scenario's team metrics `query` reads, if it reads one.
fn team_model(scenario: &Scenario, query: &Query) -> Option<usize> {
    if query.scope != Scope::Team {
        return None;
    }
    scenario
        .team_metrics
        .iter()
        .position(|model| model.identity().same_as(&query.identity))
}

fn add(total: &mut Population, part: &Population) {
    total.requests += part.requests;
    total.errors += part.errors;
    total.latency_sum_us += part.latency_sum_us;
}

/// Log-normal (mu, sigma) with the given mean: mean = exp(mu + sigma²/2).
fn lognormal_parameters(mean: f64) -> (f64, f64) {
    let sigma = LATENCY_LOG_SIGMA;
    (libm::log(mean.max(1e-9)) - sigma * sigma / 2.0, sigma)
}

/// The first moment at or after the onset when green had traffic.
fn exposure_start(traffic: &[TrafficChange], scenario: &Scenario, end_ms: u64) -> Option<u64> {
    let onset = libm::round(scenario.green.onset_seconds * 1_000.0).max(0.0) as u64;
    traffic.iter().enumerate().find_map(|(index, change)| {
        let until = traffic
            .get(index + 1)
            .map(|next| next.at_ms)
            .unwrap_or(end_ms);
        let from = change.at_ms.max(onset);
        (change.green_traffic_bp > 0 && from < until).then_some(from)
    })
}

/// Median and 95th percentile of a sample.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    pub median: f64,
    pub p95: f64,
}

impl Spread {
    fn of(mut values: Vec<f64>) -> Option<Spread> {
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        Some(Spread {
            median: crate::alarm::nearest_rank(&values, 0.5),
            p95: crate::alarm::nearest_rank(&values, 0.95),
        })
    }
}

/// How reliably the guardrails catch the scenario's regression, over many seeds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    pub runs: u32,
    /// Runs rolled back by an alarm.
    pub detected: u32,
    pub probability: f64,
    /// Runs rolled back by the execution timeout instead.
    pub timed_out: u32,
    /// Seconds from the regression's first request to the rollback, over detected runs.
    pub time_to_rollback_seconds: Option<Spread>,
    /// Failed green requests per run, over all runs.
    pub bad_requests: Option<Spread>,
    pub requests_to_green: Option<Spread>,
    /// Runs rolled back by an alarm during the canary bake (or the first
    /// linear step's bake): caught while green served a small share.
    #[serde(default)]
    pub detected_early: u32,
    /// The plan's canary judge on the same runs, when it has one: how often
    /// and how soon it failed green, whether or not anything rolled back.
    #[serde(default)]
    pub judge: Option<JudgeDetection>,
}

/// How often the canary judge failed green over seeded runs, and how soon.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JudgeDetection {
    pub detected: u32,
    pub probability: f64,
    /// Failed during the first bake (the canary's, or the first linear step's).
    pub detected_early: u32,
    /// Seconds from the regression's first request to the judge's failure.
    pub time_to_detect_seconds: Option<Spread>,
}

/// The default number of seeded runs for [`detect`].
pub const DEFAULT_RUNS: u32 = 1_000;

/// The most seeded runs one analysis may ask for: each run is a whole
/// simulation, so the cost grows with the count.
pub const MAX_RUNS: u32 = 100_000;

/// The seed of run `index`; run 0 uses the scenario's own seed, so that
/// [`simulate`] shows run 0 of the analysis.
pub fn run_seed(seed: u64, index: u32) -> u64 {
    if index == 0 {
        seed
    } else {
        Random::new(seed ^ u64::from(index).wrapping_mul(0xD1B5_4A32_D192_ED03)).next_u64()
    }
}

/// One rollback alarm's detection on its own.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlarmDetection {
    pub alarm: String,
    pub detection: Detection,
}

/// The detection of each rollback alarm alone, on the same seeded runs:
/// which guardrail catches the scenario's regression, and how soon.
pub fn detect_each(
    rollout: &Rollout,
    scenario: &Scenario,
    runs: u32,
) -> Result<Vec<AlarmDetection>, SimulationError> {
    (0..rollout.alarms().len())
        .filter_map(|index| rollout.with_only_alarm(index))
        .map(|alone| {
            Ok(AlarmDetection {
                alarm: alone.alarms()[0].name.clone(),
                detection: detect(&alone, scenario, runs)?,
            })
        })
        .collect()
}

/// Runs the scenario `runs` times with different seeds and summarises.
pub fn detect(
    rollout: &Rollout,
    scenario: &Scenario,
    runs: u32,
) -> Result<Detection, SimulationError> {
    detect_with(rollout, &schedule(rollout), scenario, runs)
}

fn detect_with(
    rollout: &Rollout,
    schedule: &Schedule,
    scenario: &Scenario,
    runs: u32,
) -> Result<Detection, SimulationError> {
    check_runs(runs)?;
    let mut tally = Tally::new(runs);
    for index in 0..runs {
        tally.add(&run(
            rollout,
            schedule,
            scenario,
            run_seed(scenario.seed, index),
            false,
        )?);
    }
    Ok(tally.detection())
}

fn check_runs(runs: u32) -> Result<(), SimulationError> {
    if runs > MAX_RUNS {
        return Err(SimulationError::TooManyRuns {
            runs,
            max: MAX_RUNS,
        });
    }
    Ok(())
}

/// Seeded runs summed as they come, so an analysis can stop between any two.
#[derive(Clone, Debug, Default)]
struct Tally {
    runs: u32,
    detected: u32,
    detected_early: u32,
    timed_out: u32,
    times: Vec<f64>,
    bad: Vec<f64>,
    to_green: Vec<f64>,
    judged: bool,
    judge_detected: u32,
    judge_early: u32,
    judge_times: Vec<f64>,
}

impl Tally {
    fn new(runs: u32) -> Tally {
        Tally {
            bad: Vec::with_capacity(runs as usize),
            to_green: Vec::with_capacity(runs as usize),
            ..Tally::default()
        }
    }

    fn add(&mut self, simulation: &Simulation) {
        self.runs += 1;
        if simulation.detected() {
            self.detected += 1;
            if let Outcome::RolledBack { phase, .. } = &simulation.outcome {
                if matches!(
                    phase,
                    crate::schedule::Phase::CanaryBake
                        | crate::schedule::Phase::LinearStepBake { step: 1, .. }
                ) {
                    self.detected_early += 1;
                }
            }
            if let Some(seconds) = simulation.time_to_rollback_seconds() {
                self.times.push(seconds);
            }
        } else if matches!(
            simulation.outcome,
            Outcome::RolledBack {
                cause: RollbackCause::Timeout { .. },
                ..
            }
        ) {
            self.timed_out += 1;
        }
        self.bad.push(simulation.failed_requests_from_green as f64);
        self.to_green.push(simulation.requests_to_green as f64);
        if let Some(judge) = &simulation.judge {
            self.judged = true;
            if let Some(at) = judge.failed_at_ms {
                self.judge_detected += 1;
                self.judge_early += u32::from(judge.failed_early);
                let start = simulation.exposure_start_ms.unwrap_or(0);
                self.judge_times
                    .push(at.saturating_sub(start) as f64 / 1_000.0);
            }
        }
    }

    fn detection(self) -> Detection {
        let runs = self.runs;
        Detection {
            runs,
            detected: self.detected,
            probability: if runs == 0 {
                0.0
            } else {
                f64::from(self.detected) / f64::from(runs)
            },
            timed_out: self.timed_out,
            detected_early: self.detected_early,
            time_to_rollback_seconds: Spread::of(self.times),
            bad_requests: Spread::of(self.bad),
            requests_to_green: Spread::of(self.to_green),
            judge: self.judged.then(|| JudgeDetection {
                detected: self.judge_detected,
                probability: f64::from(self.judge_detected) / f64::from(runs.max(1)),
                detected_early: self.judge_early,
                time_to_detect_seconds: Spread::of(self.judge_times),
            }),
        }
    }
}

/// The scenario with green exactly as blue: an A/A test, where every failure
/// of the judge and every alarm rollback is a false alarm.
pub fn a_a(scenario: &Scenario) -> Scenario {
    let mut twin = scenario.clone();
    twin.green.error_rate = twin.blue.error_rate;
    twin.green.latency_ms = twin.blue.latency_ms;
    twin.team_metrics
        .iter_mut()
        .for_each(|metric| metric.green_level = metric.level);
    twin
}

/// Green error rates the detection curve is drawn at.
pub const CURVE_ERROR_RATES: [f64; 12] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0,
];

/// One point of the detection curve.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    pub error_rate: f64,
    pub probability: f64,
    pub median_time_to_rollback_seconds: Option<f64>,
}

/// Detection probability against green's error rate, everything else as in the scenario.
pub fn detection_curve(
    rollout: &Rollout,
    scenario: &Scenario,
    error_rates: &[f64],
    runs: u32,
) -> Result<Vec<CurvePoint>, SimulationError> {
    let schedule = schedule(rollout);
    error_rates
        .iter()
        .map(|&error_rate| {
            let detection = detect_with(
                rollout,
                &schedule,
                &at_error_rate(scenario, error_rate),
                runs,
            )?;
            Ok(CurvePoint::of(error_rate, &detection))
        })
        .collect()
}

fn at_error_rate(scenario: &Scenario, error_rate: f64) -> Scenario {
    let mut scenario = scenario.clone();
    scenario.green.error_rate = error_rate;
    scenario
}

impl CurvePoint {
    fn of(error_rate: f64, detection: &Detection) -> CurvePoint {
        CurvePoint {
            error_rate,
            probability: detection.probability,
            median_time_to_rollback_seconds: detection
                .time_to_rollback_seconds
                .map(|spread| spread.median),
        }
    }
}

/// The what-if's analyses, done a slice at a time: the detection over `runs`
/// seeds; for a plan with a canary judge, each rollback alarm alone on the
/// same seeds (to set beside the judge); the detection curve; and, with a
/// judge, the same `runs` seeds as A/A runs (green exactly as blue: [`a_a`]).
/// [`Analysis::advance`] runs at most a given number of simulations and
/// returns, so a caller can stop between slices (the planner's worker drops
/// an analysis whose plan was edited). The results are exactly those of
/// [`detect`], [`detect_each`] (as [`Analysis`] runs it) and
/// [`detection_curve`], and of [`detect`] on [`a_a`].
#[derive(Debug)]
pub struct Analysis {
    schedule: Schedule,
    stages: Vec<Stage>,
    /// Which stage is filling, and its tally.
    stage: usize,
    tally: Tally,
    next_seed: u32,
    detection: Option<Detection>,
    each: Vec<AlarmDetection>,
    curve: Vec<CurvePoint>,
    a_a: Option<Detection>,
}

/// One stage of an [`Analysis`]: `runs` seeded runs of `scenario` under
/// `rollout`.
#[derive(Debug)]
struct Stage {
    kind: StageKind,
    rollout: Rollout,
    scenario: Scenario,
    runs: u32,
}

#[derive(Clone, Copy, Debug)]
enum StageKind {
    Detection,
    Alone,
    Curve(f64),
    AA,
}

/// What an [`Analysis`] found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Analysed {
    pub detection: Detection,
    /// With a canary judge: each rollback alarm alone, on the same seeds.
    /// An alarm that reads the judge's score runs with the judge; the others
    /// without it (its 10 s periods cost time and change no other alarm),
    /// so their runs draw traffic per minute, not per 10 s.
    pub each: Vec<AlarmDetection>,
    pub curve: Vec<CurvePoint>,
    /// With a canary judge: the same seeds with green exactly as blue, where
    /// every failure of the judge and every alarm rollback is a false alarm.
    pub a_a: Option<Detection>,
}

/// How far an [`Analysis`] has come, in simulations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
}

/// Each rollback alarm alone, as an [`Analysis`] runs it: with the judge
/// only when the alarm reads its score.
pub fn alone(rollout: &Rollout) -> Vec<Rollout> {
    (0..rollout.alarms().len())
        .filter_map(|index| {
            let only = rollout.with_only_alarm(index)?;
            Some(if rollout.reads_judge_score(&only.alarms()[0]) {
                only
            } else {
                only.with_judge(None)
            })
        })
        .collect()
}

impl Analysis {
    pub fn new(
        rollout: &Rollout,
        scenario: &Scenario,
        runs: u32,
        error_rates: &[f64],
        curve_runs: u32,
    ) -> Result<Analysis, SimulationError> {
        check_runs(runs)?;
        check_runs(curve_runs)?;
        let judged = rollout.judge().is_some();
        let stage = |kind, rollout: &Rollout, scenario: Scenario, runs| Stage {
            kind,
            rollout: rollout.clone(),
            scenario,
            runs,
        };
        let mut stages = vec![stage(StageKind::Detection, rollout, scenario.clone(), runs)];
        if judged {
            stages.extend(
                alone(rollout)
                    .iter()
                    .map(|only| stage(StageKind::Alone, only, scenario.clone(), runs)),
            );
        }
        stages.extend(error_rates.iter().map(|&rate| {
            stage(
                StageKind::Curve(rate),
                rollout,
                at_error_rate(scenario, rate),
                curve_runs,
            )
        }));
        if judged {
            stages.push(stage(StageKind::AA, rollout, a_a(scenario), runs));
        }
        Ok(Analysis {
            schedule: schedule(rollout),
            tally: Tally::new(runs),
            stages,
            stage: 0,
            next_seed: 0,
            detection: None,
            each: Vec::new(),
            curve: Vec::with_capacity(error_rates.len()),
            a_a: None,
        })
    }

    /// The detection alone, `runs` seeded runs: what [`detect`] finds, a
    /// slice at a time (Compare's pinned plans, in the planner's worker).
    pub fn detection_only(
        rollout: &Rollout,
        scenario: &Scenario,
        runs: u32,
    ) -> Result<Analysis, SimulationError> {
        check_runs(runs)?;
        Ok(Analysis {
            schedule: schedule(rollout),
            tally: Tally::new(runs),
            stages: vec![Stage {
                kind: StageKind::Detection,
                rollout: rollout.clone(),
                scenario: scenario.clone(),
                runs,
            }],
            stage: 0,
            next_seed: 0,
            detection: None,
            each: Vec::new(),
            curve: Vec::new(),
            a_a: None,
        })
    }

    pub fn progress(&self) -> Progress {
        let before: u64 = self
            .stages
            .iter()
            .take(self.stage)
            .map(|stage| u64::from(stage.runs))
            .sum();
        Progress {
            done: before + u64::from(self.next_seed),
            total: self.stages.iter().map(|stage| u64::from(stage.runs)).sum(),
        }
    }

    pub fn is_done(&self) -> bool {
        self.stage >= self.stages.len()
    }

    /// Runs up to `budget` more simulations.
    pub fn advance(&mut self, budget: u32) -> Result<Progress, SimulationError> {
        let mut left = budget;
        while left > 0 && !self.is_done() {
            let stage = &self.stages[self.stage];
            // Each alarm alone keeps the schedule: alarms do not change it.
            while left > 0 && self.next_seed < stage.runs {
                self.tally.add(&run(
                    &stage.rollout,
                    &self.schedule,
                    &stage.scenario,
                    run_seed(stage.scenario.seed, self.next_seed),
                    false,
                )?);
                self.next_seed += 1;
                left -= 1;
            }
            if self.next_seed == stage.runs {
                let detection = std::mem::take(&mut self.tally).detection();
                match stage.kind {
                    StageKind::Detection => self.detection = Some(detection),
                    StageKind::Alone => self.each.push(AlarmDetection {
                        alarm: stage.rollout.alarms()[0].name.clone(),
                        detection,
                    }),
                    StageKind::Curve(rate) => self.curve.push(CurvePoint::of(rate, &detection)),
                    StageKind::AA => self.a_a = Some(detection),
                }
                self.stage += 1;
                self.next_seed = 0;
                self.tally = Tally::new(self.stages.get(self.stage).map_or(0, |stage| stage.runs));
            }
        }
        Ok(self.progress())
    }

    /// The results, once [`Analysis::is_done`].
    pub fn results(&self) -> Option<Analysed> {
        self.detection
            .clone()
            .filter(|_| self.is_done())
            .map(|detection| Analysed {
                detection,
                each: self.each.clone(),
                curve: self.curve.clone(),
                a_a: self.a_a.clone(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check;
    use crate::examples;
    use crate::plan::{GreenBehaviour, Plan};
    use crate::schedule::Phase;

    fn plan_and_rollout(text: &str) -> (Plan, Rollout) {
        let plan = Plan::from_json(text).expect("parses");
        let rollout = check(&plan).rollout.expect("valid");
        (plan, rollout)
    }

    fn with_new_fleet_alarm(text: &str) -> (Plan, Rollout) {
        let mut value: serde_json::Value = serde_json::from_str(text).expect("json");
        let dims = &mut value["Alarms"][0]["Dimensions"];
        dims.as_array_mut()
            .expect("dimensions")
            .push(serde_json::json!({"Name": "EndpointConfigName", "Value": "incompatible"}));
        value["Alarms"][0]["Threshold"] = serde_json::json!(0.05);
        plan_and_rollout(&value.to_string())
    }

    #[test]
    fn the_notebook_alarm_fires_only_once_green_has_all_traffic() {
        let (plan, rollout) = plan_and_rollout(examples::NOTEBOOK_CANARY);
        let simulation = simulate(&rollout, &plan.scenario_or_default()).expect("simulates");
        match &simulation.outcome {
            Outcome::RolledBack {
                decided_at_ms,
                phase,
                cause: RollbackCause::Alarm { alarm, .. },
                ..
            } => {
                // The final bake starts at 600 s; the first full period of 100 % errors
                // is [600, 660), evaluated at 660 s.
                assert_eq!(*phase, Phase::FinalBake);
                assert_eq!(*decided_at_ms, 660_000);
                assert_eq!(alarm, "TestAlarm-5XXErrors-guardrail-demo");
            }
            other => panic!("unexpected outcome {other:?}"),
        }
        // The canary served about a quarter of 300 s of 5 requests per second.
        assert!(
            simulation.requests_to_green > 300,
            "{}",
            simulation.requests_to_green
        );
        assert_eq!(
            simulation.failed_requests_from_green,
            simulation.requests_to_green
        );
    }

    /// The notebook's canary with the default judge, green `latency_ms`
    /// slower or not at all.
    fn judged_notebook(green_latency_ms: f64) -> (Rollout, Scenario) {
        let mut plan = Plan::from_json(examples::NOTEBOOK_CANARY).expect("parses");
        plan.judge = Some(crate::plan::JudgeSection::default_judge());
        let rollout = check(&plan).rollout.expect("valid");
        let mut scenario = plan.scenario_or_default();
        scenario.blue.error_rate = 0.001;
        scenario.green.error_rate = 0.001;
        scenario.green.latency_ms = green_latency_ms;
        (rollout, scenario)
    }

    #[test]
    fn the_judge_fails_a_slower_canary_within_its_bake_and_leaves_the_alarms_as_they_were() {
        let (rollout, scenario) = judged_notebook(12.0);
        let judged = simulate(&rollout, &scenario).expect("simulates");
        let trace = judged.judge.as_ref().expect("a judge trace");
        let failed = trace.failed_at_ms.expect("the judge failed green");
        // Green is ready at 300 s and bakes until 600 s.
        assert!((300_000..600_000).contains(&failed), "{failed}");
        assert!(trace.failed_early);
        // Every judged period is on the judge's 10 s grid, and the score is
        // under 75 from the failure on.
        assert!(trace.scores.iter().all(|(at, _)| at % 10_000 == 0));
        assert!(trace
            .scores
            .iter()
            .filter(|(at, _)| *at >= failed)
            .all(|(_, score)| score.is_some_and(|score| score < 75.0)));
        let last = trace.last.as_ref().expect("the last judgement");
        assert_eq!(last.metrics[2].class, crate::judge::Class::High);

        // The judge only watches: the notebook's latency alarm still rolls
        // back once green has all traffic, as it does without a judge (whose
        // 10 s period makes the traffic drawn per 10 s, not per minute).
        let plain = simulate(&rollout.with_judge(None), &scenario).expect("simulates");
        let decided = |simulation: &Simulation| match &simulation.outcome {
            Outcome::RolledBack {
                decided_at_ms,
                phase,
                cause: RollbackCause::Alarm { alarm, .. },
                ..
            } => (*decided_at_ms, *phase, alarm.clone()),
            other => panic!("{other:?}"),
        };
        assert_eq!(decided(&plain), decided(&judged));
        assert_eq!(decided(&judged).1, Phase::FinalBake);
    }

    #[test]
    fn an_ordinary_alarm_on_the_judges_score_rolls_back_in_the_canary_bake() {
        let mut value: serde_json::Value =
            serde_json::from_str(examples::NOTEBOOK_CANARY).expect("json");
        value["Judge"] =
            serde_json::to_value(crate::plan::JudgeSection::default_judge()).expect("serialises");
        // A judge no rollback alarm reads rolls nothing back: said at the Judge.
        let (plan, _) = plan_and_rollout(&value.to_string());
        assert!(check(&plan).report.warnings.iter().any(|problem| {
            problem.code == "judge_without_rollback_alarm" && problem.path == "Judge"
        }));
        // What the planner's one click adds beside the default judge.
        let alarm = crate::judge::score_alarm("guardrail-demo", "incompatible", 75.0);
        assert_eq!(
            serde_json::to_value(&alarm).expect("serialises"),
            serde_json::json!({
                "AlarmName": "guardrail-demo-canary-score",
                "Namespace": "Guardrail/CanaryJudge",
                "MetricName": "CanaryScore",
                "Dimensions": [
                    {"Name": "EndpointName", "Value": "guardrail-demo"},
                    {"Name": "EndpointConfigName", "Value": "incompatible"}
                ],
                "Statistic": "Minimum", "Period": 60, "EvaluationPeriods": 1, "Threshold": 75.0,
                "ComparisonOperator": "LessThanThreshold", "TreatMissingData": "notBreaching"
            })
        );
        value["Alarms"] = serde_json::json!([alarm]);
        value["DeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"] =
            serde_json::json!([{"AlarmName": "guardrail-demo-canary-score"}]);
        let (plan, rollout) = plan_and_rollout(&value.to_string());
        // Alone, the alarm on the score keeps the judge that publishes it.
        assert!(alone(&rollout)[0].judge().is_some());
        let checked = check(&plan);
        assert!(
            checked
                .report
                .warnings
                .iter()
                .all(|problem| problem.code != "team_metric_publisher"
                    && problem.code != "canary_score_without_judge"
                    && problem.code != "judge_without_rollback_alarm"),
            "{:?}",
            checked.report.warnings
        );
        let mut scenario = plan.scenario_or_default();
        scenario.green.error_rate = 0.0;
        scenario.green.latency_ms = 12.0;
        let simulation = simulate(&rollout, &scenario).expect("simulates");
        let failed = simulation
            .judge
            .as_ref()
            .and_then(|judge| judge.failed_at_ms)
            .expect("failed");
        match &simulation.outcome {
            Outcome::RolledBack {
                decided_at_ms,
                phase,
                cause: RollbackCause::Alarm { alarm, .. },
                ..
            } => {
                assert_eq!(alarm, "guardrail-demo-canary-score");
                assert_eq!(*phase, Phase::CanaryBake);
                // The minute after the judge failed green is the first whose
                // minimum is under 75.
                assert!(
                    *decided_at_ms > failed && *decided_at_ms <= failed + 120_000,
                    "{decided_at_ms} {failed}"
                );
            }
            other => panic!("{other:?}"),
        }
        // A twin goes through.
        scenario.green.latency_ms = scenario.blue.latency_ms;
        let twin = simulate(&rollout, &scenario).expect("simulates");
        assert!(
            matches!(twin.outcome, Outcome::Succeeded { .. }),
            "{:?}",
            twin.outcome
        );

        // Treating missing data as breaching rolls back before the first
        // score: the lint says so, at the field.
        value["Alarms"][0]["TreatMissingData"] = serde_json::json!("breaching");
        let (plan, rollout) = plan_and_rollout(&value.to_string());
        assert!(check(&plan).report.warnings.iter().any(|problem| {
            problem.code == "canary_score_breaching" && problem.path == "Alarms[0].TreatMissingData"
        }));
        let breaching = simulate(&rollout, &scenario).expect("simulates");
        assert!(
            matches!(breaching.outcome, Outcome::RolledBack { .. }),
            "{:?}",
            breaching.outcome
        );
        value["Alarms"][0]["TreatMissingData"] = serde_json::json!("notBreaching");

        // Without a judge, nothing publishes the score: the lint says so.
        value.as_object_mut().expect("object").remove("Judge");
        let (plan, _) = plan_and_rollout(&value.to_string());
        assert!(check(&plan)
            .report
            .warnings
            .iter()
            .any(|problem| problem.code == "canary_score_without_judge"));
    }

    #[test]
    fn the_judge_rarely_fails_a_twin_over_seeded_runs() {
        let (rollout, scenario) = judged_notebook(4.0);
        let detection = detect(&rollout, &a_a(&scenario), 400).expect("detects");
        let judge = detection.judge.expect("judged");
        // At most 1 % in truth; 8 of 400 would be far outside its interval.
        assert!(judge.detected < 8, "{judge:?}");
        let (slow, scenario) = judged_notebook(6.0);
        let caught = detect(&slow, &scenario, 100)
            .expect("detects")
            .judge
            .expect("judged");
        assert!(caught.detected_early >= 95, "{caught:?}");
    }

    #[test]
    fn a_new_fleet_alarm_rolls_back_during_the_canary_bake() {
        let (plan, rollout) = with_new_fleet_alarm(examples::NOTEBOOK_CANARY);
        let simulation = simulate(&rollout, &plan.scenario_or_default()).expect("simulates");
        match &simulation.outcome {
            Outcome::RolledBack {
                decided_at_ms,
                phase,
                ..
            } => {
                assert_eq!(*phase, Phase::CanaryBake);
                assert_eq!(*decided_at_ms, 360_000);
            }
            other => panic!("unexpected outcome {other:?}"),
        }
        assert_eq!(simulation.time_to_rollback_seconds(), Some(60.0));
    }

    #[test]
    fn a_healthy_green_succeeds() {
        let (plan, rollout) = plan_and_rollout(examples::NOTEBOOK_CANARY);
        let mut scenario = plan.scenario_or_default();
        scenario.green = GreenBehaviour {
            error_rate: 0.0,
            latency_ms: 4.0,
            onset_seconds: 0.0,
        };
        let simulation = simulate(&rollout, &scenario).expect("simulates");
        assert_eq!(
            simulation.outcome,
            Outcome::Succeeded {
                completed_at_ms: 780_000
            }
        );
        assert_eq!(simulation.failed_requests_from_green, 0);
        // 780 s at 5 requests per second.
        assert_eq!(simulation.requests_total, 3_900);
    }

    #[test]
    fn a_slow_green_trips_the_latency_alarm() {
        let (plan, rollout) = plan_and_rollout(examples::NOTEBOOK_CANARY);
        let mut scenario = plan.scenario_or_default();
        scenario.green = GreenBehaviour {
            error_rate: 0.0,
            latency_ms: 60.0,
            onset_seconds: 0.0,
        };
        let simulation = simulate(&rollout, &scenario).expect("simulates");
        // A quarter of requests at 60 ms lifts the endpoint Average to ~18 ms > 10 ms.
        assert!(
            matches!(
                &simulation.outcome,
                Outcome::RolledBack { phase: Phase::CanaryBake, cause: RollbackCause::Alarm { alarm, .. }, .. }
                    if alarm == "TestAlarm-ModelLatency-guardrail-demo"
            ),
            "{:?}",
            simulation.outcome
        );
    }

    #[test]
    fn a_regression_after_the_final_bake_is_never_caught() {
        let (plan, rollout) = with_new_fleet_alarm(examples::NOTEBOOK_CANARY);
        let mut scenario = plan.scenario_or_default();
        scenario.green.onset_seconds = 730.0;
        let simulation = simulate(&rollout, &scenario).expect("simulates");
        assert!(simulation.outcome.succeeded());
        assert!(simulation.failed_requests_from_green > 0);
    }

    #[test]
    fn the_detection_analysis_separates_small_and_large_regressions() {
        let (plan, rollout) = with_new_fleet_alarm(examples::NOTEBOOK_CANARY);
        let scenario = plan.scenario_or_default();
        let curve = detection_curve(&rollout, &scenario, &[0.002, 0.5], 200).expect("curve");
        // Threshold 5 %: a 0.2 % regression is almost never caught, 50 % always.
        assert!(curve[0].probability < 0.02, "{curve:?}");
        assert_eq!(curve[1].probability, 1.0, "{curve:?}");
        let detection = detect(&rollout, &scenario, 100).expect("analysis");
        assert_eq!(detection.detected, 100);
        let spread = detection.time_to_rollback_seconds.expect("detected runs");
        assert_eq!((spread.median, spread.p95), (60.0, 60.0));
    }

    #[test]
    fn an_alarm_with_an_unrelated_dimension_sees_nothing() {
        let mut value: serde_json::Value =
            serde_json::from_str(examples::NOTEBOOK_CANARY).expect("json");
        for alarm in value["Alarms"].as_array_mut().expect("alarms") {
            alarm["Dimensions"][0]["Value"] = serde_json::json!("another-endpoint");
        }
        let (plan, rollout) = plan_and_rollout(&value.to_string());
        let simulation = simulate(&rollout, &plan.scenario_or_default()).expect("simulates");
        assert!(simulation.outcome.succeeded());
        assert!(simulation
            .alarms
            .iter()
            .all(|trace| trace.datapoints.iter().all(|(_, value)| value.is_none())));
    }

    #[test]
    fn an_alarm_on_the_endpoint_name_alone_sees_no_data() {
        let mut value: serde_json::Value =
            serde_json::from_str(examples::NOTEBOOK_CANARY).expect("json");
        for alarm in value["Alarms"].as_array_mut().expect("alarms") {
            alarm["Dimensions"]
                .as_array_mut()
                .expect("dimensions")
                .retain(|dimension| dimension["Name"] == "EndpointName");
        }
        let (plan, rollout) = plan_and_rollout(&value.to_string());
        let simulation = simulate(&rollout, &plan.scenario_or_default()).expect("simulates");
        // Every green request fails, and no alarm sees it.
        assert!(simulation.outcome.succeeded(), "{:?}", simulation.outcome);
        assert_eq!(
            simulation.failed_requests_from_green,
            simulation.requests_to_green
        );
        assert!(simulation
            .alarms
            .iter()
            .all(|trace| trace.datapoints.iter().all(|(_, value)| value.is_none())));
    }

    fn rolling_with_new_fleet_alarm(rollback_batch: Option<i64>) -> (Plan, Rollout) {
        let mut value: serde_json::Value = serde_json::from_str(examples::ROLLING).expect("json");
        value["Alarms"][0]["Dimensions"]
            .as_array_mut()
            .expect("dimensions")
            .push(serde_json::json!({"Name": "EndpointConfigName", "Value": "incompatible"}));
        value["Alarms"][0]["Threshold"] = serde_json::json!(0.05);
        if let Some(batch) = rollback_batch {
            value["DeploymentConfig"]["RollingUpdatePolicy"]["RollbackMaximumBatchSize"] =
                serde_json::json!({"Type": "INSTANCE_COUNT", "Value": batch});
        }
        value["Scenario"]["Green"]["OnsetSeconds"] = serde_json::json!(800);
        plan_and_rollout(&value.to_string())
    }

    #[test]
    fn a_rolling_rollback_relaunches_the_removed_blue_batch_before_traffic_returns() {
        // The regression starts at 800 s, in batch 2's bake (780-960 s), after one
        // blue batch was removed at 480 s: (2 green, 2 blue) serve.
        let (plan, rollout) = rolling_with_new_fleet_alarm(None);
        let simulation = simulate(&rollout, &plan.scenario_or_default()).expect("simulates");
        match simulation.outcome {
            Outcome::RolledBack {
                decided_at_ms,
                completed_at_ms,
                ..
            } => {
                assert_eq!(decided_at_ms, 840_000);
                // One provisioning time (300 s) to bring the missing blue back.
                assert_eq!(completed_at_ms, 840_000 + 300_000);
            }
            other => panic!("{other:?}"),
        }
        let last = simulation.traffic.last().expect("traffic");
        assert_eq!(
            (last.at_ms, last.serving),
            (1_140_000, Fleets::blue_only(3))
        );
        // Green kept its share (50 %) while blue was provisioned.
        let before = &simulation.traffic[simulation.traffic.len() - 2];
        assert_eq!(before.green_traffic_bp, 5_000);
    }

    #[test]
    fn a_long_batched_rollback_costs_memory_per_batch_not_per_tick() {
        let mut value: serde_json::Value = serde_json::from_str(examples::ROLLING).expect("json");
        value["InstanceCount"] = serde_json::json!(1_000);
        value["ProvisioningSeconds"] = serde_json::json!(7_200);
        value["DeploymentConfig"]["RollingUpdatePolicy"]["MaximumBatchSize"] =
            serde_json::json!({"Type": "CAPACITY_PERCENT", "Value": 50});
        value["DeploymentConfig"]["RollingUpdatePolicy"]["RollbackMaximumBatchSize"] =
            serde_json::json!({"Type": "INSTANCE_COUNT", "Value": 1});
        value["DeploymentConfig"]["RollingUpdatePolicy"]["MaximumExecutionTimeoutInSeconds"] =
            serde_json::json!(28_800);
        value["Alarms"][0]["Dimensions"]
            .as_array_mut()
            .expect("dimensions")
            .push(serde_json::json!({"Name": "EndpointConfigName", "Value": "incompatible"}));
        value["Alarms"][0]["Threshold"] = serde_json::json!(0.05);
        value["Alarms"][0]["Period"] = serde_json::json!(10);
        value["Scenario"]["Green"]["OnsetSeconds"] = serde_json::json!(8_000);
        let (plan, rollout) = plan_and_rollout(&value.to_string());
        let simulation = simulate(&rollout, &plan.scenario_or_default()).expect("simulates");
        let Outcome::RolledBack {
            decided_at_ms,
            completed_at_ms,
            ..
        } = simulation.outcome
        else {
            panic!("{:?}", simulation.outcome);
        };
        // 500 blue instances come back one at a time, 2 h each.
        assert_eq!(completed_at_ms - decided_at_ms, 500 * 7_200_000);
        assert_eq!(
            simulation.traffic.last().map(|change| change.serving),
            Some(Fleets::blue_only(1_000))
        );
        // Traffic is counted to the end of the rollback: about 5 requests per second.
        let seconds = completed_at_ms / 1_000;
        assert!(
            simulation.requests_total + 5 >= seconds * 5,
            "{}",
            simulation.requests_total
        );
        // The alarm's trace stops where alarms stopped mattering.
        let last_point = simulation.alarms[0].datapoints.last().expect("points").0;
        assert!(
            last_point * 1_000 < decided_at_ms as i64 + 10_000,
            "{last_point}"
        );
    }

    #[test]
    fn an_analysis_in_slices_equals_the_whole_analyses_whatever_the_slice() {
        let plan = examples::notebook_canary();
        let rollout = check(&plan).rollout.expect("valid");
        let mut scenario = plan.scenario_or_default();
        scenario.green.error_rate = 0.01;
        let rates = [0.001, 0.05, 1.0];
        let detection = detect(&rollout, &scenario, 40).expect("detection");
        let curve = detection_curve(&rollout, &scenario, &rates, 9).expect("curve");
        for slice in [1, 7, 40, 1_000] {
            let mut analysis = Analysis::new(&rollout, &scenario, 40, &rates, 9).expect("new");
            assert_eq!(analysis.progress(), Progress { done: 0, total: 67 });
            assert_eq!(analysis.results(), None);
            let mut last = 0;
            while !analysis.is_done() {
                let progress = analysis.advance(slice).expect("advance");
                assert!(progress.done > last && progress.done - last <= u64::from(slice));
                last = progress.done;
            }
            assert_eq!(last, 67);
            let found = analysis.results().expect("results");
            assert_eq!((&found.detection, &found.curve), (&detection, &curve));
            // No judge: no alarms alone, no A/A runs.
            assert_eq!((found.each.len(), found.a_a), (0, None));
        }
        // The detection alone, as Compare asks for it: the same runs.
        for judged in [
            rollout.clone(),
            rollout.with_judge(Some(crate::judge::JudgeSpec::default_judge())),
        ] {
            let mut only = Analysis::detection_only(&judged, &scenario, 40).expect("new");
            assert_eq!(only.progress().total, 40);
            while !only.is_done() {
                only.advance(7).expect("advance");
            }
            let found = only.results().expect("results");
            assert_eq!(
                found.detection,
                detect(&judged, &scenario, 40).expect("detection")
            );
            assert_eq!(
                (found.each.len(), found.curve.len(), found.a_a),
                (0, 0, None)
            );
        }
        // With a judge: each alarm alone after the detection, and the A/A
        // runs after the curve, on the same seeds as the detection; each
        // equals `detect` of its own.
        let (judged, twin_of) = judged_notebook(12.0);
        let twin = detect(&judged, &a_a(&twin_of), 40).expect("a/a");
        let mut analysis = Analysis::new(&judged, &twin_of, 40, &rates, 9).expect("new");
        // 40 + 2 alarms × 40 + 3 × 9 + 40.
        assert_eq!(analysis.progress().total, 187);
        while !analysis.is_done() {
            analysis.advance(13).expect("advance");
        }
        assert_eq!(analysis.progress().done, 187);
        let found = analysis.results().expect("results");
        assert_eq!(found.a_a.as_ref(), Some(&twin));
        let each = alone(&judged);
        assert_eq!(found.each.len(), 2);
        for (found, only) in found.each.iter().zip(&each) {
            assert_eq!(found.alarm, only.alarms()[0].name);
            assert_eq!(found.detection, detect(only, &twin_of, 40).expect("alone"));
            // Neither of the notebook's alarms reads the score: run without
            // the judge.
            assert!(only.judge().is_none() && found.detection.judge.is_none());
        }
        assert!(found.detection.judge.as_ref().expect("judged").detected > 30);
        assert!(twin.judge.as_ref().expect("judged").detected <= 1);
        assert!(matches!(
            Analysis::new(&rollout, &scenario, MAX_RUNS + 1, &rates, 9),
            Err(SimulationError::TooManyRuns { .. })
        ));
    }
}
