//! The canary judge: green against blue while both serve, period by period,
//! safe to consult after every period.
//!
//! During a canary or linear bake both fleets serve the same traffic mix at
//! the same time, so each period is a simultaneous experiment. The judge keeps,
//! per judged metric, an *e-process*: a non-negative statistic whose expectation
//! never exceeds 1 while green is no worse than allowed, whenever it is read.
//! By Ville's inequality the chance that it *ever* reaches `1/α` is at most
//! `α`, so looking after every period, for as long as the bake lasts, keeps
//! the false-alarm rate at `α` (Ramdas, Grünwald, Vovk and Shafer, "Game-
//! theoretic statistics and safe anytime-valid inference", 2023).
//!
//! - **Rates** (errors over invocations): conditioned on a period's error
//!   count, each error falls on green with a probability fixed by the two
//!   fleets' invocations and the ratio of their rates. The judge multiplies
//!   the likelihood ratios of that binomial against the allowed ratio, mixed
//!   over a grid of worse ratios: exact under the Poisson model, and valid for
//!   binomial counts (the conditional count is then hypergeometric, more
//!   concentrated than the binomial; Hoeffding 1963).
//! - **Latency with histograms** (the local engine's `FleetTick`): each
//!   period's Mann–Whitney statistic with ties, blue's latencies scaled by the
//!   allowed effect, standardised, summed over periods, and judged by the
//!   normal-mixture sequential probability ratio test of Johari, Pekelis and
//!   Walsh ("Always Valid Inference", 2017; Robbins 1970). Valid as each
//!   block's statistic is close to normal: periods are pooled into blocks of
//!   at least [`MIN_RANK_SAMPLES`] requests on each side (at low traffic a
//!   block spans several periods).
//! - **Latency with averages only** (SageMaker's per-period statistics): a
//!   sign test on the periods' ratio of averages, exact for the sign.
//!
//! A metric is judged only once both fleets have its minimum sample, and is
//! `High` or `Low` once its e-process has crossed `m/α` (`m` metrics share
//! `α`, a union bound), for good: the always-valid p-value is `1/max E`.
//! Effects come with confidence *sequences* at the same level, the sets of
//! effects no e-process rejects. The score is Kayenta's: the weighted share
//! of judged metrics that pass, 0 when a critical one fails.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::plan::{JudgeSection, JudgedMetric};
use crate::tick::{FleetTick, LATENCY_BUCKET_GROWTH};

/// What a judged metric measures, in SageMaker's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Signal {
    /// `Invocation5XXErrors` over `Invocations`.
    Invocation5XXErrors,
    /// `Invocation4XXErrors` over `Invocations`.
    Invocation4XXErrors,
    /// `InvocationModelErrors` over `Invocations`.
    InvocationModelErrors,
    /// `ModelLatency`, a distribution.
    ModelLatency,
}

impl Signal {
    pub const ALL: [Signal; 4] = [
        Signal::Invocation5XXErrors,
        Signal::Invocation4XXErrors,
        Signal::InvocationModelErrors,
        Signal::ModelLatency,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Signal::Invocation5XXErrors => "Invocation5XXErrors",
            Signal::Invocation4XXErrors => "Invocation4XXErrors",
            Signal::InvocationModelErrors => "InvocationModelErrors",
            Signal::ModelLatency => "ModelLatency",
        }
    }

    pub fn from_name(name: &str) -> Option<Signal> {
        Signal::ALL.into_iter().find(|signal| signal.name() == name)
    }

    pub fn is_rate(self) -> bool {
        self != Signal::ModelLatency
    }

    /// The errors this rate counts in one fleet's tick.
    fn errors(self, tick: &FleetTick) -> u64 {
        match self {
            Signal::Invocation5XXErrors => tick.errors_5xx,
            Signal::Invocation4XXErrors => tick.errors_4xx,
            Signal::InvocationModelErrors => tick.model_errors,
            Signal::ModelLatency => 0,
        }
    }
}

/// Which change of green against blue is bad.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Direction {
    Increase,
    Decrease,
    Either,
}

impl Direction {
    pub const ALL: [Direction; 3] = [Direction::Increase, Direction::Decrease, Direction::Either];

    pub fn name(self) -> &'static str {
        match self {
            Direction::Increase => "Increase",
            Direction::Decrease => "Decrease",
            Direction::Either => "Either",
        }
    }

    pub fn from_name(name: &str) -> Option<Direction> {
        Direction::ALL
            .into_iter()
            .find(|direction| direction.name() == name)
    }

    fn up(self) -> bool {
        self != Direction::Decrease
    }

    fn down(self) -> bool {
        self != Direction::Increase
    }
}

/// One judged metric, validated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Criterion {
    pub signal: Signal,
    pub direction: Direction,
    /// The relative change of green against blue that is allowed: 0.1 lets
    /// green be 10 % higher (or lower, by direction). Under 1.
    pub allowed_effect: f64,
    /// Requests each fleet must have served before the metric is judged.
    pub minimum_samples: u64,
    /// A critical metric that fails makes the score 0.
    pub critical: bool,
    pub weight: f64,
}

/// A judge, validated: its metrics, the false-alarm rate they share, and the
/// score's thresholds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JudgeSpec {
    pub criteria: Vec<Criterion>,
    /// The chance, at most, that a green no worse than allowed ever fails
    /// while the judge watches (`1 - confidence`).
    pub false_alarm_rate: f64,
    /// Scores at or above pass; under marginal they fail.
    pub pass_score: f64,
    pub marginal_score: f64,
    /// How often the judge looks, in seconds.
    pub period_seconds: u32,
}

impl JudgeSpec {
    /// The judge a blue/green update gets when it names none: 5XX and model
    /// errors may not rise at all (5XX critical), latency may grow by 10 %,
    /// each after 50 requests per fleet; 1 % false alarms; pass at 75,
    /// marginal at 50; every 10 s.
    pub fn default_judge() -> JudgeSpec {
        let rate = |signal, critical| Criterion {
            signal,
            direction: Direction::Increase,
            allowed_effect: 0.0,
            minimum_samples: 50,
            critical,
            weight: 1.0,
        };
        JudgeSpec {
            criteria: vec![
                rate(Signal::Invocation5XXErrors, true),
                rate(Signal::InvocationModelErrors, false),
                Criterion {
                    signal: Signal::ModelLatency,
                    direction: Direction::Increase,
                    allowed_effect: 0.1,
                    minimum_samples: 50,
                    critical: false,
                    weight: 1.0,
                },
            ],
            false_alarm_rate: 0.01,
            pass_score: 75.0,
            marginal_score: 50.0,
            period_seconds: 10,
        }
    }

    /// The judge as it runs on a record of `record_seconds` periods of
    /// statistics alone (SageMaker's `GetMetricData`): its period rounded up
    /// to a whole number of them, so a judge of 10 s looks every minute.
    pub fn looking_every(&self, record_seconds: u32) -> JudgeSpec {
        let record = record_seconds.max(1);
        JudgeSpec {
            period_seconds: self
                .period_seconds
                .max(1)
                .div_ceil(record)
                .saturating_mul(record),
            ..self.clone()
        }
    }

    /// Each metric's share of the false-alarm rate.
    fn metric_alpha(&self) -> f64 {
        self.false_alarm_rate / self.criteria.len().max(1) as f64
    }
}

/// A metric's class, as Kayenta names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Class {
    Pass,
    High,
    Low,
    NoData,
}

impl Class {
    pub fn name(self) -> &'static str {
        match self {
            Class::Pass => "Pass",
            Class::High => "High",
            Class::Low => "Low",
            Class::NoData => "NoData",
        }
    }
}

/// How a metric's evidence was weighed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Method {
    /// Errors' split between the fleets, given their invocations.
    ConditionalRate,
    /// Per-period Mann–Whitney on latency histograms, normal-mixture SPRT.
    RankSum,
    /// Per-period sign of the ratio of average latencies.
    SignOfAverages,
}

