//! Times the planner's hot paths in headless Chromium (the release Wasm bundle)
//! and natively, side by side, and prints a Markdown table for BENCHMARKS.md.
//!
//! Then it types into the what-if view with real keystrokes, the analyses
//! running in their worker, and reports what the Long Tasks API (tasks over
//! 50 ms) and the Event Timing API (keystrokes whose handling took 16 ms or
//! more until the next paint) saw on the main thread.
//!
//! Run: `trunk build --release --offline && cargo run -p guardrail-tests --release --bin browser-bench`

use std::time::Instant;

use anyhow::{Context, Result};
use guardrail_tests::{wait_for, wait_for_text, with_browser, TestServer};
use serde_json::Value;
use thirtyfour::prelude::*;

const ITERATIONS: u32 = 200;

/// Keystrokes typed into the what-if view per plan.
const KEYSTROKES: &str = "0.0123456789";

/// Observers for long tasks and slow keystrokes, kept on `window.__perf`.
const OBSERVE: &str = r#"
window.__perf = { longtasks: [], events: [] };
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) window.__perf.longtasks.push(entry.duration);
}).observe({ type: "longtask" });
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    window.__perf.events.push({
      name: entry.name,
      duration: entry.duration,
      processing: entry.processingEnd - entry.processingStart,
    });
  }
}).observe({ type: "event", durationThreshold: 16 });
"#;

/// Types [`KEYSTROKES`] one key at a time into the what-if view of the plan
/// at `url`, and returns what the observers saw and how long the last
/// analysis took to arrive after the last key.
async fn keystrokes(driver: &WebDriver, url: &str) -> Result<(Value, f64)> {
    driver.goto(url).await?;
    wait_for_text(driver, "#detection-probability", |text| !text.is_empty()).await?;
    driver.execute(OBSERVE, vec![]).await?;
    let input = driver.find(By::Css("#green-error-rate")).await?;
    input.click().await?;
    input.send_keys(Key::Control + "a").await?;
    input.send_keys(Key::Backspace).await?;
    for key in KEYSTROKES.chars() {
        input.send_keys(key.to_string()).await?;
    }
    let typed = Instant::now();
    wait_for("the last analysis", || async {
        let section = driver.find(By::Css("#detection")).await.ok()?;
        (section.attr("data-state").await.ok()?? == "done").then_some(())
    })
    .await?;
    let arrived = typed.elapsed().as_secs_f64() * 1_000.0;
    // Let the observers deliver what they buffered.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let seen = driver.execute("return window.__perf;", vec![]).await?;
    Ok((seen.json().clone(), arrived))
}

#[tokio::main]
async fn main() -> Result<()> {
    let started = Instant::now();
    let native =
        guardrail_app::bench::run(ITERATIONS, &|| started.elapsed().as_secs_f64() * 1_000.0);

    let server = TestServer::start().await?;
    let base = server.base_url.clone();
    let wasm = std::sync::Arc::new(std::sync::Mutex::new(Value::Null));
    let out = wasm.clone();
    with_browser(|driver| async move {
        driver.goto(&base).await?;
        wait_for_text(&driver, "#total-duration", |text| !text.is_empty()).await?;
        let result = driver
            .execute(
                &format!("return window.wasmBindings.guardrail_bench({ITERATIONS});"),
                vec![],
            )
            .await?;
        let text = result
            .json()
            .as_str()
            .context("bench returned no text")?
            .to_string();
        *out.lock().map_err(|_| anyhow::anyhow!("lock"))? = serde_json::from_str(&text)?;
        Ok(())
    })
    .await?;
    let wasm = wasm.lock().map_err(|_| anyhow::anyhow!("lock"))?.clone();

    let mut typing = Vec::new();
    for (name, json) in [
        (
            "seed notebook canary",
            guardrail_core::examples::NOTEBOOK_CANARY,
        ),
        (
            "2-hour linear, 10 alarms",
            guardrail_core::examples::LINEAR_2H_10_ALARMS,
        ),
    ] {
        let plan =
            guardrail_core::Plan::from_json(json).map_err(|error| anyhow::anyhow!("{error}"))?;
        let link = guardrail_core::link::encode(&guardrail_core::link::LinkState {
            plan,
            view: Some("whatif".into()),
            run: None,
            at_ms: None,
            review: false,
        });
        let url = format!("{}/#p={link}", server.base_url);
        let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
        let out = seen.clone();
        with_browser(|driver| async move {
            let found = keystrokes(&driver, &url).await?;
            *out.lock().map_err(|_| anyhow::anyhow!("lock"))? = Some(found);
            Ok(())
        })
        .await?;
        let found = seen.lock().map_err(|_| anyhow::anyhow!("lock"))?.take();
        typing.push((name, found.context("no measurement")?));
    }

    println!("| operation | Wasm in Chromium (ms) | native (ms) | Wasm / native |");
    println!("|---|---:|---:|---:|");
    for (index, timing) in native.iter().enumerate() {
        let in_browser = wasm[index]["mean_ms"].as_f64().unwrap_or(f64::NAN);
        println!(
            "| {} | {:.3} | {:.3} | {:.1} |",
            timing.name,
            in_browser,
            timing.mean_ms,
            in_browser / timing.mean_ms
        );
    }
    println!();
    println!(
        "| plan ({} keystrokes in the what-if) | long tasks (> 50 ms) | keystrokes handled in 16 ms or more (longest, of which processing) | last analysis shown after the last key |",
        KEYSTROKES.len()
    );
    println!("|---|---:|---:|---:|");
    for (name, (seen, arrived)) in typing {
        let longtasks: Vec<f64> = seen["longtasks"]
            .as_array()
            .map(|list| list.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default();
        let events = seen["events"].as_array().cloned().unwrap_or_default();
        let longest = events.iter().max_by(|a, b| {
            a["duration"]
                .as_f64()
                .unwrap_or(0.0)
                .total_cmp(&b["duration"].as_f64().unwrap_or(0.0))
        });
        println!(
            "| {name} | {} (longest {:.0} ms) | {} ({}) | {:.0} ms |",
            longtasks.len(),
            longtasks.iter().copied().fold(0.0, f64::max),
            events.len(),
            longest
                .map(|event| format!(
                    "{} {:.0} ms, {:.1} ms",
                    event["name"].as_str().unwrap_or_default(),
                    event["duration"].as_f64().unwrap_or(0.0),
                    event["processing"].as_f64().unwrap_or(0.0)
                ))
                .unwrap_or_else(|| "none".into()),
            arrived
        );
    }
    Ok(())
}
