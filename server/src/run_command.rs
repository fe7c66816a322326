//! `guardrail run` and `guardrail abort`: a rollout on a running
//! `guardrail serve` when one answers, otherwise on an engine started in this
//! process, with live progress; and an abort of a run on a server.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use futures::StreamExt;
use guardrail_app::api::ServiceError;
use guardrail_core::event::{RunOutcome, StreamLine};
use guardrail_core::Plan;

use crate::engine::Engine;
use crate::output::{emit, CliError};
use crate::progress::Progress;

/// Who an abort from this terminal names: `$USER@host`, as far as known.
pub fn terminal_user() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "someone".into());
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|text| text.trim().to_string())
        .unwrap_or_default();
    if host.is_empty() {
        format!("{user} (guardrail CLI)")
    } else {
        format!("{user}@{host} (guardrail CLI)")
    }
}

/// Runs `plan` at `time_scale`, on `server` when it answers, else in this process.
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
    let options = crate::engine::EngineOptions {
        load_rps: rps,
        ..Default::default()
    };
    let engine = Engine::start_in_process(&data_dir, options).await?;
    let started = engine.start_rollout(&plan, time_scale).await;
    let run_id = match started {
        Ok(run_id) => run_id,
        Err(error) => {
            engine.shutdown().await;
            return Err(error.into());
        }
    };
    eprintln!(
        "guardrail: run {run_id} on an in-process local engine (recorded in {}); Ctrl-C aborts it back to blue",
        data_dir.display()
    );
    let lines = crate::web::event_lines(engine.store().clone(), &run_id)
        .map_err(|error| CliError::Failed(error.to_string()))?;
    let outcome = follow_aborting_on_interrupt(&engine, &run_id, lines, verbose).await;
    engine.shutdown().await;
    conclude(&run_id, outcome)
}