/// The evidence behind a metric's class.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub method: Method,
    pub green_samples: u64,
    pub blue_samples: u64,
    /// Green's and blue's rate (0 to 1), or median latency in microseconds.
    pub green: Option<f64>,
    pub blue: Option<f64>,
    /// Green's relative change against blue (0.5 is 50 % higher).
    pub effect: Option<f64>,
    /// The confidence sequence's bounds on `effect`, at the judge's
    /// confidence; `None` where unbounded (or before any data).
    pub effect_low: Option<f64>,
    pub effect_high: Option<f64>,
    /// The e-value now, and the always-valid p-value (`1 / max E`, at most 1).
    pub e_value: f64,
    pub p_value: f64,
    /// The e-value at which the metric fails.
    pub e_threshold: f64,
}

/// One metric's verdict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricVerdict {
    pub signal: Signal,
    pub class: Class,
    pub critical: bool,
    pub evidence: Evidence,
}

/// A metric's evidence in words, as the review summary and the planner
/// show it: rates in percent, latency medians in ms, the effect signed with
/// its confidence sequence, the always-valid p-value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvidenceText {
    pub green: String,
    pub blue: String,
    pub effect: String,
    pub p_value: String,
}

impl MetricVerdict {
    pub fn evidence_text(&self) -> EvidenceText {
        use crate::alarm::trim_float;
        let evidence = &self.evidence;
        let value = |value: Option<f64>| match (value, self.signal) {
            (None, _) => "–".to_string(),
            (Some(value), Signal::ModelLatency) => {
                format!("{} ms", trim_float(libm::round(value / 10.0) / 100.0))
            }
            (Some(value), _) => format!("{} %", trim_float(libm::round(value * 10_000.0) / 100.0)),
        };
        let signed = |change: f64| {
            let value = libm::round(change * 100.0);
            if value >= 0.0 {
                format!("+{} %", trim_float(value))
            } else {
                format!("{} %", trim_float(value))
            }
        };
        EvidenceText {
            green: value(evidence.green),
            blue: value(evidence.blue),
            effect: match evidence.effect {
                None => "–".to_string(),
                Some(effect) => format!(
                    "{} ({} to {})",
                    signed(effect),
                    evidence.effect_low.map_or("unbounded".into(), signed),
                    evidence.effect_high.map_or("unbounded".into(), signed)
                ),
            },
            p_value: if evidence.p_value < 0.0001 {
                "< 0.0001".to_string()
            } else {
                trim_float(libm::round(evidence.p_value * 10_000.0) / 10_000.0)
            },
        }
    }
}

/// The score's reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Pass,
    Marginal,
    Fail,
}

/// The judge's view after a period.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Judgement {
    /// Periods observed.
    pub periods: u32,
    /// 0 to 100; `None` before any metric is judged.
    pub score: Option<f64>,
    pub outcome: Option<Outcome>,
    /// Scores under this fail green: what a `CanaryScore` alarm's threshold is.
    pub pass_score: f64,
    pub metrics: Vec<MetricVerdict>,
}

/// The rank test pools periods until each side has this many requests:
/// below it a block's statistic is too far from normal. Blocks end on
/// counts alone, so where they end says nothing about the latencies.
pub const MIN_RANK_SAMPLES: u64 = 10;

/// Rate ratios, over the allowed one, that the rate test's alternative mixes
/// with equal weight.
const RATE_GRID: [f64; 8] = [1.5, 2.0, 3.0, 4.0, 6.0, 10.0, 20.0, 100.0];

/// The share of periods green's average wins that the sign test's
/// alternative mixes with equal weight.
const SIGN_GRID: [f64; 5] = [0.6, 0.7, 0.8, 0.9, 0.97];

/// The normal mixture's spread (τ) over per-period standardised effects.
const RANK_MIXTURE_SD: f64 = 2.0;

/// How far latency buckets may be shifted when the judge searches effects:
/// 1.02^±250, a factor of 140 either way.
const MAX_SHIFT: i32 = 250;

/// Per-metric state.
#[derive(Clone, Debug)]
struct Tracked {
    criterion: Criterion,
    green_samples: u64,
    blue_samples: u64,
    test: Test,
    /// The e-processes at the allowed effect, kept up to date period by
    /// period (the confidence sequences recompute from the periods).
    running: Running,
    /// The largest e-value yet, ln.
    max_log_e: f64,
    /// Set for good once the e-process crosses: High or Low.
    crossed: Option<Class>,
}

/// Each side's running log likelihood ratios (one per alternative of a
/// grid), or its running sum of standardised rank statistics.
#[derive(Clone, Debug, Default)]
struct Running {
    up: Vec<f64>,
    down: Vec<f64>,
    up_sum: f64,
    down_sum: f64,
    up_count: u32,
    down_count: u32,
}

#[derive(Clone, Debug)]
enum Test {
    Rate(Vec<RatePeriod>),
    Latency(LatencyTest),
}

#[derive(Clone, Copy, Debug)]
struct RatePeriod {
    green_errors: u64,
    blue_errors: u64,
    green_trials: u64,
    blue_trials: u64,
}

#[derive(Clone, Debug)]
enum LatencyTest {
    /// Nothing seen yet: the first period with data picks the method.
    Undecided,
    /// Closed blocks, and the one being filled.
    Ranks(Vec<RankPeriod>, Box<(FleetTick, FleetTick)>),
    /// Per period, ln(green's average / blue's average).
    Averages(Vec<f64>),
}

#[derive(Clone, Debug)]
struct RankPeriod {
    green: Vec<(i32, u64)>,
    blue: Vec<(i32, u64)>,
    green_count: u64,
    blue_count: u64,
}

/// The canary judge over one bake.
#[derive(Clone, Debug)]
pub struct Judge {
    spec: JudgeSpec,
    tracked: Vec<Tracked>,
    periods: u32,
}

impl Judge {
    pub fn new(spec: &JudgeSpec) -> Judge {
        Judge {
            spec: spec.clone(),
            tracked: spec
                .criteria
                .iter()
                .map(|criterion| Tracked {
                    criterion: criterion.clone(),
                    green_samples: 0,
                    blue_samples: 0,
                    test: if criterion.signal.is_rate() {
                        Test::Rate(Vec::new())
                    } else {
                        Test::Latency(LatencyTest::Undecided)
                    },
                    running: Running::default(),
                    max_log_e: 0.0,
                    crossed: None,
                })
                .collect(),
            periods: 0,
        }
    }

    pub fn spec(&self) -> &JudgeSpec {
        &self.spec
    }

    /// Takes in one period of both fleets, then judges.
    pub fn observe(&mut self, green: &FleetTick, blue: &FleetTick) {
        self.periods = self.periods.saturating_add(1);
        let threshold = -libm::log(self.spec.metric_alpha());
        for tracked in &mut self.tracked {
            tracked.observe(green, blue);
            let (up, down) = tracked.running_log_e();
            let log_e = tracked.combined(up, down);
            if log_e > tracked.max_log_e {
                tracked.max_log_e = log_e;
            }
            let judged = tracked.green_samples >= tracked.criterion.minimum_samples
                && tracked.blue_samples >= tracked.criterion.minimum_samples;
            if judged && tracked.crossed.is_none() && log_e >= threshold {
                tracked.crossed = Some(if up >= down { Class::High } else { Class::Low });
            }
        }
    }

    fn class(&self, tracked: &Tracked) -> Class {
        if let Some(crossed) = tracked.crossed {
            return crossed;
        }
        let minimum = tracked.criterion.minimum_samples;
        if tracked.green_samples < minimum.max(1) || tracked.blue_samples < minimum.max(1) {
            Class::NoData
        } else {
            Class::Pass
        }
    }

