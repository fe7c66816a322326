//! The SageMaker backend, through the real AWS SDK for Rust, against a scripted
//! fake of SageMaker and CloudWatch (`fake_aws`): what real SageMaker does and
//! `guardrail serve`'s emulation never shows. One test each: throttling, 500s
//! and 503s mid-watch, `RollingBack` then `InService`, `UpdateRollbackFailed`,
//! `SystemUpdating`, a stale `DescribeEndpoint` right after `UpdateEndpoint`,
//! an expired token mid-watch, `GetMetricData` in pages, and the canary
//! judge on CloudWatch's statistics publishing with `PutMetricData`. Each test checks
//! that the fake met only requests and answers that fit botocore's models.
//! Every wait polls a condition; none sleeps a fixed time.

mod common;
mod fake_aws;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_aws::{Fake, Reply};
use guardrail_app::api::RunOptions;
use guardrail_core::controller::RollbackCause;
use guardrail_core::event::{Event, EventKind, RunOutcome};
use guardrail_core::Plan;
use guardrail_server::backend::sagemaker::aws::{Clients, Settings};
use guardrail_server::backend::sagemaker::SageMaker;
use guardrail_server::backend::Backend;
use guardrail_server::store::Store;
use serde_json::{json, Value};

const ENDPOINT: &str = "guardrail-demo";
const ARN: &str = "arn:aws:sagemaker:us-east-1:123456789012:endpoint/guardrail-demo";
const ALARM: &str = "TestAlarm-5XXErrors-guardrail-demo";
/// The update's start on the fake's clock, epoch seconds (a whole minute).
const T0: f64 = 1_800_000_000.0;

/// The SDK's config for the fake: standard retries (3 attempts) with a 1 ms
/// initial backoff, and credentials whose session token is `token-N` on the
/// Nth fetch.
fn sdk_config(url: &str, issued: Arc<AtomicUsize>) -> aws_config::SdkConfig {
    use aws_config::{BehaviorVersion, Region};
    use aws_sdk_sagemaker::config::retry::RetryConfig;
    use aws_sdk_sagemaker::config::{Credentials, SharedCredentialsProvider};
    let provider = aws_credential_types::credential_fn::provide_credentials_fn(move || {
        let issued = issued.clone();
        async move {
            let n = issued.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(Credentials::new(
                "AKIDFAKE",
                "fake-secret",
                Some(format!("token-{n}")),
                None,
                "tests",
            ))
        }
    });
    aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .retry_config(RetryConfig::standard().with_initial_backoff(Duration::from_millis(1)))
        .endpoint_url(url)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build()
}

/// The notebook's canary to `fixed`, with its 5XX rollback alarm only.
fn plan() -> Plan {
    let mut plan = Plan::from_json(guardrail_core::examples::NOTEBOOK_CANARY).expect("example");
    plan.endpoint_config_name = "fixed".into();
    plan.alarms.retain(|alarm| alarm.alarm_name == ALARM);
    if let Some(rollback) = plan
        .deployment_config
        .as_mut()
        .and_then(|config| config.auto_rollback_configuration.as_mut())
    {
        rollback.alarms.retain(|alarm| alarm.alarm_name == ALARM);
    }
    plan
}

/// `DescribeEndpoint`'s answer: the endpoint on `config`, modified at
/// `modified` (epoch seconds), three instances serving.
fn endpoint(status: &str, config: &str, modified: f64) -> Value {
    json!({
        "EndpointName": ENDPOINT,
        "EndpointArn": ARN,
        "EndpointConfigName": config,
        "EndpointStatus": status,
        "CreationTime": T0 - 86_400.0,
        "LastModifiedTime": modified,
        "ProductionVariants": [{
            "VariantName": "AllTraffic",
            "CurrentWeight": 1.0,
            "DesiredWeight": 1.0,
            "CurrentInstanceCount": 3,
            "DesiredInstanceCount": 3
        }]
    })
}

/// The endpoint before the update: `InService` on `baseline` since an hour.
fn before() -> Value {
    endpoint("InService", "baseline", T0 - 3_600.0)
}

/// `DescribeEndpoint` during the update: `status`, with the new fleet's
/// variant in `green` status since `since` (seconds after the start), at
/// weight `green_weight` beside blue's `blue_weight`.
fn updating(status: &str, green: &str, since: f64, green_weight: f64, blue_weight: f64) -> Value {
    let mut view = endpoint(status, "baseline", T0);
    view["ProductionVariants"][0]["CurrentWeight"] = json!(blue_weight);
    view["PendingDeploymentSummary"] = json!({
        "EndpointConfigName": "fixed",
        "StartTime": T0,
        "ProductionVariants": [{
            "VariantName": "AllTraffic",
            "CurrentWeight": green_weight,
            "CurrentInstanceCount": 1,
            "VariantStatus": [{"Status": green, "StartTime": T0 + since}]
        }]
    });
    view
}

