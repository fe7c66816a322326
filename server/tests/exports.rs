//! Every export of every example, run by AWS's own tools: the AWS CLI script
//! with the AWS CLI and the boto3 script with boto3, both against a local HTTP
//! double of SageMaker and CloudWatch that records what they send; and the
//! CloudFormation template through cfn-lint.

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use guardrail_core::export::{export, Format};
use guardrail_core::{examples, Plan};
use serde_json::{json, Value};

/// What the double received: (X-Amz-Target, body).
type Recorded = Arc<Mutex<Vec<(String, Value)>>>;

/// A double of SageMaker's JSON 1.1 and CloudWatch's JSON 1.0 APIs on loopback.
/// `DescribeEndpoint` answers `InService` on `serving`.
struct Double {
    base: String,
    recorded: Recorded,
    _runtime: tokio::runtime::Runtime,
}

fn double(endpoint: &str, serving: &str) -> Double {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let recorded: Recorded = Arc::default();
    let (endpoint, serving) = (endpoint.to_string(), serving.to_string());
    let log = recorded.clone();
    let address: SocketAddr = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
            let (log, endpoint, serving) = (log.clone(), endpoint.clone(), serving.clone());
            async move { answer(&log, &headers, &body, &endpoint, &serving) }
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        address
    });
    Double {
        base: format!("http://{address}"),
        recorded,
        _runtime: runtime,
    }
}

fn answer(
    log: &Recorded,
    headers: &HeaderMap,
    body: &[u8],
    endpoint: &str,
    serving: &str,
) -> axum::response::Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if let Ok(mut log) = log.lock() {
        log.push((target.clone(), parsed));
    }
    let arn = format!("arn:aws:sagemaker:us-east-1:123456789012:endpoint/{endpoint}");
    let (status, content_type, reply) = match target.as_str() {
        "SageMaker.UpdateEndpoint" => (
            StatusCode::OK,
            "application/x-amz-json-1.1",
            json!({"EndpointArn": arn}),
        ),
        "SageMaker.DescribeEndpoint" => (
            StatusCode::OK,
            "application/x-amz-json-1.1",
            json!({
                "EndpointName": endpoint,
                "EndpointArn": arn,
                "EndpointConfigName": serving,
                "EndpointStatus": "InService",
                "CreationTime": 1_700_000_000,
                "LastModifiedTime": 1_700_000_000,
            }),
        ),
        "GraniteServiceVersion20100801.PutMetricAlarm"
        | "GraniteServiceVersion20100801.PutCompositeAlarm" => {
            (StatusCode::OK, "application/x-amz-json-1.0", json!({}))
        }
        other => (
            StatusCode::BAD_REQUEST,
            "application/x-amz-json-1.1",
            json!({"__type": "UnknownOperationException", "message": format!("the double does not know {other}")}),
        ),
    };
    (status, [("content-type", content_type)], reply.to_string()).into_response()
}