    /// The score now, 0 to 100, and whether it fails: cheap, for every period.
    pub fn score(&self) -> Option<f64> {
        let mut judged = 0.0;
        let mut passed = 0.0;
        for tracked in &self.tracked {
            match self.class(tracked) {
                Class::NoData => {}
                Class::Pass => {
                    judged += tracked.criterion.weight;
                    passed += tracked.criterion.weight;
                }
                Class::High | Class::Low => {
                    if tracked.criterion.critical {
                        return Some(0.0);
                    }
                    judged += tracked.criterion.weight;
                }
            }
        }
        (judged > 0.0).then(|| 100.0 * passed / judged)
    }

    pub fn outcome(&self) -> Option<Outcome> {
        self.score().map(|score| self.spec.outcome_of(score))
    }

    /// Whether the judge has failed the green: the score under the pass
    /// threshold.
    pub fn failed(&self) -> bool {
        self.score()
            .is_some_and(|score| score < self.spec.pass_score)
    }

    /// The full judgement: classes and evidence with confidence sequences.
    pub fn judgement(&self) -> Judgement {
        let alpha = self.spec.metric_alpha();
        let score = self.score();
        Judgement {
            periods: self.periods,
            score,
            outcome: score.map(|score| self.spec.outcome_of(score)),
            pass_score: self.spec.pass_score,
            metrics: self
                .tracked
                .iter()
                .map(|tracked| MetricVerdict {
                    signal: tracked.criterion.signal,
                    class: self.class(tracked),
                    critical: tracked.criterion.critical,
                    evidence: tracked.evidence(alpha),
                })
                .collect(),
        }
    }
}

impl Judgement {
    /// One line: "canary judge: score 67 (marginal), under 75: fails green:
    /// ModelLatency High, +198 % (+166 to +238 %)".
    pub fn describe(&self) -> String {
        let score = match (self.score, self.outcome) {
            (Some(score), Some(Outcome::Pass)) => format!("score {}, passes", libm::round(score)),
            (Some(score), Some(outcome)) => format!(
                "score {} ({}), under {}: fails green",
                libm::round(score),
                outcome.name(),
                libm::round(self.pass_score)
            ),
            _ => "no score yet (too few requests)".to_string(),
        };
        let failing: Vec<String> = self
            .metrics
            .iter()
            .filter(|metric| matches!(metric.class, Class::High | Class::Low))
            .map(|metric| {
                let mut text = format!("{} {}", metric.signal.name(), metric.class.name());
                if let Some(effect) = metric.evidence.effect {
                    text.push_str(&format!(", {}", percent(effect)));
                    if let (Some(low), Some(high)) =
                        (metric.evidence.effect_low, metric.evidence.effect_high)
                    {
                        text.push_str(&format!(" ({} to {})", percent(low), percent(high)));
                    }
                }
                text
            })
            .collect();
        if failing.is_empty() {
            format!("canary judge: {score}")
        } else {
            format!("canary judge: {score}: {}", failing.join("; "))
        }
    }
}

/// A relative change as a signed percentage: "+198 %".
fn percent(change: f64) -> String {
    let value = libm::round(change * 100.0);
    if value >= 0.0 {
        format!("+{value} %")
    } else {
        format!("{value} %")
    }
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Marginal => "marginal",
            Outcome::Fail => "fail",
        }
    }
}

impl JudgeSpec {
    pub fn outcome_of(&self, score: f64) -> Outcome {
        if score >= self.pass_score {
            Outcome::Pass
        } else if score >= self.marginal_score {
            Outcome::Marginal
        } else {
            Outcome::Fail
        }
    }
}

/// Pools `green`'s and `blue`'s latency histograms into the `pending`
/// block; once each side has `MIN_RANK_SAMPLES`, closes it into `periods` and
/// adds its rank statistic at the allowed `(up, down)` ratios to `running`.
fn add_rank_block(
    periods: &mut Vec<RankPeriod>,
    pending: &mut (FleetTick, FleetTick),
    running: &mut Running,
    (green, blue): (&FleetTick, &FleetTick),
    (up_null, down_null): (f64, f64),
) {
    let (pending_green, pending_blue) = pending;
    for (bucket, count) in &green.latency {
        let entry = pending_green.latency.entry(*bucket).or_default();
        *entry = entry.saturating_add(*count);
    }
    for (bucket, count) in &blue.latency {
        let entry = pending_blue.latency.entry(*bucket).or_default();
        *entry = entry.saturating_add(*count);
    }
    let green_count: u64 = pending_green.latency.values().sum();
    let blue_count: u64 = pending_blue.latency.values().sum();
    if green_count < MIN_RANK_SAMPLES || blue_count < MIN_RANK_SAMPLES {
        return;
    }
    let (green, blue) = std::mem::take(pending);
    let period = RankPeriod {
        green: green.latency.into_iter().collect(),
        blue: blue.latency.into_iter().collect(),
        green_count,
        blue_count,
    };
    if let Some(z) = rank_z(&period, ratio_to_shift(up_null)) {
        running.up_sum += z;
        running.up_count += 1;
    }
    if let Some(z) = rank_z(&period, ratio_to_shift(down_null)) {
        running.down_sum -= z;
        running.down_count += 1;
    }
    periods.push(period);
}

impl Tracked {
    fn observe(&mut self, green: &FleetTick, blue: &FleetTick) {
        let signal = self.criterion.signal;
        let (up_null, down_null) = self.allowed_ratios();
        let running = &mut self.running;
        match &mut self.test {
            Test::Rate(periods) => {
                self.green_samples = self.green_samples.saturating_add(green.invocations);
                self.blue_samples = self.blue_samples.saturating_add(blue.invocations);
                if green.invocations > 0 && blue.invocations > 0 {
                    let period = RatePeriod {
                        green_errors: signal.errors(green).min(green.invocations),
                        blue_errors: signal.errors(blue).min(blue.invocations),
                        green_trials: green.invocations,
                        blue_trials: blue.invocations,
                    };
                    running.up.resize(RATE_GRID.len(), 0.0);
                    running.down.resize(RATE_GRID.len(), 0.0);
                    add_rate_period(&mut running.up, &period, up_null, true);
                    add_rate_period(&mut running.down, &period, down_null, false);
                    periods.push(period);
                }
            }
            Test::Latency(test) => {
                let green_count: u64 = green.latency.values().sum();
                let blue_count: u64 = blue.latency.values().sum();
                if matches!(test, LatencyTest::Undecided) {
                    if green_count > 0 && blue_count > 0 {
                        *test = LatencyTest::Ranks(Vec::new(), Box::default());
                    } else if green.invocations > 0 && blue.invocations > 0 {
                        *test = LatencyTest::Averages(Vec::new());
                    }
                }
                match test {
                    LatencyTest::Ranks(periods, pending) => {
                        self.green_samples = self.green_samples.saturating_add(green_count);
                        self.blue_samples = self.blue_samples.saturating_add(blue_count);
                        add_rank_block(
                            periods,
                            pending,
                            running,
                            (green, blue),
                            (up_null, down_null),
                        );
                    }
                    LatencyTest::Averages(periods) => {
                        self.green_samples = self.green_samples.saturating_add(green.invocations);
                        self.blue_samples = self.blue_samples.saturating_add(blue.invocations);
                        let average = |tick: &FleetTick| {
                            (tick.invocations > 0 && tick.model_latency_sum_us > 0.0)
                                .then(|| tick.model_latency_sum_us / tick.invocations as f64)
                        };
                        if let (Some(g), Some(b)) = (average(green), average(blue)) {
                            let difference = libm::log(g) - libm::log(b);
                            running.up.resize(SIGN_GRID.len(), 0.0);
                            running.down.resize(SIGN_GRID.len(), 0.0);
                            add_sign_period(&mut running.up, difference, libm::log(up_null), true);
                            add_sign_period(
                                &mut running.down,
                                difference,
                                libm::log(down_null),
                                false,
                            );
                            periods.push(difference);
                        }
                    }
                    LatencyTest::Undecided => {}
                }
            }
        }
    }

