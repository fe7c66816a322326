//! Property tests of the core's invariants over generated plans and scenarios.

use guardrail_core::controller::Outcome;
use guardrail_core::link::{self, LinkState};
use guardrail_core::plan::{
    AlarmRef, AutoRollbackConfig, BlueGreenUpdatePolicy, CapacitySize, ComparisonOperator,
    DeploymentConfig, Dimension, FleetBehaviour, GreenBehaviour, MetricAlarm, RollingUpdatePolicy,
    Scenario, Statistic, TrafficRoutingConfig, TrafficRoutingType, TreatMissingData,
};
use guardrail_core::schedule::schedule;
use guardrail_core::simulate::{run, simulate};
use guardrail_core::{check, Plan};
use proptest::prelude::*;

fn capacity(percent: bool, value: i64) -> CapacitySize {
    if percent {
        CapacitySize::percent(value)
    } else {
        CapacitySize::instances(value)
    }
}

prop_compose! {
    fn alarm_strategy(index: usize)(
        metric in prop::sample::select(vec!["Invocation5XXErrors", "ModelLatency", "InvocationModelErrors"]),
        new_fleet in any::<bool>(),
        statistic in prop::sample::select(vec![Statistic::Average, Statistic::Sum, Statistic::Maximum]),
        period in prop::sample::select(vec![10_i64, 30, 60, 120, 300]),
        evaluation_periods in 1_i64..4,
        datapoints in 1_i64..4,
        threshold in prop::sample::select(vec![0.01, 0.05, 0.5, 1.0, 5.0, 20_000.0]),
        treat in prop::sample::select(TreatMissingData::ALL.to_vec()),
    ) -> MetricAlarm {
        let mut dimensions = vec![
            Dimension::new("EndpointName", "ep"),
            Dimension::new("VariantName", "AllTraffic"),
        ];
        if new_fleet {
            dimensions.push(Dimension::new("EndpointConfigName", "green-config"));
        }
        MetricAlarm {
            alarm_name: format!("alarm-{index}"),
            namespace: "AWS/SageMaker".into(),
            metric_name: metric.into(),
            dimensions,
            statistic: Some(statistic),
            period: Some(period),
            evaluation_periods: Some(evaluation_periods),
            datapoints_to_alarm: Some(datapoints.min(evaluation_periods)),
            threshold: Some(threshold),
            comparison_operator: Some(ComparisonOperator::GreaterThanOrEqualToThreshold),
            treat_missing_data: Some(treat),
            ..MetricAlarm::default()
        }
    }
}

prop_compose! {
    fn plan_strategy()(
        instances in 1_i64..12,
        mode in 0_u8..4,
        percent in any::<bool>(),
        size_fraction in 0.0_f64..1.0,
        wait in prop::sample::select(vec![0_i64, 60, 180, 300, 600]),
        termination_wait in prop::sample::select(vec![0_i64, 60, 120, 600]),
        timeout in 600_i64..28_800,
        provisioning in prop::sample::select(vec![0_i64, 60, 300]),
        rollback_batch in prop::option::of(1_i64..4),
        alarms in prop::collection::vec(any::<u8>(), 0..3),
        alarm_a in alarm_strategy(0),
        alarm_b in alarm_strategy(1),
        scenario in scenario_strategy(),
    ) -> Plan {
        // Sizes drawn inside SageMaker's ranges so that most plans are valid.
        let (low, high) = match mode { 1 => (1.0, 50.0), 2 => (10.0, 50.0), 3 => (5.0, 50.0), _ => (1.0, 50.0) };
        let percent_value = (low + (high - low) * size_fraction).round() as i64;
        let count_value = ((instances as f64 * percent_value as f64 / 100.0).floor() as i64).max(1);
        let size = if percent { capacity(true, percent_value) } else { capacity(false, count_value) };
        let routing = |kind| TrafficRoutingConfig {
            kind: Some(kind),
            wait_interval_in_seconds: Some(wait),
            canary_size: (kind == TrafficRoutingType::Canary).then(|| size.clone()),
            linear_step_size: (kind == TrafficRoutingType::Linear).then(|| size.clone()),
        };
        let blue_green = |kind| BlueGreenUpdatePolicy {
            traffic_routing_configuration: Some(routing(kind)),
            termination_wait_in_seconds: Some(termination_wait),
            maximum_execution_timeout_in_seconds: Some(timeout.max(wait + termination_wait + 1)),
        };
        let all_alarms = vec![alarm_a, alarm_b];
        let chosen: Vec<MetricAlarm> = all_alarms.into_iter().take(alarms.len()).collect();
        let rollback = (!chosen.is_empty()).then(|| AutoRollbackConfig {
            alarms: chosen.iter().map(|alarm| AlarmRef { alarm_name: alarm.alarm_name.clone() }).collect(),
        });
        let mut config = DeploymentConfig { auto_rollback_configuration: rollback, ..DeploymentConfig::default() };
        match mode {
            0 => config.blue_green_update_policy = Some(blue_green(TrafficRoutingType::AllAtOnce)),
            1 => config.blue_green_update_policy = Some(blue_green(TrafficRoutingType::Canary)),
            2 => config.blue_green_update_policy = Some(blue_green(TrafficRoutingType::Linear)),
            _ => config.rolling_update_policy = Some(RollingUpdatePolicy {
                maximum_batch_size: Some(size.clone()),
                wait_interval_in_seconds: Some(wait),
                maximum_execution_timeout_in_seconds: Some(timeout.max(wait + 1)),
                rollback_maximum_batch_size: rollback_batch.map(CapacitySize::instances),
            }),
        }
        Plan {
            endpoint_name: "ep".into(),
            endpoint_config_name: "green-config".into(),
            variant_name: "AllTraffic".into(),
            instance_count: Some(instances),
            instance_type: "ml.m5.xlarge".into(),
            deployment_config: Some(config),
            alarms: chosen,
            provisioning_seconds: Some(provisioning),
            termination_seconds: None,
            scenario: Some(scenario),
            composite_alarms: Vec::new(),
            judge: None,
        }
    }
}

