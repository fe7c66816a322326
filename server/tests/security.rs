//! The access token, as `guardrail serve --token` (and, off loopback, every
//! `guardrail serve`) requires it, held against AWS's own clients: the AWS
//! SDK for Rust, boto3 and the AWS CLI sign with it as their secret access
//! key and are let in; a wrong key or no signature is refused in each
//! protocol's own error. The planner's calls that change something need the
//! token too. Then every place a secret could leak (events, review links and
//! summaries, the store's files, the server's logs at debug level) is
//! searched for the secrets the test used.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use guardrail_core::event::{Event, EventKind};
use guardrail_core::examples;

/// The token: also the secret access key of every AWS client here.
const TOKEN: &str = "tok-7f3a9c1e5b2d4f60a8e1";
const WRONG: &str = "not-the-token-0123456789";
const ACCESS_KEY: &str = "AKIDSECURITYTEST";

fn scratch(label: &str) -> PathBuf {
    common::scratch_dir("security", label)
}

/// `guardrail serve --token`, logging at debug level to a file.
struct Server {
    process: common::ServeProcess,
    base: String,
    log: PathBuf,
}

async fn serve(data: &Path, dist: &Path) -> Server {
    let port = common::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let log = data.join("serve.log");
    let process = common::ServeProcess::start(port, |command| {
        command
            .args(["--token", TOKEN])
            .args([
                "--rps",
                "60",
                "--time-scale",
                "120",
                "--provisioning-seconds",
                "60",
            ])
            .args(["--poll-ms", "50"])
            .arg("--data-dir")
            .arg(data.join("store"))
            .arg("--dist")
            .arg(dist)
            // Its own SageMaker backend signs with the token, as any client must.
            .env("AWS_ENDPOINT_URL", &base)
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", TOKEN)
            .env("AWS_REGION", "us-east-1")
            .env("RUST_LOG", "debug")
            .stderr(std::fs::File::create(&log).expect("a log file"))
    })
    .await;
    Server { process, base, log }
}

macro_rules! client {
    ($service:ident, $url:expr, $secret:expr) => {
        $service::Client::from_conf(
            $service::Config::builder()
                .behavior_version($service::config::BehaviorVersion::latest())
                .region($service::config::Region::new("us-east-1"))
                .credentials_provider($service::config::Credentials::new(
                    ACCESS_KEY, $secret, None, None, "tests",
                ))
                .endpoint_url($url)
                .http_client(aws_smithy_http_client::Builder::new().build_http())
                .build(),
        )
    };
}

/// The AWS error code of a failed SDK call.
fn code<E: aws_sdk_sagemaker::error::ProvideErrorMetadata>(error: &E) -> String {
    error.code().unwrap_or("(no code)").to_string()
}

async fn start(base: &str, token: Option<&str>, backend: &str, config: &str) -> reqwest::Response {
    let mut plan = examples::notebook_canary();
    plan.endpoint_config_name = config.into();
    plan.alarms[1].threshold = Some(1_000_000.0);
    let mut request = reqwest::Client::new()
        .post(format!("{base}/api/start_rollout"))
        .form(&[
            ("plan_json", plan.to_json_pretty()),
            ("time_scale", "120".to_string()),
            ("backend", backend.to_string()),
            ("create_alarms", "true".to_string()),
        ]);
    if let Some(token) = token {
        request = request.header("x-guardrail-token", token);
    }
    request.send().await.expect("an answer")
}

/// The whole record of a run, once it has ended.
async fn finished(base: &str, run: &str) -> (String, Vec<Event>) {
    let (text, events) = common::run_record(base, run).await;
    assert!(
        matches!(
            events.last().map(|event| &event.kind),
            Some(EventKind::Finished { .. })
        ),
        "{events:#?}"
    );
    (text, events)
}