    /// ln E of the up and down tests at the allowed effect, from the running
    /// state.
    fn running_log_e(&self) -> (f64, f64) {
        let direction = self.criterion.direction;
        let running = &self.running;
        let grid = |logs: &[f64]| {
            if logs.is_empty() {
                0.0
            } else {
                log_sum_exp(logs) - libm::log(logs.len() as f64)
            }
        };
        let normal = |sum: f64, count: u32| {
            if count == 0 {
                0.0
            } else {
                normal_mixture_log_e(sum, f64::from(count))
            }
        };
        let (up, down) = match &self.test {
            Test::Latency(LatencyTest::Ranks(..)) => (
                normal(running.up_sum, running.up_count),
                normal(running.down_sum, running.down_count),
            ),
            _ => (grid(&running.up), grid(&running.down)),
        };
        (
            if direction.up() {
                up
            } else {
                f64::NEG_INFINITY
            },
            if direction.down() {
                down
            } else {
                f64::NEG_INFINITY
            },
        )
    }

    /// The null's ratio (rates) or log-shift (latency) on each side for the
    /// allowed effect.
    fn allowed_ratios(&self) -> (f64, f64) {
        let effect = self.criterion.allowed_effect.clamp(0.0, 0.99);
        (1.0 + effect, 1.0 - effect)
    }

    /// ln E of the up and down tests. `at` replaces the allowed ratios by one
    /// point null (for confidence sequences).
    fn log_e_sides(&self, at: Option<f64>) -> (f64, f64) {
        let (up_null, down_null) = at.map_or_else(|| self.allowed_ratios(), |r| (r, r));
        let direction = self.criterion.direction;
        let want_up = at.is_some() || direction.up();
        let want_down = at.is_some() || direction.down();
        let side = |wanted: bool, compute: &dyn Fn() -> f64| {
            if wanted {
                compute()
            } else {
                f64::NEG_INFINITY
            }
        };
        match &self.test {
            Test::Rate(periods) => (
                side(want_up, &|| rate_log_e(periods, up_null, true)),
                side(want_down, &|| rate_log_e(periods, down_null, false)),
            ),
            Test::Latency(LatencyTest::Ranks(periods, _)) => (
                side(want_up, &|| {
                    rank_log_e(periods, ratio_to_shift(up_null), true)
                }),
                side(want_down, &|| {
                    rank_log_e(periods, ratio_to_shift(down_null), false)
                }),
            ),
            Test::Latency(LatencyTest::Averages(periods)) => (
                side(want_up, &|| sign_log_e(periods, libm::log(up_null), true)),
                side(want_down, &|| {
                    sign_log_e(periods, libm::log(down_null), false)
                }),
            ),
            Test::Latency(LatencyTest::Undecided) => {
                (side(want_up, &|| 0.0), side(want_down, &|| 0.0))
            }
        }
    }

    /// ln E of the metric's test: one side, or the mean of both.
    fn combined(&self, up: f64, down: f64) -> f64 {
        match self.criterion.direction {
            Direction::Increase => up,
            Direction::Decrease => down,
            Direction::Either => log_mean(up, down),
        }
    }

    fn method(&self) -> Method {
        match &self.test {
            Test::Rate(_) => Method::ConditionalRate,
            Test::Latency(LatencyTest::Averages(_)) => Method::SignOfAverages,
            Test::Latency(_) => Method::RankSum,
        }
    }

    fn evidence(&self, alpha: f64) -> Evidence {
        let (up, down) = self.running_log_e();
        let log_e = self.combined(up, down);
        let (green, blue, effect) = self.estimates();
        let threshold = -libm::log(alpha);
        // The confidence sequence: the ratios no two-sided e-process rejects.
        let rejects = |ratio: f64| {
            let (up, down) = self.log_e_sides(Some(ratio));
            log_mean(up, down) >= threshold
        };
        let (low, high) = match effect {
            Some(effect) if self.has_data() => {
                let centre = libm::log(1.0 + effect);
                (
                    boundary(&rejects, centre, -1.0),
                    boundary(&rejects, centre, 1.0),
                )
            }
            _ => (None, None),
        };
        Evidence {
            method: self.method(),
            green_samples: self.green_samples,
            blue_samples: self.blue_samples,
            green,
            blue,
            effect,
            effect_low: low.map(|ratio| ratio - 1.0),
            effect_high: high.map(|ratio| ratio - 1.0),
            e_value: finite_exp(log_e),
            p_value: finite_exp(-self.max_log_e).min(1.0),
            e_threshold: 1.0 / alpha,
        }
    }

    fn has_data(&self) -> bool {
        match &self.test {
            Test::Rate(periods) => !periods.is_empty(),
            Test::Latency(LatencyTest::Ranks(periods, _)) => !periods.is_empty(),
            Test::Latency(LatencyTest::Averages(periods)) => !periods.is_empty(),
            Test::Latency(LatencyTest::Undecided) => false,
        }
    }

    /// Green's and blue's value and the relative effect's point estimate.
    fn estimates(&self) -> (Option<f64>, Option<f64>, Option<f64>) {
        match &self.test {
            Test::Rate(periods) => {
                let sum = |pick: fn(&RatePeriod) -> u64| -> u64 {
                    periods.iter().map(pick).fold(0, u64::saturating_add)
                };
                let (x, y) = (sum(|p| p.green_errors), sum(|p| p.blue_errors));
                let (n, m) = (sum(|p| p.green_trials), sum(|p| p.blue_trials));
                if n == 0 || m == 0 {
                    return (None, None, None);
                }
                let green = x as f64 / n as f64;
                let blue = y as f64 / m as f64;
                if x == 0 && y == 0 {
                    return (Some(green), Some(blue), None);
                }
                // Half an error each side keeps the ratio finite.
                let ratio = ((x as f64 + 0.5) / n as f64) / ((y as f64 + 0.5) / m as f64);
                (Some(green), Some(blue), Some(ratio - 1.0))
            }
            Test::Latency(LatencyTest::Ranks(periods, _)) => {
                let mut green = BTreeMap::new();
                let mut blue = BTreeMap::new();
                for period in periods {
                    for (bucket, count) in &period.green {
                        *green.entry(*bucket).or_insert(0u64) += count;
                    }
                    for (bucket, count) in &period.blue {
                        *blue.entry(*bucket).or_insert(0u64) += count;
                    }
                }
                let shift = centre_shift(periods);
                (
                    median_us(&green),
                    median_us(&blue),
                    shift.map(|shift| shift_to_ratio(shift) - 1.0),
                )
            }
            Test::Latency(LatencyTest::Averages(periods)) => {
                if periods.is_empty() {
                    return (None, None, None);
                }
                let mut sorted = periods.clone();
                sorted.sort_by(f64::total_cmp);
                let median = sorted[sorted.len() / 2];
                (None, None, Some(libm::exp(median) - 1.0))
            }
            Test::Latency(LatencyTest::Undecided) => (None, None, None),
        }
    }
}

/// The namespace the canary judge publishes in, and its score's name.
pub const NAMESPACE: &str = "Guardrail/CanaryJudge";
pub const SCORE_METRIC: &str = "CanaryScore";

/// The metric the judge's score is published as for an update of `endpoint`
/// to `green_config`: what a rollback alarm on it names.
pub fn score_metric(endpoint: &str, green_config: &str) -> crate::plan::MetricIdentity {
    crate::plan::MetricIdentity {
        namespace: NAMESPACE.into(),
        metric_name: SCORE_METRIC.into(),
        dimensions: vec![
            crate::plan::Dimension {
                name: "EndpointName".into(),
                value: endpoint.into(),
            },
            crate::plan::Dimension {
                name: "EndpointConfigName".into(),
                value: green_config.into(),
            },
        ],
    }
}