/// Follows the run; the first Ctrl-C aborts it (it rolls back to blue) and the
/// progress goes on to the end; a second one stops at once.
async fn follow_aborting_on_interrupt(
    engine: &Engine,
    run_id: &str,
    lines: guardrail_app::api::service::LineStream,
    verbose: bool,
) -> Result<RunOutcome, String> {
    let following = follow(lines, verbose);
    tokio::pin!(following);
    tokio::select! {
        outcome = &mut following => return outcome,
        _ = tokio::signal::ctrl_c() => {}
    }
    match engine.abort(run_id, &terminal_user()).await {
        Ok(()) => eprintln!(
            "guardrail: aborting run {run_id}: rolling back to blue (Ctrl-C again stops at once)"
        ),
        Err(error) => eprintln!("guardrail: {error}"),
    }
    tokio::select! {
        outcome = &mut following => outcome,
        _ = tokio::signal::ctrl_c() => Err("interrupted again while rolling back".into()),
    }
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

fn unreachable(server: &str, error: &reqwest::Error) -> CliError {
    CliError::Failed(format!(
        "cannot reach the guardrail server at {server}: {}",
        crate::engine::fleet::error_text(error)
    ))
}

/// Calls a server function with a form body; a failure comes back as the
/// server's typed error. The access token in `GUARDRAIL_TOKEN`, if set, goes
/// with it (a server reachable off loopback needs it to start or stop a run).
async fn call(
    client: &reqwest::Client,
    server: &str,
    function: &str,
    form: &[(&str, String)],
) -> Result<reqwest::Response, CliError> {
    let mut request = client.post(format!("{server}/api/{function}")).form(form);
    if let Some(token) = std::env::var("GUARDRAIL_TOKEN")
        .ok()
        .filter(|token| !token.is_empty())
    {
        request = request.header(guardrail_app::api::TOKEN_HEADER, token);
    }
    let response = request
        .send()
        .await
        .map_err(|error| unreachable(server, &error))?;
    if response.status().is_success() {
        return Ok(response);
    }
    let body = response
        .text()
        .await
        .map_err(|error| unreachable(server, &error))?;
    Err(match serde_json::from_str::<ServiceError>(&body) {
        Ok(error) => error.into(),
        Err(_) => CliError::Failed(format!("unexpected answer from {server}: {body}")),
    })
}

async fn remote(
    client: &reqwest::Client,
    server: &str,
    plan: &Plan,
    time_scale: f64,
    verbose: bool,
) -> Result<ExitCode, CliError> {
    let response = call(
        client,
        server,
        "start_rollout",
        &[
            ("plan_json", plan.to_json_pretty()),
            ("time_scale", time_scale.to_string()),
            ("backend", crate::backend::LOCAL.to_string()),
        ],
    )
    .await?;
    let body = response
        .text()
        .await
        .map_err(|error| unreachable(server, &error))?;
    let run_id: String = serde_json::from_str(&body)
        .map_err(|_| CliError::Failed(format!("unexpected answer from {server}: {body}")))?;
    eprintln!(
        "guardrail: run {run_id} on the local engine of {server}; Ctrl-C stops watching, \
         `guardrail abort {run_id}` rolls it back"
    );
    let response = call(client, server, "run_events", &[("run_id", run_id.clone())]).await?;
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

/// `guardrail run --backend sagemaker`: the update is started and watched
/// from this process, recorded in `data_dir`. Ctrl-C stops watching.
#[cfg(feature = "sagemaker")]
pub async fn run_on_sagemaker(
    plan: Plan,
    settings: crate::backend::sagemaker::aws::Settings,
    data_dir: PathBuf,
    verbose: bool,
) -> Result<ExitCode, CliError> {
    use crate::backend::Backend;
    use guardrail_app::api::RunOptions;
    let store = crate::store::Store::open(&data_dir)
        .map_err(|error| CliError::Failed(error.to_string()))?;
    let backend = crate::backend::sagemaker::SageMaker::new(store.clone(), settings);
    let run_id = backend.start(&plan, RunOptions::default()).await?;
    eprintln!(
        "guardrail: run {run_id}: SageMaker accepted the update of {}; watching it (recorded in {}). \
         Ctrl-C stops watching, and SageMaker carries on",
        plan.endpoint_name,
        data_dir.display()
    );
    let lines = crate::web::event_lines(store, &run_id)
        .map_err(|error| CliError::Failed(error.to_string()))?;
    let following = follow(lines, verbose);
    tokio::pin!(following);
    let outcome = tokio::select! {
        outcome = &mut following => outcome,
        _ = tokio::signal::ctrl_c() => {
            let _ = backend.stop(&run_id, &terminal_user()).await;
            following.await
        }
    };
    conclude(&run_id, outcome)
}

/// `guardrail abort RUN_ID`: asks the server to roll the run back.
pub async fn abort(server: &str, run_id: &str, by: String) -> Result<ExitCode, CliError> {
    let client = reqwest::Client::new();
    let server = server.trim_end_matches('/');
    call(
        &client,
        server,
        "abort_rollout",
        &[("run_id", run_id.to_string()), ("by", by)],
    )
    .await?;
    emit(&format!(
        "run {run_id}: abort requested; it is rolling back to blue (follow it with `guardrail events {run_id}`)\n"
    ));
    Ok(ExitCode::SUCCESS)
}

/// Prints progress from JSON lines until the run finishes; `Err` with the
/// reason when the stream ends first.
async fn follow(
    mut lines: std::pin::Pin<Box<dyn futures::Stream<Item = String> + Send>>,
    verbose: bool,
) -> Result<RunOutcome, String> {
    let mut progress = Progress::new(verbose);
    while let Some(line) = lines.next().await {
        let event = match serde_json::from_str::<StreamLine>(line.trim()) {
            Ok(StreamLine::Event(event)) => event,
            Ok(StreamLine::Ended { stream_ended }) => return Err(stream_ended),
            Err(_) => continue,
        };
        for text in progress.lines(&event) {
            emit(&format!("{text}\n"));
        }
        if let Some(outcome) = progress.outcome.take() {
            return Ok(outcome);
        }
    }
    Err("the event stream ended before the run finished".into())
}

fn conclude(run_id: &str, outcome: Result<RunOutcome, String>) -> Result<ExitCode, CliError> {
    match outcome {
        Ok(RunOutcome::Succeeded) => {
            emit(&format!(
                "run {run_id}: succeeded: the new config serves all traffic\n"
            ));
            Ok(ExitCode::SUCCESS)
        }
        Ok(outcome @ RunOutcome::Unwatched { .. }) => Err(CliError::Unwatched(format!(
            "run {run_id}: {}",
            outcome.describe()
        ))),
        Ok(outcome) => Err(CliError::Rollback(format!(
            "run {run_id}: {}",
            outcome.describe()
        ))),
        Err(reason) => Err(CliError::Failed(format!(
            "run {run_id}: {reason}; see `guardrail events {run_id}`"
        ))),
    }
}
