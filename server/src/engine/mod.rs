//! The local engine: real model servers on loopback, a weighted router, metrics,
//! CloudWatch-style alarms and the core's rollout controller, executing a plan.
//!
//! `Engine::start` brings up every registered endpoint on its config, with a load
//! generator keeping it supplied with traffic; `start_rollout` runs a plan
//! against one of them and records every event in the store.

pub mod fleet;
pub mod load;
pub mod metrics;
pub mod model;
pub mod registry;
pub mod router;
mod run;

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use guardrail_core::controller::AbortRefused;
use guardrail_core::event::{Fleet, RunOutcome};
use guardrail_core::{check, Plan};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch, Mutex};

use crate::engine::fleet::{wait_healthy, Instance};
use crate::engine::registry::Registry;
use crate::engine::router::{EndpointRouter, Routing, Target};
use crate::store::{NewRun, Store, StoreError};

/// Why the engine refused or failed a request. Messages are for people.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("no endpoint {name} on the local engine (known: {known})")]
    UnknownEndpoint { name: String, known: String },
    #[error("no endpoint config {name} on the local engine (known: {known})")]
    UnknownConfig { name: String, known: String },
    #[error("endpoint {endpoint} is already being updated (run {run}); like SageMaker, guardrail refuses a second update until the first ends")]
    Busy { endpoint: String, run: String },
    #[error("the plan is invalid:\n{0}")]
    InvalidPlan(String),
    #[error("endpoint config {config} has variant {config_variant}, but the plan's VariantName is {plan_variant}: the new config must keep the variant name")]
    VariantMismatch {
        config: String,
        config_variant: String,
        plan_variant: String,
    },
    #[error("endpoint {endpoint} already serves {config}")]
    SameConfig { endpoint: String, config: String },
    #[error("no run {0} on this engine")]
    NoRun(String),
    #[error("run {run} cannot be aborted: {reason}")]
    AbortRefused { run: String, reason: String },
    #[error("time scale {0} is out of range; allowed {min} to {max} plan seconds per second", min = TIME_SCALE_MIN, max = TIME_SCALE_MAX)]
    TimeScale(f64),
    #[error("cannot start {0}")]
    Instances(String),
    #[error("{0}")]
    Registry(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The slowest time scale: real time. Slower would only stretch a run.
pub const TIME_SCALE_MIN: f64 = 1.0;
/// The fastest time scale. At 10 000× a 10 s alarm period lasts 1 ms of real
/// time, about as short as the engine's timers and the router can measure.
pub const TIME_SCALE_MAX: f64 = 10_000.0;

/// How many finished runs' outcomes the engine keeps in memory for
/// [`Engine::wait`]; older ones are read from the store.
const RECENT_OUTCOMES: usize = 64;

/// An endpoint's live state.
pub(crate) struct EndpointState {
    pub config: String,
    /// The serving fleet at rest; the old fleet during an update.
    pub blue: Vec<Instance>,
    /// The new fleet during an update.
    pub green: Vec<Instance>,
    pub updating: Option<String>,
}

/// What `endpoint_status` reports.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EndpointStatus {
    pub name: String,
    pub config: String,
    pub blue: Vec<String>,
    pub green: Vec<String>,
    pub updating: Option<String>,
    pub invocations: u64,
}

/// Settings of the engine.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// Requests per second the built-in load generator sends to each endpoint; 0 for none.
    pub load_rps: f64,
    pub seed: u64,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            load_rps: 20.0,
            seed: 42,
        }
    }
}

/// One endpoint: its state, and its router (reached without the state's lock).
struct EndpointEntry {
    state: Arc<Mutex<EndpointState>>,
    router: Arc<EndpointRouter>,
}

/// A run in progress: how to wait for it and how to reach it.
struct RunHandle {
    outcome: watch::Receiver<Option<RunOutcome>>,
    commands: mpsc::UnboundedSender<run::Command>,
}

