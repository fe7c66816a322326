//! The AWS SDK for Rust against guardrail's SageMaker, SageMaker Runtime and
//! CloudWatch APIs on a free loopback port: the real clients, their real
//! encodings (awsJson1_1, restJson1 and, for CloudWatch, Smithy RPC v2 CBOR)
//! and their error mapping. The API clock runs 120 times faster, so a 300 s
//! bake takes 2.5 s, and a launch takes a minute of it; every wait polls a
//! condition, none sleeps a fixed time.

mod common;

use std::future::Future;
use std::time::{Duration, Instant};

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{
    ComparisonOperator, Dimension, HistoryItemType, Metric, MetricDataQuery, MetricStat, ScanBy,
    StateValue, Statistic,
};
use aws_sdk_sagemaker::error::ProvideErrorMetadata;
use aws_sdk_sagemaker::types::{
    Alarm, AutoRollbackConfig, BlueGreenUpdatePolicy, CapacitySize, CapacitySizeType,
    ContainerDefinition, DeploymentConfig, EndpointStatus, ProductionVariant,
    ProductionVariantInstanceType, TrafficRoutingConfig, TrafficRoutingConfigType,
};
use common::LocalAws;
use guardrail_core::event::{EventKind, RunOutcome};

/// API seconds per real second.
const SCALE: f64 = 120.0;
/// Launches take a minute of API time: half a second.
const PROVISIONING: u32 = 60;

struct Clients {
    sagemaker: aws_sdk_sagemaker::Client,
    runtime: aws_sdk_sagemakerruntime::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
}

/// A client of service crate `$service` for `$url`, configured as a user
/// would: an endpoint URL, a region and static credentials. The three crates'
/// builders are alike but distinct types.
macro_rules! client {
    ($service:ident, $url:expr, $http:expr) => {
        $service::Client::from_conf(
            $service::Config::builder()
                .behavior_version($service::config::BehaviorVersion::latest())
                .region($service::config::Region::new("us-east-1"))
                .credentials_provider($service::config::Credentials::new(
                    "AKIDLOCAL",
                    "local-secret",
                    None,
                    None,
                    "guardrail-tests",
                ))
                .endpoint_url($url)
                .http_client($http.clone())
                .build(),
        )
    };
}

/// Clients for `url`. Plain HTTP: the server is on loopback.
fn clients(url: &str) -> Clients {
    let http = aws_smithy_http_client::Builder::new().build_http();
    Clients {
        sagemaker: client!(aws_sdk_sagemaker, url, http),
        runtime: client!(aws_sdk_sagemakerruntime, url, http),
        cloudwatch: client!(aws_sdk_cloudwatch, url, http),
    }
}

/// Polls `probe` until it gives a value, for at most a minute of real time.
async fn until<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

type Described = aws_sdk_sagemaker::operation::describe_endpoint::DescribeEndpointOutput;

async fn describe(clients: &Clients, name: &str) -> Described {
    clients
        .sagemaker
        .describe_endpoint()
        .endpoint_name(name)
        .send()
        .await
        .expect("DescribeEndpoint")
}

/// The notebook's kind of alarm: `Statistic` of `metric` over one 60 s period,
/// at or above `threshold`, with missing data not breaching.
fn alarm(
    clients: &Clients,
    name: &str,
    metric: &str,
    dimensions: &[(&str, &str)],
    threshold: f64,
) -> aws_sdk_cloudwatch::operation::put_metric_alarm::builders::PutMetricAlarmFluentBuilder {
    let mut request = clients
        .cloudwatch
        .put_metric_alarm()
        .alarm_name(name)
        .namespace("AWS/SageMaker")
        .metric_name(metric)
        .period(60)
        .evaluation_periods(1)
        .threshold(threshold)
        .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold);
    for (name, value) in dimensions {
        request = request.dimensions(dimension(name, value));
    }
    request
}

/// `UpdateEndpoint` of `endpoint` to `config`, to be completed and sent.
fn update(
    clients: &Clients,
    endpoint: &str,
    config: &str,
) -> aws_sdk_sagemaker::operation::update_endpoint::builders::UpdateEndpointFluentBuilder {
    clients
        .sagemaker
        .update_endpoint()
        .endpoint_name(endpoint)
        .endpoint_config_name(config)
}

