//! `guardrail run`: runs a plan on a running `guardrail serve` when one answers,
//! otherwise on an engine started in this process, and shows live progress.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use futures::StreamExt;
use guardrail_core::event::{Event, RunOutcome};
use guardrail_core::Plan;

use crate::cli::{emit, start_engine, CliError};
use crate::progress::Progress;

pub async fn run(
    plan: Plan,
    time_scale: f64,
    server: Option<String>,
    rps: f64,
    data_dir: PathBuf,
    verbose: bool,
) -> Result<ExitCode, CliError> {
    let client = reqwest::Client::new();
    if let Some(server) = server {
        let server = server.trim_end_matches('/').to_string();
        if server_answers(&client, &server).await {
            return remote(&client, &server, &plan, time_scale, verbose).await;
        }
    }
    let engine = start_engine(&data_dir, rps).await?;
    let run_id = engine
        .start_rollout(&plan, time_scale)
        .await
        .map_err(|error| CliError::Input(error.to_string()))?;
    eprintln!(
        "guardrail: run {run_id} on an in-process local engine (recorded in {})",
        data_dir.display()
    );
    let lines =
        crate::web::event_lines(engine.store().clone(), &run_id).map_err(CliError::Runtime)?;
    let outcome = follow(lines, verbose).await;
    engine.shutdown().await;
    conclude(&run_id, outcome)
}

async fn server_answers(client: &reqwest::Client, server: &str) -> bool {
    match client
        .get(format!("{server}/healthz"))
        .timeout(Duration::from_millis(500))
        .send()
        .await
    {
        Ok(response) => response.status().is_success(),
        Err(_) => false,
    }
}

/// The message of a failed server function, without its framing.
fn server_error(body: &str) -> String {
    body.trim()
        .trim_start_matches("ServerError|")
        .trim_matches('"')
        .to_string()
}

async fn remote(
    client: &reqwest::Client,
    server: &str,
    plan: &Plan,
    time_scale: f64,
    verbose: bool,
) -> Result<ExitCode, CliError> {
    let unreachable = |error: reqwest::Error| {
        CliError::Runtime(format!(
            "cannot reach the guardrail server at {server}: {}",
            crate::engine::fleet::error_text(&error)
        ))
    };
    let response = client
        .post(format!("{server}/api/start_rollout"))
        .form(&[
            ("plan_json", plan.to_json_pretty()),
            ("time_scale", time_scale.to_string()),
        ])
        .send()
        .await
        .map_err(unreachable)?;
    let status = response.status();
    let body = response.text().await.map_err(unreachable)?;
    if !status.is_success() {
        return Err(CliError::Input(server_error(&body)));
    }
    let run_id: String = serde_json::from_str(&body)
        .map_err(|_| CliError::Runtime(format!("unexpected answer from {server}: {body}")))?;
    eprintln!("guardrail: run {run_id} on the local engine of {server}");
    let response = client
        .post(format!("{server}/api/run_events"))
        .form(&[("run_id", run_id.as_str())])
        .send()
        .await
        .map_err(unreachable)?;
    if !response.status().is_success() {
        let body = response.text().await.unwrap_or_default();
        return Err(CliError::Runtime(server_error(&body)));
    }
    // Chunks do not follow line boundaries: reassemble lines.
    let mut pending = String::new();
    let chunks = response
        .bytes_stream()
        .filter_map(|chunk| async move { chunk.ok() });
    let lines = chunks
        .map(move |chunk| {
            pending.push_str(&String::from_utf8_lossy(&chunk));
            let mut complete = Vec::new();
            while let Some(end) = pending.find('\n') {
                complete.push(pending[..end].to_string());
                pending.drain(..=end);
            }
            futures::stream::iter(complete)
        })
        .flatten();
    let outcome = follow(Box::pin(lines), verbose).await;
    conclude(&run_id, outcome)
}

/// Prints progress from JSON lines until the run finishes.
async fn follow(
    mut lines: std::pin::Pin<Box<dyn futures::Stream<Item = String> + Send>>,
    verbose: bool,
) -> Option<RunOutcome> {
    let mut progress = Progress::new(verbose);
    while let Some(line) = lines.next().await {
        let Ok(event) = serde_json::from_str::<Event>(line.trim()) else {
            continue;
        };
        for text in progress.lines(&event) {
            emit(&format!("{text}\n"));
        }
        if progress.outcome.is_some() {
            break;
        }
    }
    progress.outcome
}

fn conclude(run_id: &str, outcome: Option<RunOutcome>) -> Result<ExitCode, CliError> {
    match outcome {
        Some(RunOutcome::Succeeded) => {
            emit(&format!(
                "run {run_id}: succeeded: the new config serves all traffic\n"
            ));
            Ok(ExitCode::SUCCESS)
        }
        Some(outcome) => Err(CliError::Rollback(format!(
            "run {run_id}: {}",
            outcome.describe()
        ))),
        None => Err(CliError::Runtime(format!(
            "run {run_id}: the event stream ended before the run finished; see `guardrail events {run_id}`"
        ))),
    }
}
