//! The planner's hot paths, timed with a clock passed in, so that the same code
//! measures the Wasm build in Chromium (`window.wasmBindings.guardrail_bench`)
//! and the native build (`cargo run -p guardrail-tests --release --bin browser-bench`).

use guardrail_core::plan::Scenario;
use guardrail_core::schedule::schedule;
use guardrail_core::simulate::{
    detect, detection_curve, simulate, CURVE_ERROR_RATES, DEFAULT_RUNS,
};
use guardrail_core::{check, examples, Plan, Rollout};

use crate::analysis::CURVE_RUNS;
use crate::charts::{describe_schedule, traffic_chart};

/// One measured operation: its name and the mean milliseconds per call.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Timing {
    pub name: &'static str,
    pub iterations: u32,
    pub mean_ms: f64,
}

fn time(
    name: &'static str,
    iterations: u32,
    now: &dyn Fn() -> f64,
    mut work: impl FnMut(),
) -> Timing {
    work(); // warm-up
    let start = now();
    for _ in 0..iterations {
        work();
    }
    Timing {
        name,
        iterations,
        mean_ms: (now() - start) / f64::from(iterations.max(1)),
    }
}

/// Times what the planner recomputes for the seed notebook's canary.
pub fn run(iterations: u32, now: &dyn Fn() -> f64) -> Vec<Timing> {
    measure(iterations, DEFAULT_RUNS, CURVE_RUNS, now)
}

/// [`run`] with `runs` seeded runs per detection and `curve_runs` per curve
/// point (the unit test's are few: it checks that everything is measured).
fn measure(iterations: u32, runs: u32, curve_runs: u32, now: &dyn Fn() -> f64) -> Vec<Timing> {
    let plan = examples::notebook_canary();
    let scenario = plan.scenario_or_default();
    let Some(rollout) = check(&plan).rollout else {
        return Vec::new();
    };
    let few = (iterations / 20).max(2);
    let mut judged_plan = plan.clone();
    judged_plan.judge = Some(guardrail_core::plan::JudgeSection::default_judge());
    let judged = check(&judged_plan).rollout;
    let mut timings = edit_timings(&plan, &rollout, iterations, now);
    timings.extend(analysis_timings(
        &rollout,
        judged.as_ref(),
        &scenario,
        (runs, curve_runs),
        few,
        now,
    ));
    timings
}

/// What a keystroke costs: each step, and all of them (outside the analyses).
fn edit_timings(
    plan: &Plan,
    rollout: &Rollout,
    iterations: u32,
    now: &dyn Fn() -> f64,
) -> Vec<Timing> {
    let scenario = plan.scenario_or_default();
    vec![
        time("check", iterations, now, || {
            std::hint::black_box(check(plan));
        }),
        time("schedule", iterations * 50, now, || {
            std::hint::black_box(schedule(rollout));
        }),
        time("simulate", iterations, now, || {
            let _ = std::hint::black_box(simulate(rollout, &scenario));
        }),
        time("traffic chart", iterations, now, || {
            std::hint::black_box(traffic_chart(
                &schedule(rollout),
                None,
                crate::charts::SIZE.0,
            ));
        }),
        // One keystroke in the what-if view, without the detection analysis:
        // validate, schedule, simulate, draw the overlay and describe it.
        time(
            "edit: check + schedule + simulate + chart",
            iterations,
            now,
            || {
                let checked = check(plan);
                if let Some(rollout) = checked.rollout {
                    let schedule = schedule(&rollout);
                    let simulation = simulate(&rollout, &scenario).ok();
                    std::hint::black_box(traffic_chart(
                        &schedule,
                        simulation.as_ref(),
                        crate::charts::SIZE.0,
                    ));
                    std::hint::black_box(describe_schedule(&schedule));
                }
            },
        ),
        // What a keystroke also costs outside the analysis: the share link
        // (the plan as JSON, deflated, checksummed) and the draft (JSON).
        time("share link (encode)", iterations, now, || {
            std::hint::black_box(crate::state::fragment_for(
                plan,
                crate::state::View::WhatIf,
                crate::state::Beyond::default(),
            ));
        }),
        time("draft (plan as JSON)", iterations, now, || {
            std::hint::black_box(serde_json::to_string(plan).unwrap_or_default());
        }),
    ]
}

/// What the analyses cost: `few` times each, with `runs` seeded runs per
/// detection and `curve_runs` per curve point.
fn analysis_timings(
    rollout: &Rollout,
    judged: Option<&Rollout>,
    scenario: &Scenario,
    (runs, curve_runs): (u32, u32),
    few: u32,
    now: &dyn Fn() -> f64,
) -> Vec<Timing> {
    vec![
        time("detection, 1000 runs", few, now, || {
            let _ = std::hint::black_box(detect(rollout, scenario, runs));
        }),
        // The what-if with the default canary judge on the same runs: its
        // 10 s periods, and the latency histograms it ranks.
        time(
            "detection with the canary judge, 1000 runs",
            few,
            now,
            || {
                if let Some(judged) = judged {
                    let _ = std::hint::black_box(detect(judged, scenario, runs));
                }
            },
        ),
        // What the worker computes, in its slices, for the notebook with the
        // default judge: the detection, each of its 2 alarms alone, the
        // curve and as many A/A runs.
        time(
            "analyses with the canary judge: detection, each alarm alone, curve, A/A (5200 runs)",
            few,
            now,
            || {
                if let Some(judged) = judged {
                    let analysis = guardrail_core::simulate::Analysis::new(
                        judged,
                        scenario,
                        runs,
                        &CURVE_ERROR_RATES,
                        curve_runs,
                    );
                    if let Ok(mut analysis) = analysis {
                        while !analysis.is_done() {
                            if analysis.advance(u32::MAX).is_err() {
                                break;
                            }
                        }
                        std::hint::black_box(analysis.results());
                    }
                }
            },
        ),
        time("detection curve, 12 x 100 runs", few, now, || {
            let _ = std::hint::black_box(detection_curve(
                rollout,
                scenario,
                &CURVE_ERROR_RATES,
                curve_runs,
            ));
        }),
    ]
}

/// The browser entry point: JSON timings.
#[cfg(feature = "csr")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn guardrail_bench(iterations: u32) -> String {
    let timings = run(iterations, &crate::browser::now_ms);
    serde_json::to_string(&timings).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_operation_is_measured() {
        let clock = std::cell::Cell::new(0.0);
        let now = || {
            clock.set(clock.get() + 1.0);
            clock.get()
        };
        let timings = super::measure(2, 5, 2, &now);
        assert_eq!(timings.len(), 11);
        assert!(timings.iter().all(|timing| timing.mean_ms > 0.0));
    }
}