/// The new fleet provisioning (`Creating`) during the update.
fn creating() -> Reply {
    Reply::output(updating("Updating", "Creating", 1.0, 0.0, 1.0))
}

/// The canary baking beside blue, a third of the traffic.
fn baking() -> Reply {
    Reply::output(updating("Updating", "Baking", 90.0, 1.0, 2.0))
}

/// SageMaker rolling the update back since 5:12.
fn rolling_back() -> Reply {
    Reply::output(updating("RollingBack", "Deleting", 312.0, 0.0, 1.0))
}

/// The endpoint before the update, as `DescribeEndpoint` answers it.
fn as_before() -> Reply {
    Reply::output(before())
}

/// `InService` on `config` since `at` seconds after the start.
fn in_service(config: &str, at: f64) -> Reply {
    Reply::output(endpoint("InService", config, T0 + at))
}

/// The 5XX alarm in `state` since `since` (seconds after the start).
fn alarms(state: &str, since: f64) -> Value {
    json!({
        "MetricAlarms": [{
            "AlarmName": ALARM,
            "AlarmArn": format!("arn:aws:cloudwatch:us-east-1:123456789012:alarm:{ALARM}"),
            "StateValue": state,
            "StateReason": if state == "ALARM" {
                "Threshold Crossed: 1 datapoint [4.0 (01/01/27 00:05:00)] was greater than or equal to the threshold (1.0)."
            } else {
                "Threshold Crossed: no datapoints were breaching"
            },
            "StateUpdatedTimestamp": T0 + since,
            "Namespace": "AWS/SageMaker",
            "MetricName": "Invocation5XXErrors",
            "Dimensions": [
                {"Name": "EndpointName", "Value": ENDPOINT},
                {"Name": "VariantName", "Value": "AllTraffic"}
            ],
            "Statistic": "Average",
            "Period": 60,
            "EvaluationPeriods": 1,
            "Threshold": 1.0,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching"
        }]
    })
}

/// The 5XX alarm's move from OK to ALARM at `at` (seconds after the start).
fn alarm_history(at: f64) -> Value {
    let data = json!({
        "version": "1.0",
        "oldState": {"stateValue": "OK", "stateReason": "Threshold Crossed: no datapoints were breaching"},
        "newState": {
            "stateValue": "ALARM",
            "stateReason": "Threshold Crossed: 1 datapoint [4.0] was greater than or equal to the threshold (1.0).",
            "stateReasonData": {"evaluatedDatapoints": [{"timestamp": "2027-01-15T08:05:00.000+0000", "value": 4.0}]}
        }
    });
    json!({
        "AlarmHistoryItems": [{
            "AlarmName": ALARM,
            "AlarmType": "MetricAlarm",
            "Timestamp": T0 + at,
            "HistoryItemType": "StateUpdate",
            "HistorySummary": "Alarm updated from OK to ALARM",
            "HistoryData": data.to_string()
        }]
    })
}

/// A fake scripted as an account where the update can start: the new config
/// exists, the alarm is OK with no history, `UpdateEndpoint` is accepted,
/// metrics are empty. `DescribeEndpoint` is each test's own.
async fn fake() -> Fake {
    let fake = Fake::start().await;
    fake.always(
        "DescribeEndpointConfig",
        Reply::output(json!({
            "EndpointConfigName": "fixed",
            "EndpointConfigArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/fixed",
            "CreationTime": T0 - 7_200.0,
            "ProductionVariants": [{
                "VariantName": "AllTraffic",
                "ModelName": "model-fixed",
                "InitialInstanceCount": 3,
                "InstanceType": "ml.m5.xlarge",
                "InitialVariantWeight": 1.0
            }]
        })),
    );
    fake.always("DescribeAlarms", Reply::output(alarms("OK", -600.0)));
    fake.always(
        "DescribeAlarmHistory",
        Reply::output(json!({"AlarmHistoryItems": []})),
    );
    fake.always("UpdateEndpoint", Reply::output(json!({"EndpointArn": ARN})));
    fake.always(
        "GetMetricData",
        Reply::output(json!({"MetricDataResults": [], "Messages": []})),
    );
    fake
}

