//! Times the planner's hot paths in headless Chromium (the release Wasm bundle)
//! and natively, side by side, and prints a Markdown table for BENCHMARKS.md.
//!
//! Run: `trunk build --release --offline && cargo run -p guardrail-tests --release --bin browser-bench`

use std::time::Instant;

use anyhow::{Context, Result};
use guardrail_tests::{wait_for_text, with_browser, TestServer};
use serde_json::Value;

const ITERATIONS: u32 = 200;

#[tokio::main]
async fn main() -> Result<()> {
    let started = Instant::now();
    let native =
        guardrail_app::bench::run(ITERATIONS, &|| started.elapsed().as_secs_f64() * 1_000.0);

    let server = TestServer::start().await?;
    let wasm = std::sync::Arc::new(std::sync::Mutex::new(Value::Null));
    let out = wasm.clone();
    with_browser(|driver| async move {
        driver.goto(&server.base_url).await?;
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
    Ok(())
}
