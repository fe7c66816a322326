//! `kill -9` mid-rollout. `guardrail serve` runs a local canary (time-scaled)
//! while a viewer follows its events; the process is killed at a seeded random
//! moment of the run and started again on the same data directory. Then:
//!
//! - every event the viewer received is in the store, unchanged and in order;
//! - the run is resolved safely: recorded as interrupted, then rolled back
//!   (traffic on blue, green terminated), or, when blue's termination had
//!   begun, as interrupted and then completed;
//! - the AWS SDK for Rust, polling `DescribeEndpoint`, sees the endpoint
//!   `InService` on the config that outcome implies, with no update pending.
//!
//! Waits poll a condition; none sleeps a fixed time except the random moment.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{free_port, run_record, ServeProcess};

use guardrail_core::controller::RollbackCause;
use guardrail_core::event::{Event, EventKind, RunOutcome, RunTimeline};
use guardrail_core::random::Random;
use guardrail_core::schedule::Phase;
use guardrail_core::{examples, Plan};

/// Plan seconds per real second: the notebook's canary (5:00 bake, 2:00
/// final bake) takes about a second.
const SCALE: f64 = 400.0;
const TRIALS: u64 = 20;
const ENDPOINT: &str = "guardrail-demo";

fn plan() -> Plan {
    let mut plan = examples::notebook_canary();
    plan.endpoint_config_name = "fixed".into();
    // The notebook's latency alarm would fire on a loaded machine: the
    // canary should end only when it is killed.
    plan.alarms[1].threshold = Some(1_000_000.0);
    plan
}

fn scratch(label: &str) -> PathBuf {
    common::scratch_dir("crash", label)
}

/// `guardrail serve` on `port` with `data` and `dist`, `args` and
/// `environment` added.
async fn serve(
    port: u16,
    data: &Path,
    dist: &Path,
    args: &[&str],
    environment: &[(&str, &str)],
) -> ServeProcess {
    ServeProcess::start(port, |command| {
        command
            .args(args)
            .arg("--data-dir")
            .arg(data)
            .arg("--dist")
            .arg(dist)
            .envs(environment.iter().copied())
    })
    .await
}

/// The local engine under load, as the planner's runs use it.
async fn local(port: u16, data: &Path, dist: &Path) -> ServeProcess {
    serve(port, data, dist, &["--rps", "200"], &[]).await
}

fn sagemaker(base: &str) -> aws_sdk_sagemaker::Client {
    aws_sdk_sagemaker::Client::from_conf(
        aws_sdk_sagemaker::Config::builder()
            .behavior_version(aws_sdk_sagemaker::config::BehaviorVersion::latest())
            .region(aws_sdk_sagemaker::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sagemaker::config::Credentials::new(
                "AKIDLOCAL",
                "local-secret",
                None,
                None,
                "guardrail-tests",
            ))
            .endpoint_url(base)
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .build(),
    )
}

/// Follows `/api/run_events` as the planner does, keeping every whole line
/// (an event) received until the stream ends or breaks.
async fn view(base: String, run: String) -> Vec<Event> {
    let client = reqwest::Client::new();
    let Ok(mut response) = client
        .post(format!("{base}/api/run_events"))
        .form(&[("run_id", run.as_str())])
        .send()
        .await
    else {
        return Vec::new();
    };
    let mut pending = Vec::new();
    let mut events = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        pending.extend_from_slice(&chunk);
        while let Some(end) = pending.iter().position(|byte| *byte == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            events.push(serde_json::from_slice(&line).expect("an event per line"));
        }
    }
    events
}

/// What one trial found.
struct Trial {
    killed_after_ms: u64,
    phase: Option<Phase>,
    received: usize,
    config: String,
}

