//! A threshold for a new-fleet error alarm that is proven on both sides
//! before it is offered: over seeded runs of the what-if, it catches the
//! scenario's regression as often as the plan requires, and it stays quiet
//! on a green as healthy as blue (at blue's own error rate, which a
//! threshold from green's rate alone ignores).
//!
//! Candidates lie between blue's error rate and green's; the lowest that none
//! of 200 healthy runs fires is taken (the lowest catches most), then its
//! detection is measured on 200 runs of the regression, and its false-alarm
//! rate on 400 more healthy runs whose seeds the choice did not see. Both
//! figures are claims: each carries its run count and a 95 % Wilson interval.

use serde::{Deserialize, Serialize};

use crate::plan::{Plan, Scenario};
use crate::simulate::{detect, Detection, SimulationError};

/// Seeded runs per side of the proof.
pub const PROOF_RUNS: u32 = 200;

/// Seeded runs, on seeds the choice did not use, behind the false-alarm rate
/// a fix states: the threshold was chosen for being quiet on its proof runs,
/// so those runs alone would flatter it.
pub const STATED_RUNS: u32 = 400;

/// Where between blue's and green's error rate the candidates lie, lowest
/// first.
const FRACTIONS: [f64; 8] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.75, 0.9];

/// A share of seeded runs, with its count and a 95 % interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Share {
    pub hits: u32,
    pub runs: u32,
    pub low: f64,
    pub high: f64,
}

impl Share {
    pub fn of(hits: u32, runs: u32) -> Share {
        let (low, high) = wilson(hits, runs);
        Share {
            hits,
            runs,
            low,
            high,
        }
    }

    pub fn rate(&self) -> f64 {
        if self.runs == 0 {
            0.0
        } else {
            f64::from(self.hits) / f64::from(self.runs)
        }
    }

    /// "196 of 200 runs (98 %, 95 % interval 95–99 %)".
    pub fn describe(&self) -> String {
        format!(
            "{} of {} runs ({}, 95 % interval {}–{})",
            self.hits,
            self.runs,
            percent(self.rate()),
            percent(self.low),
            percent(self.high)
        )
    }
}

fn percent(share: f64) -> String {
    let value = share * 100.0;
    // Just under 100 % is not 100 %, nor just over 0 % nothing: enough
    // decimals say so (99.6 %, 0.04 %).
    if (99.5..100.0).contains(&value) {
        return format!("{:.1} %", (value * 10.0).floor() / 10.0);
    }
    if value > 0.0 && value < 0.1 {
        return format!("{:.2} %", (value * 100.0).ceil() / 100.0);
    }
    if value == 0.0 || value >= 10.0 || (value - value.round()).abs() < 0.05 {
        format!("{value:.0} %")
    } else {
        format!("{value:.1} %")
    }
}

/// The 95 % Wilson score interval of `hits` in `runs`.
pub fn wilson(hits: u32, runs: u32) -> (f64, f64) {
    if runs == 0 {
        return (0.0, 1.0);
    }
    let z = 1.959_963_984_540_054_f64;
    let n = f64::from(runs);
    let p = f64::from(hits.min(runs)) / n;
    let denominator = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denominator;
    let half = z * ((p * (1.0 - p) + z * z / (4.0 * n)) / n).sqrt() / denominator;
    // At the ends the bound is exact: rounding left 1e-17 for 0 of 1 000,
    // which read as "0.01 %".
    let low = if hits == 0 {
        0.0
    } else {
        (centre - half).max(0.0)
    };
    let high = if hits >= runs {
        1.0
    } else {
        (centre + half).min(1.0)
    };
    (low, high)
}

/// A threshold proven on both sides.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tuned {
    pub threshold: f64,
    /// Runs of the scenario's regression the plan with it rolled back.
    pub caught: Share,
    /// Runs with green as healthy as blue that it rolled back.
    pub false_alarms: Share,
}

impl Tuned {
    /// Both figures, for the button that offers it.
    pub fn describe(&self) -> String {
        format!(
            "threshold {}: caught the what-if's regression in {}; fired with green as healthy as blue in {}",
            crate::alarm::trim_float(self.threshold),
            self.caught.describe(),
            self.false_alarms.describe()
        )
    }
}

/// Why no threshold is offered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Untuned {
    /// Green fails no more often than blue: there is no regression to catch.
    NoRegression,
    /// The plan with the alarm is not valid, or does not simulate.
    Invalid(String),
    /// Every candidate either fired on a healthy green, or caught the
    /// regression less often than required: the best that stayed quiet.
    TooNoisy { best: Option<Tuned>, required: f64 },
}

impl Untuned {
    pub fn describe(&self) -> String {
        match self {
            Untuned::NoRegression => "green fails no more often than blue in the what-if: there is no regression for a threshold to catch".into(),
            Untuned::Invalid(why) => why.clone(),
            Untuned::TooNoisy { best: Some(best), required } => format!(
                "no threshold both stays quiet on a healthy green and catches the regression in {:.0} % of runs: the best, {}. Bake longer, or send the canary more traffic",
                required * 100.0,
                best.describe()
            ),
            Untuned::TooNoisy { best: None, .. } => "every threshold between blue's and green's error rates fired with green as healthy as blue: bake longer, or send the canary more traffic".into(),
        }
    }
}