/// Runs in progress, and the outcomes of the last few that finished.
#[derive(Default)]
struct Runs {
    live: HashMap<String, RunHandle>,
    recent: VecDeque<(String, RunOutcome)>,
}

struct Inner {
    registry: Registry,
    endpoints: HashMap<String, EndpointEntry>,
    store: Store,
    client: reqwest::Client,
    runs: std::sync::Mutex<Runs>,
    counter: AtomicU64,
    seed: u64,
    load: Vec<tokio::task::JoinHandle<()>>,
}

/// What [`Engine::prepare`] found.
struct Prepared {
    endpoint: Arc<Mutex<EndpointState>>,
    router: Arc<EndpointRouter>,
    rollout: guardrail_core::Rollout,
    green_model: registry::ModelDefinition,
}

/// Claims the endpoint for `run_id`: one update at a time, and not to the config
/// it already serves. Returns the config it serves.
async fn claim(prepared: &Prepared, run_id: &str) -> Result<String, EngineError> {
    let rollout = &prepared.rollout;
    let mut state = prepared.endpoint.lock().await;
    if let Some(run) = &state.updating {
        return Err(EngineError::Busy {
            endpoint: rollout.endpoint_name().to_string(),
            run: run.clone(),
        });
    }
    if state.config == rollout.endpoint_config_name() {
        return Err(EngineError::SameConfig {
            endpoint: rollout.endpoint_name().to_string(),
            config: state.config.clone(),
        });
    }
    state.updating = Some(run_id.to_string());
    Ok(state.config.clone())
}

/// The local engine; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

fn known<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let mut names: Vec<&str> = names.map(String::as_str).collect();
    names.sort_unstable();
    names.join(", ")
}

fn unknown_config(registry: &Registry, name: &str) -> EngineError {
    EngineError::UnknownConfig {
        name: name.to_string(),
        known: known(
            registry
                .endpoint_configs
                .iter()
                .map(|config| &config.endpoint_config_name),
        ),
    }
}

impl Engine {
    /// Starts the local engine on the registry of `data_dir` (the demo endpoint
    /// and anything `engine.json` adds), with the run store there.
    pub async fn start_in(data_dir: &Path, load_rps: f64) -> Result<Engine, EngineError> {
        let registry = Registry::load(data_dir).map_err(EngineError::Registry)?;
        let store = Store::open(data_dir)?;
        let engine = Engine::start(
            registry,
            store,
            EngineOptions {
                load_rps,
                ..Default::default()
            },
        )
        .await?;
        for definition in &engine.registry().endpoints {
            tracing::info!(
                "local engine: endpoint {} on {}, load {load_rps} requests/s",
                definition.endpoint_name,
                definition.endpoint_config_name
            );
        }
        Ok(engine)
    }