async fn trial(number: u64, dist: &Path, random: &mut Random) -> Trial {
    let data = scratch(&format!("trial-{number}"));
    let port = free_port();
    let mut server = local(port, &data, dist).await;
    let base = server.base.clone();
    let response = reqwest::Client::new()
        .post(format!("{base}/api/start_rollout"))
        .form(&[
            ("plan_json", plan().to_json_pretty()),
            ("time_scale", SCALE.to_string()),
        ])
        .send()
        .await
        .expect("start");
    assert!(response.status().is_success(), "{response:?}");
    let run: String = response.json().await.expect("a run id");
    let viewer = tokio::spawn(view(base.clone(), run.clone()));
    // A moment within the run: provisioning and the 7:00 of bakes take about
    // 1.2 s at this scale.
    let killed_after_ms = (random.uniform() * 1_200.0) as u64;
    tokio::time::sleep(Duration::from_millis(killed_after_ms)).await;
    server.kill();
    let received = viewer.await.expect("the viewer");

    let server = local(port, &data, dist).await;
    let client = sagemaker(&server.base);
    let deadline = Instant::now() + Duration::from_secs(30);
    let described = loop {
        let described = client
            .describe_endpoint()
            .endpoint_name(ENDPOINT)
            .send()
            .await
            .expect("DescribeEndpoint");
        if described.endpoint_status().map(|status| status.as_str()) == Some("InService") {
            break described;
        }
        assert!(
            Instant::now() < deadline,
            "the endpoint should be InService"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let config = described
        .endpoint_config_name()
        .unwrap_or_default()
        .to_string();
    assert!(
        described.pending_deployment_summary().is_none(),
        "trial {number}: no update is left pending"
    );
    let instances: i32 = described
        .production_variants()
        .iter()
        .map(|variant| variant.current_instance_count().unwrap_or(0))
        .sum();
    assert_eq!(instances, 3, "trial {number}: one fleet of three serves");

    let stored = run_record(&server.base, &run).await.1;
    assert!(
        received.len() <= stored.len() && stored[..received.len()] == received[..],
        "trial {number}: every event the viewer received is stored unchanged\nreceived {received:#?}\nstored {stored:#?}"
    );
    let seqs: Vec<u64> = stored.iter().map(|event| event.seq).collect();
    assert_eq!(
        seqs,
        (1..=stored.len() as u64).collect::<Vec<_>>(),
        "trial {number}: the record is gapless"
    );
    let finished = received
        .iter()
        .any(|event| matches!(event.kind, EventKind::Finished { .. }));
    let outcome = match stored.last().map(|event| &event.kind) {
        Some(EventKind::Finished { outcome }) => outcome.clone(),
        other => panic!("trial {number}: the record ends with its outcome, not {other:?}"),
    };
    let phase = if finished {
        // Killed after the run ended: nothing was interrupted.
        assert_eq!(outcome, RunOutcome::Succeeded, "trial {number}");
        assert_eq!(config, "fixed", "trial {number}");
        None
    } else {
        let interrupted = stored
            .iter()
            .position(|event| matches!(event.kind, EventKind::Interrupted { .. }))
            .unwrap_or_else(|| panic!("trial {number}: recorded as interrupted\n{stored:#?}"));
        assert!(
            interrupted >= received.len(),
            "trial {number}: the interruption follows what was recorded before the kill"
        );
        let before = RunTimeline::from_events(&stored[..interrupted]);
        let phase = before.at(stored[interrupted].at_ms).phase;
        match (&outcome, phase) {
            (RunOutcome::Succeeded, Some(Phase::TerminatingBlue)) => {
                assert_eq!(
                    config, "fixed",
                    "trial {number}: green had passed every bake"
                );
            }
            (
                RunOutcome::RolledBack {
                    cause: RollbackCause::Interrupted { .. },
                    phase: rolled_back_in,
                },
                _,
            ) => {
                assert_ne!(phase, Some(Phase::TerminatingBlue), "trial {number}");
                if let Some(phase) = phase {
                    assert_eq!(*rolled_back_in, phase, "trial {number}");
                }
                assert_eq!(config, "baseline", "trial {number}: back on the old config");
                let after: Vec<&EventKind> = stored[interrupted..]
                    .iter()
                    .map(|event| &event.kind)
                    .collect();
                assert!(
                    after.iter().any(|kind| matches!(
                        kind,
                        EventKind::TrafficShifted {
                            green_traffic_bp: 0,
                            ..
                        }
                    )) && after
                        .iter()
                        .any(|kind| matches!(kind, EventKind::RollbackCompleted)),
                    "trial {number}: traffic back on blue, then the rollback completed: {after:#?}"
                );
            }
            other => panic!("trial {number}: unexpected resolution {other:?}\n{stored:#?}"),
        }
        phase
    };
    drop(server);
    let _ = std::fs::remove_dir_all(&data);
    Trial {
        killed_after_ms,
        phase,
        received: received.len(),
        config,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_kills_mid_canary_lose_no_event_and_leave_the_endpoint_in_service() {
    let dist = scratch("dist");
    std::fs::write(dist.join("index.html"), "<!doctype html>").expect("a planner page");
    let mut random = Random::new(0x6b69_6c6c);
    let mut interrupted = 0;
    let mut received = 0;
    for number in 1..=TRIALS {
        let found = trial(number, &dist, &mut random).await;
        received += found.received;
        if found.phase.is_some() {
            interrupted += 1;
        }
        println!(
            "trial {number:>2}: killed after {:>4} ms, in {:<22} {:>3} events seen, endpoint on {}",
            found.killed_after_ms,
            found
                .phase
                .map_or("(after the run)".to_string(), |phase| phase.label()),
            found.received,
            found.config
        );
    }
    println!(
        "{TRIALS}/{TRIALS} resolved safely ({interrupted} interrupted mid-run), 0 of {received} events lost"
    );
    assert!(
        interrupted >= TRIALS / 2,
        "most kills should land mid-run: {interrupted} of {TRIALS}"
    );
    let _ = std::fs::remove_dir_all(&dist);
}

/// API seconds per real second of the local SageMaker the SageMaker runs
/// update: the canary's 60 s provisioning and 7:00 of bakes take 4 s.
const API_SCALE: &str = "120";

/// A SageMaker run's watcher is killed the same way, mid-update, while
/// SageMaker (here a second `guardrail serve`, reached through the AWS SDK)
/// carries on. Started again, it resumes watching, marks the gap, and records
/// the update's end as SageMaker reports it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_sagemaker_watcher_resumes_watching_with_the_gap_marked() {
    let dist = scratch("sagemaker-dist");
    std::fs::write(dist.join("index.html"), "<!doctype html>").expect("a planner page");
    let mut random = Random::new(0x7361_6765);
    for number in 1..=3 {
        let aws_data = scratch(&format!("aws-{number}"));
        let aws = serve(
            free_port(),
            &aws_data,
            &dist,
            &[
                "--rps",
                "60",
                "--time-scale",
                API_SCALE,
                "--provisioning-seconds",
                "60",
            ],
            &[],
        )
        .await;
        let data = scratch(&format!("watcher-{number}"));
        let port = free_port();
        let environment = [
            ("AWS_ENDPOINT_URL", aws.base.as_str()),
            ("AWS_ACCESS_KEY_ID", "AKIDLOCAL"),
            ("AWS_SECRET_ACCESS_KEY", "crash-test-secret"),
            ("AWS_REGION", "us-east-1"),
        ];
        let watcher_args = ["--rps", "0", "--time-scale", API_SCALE, "--poll-ms", "50"];
        let mut watcher = serve(port, &data, &dist, &watcher_args, &environment).await;
        let response = reqwest::Client::new()
            .post(format!("{}/api/start_rollout", watcher.base))
            .form(&[
                ("plan_json", plan().to_json_pretty()),
                ("time_scale", "1".to_string()),
                ("backend", "sagemaker".to_string()),
                ("create_alarms", "true".to_string()),
            ])
            .send()
            .await
            .expect("start");
        assert!(response.status().is_success(), "{response:?}");
        let run: String = response.json().await.expect("a run id");
        let viewer = tokio::spawn(view(watcher.base.clone(), run.clone()));
        let killed_after_ms = 300 + (random.uniform() * 3_000.0) as u64;
        tokio::time::sleep(Duration::from_millis(killed_after_ms)).await;
        watcher.kill();
        let received = viewer.await.expect("the viewer");
        assert!(
            !received
                .iter()
                .any(|event| matches!(event.kind, EventKind::Finished { .. })),
            "trial {number}: killed mid-update"
        );

        let watcher = serve(port, &data, &dist, &watcher_args, &environment).await;
        // The stream ends when the resumed run does.
        let stored = run_record(&watcher.base, &run).await.1;
        assert!(
            stored[..received.len()] == received[..],
            "trial {number}: every event the viewer received is stored unchanged"
        );
        let gap = stored
            .iter()
            .find_map(|event| match event.kind {
                EventKind::WatchResumed {
                    gap_from_ms,
                    gap_to_ms,
                } => Some((gap_from_ms, gap_to_ms)),
                _ => None,
            })
            .unwrap_or_else(|| panic!("trial {number}: the gap is marked\n{stored:#?}"));
        assert!(gap.0 <= gap.1, "trial {number}: {gap:?}");
        assert!(
            matches!(
                stored.last().map(|event| &event.kind),
                Some(EventKind::Finished {
                    outcome: RunOutcome::Succeeded
                })
            ),
            "trial {number}: SageMaker completed the update: {stored:#?}"
        );
        let described = sagemaker(&aws.base)
            .describe_endpoint()
            .endpoint_name(ENDPOINT)
            .send()
            .await
            .expect("DescribeEndpoint");
        assert_eq!(described.endpoint_config_name(), Some("fixed"));
        println!(
            "SageMaker trial {number}: watcher killed after {killed_after_ms} ms, {} events seen, resumed with a gap of {} ms, {} events in all",
            received.len(),
            gap.1 - gap.0,
            stored.len()
        );
        drop((watcher, aws));
        let _ = std::fs::remove_dir_all(&data);
        let _ = std::fs::remove_dir_all(&aws_data);
    }
    let _ = std::fs::remove_dir_all(&dist);
}

/// Processes whose command line mentions `marker`.
fn processes_with(marker: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
                .filter(|pid| {
                    std::fs::read(format!("/proc/{pid}/cmdline"))
                        .is_ok_and(|line| String::from_utf8_lossy(&line).contains(marker))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A model server run from a command (`engine.json`) lives in a process of
/// its own. When guardrail is killed, nothing can run in it, so each such
/// instance has a watcher that ends it within a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_guardrail_leaves_no_model_server_process_behind() {
    let data = scratch("commands");
    let dist = scratch("commands-dist");
    std::fs::write(dist.join("index.html"), "<!doctype html>").expect("a planner page");
    // A copy of the echo model at a path only this test uses.
    let script = data.join(format!("echo-{}.py", std::process::id()));
    std::fs::copy(
        common::workspace().join("server/tests/python/echo_model.py"),
        &script,
    )
    .expect("the echo model");
    let marker = script.display().to_string();
    let command = format!(
        "{} {marker} --port {{port}}",
        common::venv_bin("python").display()
    );
    let engine = serde_json::json!({
        "Models": [{"ModelName": "echo", "Command": command}],
        "EndpointConfigs": [{"EndpointConfigName": "echo-v1", "ModelName": "echo", "VariantName": "AllTraffic", "InstanceCount": 2}],
        "Endpoints": [{"EndpointName": "echo-endpoint", "EndpointConfigName": "echo-v1"}]
    });
    std::fs::write(data.join("engine.json"), engine.to_string()).expect("engine.json");
    let mut server = serve(free_port(), &data, &dist, &["--rps", "0"], &[]).await;
    // Per instance: its watcher, the shell running the line, and Python.
    assert_eq!(processes_with(&marker).len(), 6, "two instances serve");
    server.kill();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !processes_with(&marker).is_empty() {
        assert!(
            Instant::now() < deadline,
            "model servers outlived guardrail: {:?}",
            processes_with(&marker)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = std::fs::remove_dir_all(&data);
    let _ = std::fs::remove_dir_all(&dist);
}