/// The backend on the fake, polling every 10 ms, with the API clock at
/// `scale`; and the count of credentials fetched.
fn backend(fake: &Fake, store: &Store, scale: f64) -> (SageMaker, Arc<AtomicUsize>) {
    let issued = Arc::new(AtomicUsize::new(0));
    let settings = Settings {
        api_time_scale: scale,
        poll_ms: 10,
        endpoint_url: Some(fake.url.clone()),
        ..Settings::default()
    };
    let clients = Clients::from_config(
        &sdk_config(&fake.url, issued.clone()),
        "us-east-1".into(),
        fake.url.clone(),
    );
    (
        SageMaker::with_clients(store.clone(), settings, clients),
        issued,
    )
}

/// Waits (up to 30 s) for the run to end; its outcome and events.
async fn ended(store: &Store, run_id: &str) -> (RunOutcome, Vec<Event>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(outcome) = store.outcome(run_id).expect("the run") {
            return (outcome, store.events(run_id).expect("events"));
        }
        assert!(
            Instant::now() < deadline,
            "the run should end: {:#?}",
            store.events(run_id)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Starts the plan's update on the fake (the API clock at real time) and
/// waits for the run to end: its outcome and events.
async fn start_and_end(fake: &Fake) -> (RunOutcome, Vec<Event>) {
    let store = Store::in_memory().expect("store");
    let (backend, _) = backend(fake, &store, 1.0);
    let run_id = backend
        .start(&plan(), RunOptions::default())
        .await
        .expect("the update starts");
    ended(&store, &run_id).await
}

fn poll_failures(events: &[Event]) -> Vec<(String, String)> {
    events
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::PollFailed {
                operation, error, ..
            } => Some((operation.clone(), error.clone())),
            _ => None,
        })
        .collect()
}

fn observed(events: &[Event]) -> Vec<(String, Option<String>)> {
    events
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::EndpointObserved {
                status, message, ..
            } => Some((status.clone(), message.clone())),
            _ => None,
        })
        .collect()
}

fn count(events: &[Event], matches: impl Fn(&EventKind) -> bool) -> usize {
    events.iter().filter(|event| matches(&event.kind)).count()
}

fn assert_fits_the_models(fake: &Fake) {
    assert_eq!(fake.problems(), Vec::<String>::new(), "{:#?}", fake.calls());
}

#[tokio::test]
async fn throttling_is_retried_as_the_sdk_retries_and_a_longer_storm_is_reported_and_outlasted() {
    let fake = fake().await;
    // UpdateEndpoint throttled twice: the SDK's third attempt gets through.
    fake.then(
        "UpdateEndpoint",
        Reply::error("ThrottlingException", "Rate exceeded"),
        2,
    );
    fake.script("DescribeEndpoint", vec![(as_before(), 1), (creating(), 1)]);
    // Mid-watch, four throttles in a row: one poll's three attempts fail and
    // it is reported; the next poll's second attempt gets through.
    fake.script(
        "DescribeEndpoint",
        vec![
            (Reply::error("ThrottlingException", "Rate exceeded"), 4),
            (baking(), 2),
        ],
    );
    fake.always("DescribeEndpoint", in_service("fixed", 600.0));
    let store = Store::in_memory().expect("store");
    let (backend, _) = backend(&fake, &store, 1.0);
    let run_id = backend
        .start(&plan(), RunOptions::default())
        .await
        .expect("the update starts after two throttled attempts");
    let (outcome, events) = ended(&store, &run_id).await;
    assert_eq!(outcome, RunOutcome::Succeeded, "{events:#?}");
    assert_eq!(
        fake.count("UpdateEndpoint"),
        3,
        "the SDK's standard retry mode makes 3 attempts"
    );
    let failures = poll_failures(&events);
    assert_eq!(failures.len(), 1, "{failures:#?}");
    assert_eq!(failures[0].0, "DescribeEndpoint");
    assert!(
        failures[0].1.contains("ThrottlingException: Rate exceeded"),
        "{failures:#?}"
    );
    assert_fits_the_models(&fake);
}

