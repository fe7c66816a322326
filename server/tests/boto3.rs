//! boto3, botocore and the AWS CLI, from the Python virtual environment that
//! `scripts/setup.sh --python` makes, against guardrail's AWS APIs on a free
//! loopback port: the seed notebook's steps unchanged but for IAM, S3 and
//! `image_uris`; the AWS CLI's `describe-endpoint` and `describe-alarms`; and
//! CloudWatch in each of the three encodings botocore can send.

mod common;

use std::time::Duration;

use common::{aws_environment, venv_bin, workspace, LocalAws};
use serde_json::Value;

/// Runs a program of the venv with the environment that points AWS's tools at
/// `url`; returns its exit status, standard output and standard error.
async fn run(
    url: &str,
    program: &str,
    args: &[&str],
    extra: &[(&str, &str)],
) -> (bool, String, String) {
    let mut command = tokio::process::Command::new(venv_bin(program));
    command.args(args).kill_on_drop(true);
    for (key, value) in aws_environment(url) {
        command.env(key, value);
    }
    for (key, value) in extra {
        command.env(key, value);
    }
    let output = tokio::time::timeout(Duration::from_secs(240), command.output())
        .await
        .expect("the program finishes within 4 minutes")
        .expect("the program runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The last line of `stdout`, as JSON.
fn last_json(stdout: &str, stderr: &str) -> Value {
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line)
        .unwrap_or_else(|error| panic!("the last line is not JSON ({error}):\n{stdout}\n{stderr}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_seed_notebook_rolls_back_model_2_and_deploys_model_3() {
    // The notebook's waits are minutes: 120 times faster, with launches that
    // take five minutes of API time, as SageMaker's do.
    let aws = LocalAws::start(120.0, 300).await;
    let notebook = workspace().join("examples/boto3/notebook-canary.py");
    let notebook = notebook.to_string_lossy();
    let (ok, stdout, stderr) = run(
        &aws.url,
        "python",
        &[notebook.as_ref()],
        // The notebook's latency alarm at 100 ms rather than 10 ms: the local
        // models answer in about 7 ms, which a machine busy with other work
        // pushed past 10 ms once (the run then rolled back on latency).
        &[
            ("GUARDRAIL_TIME_SCALE", "120"),
            ("GUARDRAIL_LATENCY_THRESHOLD_US", "100000"),
        ],
    )
    .await;
    assert!(ok, "the notebook failed:\n{stdout}\n{stderr}");
    let summary = last_json(&stdout, &stderr);
    let configs = summary["configs"].as_array().expect("configs");
    // Model 2 in an incompatible container: traffic goes back to config 1, and
    // the endpoint says InService, as SageMaker's silent rollback does.
    let first = &summary["first"];
    assert_eq!(first["status"], "InService", "{summary}");
    assert_eq!(first["config"], configs[0], "{summary}");
    let reason = first["failure_reason"].as_str().expect("a failure reason");
    assert!(reason.contains("TestAlarm-5XXErrors"), "{reason}");
    assert!(first["model_errors"].as_u64() > Some(0), "{summary}");
    // Model 2 in a compatible container, with the retained canary: deployed.
    let second = &summary["second"];
    assert_eq!(second["config"], configs[2], "{summary}");
    assert_eq!(second["failure_reason"], Value::Null, "{summary}");
    assert_eq!(second["model_errors"], 0, "{summary}");
    assert!(second["variant_statuses"]
        .as_array()
        .is_some_and(|statuses| statuses.iter().any(|status| status == "Baking")));
    // CloudWatch's history says which alarm tripped; the latency alarm did not.
    assert_eq!(
        summary["tripped"].as_array().map(Vec::len),
        Some(1),
        "{summary}"
    );
    // The per-config metrics the notebook plots.
    let metric = |key: &str| summary["metrics"][key].as_f64().unwrap_or(-1.0);
    assert!(metric("EpConfig-2-/Invocation5XXErrors") > 0.0, "{summary}");
    assert_eq!(
        metric("EpConfig-2-/Invocation5XXErrors"),
        metric("EpConfig-2-/Invocations"),
        "every request to model 2 failed: {summary}"
    );
    assert_eq!(metric("EpConfig-1-/Invocation5XXErrors"), 0.0, "{summary}");
    assert_eq!(metric("EpConfig-3-/Invocation5XXErrors"), 0.0, "{summary}");
    // Both updates are recorded runs.
    let runs = aws.engine.store().runs().expect("runs");
    assert_eq!(runs.len(), 2, "{runs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_cli_describes_endpoints_and_alarms() {
    let aws = LocalAws::start(120.0, 0).await;
    let (ok, stdout, stderr) = run(
        &aws.url,
        "aws",
        &[
            "sagemaker",
            "describe-endpoint",
            "--endpoint-name",
            "guardrail-demo",
        ],
        &[],
    )
    .await;
    assert!(ok, "{stderr}");
    let endpoint: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(endpoint["EndpointStatus"], "InService");
    assert_eq!(endpoint["EndpointConfigName"], "baseline");
    assert_eq!(endpoint["ProductionVariants"][0]["CurrentInstanceCount"], 3);

    // The API clock runs at a time scale: the alarm's timestamps fall
    // between its readings before the put and after the describe.
    let before = aws.engine.clock().now_ms() as f64 / 1_000.0;
    let (ok, _, stderr) = run(
        &aws.url,
        "aws",
        &[
            "cloudwatch",
            "put-metric-alarm",
            "--alarm-name",
            "cli-5xx",
            "--namespace",
            "AWS/SageMaker",
            "--metric-name",
            "Invocation5XXErrors",
            "--dimensions",
            "Name=EndpointName,Value=guardrail-demo",
            "Name=VariantName,Value=AllTraffic",
            "--statistic",
            "Average",
            "--period",
            "60",
            "--evaluation-periods",
            "1",
            "--threshold",
            "1",
            "--comparison-operator",
            "GreaterThanOrEqualToThreshold",
            "--treat-missing-data",
            "notBreaching",
        ],
        &[],
    )
    .await;
    assert!(ok, "{stderr}");
    let (ok, stdout, stderr) = run(
        &aws.url,
        "aws",
        &["cloudwatch", "describe-alarms", "--alarm-names", "cli-5xx"],
        &[],
    )
    .await;
    assert!(ok, "{stderr}");
    let alarms: Value = serde_json::from_str(&stdout).expect("JSON");
    let alarm = &alarms["MetricAlarms"][0];
    assert_eq!(alarm["AlarmName"], "cli-5xx");
    assert_eq!(alarm["Threshold"], 1.0);
    assert_eq!(alarm["Dimensions"].as_array().map(Vec::len), Some(2));
    // AWS CLI v1 prints timestamps as the service sent them: API-clock seconds.
    let updated = alarm["StateUpdatedTimestamp"]
        .as_f64()
        .expect("a timestamp");
    let after = aws.engine.clock().now_ms() as f64 / 1_000.0;
    assert!(
        before - 1.0 <= updated && updated <= after + 1.0,
        "{updated} not in {before}..{after}"
    );

    // An error, as the CLI reports it.
    let (ok, _, stderr) = run(
        &aws.url,
        "aws",
        &[
            "sagemaker",
            "describe-endpoint",
            "--endpoint-name",
            "nowhere",
        ],
        &[],
    )
    .await;
    assert!(!ok);
    assert!(
        stderr.contains("(ValidationException)") && stderr.contains("Could not find endpoint"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudwatch_answers_json_cbor_and_query_with_their_own_errors() {
    let aws = LocalAws::start(120.0, 0).await;
    let script = workspace().join("server/tests/python/cloudwatch_protocols.py");
    let script = script.to_string_lossy();
    let before = aws.engine.clock().now_ms() as f64 / 1_000.0;
    let (ok, stdout, stderr) = run(&aws.url, "python", &[script.as_ref()], &[]).await;
    let after = aws.engine.clock().now_ms() as f64 / 1_000.0;
    assert!(ok, "{stdout}\n{stderr}");
    let results = last_json(&stdout, &stderr);
    let results = results.as_array().expect("a list");
    let content_types: Vec<&str> = results
        .iter()
        .map(|result| result["content_type"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        content_types,
        [
            "application/x-amz-json-1.0",
            "application/cbor",
            "application/x-www-form-urlencoded; charset=utf-8"
        ]
    );
    for result in results {
        let alarm = &result["alarm"];
        // New, and possibly already evaluated once on the fast API clock with
        // no data (TreatMissingData notBreaching makes that OK).
        assert!(
            alarm["state"] == "INSUFFICIENT_DATA" || alarm["state"] == "OK",
            "{result}"
        );
        assert_eq!(alarm["threshold"], 0.25, "{result}");
        assert_eq!(
            (
                &alarm["period"],
                &alarm["evaluation_periods"],
                &alarm["datapoints_to_alarm"]
            ),
            (&Value::from(60), &Value::from(2), &Value::from(1)),
            "{result}"
        );
        assert_eq!(alarm["actions_enabled"], false, "{result}");
        assert_eq!(alarm["dimensions"], 2, "{result}");
        // On the API clock, during the script.
        let updated = alarm["updated"].as_f64().expect("a timestamp");
        assert!(
            before - 1.0 <= updated && updated <= after + 1.0,
            "{updated} not in {before}..{after}"
        );
        assert_eq!(result["error"]["code"], "ResourceNotFound", "{result}");
        assert_eq!(result["invalid_format"], "InvalidFormat", "{result}");
        // PutMetricData read back: 1, 1, 3 and a set of two 5s.
        assert_eq!(result["listed"], serde_json::json!(["Orders"]), "{result}");
        assert_eq!(
            result["stats"],
            serde_json::json!([{"Sum": 15.0, "SampleCount": 5.0, "Maximum": 5.0}]),
            "{result}"
        );
        // A math alarm and a composite alarm, each read back as sent.
        assert_eq!(
            result["math"]["ids"],
            serde_json::json!(["errors", "requests", "rate"])
        );
        assert_eq!(
            result["math"]["returns"],
            serde_json::json!([false, false, true])
        );
        assert_eq!(result["math"]["period"], 60, "{result}");
        assert_eq!(
            result["math"]["expression"],
            "100 * FILL(errors, 0) / requests"
        );
        assert_eq!(result["composite"]["state"], "OK", "{result}");
        assert!(result["composite"]["rule"]
            .as_str()
            .is_some_and(|rule| rule.ends_with("-rate\")")));
        let refused = result["unsupported"].as_str().unwrap_or_default();
        assert!(
            refused.contains("RATE is a CloudWatch function that guardrail does not evaluate"),
            "{result}"
        );
    }
    assert_eq!(aws.engine.cloudwatch().alarms(|_| true).len(), 6);
    assert_eq!(aws.engine.cloudwatch().composites(|_| true).len(), 3);
}

/// The phase of the recorded run to `to_config` in which its rollback began.
fn rollback_phase(aws: &LocalAws, to_config: &str) -> Option<guardrail_core::schedule::Phase> {
    let runs = aws.engine.store().runs().expect("runs");
    let run = runs.iter().find(|run| run.to_config == to_config)?;
    aws.engine
        .store()
        .events(&run.id)
        .expect("events")
        .into_iter()
        .find_map(|event| match event.kind {
            guardrail_core::event::EventKind::RollbackStarted { phase, .. } => Some(phase),
            _ => None,
        })
}

/// Issue 22's check, in our own words: an update through boto3 whose only
/// rollback alarm is an ordinary one on the judge's `CanaryScore` rolls back
/// a green three times slower with no errors, and lets blue's twin through.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_canary_judge_rolls_back_a_slower_green_through_an_ordinary_alarm() {
    let aws = LocalAws::start(60.0, 300).await;
    let script = workspace().join("server/tests/python/canary_judge.py");
    let script = script.to_string_lossy();
    let (ok, stdout, stderr) = run(
        &aws.url,
        "python",
        &[script.as_ref()],
        &[("GUARDRAIL_TIME_SCALE", "60")],
    )
    .await;
    assert!(ok, "the script failed:\n{stdout}\n{stderr}");
    let summary = last_json(&stdout, &stderr);
    let slow = &summary["slow"];
    assert_eq!(
        slow["config"], summary["blue_config"],
        "rolled back: {summary}"
    );
    let reason = slow["failure_reason"].as_str().expect("a failure reason");
    let alarm = slow["alarm"].as_str().expect("the alarm");
    assert!(reason.contains(alarm), "{reason}");
    assert!(
        slow["lowest_score"].as_f64().expect("scores") < 75.0,
        "{summary}"
    );
    assert_eq!(
        slow["metrics"],
        serde_json::json!([
            "CanaryScore",
            "Invocation5XXErrorsClass",
            "InvocationModelErrorsClass",
            "ModelLatencyClass"
        ]),
        "{summary}"
    );
    let to = slow["to_config"].as_str().expect("config");
    assert_eq!(
        rollback_phase(&aws, to),
        Some(guardrail_core::schedule::Phase::CanaryBake),
        "caught while green served a third"
    );
    // The record holds the judge's looks: latency High, with its effect.
    let runs = aws.engine.store().runs().expect("runs");
    let run = runs
        .iter()
        .find(|run| run.to_config == to)
        .expect("the run");
    let events = aws.engine.store().events(&run.id).expect("events");
    let last = events
        .iter()
        .rev()
        .find_map(|event| match &event.kind {
            guardrail_core::event::EventKind::CanaryJudged { judgement } => Some(judgement),
            _ => None,
        })
        .expect("the judge looked");
    let latency = last
        .metrics
        .iter()
        .find(|metric| metric.signal == guardrail_core::judge::Signal::ModelLatency)
        .expect("latency judged");
    assert_eq!(
        latency.class,
        guardrail_core::judge::Class::High,
        "{last:?}"
    );
    assert!(
        latency.evidence.effect.expect("an effect") > 0.5,
        "{last:?}"
    );

    let twin = &summary["twin"];
    assert_eq!(twin["status"], "InService", "{summary}");
    assert_eq!(
        twin["config"], twin["to_config"],
        "the twin went through: {summary}"
    );
    assert!(twin["failure_reason"].is_null(), "{summary}");
    assert!(
        twin["lowest_score"].as_f64().expect("scores") >= 75.0,
        "{summary}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn guardrails_as_teams_write_them_roll_back_through_boto3() {
    let aws = LocalAws::start(120.0, 300).await;
    let script = workspace().join("server/tests/python/team_guardrails.py");
    let script = script.to_string_lossy();
    let (ok, stdout, stderr) = run(
        &aws.url,
        "python",
        &[script.as_ref()],
        &[("GUARDRAIL_TIME_SCALE", "120")],
    )
    .await;
    assert!(ok, "the script failed:\n{stdout}\n{stderr}");
    let summary = last_json(&stdout, &stderr);
    // Custom metrics read back exactly: 2, 1, 1, 1, 10, 4, 4 in one minute.
    let basket = &summary["basket"];
    assert_eq!(basket["points"], 1, "{summary}");
    assert_eq!(basket["sample_count"], 7.0, "{summary}");
    assert_eq!(basket["sum"], 23.0, "{summary}");
    assert_eq!(
        (basket["minimum"].clone(), basket["maximum"].clone()),
        (serde_json::json!(1.0), serde_json::json!(10.0))
    );
    assert_eq!(basket["p50"], 2.0, "{summary}");
    assert_eq!(basket["unit"], "Count", "{summary}");
    // High resolution: two 10-second datapoints; an expression over the minute.
    assert_eq!(summary["latency_10s"], serde_json::json!([120.0, 80.0]));
    assert_eq!(summary["half"], serde_json::json!([11.5]));
    assert_eq!(summary["half_label"], "half the basket");
    assert_eq!(summary["listed"], serde_json::json!(["Basket", "Latency"]));
    assert_eq!(summary["aws_namespace"], "InvalidParameterValue");
    // The math alarm reads its metrics back, and rolls the broken canary back
    // during the canary bake, named in FailureReason.
    assert_eq!(
        summary["rate_alarm_metrics"],
        serde_json::json!(["errors", "requests", "rate"])
    );
    let math = &summary["math"];
    assert_eq!(math["config"], math["expected_config"], "{summary}");
    let reason = math["failure_reason"].as_str().expect("a failure reason");
    assert!(reason.contains("team-5xx-rate"), "{reason}");
    let to = math["to_config"].as_str().expect("config");
    assert_eq!(
        rollback_phase(&aws, to),
        Some(guardrail_core::schedule::Phase::CanaryBake)
    );
    // The composite alarm: listed when asked for, following its child into
    // ALARM, refused for rollback, and keeping its child from deletion.
    let composite = &summary["composite"];
    assert_eq!(composite["found"], 1, "{summary}");
    assert_eq!(composite["hidden_by_default"], 0, "{summary}");
    assert_eq!(composite["state"], "ALARM", "{summary}");
    assert_eq!(composite["children"].as_array().map(Vec::len), Some(1));
    assert_eq!(composite["rollback"], "ValidationException", "{summary}");
    assert_eq!(composite["delete_child"], "ValidationError", "{summary}");
    assert_eq!(composite["orphan"], "ValidationError", "{summary}");
    // The business metric, fed by the script, rolls back a healthy model.
    let business = &summary["business"];
    assert_eq!(business["config"], business["expected_config"], "{summary}");
    let reason = business["failure_reason"]
        .as_str()
        .expect("a failure reason");
    assert!(reason.contains("team-conversion"), "{reason}");
    let to = business["to_config"].as_str().expect("config");
    assert_eq!(
        rollback_phase(&aws, to),
        Some(guardrail_core::schedule::Phase::CanaryBake)
    );
}
