//! Load through whole rollouts on the local engine, as `guardrail serve` runs
//! it (the engine on a runtime of its own, HTTP on one single-threaded runtime
//! per core), with a closed-loop load generator of 64 connections sending
//! invocations as fast as they are answered.
//!
//! - **Router under load**: 20 canaries of the seed notebook to
//!   `incompatible` (green fails every request), each shifting traffic to the
//!   canary, then to green, then rolling back on the 5XX alarm. Every request
//!   must get an answer (a refused, reset or timed-out connection is a lost
//!   request); latency near each routing change is compared with the rest.
//! - **Rollback reaction**: from the moment the alarm's period closes (the
//!   real instant of its `ALARM` transition on the run's clock) to the router
//!   sending all traffic to blue, over the 20 rollbacks.
//! - **Fan-out**: 100 viewers follow the first run over `/api/run_events`;
//!   each must receive every event in order. The delay is each viewer's
//!   receipt after an in-process follower's.
//!
//! Run: `cargo run -p guardrail-tests --release --bin load-bench`
//! Options (environment): BENCH_RUNS (20), BENCH_CONNECTIONS (64),
//! BENCH_VIEWERS (100), BENCH_TIME_SCALE (600).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use guardrail_core::alarm::AlarmState;
use guardrail_core::event::{Event, EventKind};
use guardrail_core::examples;
use guardrail_server::engine::registry::{Registry, DEMO_ENDPOINT};
use guardrail_server::engine::{Engine, EngineOptions};
use guardrail_server::store::{Live, Store};
use guardrail_tests::{env_number, scratch_dir};

/// One request: when it started (µs after the load began), how long it took
/// (µs), and whether an answer came.
#[derive(Clone, Copy)]
struct Sample {
    start_us: u64,
    latency_us: u64,
    answered: bool,
}

fn percentile(sorted: &[u64], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index.min(sorted.len() - 1)] as f64
}

fn micros_since(origin: Instant, at: Instant) -> u64 {
    at.saturating_duration_since(origin).as_micros() as u64
}

fn wall_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_micros() as u64)
        .unwrap_or(0)
}

/// The load: `connections` closed loops over pooled keep-alive connections.
async fn load(
    url: String,
    connections: u64,
    origin: Instant,
    stop: Arc<AtomicBool>,
) -> Vec<Sample> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(connections as usize)
        .timeout(Duration::from_secs(120))
        .build()
        .expect("a client");
    let row = guardrail_server::engine::model::demo_rows(1).remove(0);
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let (client, url, row, stop) = (client.clone(), url.clone(), row.clone(), stop.clone());
            tokio::spawn(async move {
                let mut samples = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    let answered = match client
                        .post(&url)
                        .header("content-type", "text/csv")
                        .body(row.clone())
                        .send()
                        .await
                    {
                        Ok(response) => response.bytes().await.is_ok(),
                        Err(_) => false,
                    };
                    samples.push(Sample {
                        start_us: micros_since(origin, started),
                        latency_us: started.elapsed().as_micros() as u64,
                        answered,
                    });
                }
                samples
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap_or_default());
    }
    all
}

/// Follows a run's stream as the planner does; each line with the wall time
/// (µs) it arrived.
async fn view(base: String, run: String) -> Result<Vec<(Event, u64)>> {
    let mut response = reqwest::Client::new()
        .post(format!("{base}/api/run_events"))
        .form(&[("run_id", run.as_str())])
        .send()
        .await?;
    let mut pending = Vec::new();
    let mut events = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let arrived = wall_us();
        pending.extend_from_slice(&chunk);
        while let Some(end) = pending.iter().position(|byte| *byte == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            events.push((serde_json::from_slice(&line)?, arrived));
        }
    }
    Ok(events)
}

fn main() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("engine")
        .enable_all()
        .build()?;
    runtime.block_on(bench())
}