#[tokio::test]
async fn server_errors_are_retried_reported_and_never_read_as_an_outcome() {
    let fake = fake().await;
    // UpdateEndpoint answers 500, yet SageMaker began the update: the SDK's
    // retry meets "in progress". The backend looks, and watches that update.
    fake.script(
        "UpdateEndpoint",
        vec![
            (Reply::error("InternalFailure", "We encountered an internal error."), 1),
            (Reply::error( "ValidationException", "Cannot update in-progress endpoint \"arn:aws:sagemaker:us-east-1:123456789012:endpoint/guardrail-demo\".", ), 1),
        ],
    );
    fake.script("DescribeEndpoint", vec![(as_before(), 1), (creating(), 3)]);
    // Mid-watch: 503s for one whole poll, then 500s for another.
    fake.script(
        "DescribeEndpoint",
        vec![
            (
                Reply::error("ServiceUnavailable", "Service is unavailable."),
                3,
            ),
            (
                Reply::error("InternalFailure", "We encountered an internal error."),
                3,
            ),
        ],
    );
    fake.script(
        "DescribeAlarms",
        vec![
            (Reply::output(alarms("OK", -600.0)), 1),
            (
                Reply::error("InternalFailure", "Internal service error."),
                3,
            ),
        ],
    );
    fake.then("DescribeEndpoint", baking(), 2);
    fake.always("DescribeEndpoint", in_service("fixed", 600.0));
    let store = Store::in_memory().expect("store");
    let (backend, _) = backend(&fake, &store, 1.0);
    let run_id = backend
        .start(&plan(), RunOptions::default())
        .await
        .expect("the update SageMaker began is watched");
    let (outcome, events) = ended(&store, &run_id).await;
    assert_eq!(outcome, RunOutcome::Succeeded, "{events:#?}");
    assert_eq!(fake.count("UpdateEndpoint"), 2, "one 500, one retry");
    assert!(
        observed(&events)
            .iter()
            .any(|(_, message)| message.as_deref().is_some_and(|text| {
                text.contains("UpdateEndpoint answered ValidationException")
                    && text.contains("guardrail watches that update")
            })),
        "{events:#?}"
    );
    let failures = poll_failures(&events);
    for expected in [
        (
            "DescribeEndpoint",
            "ServiceUnavailable: Service is unavailable.",
        ),
        (
            "DescribeEndpoint",
            "InternalFailure: We encountered an internal error.",
        ),
        ("DescribeAlarms", "InternalFailure: Internal service error."),
    ] {
        assert!(
            failures
                .iter()
                .any(|(operation, error)| operation == expected.0 && error.contains(expected.1)),
            "{expected:?} in {failures:#?}"
        );
    }
    assert_eq!(failures.len(), 3, "{failures:#?}");
    assert_eq!(
        count(&events, |kind| matches!(
            kind,
            EventKind::Failed { .. } | EventKind::RollbackStarted { .. }
        )),
        0,
        "{events:#?}"
    );
    assert_fits_the_models(&fake);
}

#[tokio::test]
async fn an_update_sagemaker_never_began_is_refused_after_the_sdk_retries() {
    let fake = fake().await;
    fake.always(
        "UpdateEndpoint",
        Reply::error("ThrottlingException", "Rate exceeded"),
    );
    fake.always("DescribeEndpoint", as_before());
    let store = Store::in_memory().expect("store");
    let (backend, _) = backend(&fake, &store, 1.0);
    let refused = backend
        .start(&plan(), RunOptions::default())
        .await
        .expect_err("an update SageMaker did not take is not a run");
    assert!(
        refused
            .message
            .contains("SageMaker refused UpdateEndpoint for guardrail-demo: ThrottlingException: Rate exceeded"),
        "{}",
        refused.message
    );
    assert_eq!(fake.count("UpdateEndpoint"), 3);
    assert!(store.runs().expect("runs").is_empty(), "no run is recorded");
    assert_fits_the_models(&fake);
}

