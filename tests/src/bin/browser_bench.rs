//! Times the planner's hot paths in headless Chromium (the release Wasm bundle)
//! and natively, side by side, and prints a Markdown table for BENCHMARKS.md.
//!
//! Then it types into the what-if view with real keystrokes, the analyses
//! running in their worker, and reports what the main thread went through:
//! the Long Tasks API (tasks over 50 ms, its floor), the Event Timing API (the
//! longest keystroke handler), animation frames (gaps between them), and a
//! probe task queued every millisecond or so, whose wait is how long the
//! thread was busy (tasks and rendering) below the Long Tasks API's floor.
//!
//! Run: `cargo run -p guardrail-bundle --bin bundle && cargo run -p guardrail-tests --release --bin browser-bench`

use std::time::Instant;

use anyhow::{Context, Result};
use guardrail_tests::{open_view, wait_for, wait_for_text, with_browser, TestServer};
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
      start: Math.round(entry.startTime),
    });
  }
}).observe({ type: "event", durationThreshold: 16 });
// Frames: the gap between one animation frame and the next is how long the
// main thread (tasks, style, layout, paint) kept the page from updating.
window.__perf.frames = [];
// Busy stretches: a probe task is queued every millisecond or so; how long it
// waited to run is how long the main thread was busy with what was ahead of
// it (tasks, microtasks, style, layout, paint).
window.__perf.waits = [];
(function () {
  const channel = new MessageChannel();
  let sent = 0;
  channel.port1.onmessage = () => {
    const now = performance.now();
    window.__perf.waits.push(now - sent);
    if (now - sent > 16) {
      const detection = document.querySelector('#detection');
      window.__perf.late = window.__perf.late || [];
      window.__perf.late.push([Math.round(sent), Math.round(now - sent), detection ? detection.dataset.state + "/" + detection.dataset.generation : ""]);
    }
    setTimeout(probe, 1);
  };
  function probe() { sent = performance.now(); channel.port2.postMessage(0); }
  probe();
})();
(function frame(last) {
  requestAnimationFrame((now) => {
    if (last !== undefined) window.__perf.frames.push(now - last);
    frame(now);
  });
})();
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
    // GUARDRAIL_BENCH_DEBUG=1: when the main thread was busy, beside when
    // each keystroke's events began (page milliseconds), to tell what it was.
    if std::env::var_os("GUARDRAIL_BENCH_DEBUG").is_some() {
        eprintln!(
            "busy over 16 ms [probe sent, waited, analysis state/generation]: {}",
            seen.json()["late"]
        );
        let starts: Vec<String> = seen.json()["events"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|event| {
                format!(
                    "{}@{}",
                    event["name"].as_str().unwrap_or(""),
                    event["start"]
                )
            })
            .collect();
        eprintln!("events: {}", starts.join(" "));
    }
    Ok((seen.json().clone(), arrived))
}

/// What the main thread went through in Compare with two 2-hour plans
/// pinned: while each is pinned, when Compare opens on a fresh page (the
/// pins restored, their detections computed again), and while the user types
/// into the what-if with both pinned. Each phase: the observers' findings and
/// how long until Compare's table was complete.
async fn compare_two_pinned(
    driver: &WebDriver,
    url: &str,
) -> Result<Vec<(&'static str, Value, f64)>> {
    let mut phases = Vec::new();
    let table_complete = |driver: &WebDriver| {
        let driver = driver.clone();
        async move {
            wait_for_text(&driver, "#compare-table", |text| {
                !text.contains('…') && text.matches("of 200 runs").count() >= 2
            })
            .await
        }
    };
    driver.goto(url).await?;
    wait_for_text(driver, "#detection-probability", |text| !text.is_empty()).await?;
    driver.execute(OBSERVE, vec![]).await?;
    let began = Instant::now();
    for error_rate in ["0.02", "0.05"] {
        open_view(driver, "whatif").await?;
        let input = driver.find(By::Css("#green-error-rate")).await?;
        input.click().await?;
        input.send_keys(Key::Control + "a").await?;
        input.send_keys(Key::Backspace).await?;
        input.send_keys(error_rate).await?;
        open_view(driver, "compare").await?;
        driver.find(By::Css("#pin-current")).await?.click().await?;
    }
    table_complete(driver).await?;
    let filled = began.elapsed().as_secs_f64() * 1_000.0;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let seen = driver.execute("return window.__perf;", vec![]).await?;
    phases.push(("pinning both", seen.json().clone(), filled));
    // A fresh page: the pins come back from storage, Compare opens.
    driver.goto(url).await?;
    wait_for_text(driver, "#detection-probability", |text| !text.is_empty()).await?;
    driver.execute(OBSERVE, vec![]).await?;
    let began = Instant::now();
    open_view(driver, "compare").await?;
    table_complete(driver).await?;
    let filled = began.elapsed().as_secs_f64() * 1_000.0;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let seen = driver.execute("return window.__perf;", vec![]).await?;
    phases.push(("opening Compare", seen.json().clone(), filled));
    // Typing with both pinned (the keystrokes reload the page: Compare is
    // not open, its pins are restored).
    let (seen, arrived) = keystrokes(driver, url).await?;
    phases.push(("typing in the what-if", seen, arrived));
    Ok(phases)
}

