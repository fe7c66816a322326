//! The SageMaker backend, through the real AWS SDK for Rust, against
//! `guardrail serve`'s SageMaker and CloudWatch APIs on a free loopback port
//! (the API clock 120 times faster, a load generator on the endpoints). Every
//! wait polls a condition; none sleeps a fixed time.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use guardrail_app::api::RunOptions;
use guardrail_core::event::{Event, EventKind, RunOutcome};
use guardrail_core::plan::{Dimension, MetricAlarm};
use guardrail_core::Plan;
use guardrail_server::backend::sagemaker::aws::{Clients, Settings};
use guardrail_server::backend::sagemaker::SageMaker;
use guardrail_server::backend::Backend;
use guardrail_server::engine::registry::Registry;
use guardrail_server::engine::{Engine, EngineOptions};
use guardrail_server::store::Store;

const SCALE: f64 = 120.0;

/// `guardrail serve`'s application with the demo endpoint under load, and the
/// SageMaker and CloudWatch operations it receives, in order.
struct Rig {
    url: String,
    engine: Engine,
    operations: Arc<Mutex<Vec<String>>>,
    _aws: common::LocalAws,
}

async fn rig() -> Rig {
    let engine = Engine::start(
        Registry::demo(),
        Store::in_memory().expect("store"),
        EngineOptions {
            load_rps: 40.0,
            seed: 5,
            api_time_scale: SCALE,
            api_provisioning_seconds: 60,
        },
    )
    .await
    .expect("the engine starts");
    let operations = Arc::new(Mutex::new(Vec::new()));
    let seen = operations.clone();
    let dist = std::env::temp_dir().join("guardrail-tests-no-planner");
    let app = guardrail_server::web::app(&dist, engine.clone()).layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            let seen = seen.clone();
            async move {
                let target = request
                    .headers()
                    .get("x-amz-target")
                    .and_then(|value| value.to_str().ok())
                    .map(|value| value.rsplit('.').next().unwrap_or(value).to_string())
                    .or_else(|| {
                        let path = request.uri().path();
                        path.contains("/operation/")
                            .then(|| path.rsplit('/').next().unwrap_or(path).to_string())
                    });
                if let Some(target) = target {
                    seen.lock().expect("lock").push(target);
                }
                next.run(request).await
            }
        },
    ));
    let aws = common::LocalAws::serve(engine.clone(), app).await;
    Rig {
        url: aws.url.clone(),
        engine,
        operations,
        _aws: aws,
    }
}

/// The SDK's config for `url`, as a user's environment would give it.
fn sdk_config(url: &str) -> aws_config::SdkConfig {
    use aws_config::{BehaviorVersion, Region};
    aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sagemaker::config::SharedCredentialsProvider::new(
            aws_sdk_sagemaker::config::Credentials::new(
                "AKIDLOCAL",
                "local-secret",
                None,
                None,
                "tests",
            ),
        ))
        .endpoint_url(url)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build()
}