/// What the judge publishes after a look, as (metric name, value): its
/// score, and per judged metric its class (`<metric>Class`: 0 pass, 1 high,
/// -1 low; nothing while it has too few requests). The local engine and the
/// SageMaker watcher publish these with the dimensions of [`score_metric`].
pub fn published_values(judgement: &Judgement) -> Vec<(String, f64)> {
    let mut values: Vec<(String, f64)> = judgement
        .score
        .map(|score| (SCORE_METRIC.to_string(), score))
        .into_iter()
        .collect();
    for metric in &judgement.metrics {
        let value = match metric.class {
            Class::Pass => 0.0,
            Class::High => 1.0,
            Class::Low => -1.0,
            Class::NoData => continue,
        };
        values.push((format!("{}Class", metric.signal.name()), value));
    }
    values
}

/// The rollback alarm that makes the judge act: `CanaryScore` `Minimum`
/// under `pass_score` in one period of 60 s, named after the endpoint.
/// Missing data is not breaching: the judge publishes nothing until both
/// fleets have served its minimum samples (lint `canary_score_breaching`).
pub fn score_alarm(
    endpoint: &str,
    green_config: &str,
    pass_score: f64,
) -> crate::plan::MetricAlarm {
    use crate::plan::{ComparisonOperator, MetricAlarm, Statistic, TreatMissingData};
    let metric = score_metric(endpoint, green_config);
    MetricAlarm {
        alarm_name: format!("{endpoint}-canary-score"),
        namespace: metric.namespace,
        metric_name: metric.metric_name,
        dimensions: metric.dimensions,
        statistic: Some(Statistic::Minimum),
        period: Some(60),
        evaluation_periods: Some(1),
        threshold: Some(pass_score),
        comparison_operator: Some(ComparisonOperator::LessThanThreshold),
        treat_missing_data: Some(TreatMissingData::NotBreaching),
        ..MetricAlarm::default()
    }
}

/// A judge over a run: both fleets' ticks summed into the judge's periods.
/// At each period's end in which both fleets served, the judge looks.
#[derive(Clone, Debug)]
pub struct Watch {
    judge: Judge,
    pub(crate) period_ms: u64,
    green: FleetTick,
    blue: FleetTick,
    /// Where [`Watch::tick_span`]'s periods start, modulo the period: its
    /// first tick's start.
    phase_ms: Option<u64>,
}

impl Watch {
    pub fn new(spec: &JudgeSpec) -> Watch {
        Watch {
            judge: Judge::new(spec),
            period_ms: u64::from(spec.period_seconds.max(1)) * 1_000,
            green: FleetTick::default(),
            blue: FleetTick::default(),
            phase_ms: None,
        }
    }

    /// [`Watch::tick`] for ticks of `tick_ms` ending at `end_ms` on any
    /// clock: the judge's periods count from the first tick's start. A
    /// SageMaker record's minutes are CloudWatch's, not whole minutes of the
    /// run, and its first is cut short at the update request.
    pub fn tick_span(
        &mut self,
        tick_ms: u64,
        end_ms: u64,
        green: &FleetTick,
        blue: &FleetTick,
    ) -> bool {
        let period = self.period_ms;
        let phase = *self
            .phase_ms
            .get_or_insert((end_ms % period + period - tick_ms % period) % period);
        self.tick(end_ms.saturating_add(period - phase), green, blue)
    }

    /// Takes in one tick of both fleets ending at `end_ms` (ticks divide the
    /// judge's period); returns whether the judge looked.
    pub fn tick(&mut self, end_ms: u64, green: &FleetTick, blue: &FleetTick) -> bool {
        self.green.add(green);
        self.blue.add(blue);
        if !end_ms.is_multiple_of(self.period_ms) {
            return false;
        }
        let green = std::mem::take(&mut self.green);
        let blue = std::mem::take(&mut self.blue);
        if green.invocations == 0 || blue.invocations == 0 {
            return false;
        }
        self.judge.observe(&green, &blue);
        true
    }

    pub fn judge(&self) -> &Judge {
        &self.judge
    }

    /// Whether one of the judge's periods ends at `at_ms`.
    pub fn period_ended(&self, at_ms: u64) -> bool {
        at_ms.is_multiple_of(self.period_ms)
    }
}

/// One look of the judge at a recorded run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Look {
    /// Plan time of the period's end.
    pub at_ms: u64,
    pub judgement: Judgement,
}

/// `count` log-normal latencies (ln of microseconds ~ N(`mu`, `sigma`)) as a
/// histogram of [`LATENCY_BUCKET_GROWTH`] buckets, as the engine records
/// them: drawn one by one when few, else split bucket range by bucket range
/// with binomial draws (exact multinomial sampling, in time that grows with
/// the buckets rather than the requests).
pub fn latency_histogram(
    random: &mut crate::random::Random,
    count: u64,
    mu: f64,
    sigma: f64,
) -> BTreeMap<i32, u64> {
    let mut histogram = BTreeMap::new();
    let width = libm::log(LATENCY_BUCKET_GROWTH);
    let bucket_of = |log_us: f64| libm::round(log_us.max(0.0) / width) as i32;
    if count <= 64 || sigma <= 0.0 {
        for _ in 0..count {
            *histogram
                .entry(bucket_of(mu + sigma * random.normal()))
                .or_insert(0) += 1;
        }
        return histogram;
    }
    // Bucket i holds ln values in [(i − ½)w, (i + ½)w); beyond ±8σ is lumped
    // into the end buckets.
    let low = bucket_of(mu - 8.0 * sigma);
    let high = bucket_of(mu + 8.0 * sigma).max(low);
    let cdf = |bucket: i32| {
        let edge = (f64::from(bucket) + 0.5) * width;
        0.5 * libm::erfc(-(edge - mu) / sigma / core::f64::consts::SQRT_2)
    };
    // Split [first, last] with `n` requests whose probability mass below
    // `first` is `below` and up to `last` is `upto`.
    let mut stack = vec![(low, high, count)];
    while let Some((first, last, n)) = stack.pop() {
        if n == 0 {
            continue;
        }
        if first == last {
            *histogram.entry(first).or_insert(0) += n;
            continue;
        }
        let middle = first + (last - first) / 2;
        let mass = |from: i32, to: i32| {
            let start = if from == low { 0.0 } else { cdf(from - 1) };
            let end = if to == high { 1.0 } else { cdf(to) };
            (end - start).max(0.0)
        };
        let total = mass(first, last);
        let left = if total > 0.0 {
            random.binomial(n, (mass(first, middle) / total).min(1.0))
        } else {
            n
        };
        stack.push((first, middle, left));
        stack.push((middle + 1, last, n - left));
    }
    histogram
}

/// ln((e^a + e^b) / 2), exact when either is -∞.
fn log_mean(a: f64, b: f64) -> f64 {
    log_sum_exp(&[a, b]) - core::f64::consts::LN_2
}

fn log_sum_exp(values: &[f64]) -> f64 {
    let top = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if top == f64::NEG_INFINITY || top.is_nan() {
        return top;
    }
    let sum: f64 = values.iter().map(|value| libm::exp(value - top)).sum();
    top + libm::log(sum)
}

fn finite_exp(log: f64) -> f64 {
    libm::exp(log).min(f64::MAX)
}

/// ln E of the rate test against the null ratio `null` (green's rate over
/// blue's), upwards (worse ratios above it) or downwards.
fn rate_log_e(periods: &[RatePeriod], null: f64, up: bool) -> f64 {
    let mut logs = [0.0; RATE_GRID.len()];
    for period in periods {
        add_rate_period(&mut logs, period, null, up);
    }
    log_sum_exp(&logs) - libm::log(RATE_GRID.len() as f64)
}