/// Loads the planner in a fresh browser (an empty profile: nothing cached)
/// and reads when its first chart was drawn (the app's `guardrail:first-chart`
/// mark) and when the HTML and the Wasm had arrived, in page milliseconds,
/// and the Wasm's bytes as sent (compressed, if the server compressed it).
async fn first_chart(base: &str) -> Result<(f64, f64, f64, f64)> {
    let found = std::sync::Arc::new(std::sync::Mutex::new(None));
    let out = found.clone();
    let base = base.to_string();
    with_browser(|driver| async move {
        driver.goto(&base).await?;
        let read = format!(
            "const mark = performance.getEntriesByName({:?})[0];
             const wasm = performance.getEntriesByType('resource').find((entry) => entry.name.endsWith('.wasm'));
             const page = performance.getEntriesByType('navigation')[0];
             return mark ? [mark.startTime, page.responseEnd, wasm ? wasm.responseEnd : -1, wasm ? wasm.encodedBodySize : -1] : null;",
            guardrail_app::panels::FIRST_CHART_MARK
        );
        let times = wait_for("the first chart", || async {
            let value = driver.execute(&read, vec![]).await.ok()?;
            let times: Vec<f64> = serde_json::from_value(value.json().clone()).ok()?;
            (times.len() == 4).then_some(times)
        })
        .await?;
        *out.lock().map_err(|_| anyhow::anyhow!("lock"))? =
            Some((times[0], times[1], times[2], times[3]));
        Ok(())
    })
    .await?;
    let times = found.lock().map_err(|_| anyhow::anyhow!("lock"))?.take();
    times.context("no first chart")
}

/// The planner at `base` with the plan `json` open in the what-if view.
fn whatif_url(base: &str, json: &str) -> Result<String> {
    let plan = guardrail_core::Plan::from_json(json).map_err(|error| anyhow::anyhow!("{error}"))?;
    let link = guardrail_core::link::encode(&guardrail_core::link::LinkState {
        plan,
        view: Some("whatif".into()),
        run: None,
        at_ms: None,
        review: false,
    });
    Ok(format!("{base}/#p={link}"))
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

    // Time to first chart, cold: ten loads, each in a fresh browser.
    let mut loads = Vec::new();
    for _ in 0..10 {
        loads.push(first_chart(&server.base_url).await?);
    }

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
        let url = whatif_url(&server.base_url, json)?;
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

    let url = whatif_url(
        &server.base_url,
        guardrail_core::examples::LINEAR_2H_10_ALARMS,
    )?;
    let compared = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let out = compared.clone();
    with_browser(|driver| async move {
        let phases = compare_two_pinned(&driver, &url).await?;
        *out.lock().map_err(|_| anyhow::anyhow!("lock"))? = phases;
        Ok(())
    })
    .await?;
    let compared = std::mem::take(&mut *compared.lock().map_err(|_| anyhow::anyhow!("lock"))?);

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
    let mut charts: Vec<f64> = loads.iter().map(|(chart, ..)| *chart).collect();
    charts.sort_by(f64::total_cmp);
    let wasm: Vec<f64> = loads.iter().map(|(_, _, wasm, _)| *wasm).collect();
    println!(
        "Time to first chart, 10 cold loads on loopback: p50 {:.0} ms, worst {:.0} ms (each: {}); the Wasm had arrived at {} ms, {:.0} bytes as sent",
        (charts[4] + charts[5]) / 2.0,
        charts[9],
        loads.iter().map(|(chart, ..)| format!("{chart:.0}")).collect::<Vec<_>>().join(", "),
        wasm.iter().map(|at| format!("{at:.0}")).collect::<Vec<_>>().join(", "),
        loads.first().map_or(-1.0, |load| load.3)
    );
    println!();
    println!(
        "| plan ({} keystrokes in the what-if), or what was done in Compare | long tasks (> 50 ms), longest | longest handler | frames over 20 ms, longest | longest busy stretch (probe) | last analysis shown after the last key, or Compare's table complete after the first click |",
        KEYSTROKES.len()
    );
    println!("|---|---:|---:|---:|---:|---:|");
    let rows = typing
        .into_iter()
        .map(|(name, (seen, arrived))| (name.to_string(), seen, arrived))
        .chain(compared.into_iter().map(|(phase, seen, arrived)| {
            (
                format!("2-hour linear, two 2-hour plans pinned: {phase}"),
                seen,
                arrived,
            )
        }));
    for (name, seen, arrived) in rows {
        let longtasks: Vec<f64> = seen["longtasks"]
            .as_array()
            .map(|list| list.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default();
        let events = seen["events"].as_array().cloned().unwrap_or_default();
        let handler = events
            .iter()
            .map(|event| {
                (
                    event["processing"].as_f64().unwrap_or(0.0),
                    event["name"].as_str().unwrap_or_default().to_string(),
                )
            })
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(ms, name)| format!("{ms:.1} ms ({name})"))
            .unwrap_or_else(|| "under 16 ms".into());
        let frames: Vec<f64> = seen["frames"]
            .as_array()
            .map(|list| list.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default();
        let slow = frames.iter().filter(|gap| **gap > 20.0).count();
        let waits: Vec<f64> = seen["waits"]
            .as_array()
            .map(|list| list.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default();
        let mut sorted = waits.clone();
        sorted.sort_by(f64::total_cmp);
        let busy_over_16 = waits.iter().filter(|wait| **wait > 16.0).count();
        println!(
            "| {name} | {}, {:.0} ms | {handler} | {slow} of {}, {:.0} ms | {:.1} ms ({busy_over_16} of {} probes waited over 16 ms) | {:.0} ms |",
            longtasks.len(),
            longtasks.iter().copied().fold(0.0, f64::max),
            frames.len(),
            frames.iter().copied().fold(0.0, f64::max),
            sorted.last().copied().unwrap_or(0.0),
            waits.len(),
            arrived
        );
    }
    Ok(())
}
