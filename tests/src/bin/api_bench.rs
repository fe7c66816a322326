//! guardrail's AWS APIs under load (BENCHMARKS.md), served as `guardrail serve`
//! serves them (one HTTP thread per core, two here):
//! 1. from `UpdateEndpoint` to the first event of the run's live stream (the
//!    stream the planner's live view reads), over repeated updates;
//! 2. `DescribeEndpoint` and `DescribeAlarms` polled at a fixed rate each while
//!    an update runs, beside invocations through the router, and the same
//!    invocations without the polling, to show what polling costs the router.
//!
//! Run: `cargo run -p guardrail-tests --release --bin api-bench`
//! Options (environment): BENCH_SECONDS (10, per load phase), BENCH_POLL_RPS
//! (200, for each of the two calls), BENCH_INVOKE_RPS (200), BENCH_UPDATES (30).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use futures::StreamExt;
use guardrail_server::engine::registry::{Registry, DEMO_ENDPOINT};
use guardrail_server::engine::{Engine, EngineOptions};
use guardrail_tests::env_number;
use serde_json::{json, Value};

/// A call to one of the AWS APIs, as boto3 sends it.
#[derive(Clone)]
struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    async fn call(&self, target: &str, body: &Value) -> Result<Value> {
        guardrail_tests::aws_json(&self.client, &self.base, target, body).await
    }

    async fn invoke(&self) -> Result<()> {
        let response = self
            .client
            .post(format!(
                "{}/endpoints/{DEMO_ENDPOINT}/invocations",
                self.base
            ))
            .header("content-type", "text/csv")
            .body("186,0.1,137.8,97,187.7,118")
            .send()
            .await?;
        ensure!(response.status().is_success(), "{}", response.status());
        response.bytes().await?;
        Ok(())
    }

    async fn status(&self) -> Result<String> {
        let described = self
            .call(
                "SageMaker.DescribeEndpoint",
                &json!({"EndpointName": DEMO_ENDPOINT}),
            )
            .await?;
        Ok(described["EndpointStatus"]
            .as_str()
            .unwrap_or_default()
            .to_string())
    }
}

/// Latencies in milliseconds, and how many calls failed.
#[derive(Default)]
struct Sample {
    millis: Vec<f64>,
    failed: usize,
}

impl Sample {
    fn percentile(&self, q: f64) -> f64 {
        let mut sorted = self.millis.clone();
        sorted.sort_by(f64::total_cmp);
        if sorted.is_empty() {
            return f64::NAN;
        }
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1]
    }

    fn row(&self, name: &str, rate: &str) -> String {
        format!(
            "| {name} | {rate} | {} | {:.2} | {:.2} | {:.2} | {} |",
            self.millis.len(),
            self.percentile(0.5),
            self.percentile(0.99),
            self.percentile(1.0),
            self.failed
        )
    }
}

/// Sends `call` at `rate` per second for `seconds`, without waiting for
/// answers (an open loop), and measures each.
async fn open_loop<F, Fut>(rate: u64, seconds: u64, call: F) -> Sample
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send + 'static,
{
    let call = Arc::new(call);
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(1) as f64));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    while Instant::now() < end {
        ticker.tick().await;
        let call = call.clone();
        tasks.push(tokio::spawn(async move {
            let started = Instant::now();
            let ok = call().await.is_ok();
            (started.elapsed().as_secs_f64() * 1_000.0, ok)
        }));
    }
    let mut sample = Sample::default();
    for task in tasks {
        match task.await {
            Ok((millis, true)) => sample.millis.push(millis),
            _ => sample.failed += 1,
        }
    }
    sample
}

/// The notebook's canary from `baseline` to `fixed`, guarded by its 5xx alarm.
fn update() -> Value {
    json!({
        "EndpointName": DEMO_ENDPOINT,
        "EndpointConfigName": "fixed",
        "DeploymentConfig": {
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": {
                    "Type": "CANARY",
                    "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1},
                    "WaitIntervalInSeconds": 300
                },
                "TerminationWaitInSeconds": 120,
                "MaximumExecutionTimeoutInSeconds": 1800
            },
            "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "bench-5xx"}]}
        }
    })
}

/// Starts an update; returns its run id, when the call was sent, and how long
/// it took to answer.
async fn start_update(api: &Api, engine: &Engine) -> Result<(String, Instant, f64)> {
    let started = Instant::now();
    api.call("SageMaker.UpdateEndpoint", &update()).await?;
    let answered = started.elapsed().as_secs_f64() * 1_000.0;
    let runs = engine.store().runs()?;
    let run = runs
        .iter()
        .find(|run| run.status == "running")
        .context("the update's run is recorded")?;
    Ok((run.id.clone(), started, answered))
}