/// Polls every 25 ms, or `GUARDRAIL_POLL_MS` (BENCHMARKS.md measures the
/// default, 1000).
fn poll_ms() -> u64 {
    std::env::var("GUARDRAIL_POLL_MS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(25)
}

fn backend(url: &str, store: Store, create_alarms: bool) -> SageMaker {
    let settings = Settings {
        api_time_scale: SCALE,
        poll_ms: poll_ms(),
        create_alarms,
        endpoint_url: Some(url.to_string()),
        ..Settings::default()
    };
    let clients = Clients::from_config(&sdk_config(url), "us-east-1".into(), url.to_string());
    SageMaker::with_clients(store, settings, clients)
}

fn notebook(config: &str) -> Plan {
    let mut plan = Plan::from_json(guardrail_core::examples::NOTEBOOK_CANARY).expect("the example");
    plan.endpoint_config_name = config.to_string();
    plan
}

/// A plan whose rollback alarm watches the new fleet's 5xx errors.
fn guarded(config: &str) -> Plan {
    let mut plan = notebook(config);
    let mut alarm: MetricAlarm = plan.alarms[0].clone();
    alarm.alarm_name = format!("green-5xx-{config}");
    alarm.statistic = Some(serde_json::from_str("\"Sum\"").expect("Sum"));
    alarm
        .dimensions
        .push(Dimension::new("EndpointConfigName", config));
    alarm.threshold = Some(1.0);
    plan.alarms = vec![alarm.clone()];
    if let Some(rollback) = plan
        .deployment_config
        .as_mut()
        .and_then(|config| config.auto_rollback_configuration.as_mut())
    {
        rollback.alarms.truncate(1);
        rollback.alarms[0].alarm_name = alarm.alarm_name;
    }
    plan
}

async fn outcome(store: &Store, run_id: &str) -> (RunOutcome, Vec<Event>) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Ok(Some(outcome)) = store.outcome(run_id) {
            return (outcome, store.events(run_id).expect("events"));
        }
        assert!(
            Instant::now() < deadline,
            "run {run_id} did not end: {:#?}",
            store.events(run_id)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn phases(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::GreenProvisioning { .. } => Some("provisioning".to_string()),
            EventKind::BakeStarted { phase, .. } | EventKind::PhaseStarted { phase, .. } => {
                Some(phase.name().to_string())
            }
            _ => None,
        })
        .collect()
}