#[tokio::test]
async fn rolling_back_then_in_service_on_the_old_config_is_a_rollback_by_the_alarm() {
    let fake = fake().await;
    fake.script(
        "DescribeEndpoint",
        vec![
            (as_before(), 1),
            (creating(), 2),
            (baking(), 1),
            (rolling_back(), 3),
        ],
    );
    fake.always("DescribeEndpoint", in_service("baseline", 420.0));
    // The alarm is OK for the preflight and the first two rounds, then ALARM
    // since 5:10.
    fake.then("DescribeAlarms", Reply::output(alarms("OK", -600.0)), 3);
    fake.always("DescribeAlarms", Reply::output(alarms("ALARM", 310.0)));
    fake.always("DescribeAlarmHistory", Reply::output(alarm_history(310.0)));
    let (outcome, events) = start_and_end(&fake).await;
    match &outcome {
        RunOutcome::RolledBack {
            cause: RollbackCause::Alarm { alarm, .. },
            ..
        } => assert_eq!(alarm, ALARM),
        other => panic!("a rollback by {ALARM}, not {other:?}: {events:#?}"),
    }
    assert!(
        observed(&events)
            .iter()
            .any(|(status, _)| status == "RollingBack"),
        "{events:#?}"
    );
    assert_eq!(
        count(&events, |kind| matches!(
            kind,
            EventKind::RollbackStarted { .. }
        )),
        1,
        "{events:#?}"
    );
    assert_eq!(
        count(&events, |kind| matches!(kind, EventKind::Failed { .. })),
        0,
        "RollingBack is not a failure: {events:#?}"
    );
    let started = events
        .iter()
        .find(|event| matches!(event.kind, EventKind::RollbackStarted { .. }))
        .expect("a rollback");
    assert_eq!(
        started.at_ms, 310_000,
        "the rollback starts when the alarm fired"
    );
    assert_fits_the_models(&fake);
}

#[tokio::test]
async fn update_rollback_failed_is_a_failure_that_needs_a_person_with_sagemakers_reason() {
    let fake = fake().await;
    let reason =
        "Rollback failed: the instances of production variant AllTraffic could not be launched.";
    fake.script(
        "DescribeEndpoint",
        vec![(as_before(), 1), (baking(), 3), (rolling_back(), 1)],
    );
    let mut failed = endpoint("UpdateRollbackFailed", "baseline", T0 + 500.0);
    failed["FailureReason"] = json!(reason);
    fake.always("DescribeEndpoint", Reply::output(failed));
    let (outcome, events) = start_and_end(&fake).await;
    let RunOutcome::Failed { reason: said } = &outcome else {
        panic!("a failure, not {outcome:?}: {events:#?}");
    };
    for expected in [
        "could not roll the update back",
        "UpdateRollbackFailed",
        reason,
        "needs a person",
        "aws sagemaker describe-endpoint --endpoint-name guardrail-demo",
    ] {
        assert!(said.contains(expected), "{expected:?} in {said:?}");
    }
    assert_eq!(
        count(&events, |kind| matches!(
            kind,
            EventKind::RollbackCompleted | EventKind::Succeeded
        )),
        0,
        "it did not roll back: {events:#?}"
    );
    assert_fits_the_models(&fake);
}

#[tokio::test]
async fn system_updating_refuses_the_start_and_is_waited_out_during_an_update() {
    let fake = fake().await;
    fake.then(
        "DescribeEndpoint",
        Reply::output(endpoint("SystemUpdating", "baseline", T0 - 60.0)),
        1,
    );
    let store = Store::in_memory().expect("store");
    let (backend, _) = backend(&fake, &store, 1.0);
    let refused = backend
        .start(&plan(), RunOptions::default())
        .await
        .expect_err("SageMaker takes no update while it maintains the endpoint");
    assert!(
        refused
            .message
            .contains("endpoint guardrail-demo is SystemUpdating")
            && refused.message.contains("wait until it is InService"),
        "{}",
        refused.message
    );
    assert_eq!(fake.count("UpdateEndpoint"), 0);

    fake.script(
        "DescribeEndpoint",
        vec![
            (as_before(), 1),
            (creating(), 2),
            (
                Reply::output(updating("SystemUpdating", "Creating", 1.0, 0.0, 1.0)),
                3,
            ),
            (baking(), 2),
        ],
    );
    fake.always("DescribeEndpoint", in_service("fixed", 600.0));
    let run_id = backend
        .start(&plan(), RunOptions::default())
        .await
        .expect("the update starts once the endpoint is InService");
    let (outcome, events) = ended(&store, &run_id).await;
    assert_eq!(outcome, RunOutcome::Succeeded, "{events:#?}");
    assert!(
        observed(&events)
            .iter()
            .any(|(status, _)| status == "SystemUpdating"),
        "{events:#?}"
    );
    assert!(poll_failures(&events).is_empty(), "{events:#?}");
    assert_fits_the_models(&fake);
}