fn cli(arguments: &[&str], data: &Path) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_guardrail"))
        .args(arguments)
        .arg("--data-dir")
        .arg(data.join("store"))
        .output()
        .expect("guardrail runs");
    assert!(output.status.success(), "{arguments:?}: {output:?}");
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_required_verified_as_aws_signs_and_never_written_anywhere() {
    let data = scratch("data");
    let dist = data.join("dist");
    std::fs::create_dir_all(&dist).expect("dist");
    std::fs::write(dist.join("index.html"), "<!doctype html>").expect("index");
    let server = serve(&data, &dist).await;
    let base = server.base.as_str();

    // The AWS SDK for Rust: signed with the token, in; with another key, out.
    let sagemaker = client!(aws_sdk_sagemaker, base, TOKEN);
    let described = sagemaker
        .describe_endpoint()
        .endpoint_name("guardrail-demo")
        .send()
        .await
        .expect("a call signed with the token");
    assert_eq!(described.endpoint_config_name(), Some("baseline"));
    let refused = client!(aws_sdk_sagemaker, base, WRONG)
        .describe_endpoint()
        .endpoint_name("guardrail-demo")
        .send()
        .await
        .expect_err("another key is refused");
    assert_eq!(code(&refused), "InvalidSignatureException");
    let refused = client!(aws_sdk_cloudwatch, base, WRONG)
        .describe_alarms()
        .send()
        .await
        .expect_err("CloudWatch (CBOR) refuses another key");
    assert_eq!(code(&refused), "SignatureDoesNotMatch");
    client!(aws_sdk_cloudwatch, base, TOKEN)
        .describe_alarms()
        .send()
        .await
        .expect("CloudWatch (CBOR) signed with the token");
    let invoke = |secret: &'static str| {
        client!(aws_sdk_sagemakerruntime, base, secret)
            .invoke_endpoint()
            .endpoint_name("guardrail-demo")
            .content_type("text/csv")
            .body(aws_sdk_sagemakerruntime::primitives::Blob::new("1,2,3"))
            .send()
    };
    invoke(TOKEN)
        .await
        .expect("an invocation signed with the token");
    let refused = invoke(WRONG)
        .await
        .expect_err("an invocation signed with another key");
    assert_eq!(code(&refused), "InvalidSignatureException");
    // Unsigned: SageMaker's own answer to a request without a signature.
    let unsigned = reqwest::Client::new()
        .post(base)
        .header("x-amz-target", "SageMaker.ListEndpoints")
        .header("content-type", "application/x-amz-json-1.1")
        .body("{}")
        .send()
        .await
        .expect("an answer");
    assert_eq!(unsigned.status(), reqwest::StatusCode::FORBIDDEN);
    let body: serde_json::Value = unsigned.json().await.expect("JSON");
    assert_eq!(
        body["__type"], "MissingAuthenticationTokenException",
        "{body}"
    );

    // boto3 (CloudWatch in whatever protocol this botocore speaks) and the
    // AWS CLI.
    let environment = common::aws_environment(base);
    let program = r#"
import sys, boto3, botocore
def client(service, secret):
    return boto3.client(service, endpoint_url=sys.argv[1], region_name="us-east-1",
                        aws_access_key_id="AKIDSECURITYTEST", aws_secret_access_key=secret)
token, wrong = sys.argv[2], sys.argv[3]
print(client("sagemaker", token).describe_endpoint(EndpointName="guardrail-demo")["EndpointStatus"])
print(len(client("cloudwatch", token).describe_alarms()["MetricAlarms"]) >= 0)
for service, call in [("sagemaker", lambda c: c.list_endpoints()),
                      ("cloudwatch", lambda c: c.describe_alarms())]:
    try:
        call(client(service, wrong))
        print(service, "let in")
    except botocore.exceptions.ClientError as error:
        print(service, error.response["Error"]["Code"])