    /// Starts every registered endpoint on its config, and the load generators.
    pub async fn start(
        registry: Registry,
        store: Store,
        options: EngineOptions,
    ) -> Result<Engine, EngineError> {
        registry
            .check()
            .map_err(|problems| EngineError::Instances(problems.join("; ")))?;
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|_| EngineError::Instances("the HTTP client".into()))?;
        let mut endpoints = HashMap::new();
        for definition in &registry.endpoints {
            let config = registry
                .config(&definition.endpoint_config_name)
                .ok_or_else(|| unknown_config(&registry, &definition.endpoint_config_name))?;
            let model = registry
                .model(&config.model_name)
                .ok_or_else(|| EngineError::Instances(format!("model {}", config.model_name)))?;
            let mut blue = Vec::new();
            for index in 0..config.instance_count {
                let instance = Instance::launch(
                    model,
                    index as usize,
                    format!("{}-{}", config.endpoint_config_name, index + 1),
                    Fleet::Blue,
                    options.seed ^ u64::from(index),
                )
                .await
                .map_err(EngineError::Instances)?;
                wait_healthy(&client, &instance.url, Duration::from_secs(60))
                    .await
                    .map_err(|reason| {
                        EngineError::Instances(format!(
                            "{} of {}: {reason}",
                            instance.id, definition.endpoint_name
                        ))
                    })?;
                blue.push(instance);
            }
            let router = Arc::new(EndpointRouter::new(
                &definition.endpoint_name,
                Routing {
                    blue: blue
                        .iter()
                        .map(|instance| Target::new(&instance.id, &instance.url))
                        .collect(),
                    green: Vec::new(),
                    green_bp: 0,
                },
            ));
            let state = Arc::new(Mutex::new(EndpointState {
                config: config.endpoint_config_name.clone(),
                blue,
                green: Vec::new(),
                updating: None,
            }));
            endpoints.insert(
                definition.endpoint_name.clone(),
                EndpointEntry { state, router },
            );
        }
        let load = if options.load_rps > 0.0 {
            endpoints
                .values()
                .map(|entry| load::spawn(entry.router.clone(), options.load_rps))
                .collect()
        } else {
            Vec::new()
        };
        if let Ok(closed) = store.close_abandoned(run::wall_ms()) {
            if closed > 0 {
                tracing::warn!(
                    "marked {closed} run(s) left unfinished by an earlier process as failed"
                );
            }
        }
        Ok(Engine {
            inner: Arc::new(Inner {
                registry,
                endpoints,
                store,
                client,
                runs: std::sync::Mutex::new(Runs::default()),
                counter: AtomicU64::new(0),
                seed: options.seed,
                load,
            }),
        })
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    fn endpoint(&self, name: &str) -> Result<&EndpointEntry, EngineError> {
        self.inner
            .endpoints
            .get(name)
            .ok_or_else(|| EngineError::UnknownEndpoint {
                name: name.to_string(),
                known: known(self.inner.endpoints.keys()),
            })
    }

    fn new_run_id(&self) -> String {
        let number = self.inner.counter.fetch_add(1, Ordering::Relaxed);
        format!("run-{:x}-{:x}-{number}", run::wall_ms(), std::process::id())
    }

    /// Starts `plan` on the endpoint it names; returns the run id at once.
    pub async fn start_rollout(&self, plan: &Plan, time_scale: f64) -> Result<String, EngineError> {
        let prepared = self.prepare(plan, time_scale)?;
        let run_id = self.new_run_id();
        let from_config = claim(&prepared, &run_id).await?;
        let inner = &self.inner;
        let blue_model = inner
            .registry
            .config(&from_config)
            .and_then(|config| inner.registry.model(&config.model_name))
            .cloned()
            .unwrap_or_else(|| prepared.green_model.clone());
        let created = inner.store.create_run(&NewRun {
            id: run_id.clone(),
            endpoint: prepared.rollout.endpoint_name().to_string(),
            from_config: from_config.clone(),
            to_config: prepared.rollout.endpoint_config_name().to_string(),
            backend: "local".into(),
            time_scale,
            plan_json: plan.to_json_pretty(),
            started_wall_ms: run::wall_ms(),
        });
        if let Err(error) = created {
            prepared.endpoint.lock().await.updating = None;
            return Err(error.into());
        }
        let endpoint = prepared.endpoint.clone();
        let context = run::RunContext {
            run_id: run_id.clone(),
            rollout: prepared.rollout,
            time_scale,
            from_config,
            green_model: prepared.green_model,
            blue_model,
            endpoint: prepared.endpoint,
            router: prepared.router,
            store: inner.store.clone(),
            client: inner.client.clone(),
            seed: inner.seed ^ inner.counter.load(Ordering::Relaxed),
        };
        self.spawn_run(context, endpoint);
        Ok(run_id)
    }