/// Sends `body` to endpoint `name` as CSV.
async fn invoke(
    clients: &Clients,
    name: &str,
    body: &[u8],
) -> Result<
    aws_sdk_sagemakerruntime::operation::invoke_endpoint::InvokeEndpointOutput,
    aws_sdk_sagemakerruntime::operation::invoke_endpoint::InvokeEndpointError,
> {
    clients
        .runtime
        .invoke_endpoint()
        .endpoint_name(name)
        .content_type("text/csv")
        .body(aws_sdk_sagemakerruntime::primitives::Blob::new(
            body.to_vec(),
        ))
        .send()
        .await
        .map_err(|error| error.into_service_error())
}

/// Creates a model running `image`.
async fn model(clients: &Clients, name: &str, image: &str) {
    clients
        .sagemaker
        .create_model()
        .model_name(name)
        .execution_role_arn("arn:aws:iam::123456789012:role/service-role/guardrail-tests")
        .containers(
            ContainerDefinition::builder()
                .image(image)
                .model_data_url(format!("s3://guardrail-tests/{name}.tar.gz"))
                .build(),
        )
        .send()
        .await
        .expect("CreateModel");
}

/// Creates an endpoint config of `instances` ml.m5.xlarge instances of `model`.
async fn config(clients: &Clients, name: &str, model: &str, instances: i32) {
    clients
        .sagemaker
        .create_endpoint_config()
        .endpoint_config_name(name)
        .production_variants(
            ProductionVariant::builder()
                .variant_name("AllTraffic")
                .model_name(model)
                .initial_instance_count(instances)
                .instance_type(ProductionVariantInstanceType::MlM5Xlarge)
                .initial_variant_weight(1.0)
                .build(),
        )
        .send()
        .await
        .expect("CreateEndpointConfig");
}

/// Creates an endpoint and waits until it leaves `Creating`; returns its status.
async fn endpoint(clients: &Clients, name: &str, config: &str) -> EndpointStatus {
    clients
        .sagemaker
        .create_endpoint()
        .endpoint_name(name)
        .endpoint_config_name(config)
        .send()
        .await
        .expect("CreateEndpoint");
    until("the endpoint to be created", || async {
        describe(clients, name)
            .await
            .endpoint_status()
            .filter(|status| **status != EndpointStatus::Creating)
            .cloned()
    })
    .await
}

/// For each `(name, image)`: model `name` and config `name-config` of two
/// instances; then endpoint `endpoint` on the first config, in service.
async fn deployed(clients: &Clients, endpoint_name: &str, versions: &[(&str, &str)]) {
    for (name, image) in versions {
        model(clients, name, image).await;
        config(clients, &format!("{name}-config"), name, 2).await;
    }
    let first = format!("{}-config", versions[0].0);
    let status = endpoint(clients, endpoint_name, &first).await;
    assert_eq!(status, EndpointStatus::InService);
}

/// Waits until an update ends; returns the last description.
async fn settled(clients: &Clients, name: &str) -> Described {
    until("the update to end", || async {
        let described = describe(clients, name).await;
        (described.endpoint_status() != Some(&EndpointStatus::Updating)).then_some(described)
    })
    .await
}

fn dimension(name: &str, value: &str) -> Dimension {
    Dimension::builder().name(name).value(value).build()
}

/// The notebook's canary (1 instance, then the rest), with `alarm` to roll back on.
fn canary(wait_seconds: i32, alarm: &str) -> DeploymentConfig {
    DeploymentConfig::builder()
        .blue_green_update_policy(
            BlueGreenUpdatePolicy::builder()
                .traffic_routing_configuration(
                    TrafficRoutingConfig::builder()
                        .r#type(TrafficRoutingConfigType::Canary)
                        .canary_size(
                            CapacitySize::builder()
                                .r#type(CapacitySizeType::InstanceCount)
                                .value(1)
                                .build(),
                        )
                        .wait_interval_in_seconds(wait_seconds)
                        .build(),
                )
                .termination_wait_in_seconds(60)
                .maximum_execution_timeout_in_seconds(1800)
                .build(),
        )
        .auto_rollback_configuration(
            AutoRollbackConfig::builder()
                .alarms(Alarm::builder().alarm_name(alarm).build())
                .build(),
        )
        .build()
}