#[tokio::test]
async fn a_stale_describe_endpoint_right_after_the_update_is_not_read_as_a_rollback() {
    let fake = fake().await;
    // Eight reads after UpdateEndpoint still show the endpoint as it was.
    fake.script(
        "DescribeEndpoint",
        vec![(as_before(), 9), (creating(), 1), (baking(), 2)],
    );
    fake.always("DescribeEndpoint", in_service("fixed", 600.0));
    let (outcome, events) = start_and_end(&fake).await;
    assert_eq!(outcome, RunOutcome::Succeeded, "{events:#?}");
    let seen = observed(&events);
    assert!(
        seen.iter().any(|(status, message)| status == "InService"
            && message
                .as_deref()
                .is_some_and(|text| text.contains("does not show the update yet"))),
        "{seen:#?}"
    );
    assert!(
        seen.iter().any(|(_, message)| message
            .as_deref()
            .is_some_and(|text| text.contains("estimated from this machine's clock"))),
        "the start's own reads were stale too: {seen:#?}"
    );
    assert_eq!(
        count(&events, |kind| matches!(
            kind,
            EventKind::RollbackStarted { .. } | EventKind::RollbackCompleted
        )),
        0,
        "{events:#?}"
    );
    assert_fits_the_models(&fake);
}

#[tokio::test]
async fn an_expired_token_mid_watch_is_reported_and_fresh_credentials_are_fetched() {
    let fake = fake().await;
    fake.then("DescribeEndpoint", as_before(), 1);
    fake.always("DescribeEndpoint", baking());
    let store = Store::in_memory().expect("store");
    let (backend, issued) = backend(&fake, &store, 1.0);
    let run_id = backend
        .start(&plan(), RunOptions::default())
        .await
        .expect("the update starts");
    fake.wait_for("DescribeEndpoint", 4).await;
    // Every token issued so far expires.
    let expired = issued.load(Ordering::SeqCst);
    for n in 1..=expired {
        fake.expire_token(&format!("token-{n}"));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let fresh = |call: &fake_aws::Call| {
        call.token
            .as_deref()
            .and_then(|token| token.strip_prefix("token-"))
            .and_then(|n| n.parse::<usize>().ok())
            .is_some_and(|n| n > expired)
    };
    while !fake
        .calls()
        .iter()
        .any(|call| call.operation == "DescribeEndpoint" && fresh(call))
    {
        assert!(
            Instant::now() < deadline,
            "the watcher should fetch new credentials: {:#?}",
            store.events(&run_id)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    fake.always("DescribeEndpoint", in_service("fixed", 600.0));
    let (outcome, events) = ended(&store, &run_id).await;
    assert_eq!(outcome, RunOutcome::Succeeded, "{events:#?}");
    let failures = poll_failures(&events);
    assert!(!failures.is_empty(), "{events:#?}");
    for (_, error) in &failures {
        assert!(
            error.contains("ExpiredTokenException")
                && error.contains("the AWS credentials expired"),
            "{error}"
        );
    }
    assert!(issued.load(Ordering::SeqCst) > expired);
    assert_fits_the_models(&fake);
}

/// The minutes a `GetMetricData` request asks for, by their starts (epoch
/// seconds).
fn minutes_asked(input: &Value) -> Vec<f64> {
    let start = input["StartTime"].as_f64().unwrap_or(T0);
    let end = input["EndTime"].as_f64().unwrap_or(T0);
    let mut minutes = Vec::new();
    let mut at = start;
    while at < end {
        minutes.push(at);
        at += 60.0;
    }
    minutes
}

/// The query ids a `GetMetricData` request asks for.
fn ids_asked(input: &Value) -> impl Iterator<Item = &str> {
    input["MetricDataQueries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|query| query["Id"].as_str())
}

/// `GetMetricData`'s value of query `id` for the period starting at `at`
/// (epoch seconds): blue invocations 10, 20, 30, ... per period, green 3, 6,
/// 9, ...; other queries 1.
fn metric_value(id: &str, at: f64) -> f64 {
    let period = ((at - T0) / 60.0).round() + 1.0;
    match id {
        "b0" => 10.0 * period,
        "g0" => 3.0 * period,
        _ => 1.0,
    }
}

#[tokio::test]
async fn get_metric_data_pages_are_followed_to_the_end() {
    let fake = fake().await;
    // Page one holds the blue queries' first period (PartialData) and a
    // NextToken; page two holds the rest of blue and all of green.
    fake.respond("GetMetricData", |input| {
        let second = input["NextToken"].as_str() == Some("page-2");
        let periods = minutes_asked(input);
        let results: Vec<Value> = ids_asked(input)
            .map(|id| {
                let periods: Vec<f64> = match (id.starts_with('b'), second) {
                    (true, false) => periods.iter().copied().take(1).collect(),
                    (true, true) => periods.iter().copied().skip(1).collect(),
                    (false, false) => Vec::new(),
                    (false, true) => periods.clone(),
                };
                json!({
                    "Id": id,
                    "Label": id,
                    "Timestamps": periods,
                    "Values": periods.iter().map(|at| metric_value(id, *at)).collect::<Vec<_>>(),
                    "StatusCode": if second { "Complete" } else { "PartialData" }
                })
            })
            .collect();
        let mut page = json!({"MetricDataResults": results, "Messages": []});
        if !second {
            page["NextToken"] = json!("page-2");
        }
        Reply::output(page)
    });
    fake.then("DescribeEndpoint", as_before(), 1);
    fake.always("DescribeEndpoint", baking());
    let store = Store::in_memory().expect("store");
    // The API clock 1000 times faster: a minute's period ends every 60 ms.
    let (backend, _) = backend(&fake, &store, 1_000.0);
    let run_id = backend
        .start(&plan(), RunOptions::default())
        .await
        .expect("the update starts");
    fake.wait_for("GetMetricData", 6).await;
    fake.always("DescribeEndpoint", in_service("fixed", 600.0));
    let (outcome, events) = ended(&store, &run_id).await;
    assert_eq!(outcome, RunOutcome::Succeeded, "{events:#?}");
    assert!(
        fake.calls()
            .iter()
            .any(|call| call.operation == "GetMetricData" && call.input["NextToken"] == "page-2"),
        "the second page is asked for"
    );
    let periods: Vec<(u64, u64, u64)> = events
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::MetricPeriod {
                start_ms,
                blue,
                green,
                ..
            } => Some((*start_ms, blue.invocations, green.invocations)),
            _ => None,
        })
        .collect();
    assert!(periods.len() >= 3, "{periods:?}");
    for (start_ms, blue, green) in &periods {
        let at = T0 + (*start_ms / 1_000) as f64;
        assert_eq!(
            (*blue, *green),
            (metric_value("b0", at) as u64, metric_value("g0", at) as u64),
            "the period at {start_ms} ms: {periods:?}"
        );
    }
    assert_fits_the_models(&fake);
}

#[tokio::test]
async fn the_fake_reports_answers_and_errors_aws_could_not_send() {
    let fake = Fake::start().await;
    let mut wrong = endpoint("Paused", "baseline", T0);
    wrong
        .as_object_mut()
        .expect("an object")
        .remove("EndpointArn");
    wrong["Colour"] = json!("blue");
    fake.script(
        "DescribeEndpoint",
        vec![
            (Reply::output(wrong), 1),
            (Reply::error("NoSuchThingException", "made up"), 1),
        ],
    );
    let client =
        aws_sdk_sagemaker::Client::new(&sdk_config(&fake.url, Arc::new(AtomicUsize::new(0))));
    for _ in 0..2 {
        let _ = client
            .describe_endpoint()
            .endpoint_name(ENDPOINT)
            .send()
            .await;
    }
    let problems = fake.problems();
    for expected in [
        "DescribeEndpoint output: required member EndpointArn is missing",
        "DescribeEndpoint output.EndpointStatus: Paused is not one of EndpointStatus's values",
        "DescribeEndpoint output: DescribeEndpointOutput has no member Colour",
        "DescribeEndpoint cannot answer NoSuchThingException",
    ] {
        assert!(
            problems.iter().any(|problem| problem.contains(expected)),
            "{expected:?} in {problems:#?}"
        );
    }
}

#[tokio::test]
async fn the_judge_reads_both_fleets_statistics_and_publishes_its_score_with_put_metric_data() {
    let fake = fake().await;
    // Each minute, blue serves 600 requests with no 5XX and green 200 with
    // 40: the default judge's critical 5XX metric fails green at its first
    // look. Latency averages are equal. From the third request on, green
    // serves alone (blue 0): the judge no longer looks, and its verdict
    // stands.
    let asked = Arc::new(AtomicUsize::new(0));
    let counted = asked.clone();
    fake.respond("GetMetricData", move |input| {
        let periods = minutes_asked(input);
        let alone = counted.fetch_add(1, Ordering::SeqCst) >= 2;
        let value = |id: &str| match id {
            "b0" if alone => 0.0,
            "b0" => 600.0,
            "g0" => 200.0,
            "g2" => 40.0,
            "b4" | "g4" => 4_000.0,
            _ => 0.0,
        };
        let results: Vec<Value> = ids_asked(input)
            .map(|id| {
                json!({
                    "Id": id,
                    "Label": id,
                    "Timestamps": periods,
                    "Values": periods.iter().map(|_| value(id)).collect::<Vec<_>>(),
                    "StatusCode": "Complete"
                })
            })
            .collect();
        Reply::output(json!({"MetricDataResults": results, "Messages": []}))
    });
    fake.always("PutMetricData", Reply::output(json!({})));
    fake.then("DescribeEndpoint", as_before(), 1);
    fake.always("DescribeEndpoint", baking());
    let store = Store::in_memory().expect("store");
    let (backend, _) = backend(&fake, &store, 1_000.0);
    let mut judged = plan();
    judged.judge = Some(guardrail_core::plan::JudgeSection::default_judge());
    let run_id = backend
        .start(&judged, RunOptions::default())
        .await
        .expect("the update starts");
    fake.wait_for("PutMetricData", 4).await;
    fake.always("DescribeEndpoint", in_service("fixed", 600.0));
    let (outcome, events) = ended(&store, &run_id).await;
    assert_eq!(outcome, RunOutcome::Succeeded, "{events:#?}");
    // Each look is recorded, once a minute (the judge's 10 s rounded up to
    // CloudWatch's period), and fails green on its 5XX.
    let looks: Vec<(u64, Option<f64>)> = events
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::CanaryJudged { judgement } => Some((event.at_ms, judgement.score)),
            _ => None,
        })
        .collect();
    assert!(looks.len() >= 2, "{looks:?}");
    // Published after every minute read, looked at or standing.
    let scores: Vec<Value> = fake
        .calls()
        .into_iter()
        .filter(|call| call.operation == "PutMetricData")
        .filter_map(|call| {
            call.input["MetricData"]
                .as_array()?
                .iter()
                .find(|datum| datum["MetricName"] == "CanaryScore")
                .map(|datum| datum["Value"].clone())
        })
        .collect();
    assert!(scores.len() > looks.len(), "{scores:?} {looks:?}");
    assert!(
        scores.iter().all(|score| *score == json!(0.0)),
        "{scores:?}"
    );
    assert!(
        looks.iter().all(|(_, score)| *score == Some(0.0)),
        "{looks:?}"
    );
    // Published as the local engine publishes it: the score and each
    // metric's class, with green's config, in the judge's namespace.
    let put = fake
        .calls()
        .into_iter()
        .find(|call| call.operation == "PutMetricData")
        .expect("a PutMetricData");
    assert_eq!(put.input["Namespace"], "Guardrail/CanaryJudge");
    let data = put.input["MetricData"].as_array().expect("data");
    let score = data
        .iter()
        .find(|datum| datum["MetricName"] == "CanaryScore")
        .expect("the score");
    assert_eq!(score["Value"], json!(0.0));
    assert_eq!(
        score["Dimensions"],
        json!([
            {"Name": "EndpointName", "Value": ENDPOINT},
            {"Name": "EndpointConfigName", "Value": "fixed"}
        ])
    );
    let high = data
        .iter()
        .find(|datum| datum["MetricName"] == "Invocation5XXErrorsClass")
        .expect("the 5XX class");
    assert_eq!(high["Value"], json!(1.0));
    // `guardrail judge` on this record finds what the watcher found, look by
    // look (the watcher records a look when it reads the minute, after
    // CloudWatch's two minutes to settle; a re-judgement dates it at the
    // minute's end).
    // The default judge's 10 s looks every minute here, as the watcher's did.
    let spec = guardrail_core::judge::JudgeSpec::default_judge();
    let again = guardrail_core::retro::judge_record(&events, &spec).expect("re-judged");
    assert_eq!(again.len(), looks.len(), "{again:?}");
    for (look, (at_ms, score)) in again.iter().zip(&looks) {
        assert_eq!(look.judgement.score, *score);
        assert!(look.at_ms <= *at_ms, "{} {at_ms}", look.at_ms);
    }
    // The dry run shows the call, and how often.
    let dry = SageMaker::dry_run(&judged, &Settings::default()).expect("a dry run");
    let publish = &dry["then"]["after_each_look_of_the_judge"];
    assert_eq!(publish["operation"], "PutMetricData");
    assert_eq!(publish["every_seconds"], 60);
    let names: Vec<&str> = publish["input"]["MetricData"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|datum| datum["MetricName"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "CanaryScore",
            "Invocation5XXErrorsClass",
            "InvocationModelErrorsClass",
            "ModelLatencyClass"
        ]
    );
    let unjudged = SageMaker::dry_run(&plan(), &Settings::default()).expect("a dry run");
    assert!(unjudged["then"]["after_each_look_of_the_judge"].is_null());
    assert_fits_the_models(&fake);
}