    /// Everything a run needs that can be known before the endpoint is claimed:
    /// a valid plan, a time scale in range, the endpoint and the new config.
    fn prepare(&self, plan: &Plan, time_scale: f64) -> Result<Prepared, EngineError> {
        let checked = check(plan);
        let Some(rollout) = checked.rollout else {
            let lines: Vec<String> = checked
                .report
                .errors
                .iter()
                .map(|problem| format!("{}: {}", problem.path, problem.message))
                .collect();
            return Err(EngineError::InvalidPlan(lines.join("\n")));
        };
        if !(TIME_SCALE_MIN..=TIME_SCALE_MAX).contains(&time_scale) {
            return Err(EngineError::TimeScale(time_scale));
        }
        let registry = &self.inner.registry;
        let entry = self.endpoint(rollout.endpoint_name())?;
        let config = registry
            .config(rollout.endpoint_config_name())
            .ok_or_else(|| unknown_config(registry, rollout.endpoint_config_name()))?;
        if config.variant_name != rollout.variant_name() {
            return Err(EngineError::VariantMismatch {
                config: config.endpoint_config_name.clone(),
                config_variant: config.variant_name.clone(),
                plan_variant: rollout.variant_name().to_string(),
            });
        }
        let green_model = registry
            .model(&config.model_name)
            .cloned()
            .ok_or_else(|| EngineError::Instances(format!("model {}", config.model_name)))?;
        Ok(Prepared {
            endpoint: entry.state.clone(),
            router: entry.router.clone(),
            rollout,
            green_model,
        })
    }

    /// Runs `context` in the background, keeping a handle to wait for it and
    /// reach it until it ends.
    fn spawn_run(&self, context: run::RunContext, endpoint: Arc<Mutex<EndpointState>>) {
        let (sender, receiver) = watch::channel(None);
        let (commands, inbox) = mpsc::unbounded_channel();
        let run_id = context.run_id.clone();
        if let Ok(mut runs) = self.inner.runs.lock() {
            runs.live.insert(
                run_id.clone(),
                RunHandle {
                    outcome: receiver,
                    commands,
                },
            );
        }
        let engine = self.clone();
        tokio::spawn(async move {
            let outcome = run::execute(context, inbox).await;
            endpoint.lock().await.updating = None;
            // Forget the handle before announcing the outcome: whoever sees the
            // outcome then finds the run among the recent ones, not in progress.
            engine.forget(&run_id, outcome.clone());
            let _ = sender.send(Some(outcome));
        });
    }

    /// A run has ended: drop its handle, keep its outcome among the recent ones.
    fn forget(&self, run_id: &str, outcome: RunOutcome) {
        if let Ok(mut runs) = self.inner.runs.lock() {
            runs.live.remove(run_id);
            runs.recent.push_back((run_id.to_string(), outcome));
            while runs.recent.len() > RECENT_OUTCOMES {
                runs.recent.pop_front();
            }
        }
    }

    /// How many runs the engine holds handles for: only those in progress.
    pub fn runs_in_progress(&self) -> usize {
        self.inner
            .runs
            .lock()
            .map(|runs| runs.live.len())
            .unwrap_or(0)
    }

    /// Waits until a run ends and returns how. A run that already ended is
    /// answered from memory or, when it is older, from the store.
    pub async fn wait(&self, run_id: &str) -> Result<RunOutcome, EngineError> {
        let (receiver, recent) = match self.inner.runs.lock() {
            Ok(runs) => (
                runs.live.get(run_id).map(|handle| handle.outcome.clone()),
                runs.recent
                    .iter()
                    .find(|(id, _)| id == run_id)
                    .map(|(_, outcome)| outcome.clone()),
            ),
            Err(_) => (None, None),
        };
        if let Some(mut receiver) = receiver {
            loop {
                if let Some(outcome) = receiver.borrow().clone() {
                    return Ok(outcome);
                }
                if receiver.changed().await.is_err() {
                    break;
                }
            }
        }
        if let Some(outcome) = recent {
            return Ok(outcome);
        }
        match self.inner.store.outcome(run_id)? {
            Some(outcome) => Ok(outcome),
            None => Err(EngineError::NoRun(run_id.to_string())),
        }
    }