/// Numbers as floats, so that boto3's `1.0` equals the plan's `1`.
fn normalise(value: &Value) -> Value {
    match value {
        Value::Number(number) => json!(number.as_f64()),
        Value::Array(items) => Value::Array(items.iter().map(normalise).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, item)| (key.clone(), normalise(item)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Runs `program` (the AWS CLI in a shell, or boto3 in Python) against `double`.
fn run_against(double: &Double, command: &mut Command) -> std::process::Output {
    let bin = common::venv_bin("python")
        .parent()
        .map(|dir| dir.display().to_string())
        .unwrap_or_default();
    let path = format!("{bin}:{}", std::env::var("PATH").unwrap_or_default());
    let config = std::env::temp_dir().join("guardrail-no-aws-config");
    command
        .env("PATH", path)
        .env("AWS_ENDPOINT_URL", &double.base)
        .env("AWS_ACCESS_KEY_ID", "AKIDLOCAL")
        .env("AWS_SECRET_ACCESS_KEY", "local-secret")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_SHARED_CREDENTIALS_FILE", &config)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE");
    common::run(command, "")
}

/// The requests an export sent carry the plan exactly: every alarm is put as
/// defined, and `UpdateEndpoint` carries the plan's `DeploymentConfig`.
fn check_requests(name: &str, tool: &str, plan: &Plan, recorded: &[(String, Value)]) {
    let plan_json: Value = serde_json::to_value(plan).expect("json");
    let puts: Vec<&Value> = recorded
        .iter()
        .filter(|(target, _)| target == "GraniteServiceVersion20100801.PutMetricAlarm")
        .map(|(_, body)| body)
        .collect();
    let alarms = plan_json["Alarms"].as_array().cloned().unwrap_or_default();
    assert_eq!(puts.len(), alarms.len(), "{name} via {tool}: {recorded:#?}");
    for alarm in &alarms {
        let sent = puts
            .iter()
            .find(|body| body["AlarmName"] == alarm["AlarmName"])
            .unwrap_or_else(|| panic!("{name} via {tool}: {} was not put", alarm["AlarmName"]));
        assert_eq!(normalise(sent), normalise(alarm), "{name} via {tool}");
    }
    // Composite alarms as defined, each after every metric alarm it may name.
    let composites = plan_json["CompositeAlarms"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let composite_puts: Vec<(usize, &Value)> = recorded
        .iter()
        .enumerate()
        .filter(|(_, (target, _))| target == "GraniteServiceVersion20100801.PutCompositeAlarm")
        .map(|(at, (_, body))| (at, body))
        .collect();
    assert_eq!(composite_puts.len(), composites.len(), "{name} via {tool}");
    let last_metric_put = recorded
        .iter()
        .rposition(|(target, _)| target.ends_with("PutMetricAlarm"));
    for alarm in &composites {
        let (at, sent) = composite_puts
            .iter()
            .find(|(_, body)| body["AlarmName"] == alarm["AlarmName"])
            .unwrap_or_else(|| panic!("{name} via {tool}: {} was not put", alarm["AlarmName"]));
        assert_eq!(normalise(sent), normalise(alarm), "{name} via {tool}");
        assert!(
            Some(*at) > last_metric_put,
            "{name} via {tool}: a composite before its alarms"
        );
    }
    let updates: Vec<&Value> = recorded
        .iter()
        .filter(|(target, _)| target == "SageMaker.UpdateEndpoint")
        .map(|(_, body)| body)
        .collect();
    assert_eq!(updates.len(), 1, "{name} via {tool}");
    let update = updates[0];
    assert_eq!(update["EndpointName"], plan_json["EndpointName"]);
    assert_eq!(
        update["EndpointConfigName"],
        plan_json["EndpointConfigName"]
    );
    assert_eq!(
        normalise(&update["DeploymentConfig"]),
        normalise(&plan_json["DeploymentConfig"]),
        "{name} via {tool}"
    );
    // The alarms exist before the update that names them.
    let update_at = recorded
        .iter()
        .position(|(target, _)| target == "SageMaker.UpdateEndpoint");
    let last_put = recorded
        .iter()
        .rposition(|(target, _)| target.ends_with("PutMetricAlarm"));
    assert!(
        last_put < update_at,
        "{name} via {tool}: alarms after the update"
    );
}

fn write_script(name: &str, format: Format, plan: &Plan) -> std::path::PathBuf {
    let directory = std::env::temp_dir().join(format!("guardrail-exports-{}", std::process::id()));
    std::fs::create_dir_all(&directory).expect("directory");
    let path = directory.join(format!("{name}-{}", format.file_name()));
    std::fs::write(&path, export(plan, format)).expect("write");
    path
}

#[test]
fn the_cli_and_boto3_exports_send_the_plan_exactly() {
    for (name, text) in examples::ALL {
        let plan = Plan::from_json(text).expect("example");
        for (format, tool) in [(Format::Cli, "the AWS CLI"), (Format::Boto3, "boto3")] {
            let script = write_script(name, format, &plan);
            let double = double(&plan.endpoint_name, &plan.endpoint_config_name);
            let mut command = match format {
                Format::Cli => {
                    let mut command = Command::new("sh");
                    command.arg(&script);
                    command
                }
                _ => {
                    let mut command = Command::new(common::venv_bin("python"));
                    command.arg(&script);
                    command
                }
            };
            let output = run_against(&double, &mut command);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(output.status.success(), "{name} via {tool}: {stderr}");
            assert!(
                String::from_utf8_lossy(&output.stdout).contains("update succeeded"),
                "{name} via {tool}"
            );
            let recorded = double.recorded.lock().expect("log").clone();
            check_requests(name, tool, &plan, &recorded);
        }
    }
}

#[test]
fn the_cli_and_boto3_exports_say_when_the_update_was_silently_rolled_back() {
    let plan = examples::notebook_canary();
    for format in [Format::Cli, Format::Boto3] {
        let script = write_script("rolled-back", format, &plan);
        // SageMaker's silent rollback: InService, on the old config.
        let double = double(&plan.endpoint_name, "baseline");
        let mut command = match format {
            Format::Cli => Command::new("sh"),
            _ => Command::new(common::venv_bin("python")),
        };
        command.arg(&script);
        let output = run_against(&double, &mut command);
        assert!(!output.status.success(), "{format:?} did not notice");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("update rolled back: the endpoint still serves baseline"),
            "{format:?}: {stderr}"
        );
    }
}

#[test]
fn cfn_lint_passes_on_every_cloudformation_export() {
    for (name, text) in examples::ALL {
        let plan = Plan::from_json(text).expect("example");
        let template = write_script(name, Format::CloudFormation, &plan);
        let output = common::run(
            Command::new(common::venv_bin("cfn-lint")).arg(&template),
            "",
        );
        assert!(
            output.status.success(),
            "{name}: cfn-lint says\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