/// Aborts the update back to `baseline` and waits until the endpoint is in service.
async fn end_update(api: &Api, engine: &Engine, run: &str) -> Result<()> {
    engine.abort(run, "the benchmark").await?;
    engine.wait(run).await?;
    for _ in 0..500 {
        if api.status().await? == "InService" {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    bail!("the endpoint did not return to InService")
}

fn main() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(bench())
}

async fn bench() -> Result<()> {
    let seconds = env_number("BENCH_SECONDS", 10);
    let poll_rps = env_number("BENCH_POLL_RPS", 200);
    let invoke_rps = env_number("BENCH_INVOKE_RPS", 200);
    let updates = env_number("BENCH_UPDATES", 30);
    let engine = Engine::start(
        Registry::demo(),
        guardrail_server::store::Store::in_memory()?,
        EngineOptions {
            load_rps: 0.0,
            seed: 1,
            api_time_scale: 1.0,
            api_provisioning_seconds: 0,
        },
    )
    .await?;
    let dist = std::env::temp_dir().join("guardrail-bench-no-planner");
    let app = guardrail_server::web::served(&dist, engine.clone());
    let port =
        guardrail_server::web::spawn_server_threads(SocketAddr::from(([127, 0, 0, 1], 0)), 2, app)?;
    let api = Api {
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(512)
            .build()?,
        base: format!("http://127.0.0.1:{port}"),
    };
    let notebook = guardrail_core::examples::notebook_canary();
    let mut alarm = serde_json::to_value(&notebook.alarms[0])?;
    alarm["AlarmName"] = json!("bench-5xx");
    api.call("GraniteServiceVersion20100801.PutMetricAlarm", &alarm)
        .await?;

    // 1. From UpdateEndpoint to the first event of the live stream.
    let mut first_event = Sample::default();
    let mut update_call = Sample::default();
    for _ in 0..updates {
        let (run, started, answered) = start_update(&api, &engine).await?;
        update_call.millis.push(answered);
        let mut lines = guardrail_server::web::event_lines(engine.store().clone(), &run)?;
        let line = lines.next().await.context("a first event")?;
        first_event
            .millis
            .push(started.elapsed().as_secs_f64() * 1_000.0);
        ensure!(line.contains("\"plan_accepted\""), "{line}");
        drop(lines);
        end_update(&api, &engine, &run).await?;
    }

    // 2. Polling during an update, beside invocations through the router.
    let (run, ..) = start_update(&api, &engine).await?;
    let invoking = {
        let api = api.clone();
        move || {
            let api = api.clone();
            async move { api.invoke().await }
        }
    };
    let alone = open_loop(invoke_rps, seconds, invoking.clone()).await;
    let describe_endpoint = {
        let api = api.clone();
        move || {
            let api = api.clone();
            async move {
                let status = api.status().await?;
                ensure!(status == "Updating", "{status}");
                Ok(())
            }
        }
    };
    let describe_alarms = {
        let api = api.clone();
        move || {
            let api = api.clone();
            async move {
                api.call(
                    "GraniteServiceVersion20100801.DescribeAlarms",
                    &json!({"AlarmNames": ["bench-5xx"]}),
                )
                .await
                .map(|_| ())
            }
        }
    };
    let (endpoint, alarms, beside) = tokio::join!(
        open_loop(poll_rps, seconds, describe_endpoint),
        open_loop(poll_rps, seconds, describe_alarms),
        open_loop(invoke_rps, seconds, invoking),
    );
    end_update(&api, &engine, &run).await?;
    engine.shutdown().await;

    println!("| measure | rate /s | calls | p50 ms | p99 ms | max ms | failed |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    println!(
        "{}",
        update_call.row("UpdateEndpoint call", "one at a time")
    );
    println!(
        "{}",
        first_event.row("UpdateEndpoint to the first live event", "one at a time")
    );
    println!(
        "{}",
        endpoint.row("DescribeEndpoint during an update", &poll_rps.to_string())
    );
    println!(
        "{}",
        alarms.row("DescribeAlarms during an update", &poll_rps.to_string())
    );
    println!(
        "{}",
        alone.row("InvokeEndpoint, no polling", &invoke_rps.to_string())
    );
    println!(
        "{}",
        beside.row("InvokeEndpoint, with the polling", &invoke_rps.to_string())
    );
    Ok(())
}