/// Adds one period's log likelihood ratio, per alternative of the grid.
fn add_rate_period(logs: &mut [f64], period: &RatePeriod, null: f64, up: bool) {
    if period.green_errors + period.blue_errors == 0 {
        return;
    }
    let null = null.max(1e-9);
    let green = period.green_trials as f64;
    let blue = period.blue_trials as f64;
    let q0 = null * green / (null * green + blue);
    for (log, factor) in logs.iter_mut().zip(RATE_GRID) {
        let alternative = if up { null * factor } else { null / factor };
        let q1 = alternative * green / (alternative * green + blue);
        // Terms of no errors are left out: at extreme ratios a probability
        // rounds to 0 or 1, and 0 · ln 0 must not become NaN.
        if period.green_errors > 0 {
            *log += period.green_errors as f64 * libm::log(q1 / q0);
        }
        if period.blue_errors > 0 {
            *log += period.blue_errors as f64 * libm::log((1.0 - q1) / (1.0 - q0));
        }
    }
}

fn ratio_to_shift(ratio: f64) -> i32 {
    let shift = libm::round(libm::log(ratio.max(1e-9)) / libm::log(LATENCY_BUCKET_GROWTH));
    shift.clamp(-f64::from(MAX_SHIFT), f64::from(MAX_SHIFT)) as i32
}

fn shift_to_ratio(shift: i32) -> f64 {
    libm::pow(LATENCY_BUCKET_GROWTH, f64::from(shift))
}

/// A period's standardised Mann–Whitney statistic of green against blue's
/// latencies moved `shift` buckets up: positive when green is slower. Ties
/// count a half, and the variance is corrected for them.
fn rank_z(period: &RankPeriod, shift: i32) -> Option<f64> {
    let n = period.green_count as f64;
    let m = period.blue_count as f64;
    let total = n + m;
    let mut u = 0.0;
    let mut ties = 0.0;
    let mut below = 0.0; // blue requests strictly below the current bucket
    let (mut g, mut b) = (0, 0);
    let green = &period.green;
    let blue = &period.blue;
    while g < green.len() || b < blue.len() {
        let green_key = green.get(g).map(|(k, _)| i64::from(*k));
        let blue_key = blue.get(b).map(|(k, _)| i64::from(k.saturating_add(shift)));
        let key = match (green_key, blue_key) {
            (Some(x), Some(y)) => x.min(y),
            (Some(x), None) => x,
            (None, Some(y)) => y,
            (None, None) => break,
        };
        let green_here = if green_key == Some(key) {
            g += 1;
            green[g - 1].1 as f64
        } else {
            0.0
        };
        let blue_here = if blue_key == Some(key) {
            b += 1;
            blue[b - 1].1 as f64
        } else {
            0.0
        };
        u += green_here * (below + 0.5 * blue_here);
        below += blue_here;
        let t = green_here + blue_here;
        ties += t * t * t - t;
    }
    let variance = n * m / 12.0 * ((total + 1.0) - ties / (total * (total - 1.0)));
    (variance > 0.0).then(|| (u - n * m / 2.0) / libm::sqrt(variance))
}

/// ln of the one-sided normal-mixture SPRT for the sum `s` of `n` unit
/// normals: ∫₀^∞ exp(θs − nθ²/2) 2φ(θ/τ)/τ dθ.
fn normal_mixture_log_e(s: f64, n: f64) -> f64 {
    let tau2 = RANK_MIXTURE_SD * RANK_MIXTURE_SD;
    let a = n + 1.0 / tau2;
    let phi = 0.5 * libm::erfc(-s / libm::sqrt(a) / core::f64::consts::SQRT_2);
    if phi <= 0.0 {
        return f64::NEG_INFINITY;
    }
    core::f64::consts::LN_2 + s * s / (2.0 * a) + libm::log(phi) - 0.5 * libm::log(a * tau2)
}

/// ln E of the rank test with blue moved `shift` buckets, upwards (green
/// slower) or downwards.
fn rank_log_e(periods: &[RankPeriod], shift: i32, up: bool) -> f64 {
    let (sum, count) = rank_sum(periods, shift);
    if count == 0 {
        return 0.0;
    }
    normal_mixture_log_e(if up { sum } else { -sum }, count as f64)
}

fn rank_sum(periods: &[RankPeriod], shift: i32) -> (f64, u32) {
    periods
        .iter()
        .filter_map(|period| rank_z(period, shift))
        .fold((0.0, 0), |(sum, count), z| (sum + z, count + 1))
}

/// The shift that balances the rank statistics (a Hodges–Lehmann estimate).
fn centre_shift(periods: &[RankPeriod]) -> Option<i32> {
    let (_, count) = rank_sum(periods, 0);
    if count == 0 {
        return None;
    }
    // The sum falls as blue moves up; find where it crosses zero.
    let (mut low, mut high) = (-MAX_SHIFT, MAX_SHIFT);
    while high - low > 1 {
        let middle = (low + high) / 2;
        if rank_sum(periods, middle).0 > 0.0 {
            low = middle;
        } else {
            high = middle;
        }
    }
    let at = |shift| rank_sum(periods, shift).0.abs();
    Some(if at(low) <= at(high) { low } else { high })
}

/// ln E of the sign test on ln(green's average / blue's) against `null`.
fn sign_log_e(periods: &[f64], null: f64, up: bool) -> f64 {
    let mut logs = [0.0; SIGN_GRID.len()];
    for difference in periods {
        add_sign_period(&mut logs, *difference, null, up);
    }
    log_sum_exp(&logs) - libm::log(SIGN_GRID.len() as f64)
}

/// Adds one period's sign, per alternative win rate of the grid.
fn add_sign_period(logs: &mut [f64], difference: f64, null: f64, up: bool) {
    let worse = if up {
        difference > null
    } else {
        difference < null
    };
    let better = if up {
        difference < null
    } else {
        difference > null
    };
    for (log, q) in logs.iter_mut().zip(SIGN_GRID) {
        if worse {
            *log += libm::log(q / 0.5);
        } else if better {
            *log += libm::log((1.0 - q) / 0.5);
        }
    }
}

/// The median of a latency histogram, in microseconds.
fn median_us(histogram: &BTreeMap<i32, u64>) -> Option<f64> {
    let total: u64 = histogram.values().sum();
    let mut seen = 0;
    for (bucket, count) in histogram {
        seen += count;
        if seen * 2 >= total && total > 0 {
            return Some(shift_to_ratio(*bucket));
        }
    }
    None
}

/// How far from `centre` (a log ratio) in `direction` the rejected ratios
/// begin, as a ratio; `None` when nothing within a factor of 1 000 is
/// rejected.
fn boundary(rejects: &dyn Fn(f64) -> bool, centre: f64, direction: f64) -> Option<f64> {
    let far = centre + direction * libm::log(1_000.0);
    if !rejects(libm::exp(far)) {
        return None;
    }
    let (mut inside, mut outside) = (centre, far);
    for _ in 0..16 {
        let middle = (inside + outside) / 2.0;
        if rejects(libm::exp(middle)) {
            outside = middle;
        } else {
            inside = middle;
        }
    }
    Some(libm::exp(inside))
}

/// The plan's judge section from a judge: the plan document's side of
/// [`JudgeSpec`], here so that the plan reads nothing of the judge.
impl JudgeSection {
    /// The default judge, written out in full: what one click turns on.
    pub fn default_judge() -> JudgeSection {
        JudgeSection::from_spec(&JudgeSpec::default_judge())
    }