    /// Aborts a run in progress: it rolls back to blue as an alarm would, and
    /// the rollback records `by` as who asked.
    pub async fn abort(&self, run_id: &str, by: &str) -> Result<(), EngineError> {
        let commands = self
            .inner
            .runs
            .lock()
            .ok()
            .and_then(|runs| runs.live.get(run_id).map(|handle| handle.commands.clone()));
        let refused = |reason: String| EngineError::AbortRefused {
            run: run_id.to_string(),
            reason,
        };
        let Some(commands) = commands else {
            return match self.inner.store.outcome(run_id) {
                Ok(Some(outcome)) => Err(refused(format!(
                    "it already ended ({})",
                    outcome.describe()
                ))),
                Ok(None) => Err(refused("it is not running on this engine".into())),
                Err(error) => Err(error.into()),
            };
        };
        let (reply, answer) = oneshot::channel();
        commands
            .send(run::Command::Abort {
                by: by.to_string(),
                reply,
            })
            .map_err(|_| refused(AbortRefused::Finished.to_string()))?;
        match answer.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(refused(reason.to_string())),
            Err(_) => Err(refused(AbortRefused::Finished.to_string())),
        }
    }

    /// Stops an instance as a crash would (for rehearsing failures).
    pub async fn kill_instance(
        &self,
        endpoint: &str,
        fleet: Fleet,
        index: usize,
    ) -> Result<String, EngineError> {
        let state = &self.endpoint(endpoint)?.state;
        let mut state = state.lock().await;
        let list = match fleet {
            Fleet::Blue => &mut state.blue,
            Fleet::Green => &mut state.green,
        };
        let instance = list.get_mut(index).ok_or_else(|| {
            EngineError::Instances(format!("no {fleet:?} instance {index} on {endpoint}"))
        })?;
        instance.stop();
        Ok(instance.id.clone())
    }

    pub async fn endpoint_status(&self, name: &str) -> Option<EndpointStatus> {
        let entry = self.inner.endpoints.get(name)?;
        let state = entry.state.lock().await;
        Some(EndpointStatus {
            name: name.to_string(),
            config: state.config.clone(),
            blue: state
                .blue
                .iter()
                .map(|instance| instance.url.clone())
                .collect(),
            green: state
                .green
                .iter()
                .map(|instance| instance.url.clone())
                .collect(),
            updating: state.updating.clone(),
            invocations: entry.router.metrics.total(),
        })
    }

    /// The router's HTTP routes: `POST /endpoints/{name}/invocations`, one route
    /// per endpoint so that a request reaches its router without a lookup.
    pub fn routes(&self) -> Router {
        let mut routes = Router::new();
        for (name, entry) in &self.inner.endpoints {
            let router = entry.router.clone();
            routes = routes.route(
                &format!("/endpoints/{name}/invocations"),
                post(move |request: axum::extract::Request| {
                    let router = router.clone();
                    async move { router.handle(request).await }
                }),
            );
        }
        // Static paths win over this one, so only unknown endpoints reach it.
        routes.route("/endpoints/{name}/invocations", post(unknown_endpoint))
    }

    /// Stops the load generators and every instance.
    pub async fn shutdown(&self) {
        for task in &self.inner.load {
            task.abort();
        }
        for entry in self.inner.endpoints.values() {
            let mut state = entry.state.lock().await;
            let state = &mut *state;
            for instance in state.blue.iter_mut().chain(state.green.iter_mut()) {
                instance.stop();
            }
        }
    }
}

async fn unknown_endpoint(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    (
        StatusCode::NOT_FOUND,
        format!("no endpoint {name} on the local engine"),
    )
        .into_response()
}
