//! Benchmarks of the calls the planner makes on every keystroke.

use criterion::{criterion_group, criterion_main, Criterion};
use guardrail_core::{check, examples, schedule, simulate};

fn core(c: &mut Criterion) {
    let plan = examples::notebook_canary();
    let rollout = check(&plan).rollout.expect("the example is valid");
    let scenario = plan.scenario_or_default();
    c.bench_function("check notebook canary", |b| b.iter(|| check(&plan)));
    c.bench_function("schedule notebook canary", |b| {
        b.iter(|| schedule::schedule(&rollout))
    });
    c.bench_function("simulate notebook canary", |b| {
        b.iter(|| simulate::simulate(&rollout, &scenario))
    });
    c.bench_function("detect notebook canary, 1000 runs", |b| {
        b.iter(|| simulate::detect(&rollout, &scenario, simulate::DEFAULT_RUNS))
    });
    c.bench_function("detection curve notebook canary, 12 x 200 runs", |b| {
        b.iter(|| simulate::detection_curve(&rollout, &scenario, &simulate::CURVE_ERROR_RATES, 200))
    });
    // The guardrails teams write: metric math, a 10 s high-resolution rate
    // on team metrics, a business metric, a composite alarm.
    let team = guardrail_core::Plan::from_json(examples::TEAM_GUARDRAILS).expect("the example");
    let team_rollout = check(&team).rollout.expect("the example is valid");
    let team_scenario = team.scenario_or_default();
    c.bench_function("check team guardrails", |b| b.iter(|| check(&team)));
    c.bench_function("simulate team guardrails", |b| {
        b.iter(|| simulate::simulate(&team_rollout, &team_scenario))
    });
    c.bench_function("detect team guardrails, 1000 runs", |b| {
        b.iter(|| simulate::detect(&team_rollout, &team_scenario, simulate::DEFAULT_RUNS))
    });
}

criterion_group!(benches, core);
criterion_main!(benches);