    pub fn from_spec(spec: &JudgeSpec) -> JudgeSection {
        JudgeSection {
            metrics: spec
                .criteria
                .iter()
                .map(|criterion| JudgedMetric {
                    metric_name: criterion.signal.name().to_string(),
                    direction: Some(criterion.direction.name().to_string()),
                    allowed_effect_percent: Some(criterion.allowed_effect * 100.0),
                    minimum_samples: Some(criterion.minimum_samples as i64),
                    critical: Some(criterion.critical),
                    weight: Some(criterion.weight),
                })
                .collect(),
            confidence_percent: Some(100.0 - 100.0 * spec.false_alarm_rate),
            pass_score: Some(spec.pass_score),
            marginal_score: Some(spec.marginal_score),
            period_seconds: Some(i64::from(spec.period_seconds)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::Random;
    use crate::retro::{judge_record, RejudgeError};

    /// One fleet's period: `requests` with errors at `error_rate` and
    /// log-normal latencies of median `median_us`.
    fn fleet(random: &mut Random, requests: u64, error_rate: f64, median_us: f64) -> FleetTick {
        let mut tick = FleetTick::default();
        for _ in 0..requests {
            let error = random.uniform() < error_rate;
            let latency = median_us * libm::exp(0.5 * random.normal());
            tick.record(if error { 500 } else { 200 }, latency, 1_000.0, 1);
        }
        tick
    }

    /// A canary bake of `periods`: blue serves `2 · per_green` a period.
    fn bake(
        seed: u64,
        periods: u32,
        per_green: u64,
        green: (f64, f64),
        blue: (f64, f64),
        spec: &JudgeSpec,
        mut each: impl FnMut(&Judge),
    ) -> Judge {
        let mut random = Random::new(seed);
        let mut judge = Judge::new(spec);
        for _ in 0..periods {
            let g = fleet(&mut random, per_green, green.0, green.1);
            let b = fleet(&mut random, 2 * per_green, blue.0, blue.1);
            judge.observe(&g, &b);
            each(&judge);
        }
        judge
    }

    /// A SageMaker record: a minute's statistics a period, no ticks.
    fn statistics_record(green_5xx: u64, green_latency_us: f64) -> Vec<crate::event::Event> {
        use crate::event::{Event, EventKind, FleetMetrics};
        let fleet = |invocations: u64, errors: u64, latency: f64| FleetMetrics {
            invocations,
            invocation_5xx_errors: errors,
            model_latency_average_us: Some(latency),
            ..FleetMetrics::default()
        };
        // CloudWatch's minutes began 17 s before the update request.
        (0..5u64)
            .map(|minute| Event {
                run_id: "run-1".into(),
                seq: minute + 1,
                at_ms: 43_000 + minute * 60_000,
                wall_ms: 0,
                kind: EventKind::MetricPeriod {
                    start_ms: (minute * 60_000).saturating_sub(17_000),
                    end_ms: 43_000 + minute * 60_000,
                    blue: fleet(900, 1, 4_000.0),
                    green: fleet(300, green_5xx, green_latency_us),
                    ticks: None,
                    team: Vec::new(),
                },
            })
            .collect()
    }

    #[test]
    fn a_record_of_statistics_alone_is_judged_from_counts_and_averages() {
        let mut spec = JudgeSpec::default_judge();
        // The record's periods are minutes: the judge of 10 s looks every
        // minute, as the watcher ran it; 90 s would look every 2 minutes.
        assert_eq!(spec.looking_every(60).period_seconds, 60);
        spec.period_seconds = 90;
        assert_eq!(
            judge_record(&statistics_record(30, 4_000.0), &spec)
                .expect("judged")
                .len(),
            2
        );
        spec.period_seconds = 10;
        // Green fails 10 % of 300 requests a minute against blue's 0.1 %:
        // the critical 5XX metric fails it at the first look.
        let looks = judge_record(&statistics_record(30, 4_000.0), &spec).expect("judged");
        assert_eq!(looks.len(), 5);
        let first = &looks[0].judgement;
        assert_eq!((looks[0].at_ms, first.score), (43_000, Some(0.0)));
        assert_eq!(first.metrics[0].class, Class::High);
        // Latency from averages: the sign test, which needs more periods
        // than five to say anything; the twin passes throughout.
        let latency = &first.metrics[2];
        assert_eq!(latency.evidence.method, Method::SignOfAverages);
        let twin = judge_record(&statistics_record(0, 4_000.0), &spec).expect("judged");
        assert!(
            twin.iter().all(|look| look.judgement.score == Some(100.0)),
            "{twin:?}"
        );
        // No periods at all: said.
        assert_eq!(judge_record(&[], &spec), Err(RejudgeError::NoSamples));
    }

    #[test]
    fn the_default_judge_fails_a_slower_green_and_passes_a_twin() {
        let spec = JudgeSpec::default_judge();
        let slow = bake(1, 30, 17, (0.0, 12_000.0), (0.0, 4_000.0), &spec, |_| {});
        let judgement = slow.judgement();
        // One metric of three fails: Kayenta's marginal, under the pass score.
        assert!(slow.failed(), "{judgement:?}");
        assert_eq!(judgement.outcome, Some(Outcome::Marginal));
        let line = judgement.describe();
        assert!(
            line.starts_with(
                "canary judge: score 67 (marginal), under 75: fails green: ModelLatency High, +"
            ),
            "{line}"
        );
        let latency = &judgement.metrics[2];
        assert_eq!(latency.class, Class::High);
        let effect = latency.evidence.effect.expect("an effect");
        assert!((effect - 2.0).abs() < 0.3, "a threefold latency: {effect}");
        let (low, high) = (
            latency.evidence.effect_low.expect("a lower bound"),
            latency.evidence.effect_high.expect("an upper bound"),
        );
        assert!(low < 2.0 && 2.0 < high && low > 1.0, "[{low}, {high}]");
        assert_eq!(judgement.metrics[0].class, Class::Pass);

        let twin = bake(2, 30, 17, (0.001, 4_000.0), (0.001, 4_000.0), &spec, |_| {});
        assert_eq!(
            twin.outcome(),
            Some(Outcome::Pass),
            "{:?}",
            twin.judgement()
        );
    }

    #[test]
    fn at_a_request_a_second_periods_are_pooled_into_blocks() {
        // 10 s periods at 1 request/s with a one-in-three canary: about 3
        // green requests a period, too few for one period's rank statistic.
        let spec = JudgeSpec::default_judge();
        let slow = bake(6, 30, 3, (0.0, 6_000.0), (0.0, 2_000.0), &spec, |_| {});
        assert!(slow.failed(), "{:?}", slow.judgement());
        let Test::Latency(LatencyTest::Ranks(blocks, _)) = &slow.tracked[2].test else {
            panic!("ranks");
        };
        assert!(blocks
            .iter()
            .all(|block| block.green_count >= MIN_RANK_SAMPLES));
        // Four periods (12 green requests) a block.
        assert_eq!(blocks.len(), 30 / 4);
    }

    #[test]
    fn nothing_is_judged_before_the_minimum_sample() {
        let spec = JudgeSpec::default_judge();
        let judge = bake(3, 1, 10, (1.0, 40_000.0), (0.0, 4_000.0), &spec, |_| {});
        assert_eq!(judge.score(), None);
        assert!(judge
            .judgement()
            .metrics
            .iter()
            .all(|m| m.class == Class::NoData));
    }

    #[test]
    fn a_critical_failure_scores_zero() {
        let spec = JudgeSpec::default_judge();
        let judge = bake(4, 20, 50, (0.2, 4_000.0), (0.0, 4_000.0), &spec, |_| {});
        assert_eq!(judge.score(), Some(0.0));
        let errors = &judge.judgement().metrics[0];
        assert_eq!(errors.class, Class::High);
        assert!(errors.evidence.green.expect("a rate") > 0.1);
        assert_eq!(errors.evidence.blue, Some(0.0));
        assert!(errors.evidence.p_value < 0.01 / 3.0);
    }

    #[test]
    fn a_decrease_is_judged_only_when_it_is_the_bad_direction() {
        let mut spec = JudgeSpec::default_judge();
        spec.criteria.truncate(2);
        spec.criteria.push(Criterion {
            signal: Signal::ModelLatency,
            direction: Direction::Either,
            allowed_effect: 0.1,
            minimum_samples: 50,
            critical: false,
            weight: 1.0,
        });
        let faster = bake(5, 20, 30, (0.0, 2_000.0), (0.0, 4_000.0), &spec, |_| {});
        assert_eq!(faster.judgement().metrics[2].class, Class::Low);
        let increase_only = bake(
            5,
            20,
            30,
            (0.0, 2_000.0),
            (0.0, 4_000.0),
            &JudgeSpec::default_judge(),
            |_| {},
        );
        assert_eq!(increase_only.judgement().metrics[2].class, Class::Pass);
    }

    #[test]
    fn averages_alone_are_judged_by_their_signs() {
        let spec = JudgeSpec::default_judge();
        let mut judge = Judge::new(&spec);
        let tick = |latency_us: f64| FleetTick {
            invocations: 100,
            model_latency_sum_us: 100.0 * latency_us,
            ..FleetTick::default()
        };
        for _ in 0..11 {
            judge.observe(&tick(9_000.0), &tick(3_000.0));
        }
        let latency = &judge.judgement().metrics[2];
        assert_eq!(latency.evidence.method, Method::SignOfAverages);
        assert_eq!(latency.class, Class::High);
        // Ten straight losses are not enough at 1 % over three metrics;
        // eleven are (ARCHITECTURE.md).
        let mut early = Judge::new(&spec);
        for _ in 0..10 {
            early.observe(&tick(9_000.0), &tick(3_000.0));
        }
        assert_eq!(early.judgement().metrics[2].class, Class::Pass);
    }

    /// The share of A/A bakes in which the judge, looking after every
    /// period, ever fails: at most its 1 %, where a naive z-test looked at
    /// every period fails far more often.
    #[test]
    fn looking_after_every_period_keeps_false_alarms_at_the_configured_rate() {
        let spec = JudgeSpec::default_judge();
        let runs = 600;
        let mut false_alarms = 0;
        let mut naive_false_alarms = 0;
        for seed in 0..runs {
            let mut failed = false;
            let mut naive = false;
            bake(
                seed,
                30,
                17,
                (0.01, 4_000.0),
                (0.01, 4_000.0),
                &spec,
                |judge| {
                    failed |= judge.failed();
                    if let Test::Latency(LatencyTest::Ranks(periods, _)) = &judge.tracked[2].test {
                        let (sum, count) = rank_sum(periods, 0);
                        naive |= count > 0 && sum / f64::from(count).sqrt() > 2.326;
                    }
                },
            );
            false_alarms += u32::from(failed);
            naive_false_alarms += u32::from(naive);
        }
        assert!(false_alarms <= 12, "{false_alarms} of {runs}");
        assert!(
            naive_false_alarms > 3 * 12,
            "the naive test: {naive_false_alarms} of {runs}"
        );
    }

    #[test]
    fn rates_need_errors_and_a_split_that_favours_blue() {
        let periods = [RatePeriod {
            green_errors: 0,
            blue_errors: 0,
            green_trials: 100,
            blue_trials: 200,
        }];
        assert_eq!(rate_log_e(&periods, 1.0, true), 0.0);
        let green_only = [RatePeriod {
            green_errors: 8,
            blue_errors: 0,
            green_trials: 100,
            blue_trials: 200,
        }];
        // Each error lands on green with chance 1/3 under the null.
        let log_e = rate_log_e(&green_only, 1.0, true);
        assert!(log_e > 6.0 && log_e < 8.0 * libm::log(3.0), "{log_e}");
        assert!(rate_log_e(&green_only, 1.0, false) < 0.0);
    }

    #[test]
    fn the_running_e_processes_equal_ones_recomputed_from_the_periods() {
        let mut spec = JudgeSpec::default_judge();
        spec.criteria[0].direction = Direction::Either;
        spec.criteria[0].allowed_effect = 0.2;
        spec.criteria[2].direction = Direction::Either;
        let judge = bake(11, 20, 40, (0.02, 5_000.0), (0.01, 4_000.0), &spec, |_| {});
        let mut averages = Judge::new(&spec);
        for step in 0..6 {
            let tick = |latency_us: f64| FleetTick {
                invocations: 100,
                model_latency_sum_us: 100.0 * latency_us,
                ..FleetTick::default()
            };
            averages.observe(&tick(4_000.0 + 500.0 * f64::from(step % 3)), &tick(4_400.0));
        }
        for tracked in judge.tracked.iter().chain(&averages.tracked) {
            let (up, down) = tracked.running_log_e();
            let (up_again, down_again) = tracked.log_e_sides(None);
            let same = |a: f64, b: f64| a == b || (a - b).abs() < 1e-9;
            assert!(same(up, up_again), "{up} {up_again}");
            assert!(same(down, down_again), "{down} {down_again}");
        }
    }

    #[test]
    fn drawn_histograms_have_the_count_and_the_median_asked_for() {
        let mut random = Random::new(9);
        for count in [10, 1_000, 100_000] {
            let histogram = latency_histogram(&mut random, count, libm::log(4_000.0), 0.5);
            assert_eq!(histogram.values().sum::<u64>(), count);
            if count >= 1_000 {
                let median = median_us(&histogram).expect("a median");
                assert!((median / 4_000.0 - 1.0).abs() < 0.06, "{count}: {median}");
            }
        }
    }

    #[test]
    fn extreme_counts_give_numbers_never_nan() {
        // So many green requests that, at a ratio of 1 000, the share of
        // errors expected on green rounds to exactly 1.
        let period = RatePeriod {
            green_errors: 5,
            blue_errors: 0,
            green_trials: u64::MAX / 4,
            blue_trials: 1,
        };
        for ratio in [1e-3, 1.0, 1e3] {
            for up in [true, false] {
                let log_e = rate_log_e(&[period], ratio, up);
                assert!(!log_e.is_nan(), "ratio {ratio}, up {up}");
            }
        }
        let mut judge = Judge::new(&JudgeSpec::default_judge());
        let tick = |invocations: u64, errors: u64| FleetTick {
            invocations,
            errors_5xx: errors,
            model_errors: errors,
            ..FleetTick::default()
        };
        judge.observe(&tick(u64::MAX / 4, 5), &tick(1, 0));
        let evidence = &judge.judgement().metrics[0].evidence;
        for value in [evidence.effect, evidence.effect_low, evidence.effect_high]
            .into_iter()
            .flatten()
        {
            assert!(!value.is_nan(), "{evidence:?}");
        }
    }

    #[test]
    fn rank_statistics_count_ties_as_halves() {
        let period = RankPeriod {
            green: vec![(10, 2)],
            blue: vec![(10, 2)],
            green_count: 2,
            blue_count: 2,
        };
        // All tied: no variance, no statistic.
        assert_eq!(rank_z(&period, 0), None);
        let apart = RankPeriod {
            green: vec![(20, 3)],
            blue: vec![(10, 3)],
            green_count: 3,
            blue_count: 3,
        };
        let z = rank_z(&apart, 0).expect("a statistic");
        // U = 9 of 9: (9 − 4.5) / √(9·7/12 − ties) with two tie groups of 3.
        let variance: f64 = 9.0 / 12.0 * (7.0 - 48.0 / 30.0);
        assert!((z - 4.5 / variance.sqrt()).abs() < 1e-12, "{z}");
        assert!(
            rank_z(&apart, 10).is_none(),
            "moved onto green's bucket: all ties"
        );
        assert!(rank_z(&apart, 11).expect("a statistic") < 0.0);
    }
}