prop_compose! {
    fn scenario_strategy()(
        rps in prop::sample::select(vec![0.5, 1.0, 5.0, 50.0, 400.0]),
        seed in any::<u64>(),
        blue_error in prop::sample::select(vec![0.0, 0.001, 0.02]),
        green_error in prop::sample::select(vec![0.0, 0.01, 0.2, 1.0]),
        blue_latency in 1.0_f64..20.0,
        green_latency in 1.0_f64..200.0,
        onset in prop::sample::select(vec![0.0, 200.0, 700.0, 2_000.0]),
    ) -> Scenario {
        Scenario {
            requests_per_second: rps,
            seed,
            blue: FleetBehaviour { error_rate: blue_error, latency_ms: blue_latency },
            green: GreenBehaviour { error_rate: green_error, latency_ms: green_latency, onset_seconds: onset },
            required_detection: None,
            team_metrics: Vec::new(),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn total_duration_is_the_sum_of_the_phases(plan in plan_strategy()) {
        let checked = check(&plan);
        prop_assume!(checked.rollout.is_some());
        let schedule = schedule(checked.rollout.as_ref().expect("valid"));
        let sum: u32 = schedule.steps.iter().map(|step| step.duration_seconds()).sum();
        prop_assert_eq!(sum, schedule.total_seconds);
        for pair in schedule.steps.windows(2) {
            prop_assert_eq!(pair[0].end_seconds, pair[1].start_seconds);
        }
        prop_assert_eq!(schedule.steps.first().map(|step| step.start_seconds), Some(0));
    }

    #[test]
    fn green_share_only_rises_until_a_rollback_and_ends_at_100_percent_on_success(plan in plan_strategy()) {
        let checked = check(&plan);
        prop_assume!(checked.rollout.is_some());
        let rollout = checked.rollout.expect("valid");
        let scenario = plan.scenario_or_default();
        let simulation = simulate(&rollout, &scenario).expect("a simulation ends with an outcome");
        let shares: Vec<u32> = simulation.traffic.iter().map(|change| change.green_traffic_bp).collect();
        match &simulation.outcome {
            Outcome::Succeeded { .. } => {
                prop_assert!(shares.windows(2).all(|pair| pair[0] <= pair[1]), "{:?}", shares);
                prop_assert_eq!(shares.last().copied(), Some(10_000));
            }
            Outcome::RolledBack { decided_at_ms, .. } => {
                let before: Vec<u32> = simulation
                    .traffic
                    .iter()
                    .filter(|change| change.at_ms < *decided_at_ms)
                    .map(|change| change.green_traffic_bp)
                    .collect();
                prop_assert!(before.windows(2).all(|pair| pair[0] <= pair[1]), "{:?}", shares);
                prop_assert_eq!(shares.last().copied(), Some(0), "rollback ends with all traffic on blue");
                let last = simulation.traffic.last().expect("traffic");
                prop_assert_eq!(last.serving.blue, rollout.instance_count(), "the whole blue fleet serves");
            }
        }
        // The planned schedule is monotone too, and ends at 100 %.
        let schedule = schedule(&rollout);
        prop_assert!(schedule.steps.windows(2).all(|pair| pair[0].green_traffic_bp <= pair[1].green_traffic_bp));
        prop_assert_eq!(schedule.steps.last().map(|step| step.green_traffic_bp), Some(10_000));
    }

    #[test]
    fn the_same_seed_gives_the_same_simulation(plan in plan_strategy()) {
        let checked = check(&plan);
        prop_assume!(checked.rollout.is_some());
        let rollout = checked.rollout.expect("valid");
        let scenario = plan.scenario_or_default();
        let schedule = schedule(&rollout);
        let first = run(&rollout, &schedule, &scenario, scenario.seed, true).expect("simulates");
        let second = run(&rollout, &schedule, &scenario, scenario.seed, true).expect("simulates");
        prop_assert_eq!(first, second);
    }

    #[test]
    fn a_link_survives_a_round_trip(plan in plan_strategy(), view in prop::option::of("[a-z]{1,8}"), run_id in prop::option::of("[a-z0-9-]{1,20}"), at in prop::option::of(0_u64..100_000_000)) {
        let state = LinkState { plan, view, run: run_id, at_ms: at, review: false };
        let token = link::encode(&state);
        prop_assert_eq!(link::decode(&token), Ok(state));
    }

    #[test]
    fn decoding_garbage_never_panics(text in ".{0,200}") {
        let _ = link::decode(&text);
        let _ = guardrail_core::check_json(&text);
    }

    #[test]
    fn decoding_a_mangled_link_never_panics(cut in 0_usize..400, flip in 0_usize..400) {
        let token = link::encode(&LinkState::plan(guardrail_core::examples::notebook_canary()));
        let mut bytes = token.into_bytes();
        if flip < bytes.len() { bytes[flip] = b'x'; }
        bytes.truncate(cut.max(2));
        let text = String::from_utf8(bytes).expect("ascii");
        let _ = link::decode(&text);
    }

    /// Extreme numbers anywhere in a plan: check, schedule and simulate never
    /// panic, overflow or wrap, and a valid plan always simulates to an outcome.
    #[test]
    fn extreme_numbers_never_panic_or_wrap(
        plan in plan_strategy(),
        integers in prop::collection::vec(extreme_integer(), 12),
        floats in prop::collection::vec(extreme_float(), 6),
    ) {
        let mut plan = plan;
        let mut next_int = integers.into_iter();
        let mut int = || next_int.next().flatten();
        plan.instance_count = int().or(plan.instance_count);
        plan.provisioning_seconds = int();
        plan.termination_seconds = int();
        if let Some(config) = plan.deployment_config.as_mut() {
            if let Some(policy) = config.blue_green_update_policy.as_mut() {
                policy.termination_wait_in_seconds = int();
                policy.maximum_execution_timeout_in_seconds = int();
                if let Some(routing) = policy.traffic_routing_configuration.as_mut() {
                    routing.wait_interval_in_seconds = int();
                    for size in [&mut routing.canary_size, &mut routing.linear_step_size].into_iter().flatten() {
                        size.value = int().or(size.value);
                    }
                }
            }
            if let Some(policy) = config.rolling_update_policy.as_mut() {
                policy.wait_interval_in_seconds = int();
                if let Some(size) = policy.maximum_batch_size.as_mut() {
                    size.value = int().or(size.value);
                }
                if let Some(size) = policy.rollback_maximum_batch_size.as_mut() {
                    size.value = int().or(size.value);
                }
            }
        }
        let mut floats = floats.into_iter();
        for alarm in plan.alarms.iter_mut() {
            alarm.period = int().or(alarm.period);
            alarm.evaluation_periods = int().or(alarm.evaluation_periods);
            alarm.datapoints_to_alarm = int();
            alarm.threshold = floats.next().flatten().or(alarm.threshold);
        }
        if let Some(scenario) = plan.scenario.as_mut() {
            scenario.requests_per_second = floats.next().flatten().unwrap_or(scenario.requests_per_second);
            scenario.green.onset_seconds = floats.next().flatten().unwrap_or(scenario.green.onset_seconds);
            scenario.green.latency_ms = floats.next().flatten().unwrap_or(scenario.green.latency_ms);
        }
        let checked = check(&plan);
        if let Some(rollout) = checked.rollout {
            let schedule = schedule(&rollout);
            prop_assert!(schedule.total_seconds >= schedule.steps.len() as u32 / 2);
            let scenario = plan.scenario_or_default();
            let simulation = run(&rollout, &schedule, &scenario, scenario.seed, false);
            prop_assert!(simulation.is_ok(), "{:?}", simulation);
        }
    }
}

/// `None` (leave the field as generated) or an integer at an edge.
fn extreme_integer() -> impl Strategy<Value = Option<i64>> {
    prop::option::of(prop::sample::select(vec![
        i64::MIN,
        -1,
        0,
        1,
        10,
        59,
        60,
        599,
        600,
        3_600,
        7_200,
        28_800,
        604_800,
        i64::from(u32::MAX),
        i64::from(u32::MAX) + 1,
        60 << 32,
        i64::MAX,
    ]))
}

/// `None` or a float at an edge, NaN and the infinities included.
fn extreme_float() -> impl Strategy<Value = Option<f64>> {
    prop::option::of(prop::sample::select(vec![
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MAX,
        f64::MIN,
        f64::MIN_POSITIVE,
        -0.0,
        0.0,
        1e-300,
        100_000.0,
        86_400.0,
    ]))
}

/// A small run's events: provisioning, a traffic shift, a rollback. The
/// wall clock keeps pace with plan time, as a record rebuilds it.
fn some_events(run_id: &str, green_bp: u32) -> Vec<guardrail_core::event::Event> {
    use guardrail_core::event::{Event, EventKind};
    let kinds = [
        EventKind::GreenProvisioning { instances: 1 },
        EventKind::TrafficShifted {
            green_instances: 1,
            blue_instances: 3,
            green_traffic_bp: green_bp,
        },
        EventKind::RollbackCompleted,
    ];
    kinds
        .into_iter()
        .enumerate()
        .map(|(index, kind)| Event {
            run_id: run_id.to_string(),
            seq: index as u64 + 1,
            at_ms: index as u64 * 60_000,
            wall_ms: 1_800_000_000_000 + index as u64 * 60_000,
            kind,
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Review links (`r=`): a run's record survives the round trip, and
    /// garbage or a mangled token is an error, never a panic.
    #[test]
    fn a_run_record_token_round_trips_and_garbage_never_panics(
        run_id in "[a-z0-9-]{1,24}",
        green_bp in 0_u32..=10_000,
        garbage in ".{0,300}",
        cut in 0_usize..2_000,
        flip in 0_usize..2_000,
    ) {
        use guardrail_core::record::{review_link, RunRecord};
        let events = some_events(&run_id, green_bp);
        let review = review_link("http://127.0.0.1:3000", &guardrail_core::examples::notebook_canary(), &events, None);
        let token = review.url.split("&r=").nth(1).unwrap_or_default().to_string();
        prop_assert!(!token.is_empty(), "{}", review.url);
        let record = RunRecord::from_token(&token);
        prop_assert_eq!(record.map(|record| record.to_events()), Ok(events));
        let _ = RunRecord::from_token(&garbage);
        let mut bytes = token.into_bytes();
        if flip < bytes.len() { bytes[flip] = b'_'; }
        bytes.truncate(cut.max(2));
        let _ = RunRecord::from_token(&String::from_utf8_lossy(&bytes));
    }

    /// The event stream's lines: garbage and mangled events are errors,
    /// never a panic.
    #[test]
    fn a_stream_line_never_panics(garbage in ".{0,300}", cut in 0_usize..400, flip in 0_usize..400, with in any::<u8>()) {
        use guardrail_core::event::StreamLine;
        let _ = serde_json::from_str::<StreamLine>(&garbage);
        for event in some_events("run-1", 2_500) {
            let mut bytes = serde_json::to_vec(&StreamLine::Event(Box::new(event))).expect("json");
            if flip < bytes.len() { bytes[flip] = with; }
            bytes.truncate(cut.max(1));
            let _ = serde_json::from_slice::<StreamLine>(&bytes);
        }
    }
}
