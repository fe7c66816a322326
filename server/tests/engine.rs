//! The local engine end to end: real model servers on loopback, the router,
//! live alarms and the controller, at a time scale (never fixed sleeps).

mod common;

use guardrail_core::alarm::AlarmState;
use guardrail_core::controller::RollbackCause;
use guardrail_core::event::{Event, EventKind, Fleet, RunOutcome};
use guardrail_core::examples;
use guardrail_core::plan::{Dimension, Plan};
use guardrail_core::schedule::Phase;
use guardrail_server::engine::model::{Behaviour, BuiltinModel};
use guardrail_server::engine::registry::{
    EndpointConfigDefinition, ModelDefinition, Registry, DEMO_ENDPOINT,
};
use guardrail_server::engine::{Engine, EngineError, EngineOptions};
use guardrail_server::store::{Live, Store};

/// Plan seconds per real second: the notebook canary's 13 minutes take 6.5 s.
const SCALE: f64 = 120.0;

async fn engine() -> Engine {
    let mut registry = Registry::demo();
    registry.merge(Registry {
        models: vec![ModelDefinition::builtin(
            "unready",
            BuiltinModel::new(Behaviour::NeverReady),
        )],
        endpoint_configs: vec![EndpointConfigDefinition {
            endpoint_config_name: "unready".into(),
            model_name: "unready".into(),
            instance_count: 3,
            ..Registry::demo().endpoint_configs[0].clone()
        }],
        endpoints: vec![],
        images: vec![],
    });
    engine_with(registry, Store::in_memory().expect("store")).await
}

/// An engine on `registry` and `store`, with a load generator of 100 requests
/// per second.
async fn engine_with(registry: Registry, store: Store) -> Engine {
    Engine::start(
        registry,
        store,
        EngineOptions {
            load_rps: 100.0,
            seed: 7,
            ..EngineOptions::default()
        },
    )
    .await
    .expect("engine starts")
}

/// The notebook canary, to `config`. Its latency alarm (Average >= 10 ms) is
/// raised to 1 s: these tests are about errors, and a machine busy with other
/// tests can push a few requests' latency, and so a short period's average,
/// past 10 ms.
fn notebook_to(config: &str) -> Plan {
    let mut plan = examples::notebook_canary();
    plan.endpoint_config_name = config.into();
    plan.alarms[1].threshold = Some(1_000_000.0);
    plan
}

fn kinds(events: &[Event]) -> Vec<&EventKind> {
    events.iter().map(|event| &event.kind).collect()
}

/// The run's `InstanceFailed` events.
fn instance_failures(events: &[Event]) -> Vec<&EventKind> {
    kinds(events)
        .into_iter()
        .filter(|kind| matches!(kind, EventKind::InstanceFailed { .. }))
        .collect()
}

/// Waits until `instance` of `fleet` has been replaced.
async fn until_replaced(engine: &Engine, run: &str, fleet: Fleet, instance: &str) {
    until(engine, run, |kind| {
        matches!(kind, EventKind::InstanceReplaced { fleet: f, instance: i, .. } if *f == fleet && i == instance)
    })
    .await;
}

async fn finish(engine: &Engine, run: &str) -> (RunOutcome, Vec<Event>) {
    let outcome = engine.wait(run).await.expect("run ends");
    let events = engine.store().events(run).expect("events");
    (outcome, events)
}

