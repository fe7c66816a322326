//! Demo model servers speaking the SageMaker inference container contract:
//! `GET /ping` answers 200 when ready, `POST /invocations` scores CSV rows.
//!
//! The three built-in models reproduce the seed notebook's: `baseline` and
//! `fixed` score churn-style rows with a small logistic model (two versions of
//! its weights), and `incompatible` fails every invocation with a 5xx, as the
//! notebook's XGBoost 1.2 container fails to load a 0.90 model. Each has a
//! configurable mean latency and error rate.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use guardrail_core::random::Random;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Number of features in a demo row (the churn notebook's test set has 69).
pub const FEATURES: usize = 69;

/// How a built-in model behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Behaviour {
    /// Model 1: the baseline churn scorer.
    Baseline,
    /// Model 2 in a container that cannot load it: every invocation fails.
    Incompatible,
    /// Model 2 in a compatible container: a slightly different scorer.
    Fixed,
    /// A container that never passes its health check.
    NeverReady,
}

/// A built-in model's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BuiltinModel {
    pub behaviour: Behaviour,
    /// Mean added latency per invocation, in milliseconds.
    #[serde(default = "default_latency_ms")]
    pub latency_ms: f64,
    /// Extra fraction of invocations that fail with a 500, 0 to 1.
    #[serde(default)]
    pub error_rate: f64,
}

fn default_latency_ms() -> f64 {
    2.0
}

impl BuiltinModel {
    pub fn new(behaviour: Behaviour) -> Self {
        Self {
            behaviour,
            latency_ms: default_latency_ms(),
            error_rate: 0.0,
        }
    }
}

/// The logistic scorer: churn probability of one row.
fn score(row: &[f64], version: u64) -> f64 {
    let mut weights = Random::new(0x5eed_0000 + version);
    let mut z = -1.0;
    for value in row.iter().take(FEATURES) {
        let weight = (weights.uniform() - 0.5) * 0.04;
        z += weight * value;
    }
    1.0 / (1.0 + (-z).exp())
}

/// Parses `text/csv` rows of numbers; `None` when a field is not a number.
fn parse_rows(body: &str) -> Option<Vec<Vec<f64>>> {
    body.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| {
            line.split(',')
                .map(|field| field.trim().parse::<f64>().ok())
                .collect::<Option<Vec<f64>>>()
        })
        .collect()
}