async fn bench() -> Result<()> {
    let runs = env_number("BENCH_RUNS", 20);
    let connections = env_number("BENCH_CONNECTIONS", 64);
    let viewers = env_number("BENCH_VIEWERS", 100);
    let scale = env_number("BENCH_TIME_SCALE", 600) as f64;
    let data = scratch_dir("load-bench")?;
    let engine = Engine::start(
        Registry::demo(),
        Store::open(&data)?,
        EngineOptions {
            load_rps: 0.0,
            ..EngineOptions::default()
        },
    )
    .await?;
    let dist = data.join("dist");
    std::fs::create_dir_all(&dist)?;
    std::fs::write(dist.join("index.html"), "<!doctype html>")?;
    let port = guardrail_server::web::spawn_server_threads(
        ([127, 0, 0, 1], 0).into(),
        2,
        guardrail_server::web::served(&dist, engine.clone()),
    )?;
    let base = format!("http://127.0.0.1:{port}");
    let router = engine
        .router_of(DEMO_ENDPOINT)
        .context("the demo endpoint")?;

    // The load runs on a runtime of its own, as a client on the same machine.
    let origin = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let load_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("load")
        .enable_all()
        .build()?;
    let samples = load_runtime.spawn(load(
        format!("{base}/endpoints/{DEMO_ENDPOINT}/invocations"),
        connections,
        origin,
        stop.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut plan = examples::notebook_canary();
    plan.endpoint_config_name = "incompatible".into();
    // Only the 5XX alarm: latency under full load is not the regression here.
    plan.alarms[1].threshold = Some(1_000_000.0);
    let mut reactions_us = Vec::new();
    // Each routing change, and whether it moved traffic toward green.
    let mut changes: Vec<(Instant, bool)> = Vec::new();
    let mut fan_out_us = Vec::new();
    let mut viewers_complete = 0;
    let mut events_per_run = 0;
    for number in 0..runs {
        let run = engine.start_rollout(&plan, scale).await?;
        let clock = engine.plan_clock(&run).context("the run's clock")?;
        let mut views = Vec::new();
        let mut reference = None;
        if number == 0 {
            reference = Some(engine.store().follow(&run)?);
            views = (0..viewers)
                .map(|_| tokio::spawn(view(base.clone(), run.clone())))
                .collect();
        }
        let mut reference_times = std::collections::HashMap::new();
        if let Some((history, Some(mut receiver))) = reference {
            let mut finished = history
                .iter()
                .any(|event| matches!(event.kind, EventKind::Finished { .. }));
            while !finished {
                match receiver.recv().await {
                    Ok(Live::Event(event)) => {
                        reference_times.insert(event.seq, wall_us());
                        finished = matches!(event.kind, EventKind::Finished { .. });
                    }
                    _ => break,
                }
            }
        }
        engine.wait(&run).await?;
        let events = engine.store().events(&run)?;
        events_per_run = events.len();
        for view in views {
            let received = view.await??;
            let in_order: Vec<Event> = received.iter().map(|(event, _)| event.clone()).collect();
            if in_order != events {
                bail!(
                    "a viewer received {} events, not the {} recorded, in order",
                    in_order.len(),
                    events.len()
                );
            }
            viewers_complete += 1;
            // Only what reached the viewer live: its first chunk is history.
            let connected = received.first().map_or(0, |(_, arrived)| *arrived);
            for (event, arrived) in &received {
                if let Some(reference) = reference_times
                    .get(&event.seq)
                    .filter(|at| **at > connected)
                {
                    fan_out_us.push(arrived.saturating_sub(*reference));
                }
            }
        }
        let alarm_at_ms = events
            .iter()
            .find_map(|event| match &event.kind {
                EventKind::AlarmStateChanged {
                    to: AlarmState::Alarm,
                    ..
                } => Some(event.at_ms),
                _ => None,
            })
            .context("the 5XX alarm fired")?;
        let due = clock.instant_at(alarm_at_ms);
        let recent = router.recent_changes();
        let back = recent
            .iter()
            .find(|(at, green_bp)| *at >= due && *green_bp == 0)
            .context("traffic went back to blue after the alarm")?;
        reactions_us.push(back.0.duration_since(due).as_micros() as u64);
        let mut previous_bp = 0;
        for (at, green_bp) in recent {
            if at >= clock.instant_at(0) {
                changes.push((at, green_bp > previous_bp));
                previous_bp = green_bp;
            }
        }
        // The endpoint is free again at once; the next run starts on blue.
    }
    stop.store(true, Ordering::Relaxed);
    let samples = samples.await?;
    load_runtime.shutdown_background();
    engine.shutdown().await;

    let lost = samples.iter().filter(|sample| !sample.answered).count();
    let total = samples.len();
    let elapsed_s = origin.elapsed().as_secs_f64();
    let window_us = 10_000;
    let change_us: Vec<(u64, bool)> = changes
        .iter()
        .map(|(at, toward_green)| (micros_since(origin, *at), *toward_green))
        .collect();
    let near = |sample: &Sample, distance: u64, which: Option<bool>| {
        change_us.iter().any(|(change, toward_green)| {
            which.is_none_or(|wanted| wanted == *toward_green)
                && sample.start_us.abs_diff(*change) <= distance
        })
    };
    let latencies = |keep: &dyn Fn(&Sample) -> bool| {
        let mut kept: Vec<u64> = samples
            .iter()
            .filter(|sample| sample.answered && keep(sample))
            .map(|sample| sample.latency_us)
            .collect();
        kept.sort_unstable();
        kept
    };
    let during = latencies(&|sample| near(sample, window_us, None));
    let toward_green = latencies(&|sample| near(sample, window_us, Some(true)));
    let toward_blue = latencies(&|sample| near(sample, window_us, Some(false)));
    let steady = latencies(&|sample| !near(sample, 5 * window_us, None));
    reactions_us.sort_unstable();
    fan_out_us.sort_unstable();

    println!("## Load through {runs} rollbacks ({connections} connections, time scale {scale})\n");
    println!("| figure | value |\n|---|---|");
    println!(
        "| requests | {total} in {elapsed_s:.1} s ({:.0}/s) |",
        total as f64 / elapsed_s
    );
    println!("| lost by the router (no answer) | {lost} |");
    println!("| routing changes | {} |", change_us.len());
    println!(
        "| latency p50 / p99, steady (over 50 ms from a change) | {:.2} / {:.2} ms ({} requests) |",
        percentile(&steady, 0.5) / 1e3,
        percentile(&steady, 0.99) / 1e3,
        steady.len()
    );
    println!(
        "| latency p50 / p99, within 10 ms of a change | {:.2} / {:.2} ms ({} requests) |",
        percentile(&during, 0.5) / 1e3,
        percentile(&during, 0.99) / 1e3,
        during.len()
    );
    println!(
        "| p99 added during a weight change | {:.2} ms |",
        (percentile(&during, 0.99) - percentile(&steady, 0.99)) / 1e3
    );
    println!(
        "| … of which changes toward green / toward blue, p99 | {:.2} / {:.2} ms ({} / {} requests) |",
        percentile(&toward_green, 0.99) / 1e3,
        percentile(&toward_blue, 0.99) / 1e3,
        toward_green.len(),
        toward_blue.len()
    );
    println!(
        "| rollback reaction p50 / p99 / max (alarm due → all traffic on blue) | {:.2} / {:.2} / {:.2} ms |",
        percentile(&reactions_us, 0.5) / 1e3,
        percentile(&reactions_us, 0.99) / 1e3,
        reactions_us.last().copied().unwrap_or(0) as f64 / 1e3
    );
    println!(
        "| viewers that received every event in order | {viewers_complete}/{viewers} ({events_per_run} events) |"
    );
    println!(
        "| fan-out delay p50 / p99 / max (after an in-process follower) | {:.2} / {:.2} / {:.2} ms |",
        percentile(&fan_out_us, 0.5) / 1e3,
        percentile(&fan_out_us, 0.99) / 1e3,
        fan_out_us.last().copied().unwrap_or(0) as f64 / 1e3
    );
    let _ = std::fs::remove_dir_all(&data);
    if lost > 0 {
        bail!("the router lost {lost} requests");
    }
    Ok(())
}