fn gapless(events: &[Event]) {
    for (index, event) in events.iter().enumerate() {
        assert_eq!(event.seq, index as u64 + 1, "{events:#?}");
    }
    assert!(matches!(
        events.last().map(|event| &event.kind),
        Some(EventKind::Finished { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_success_ends_in_service_on_the_new_config_and_sends_the_plans_deployment_config() {
    let rig = rig().await;
    let store = Store::in_memory().expect("store");
    let backend = backend(&rig.url, store.clone(), true);
    let plan = guarded("fixed");
    let started = Instant::now();
    let run_id = backend
        .start(&plan, RunOptions::default())
        .await
        .expect("the update starts");
    let (outcome, events) = outcome(&store, &run_id).await;
    assert_eq!(outcome, RunOutcome::Succeeded, "{events:#?}");
    // Figures for BENCHMARKS.md (printed, never asserted): requests per real
    // minute, and how long after SageMaker's own timestamp each phase and
    // traffic event was recorded.
    let seconds = started.elapsed().as_secs_f64();
    let sent = rig.operations.lock().expect("lock").len();
    let first_wall = events[0].wall_ms;
    let mut delays: Vec<f64> = events
        .iter()
        .filter(|event| {
            matches!(
                event.kind,
                EventKind::BakeStarted { .. }
                    | EventKind::PhaseStarted { .. }
                    | EventKind::GreenProvisioning { .. }
            )
        })
        .map(|event| event.wall_ms as f64 - (first_wall as f64 + event.at_ms as f64 / SCALE))
        .collect();
    delays.sort_by(f64::total_cmp);
    eprintln!(
        "measured: poll {} ms: {sent} requests in {seconds:.1} s = {:.0}/min; phase events recorded {:?} ms after SageMaker's StartTime",
        poll_ms(),
        sent as f64 / seconds * 60.0,
        delays
    );
    gapless(&events);
    assert_eq!(
        phases(&events),
        [
            "provisioning",
            "canary_bake",
            "final_bake",
            "terminating_blue"
        ],
        "{events:#?}"
    );
    assert!(events.iter().any(|event| matches!(
        &event.kind,
        EventKind::Targeted { account, region, endpoint_arn }
            if account == guardrail_server::engine::ACCOUNT && region == "us-east-1"
                && endpoint_arn.ends_with(":endpoint/guardrail-demo")
    )));
    // Green's traffic followed the canary: a quarter, then all of it.
    let shares: Vec<u32> = events
        .iter()
        .filter_map(|event| match event.kind {
            EventKind::TrafficShifted {
                green_traffic_bp, ..
            } => Some(green_traffic_bp),
            _ => None,
        })
        .collect();
    assert!(
        shares.contains(&2_500) && shares.last() == Some(&10_000),
        "{shares:?}"
    );
    assert!(
        events
            .iter()
            .any(|event| matches!(&event.kind, EventKind::MetricPeriod { green, .. } if green.invocations > 0)),
        "per-period metrics of the new fleet are recorded"
    );
    let status = rig
        .engine
        .endpoint_status("guardrail-demo")
        .await
        .expect("endpoint");
    assert_eq!(
        (status.status.as_str(), status.config.as_str()),
        ("InService", "fixed")
    );

    // The requests: the alarm put, the preflight, the update, then polls.
    let operations = rig.operations.lock().expect("lock").clone();
    assert_eq!(
        operations[..5],
        [
            "PutMetricAlarm",
            "DescribeEndpoint",
            "DescribeEndpointConfig",
            "DescribeAlarms",
            "UpdateEndpoint"
        ],
        "{operations:?}"
    );
    assert!(operations[5..].iter().all(|operation| [
        "DescribeEndpoint",
        "DescribeAlarms",
        "DescribeAlarmHistory",
        "GetMetricData"
    ]
    .contains(&operation.as_str())));
    // SageMaker received exactly the plan's DeploymentConfig.
    let sdk = aws_sdk_sagemaker::Client::new(&sdk_config(&rig.url));
    let described = sdk
        .describe_endpoint()
        .endpoint_name("guardrail-demo")
        .send()
        .await
        .expect("DescribeEndpoint");
    let received = described
        .last_deployment_config()
        .expect("LastDeploymentConfig");
    let dry = SageMaker::dry_run(&plan, backend.settings()).expect("dry run");
    let planned = &dry["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .find(|request| request["operation"] == "UpdateEndpoint")
        .expect("UpdateEndpoint")["input"]["DeploymentConfig"];
    assert_eq!(
        planned,
        &serde_json::to_value(&plan.deployment_config).expect("json")
    );
    let traffic = received
        .blue_green_update_policy()
        .and_then(|policy| policy.traffic_routing_configuration())
        .expect("traffic routing");
    assert_eq!(
        traffic.r#type().map(|kind| kind.as_str()).expect("Type"),
        planned["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"]
    );
    assert_eq!(
        i64::from(
            traffic
                .wait_interval_in_seconds()
                .expect("WaitIntervalInSeconds")
        ),
        planned["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["WaitIntervalInSeconds"]
    );
    assert_eq!(
        received
            .auto_rollback_configuration()
            .map(|rollback| rollback
                .alarms()
                .iter()
                .filter_map(|alarm| alarm.alarm_name())
                .collect::<Vec<_>>()),
        Some(vec!["green-5xx-fixed"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_automatic_rollback_is_reported_with_the_alarm_that_fired() {
    let rig = rig().await;
    let store = Store::in_memory().expect("store");
    let backend = backend(&rig.url, store.clone(), true);
    let run_id = backend
        .start(&guarded("incompatible"), RunOptions::default())
        .await
        .expect("the update starts");
    let (outcome, events) = outcome(&store, &run_id).await;
    gapless(&events);
    let RunOutcome::RolledBack { phase, cause } = &outcome else {
        panic!("expected a rollback, got {outcome:?}: {events:#?}");
    };
    assert_eq!(phase.name(), "canary_bake", "{events:#?}");
    let text = outcome.describe();
    assert!(
        text.contains("green-5xx-incompatible")
            && text.contains("Threshold crossed")
            && text.contains("(at "),
        "{text}"
    );
    assert!(matches!(
        cause,
        guardrail_core::controller::RollbackCause::Alarm { .. }
    ));
    assert!(events.iter().any(|event| matches!(
        &event.kind,
        EventKind::AlarmStateChanged { alarm, to, points, condition, .. }
            if alarm == "green-5xx-incompatible" && to.as_str() == "ALARM" && !points.is_empty()
                && condition.contains(">=")
    )));
    // SageMaker's view: InService on the old config, which a waiter calls success.
    let status = rig
        .engine
        .endpoint_status("guardrail-demo")
        .await
        .expect("endpoint");
    assert_eq!(
        (status.status.as_str(), status.config.as_str()),
        ("InService", "baseline")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_preflight_refuses_with_a_message_that_names_the_fix() {
    let rig = rig().await;
    let store = Store::in_memory().expect("store");
    let backend = backend(&rig.url, store.clone(), false);
    let sdk = aws_sdk_sagemaker::Client::new(&sdk_config(&rig.url));
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&sdk_config(&rig.url));
    let refusal = |plan: Plan| {
        let backend = &backend;
        async move {
            let error = backend
                .start(&plan, RunOptions::default())
                .await
                .expect_err("refused");
            assert_eq!(
                error.kind,
                guardrail_app::api::ErrorKind::Refused,
                "{}",
                error.message
            );
            error.message
        }
    };

    // A missing endpoint config.
    let message = refusal(notebook("nope")).await;
    assert!(
        message.contains("endpoint config nope does not exist")
            && message.contains("CreateEndpointConfig"),
        "{message}"
    );
    // Rollback alarms that do not exist, without --create-alarms.
    assert!(message.contains("--create-alarms"), "{message}");

    // An alarm whose dimensions match no metric SageMaker publishes.
    let mut plan = guarded("fixed");
    plan.alarms[0].dimensions.truncate(1);
    guardrail_server::backend::sagemaker::aws::put_metric_alarm(&cloudwatch, &plan.alarms[0])
        .send()
        .await
        .expect("PutMetricAlarm");
    let message = refusal(plan).await;
    assert!(
        message.contains("which SageMaker does not publish"),
        "{message}"
    );

    // An alarm already in ALARM. Its hour-long period keeps CloudWatch from
    // evaluating it again (and ending the state set by hand) during the test.
    let mut plan = guarded("fixed");
    plan.alarms[0].period = Some(3_600);
    guardrail_server::backend::sagemaker::aws::put_metric_alarm(&cloudwatch, &plan.alarms[0])
        .send()
        .await
        .expect("PutMetricAlarm");
    cloudwatch
        .set_alarm_state()
        .alarm_name(&plan.alarms[0].alarm_name)
        .state_value(aws_sdk_cloudwatch::types::StateValue::Alarm)
        .state_reason("a test")
        .send()
        .await
        .expect("SetAlarmState");
    let message = refusal(plan).await;
    assert!(
        message.contains("is already in ALARM (a test)"),
        "{message}"
    );

    // A rollback alarm on the canary judge's score, already in CloudWatch,
    // for a plan with no Judge: nothing would publish it on SageMaker. And
    // missing data as breaching would roll back before the first score.
    let mut plan = guarded("fixed");
    let mut score = guardrail_core::judge::score_alarm("guardrail-demo", "fixed", 75.0);
    score.treat_missing_data = Some(guardrail_core::plan::TreatMissingData::Breaching);
    guardrail_server::backend::sagemaker::aws::put_metric_alarm(&cloudwatch, &score)
        .send()
        .await
        .expect("PutMetricAlarm");
    plan.alarms = vec![score.clone()];
    plan.deployment_config
        .as_mut()
        .and_then(|config| config.auto_rollback_configuration.as_mut())
        .expect("rollback")
        .alarms[0]
        .alarm_name = score.alarm_name.clone();
    let message = refusal(plan.clone()).await;
    assert!(
        message.contains("reads the canary judge's score")
            && message.contains("the plan has no Judge")
            && message.contains("set TreatMissingData to notBreaching"),
        "{message}"
    );
    // With a Judge, only the breaching is refused.
    plan.judge = Some(guardrail_core::plan::JudgeSection::default_judge());
    let message = refusal(plan).await;
    assert!(
        !message.contains("the plan has no Judge") && message.contains("notBreaching"),
        "{message}"
    );

    // A Failed endpoint: its model's image is not mapped to anything local.
    sdk.create_model()
        .model_name("unmapped")
        .primary_container(
            aws_sdk_sagemaker::types::ContainerDefinition::builder()
                .image("123.dkr.ecr.us-east-1.amazonaws.com/unmapped:1")
                .build(),
        )
        .send()
        .await
        .expect("CreateModel");
    sdk.create_endpoint_config()
        .endpoint_config_name("unmapped-config")
        .production_variants(
            aws_sdk_sagemaker::types::ProductionVariant::builder()
                .variant_name("AllTraffic")
                .model_name("unmapped")
                .initial_instance_count(1)
                .instance_type(aws_sdk_sagemaker::types::ProductionVariantInstanceType::MlM5Xlarge)
                .build(),
        )
        .send()
        .await
        .expect("CreateEndpointConfig");
    sdk.create_endpoint()
        .endpoint_name("broken")
        .endpoint_config_name("unmapped-config")
        .send()
        .await
        .expect("CreateEndpoint");
    let deadline = Instant::now() + Duration::from_secs(30);
    while rig
        .engine
        .endpoint_status("broken")
        .await
        .map(|report| report.status)
        != Some("Failed".into())
    {
        assert!(Instant::now() < deadline, "the endpoint should fail");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut plan = notebook("fixed");
    plan.endpoint_name = "broken".into();
    plan.deployment_config
        .as_mut()
        .expect("config")
        .auto_rollback_configuration = None;
    plan.alarms.clear();
    let message = refusal(plan).await;
    assert!(
        message.contains("endpoint broken is Failed")
            && message.contains("delete it and create it again"),
        "{message}"
    );
    assert!(
        store.runs().expect("runs").is_empty(),
        "nothing was started"
    );
    assert_eq!(
        rig.operations
            .lock()
            .expect("lock")
            .iter()
            .filter(|operation| *operation == "UpdateEndpoint")
            .count(),
        0,
        "no update was sent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_mid_run_resumes_watching_with_the_gap_marked() {
    let rig = rig().await;
    let data = std::env::temp_dir().join(format!("guardrail-resume-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    // The first watcher runs on its own runtime, which is dropped mid-run as a
    // crash would: no event of its own marks the end.
    let first = {
        let (url, data) = (rig.url.clone(), data.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().expect("runtime");
            let store = Store::open(&data).expect("store");
            let run_id = runtime.block_on(async {
                let backend = backend(&url, store.clone(), true);
                let run_id = backend
                    .start(&guarded("fixed"), RunOptions::default())
                    .await
                    .expect("starts");
                let deadline = Instant::now() + Duration::from_secs(30);
                while !store
                    .events(&run_id)
                    .expect("events")
                    .iter()
                    .any(|event| matches!(event.kind, EventKind::BakeStarted { .. }))
                {
                    assert!(Instant::now() < deadline, "the canary should start");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                run_id
            });
            runtime.shutdown_background();
            run_id
        })
        .join()
        .expect("the first watcher")
    };
    let store = Store::open(&data).expect("store");
    assert_eq!(
        store.outcome(&first).expect("run"),
        None,
        "the run is unfinished"
    );
    let resumer = backend(&rig.url, store.clone(), false);
    assert_eq!(resumer.resume_unfinished().await, vec![first.clone()]);
    let (outcome, events) = outcome(&store, &first).await;
    assert_eq!(outcome, RunOutcome::Succeeded, "{events:#?}");
    gapless(&events);
    let resumed = events
        .iter()
        .find_map(|event| match event.kind {
            EventKind::WatchResumed {
                gap_from_ms,
                gap_to_ms,
            } => Some((gap_from_ms, gap_to_ms)),
            _ => None,
        })
        .expect("the gap is marked");
    assert!(resumed.0 <= resumed.1, "{resumed:?}");
    assert_eq!(
        phases(&events),
        [
            "provisioning",
            "canary_bake",
            "final_bake",
            "terminating_blue"
        ],
        "{events:#?}"
    );
    let _ = std::fs::remove_dir_all(&data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_stops_watching_and_says_sagemaker_carries_on() {
    let rig = rig().await;
    let store = Store::in_memory().expect("store");
    let backend = backend(&rig.url, store.clone(), true);
    let run_id = backend
        .start(&guarded("fixed"), RunOptions::default())
        .await
        .expect("starts");
    backend.stop(&run_id, "a tester").await.expect("stops");
    let (outcome, events) = outcome(&store, &run_id).await;
    gapless(&events);
    assert_eq!(
        outcome,
        RunOutcome::Unwatched {
            by: "a tester".into()
        }
    );
    assert!(outcome.describe().contains("SageMaker carries on"));
    let status = rig
        .engine
        .endpoint_status("guardrail-demo")
        .await
        .expect("endpoint");
    assert_eq!(status.status, "Updating", "SageMaker's update goes on");
    let again = backend
        .stop(&run_id, "a tester")
        .await
        .expect_err("already ended");
    assert!(again.message.contains("already ended"), "{}", again.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metric_math_and_composite_alarms_are_put_through_the_sdk_and_the_rate_rolls_back() {
    let rig = rig().await;
    let store = Store::in_memory().expect("store");
    let backend = backend(&rig.url, store.clone(), true);
    let mut plan = Plan::from_json(guardrail_core::examples::TEAM_GUARDRAILS).expect("the example");
    // The local models answer in about 7 ms, which a busy machine can push
    // past the notebook's 10 ms: the latency alarm at 100 ms.
    plan.alarms[1].threshold = Some(100_000.0);
    let run_id = backend
        .start(&plan, RunOptions::default())
        .await
        .expect("the update starts");
    let (outcome, events) = outcome(&store, &run_id).await;
    let RunOutcome::RolledBack { phase, .. } = &outcome else {
        panic!("expected a rollback, got {outcome:?}: {events:#?}");
    };
    // The new fleet's 5XX rate (metric math) sees the canary; the
    // endpoint-wide alarms cannot, and nothing publishes the team's metrics.
    assert_eq!(phase.name(), "canary_bake", "{events:#?}");
    assert!(
        outcome
            .describe()
            .contains("ErrorRate-NewFleet-guardrail-demo"),
        "{}",
        outcome.describe()
    );
    let cloudwatch = rig.engine.cloudwatch();
    let rate = cloudwatch
        .alarm("ErrorRate-NewFleet-guardrail-demo")
        .expect("the math alarm was put");
    assert_eq!(rate.definition.metrics, plan.alarms[2].metrics);
    let composites = cloudwatch.composites(|_| true);
    assert_eq!(composites.len(), 1);
    assert_eq!(composites[0].definition, plan.composite_alarms[0]);
    assert_eq!(
        composites[0].state,
        guardrail_core::alarm::AlarmState::Alarm,
        "the composite follows the rate alarm"
    );
    // The dry run shows the composite put after the metric alarms.
    let settings = Settings {
        create_alarms: true,
        ..Settings::default()
    };
    let dry = SageMaker::dry_run(&plan, &settings).expect("a dry run");
    let operations: Vec<&str> = dry["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .filter_map(|request| request["operation"].as_str())
        .collect();
    let composite = operations
        .iter()
        .position(|operation| *operation == "PutCompositeAlarm")
        .expect("PutCompositeAlarm");
    let last_metric = operations
        .iter()
        .rposition(|operation| *operation == "PutMetricAlarm")
        .expect("PutMetricAlarm");
    assert!(last_metric < composite, "{operations:?}");
}
