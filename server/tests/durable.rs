//! Nothing a user creates through the AWS APIs is lost on a restart.
//!
//! boto3 (`python/durable.py`) creates models, endpoint configs, an endpoint,
//! an alarm and metric data on `guardrail serve`; the process is killed with
//! SIGKILL straight after the last answer and started again on the same data
//! directory, and boto3 finds everything there and answering. Then an update
//! is killed mid-bake: after the restart the endpoint is `InService` on its
//! old config with a `FailureReason` that says so, the interrupted run is
//! recorded as resolved, and a later update succeeds. A deleted endpoint's
//! metrics stay, across another restart.
//!
//! Also: a store written before schema versions were kept (a fixture written
//! by the version before this one) is migrated and read whole; a damaged
//! event is an error that names the run and the line; and the engine's
//! instance limit holds exactly under 50 parallel `CreateEndpoint` calls.

mod common;

use std::path::{Path, PathBuf};

use common::{aws_environment, free_port, venv_bin, workspace, ServeProcess};
use guardrail_server::engine::registry::{EndpointConfigDefinition, Registry};
use guardrail_server::engine::sagemaker::{SageMakerError, MAX_ENGINE_INSTANCES};
use guardrail_server::engine::{Engine, EngineOptions};
use guardrail_server::store::{Store, SCHEMA_VERSION};
use serde_json::Value;

fn scratch(label: &str) -> PathBuf {
    common::scratch_dir("durable", label)
}

/// `guardrail serve` on `data`, its API clock 20 times faster than real time
/// (an update's last metric period then takes 3 s), launches as fast as
/// instances start, and no load generator.
async fn serve(port: u16, data: &Path) -> ServeProcess {
    let dist = data.join("planner");
    std::fs::create_dir_all(&dist).expect("a planner directory");
    std::fs::write(dist.join("index.html"), "<!doctype html>").expect("a planner page");
    ServeProcess::start(port, |command| {
        command
            .args([
                "--rps",
                "0",
                "--provisioning-seconds",
                "0",
                "--time-scale",
                "20",
            ])
            .arg("--data-dir")
            .arg(data)
            .arg("--dist")
            .arg(&dist)
    })
    .await
}

/// Runs one step of `python/durable.py` against `base`; its JSON answer.
async fn step(base: &str, name: &str) -> Value {
    let script = workspace().join("server/tests/python/durable.py");
    let mut command = tokio::process::Command::new(venv_bin("python"));
    command.arg(&script).arg(name).kill_on_drop(true);
    for (key, value) in aws_environment(base) {
        command.env(key, value);
    }
    let output = tokio::time::timeout(std::time::Duration::from_secs(180), command.output())
        .await
        .expect("the step finishes within 3 minutes")
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "step {name} failed:\n{stdout}\n{stderr}"
    );
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line)
        .unwrap_or_else(|error| panic!("step {name}: not JSON ({error}):\n{stdout}\n{stderr}"))
}