/// Sends invocations to `endpoint` until aborted, as a user's traffic would.
fn traffic(clients: &Clients, endpoint: &str) -> tokio::task::JoinHandle<()> {
    let runtime = clients.runtime.clone();
    let endpoint = endpoint.to_string();
    tokio::spawn(async move {
        loop {
            let _ = runtime
                .invoke_endpoint()
                .endpoint_name(&endpoint)
                .content_type("text/csv")
                .body(aws_sdk_sagemakerruntime::primitives::Blob::new(
                    b"186,0.1,137.8,97,187.7,118".to_vec(),
                ))
                .send()
                .await;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
}

fn seconds(time: &DateTime) -> f64 {
    time.as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_alarm_on_the_new_fleet_rolls_the_update_back_to_the_old_config() {
    let aws = LocalAws::start(SCALE, PROVISIONING).await;
    let clients = clients(&aws.url);
    deployed(
        &clients,
        "churn",
        &[
            ("churn-1", "guardrail/baseline:0.90-1"),
            ("churn-2", "guardrail/incompatible:1.2-1"),
        ],
    )
    .await;

    // SageMaker Runtime answers with the model's output and the variant.
    let answer = invoke(&clients, "churn", b"186,0.1,137.8")
        .await
        .expect("InvokeEndpoint");
    assert_eq!(answer.invoked_production_variant(), Some("AllTraffic"));
    let score: f64 = String::from_utf8_lossy(answer.body().expect("a body").as_ref())
        .trim()
        .parse()
        .expect("a score");
    assert!((0.0..=1.0).contains(&score));

    // An alarm on the new fleet only, over CBOR.
    let new_fleet = [
        ("EndpointName", "churn"),
        ("VariantName", "AllTraffic"),
        ("EndpointConfigName", "churn-2-config"),
    ];
    alarm(
        &clients,
        "churn-new-fleet-5xx",
        "Invocation5XXErrors",
        &new_fleet,
        0.5,
    )
    .statistic(Statistic::Average)
    .treat_missing_data("notBreaching")
    .send()
    .await
    .expect("PutMetricAlarm");
    let alarms = clients
        .cloudwatch
        .describe_alarms()
        .alarm_names("churn-new-fleet-5xx")
        .send()
        .await
        .expect("DescribeAlarms");
    let alarm = &alarms.metric_alarms()[0];
    // New, or already evaluated once on the fast API clock (no data, not
    // breaching): in either case it has not fired.
    assert!(
        matches!(
            alarm.state_value(),
            Some(StateValue::InsufficientData | StateValue::Ok)
        ),
        "{:?}",
        alarm.state_value()
    );
    assert_eq!(alarm.threshold(), Some(0.5));
    assert_eq!(alarm.period(), Some(60));
    assert_eq!(alarm.dimensions().len(), 3);

    let load = traffic(&clients, "churn");
    update(&clients, "churn", "churn-2-config")
        .deployment_config(canary(300, "churn-new-fleet-5xx"))
        .send()
        .await
        .expect("UpdateEndpoint");
    let updating = describe(&clients, "churn").await;
    assert_eq!(updating.endpoint_status(), Some(&EndpointStatus::Updating));
    let pending = updating
        .pending_deployment_summary()
        .expect("a pending deployment");
    assert_eq!(pending.endpoint_config_name(), Some("churn-2-config"));
    assert_eq!(
        pending.production_variants()[0].desired_instance_count(),
        Some(2)
    );

    // One update at a time, and no delete during it, as SageMaker refuses.
    let second = update(&clients, "churn", "churn-1-config")
        .send()
        .await
        .expect_err("a second update is refused")
        .into_service_error();
    assert_eq!(second.code(), Some("ValidationException"));
    assert!(
        second
            .message()
            .unwrap_or_default()
            .contains("Cannot update in-progress endpoint"),
        "{second:?}"
    );
    let delete = clients
        .sagemaker
        .delete_endpoint()
        .endpoint_name("churn")
        .send()
        .await
        .expect_err("no delete during an update")
        .into_service_error();
    assert_eq!(delete.code(), Some("ValidationException"));

    let ended = settled(&clients, "churn").await;
    load.abort();
    // The silent rollback: InService, on the old config, with the reason.
    assert_eq!(ended.endpoint_status(), Some(&EndpointStatus::InService));
    assert_eq!(ended.endpoint_config_name(), Some("churn-1-config"));
    assert!(ended.pending_deployment_summary().is_none());
    let reason = ended.failure_reason().expect("a failure reason");
    assert!(reason.contains("churn-new-fleet-5xx"), "{reason}");
    let last = ended
        .last_deployment_config()
        .expect("the last deployment config");
    assert_eq!(
        last.blue_green_update_policy()
            .and_then(|policy| policy.traffic_routing_configuration())
            .and_then(|routing| routing.r#type()),
        Some(&TrafficRoutingConfigType::Canary)
    );
    assert_eq!(
        ended.production_variants()[0].current_instance_count(),
        Some(2)
    );

    // CloudWatch kept the evidence: the ALARM transition and its datapoints.
    let history = clients
        .cloudwatch
        .describe_alarm_history()
        .alarm_name("churn-new-fleet-5xx")
        .history_item_type(HistoryItemType::StateUpdate)
        .scan_by(ScanBy::TimestampAscending)
        .send()
        .await
        .expect("DescribeAlarmHistory");
    let to_alarm = history
        .alarm_history_items()
        .iter()
        .find(|item| {
            item.history_summary()
                .unwrap_or_default()
                .ends_with("to ALARM")
        })
        .expect("an ALARM transition");
    let data: serde_json::Value =
        serde_json::from_str(to_alarm.history_data().expect("history data")).expect("JSON");
    assert_eq!(data["newState"]["stateValue"], "ALARM");
    let recent = data["newState"]["stateReasonData"]["recentDatapoints"]
        .as_array()
        .expect("datapoints");
    assert!(
        recent.iter().all(|value| value.as_f64() >= Some(0.5)),
        "{data}"
    );
    let updated = ended.last_modified_time().expect("modified");
    let alarmed = to_alarm.timestamp().expect("a timestamp");
    assert!(seconds(alarmed) <= seconds(updated) + 1.0);

    // The new fleet's metrics, under the EndpointConfigName dimension.
    let start = DateTime::from_secs_f64(seconds(updated) - 3_600.0);
    let end = DateTime::from_secs_f64(seconds(updated) + 60.0);
    let metric = |config: &str| {
        Metric::builder()
            .namespace("AWS/SageMaker")
            .metric_name("Invocation5XXErrors")
            .dimensions(dimension("EndpointName", "churn"))
            .dimensions(dimension("VariantName", "AllTraffic"))
            .dimensions(dimension("EndpointConfigName", config))
            .build()
    };
    let query = |id: &str, config: &str| {
        MetricDataQuery::builder()
            .id(id)
            .metric_stat(
                MetricStat::builder()
                    .metric(metric(config))
                    .period(60)
                    .stat("Sum")
                    .build(),
            )
            .build()
    };
    let data = clients
        .cloudwatch
        .get_metric_data()
        .metric_data_queries(query("green", "churn-2-config"))
        .metric_data_queries(query("blue", "churn-1-config"))
        .start_time(start)
        .end_time(end)
        .send()
        .await
        .expect("GetMetricData");
    let results = data.metric_data_results();
    let green: f64 = results[0].values().iter().sum();
    let blue: f64 = results[1].values().iter().sum();
    assert!(green > 0.0, "the new fleet failed requests: {results:?}");
    assert_eq!(blue, 0.0, "the old fleet served without errors");
    assert_eq!(results[0].timestamps().len(), results[0].values().len());
    let listed = clients
        .cloudwatch
        .list_metrics()
        .namespace("AWS/SageMaker")
        .metric_name("Invocation5XXErrors")
        .send()
        .await
        .expect("ListMetrics");
    assert!(listed.metrics().iter().any(|metric| metric
        .dimensions()
        .iter()
        .any(|dimension| dimension.value() == Some("churn-2-config"))));

    // The update is a recorded run like one from the planner.
    let runs = aws.engine.store().runs().expect("runs");
    let run = runs
        .iter()
        .find(|run| run.endpoint == "churn")
        .expect("a recorded run");
    assert_eq!(
        (run.from_config.as_str(), run.to_config.as_str()),
        ("churn-1-config", "churn-2-config")
    );
    let events = aws.engine.store().events(&run.id).expect("events");
    assert!(events.iter().any(|event| matches!(
        &event.kind,
        EventKind::AlarmStateChanged { alarm, .. } if alarm == "churn-new-fleet-5xx"
    )));
    assert!(events.iter().any(|event| matches!(
        &event.kind,
        EventKind::Finished {
            outcome: RunOutcome::RolledBack { .. }
        }
    )));

    // And the old fleet serves again.
    let after = invoke(&clients, "churn", b"1,2,3")
        .await
        .expect("blue serves");
    assert_eq!(after.invoked_production_variant(), Some("AllTraffic"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_update_succeeds_and_a_retained_config_rolls_back_on_an_alarm_set_by_hand() {
    let aws = LocalAws::start(SCALE, PROVISIONING).await;
    let clients = clients(&aws.url);
    deployed(
        &clients,
        "ep",
        &[("v1", "guardrail/baseline"), ("v3", "guardrail/fixed")],
    )
    .await;
    let endpoint_wide = [("EndpointName", "ep"), ("VariantName", "AllTraffic")];
    alarm(
        &clients,
        "ep-5xx",
        "Invocation5XXErrors",
        &endpoint_wide,
        0.5,
    )
    .statistic(Statistic::Average)
    .treat_missing_data("notBreaching")
    .send()
    .await
    .expect("PutMetricAlarm");
    let load = traffic(&clients, "ep");
    let sent = canary(60, "ep-5xx");
    update(&clients, "ep", "v3-config")
        .deployment_config(sent.clone())
        .send()
        .await
        .expect("UpdateEndpoint");
    let ended = settled(&clients, "ep").await;
    assert_eq!(ended.endpoint_status(), Some(&EndpointStatus::InService));
    assert_eq!(ended.endpoint_config_name(), Some("v3-config"));
    assert_eq!(ended.failure_reason(), None);
    assert_eq!(ended.last_deployment_config(), Some(&sent));

    // The notebook's second update: RetainDeploymentConfig reuses the canary.
    // The alarm is set to ALARM by hand during the canary bake; SageMaker reads
    // CloudWatch's state, so the update rolls back.
    update(&clients, "ep", "v1-config")
        .retain_deployment_config(true)
        .send()
        .await
        .expect("UpdateEndpoint");
    until("the canary bake", || async {
        let baking = describe(&clients, "ep")
            .await
            .pending_deployment_summary()
            .and_then(|pending| pending.production_variants().first())
            .and_then(|variant| variant.variant_status().first())
            .and_then(|status| status.status())
            .is_some_and(|status| status.as_str() == "Baking");
        baking.then_some(())
    })
    .await;
    clients
        .cloudwatch
        .set_alarm_state()
        .alarm_name("ep-5xx")
        .state_value(StateValue::Alarm)
        .state_reason("forced by the test")
        .send()
        .await
        .expect("SetAlarmState");
    let rolled_back = settled(&clients, "ep").await;
    load.abort();
    assert_eq!(rolled_back.endpoint_config_name(), Some("v3-config"));
    let reason = rolled_back.failure_reason().expect("a reason");
    assert!(
        reason.contains("ep-5xx") && reason.contains("forced by the test"),
        "{reason}"
    );

    let runs = aws.engine.store().runs().expect("runs");
    assert_eq!(runs.iter().filter(|run| run.endpoint == "ep").count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_sagemakers_and_cloudwatchs_own_errors() {
    let aws = LocalAws::start(SCALE, PROVISIONING).await;
    let clients = clients(&aws.url);
    model(&clients, "m", "guardrail/baseline").await;
    config(&clients, "c1", "m", 2).await;
    config(&clients, "c2", "m", 2).await;
    assert_eq!(
        endpoint(&clients, "e", "c1").await,
        EndpointStatus::InService
    );

    // An invalid DeploymentConfig is refused with exactly the planner's problems.
    let mut bad = canary(7_200, "nope");
    bad = DeploymentConfig::builder()
        .set_blue_green_update_policy(bad.blue_green_update_policy().cloned())
        .build();
    let refused = update(&clients, "e", "c2")
        .deployment_config(bad)
        .send()
        .await
        .expect_err("refused")
        .into_service_error();
    let plan: guardrail_core::Plan = serde_json::from_value(serde_json::json!({
        "EndpointName": "e",
        "EndpointConfigName": "c2",
        "VariantName": "AllTraffic",
        "InstanceCount": 2,
        "InstanceType": "ml.m5.xlarge",
        "DeploymentConfig": {"BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {"Type": "CANARY", "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1}, "WaitIntervalInSeconds": 7200},
            "TerminationWaitInSeconds": 60, "MaximumExecutionTimeoutInSeconds": 1800}},
    }))
    .expect("a plan");
    let planner: Vec<String> = guardrail_core::check(&plan)
        .report
        .errors
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(!planner.is_empty());
    assert_eq!(refused.code(), Some("ValidationException"));
    assert_eq!(
        refused.message(),
        Some(
            format!(
                "{} validation error{} detected: {}",
                planner.len(),
                if planner.len() == 1 { "" } else { "s" },
                planner.join("; ")
            )
            .as_str()
        )
    );

    // A rollback alarm that CloudWatch does not have.
    let missing = update(&clients, "e", "c2")
        .deployment_config(canary(300, "no-such-alarm"))
        .send()
        .await
        .expect_err("refused")
        .into_service_error();
    assert!(
        missing
            .message()
            .unwrap_or_default()
            .contains("'no-such-alarm'"),
        "{missing:?}"
    );

    let unknown = clients
        .sagemaker
        .describe_endpoint()
        .endpoint_name("nowhere")
        .send()
        .await
        .expect_err("no such endpoint")
        .into_service_error();
    assert_eq!(unknown.code(), Some("ValidationException"));
    assert_eq!(
        unknown.message(),
        Some("Could not find endpoint \"arn:aws:sagemaker:us-east-1:123456789012:endpoint/nowhere\".")
    );
    let again = clients
        .sagemaker
        .create_model()
        .model_name("m")
        .primary_container(
            ContainerDefinition::builder()
                .image("guardrail/fixed")
                .build(),
        )
        .send()
        .await
        .expect_err("exists")
        .into_service_error();
    assert!(again
        .message()
        .unwrap_or_default()
        .starts_with("Cannot create already existing model"));
    let odd = clients
        .sagemaker
        .create_endpoint_config()
        .endpoint_config_name("odd")
        .production_variants(
            ProductionVariant::builder()
                .variant_name("AllTraffic")
                .model_name("m")
                .initial_instance_count(0)
                .instance_type(ProductionVariantInstanceType::from("ml.m5.huge"))
                .build(),
        )
        .send()
        .await
        .expect_err("invalid")
        .into_service_error();
    let message = odd.message().unwrap_or_default();
    assert!(
        message.starts_with("2 validation errors detected"),
        "{message}"
    );
    assert!(message.contains("initialInstanceCount") && message.contains("ml.m5.huge"));

    // SageMaker Runtime's ValidationError for an endpoint that does not exist.
    let nowhere = clients
        .runtime
        .invoke_endpoint()
        .endpoint_name("nowhere")
        .body(aws_sdk_sagemakerruntime::primitives::Blob::new(
            b"1".to_vec(),
        ))
        .send()
        .await
        .expect_err("no such endpoint")
        .into_service_error();
    assert!(nowhere.is_validation_error(), "{nowhere:?}");

    // CloudWatch over CBOR: modeled and unmodeled errors.
    let gone = clients
        .cloudwatch
        .delete_alarms()
        .alarm_names("never-made")
        .send()
        .await
        .expect_err("no such alarm")
        .into_service_error();
    assert!(gone.is_resource_not_found(), "{gone:?}");
    let endpoint_wide = [("EndpointName", "e"), ("VariantName", "AllTraffic")];
    let period = alarm(&clients, "odd-period", "Invocations", &endpoint_wide, 1.0)
        .statistic(Statistic::Sum)
        .period(45)
        .send()
        .await
        .expect_err("45 s is not a period")
        .into_service_error();
    assert_eq!(period.code(), Some("InvalidParameterValue"));
    assert!(
        period.message().unwrap_or_default().contains("Period"),
        "{period:?}"
    );
    let history = clients
        .cloudwatch
        .describe_alarm_history()
        .max_records(500)
        .send()
        .await
        .expect_err("out of range")
        .into_service_error();
    assert_eq!(history.code(), Some("InvalidParameterValue"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_nothing_maps_fails_the_endpoint_and_a_model_error_is_a_model_error() {
    let aws = LocalAws::start(SCALE, PROVISIONING).await;
    let clients = clients(&aws.url);
    model(
        &clients,
        "xgboost",
        "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.2-1",
    )
    .await;
    config(&clients, "xgboost-config", "xgboost", 1).await;
    let status = endpoint(&clients, "unmapped", "xgboost-config").await;
    assert_eq!(status, EndpointStatus::Failed);
    let described = describe(&clients, "unmapped").await;
    let reason = described.failure_reason().expect("a failure reason");
    assert!(
        reason.contains("sagemaker-xgboost:1.2-1") && reason.contains("engine.json"),
        "{reason}"
    );
    let update = update(&clients, "unmapped", "xgboost-config")
        .send()
        .await
        .expect_err("a Failed endpoint can only be deleted")
        .into_service_error();
    assert!(
        update.message().unwrap_or_default().contains("Failed"),
        "{update:?}"
    );
    clients
        .sagemaker
        .delete_endpoint()
        .endpoint_name("unmapped")
        .send()
        .await
        .expect("DeleteEndpoint");
    let listed = clients
        .sagemaker
        .list_endpoints()
        .send()
        .await
        .expect("ListEndpoints");
    let names: Vec<&str> = listed
        .endpoints()
        .iter()
        .filter_map(|endpoint| endpoint.endpoint_name())
        .collect();
    assert_eq!(names, ["guardrail-demo"]);

    // A model's own failure is SageMaker Runtime's ModelError, with its status.
    model(&clients, "broken", "guardrail/incompatible").await;
    config(&clients, "broken-config", "broken", 1).await;
    assert_eq!(
        endpoint(&clients, "broken", "broken-config").await,
        EndpointStatus::InService
    );
    let failed = invoke(&clients, "broken", b"1,2")
        .await
        .expect_err("the model fails");
    match failed {
        aws_sdk_sagemakerruntime::operation::invoke_endpoint::InvokeEndpointError::ModelError(
            error,
        ) => {
            assert_eq!(error.original_status_code(), Some(500));
            assert!(error
                .original_message()
                .unwrap_or_default()
                .contains("XGBoost"));
        }
        other => panic!("expected a ModelError, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapped_image_runs_its_command_with_the_models_data_and_environment() {
    use guardrail_server::engine::registry::{ImageMapping, Registry, Runner};
    let script = common::workspace().join("server/tests/python/echo_model.py");
    let mut registry = Registry::demo();
    registry.images.push(ImageMapping {
        image: None,
        prefix: Some("123456789012.dkr.ecr.us-east-1.amazonaws.com/echo".into()),
        run: Runner {
            command: Some(format!(
                "{} {} --port {{port}} --model {{model_data_url}}",
                common::venv_bin("python").display(),
                script.display()
            )),
            ..Runner::default()
        },
    });
    let aws = LocalAws::with_registry(registry, SCALE, PROVISIONING).await;
    let clients = clients(&aws.url);
    clients
        .sagemaker
        .create_model()
        .model_name("echo")
        .primary_container(
            ContainerDefinition::builder()
                .image("123456789012.dkr.ecr.us-east-1.amazonaws.com/echo:3")
                .model_data_url("s3://models/echo.tar.gz")
                .environment("GREETING", "hello")
                .build(),
        )
        .send()
        .await
        .expect("CreateModel");
    let described = clients
        .sagemaker
        .describe_model()
        .model_name("echo")
        .send()
        .await
        .expect("DescribeModel");
    let container = described
        .primary_container()
        .expect("the primary container");
    assert_eq!(container.model_data_url(), Some("s3://models/echo.tar.gz"));
    config(&clients, "echo-config", "echo", 1).await;
    assert_eq!(
        endpoint(&clients, "echo", "echo-config").await,
        EndpointStatus::InService
    );
    let answer = invoke(&clients, "echo", b"1,2,3")
        .await
        .expect("InvokeEndpoint");
    let body: serde_json::Value =
        serde_json::from_slice(answer.body().expect("a body").as_ref()).expect("JSON");
    assert_eq!(body["model_argument"], "s3://models/echo.tar.gz");
    assert_eq!(body["model_data_url"], "s3://models/echo.tar.gz");
    assert_eq!(body["greeting"], "hello");
    assert!(body["bind_to_port"]
        .as_str()
        .is_some_and(|port| port.parse::<u16>().is_ok()));
    assert_eq!(body["body"], "1,2,3");
    let deployed = describe(&clients, "echo").await;
    let images = deployed.production_variants()[0].deployed_images();
    assert_eq!(
        images[0].specified_image(),
        Some("123456789012.dkr.ecr.us-east-1.amazonaws.com/echo:3")
    );
}