"#;
    let output = common::run(
        Command::new(common::venv_bin("python"))
            .args(["-c", program, base, TOKEN, WRONG])
            .envs(
                environment
                    .iter()
                    .map(|(key, value)| (*key, value.as_str())),
            ),
        "",
    );
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        printed.lines().collect::<Vec<_>>(),
        [
            "InService",
            "True",
            "sagemaker InvalidSignatureException",
            "cloudwatch SignatureDoesNotMatch"
        ],
        "{output:?}"
    );
    let aws = |secret: &str| {
        common::run(
            Command::new(common::venv_bin("aws"))
                .args(["sagemaker", "list-endpoints", "--endpoint-url", base])
                .envs(
                    environment
                        .iter()
                        .map(|(key, value)| (*key, value.as_str())),
                )
                .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
                .env("AWS_SECRET_ACCESS_KEY", secret),
            "",
        )
    };
    let listed = aws(TOKEN);
    assert!(listed.status.success(), "{listed:?}");
    assert!(String::from_utf8_lossy(&listed.stdout).contains("guardrail-demo"));
    let refused = aws(WRONG);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("InvalidSignatureException"),
        "{refused:?}"
    );

    // The planner's calls that change something.
    for token in [None, Some(WRONG)] {
        let answer = start(base, token, "local", "fixed").await;
        assert_eq!(answer.status(), reqwest::StatusCode::UNAUTHORIZED);
        let error: serde_json::Value = answer.json().await.expect("a typed error");
        assert_eq!(error["kind"], "unauthorized", "{error}");
    }
    // Nor by another verb.
    let by_get = reqwest::Client::new()
        .get(format!(
            "{base}/api/start_rollout?time_scale=60&plan_json=%7B%7D"
        ))
        .send()
        .await
        .expect("an answer");
    assert_eq!(by_get.status(), reqwest::StatusCode::UNAUTHORIZED);
    // The CLI presents GUARDRAIL_TOKEN.
    let cli_abort = |token: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_guardrail"));
        command
            .args(["abort", "run-nope", "--server", base])
            .env_remove("GUARDRAIL_TOKEN");
        if let Some(token) = token {
            command.env("GUARDRAIL_TOKEN", token);
        }
        command.output().expect("guardrail abort runs")
    };
    let without = cli_abort(None);
    assert_eq!(without.status.code(), Some(3), "{without:?}");
    assert!(String::from_utf8_lossy(&without.stderr).contains("access token"));
    let with = cli_abort(Some(TOKEN));
    assert_eq!(with.status.code(), Some(3), "{with:?}");
    assert!(
        String::from_utf8_lossy(&with.stderr).contains("no run run-nope"),
        "let in, and refused for the run: {with:?}"
    );
    let abort = reqwest::Client::new()
        .post(format!("{base}/api/abort_rollout"))
        .form(&[("run_id", "run-x"), ("by", "a stranger")])
        .send()
        .await
        .expect("an answer");
    assert_eq!(abort.status(), reqwest::StatusCode::UNAUTHORIZED);
    let answer = start(base, Some(TOKEN), "local", "fixed").await;
    assert!(answer.status().is_success(), "{answer:?}");
    let local: String = answer.json().await.expect("a run id");
    let (local_text, _) = finished(base, &local).await;
    // A SageMaker run back to the old config, whose backend signs its calls
    // with the token.
    let answer = start(base, Some(TOKEN), "sagemaker", "baseline").await;
    assert!(answer.status().is_success(), "{answer:?}");
    let remote: String = answer.json().await.expect("a run id");
    let (remote_text, remote_events) = finished(base, &remote).await;
    assert!(
        matches!(
            remote_events.last().map(|event| &event.kind),
            Some(EventKind::Finished {
                outcome: guardrail_core::event::RunOutcome::Succeeded
            })
        ),
        "{remote_events:#?}"
    );

    // Nothing written anywhere holds a secret.
    let mut places: Vec<(String, Vec<u8>)> = vec![
        ("the local run's events".into(), local_text.into_bytes()),
        (
            "the SageMaker run's events".into(),
            remote_text.into_bytes(),
        ),
    ];
    for run in [&local, &remote] {
        places.push((
            format!("{run}'s link"),
            cli(&["link", "--run", run], &data).into_bytes(),
        ));
        places.push((
            format!("{run}'s summary"),
            cli(&["summary", run], &data).into_bytes(),
        ));
        places.push((
            format!("{run}'s events"),
            cli(&["events", run, "--json"], &data).into_bytes(),
        ));
    }
    let runs = reqwest::Client::new()
        .post(format!("{base}/api/list_runs"))
        .send()
        .await
        .expect("runs")
        .bytes()
        .await
        .expect("runs");
    places.push(("the run list".into(), runs.to_vec()));
    let log = server.log.clone();
    drop(server.process);
    let logged = std::fs::read_to_string(&log).expect("the log");
    assert!(
        logged.lines().count() > 10,
        "the log was written at debug level: {logged}"
    );
    places.push(("the log".into(), logged.into_bytes()));
    for entry in std::fs::read_dir(data.join("store")).expect("the store") {
        let path = entry.expect("a file").path();
        if path.is_file() {
            places.push((
                path.display().to_string(),
                std::fs::read(&path).expect("a file"),
            ));
        }
    }
    assert!(places.len() >= 10, "{} places", places.len());
    for (place, bytes) in &places {
        for secret in [TOKEN, WRONG] {
            assert!(
                !bytes
                    .windows(secret.len())
                    .any(|window| window == secret.as_bytes()),
                "{place} holds the secret {secret}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&data);
}