/// The recorded runs, as `guardrail runs --json` lists them (read-only,
/// beside the running server).
fn runs(data: &Path) -> Vec<Value> {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_guardrail"))
        .args(["runs", "--json", "--data-dir"])
        .arg(data)
        .output()
        .expect("guardrail runs");
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice(&output.stdout).expect("a JSON list")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_boto3_created_survives_sigkill_and_an_interrupted_update_is_resolved() {
    let data = scratch("boto3");
    let port = free_port();
    let mut server = serve(port, &data).await;
    let created = step(&server.base, "create").await;
    assert_eq!(created["invocations"], 25.0, "{created}");
    // Killed straight after the last answer.
    server.kill();
    let server = serve(port, &data).await;
    let checked = step(&server.base, "check").await;
    assert_eq!(checked["status"], "InService", "{checked}");
    assert_eq!(checked["config"], "kept-config-1");
    assert_eq!(checked["created"], created["created"], "the same endpoint");
    assert_eq!(checked["instances"], 2, "its model servers started again");
    assert_eq!(
        checked["models"],
        serde_json::json!(["kept-model-1", "kept-model-2"])
    );
    assert_eq!(
        checked["configs"],
        serde_json::json!(["kept-config-1", "kept-config-2"])
    );
    assert_eq!(checked["image"], "guardrail/baseline:1");
    assert_eq!(checked["environment"]["GUARDRAIL_LATENCY_MS"], "2");
    assert_eq!(checked["config_2_instances"], 2);
    assert_eq!(checked["alarm_threshold"], 1000.0);
    assert_eq!(checked["invoked"], 200);
    // The invocations before the kill are still counted, and the one since.
    assert_eq!(checked["invocations"], 26.0, "{checked}");
    // Every history item from before the kill is still there; the state is
    // the one its newest change set (ALARM by hand, or OK by an evaluation
    // since).
    let before = created["history"].as_array().expect("history");
    let after = checked["history"].as_array().expect("history");
    assert!(before.len() >= 2, "created and set: {before:?}");
    assert!(after.starts_with(before), "{before:?}\n{after:?}");
    let newest = after.last().and_then(|item| item[1].as_str()).unwrap_or("");
    let state = checked["alarm_state"].as_str().expect("a state");
    assert!(
        newest.ends_with(&format!("to {state}")),
        "{newest} / {state}"
    );

    // An update killed mid-bake.
    let updating = step(&server.base, "update").await;
    assert_eq!(updating["status"], "Updating");
    let mut server = server;
    server.kill();
    let server = serve(port, &data).await;
    let resolved = step(&server.base, "after-update").await;
    assert_eq!(resolved["status"], "InService", "{resolved}");
    assert_eq!(
        resolved["config"], "kept-config-1",
        "back on the old config"
    );
    let reason = resolved["failure_reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("Update to endpoint configuration kept-config-2 interrupted: ")
            && reason.contains("rolled the endpoint back to kept-config-1"),
        "{reason}"
    );
    assert_eq!(
        resolved["last_canary_wait"], 3600,
        "LastDeploymentConfig kept"
    );
    assert_eq!(resolved["then_status"], "InService", "{resolved}");
    assert_eq!(resolved["then_config"], "kept-config-2", "the later update");
    assert_eq!(resolved["then_failure_reason"], "");
    // The interrupted update is recorded as a run, resolved.
    let runs = runs(&data);
    let interrupted: Vec<&Value> = runs
        .iter()
        .filter(|run| run["endpoint"] == "kept-endpoint" && run["status"] == "rolled_back")
        .collect();
    assert_eq!(interrupted.len(), 1, "{runs:?}");
    assert!(
        interrupted[0]["outcome"]
            .as_str()
            .unwrap_or_default()
            .contains("guardrail stopped"),
        "{interrupted:?}"
    );

    // A deleted endpoint's metrics stay, across a restart.
    let deleted = step(&server.base, "delete").await;
    assert_eq!(deleted["gone"], true);
    assert_eq!(deleted["listed"], true, "{deleted}");
    let kept = deleted["invocations"].as_f64().expect("a sum");
    assert!(kept >= 26.0, "{deleted}");
    let mut server = server;
    server.kill();
    let server = serve(port, &data).await;
    let metrics = step(&server.base, "metrics").await;
    assert_eq!(metrics["listed"], true, "{metrics}");
    assert_eq!(metrics["invocations"].as_f64(), Some(kept), "{metrics}");
    drop(server);
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn a_store_written_before_schema_versions_is_migrated_and_read_whole() {
    let fixture =
        workspace().join("server/tests/fixtures/store-written-by-0.1-unversioned.sqlite3");
    let data = scratch("migrate");
    std::fs::copy(&fixture, data.join("guardrail.sqlite3")).expect("copy the fixture");
    // Read-only, as `guardrail runs` reads it, before any migration.
    let old = Store::open_read_only(&data).expect("an old store reads");
    let before = old.runs().expect("runs");
    assert_eq!(before.len(), 2);
    drop(old);
    for _ in 0..2 {
        let store = Store::open(&data).expect("migrates, then opens as it is");
        assert_eq!(store.schema_version().expect("version"), SCHEMA_VERSION);
        let runs = store.runs().expect("runs");
        assert_eq!(runs.len(), 2);
        let statuses: Vec<&str> = runs.iter().map(|run| run.status.as_str()).collect();
        assert_eq!(statuses, ["succeeded", "rolled_back"]);
        for run in &runs {
            let events = store.events(&run.id).expect("every event reads");
            assert_eq!(events.len() as u64, run.events);
            assert!(matches!(
                events.last().map(|event| &event.kind),
                Some(guardrail_core::event::EventKind::Finished { .. })
            ));
        }
        // The old endpoint's config, and the new tables, work.
        assert_eq!(
            store
                .last_config("guardrail-demo")
                .expect("last config")
                .as_deref(),
            Some("fixed")
        );
        store.save_api_clock(42).expect("the new tables");
    }
    let _ = std::fs::remove_dir_all(&data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_from_a_newer_guardrail_is_refused_and_a_damaged_event_is_named() {
    let data = scratch("newer");
    let store = Store::open(&data).expect("store");
    drop(store);
    let connection =
        rusqlite::Connection::open(data.join("guardrail.sqlite3")).expect("open directly");
    connection
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .expect("bump");
    drop(connection);
    let error = Store::open(&data).err().expect("refused").to_string();
    assert!(
        error.contains("written by a newer guardrail")
            && error.contains(&format!("schema version {}", SCHEMA_VERSION + 1)),
        "{error}"
    );
    let _ = std::fs::remove_dir_all(&data);

    // A damaged event in the fixture: `guardrail events` names the run and
    // the line, and exits with an error rather than a shorter history.
    let data = scratch("damaged");
    let fixture =
        workspace().join("server/tests/fixtures/store-written-by-0.1-unversioned.sqlite3");
    std::fs::copy(&fixture, data.join("guardrail.sqlite3")).expect("copy");
    let connection = rusqlite::Connection::open(data.join("guardrail.sqlite3")).expect("open");
    let run: String = connection
        .query_row(
            "SELECT id FROM runs WHERE status = 'succeeded'",
            [],
            |row| row.get(0),
        )
        .expect("a run");
    connection
        .execute(
            "UPDATE events SET body = '{\"run_id\": 7' WHERE run_id = ?1 AND seq = 5",
            [&run],
        )
        .expect("damage");
    drop(connection);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_guardrail"))
        .args(["events", &run, "--data-dir"])
        .arg(&data)
        .output()
        .expect("guardrail events");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{output:?}");
    assert!(
        stderr.contains(&format!("run {run}: event 5 (line 5 of its record)"))
            && stderr.contains("cannot be read"),
        "{stderr}"
    );
    // The planner's stream: the four events before the damage, then a line
    // that names it (the planner shows it beside the events it has).
    let server = serve(free_port(), &data).await;
    let text = common::run_record_text(&server.base, &run).await;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    for (index, line) in lines[..4].iter().enumerate() {
        let event: guardrail_core::event::Event = serde_json::from_str(line).expect("an event");
        assert_eq!(event.seq, index as u64 + 1);
    }
    let last: Value = serde_json::from_str(lines[4]).expect("JSON");
    let ended = last["stream_ended"].as_str().unwrap_or_default();
    assert!(
        ended.contains(&format!("run {run}: event 5 (line 5 of its record)")),
        "{text}"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_parallel_creates_at_the_instance_limit_take_exactly_what_is_left() {
    let mut registry = Registry::demo();
    let config = |name: &str, instances| EndpointConfigDefinition {
        endpoint_config_name: name.into(),
        model_name: "baseline".into(),
        instance_count: instances,
        ..Registry::demo().endpoint_configs[0].clone()
    };
    registry.merge(Registry {
        models: vec![],
        endpoint_configs: vec![config("big", 32), config("one", 1)],
        endpoints: vec![],
        images: vec![],
    });
    // A store on disk: each create's write then takes long enough for the
    // others to interleave with it, as they would without the claim.
    let data = scratch("capacity");
    let engine = Engine::start(
        registry,
        Store::open(&data).expect("store"),
        EngineOptions {
            load_rps: 0.0,
            seed: 3,
            api_time_scale: 1.0,
            // Launches stay Creating, and still hold their instances.
            api_provisioning_seconds: 3_600,
        },
    )
    .await
    .expect("engine");
    // The demo endpoint's 3, and 7 × 32: 227 of 256.
    for index in 0..7 {
        engine
            .create_endpoint("us-east-1", &format!("big-{index}"), "big", None)
            .await
            .expect("room for 32");
    }
    let left = MAX_ENGINE_INSTANCES - 3 - 7 * 32;
    let creates = (0..50).map(|index| {
        let engine = engine.clone();
        tokio::spawn(async move {
            engine
                .create_endpoint("us-east-1", &format!("one-{index}"), "one", None)
                .await
        })
    });
    let mut accepted = 0;
    let mut refused = 0;
    for create in futures::future::join_all(creates).await {
        match create.expect("the task") {
            Ok(()) => accepted += 1,
            Err(SageMakerError::LimitExceeded(message)) => {
                assert!(message.contains("service limit"), "{message}");
                refused += 1;
            }
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!((accepted, refused), (left, 50 - left));
    engine.shutdown().await;
    let _ = std::fs::remove_dir_all(&data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_serve_on_the_same_data_directory_is_refused_and_names_the_first() {
    let data = scratch("two-serves");
    let port = common::free_port();
    let mut first = serve(port, &data).await;
    let second = std::process::Command::new(env!("CARGO_BIN_EXE_guardrail"))
        .args([
            "serve",
            "--port",
            &common::free_port().to_string(),
            "--rps",
            "0",
        ])
        .arg("--data-dir")
        .arg(&data)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .expect("guardrail serve runs");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "another guardrail serve (pid {}, serving http://127.0.0.1:{port}) uses the data directory",
            first.child.id()
        )) && stderr.contains("--data-dir"),
        "{stderr}"
    );
    // The first still serves; once it is gone (even by SIGKILL), the
    // directory is free again.
    let health = reqwest::get(format!("{}/healthz", first.base))
        .await
        .expect("the first answers");
    assert!(health.status().is_success());
    first.kill();
    let again = serve(port, &data).await;
    drop(again);
    let _ = std::fs::remove_dir_all(&data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_resources_deleted_through_the_api_stay_deleted_after_a_restart() {
    let data = scratch("deleted");
    let options = || EngineOptions {
        load_rps: 0.0,
        seed: 5,
        api_time_scale: 60.0,
        api_provisioning_seconds: 0,
    };
    let names = |engine: &Engine| -> (Vec<String>, Vec<String>) {
        (
            engine
                .models()
                .into_iter()
                .map(|model| model.model_name)
                .collect(),
            engine
                .endpoint_configs()
                .into_iter()
                .map(|config| config.endpoint_config_name)
                .collect(),
        )
    };
    let first = Engine::start_in(&data, options()).await.expect("starts");
    // The demo endpoint, a config it does not serve and that config's model.
    first
        .delete_endpoint("us-east-1", "guardrail-demo")
        .await
        .expect("deleted");
    first
        .delete_endpoint_config("us-east-1", "fixed")
        .expect("deleted");
    first.delete_model("us-east-1", "fixed").expect("deleted");
    // A config the demo's endpoint serves may be deleted too (SageMaker
    // allows it), but the endpoint is gone here, so it stays gone.
    first
        .delete_endpoint_config("us-east-1", "incompatible")
        .expect("deleted");
    first.shutdown().await;
    drop(first);

    let second = Engine::start_in(&data, options())
        .await
        .expect("starts again");
    assert!(
        second.router_of("guardrail-demo").is_none(),
        "the deleted demo endpoint stays deleted"
    );
    let (models, configs) = names(&second);
    assert!(!models.contains(&"fixed".to_string()), "{models:?}");
    assert!(!configs.contains(&"fixed".to_string()), "{configs:?}");
    assert!(
        !configs.contains(&"incompatible".to_string()),
        "{configs:?}"
    );
    assert!(
        models.contains(&"baseline".to_string()),
        "the rest stays: {models:?}"
    );
    second.shutdown().await;
    let _ = std::fs::remove_dir_all(&data);

    // The config a standing endpoint serves, deleted: the endpoint still
    // starts on it after a restart, as SageMaker's keeps serving it.
    let data = scratch("deleted-serving");
    let first = Engine::start_in(&data, options()).await.expect("starts");
    first
        .delete_endpoint_config("us-east-1", "baseline")
        .expect("deleted");
    first.shutdown().await;
    drop(first);
    let second = Engine::start_in(&data, options())
        .await
        .expect("starts again");
    let status = second
        .endpoint_status("guardrail-demo")
        .await
        .expect("the demo endpoint stands");
    assert_eq!(
        (status.config.as_str(), status.status.as_str()),
        ("baseline", "InService")
    );
    second.shutdown().await;
    let _ = std::fs::remove_dir_all(&data);
}