/// Two significant digits: thresholds people can read.
fn readable(value: f64) -> f64 {
    if value <= 0.0 {
        return value;
    }
    let scale = 10f64.powi(1 - value.log10().floor() as i32);
    (value * scale).round() / scale
}

/// The candidates between blue's and green's error rates, lowest first,
/// each once.
pub fn candidates(scenario: &Scenario) -> Vec<f64> {
    let (blue, green) = (scenario.blue.error_rate, scenario.green.error_rate);
    let mut found: Vec<f64> = FRACTIONS
        .iter()
        .map(|fraction| readable(blue + (green - blue) * fraction))
        .filter(|threshold| *threshold > blue && *threshold < green)
        .collect();
    found.dedup();
    found
}

/// The lowest candidate threshold that fires in none of [`PROOF_RUNS`]
/// healthy runs and catches the regression as often as the scenario
/// requires, with its false-alarm rate over [`STATED_RUNS`] fresh healthy
/// runs. `with` is the plan with the alarm at a threshold.
pub fn tune(plan: &Plan, with: impl Fn(f64) -> Plan) -> Result<Tuned, Untuned> {
    let scenario = plan.scenario_or_default();
    if scenario.green.error_rate <= scenario.blue.error_rate {
        return Err(Untuned::NoRegression);
    }
    let mut healthy = scenario.clone();
    healthy.green.error_rate = scenario.blue.error_rate;
    healthy.green.latency_ms = scenario.blue.latency_ms;
    let required = scenario.required_detection();
    let measure_runs =
        |threshold: f64, scenario: &Scenario, runs: u32| -> Result<Detection, Untuned> {
            let candidate = with(threshold);
            let Some(rollout) = crate::check(&candidate).rollout else {
                return Err(Untuned::Invalid(format!(
                    "the plan with threshold {} is not valid",
                    crate::alarm::trim_float(threshold)
                )));
            };
            detect(&rollout, scenario, runs)
                .map_err(|error: SimulationError| Untuned::Invalid(error.to_string()))
        };
    let measure =
        |threshold: f64, scenario: &Scenario| measure_runs(threshold, scenario, PROOF_RUNS);
    for threshold in candidates(&scenario) {
        let quiet = measure(threshold, &healthy)?;
        if quiet.detected > 0 {
            continue;
        }
        let caught = measure(threshold, &scenario)?;
        let mut fresh = healthy.clone();
        fresh.seed = healthy.seed ^ 0x5EED_F0E5_A11E_D000;
        let stated = measure_runs(threshold, &fresh, STATED_RUNS)?;
        let tuned = Tuned {
            threshold,
            caught: Share::of(caught.detected, caught.runs),
            false_alarms: Share::of(stated.detected, stated.runs),
        };
        // The lowest quiet threshold catches most; a higher one cannot do
        // better.
        return if caught.probability >= required {
            Ok(tuned)
        } else {
            Err(Untuned::TooNoisy {
                best: Some(tuned),
                required,
            })
        };
    }
    Err(Untuned::TooNoisy {
        best: None,
        required,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_intervals_match_the_textbook() {
        let (low, high) = wilson(0, 200);
        assert!(low < 1e-12 && (high - 0.01884).abs() < 1e-4, "{low} {high}");
        let (low, high) = wilson(196, 200);
        assert!(
            (low - 0.9497).abs() < 1e-3 && (high - 0.9922).abs() < 1e-3,
            "{low} {high}"
        );
        assert_eq!(wilson(0, 0), (0.0, 1.0));
        assert_eq!(wilson(0, 1_000).0, 0.0);
        assert_eq!(
            Share::of(0, 1_000).describe(),
            "0 of 1000 runs (0 %, 95 % interval 0 %–0.4 %)"
        );
    }

    #[test]
    fn candidates_lie_between_blue_and_green_and_read_well() {
        let mut scenario = crate::examples::notebook_canary().scenario_or_default();
        scenario.blue.error_rate = 0.01;
        scenario.green.error_rate = 0.04;
        assert_eq!(
            candidates(&scenario),
            [0.013, 0.016, 0.019, 0.022, 0.025, 0.028, 0.033, 0.037]
        );
        assert!(Share::of(196, 200)
            .describe()
            .starts_with("196 of 200 runs (98 %, 95 % interval 95 %–99 %)"));
        assert_eq!(
            Share::of(1000, 1000).describe(),
            "1000 of 1000 runs (100 %, 95 % interval 99.6 %–100 %)"
        );
        assert_eq!(
            Share::of(0, 10_000).describe(),
            "0 of 10000 runs (0 %, 95 % interval 0 %–0.04 %)"
        );
    }
}
