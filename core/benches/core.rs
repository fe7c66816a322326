//! Benchmarks of the calls the planner makes on every keystroke.

use criterion::{criterion_group, criterion_main, Criterion};
use guardrail_core::event::FleetTick;
use guardrail_core::{check, examples, judge, schedule, simulate};

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
    // The canary judge: one period at the notebook's traffic (17 green and
    // 33 blue requests in 10 s) after 29 others, cheap score and full
    // judgement with confidence sequences; and the what-if with the judge.
    let spec = judge::JudgeSpec::default_judge();
    let mut random = guardrail_core::random::Random::new(1);
    let period = |random: &mut guardrail_core::random::Random, requests: u64| {
        let mut tick = FleetTick::default();
        for _ in 0..requests {
            let latency = 4_000.0 * (0.5 * random.normal()).exp();
            tick.record(200, latency, 1_500.0, 1);
        }
        tick
    };
    let periods: Vec<(FleetTick, FleetTick)> = (0..30)
        .map(|_| (period(&mut random, 17), period(&mut random, 33)))
        .collect();
    let mut warm = judge::Judge::new(&spec);
    for (green, blue) in &periods[..29] {
        warm.observe(green, blue);
    }
    let (green, blue) = &periods[29];
    c.bench_function("judge: observe one period after 29 (score)", |b| {
        b.iter(|| {
            let mut judge = warm.clone();
            judge.observe(green, blue);
            judge.score()
        })
    });
    c.bench_function("judge: full judgement after 30 periods", |b| {
        let mut judge = warm.clone();
        judge.observe(green, blue);
        b.iter(|| judge.judgement())
    });
    let mut judged = plan.clone();
    judged.judge = Some(guardrail_core::plan::JudgeSection::default_judge());
    let judged = check(&judged).rollout.expect("valid with the judge");
    c.bench_function(
        "detect notebook canary with the default judge, 1000 runs",
        |b| b.iter(|| simulate::detect(&judged, &scenario, simulate::DEFAULT_RUNS)),
    );
}

criterion_group!(benches, core);
criterion_main!(benches);