fn rolled_back(outcome: &RunOutcome) -> (Phase, RollbackCause) {
    match outcome {
        RunOutcome::RolledBack { phase, cause } => (*phase, cause.clone()),
        other => panic!("expected a rollback, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_notebook_canary_to_incompatible_rolls_back_once_green_has_all_traffic() {
    let engine = engine().await;
    let run = engine
        .start_rollout(&notebook_to("incompatible"), SCALE)
        .await
        .expect("accepted");
    let (outcome, events) = finish(&engine, &run).await;
    // The notebook's alarm is endpoint-wide: Average of a 0/1 error metric is the
    // error fraction, so with the canary at 25 % it cannot reach 1. It fires in
    // the final bake, when every request goes to the failing green fleet.
    let (phase, cause) = rolled_back(&outcome);
    assert_eq!(phase, Phase::FinalBake, "{events:#?}");
    match cause {
        RollbackCause::Alarm { alarm, reason } => {
            assert_eq!(alarm, "TestAlarm-5XXErrors-guardrail-demo");
            assert!(reason.contains("greater than or equal to 1"), "{reason}");
        }
        other => panic!("unexpected cause {other:?}"),
    }
    // During the canary bake green failed, but the alarm saw about a quarter.
    let canary_errors: Vec<u64> = events
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::MetricPeriod { green, .. } if green.invocations > 0 => {
                Some(green.invocation_5xx_errors * 100 / green.invocations)
            }
            _ => None,
        })
        .collect();
    assert!(
        canary_errors.iter().all(|percent| *percent == 100),
        "{canary_errors:?}"
    );
    let status = engine.endpoint_status(DEMO_ENDPOINT).await.expect("status");
    assert_eq!(status.config, "baseline");
    assert_eq!(status.blue.len(), 3);
    assert!(status.green.is_empty());
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_fleet_alarm_rolls_back_during_the_canary_bake() {
    let engine = engine().await;
    let mut plan = notebook_to("incompatible");
    let alarm = &mut plan.alarms[0];
    alarm
        .dimensions
        .push(Dimension::new("EndpointConfigName", "incompatible"));
    alarm.threshold = Some(0.05);
    let run = engine.start_rollout(&plan, SCALE).await.expect("accepted");
    let (outcome, events) = finish(&engine, &run).await;
    let (phase, cause) = rolled_back(&outcome);
    assert_eq!(phase, Phase::CanaryBake, "{events:#?}");
    assert!(matches!(cause, RollbackCause::Alarm { .. }), "{cause:?}");
    let all = kinds(&events);
    let shifted_back = all.iter().rev().find_map(|kind| match kind {
        EventKind::TrafficShifted {
            green_traffic_bp, ..
        } => Some(*green_traffic_bp),
        _ => None,
    });
    assert_eq!(shifted_back, Some(0), "traffic returns to blue");
    assert!(all.contains(&&EventKind::RollbackCompleted));
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_notebook_canary_to_fixed_succeeds_and_terminates_blue_after_the_final_bake() {
    let engine = engine().await;
    let before = engine.endpoint_status(DEMO_ENDPOINT).await.expect("status");
    let run = engine
        .start_rollout(&notebook_to("fixed"), SCALE)
        .await
        .expect("accepted");
    let (outcome, events) = finish(&engine, &run).await;
    assert_eq!(outcome, RunOutcome::Succeeded, "{events:#?}");
    let all = kinds(&events);
    let position = |wanted: &EventKind| {
        all.iter()
            .position(|kind| *kind == wanted)
            .unwrap_or_else(|| panic!("no {wanted:?} in {all:#?}"))
    };
    let final_bake_ended = position(&EventKind::BakeEnded {
        phase: Phase::FinalBake,
    });
    let blue_terminated = position(&EventKind::InstancesTerminated {
        fleet: Fleet::Blue,
        instances: 3,
    });
    assert!(final_bake_ended < blue_terminated);
    assert!(position(&EventKind::Succeeded) > blue_terminated);
    assert!(matches!(
        all.last(),
        Some(EventKind::Finished {
            outcome: RunOutcome::Succeeded
        })
    ));
    let after = engine.endpoint_status(DEMO_ENDPOINT).await.expect("status");
    assert_eq!(after.config, "fixed");
    assert_eq!(after.blue.len(), 3);
    // The old fleet is gone: its instances no longer answer.
    let client = reqwest::Client::new();
    for url in &before.blue {
        let answer = client.get(format!("{url}/ping")).send().await;
        assert!(
            answer
                .map(|response| !response.status().is_success())
                .unwrap_or(true),
            "{url} still answers"
        );
    }
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_fails_safely_back_to_blue() {
    let engine = engine().await;
    // Green never passes its health check; the 1800 s timeout takes 3 s at this scale.
    let run = engine
        .start_rollout(&notebook_to("unready"), 600.0)
        .await
        .expect("accepted");
    let (outcome, events) = finish(&engine, &run).await;
    let (phase, cause) = rolled_back(&outcome);
    assert!(matches!(phase, Phase::Provisioning { .. }), "{phase:?}");
    assert_eq!(
        cause,
        RollbackCause::Timeout {
            timeout_seconds: 1_800
        }
    );
    assert!(kinds(&events).contains(&&EventKind::TimedOut {
        timeout_seconds: 1_800
    }));
    let status = engine.endpoint_status(DEMO_ENDPOINT).await.expect("status");
    assert_eq!(status.config, "baseline");
    assert!(status.green.is_empty());
    // Blue still serves.
    let client = reqwest::Client::new();
    for url in &status.blue {
        let response = client
            .get(format!("{url}/ping"))
            .send()
            .await
            .expect("blue answers");
        assert!(response.status().is_success());
    }
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_concurrent_update_is_refused() {
    let engine = engine().await;
    let first = engine
        .start_rollout(&notebook_to("fixed"), 1.0)
        .await
        .expect("accepted");
    let second = engine.start_rollout(&notebook_to("fixed"), 1.0).await;
    match second {
        Err(EngineError::Busy { endpoint, run }) => {
            assert_eq!(endpoint, DEMO_ENDPOINT);
            assert_eq!(run, first);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let message = engine
        .start_rollout(&notebook_to("fixed"), 1.0)
        .await
        .expect_err("refused")
        .to_string();
    assert!(message.contains("already being updated"), "{message}");
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_green_instance_killed_mid_canary_is_replaced_and_the_update_goes_on() {
    let engine = engine().await;
    let run = engine
        .start_rollout(&notebook_to("fixed"), 60.0)
        .await
        .expect("accepted");
    canary_bake(&engine, &run).await;
    let killed = engine
        .kill_instance(DEMO_ENDPOINT, Fleet::Green, 0)
        .await
        .expect("kill");
    until_replaced(&engine, &run, Fleet::Green, &killed).await;
    let routing = engine.router_of(DEMO_ENDPOINT).expect("router").routing();
    let replacement = format!("{killed}-replacement");
    assert!(
        routing
            .green
            .iter()
            .any(|target| *target.instance == *replacement)
            && routing
                .green
                .iter()
                .all(|target| *target.instance != *killed),
        "the replacement serves in its place: {routing:?}"
    );
    let (outcome, events) = finish(&engine, &run).await;
    assert_eq!(outcome, RunOutcome::Succeeded, "{events:#?}");
    let failed = instance_failures(&events);
    assert!(
        matches!(
            failed.as_slice(),
            [EventKind::InstanceFailed { fleet: Fleet::Green, instance, reason }]
                if *instance == killed && reason.contains("stopped") && reason.contains("replaced")
        ),
        "{failed:#?}"
    );
    engine.shutdown().await;
}

/// Each fleet's requests and 5XX errors over the run's metric periods.
fn fleet_totals(events: &[Event]) -> [(u64, u64); 2] {
    events
        .iter()
        .fold([(0, 0); 2], |[blue, green], event| match &event.kind {
            EventKind::MetricPeriod {
                blue: b, green: g, ..
            } => [
                (blue.0 + b.invocations, blue.1 + b.invocation_5xx_errors),
                (green.0 + g.invocations, green.1 + g.invocation_5xx_errors),
            ],
            _ => [blue, green],
        })
}

async fn canary_bake(engine: &Engine, run: &str) {
    until(engine, run, |kind| {
        matches!(
            kind,
            EventKind::BakeStarted {
                phase: Phase::CanaryBake,
                ..
            }
        )
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_green_instance_is_replaced_and_when_its_replacement_hangs_too_the_update_rolls_back(
) {
    let engine = engine().await;
    let run = engine
        .start_rollout(&notebook_to("fixed"), 60.0)
        .await
        .expect("accepted");
    // Both fleets serve a period first.
    until(
        &engine,
        &run,
        |kind| matches!(kind, EventKind::MetricPeriod { green, .. } if green.invocations > 0),
    )
    .await;
    let hung = engine
        .hang_instance(DEMO_ENDPOINT, Fleet::Green, 0)
        .await
        .expect("hang");
    until_replaced(&engine, &run, Fleet::Green, &hung).await;
    // The replacement took the hung instance's place: it hangs too.
    let replacement = engine
        .hang_instance(DEMO_ENDPOINT, Fleet::Green, 0)
        .await
        .expect("hang");
    assert_eq!(replacement, format!("{hung}-replacement"));
    let (outcome, events) = finish(&engine, &run).await;
    let (phase, cause) = rolled_back(&outcome);
    assert_eq!(phase, Phase::CanaryBake, "{events:#?}");
    match cause {
        RollbackCause::GreenUnhealthy { reason } => {
            assert!(reason.contains(&replacement), "{reason}");
            assert!(reason.contains("3 health checks in a row"), "{reason}");
            assert!(reason.contains("did not answer within"), "{reason}");
        }
        other => panic!("unexpected cause {other:?}"),
    }
    let [blue, green] = fleet_totals(&events);
    assert!(
        blue.0 > 0 && green.0 > 0,
        "both fleets served: {blue:?} {green:?}"
    );
    assert_eq!(blue.1, 0, "no request sent to blue failed");
    // Whatever green held was released when it was terminated: the endpoint
    // serves again, on blue.
    let status = engine
        .endpoint_status(DEMO_ENDPOINT)
        .await
        .expect("endpoint");
    assert_eq!(status.config, "baseline");
    assert!(status.green.is_empty(), "green terminated: {status:?}");
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blue_instance_crashing_mid_canary_is_reported_replaced_and_not_blamed_on_green() {
    let engine = engine().await;
    let run = engine
        .start_rollout(&notebook_to("fixed"), 60.0)
        .await
        .expect("accepted");
    canary_bake(&engine, &run).await;
    let crashed = engine
        .kill_instance(DEMO_ENDPOINT, Fleet::Blue, 0)
        .await
        .expect("kill");
    let router = engine.router_of(DEMO_ENDPOINT).expect("router");
    until(&engine, &run, |kind| {
        matches!(
            kind,
            EventKind::InstanceFailed {
                fleet: Fleet::Blue,
                ..
            }
        )
    })
    .await;
    until_replaced(&engine, &run, Fleet::Blue, &crashed).await;
    let routing = router.routing();
    assert!(
        routing
            .blue
            .iter()
            .all(|target| &*target.instance != crashed.as_str()),
        "no longer routed to: {routing:?}"
    );
    assert_eq!(routing.blue.len(), 3, "its replacement serves: {routing:?}");
    let (outcome, events) = finish(&engine, &run).await;
    assert_eq!(outcome, RunOutcome::Succeeded, "{events:#?}");
    let failed = instance_failures(&events);
    assert!(
        matches!(
            failed.as_slice(),
            [EventKind::InstanceFailed { fleet: Fleet::Blue, instance, reason }]
                if instance == &crashed && reason.contains("not counted against green")
        ),
        "{failed:#?}"
    );
    let [_, green] = fleet_totals(&events);
    assert_eq!(green.1, 0, "green itself never failed a request");
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_that_fail_at_rest_are_replaced_and_the_endpoint_keeps_its_count() {
    // The API clock 60 times faster: health checks every 25 ms of real time
    // (their floor), each allowed 250 ms.
    let engine = Engine::start(
        Registry::demo(),
        Store::in_memory().expect("store"),
        EngineOptions {
            load_rps: 50.0,
            seed: 7,
            api_time_scale: 60.0,
            ..EngineOptions::default()
        },
    )
    .await
    .expect("engine starts");
    let router = engine.router_of(DEMO_ENDPOINT).expect("router");
    let before: Vec<String> = router
        .routing()
        .blue
        .iter()
        .map(|target| target.instance.to_string())
        .collect();
    assert_eq!(before.len(), 3);
    // One crashes; another hangs (it takes requests, /ping included, and
    // answers none).
    let crashed = engine
        .kill_instance(DEMO_ENDPOINT, Fleet::Blue, 0)
        .await
        .expect("kill");
    let hung = engine
        .hang_instance(DEMO_ENDPOINT, Fleet::Blue, 1)
        .await
        .expect("hang");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let serving = loop {
        let serving: Vec<String> = router
            .routing()
            .blue
            .iter()
            .map(|target| target.instance.to_string())
            .collect();
        if serving.len() == 3 && serving.iter().all(|id| id != &crashed && id != &hung) {
            break serving;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "both should be replaced: {serving:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let status = engine
        .endpoint_status(DEMO_ENDPOINT)
        .await
        .expect("endpoint");
    assert_eq!(status.status, "InService");
    assert_eq!(status.blue.len(), 3, "{status:?} serving {serving:?}");
    let client = reqwest::Client::new();
    for url in &status.blue {
        let ping = client
            .get(format!("{url}/ping"))
            .send()
            .await
            .expect("the instance answers");
        assert!(ping.status().is_success(), "{url} is healthy");
    }
    // The endpoint at its count updates as before.
    let run = engine
        .start_rollout(&notebook_to("fixed"), SCALE)
        .await
        .expect("accepted");
    let (outcome, events) = finish(&engine, &run).await;
    assert_eq!(outcome, RunOutcome::Succeeded, "{events:#?}");
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_persisted_in_order_and_a_late_viewer_receives_all_of_them() {
    let engine = engine().await;
    let run = engine
        .start_rollout(&notebook_to("fixed"), SCALE)
        .await
        .expect("accepted");
    // Join late: after the canary bake has begun.
    let (mut seen, receiver) = loop {
        let (history, receiver) = engine.store().follow(&run).expect("follow");
        if history
            .iter()
            .any(|event| matches!(event.kind, EventKind::BakeStarted { .. }))
        {
            break (history, receiver);
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert!(seen.len() > 3, "history first");
    if let Some(mut receiver) = receiver {
        while !matches!(
            seen.last().map(|event| &event.kind),
            Some(EventKind::Finished { .. })
        ) {
            match receiver.recv().await.expect("live event") {
                Live::Event(event) => seen.push(*event),
                Live::Ended(reason) => panic!("the record ended: {reason}"),
            }
        }
    }
    let stored = engine.store().events(&run).expect("events");
    assert_eq!(seen, stored);
    let sequence: Vec<u64> = stored.iter().map(|event| event.seq).collect();
    assert_eq!(sequence, (1..=stored.len() as u64).collect::<Vec<_>>());
    assert!(stored.windows(2).all(|pair| pair[0].at_ms <= pair[1].at_ms));
    assert!(matches!(stored[0].kind, EventKind::PlanAccepted { .. }));
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_rollback_is_re_judged_exactly_and_a_tighter_alarm_fires_in_the_canary() {
    let engine = engine().await;
    let plan = notebook_to("incompatible");
    let run = engine.start_rollout(&plan, SCALE).await.expect("starts");
    let (outcome, _) = finish(&engine, &run).await;
    assert!(
        matches!(outcome, RunOutcome::RolledBack { .. }),
        "{outcome:?}"
    );
    // From the store, as `guardrail retro` reads it: the ticks survive it.
    let events = engine.store().events(&run).expect("events");
    let recorded = |name: &str| {
        events.iter().find_map(|event| match &event.kind {
            EventKind::AlarmStateChanged { alarm, to, .. }
                if alarm == name && *to == guardrail_core::alarm::AlarmState::Alarm =>
            {
                Some(event.at_ms)
            }
            _ => None,
        })
    };

    // The run's own alarms: the same verdict, at the same period.
    let same = guardrail_core::retro::rejudge(&events, &plan, &plan.alarms).expect("re-judged");
    let fired = recorded("TestAlarm-5XXErrors-guardrail-demo").expect("the run's alarm fired");
    assert_eq!(same.alarms[0].first_alarm_ms, Some(fired));
    assert_eq!(same.alarms[0].recorded_alarm_ms, Some(fired));
    assert_eq!(same.rollback_at_ms, Some(fired));
    assert_eq!(same.rollback_phase, Some(Phase::FinalBake));
    assert_eq!(same.spared_failures, 0, "{}", same.verdict);
    // Every transition of every alarm, not only the first ALARM.
    for (index, alarm) in plan.alarms.iter().enumerate() {
        let recorded: Vec<(u64, String)> = events
            .iter()
            .filter_map(|event| match &event.kind {
                EventKind::AlarmStateChanged {
                    alarm: name, to, ..
                } if *name == alarm.alarm_name => Some((event.at_ms, to.as_str().to_string())),
                _ => None,
            })
            .collect();
        let rejudged: Vec<(u64, String)> = same.alarms[index]
            .transitions
            .iter()
            .filter(|change| change.at_ms <= fired)
            .map(|change| (change.at_ms, change.to.as_str().to_string()))
            .collect();
        assert_eq!(rejudged, recorded, "{}", alarm.alarm_name);
    }

    // Invocation5XXErrors Average >= 0.1 on the new config only: it fires in
    // the canary bake, and rolling back then spares green's later failures.
    let mut green = plan.alarms[0].clone();
    green.alarm_name = "green-5xx".into();
    green.threshold = Some(0.1);
    green
        .dimensions
        .push(Dimension::new("EndpointConfigName", "incompatible"));
    let tighter = guardrail_core::retro::rejudge(&events, &plan, &[green]).expect("re-judged");
    assert_eq!(
        tighter.rollback_phase,
        Some(Phase::CanaryBake),
        "{}",
        tighter.verdict
    );
    let at = tighter.rollback_at_ms.expect("it would roll back");
    assert!(at < fired);
    assert!(tighter.spared_failures > 0, "{}", tighter.verdict);
    assert!(tighter.spared_failures <= tighter.spared_requests);
    assert!(
        tighter.verdict.contains("during the canary bake"),
        "{}",
        tighter.verdict
    );

    // A period finer than the record's ticks cannot be re-judged exactly.
    let mut fine = plan.alarms[0].clone();
    fine.period = Some(30);
    let error = guardrail_core::retro::rejudge(&events, &plan, &[fine]).expect_err("refused");
    assert!(error.to_string().contains("multiples of 60 s"), "{error}");
    engine.shutdown().await;
}

/// `guardrail serve`'s application for `engine` on a free loopback port,
/// with an empty planner; stopped when dropped.
struct App {
    base: String,
    task: tokio::task::JoinHandle<()>,
    dist: std::path::PathBuf,
}

impl Drop for App {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_dir_all(&self.dist);
    }
}

async fn serve_app(engine: &Engine, label: &str) -> App {
    let dist = std::env::temp_dir().join(format!("gr-dist-{label}-{}", std::process::id()));
    std::fs::create_dir_all(&dist).expect("dist");
    std::fs::write(dist.join("index.html"), "<html></html>").expect("index");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let app = guardrail_server::web::app(&dist, engine.clone());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    App { base, task, dist }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_viewers_of_a_live_run_each_receive_every_event_in_order() {
    let engine = engine().await;
    let app = serve_app(&engine, "viewers").await;
    let run = engine
        .start_rollout(&notebook_to("incompatible"), 240.0)
        .await
        .expect("accepted");
    let viewers: Vec<_> = (0..100)
        .map(|_| {
            let (base, run) = (app.base.clone(), run.clone());
            tokio::spawn(async move { common::run_record(&base, &run).await.1 })
        })
        .collect();
    let (outcome, events) = finish(&engine, &run).await;
    rolled_back(&outcome);
    for viewer in viewers {
        assert_eq!(viewer.await.expect("a viewer"), events);
    }
    drop(app);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_and_a_review_link_are_drawn_as_svg_with_every_phase() {
    let engine = engine().await;
    let app = serve_app(&engine, "svg").await;
    let base = app.base.clone();
    let plan = notebook_to("fixed");
    let run = engine
        .start_rollout(&plan, SCALE)
        .await
        .expect("the rollout starts");
    let events = loop {
        let events = engine.store().events(&run).expect("events");
        if events
            .iter()
            .any(|event| matches!(event.kind, EventKind::Finished { .. }))
        {
            break events;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let timeline = guardrail_core::event::RunTimeline::from_events(&events);
    assert!(timeline.phases.len() >= 4, "{:?}", timeline.phases);
    let client = reqwest::Client::new();
    let review = guardrail_core::record::review_link(&base, &plan, &events, None);
    let token = review.url.split_once("&r=").expect("self-contained").1;
    for url in [
        format!("{base}/runs/{run}/timeline.svg"),
        format!("{base}/timeline.svg?r={token}"),
    ] {
        let response = client.get(&url).send().await.expect("answered");
        assert!(response.status().is_success(), "{url}");
        assert_eq!(
            response.headers()["content-type"].to_str().ok(),
            Some("image/svg+xml")
        );
        let svg = response.text().await.expect("body");
        let document = roxmltree::Document::parse(&svg).expect("well-formed SVG");
        assert_eq!(document.root_element().tag_name().name(), "svg");
        let texts: Vec<String> = document
            .descendants()
            .filter(|node| node.has_tag_name("text"))
            .filter_map(|node| node.text().map(str::to_string))
            .collect();
        let all = texts.join("\n");
        assert!(
            all.contains("guardrail-demo: baseline → fixed: succeeded"),
            "{all}"
        );
        for span in &timeline.phases {
            assert!(
                all.contains(&span.phase.label()),
                "{} missing: {all}",
                span.phase.label()
            );
        }
    }
    // Unknown runs and damaged records say what is wrong.
    let missing = client
        .get(format!("{base}/runs/run-nope/timeline.svg"))
        .send()
        .await
        .expect("answered");
    assert_eq!(missing.status(), reqwest::StatusCode::NOT_FOUND);
    let damaged = client
        .get(format!("{base}/timeline.svg?r=1.AAAA"))
        .send()
        .await
        .expect("answered");
    assert_eq!(damaged.status(), reqwest::StatusCode::BAD_REQUEST);
    assert!(damaged.text().await.unwrap_or_default().contains("damaged"));
    drop(app);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_of_another_origin_can_start_nothing_and_change_no_alarm() {
    let engine = engine().await;
    let app = serve_app(&engine, "origin").await;
    let base = app.base.clone();
    let client = reqwest::Client::new();
    let start = |origin: Option<&str>| {
        let mut request = client.post(format!("{base}/api/start_rollout")).form(&[
            ("plan_json", notebook_to("fixed").to_json_pretty()),
            ("time_scale", SCALE.to_string()),
        ]);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.send()
    };

    // The planner served elsewhere (a review link opened from a static host),
    // or any web page, posting the same form a browser would.
    for origin in ["https://reviews.example.com", "null", "http://127.0.0.1:1"] {
        let refused = start(Some(origin)).await.expect("answered");
        assert_eq!(refused.status(), reqwest::StatusCode::FORBIDDEN, "{origin}");
        let error: guardrail_app::api::ServiceError = refused.json().await.expect("a ServiceError");
        assert_eq!(error.kind, guardrail_app::api::ErrorKind::Refused);
        assert!(
            error.message.contains("another origin"),
            "{}",
            error.message
        );
    }
    assert!(
        engine.store().runs().expect("runs").is_empty(),
        "nothing started"
    );

    // CloudWatch's query protocol is a form post too: refused in its own format.
    let put = |origin: Option<&str>| {
        let mut request = client
            .post(format!("{base}/"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("Action=PutMetricAlarm&Version=2010-08-01&AlarmName=sneaky&MetricName=Invocations&Namespace=AWS%2FSageMaker&Statistic=Sum&Period=60&EvaluationPeriods=1&Threshold=1&ComparisonOperator=GreaterThanThreshold");
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.send()
    };
    let refused = put(Some("https://evil.example")).await.expect("answered");
    assert_eq!(refused.status(), reqwest::StatusCode::FORBIDDEN);
    let body = refused.text().await.expect("body");
    assert!(body.contains("<Code>AccessDenied</Code>"), "{body}");

    // The planner's own page, and clients that send no Origin (the CLI, the
    // SDKs), go through.
    let own = start(Some(&base)).await.expect("answered");
    assert!(
        own.status().is_success(),
        "{}",
        own.text().await.unwrap_or_default()
    );
    assert!(put(None).await.expect("answered").status().is_success());
    drop(app);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_functions_start_a_rollout_and_stream_its_events_to_a_late_viewer() {
    let engine = engine().await;
    let app = serve_app(&engine, "functions").await;
    let base = app.base.clone();
    let client = reqwest::Client::new();

    let response = client
        .post(format!("{base}/api/start_rollout"))
        .form(&[
            ("plan_json", notebook_to("fixed").to_json_pretty()),
            ("time_scale", SCALE.to_string()),
        ])
        .send()
        .await
        .expect("start");
    assert!(response.status().is_success());
    let run: String = response.json().await.expect("a run id");

    // The router counts external requests too.
    let invoked = client
        .post(format!("{base}/endpoints/{DEMO_ENDPOINT}/invocations"))
        .header("content-type", "text/csv")
        .body("1,2,3")
        .send()
        .await
        .expect("invoke");
    assert!(invoked.status().is_success());

    // Connect late, once the canary bakes: history first, then live, to the end.
    loop {
        let events = engine.store().events(&run).expect("events");
        if events
            .iter()
            .any(|event| matches!(event.kind, EventKind::BakeStarted { .. }))
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let body = client
        .post(format!("{base}/api/run_events"))
        .form(&[("run_id", run.as_str())])
        .send()
        .await
        .expect("events")
        .text()
        .await
        .expect("stream ends when the run does");
    let streamed: Vec<Event> = body
        .lines()
        .map(|line| serde_json::from_str(line).expect("an event per line"))
        .collect();
    assert_eq!(streamed, engine.store().events(&run).expect("stored"));
    assert!(matches!(
        streamed.last().map(|event| &event.kind),
        Some(EventKind::Finished {
            outcome: RunOutcome::Succeeded
        })
    ));

    // A refused start says why, without internals.
    let refused = client
        .post(format!("{base}/api/start_rollout"))
        .form(&[("plan_json", "{\"EndpointName\": 5}"), ("time_scale", "60")])
        .send()
        .await
        .expect("answer");
    assert_eq!(refused.status(), reqwest::StatusCode::BAD_REQUEST);
    let refusal: serde_json::Value = refused.json().await.expect("a typed error");
    assert_eq!(refusal["kind"], "input", "{refusal}");
    let message = refusal["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("not a plan: line 1"), "{message}");

    let runs = client
        .post(format!("{base}/api/list_runs"))
        .send()
        .await
        .expect("runs")
        .text()
        .await
        .expect("text");
    assert!(runs.contains(&run), "{runs}");
    drop(app);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_rollback_restores_the_blue_batch_it_had_removed() {
    let engine = engine().await;
    let mut plan: Plan = Plan::from_json(examples::ROLLING).expect("example");
    plan.endpoint_config_name = "incompatible".into();
    plan.alarms[1].threshold = Some(1_000_000.0);
    if let Some(policy) = plan
        .deployment_config
        .as_mut()
        .and_then(|config| config.rolling_update_policy.as_mut())
    {
        policy.wait_interval_in_seconds = Some(120);
    }
    // Three breaching minutes of the new fleet: too slow for batch 1's 120 s bake,
    // so the alarm fires in batch 2, after one blue instance was removed.
    let alarm = &mut plan.alarms[0];
    alarm
        .dimensions
        .push(Dimension::new("EndpointConfigName", "incompatible"));
    alarm.threshold = Some(0.5);
    alarm.evaluation_periods = Some(3);
    let run = engine.start_rollout(&plan, SCALE).await.expect("accepted");
    let (outcome, events) = finish(&engine, &run).await;
    let (phase, _) = rolled_back(&outcome);
    assert_eq!(
        phase,
        Phase::RollingBatchBake {
            batch: 2,
            batches: 3
        },
        "{events:#?}"
    );
    let all = kinds(&events);
    assert!(all.contains(&&EventKind::InstancesTerminated {
        fleet: Fleet::Blue,
        instances: 1
    }));
    assert!(
        all.iter().any(|kind| matches!(
            kind,
            EventKind::InstanceHealthy {
                fleet: Fleet::Blue,
                ..
            }
        )),
        "{all:#?}"
    );
    let status = engine.endpoint_status(DEMO_ENDPOINT).await.expect("status");
    assert_eq!(status.config, "baseline");
    assert_eq!(status.blue.len(), 3, "blue is back to full capacity");
    assert!(status.green.is_empty());
    engine.shutdown().await;
}

/// Follows a run's live events until one matches.
async fn until(engine: &Engine, run: &str, wanted: impl Fn(&EventKind) -> bool) {
    let (history, receiver) = engine.store().follow(run).expect("follow");
    if history.iter().any(|event| wanted(&event.kind)) {
        return;
    }
    let mut receiver = receiver.expect("still live");
    loop {
        match receiver.recv().await.expect("an event") {
            Live::Event(event) if wanted(&event.kind) => return,
            Live::Event(_) => {}
            Live::Ended(reason) => panic!("the record ended: {reason}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abort_rolls_back_records_who_asked_and_frees_the_endpoint() {
    let engine = engine().await;
    let run = engine
        .start_rollout(&notebook_to("fixed"), 60.0)
        .await
        .expect("accepted");
    until(&engine, &run, |kind| {
        matches!(
            kind,
            EventKind::BakeStarted {
                phase: Phase::CanaryBake,
                ..
            }
        )
    })
    .await;
    engine.abort(&run, "ops@example").await.expect("aborted");
    let (outcome, events) = finish(&engine, &run).await;
    let (phase, cause) = rolled_back(&outcome);
    assert_eq!(phase, Phase::CanaryBake);
    assert_eq!(
        cause,
        RollbackCause::Aborted {
            by: "ops@example".into()
        }
    );
    // Who asked and when: the rollback's event names them, with its wall time.
    let started = events
        .iter()
        .find(|event| matches!(event.kind, EventKind::RollbackStarted { .. }))
        .expect("a rollback");
    let canary_at = events
        .iter()
        .find(|event| matches!(event.kind, EventKind::BakeStarted { .. }))
        .map(|event| event.at_ms)
        .expect("the canary bake");
    assert!(
        started.wall_ms > 0 && started.at_ms >= canary_at,
        "{started:?}"
    );
    assert!(
        started.describe().contains("aborted by ops@example"),
        "{}",
        started.describe()
    );
    let status = engine.endpoint_status(DEMO_ENDPOINT).await.expect("status");
    assert_eq!(
        (status.config.as_str(), status.updating.clone()),
        ("baseline", None)
    );
    assert!(status.green.is_empty());
    // The run is no longer held in memory, but its outcome is still known.
    assert_eq!(engine.runs_in_progress(), 0);
    assert_eq!(engine.wait(&run).await.expect("outcome"), outcome);
    let again = engine.abort(&run, "ops").await.expect_err("already ended");
    assert!(
        matches!(&again, EngineError::AbortRefused { reason, .. } if reason.contains("already ended")),
        "{again}"
    );
    let unknown = engine.abort("run-nope", "ops").await.expect_err("unknown");
    assert!(matches!(unknown, EngineError::Store(_)), "{unknown}");
    // The endpoint is free for the next update.
    let next = engine
        .start_rollout(&notebook_to("fixed"), 600.0)
        .await
        .expect("the endpoint is free");
    engine.abort(&next, "test").await.expect("aborted");
    let (next_outcome, _) = finish(&engine, &next).await;
    assert!(
        matches!(next_outcome, RunOutcome::RolledBack { .. }),
        "{next_outcome:?}"
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_time_scale_is_bounded_on_both_sides() {
    let engine = engine().await;
    for scale in [1e-300, 0.0, -1.0, 0.5, 20_000.0, f64::NAN, f64::INFINITY] {
        let refused = engine
            .start_rollout(&notebook_to("fixed"), scale)
            .await
            .expect_err("out of range");
        assert!(
            matches!(refused, EngineError::TimeScale(_)),
            "{scale}: {refused}"
        );
        assert!(
            refused.to_string().contains("allowed 1 to 10000"),
            "{refused}"
        );
    }
    let status = engine.endpoint_status(DEMO_ENDPOINT).await.expect("status");
    assert_eq!(
        status.updating, None,
        "a refused start leaves the endpoint free"
    );
    engine.shutdown().await;
}

/// Fields of the notebook canary that take numbers, by JSON pointer.
const NUMBER_FIELDS: [&str; 10] = [
    "/InstanceCount",
    "/ProvisioningSeconds",
    "/DeploymentConfig/BlueGreenUpdatePolicy/TerminationWaitInSeconds",
    "/DeploymentConfig/BlueGreenUpdatePolicy/MaximumExecutionTimeoutInSeconds",
    "/DeploymentConfig/BlueGreenUpdatePolicy/TrafficRoutingConfiguration/WaitIntervalInSeconds",
    "/DeploymentConfig/BlueGreenUpdatePolicy/TrafficRoutingConfiguration/CanarySize/Value",
    "/Alarms/0/Period",
    "/Alarms/0/EvaluationPeriods",
    "/Alarms/0/DatapointsToAlarm",
    "/Alarms/0/Threshold",
];

/// One engine for every case of the property below: starting one launches
/// three model servers.
fn shared_engine() -> &'static (tokio::runtime::Runtime, Engine) {
    static SHARED: std::sync::OnceLock<(tokio::runtime::Runtime, Engine)> =
        std::sync::OnceLock::new();
    SHARED.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let engine = runtime.block_on(engine());
        (runtime, engine)
    })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(40))]

    /// Extreme numbers in any field: the engine refuses the plan with a message,
    /// or runs it safely (here aborted at once) and frees the endpoint; it never
    /// panics, hangs or leaves the endpoint busy.
    #[test]
    fn extreme_numbers_are_refused_or_run_safely(
        edits in proptest::collection::vec(
            (
                proptest::sample::select(NUMBER_FIELDS.to_vec()),
                proptest::sample::select(vec![
                    serde_json::json!(i64::MIN),
                    serde_json::json!(-1),
                    serde_json::json!(0),
                    serde_json::json!(1),
                    serde_json::json!(60),
                    serde_json::json!(3_600),
                    serde_json::json!(u32::MAX),
                    serde_json::json!(60_i64 << 32),
                    serde_json::json!(i64::MAX),
                    serde_json::json!(f64::MAX),
                    serde_json::json!(f64::MIN_POSITIVE),
                    serde_json::json!(-1e300),
                ]),
            ),
            1..4,
        ),
    ) {
        let (runtime, engine) = shared_engine();
        let mut plan = serde_json::to_value(notebook_to("fixed")).expect("json");
        for (pointer, value) in &edits {
            let (parent, key) = pointer.rsplit_once('/').expect("a parent");
            plan.pointer_mut(parent)
                .and_then(serde_json::Value::as_object_mut)
                .expect("the parent object")
                .insert(key.to_string(), value.clone());
        }
        // A float in an integer field is not a plan at all: the parser says so.
        let Ok(plan) = serde_json::from_value::<Plan>(plan) else {
            return Ok(());
        };
        runtime.block_on(async {
            match engine.start_rollout(&plan, 600.0).await {
                Err(EngineError::InvalidPlan(message)) => assert!(!message.is_empty()),
                Err(other) => panic!("{edits:?}: {other}"),
                Ok(run) => {
                    // An alarm may roll it back first (a threshold of -1e300).
                    match engine.abort(&run, "test").await {
                        Ok(()) | Err(EngineError::AbortRefused { .. }) => {}
                        Err(other) => panic!("{edits:?}: {other}"),
                    }
                    let (outcome, _) = finish(engine, &run).await;
                    assert!(matches!(outcome, RunOutcome::RolledBack { .. }), "{outcome:?}");
                }
            }
            let status = engine.endpoint_status(DEMO_ENDPOINT).await.expect("status");
            assert_eq!((status.config.as_str(), status.updating), ("baseline", None));
        });
    }
}

async fn engine_on(store: Store) -> Engine {
    engine_with(Registry::demo(), store).await
}

fn scratch(label: &str) -> std::path::PathBuf {
    let directory = std::env::temp_dir().join(format!("gr-engine-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    directory
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_fills_up_fails_the_run_loudly_and_returns_traffic_to_blue() {
    // Five 4 KB pages: the tables and a handful of events, as on a full disk.
    let directory = scratch("full");
    let store = Store::open_limited(&directory, Some(5 * 4_096)).expect("store");
    let engine = engine_on(store).await;
    let run = engine
        .start_rollout(&notebook_to("fixed"), SCALE)
        .await
        .expect("accepted");
    let lines = guardrail_server::web::event_lines(engine.store().clone(), &run).expect("follow");
    let outcome = engine.wait(&run).await.expect("the run ends");
    let reason = match &outcome {
        RunOutcome::Failed { reason } => reason.clone(),
        other => panic!("expected a failure, got {other:?}"),
    };
    assert!(
        reason.contains("could not record event") && reason.contains("full"),
        "{reason}"
    );
    // A viewer is not left waiting: its stream ends with the reason.
    use futures::StreamExt;
    let streamed: Vec<String> = lines.collect().await;
    let last: guardrail_core::event::StreamLine =
        serde_json::from_str(streamed.last().expect("lines")).expect("a stream line");
    assert_eq!(
        last,
        guardrail_core::event::StreamLine::Ended {
            stream_ended: reason.clone()
        }
    );
    // What was recorded is a gapless prefix, without an outcome it never had.
    let stored = engine.store().events(&run).expect("events");
    let sequence: Vec<u64> = stored.iter().map(|event| event.seq).collect();
    assert_eq!(sequence, (1..=stored.len() as u64).collect::<Vec<_>>());
    assert!(!stored
        .iter()
        .any(|event| matches!(event.kind, EventKind::Finished { .. })));
    // The rollout was aborted: blue serves, green is gone, the endpoint is free.
    let status = engine.endpoint_status(DEMO_ENDPOINT).await.expect("status");
    assert_eq!(status.config, "baseline", "{reason}");
    assert_eq!((status.blue.len(), status.green.len()), (3, 0));
    assert_eq!(status.updating, None);
    engine.shutdown().await;
    let _ = std::fs::remove_dir_all(&directory);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_store_refuses_a_run_clearly_and_leaves_the_endpoint_free() {
    let directory = scratch("read-only");
    drop(Store::open(&directory).expect("store"));
    let engine = engine_on(Store::open_read_only(&directory).expect("read-only")).await;
    let refused = engine
        .start_rollout(&notebook_to("fixed"), SCALE)
        .await
        .expect_err("cannot record a run");
    let message = refused.to_string();
    assert!(
        message.contains("the run store failed while recording a new run")
            && message.contains("readonly"),
        "{message}"
    );
    let status = engine.endpoint_status(DEMO_ENDPOINT).await.expect("status");
    assert_eq!(
        (status.config.as_str(), status.updating),
        ("baseline", None)
    );
    engine.shutdown().await;
    let _ = std::fs::remove_dir_all(&directory);
}

/// What a bad request must get back: its status, and text its body holds in
/// the caller's own format.
struct Bad {
    what: &'static str,
    path: &'static str,
    headers: &'static [(&'static str, &'static str)],
    body: Vec<u8>,
    status: u16,
    says: &'static str,
}

const SAGEMAKER: &[(&str, &str)] = &[
    ("x-amz-target", "SageMaker.DescribeEndpoint"),
    ("content-type", "application/x-amz-json-1.1"),
];
const CLOUDWATCH_JSON: &[(&str, &str)] = &[
    (
        "x-amz-target",
        "GraniteServiceVersion20100801.DescribeAlarms",
    ),
    ("content-type", "application/x-amz-json-1.0"),
];
const CBOR: &[(&str, &str)] = &[
    ("smithy-protocol", "rpc-v2-cbor"),
    ("content-type", "application/cbor"),
];
const FORM: &[(&str, &str)] = &[("content-type", "application/x-www-form-urlencoded")];

/// Every protocol guardrail serves answers malformed, mistyped, unknown and
/// oversized requests with a 4xx and a clear message in that protocol's own
/// error format, and the server goes on answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_a_4xx_in_the_callers_own_error_format() {
    let engine = engine().await;
    let app = serve_app(&engine, "bad").await;
    let base = app.base.clone();
    let cbor_path = "/service/GraniteServiceVersion20100801/operation/DescribeAlarms";
    let big = vec![b' '; 2 * 1024 * 1024];
    let table = [
        Bad {
            what: "SageMaker: not JSON",
            path: "/",
            headers: SAGEMAKER,
            body: b"{".to_vec(),
            status: 400,
            says: "\"__type\":\"SerializationException\"",
        },
        Bad {
            what: "SageMaker: not an object",
            path: "/",
            headers: SAGEMAKER,
            body: b"[]".to_vec(),
            status: 400,
            says: "must be a JSON object",
        },
        Bad {
            what: "SageMaker: a mistyped member",
            path: "/",
            headers: SAGEMAKER,
            body: br#"{"EndpointName": 5}"#.to_vec(),
            status: 400,
            says: "EndpointName: invalid type",
        },
        Bad {
            what: "SageMaker: an unknown operation",
            path: "/",
            headers: &[
                ("x-amz-target", "SageMaker.Nope"),
                ("content-type", "application/x-amz-json-1.1"),
            ],
            body: b"{}".to_vec(),
            status: 400,
            says: "UnknownOperationException",
        },
        Bad {
            what: "SageMaker: too large",
            path: "/",
            headers: SAGEMAKER,
            body: big.clone(),
            status: 413,
            says: "larger than",
        },
        Bad {
            what: "SageMaker: an unknown endpoint",
            path: "/",
            headers: SAGEMAKER,
            body: br#"{"EndpointName": "nope"}"#.to_vec(),
            status: 400,
            says: "ValidationException",
        },
        Bad {
            what: "SageMaker: a member guardrail does not model",
            path: "/",
            headers: SAGEMAKER,
            body: br#"{"EndpointName": "guardrail-demo", "Bogus": {"A": 1}}"#.to_vec(),
            status: 400,
            says: "unknown member(s) Bogus",
        },
        Bad {
            what: "CloudWatch JSON: a member guardrail does not model",
            path: "/",
            headers: CLOUDWATCH_JSON,
            body: br#"{"MaxRecords": 5, "AlarmNamePrefixx": "a"}"#.to_vec(),
            status: 400,
            says: "unknown member(s) AlarmNamePrefixx",
        },
        Bad {
            what: "CloudWatch JSON: not JSON",
            path: "/",
            headers: CLOUDWATCH_JSON,
            body: br#"{"MaxRecords":"#.to_vec(),
            status: 400,
            says: "InvalidParameterValueException",
        },
        Bad {
            what: "CloudWatch CBOR: not CBOR",
            path: cbor_path,
            headers: CBOR,
            body: vec![0xff, 0x00, 0x13],
            status: 400,
            says: "InvalidParameterValueException",
        },
        Bad {
            what: "CloudWatch query: a mistyped parameter",
            path: "/",
            headers: FORM,
            body: b"Action=DescribeAlarms&Version=2010-08-01&MaxRecords=abc".to_vec(),
            status: 400,
            says: "<Code>InvalidParameterValue</Code>",
        },
        Bad {
            what: "CloudWatch query: an unknown action",
            path: "/",
            headers: FORM,
            body: b"Action=Nope&Version=2010-08-01".to_vec(),
            status: 400,
            says: "<Code>InvalidAction</Code>",
        },
        Bad {
            what: "CloudWatch query: too large",
            path: "/",
            headers: FORM,
            body: big.clone(),
            status: 413,
            says: "<ErrorResponse",
        },
        Bad {
            what: "no protocol at all",
            path: "/",
            headers: &[("content-type", "text/plain")],
            body: b"hello".to_vec(),
            status: 400,
            says: "UnknownOperationException",
        },
        Bad {
            what: "server function: arguments that do not decode",
            path: "/api/start_rollout",
            headers: FORM,
            body: b"plan_json=%7B%7D&time_scale=abc".to_vec(),
            status: 400,
            says: "\"kind\":\"input\"",
        },
        Bad {
            what: "server function: not a plan",
            path: "/api/start_rollout",
            headers: FORM,
            body: b"plan_json=%7B&time_scale=60".to_vec(),
            status: 400,
            says: "not a plan",
        },
        Bad {
            what: "server function: an unknown run",
            path: "/api/run_plan",
            headers: FORM,
            body: b"run_id=nope".to_vec(),
            status: 409,
            says: "\"kind\":\"refused\"",
        },
        Bad {
            what: "timeline image: a damaged record",
            path: "/timeline.svg?r=garbage",
            headers: &[],
            body: Vec::new(),
            status: 400,
            says: "not a guardrail link",
        },
    ];
    // Every server function, with a body just over its limit and one far over
    // it: 413, saying the limit, in the planner's own error format.
    let limit = guardrail_server::web::MAX_SERVER_FUNCTION_BYTES;
    let just_over = vec![b'a'; limit + 1];
    let far_over = vec![b'a'; 50 * 1024 * 1024];
    let mut oversized = Vec::new();
    for function in [
        "/api/start_rollout",
        "/api/abort_rollout",
        "/api/run_target",
        "/api/list_backends",
        "/api/run_events",
        "/api/list_runs",
        "/api/run_plan",
    ] {
        for (what, body) in [("just over", &just_over), ("far over", &far_over)] {
            oversized.push(Bad {
                what: if what == "just over" {
                    "server function: a body just over the limit"
                } else {
                    "server function: a body far over the limit"
                },
                path: function,
                headers: FORM,
                body: body.clone(),
                status: 413,
                says: "larger than the limit of 1048576 bytes (1 MiB)",
            });
        }
    }
    // A connection per request: rows that the server answers without
    // reading their whole body close theirs, and this table is about the
    // answers, not about reusing connections.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("a client");
    for bad in table.into_iter().chain(oversized) {
        let mut request = if bad.body.is_empty() {
            client.get(format!("{base}{}", bad.path))
        } else {
            client
                .post(format!("{base}{}", bad.path))
                .body(bad.body.clone())
        };
        for (name, value) in bad.headers {
            request = request.header(*name, *value);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|error| panic!("{} {}: {error}", bad.what, bad.path));
        let status = response.status().as_u16();
        let bytes = response.bytes().await.expect("a body");
        // CBOR errors are CBOR: read the text inside.
        let text = if bad.path == cbor_path {
            let value: ciborium::Value =
                ciborium::de::from_reader(&bytes[..]).expect("a CBOR error body");
            format!("{value:?}")
        } else {
            String::from_utf8_lossy(&bytes).to_string()
        };
        assert_eq!(status, bad.status, "{} {}: {text}", bad.what, bad.path);
        assert!(text.contains(bad.says), "{} {}: {text}", bad.what, bad.path);
    }
    // And it still answers.
    let fine = client
        .post(format!("{base}/"))
        .header("x-amz-target", "SageMaker.DescribeEndpoint")
        .header("content-type", "application/x-amz-json-1.1")
        .body(format!(r#"{{"EndpointName": "{DEMO_ENDPOINT}"}}"#))
        .send()
        .await
        .expect("an answer");
    assert!(fine.status().is_success());
    engine.shutdown().await;
}

/// Instances that traffic has left are terminated only once the invocations
/// already routed to them are answered: back-to-back all-at-once updates
/// under load fail no request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_under_load_cut_no_request_in_flight() {
    let engine = engine().await;
    let router = engine.router_of(DEMO_ENDPOINT).expect("router");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let invokers: Vec<_> = (0..16)
        .map(|_| {
            let router = router.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let (mut ok, mut failed) = (0u32, Vec::new());
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let response = router
                        .invoke(axum::body::Bytes::from_static(b"1,2,3"), None)
                        .await;
                    if response.status().is_success() {
                        ok += 1;
                    } else {
                        let status = response.status();
                        let body = axum::body::to_bytes(response.into_body(), 4_096)
                            .await
                            .unwrap_or_default();
                        failed.push(format!("{status}: {}", String::from_utf8_lossy(&body)));
                    }
                }
                (ok, failed)
            })
        })
        .collect();
    for (index, config) in [
        "fixed", "baseline", "fixed", "baseline", "fixed", "baseline",
    ]
    .into_iter()
    .enumerate()
    {
        let mut plan = Plan::from_json(examples::ALL_AT_ONCE).expect("the example parses");
        plan.endpoint_config_name = config.into();
        if let Some(policy) = plan
            .deployment_config
            .as_mut()
            .and_then(|deployment| deployment.blue_green_update_policy.as_mut())
        {
            policy.termination_wait_in_seconds = Some(0);
        }
        for alarm in &mut plan.alarms {
            alarm.threshold = Some(1_000_000.0);
        }
        let run = engine
            .start_rollout(&plan, 1_000.0)
            .await
            .unwrap_or_else(|error| panic!("update {index}: {error}"));
        let (outcome, events) = finish(&engine, &run).await;
        assert_eq!(outcome, RunOutcome::Succeeded, "{events:#?}");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut ok = 0;
    let mut failed = Vec::new();
    for invoker in invokers {
        let (answered, failures) = invoker.await.expect("invoker");
        ok += answered;
        failed.extend(failures);
    }
    assert!(ok > 100, "the load ran: {ok}");
    assert!(
        failed.is_empty(),
        "{} failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(3)]
    );
    engine.shutdown().await;
}

/// The team example (new-fleet 5XX rate by metric math, the client's 10 s
/// rate, a business metric), to `config`, with the notebook's endpoint-wide
/// latency alarm raised as [`notebook_to`] does.
fn team_to(config: &str) -> Plan {
    let mut plan = Plan::from_json(examples::TEAM_GUARDRAILS).expect("the example");
    plan.endpoint_config_name = config.into();
    plan.alarms[1].threshold = Some(1_000_000.0);
    for alarm in &mut plan.alarms {
        for query in alarm.metrics.iter_mut().flatten() {
            if let Some(stat) = query.metric_stat.as_mut() {
                for dimension in &mut stat.metric.dimensions {
                    if dimension.name == "EndpointConfigName" {
                        dimension.value = config.into();
                    }
                }
            }
        }
    }
    plan
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_fleet_error_rate_by_metric_math_rolls_back_during_the_canary_bake() {
    let engine = engine().await;
    let run = engine
        .start_rollout(&team_to("incompatible"), SCALE)
        .await
        .expect("accepted");
    let (outcome, events) = finish(&engine, &run).await;
    let (phase, cause) = rolled_back(&outcome);
    assert_eq!(phase, Phase::CanaryBake, "{events:#?}");
    match cause {
        RollbackCause::Alarm { alarm, reason } => {
            assert_eq!(alarm, "ErrorRate-NewFleet-guardrail-demo");
            // Every canary request fails: a rate of 100 %.
            assert!(reason.contains("[100!"), "{reason}");
        }
        other => panic!("unexpected cause {other:?}"),
    }
    engine.shutdown().await;
}

/// What a run recorded of the team's data (each tick's records: start, sum
/// and count) and its alarms' changes, to read when a re-judgement differs.
fn team_record(events: &[Event]) -> String {
    let mut lines = Vec::new();
    for event in events {
        match &event.kind {
            EventKind::MetricPeriod { team, .. } if !team.is_empty() => {
                let records: Vec<String> = team
                    .iter()
                    .map(|tick| format!("{}: {}/{}", tick.start_ms, tick.data.sum, tick.data.count))
                    .collect();
                lines.push(format!("{} team {}", event.at_ms, records.join(", ")));
            }
            EventKind::AlarmStateChanged {
                alarm, to, reason, ..
            } => {
                lines.push(format!("{} {alarm} {to:?}: {reason}", event.at_ms));
            }
            _ => {}
        }
    }
    lines.join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_business_metric_the_team_publishes_rolls_back_a_healthy_model() {
    use guardrail_core::plan::{Dimension, MetricIdentity};
    use guardrail_server::engine::custom_metrics::{Datum, DatumData};
    // The API clock at the run's scale, so that a plan period spans as much
    // API time as it says.
    let engine = Engine::start(
        Registry::demo(),
        Store::in_memory().expect("store"),
        EngineOptions {
            load_rps: 100.0,
            seed: 7,
            api_time_scale: SCALE,
            ..EngineOptions::default()
        },
    )
    .await
    .expect("engine starts");
    let mut plan = team_to("fixed");
    // The conversion alarm alone rolls back.
    plan.deployment_config
        .as_mut()
        .and_then(|config| config.auto_rollback_configuration.as_mut())
        .expect("rollback")
        .alarms
        .retain(|alarm| alarm.alarm_name == "CheckoutConversion-guardrail-demo");
    let run = engine.start_rollout(&plan, SCALE).await.expect("accepted");
    // The shop publishes its conversion every 6 s of API time: 3.1 %, then
    // 1 % once the canary bakes.
    let publisher = {
        let engine = engine.clone();
        let run = run.clone();
        tokio::spawn(async move {
            loop {
                let baking = engine.store().events(&run).is_ok_and(|events| {
                    events.iter().any(|event| {
                        matches!(
                            event.kind,
                            EventKind::BakeStarted {
                                phase: Phase::CanaryBake,
                                ..
                            }
                        )
                    })
                });
                let datum = Datum {
                    identity: MetricIdentity::new(
                        "Shop/Checkout",
                        "ConversionRate",
                        vec![Dimension::new("Site", "www")],
                    ),
                    at_ms: engine.cloudwatch().clock().now_ms(),
                    high_resolution: false,
                    unit: None,
                    data: DatumData::Values(vec![(if baking { 1.0 } else { 3.1 }, 1.0)]),
                };
                engine
                    .cloudwatch()
                    .put_metric_data(&[datum])
                    .expect("published");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        })
    };
    let (outcome, events) = finish(&engine, &run).await;
    publisher.abort();
    let (phase, cause) = rolled_back(&outcome);
    assert_eq!(phase, Phase::CanaryBake, "{events:#?}");
    match cause {
        RollbackCause::Alarm { alarm, reason } => {
            assert_eq!(alarm, "CheckoutConversion-guardrail-demo");
            assert!(reason.contains("less than 2.5"), "{reason}");
        }
        other => panic!("unexpected cause {other:?}"),
    }

    // The record keeps what the shop published, as the alarm read it: the
    // retrospective judge finds the same transitions at the same moments.
    let conversion = &plan.alarms[4];
    let same = guardrail_core::retro::rejudge(&events, &plan, std::slice::from_ref(conversion))
        .expect("re-judged");
    let recorded: Vec<(u64, AlarmState)> = events
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::AlarmStateChanged { alarm, to, .. } if *alarm == conversion.alarm_name => {
                Some((event.at_ms, *to))
            }
            _ => None,
        })
        .collect();
    let rollback = same.recorded_rollback_at_ms.expect("rolled back");
    let rejudged: Vec<(u64, AlarmState)> = same.alarms[0]
        .transitions
        .iter()
        .filter(|change| change.at_ms <= rollback)
        .map(|change| (change.at_ms, change.to))
        .collect();
    assert_eq!(
        rejudged,
        recorded,
        "re-judged {:?}; the record: {}",
        same.alarms[0].transitions,
        team_record(&events)
    );
    assert_eq!(same.rollback_at_ms, Some(rollback), "{}", same.verdict);
    // Under a threshold the shop never went below, nothing would have.
    let mut lower = conversion.clone();
    lower.threshold = Some(0.5);
    let relaxed = guardrail_core::retro::rejudge(&events, &plan, &[lower]).expect("re-judged");
    assert_eq!(relaxed.rollback_at_ms, None, "{}", relaxed.verdict);
    // Every team metric the plan names was recorded, published or not: the
    // client's rate (per minute, the run's tick) is judged on no data, not
    // refused.
    let mut client = plan.alarms[3].clone();
    for query in client.metrics.iter_mut().flatten() {
        if let Some(stat) = query.metric_stat.as_mut() {
            stat.period = Some(60);
        }
    }
    let client = guardrail_core::retro::rejudge(&events, &plan, &[client]).expect("re-judged");
    assert_eq!(client.alarms[0].first_alarm_ms, None, "{}", client.verdict);
    engine.shutdown().await;
}