/// Deterministic churn-style rows: account length, minutes, calls, charges…
pub fn demo_rows(count: usize) -> Vec<String> {
    let mut random = Random::new(2021);
    (0..count)
        .map(|_| {
            (0..FEATURES)
                .map(|index| {
                    let value = match index {
                        0 => (random.uniform() * 200.0).round(),
                        1..=9 => (random.uniform() * 300.0 * 10.0).round() / 10.0,
                        10..=12 => (random.uniform() * 10.0).round(),
                        _ => {
                            if random.uniform() < 0.2 {
                                1.0
                            } else {
                                0.0
                            }
                        }
                    };
                    crate::engine::model::format_number(value)
                })
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
}

pub(crate) fn format_number(value: f64) -> String {
    guardrail_core::alarm::trim_float(value)
}

struct InstanceState {
    model: BuiltinModel,
    alive: AtomicBool,
    /// Set once the server stops: what hung requests wait for.
    stopped: tokio::sync::watch::Sender<bool>,
    /// Stuck: accepts requests and answers none (not even `/ping`) until it stops.
    hung: AtomicBool,
    requests: AtomicU64,
    seed: u64,
}

/// A running built-in model server.
pub struct ModelServer {
    pub address: SocketAddr,
    state: Arc<InstanceState>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    /// Terminated: it ends by itself once the requests it holds are answered.
    terminated: bool,
}

impl ModelServer {
    /// Starts a server on a free loopback port.
    pub async fn start(model: BuiltinModel, seed: u64) -> std::io::Result<ModelServer> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let state = Arc::new(InstanceState {
            model,
            alive: AtomicBool::new(true),
            stopped: tokio::sync::watch::channel(false).0,
            hung: AtomicBool::new(false),
            requests: AtomicU64::new(0),
            seed,
        });
        let app = Router::new()
            .route("/ping", get(ping))
            .route("/invocations", post(invocations))
            .with_state(state.clone());
        let (shutdown, signal) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = signal.await;
                })
                .await;
        });
        Ok(ModelServer {
            address,
            state,
            shutdown: Some(shutdown),
            task,
            terminated: false,
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Makes the server hang as a stuck process does: it still accepts
    /// connections, but answers nothing, `/ping` included, until stopped.
    pub fn hang(&self) {
        self.state.hung.store(true, Ordering::SeqCst);
    }

    /// Stops the server as a crash would: it refuses work at once.
    pub fn stop(&mut self) {
        self.state.alive.store(false, Ordering::SeqCst);
        self.state.stopped.send_replace(true);
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }

    /// Stops the server as SageMaker terminates an instance: it takes no new
    /// connections, answers the requests it already holds, then ends (a hung
    /// one lets them go).
    pub fn terminate(mut self) {
        self.state.stopped.send_replace(true);
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        self.terminated = true;
    }

    pub fn is_running(&self) -> bool {
        self.state.alive.load(Ordering::SeqCst) && !self.task.is_finished()
    }
}

impl Drop for ModelServer {
    fn drop(&mut self) {
        if !self.terminated {
            self.stop();
            self.task.abort();
        }
    }
}

/// While the server hangs, waits until it stops.
async fn stuck(state: &InstanceState) {
    if state.hung.load(Ordering::SeqCst) {
        let mut stopped = state.stopped.subscribe();
        let _ = stopped.wait_for(|stopped| *stopped).await;
    }
}

async fn ping(State(state): State<Arc<InstanceState>>) -> StatusCode {
    stuck(&state).await;
    if !state.alive.load(Ordering::SeqCst) || state.model.behaviour == Behaviour::NeverReady {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    }
}

async fn invocations(State(state): State<Arc<InstanceState>>, body: Bytes) -> Response {
    stuck(&state).await;
    if !state.alive.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "instance stopped").into_response();
    }
    let number = state.requests.fetch_add(1, Ordering::Relaxed);
    let mut random = Random::new(state.seed ^ number.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let model = &state.model;
    if model.latency_ms > 0.0 {
        // Log-normal around the mean, as the simulator assumes (sigma 0.5).
        let sigma = guardrail_core::assumptions::LATENCY_LOG_SIGMA;
        let mu = model.latency_ms.ln() - sigma * sigma / 2.0;
        let millis = (mu + sigma * random.normal())
            .exp()
            .min(model.latency_ms * 20.0);
        tokio::time::sleep(Duration::from_secs_f64(millis / 1_000.0)).await;
    }
    if model.behaviour == Behaviour::Incompatible {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "ModelError: the container's XGBoost 1.2-1 cannot load this model (saved by XGBoost 0.90)",
        )
            .into_response();
    }
    if model.error_rate > 0.0 && random.uniform() < model.error_rate {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "ModelError: injected failure",
        )
            .into_response();
    }
    let text = String::from_utf8_lossy(&body);
    let Some(rows) = parse_rows(&text) else {
        return (StatusCode::BAD_REQUEST, "expected text/csv rows of numbers").into_response();
    };
    let version = match model.behaviour {
        Behaviour::Fixed => 2,
        _ => 1,
    };
    let scores: Vec<String> = rows
        .iter()
        .map(|row| format!("{:.6}", score(row, version)))
        .collect();
    (StatusCode::OK, scores.join("\n")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_parse_and_score_between_zero_and_one() {
        let rows = demo_rows(5);
        assert_eq!(rows.len(), 5);
        let parsed = parse_rows(&rows.join("\n")).expect("numbers");
        assert_eq!(parsed[0].len(), FEATURES);
        for row in &parsed {
            let baseline = score(row, 1);
            let fixed = score(row, 2);
            assert!((0.0..=1.0).contains(&baseline) && (0.0..=1.0).contains(&fixed));
            assert_ne!(baseline, fixed, "two model versions score differently");
        }
        assert!(parse_rows("1,2,x").is_none());
    }
}
