//! The local engine: a local AWS for one machine. Real model servers on
//! loopback, a weighted router per endpoint, SageMaker's metrics, CloudWatch's
//! alarms (evaluated all the time) and the core's rollout controller.
//!
//! `Engine::start` brings up every registered endpoint on its config, with a load
//! generator keeping it supplied with traffic. `start_rollout` runs a plan from
//! the planner against one of them; SageMaker's API (`sagemaker`) creates,
//! updates and deletes endpoints. Either way an update is a recorded run.

pub mod clock;
pub mod cloudwatch;
pub mod custom_metrics;
mod durable;
pub mod endpoint;
pub mod fleet;
mod heal;
pub mod ids;
pub mod load;
pub mod metrics;
pub mod model;
mod recovery;
pub mod registry;
pub mod router;
mod run;
pub mod sagemaker;
mod upstream;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::Router;
use guardrail_core::alarm::{Metric, PeriodSamples};
use guardrail_core::controller::AbortRefused;
use guardrail_core::event::{Fleet, RunOutcome};
use guardrail_core::{check, Plan};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch, Mutex};
use tokio::task::JoinHandle;

use crate::engine::clock::{wall_ms, ApiClock, PlanClock};
use crate::engine::cloudwatch::{CloudWatch, MetricSource};
use crate::engine::endpoint::{EndpointState, EndpointStatus};
use crate::engine::fleet::{launch_fleet, targets, Instance};
pub use crate::engine::ids::ACCOUNT;
use crate::engine::metrics::FleetBucket;
use crate::engine::registry::{EndpointConfigDefinition, ModelDefinition, Registry};
use crate::engine::router::{EndpointRouter, Routing};
use crate::store::{NewRun, ResourceKind, Store, StoreError};

/// Why the engine refused or failed a request. Messages are for people.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("no endpoint {name} on the local engine (known: {known})")]
    UnknownEndpoint { name: String, known: String },
    #[error("no endpoint config {name} on the local engine (known: {known})")]
    UnknownConfig { name: String, known: String },
    #[error("endpoint {endpoint} is already being updated (run {run}); like SageMaker, guardrail refuses a second update until the first ends")]
    Busy { endpoint: String, run: String },
    #[error("endpoint {endpoint} is {status}, not InService: only an endpoint in service can be updated")]
    NotInService { endpoint: String, status: String },
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

/// What `endpoint_status` reports.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EndpointReport {
    pub name: String,
    pub config: String,
    pub status: String,
    pub blue: Vec<String>,
    pub green: Vec<String>,
    pub updating: Option<String>,
    pub invocations: u64,
}

/// Settings of the engine.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// Requests per second the built-in load generator sends to each
    /// registered endpoint; 0 for none.
    pub load_rps: f64,
    pub seed: u64,
    /// How many times faster than real time the API clock runs (`--time-scale`).
    pub api_time_scale: f64,
    /// The least time, in API seconds, that launching instances takes through
    /// the API (`--provisioning-seconds`): SageMaker takes minutes, and alarms
    /// behave differently when it does.
    pub api_provisioning_seconds: u32,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            load_rps: 20.0,
            seed: 42,
            api_time_scale: 1.0,
            api_provisioning_seconds: guardrail_core::plan::DEFAULT_PROVISIONING_SECONDS,
        }
    }
}

/// One endpoint: its state, and its router (reached without the state's lock).
#[derive(Clone)]
pub(crate) struct EndpointEntry {
    pub state: Arc<Mutex<EndpointState>>,
    pub router: Arc<EndpointRouter>,
}

/// A run in progress: how to wait for it and how to reach it.
struct RunHandle {
    outcome: watch::Receiver<Option<RunOutcome>>,
    commands: mpsc::UnboundedSender<run::Command>,
    plan_clock: PlanClock,
}

/// Runs in progress, and the outcomes of the last few that finished.
#[derive(Default)]
struct Runs {
    live: HashMap<String, RunHandle>,
    recent: VecDeque<(String, RunOutcome)>,
}

struct Inner {
    registry: std::sync::RwLock<Registry>,
    endpoints: std::sync::RwLock<HashMap<String, EndpointEntry>>,
    store: Store,
    client: reqwest::Client,
    runs: std::sync::Mutex<Runs>,
    counter: AtomicU64,
    seed: u64,
    clock: ApiClock,
    /// `--provisioning-seconds`, in API milliseconds.
    provisioning_ms: u64,
    cloudwatch: Arc<CloudWatch>,
    /// The runtime the engine started on: runs, launches and the alarm
    /// evaluator live there, not on the HTTP threads that asked for them.
    runtime: tokio::runtime::Handle,
    /// The alarm evaluator, and each registered endpoint's load generator.
    tasks: std::sync::Mutex<Vec<(Option<String>, JoinHandle<()>)>>,
    /// The access token, when calls must prove they hold it (off loopback):
    /// AWS clients sign with it as their secret key.
    access_token: std::sync::OnceLock<Arc<str>>,
    /// Routers of deleted endpoints, kept for their published metrics (as
    /// CloudWatch keeps a deleted endpoint's).
    retired: std::sync::RwLock<Vec<Arc<EndpointRouter>>>,
    /// Held while instances are counted and claimed (`CreateEndpoint`,
    /// `UpdateEndpoint`), so that the engine's instance limit holds exactly
    /// under parallel calls.
    capacity: Mutex<()>,
}

/// What a run needs that can be known before the endpoint is claimed.
pub(crate) struct Prepared {
    pub entry: EndpointEntry,
    pub rollout: guardrail_core::Rollout,
    /// How to run the new config; `Err` makes its launch fail, and the update
    /// roll back, as on SageMaker.
    pub green_model: Result<ModelDefinition, String>,
    pub time_scale: f64,
}

/// Whether an engine brings back and keeps what the AWS APIs created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Keeping {
    /// `guardrail serve`, and engines that serve the APIs.
    ApiResources,
    /// One run in its own process: the kept endpoints are only read, so that
    /// a run of theirs that a dead server left is resolved as theirs.
    Nothing,
}

/// How a run learns of its alarms.
pub(crate) enum Alarms {
    /// The plan's alarms, judged by the run itself (the planner's runs).
    Own,
    /// CloudWatch's alarms of that name, judged by the local CloudWatch all the
    /// time (updates through SageMaker's API).
    CloudWatch,
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
    /// and anything `engine.json` adds), with the run store there, and what
    /// the AWS APIs created there before (`guardrail serve`).
    pub async fn start_in(data_dir: &Path, options: EngineOptions) -> Result<Engine, EngineError> {
        Self::start_in_keeping(data_dir, options, Keeping::ApiResources).await
    }

    /// As [`Engine::start_in`], for one run in this process (`guardrail run`
    /// without a server): it serves no AWS API, so it neither brings back nor
    /// keeps what the APIs created; that stays the server's.
    pub async fn start_in_process(
        data_dir: &Path,
        options: EngineOptions,
    ) -> Result<Engine, EngineError> {
        Self::start_in_keeping(data_dir, options, Keeping::Nothing).await
    }

    async fn start_in_keeping(
        data_dir: &Path,
        options: EngineOptions,
        keeping: Keeping,
    ) -> Result<Engine, EngineError> {
        let registry = Registry::load(data_dir).map_err(EngineError::Registry)?;
        let store = Store::open(data_dir)?;
        let load_rps = options.load_rps;
        let engine = Engine::start_keeping(registry, store, options, keeping).await?;
        for definition in engine.registry().endpoints {
            if let Some(status) = engine.endpoint_status(&definition.endpoint_name).await {
                tracing::info!(
                    "local engine: endpoint {} on {}, load {load_rps} requests/s",
                    status.name,
                    status.config
                );
            }
        }
        Ok(engine)
    }

    /// Starts every registered endpoint on its config, and every endpoint
    /// kept in `store` (created through the API before a restart) with the
    /// models, configs and alarms kept there; then the load generators,
    /// CloudWatch's alarm evaluator and the task that keeps published metrics.
    pub async fn start(
        registry: Registry,
        store: Store,
        options: EngineOptions,
    ) -> Result<Engine, EngineError> {
        Self::start_keeping(registry, store, options, Keeping::ApiResources).await
    }

    async fn start_keeping(
        mut registry: Registry,
        store: Store,
        options: EngineOptions,
        keeping: Keeping,
    ) -> Result<Engine, EngineError> {
        registry
            .check()
            .map_err(|problems| EngineError::Instances(problems.join("; ")))?;
        if !(TIME_SCALE_MIN..=TIME_SCALE_MAX).contains(&options.api_time_scale) {
            return Err(EngineError::TimeScale(options.api_time_scale));
        }
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|_| EngineError::Instances("the HTTP client".into()))?;
        let clock = ApiClock::resume(options.api_time_scale, store.api_clock()?.unwrap_or(0));
        // What was created through the API joins what the registry defines.
        let keep = keeping == Keeping::ApiResources;
        forget_deleted(&mut registry, &store)?;
        if keep {
            merge_kept(&mut registry, &store)?;
        }
        let kept_endpoints: Vec<durable::SavedEndpoint> =
            store.resources(ResourceKind::Endpoint)?;
        let resolved = recovery::resolve_interrupted(&store, &registry, &kept_endpoints);
        if !resolved.is_empty() {
            tracing::warn!(
                "resolved run(s) {} left unfinished by a process that stopped",
                resolved.join(", ")
            );
        }
        let endpoints = bring_up_all(&client, clock, &registry, &store, options.seed).await?;
        let cloudwatch = if keep {
            CloudWatch::restore(clock, store.clone())?
        } else {
            CloudWatch::new(clock)
        };
        let mut tasks = Vec::new();
        if options.load_rps > 0.0 {
            for (name, entry) in &endpoints {
                tasks.push((
                    Some(name.clone()),
                    load::spawn(entry.router.clone(), options.load_rps),
                ));
            }
        }
        let engine = Engine {
            inner: Arc::new(Inner {
                registry: std::sync::RwLock::new(registry),
                endpoints: std::sync::RwLock::new(endpoints),
                store,
                client,
                runs: std::sync::Mutex::new(Runs::default()),
                counter: AtomicU64::new(0),
                seed: options.seed,
                clock,
                provisioning_ms: u64::from(options.api_provisioning_seconds) * 1_000,
                cloudwatch: Arc::new(cloudwatch),
                runtime: tokio::runtime::Handle::current(),
                tasks: std::sync::Mutex::new(tasks),
                access_token: std::sync::OnceLock::new(),
                retired: std::sync::RwLock::new(Vec::new()),
                capacity: Mutex::new(()),
            }),
        };
        engine.spawn_tasks();
        if keep {
            engine.restore_kept(kept_endpoints).await?;
        }
        Ok(engine)
    }

    /// Starts CloudWatch's alarm evaluator and the healer.
    fn spawn_tasks(&self) {
        let evaluator = tokio::spawn(evaluate_alarms(Arc::downgrade(&self.inner)));
        self.tasks().push((None, evaluator));
        let healer = tokio::spawn(heal::heal(Arc::downgrade(&self.inner)));
        self.tasks().push((None, healer));
    }

    /// Brings back the endpoints and metrics kept in the store, and starts
    /// the task that keeps them.
    async fn restore_kept(
        &self,
        kept_endpoints: Vec<durable::SavedEndpoint>,
    ) -> Result<(), EngineError> {
        for kept in kept_endpoints {
            self.restore_endpoint(kept).await;
        }
        self.restore_metrics(self.store())?;
        let keeper = tokio::spawn(durable::keep(Arc::downgrade(&self.inner)));
        self.tasks().push((None, keeper));
        Ok(())
    }

    /// Brings back an endpoint kept in the store: see [`durable`].
    async fn restore_endpoint(&self, kept: durable::SavedEndpoint) {
        let name = kept.endpoint_name.clone();
        let outcome = kept
            .updating
            .as_ref()
            .and_then(|update| self.store().outcome(&update.run).ok().flatten());
        let (config, status, failure_reason) = durable::after_restart(&kept, outcome.as_ref());
        let moved = config != kept.endpoint_config_name || kept.updating.is_some();
        let count = (config == kept.endpoint_config_name).then_some(kept.desired_instances);
        let registry = self.registry();
        let launched = match status {
            EndpointStatus::Failed => Err(None),
            _ => bring_up(
                &self.inner.client,
                self.clock(),
                &registry,
                &name,
                &config,
                count,
                self.seed(),
            )
            .await
            .map_err(Some),
        };
        let now = self.clock().now_ms();
        let entry = match launched {
            Ok(entry) => entry,
            Err(error) => {
                let mut state =
                    EndpointState::creating(&config, &kept.variant_name, 0, kept.created_ms);
                state.status = EndpointStatus::Failed;
                state.failure_reason = match error {
                    Some(error) => Some(format!(
                        "Production variant {} could not start again when guardrail restarted: {error}",
                        kept.variant_name
                    )),
                    None => failure_reason.clone(),
                };
                EndpointEntry {
                    state: Arc::new(Mutex::new(state)),
                    router: self.adopt_router(&name, &kept.variant_name),
                }
            }
        };
        {
            let mut state = entry.state.lock().await;
            state.created_ms = kept.created_ms;
            state.modified_ms = if moved { now } else { kept.modified_ms };
            state.last_deployment_config = kept.last_deployment_config.clone();
            if state.status != EndpointStatus::Failed {
                state.status = status;
                state.failure_reason = failure_reason;
            }
            self.keep_endpoint_or_log(&name, &state);
        }
        tracing::info!("local engine: endpoint {name} (created through the API) back on {config}");
        self.write_endpoints().insert(name, entry);
    }

    fn tasks(&self) -> std::sync::MutexGuard<'_, Vec<(Option<String>, JoinHandle<()>)>> {
        self.inner
            .tasks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Stops the load generator of endpoint `name`, if it has one.
    pub(crate) fn stop_load(&self, name: &str) {
        self.tasks().retain(|(endpoint, task)| {
            let mine = endpoint.as_deref() == Some(name);
            if mine {
                task.abort();
            }
            !mine
        });
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The API clock.
    pub fn clock(&self) -> ApiClock {
        self.inner.clock
    }

    /// The local CloudWatch.
    pub fn cloudwatch(&self) -> &CloudWatch {
        &self.inner.cloudwatch
    }

    /// A copy of the registry: models, endpoint configs and endpoint definitions.
    pub fn registry(&self) -> Registry {
        self.read_registry().clone()
    }

    pub(crate) fn read_registry(&self) -> std::sync::RwLockReadGuard<'_, Registry> {
        self.inner
            .registry
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn write_registry(&self) -> std::sync::RwLockWriteGuard<'_, Registry> {
        self.inner
            .registry
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn read_retired(&self) -> std::sync::RwLockReadGuard<'_, Vec<Arc<EndpointRouter>>> {
        self.inner
            .retired
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn write_retired(
        &self,
    ) -> std::sync::RwLockWriteGuard<'_, Vec<Arc<EndpointRouter>>> {
        self.inner
            .retired
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Held while instances are counted and claimed.
    pub(crate) async fn claim_capacity(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.inner.capacity.lock().await
    }

    pub(crate) fn read_endpoints(
        &self,
    ) -> std::sync::RwLockReadGuard<'_, HashMap<String, EndpointEntry>> {
        self.inner
            .endpoints
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn write_endpoints(
        &self,
    ) -> std::sync::RwLockWriteGuard<'_, HashMap<String, EndpointEntry>> {
        self.inner
            .endpoints
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The endpoint called `name`.
    pub(crate) fn endpoint(&self, name: &str) -> Result<EndpointEntry, EngineError> {
        let endpoints = self.read_endpoints();
        endpoints
            .get(name)
            .cloned()
            .ok_or_else(|| EngineError::UnknownEndpoint {
                name: name.to_string(),
                known: known(endpoints.keys()),
            })
    }

    /// The router of endpoint `name`, if there is one.
    pub fn router_of(&self, name: &str) -> Option<Arc<EndpointRouter>> {
        self.read_endpoints()
            .get(name)
            .map(|entry| entry.router.clone())
    }

    fn new_run_id(&self) -> String {
        let number = self.inner.counter.fetch_add(1, Ordering::Relaxed);
        format!("run-{:x}-{:x}-{number}", wall_ms(), std::process::id())
    }

    pub(crate) fn spawn<F>(&self, task: F) -> JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.inner.runtime.spawn(task)
    }

    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.inner.client
    }

    /// The least time a launch through the API takes, in API milliseconds.
    pub(crate) fn provisioning_ms(&self) -> u64 {
        self.inner.provisioning_ms
    }

    pub(crate) fn seed(&self) -> u64 {
        self.inner.seed ^ self.inner.counter.load(Ordering::Relaxed)
    }

    /// Starts `plan` from the planner on the endpoint it names; returns the run
    /// id at once.
    pub async fn start_rollout(&self, plan: &Plan, time_scale: f64) -> Result<String, EngineError> {
        let prepared = self.prepare(plan, time_scale)?;
        self.launch_run(plan, prepared, Alarms::Own, plan.deployment_config.clone())
            .await
    }

    /// Everything a run needs that can be known before the endpoint is claimed:
    /// a valid plan, a time scale in range, the endpoint and the new config.
    pub(crate) fn prepare(&self, plan: &Plan, time_scale: f64) -> Result<Prepared, EngineError> {
        let checked = check(plan);
        let Some(rollout) = checked.rollout else {
            let lines: Vec<String> = checked
                .report
                .errors
                .iter()
                .map(ToString::to_string)
                .collect();
            return Err(EngineError::InvalidPlan(lines.join("\n")));
        };
        if !(TIME_SCALE_MIN..=TIME_SCALE_MAX).contains(&time_scale) {
            return Err(EngineError::TimeScale(time_scale));
        }
        let entry = self.endpoint(rollout.endpoint_name())?;
        let registry = self.read_registry();
        let config = registry
            .config(rollout.endpoint_config_name())
            .ok_or_else(|| unknown_config(&registry, rollout.endpoint_config_name()))?;
        if config.variant_name != rollout.variant_name() {
            return Err(EngineError::VariantMismatch {
                config: config.endpoint_config_name.clone(),
                config_variant: config.variant_name.clone(),
                plan_variant: rollout.variant_name().to_string(),
            });
        }
        let green_model = registry
            .model(&config.model_name)
            .ok_or_else(|| {
                EngineError::Instances(format!(
                    "endpoint config {}: its model {} does not exist",
                    config.endpoint_config_name, config.model_name
                ))
            })
            .and_then(|model| registry.runnable(model).map_err(EngineError::Instances))?;
        Ok(Prepared {
            entry,
            rollout,
            green_model: Ok(green_model),
            time_scale,
        })
    }

    /// How the config `name` runs, if it and its model still exist.
    pub(crate) fn runnable_config(
        &self,
        name: &str,
    ) -> Result<(EndpointConfigDefinition, ModelDefinition), String> {
        let registry = self.read_registry();
        let config = registry
            .config(name)
            .ok_or_else(|| format!("endpoint config {name} no longer exists"))?;
        let model = registry.model(&config.model_name).ok_or_else(|| {
            format!(
                "model {} of endpoint config {name} no longer exists",
                config.model_name
            )
        })?;
        Ok((config.clone(), registry.runnable(model)?))
    }

    /// Claims the endpoint and starts the run. `deployment` is the
    /// `DeploymentConfig` an API update sent, kept as `LastDeploymentConfig`.
    pub(crate) async fn launch_run(
        &self,
        plan: &Plan,
        prepared: Prepared,
        alarms: Alarms,
        deployment: Option<guardrail_core::plan::DeploymentConfig>,
    ) -> Result<String, EngineError> {
        let run_id = self.new_run_id();
        let rollout = &prepared.rollout;
        let started_api_ms = self.inner.clock.now_ms();
        let from_config = {
            let mut state = prepared.entry.state.lock().await;
            begin_update(&mut state, rollout, &run_id, deployment, started_api_ms)?
        };
        let blue_model = self.runnable_config(&from_config).map(|(_, model)| model);
        let created = self.inner.store.create_run(&NewRun {
            id: run_id.clone(),
            endpoint: rollout.endpoint_name().to_string(),
            from_config: from_config.clone(),
            to_config: rollout.endpoint_config_name().to_string(),
            backend: "local".into(),
            time_scale: prepared.time_scale,
            plan_json: plan.to_json_pretty(),
            started_wall_ms: wall_ms(),
            watch: None,
        });
        if let Err(error) = created {
            let mut state = prepared.entry.state.lock().await;
            state.deployment = None;
            state.end_update(None, None, self.inner.clock.now_ms());
            return Err(error.into());
        }
        // The update is kept with its run (and `LastDeploymentConfig`) before
        // it is answered; a failure here leaves the run's record to resolve it.
        {
            let state = prepared.entry.state.lock().await;
            self.keep_endpoint_or_log(rollout.endpoint_name(), &state);
        }
        let (plan_clock, alarm_source, min_launch_ms) =
            self.run_clock(alarms, prepared.time_scale, started_api_ms);
        let team_metrics = run::team_metrics_recorded(plan, &prepared.rollout);
        let context = run::RunContext {
            run_id: run_id.clone(),
            rollout: prepared.rollout,
            time_scale: prepared.time_scale,
            plan_clock,
            api_clock: self.inner.clock,
            started_api_ms,
            alarms: alarm_source,
            min_launch_ms,
            from_config,
            green_model: prepared.green_model,
            blue_model,
            endpoint: prepared.entry.state.clone(),
            router: prepared.entry.router,
            store: self.inner.store.clone(),
            client: self.inner.client.clone(),
            seed: self.seed(),
            team_metrics,
        };
        self.spawn_run(context, prepared.entry.state);
        Ok(run_id)
    }

    /// A run's plan clock, where its alarms are judged, and the least time a
    /// launch takes: a planner's run keeps its own clock and alarms; an
    /// update through the API runs on the API's clock and CloudWatch's alarms.
    fn run_clock(
        &self,
        alarms: Alarms,
        time_scale: f64,
        started_api_ms: u64,
    ) -> (PlanClock, run::AlarmSource, u64) {
        match alarms {
            Alarms::Own => (
                PlanClock::start(time_scale),
                run::AlarmSource::Own {
                    cloudwatch: self.inner.cloudwatch.clone(),
                },
                0,
            ),
            Alarms::CloudWatch => (
                self.inner.clock.plan_clock_from(started_api_ms),
                run::AlarmSource::CloudWatch {
                    cloudwatch: self.inner.cloudwatch.clone(),
                    metrics: Arc::new(self.clone()),
                },
                self.inner.provisioning_ms,
            ),
        }
    }

    /// Runs `context` in the background, keeping a handle to wait for it and
    /// reach it until it ends.
    fn spawn_run(&self, context: run::RunContext, endpoint: Arc<Mutex<EndpointState>>) {
        let (sender, receiver) = watch::channel(None);
        let (commands, inbox) = mpsc::unbounded_channel();
        let run_id = context.run_id.clone();
        let endpoint_name = context.rollout.endpoint_name().to_string();
        if let Ok(mut runs) = self.inner.runs.lock() {
            runs.live.insert(
                run_id.clone(),
                RunHandle {
                    outcome: receiver,
                    commands,
                    plan_clock: context.plan_clock.clone(),
                },
            );
        }
        let engine = self.clone();
        self.spawn(async move {
            let (outcome, session_outcome) = run::execute(context, inbox).await;
            {
                let failure = match &outcome {
                    RunOutcome::Failed { reason } => Some(reason.as_str()),
                    _ => None,
                };
                let mut state = endpoint.lock().await;
                state.end_update(
                    session_outcome.as_ref(),
                    failure,
                    engine.inner.clock.now_ms(),
                );
                engine.keep_endpoint_or_log(&endpoint_name, &state);
            }
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

    /// Requires every AWS API call to be signed with `token` as the secret
    /// key, and the planner's state-changing calls to present it. Set once,
    /// before serving (a second token is ignored): reading it on every
    /// invocation then takes no lock.
    pub fn set_access_token(&self, token: Option<String>) {
        if let Some(token) = token {
            let _ = self.inner.access_token.set(Arc::from(token));
        }
    }

    pub fn access_token(&self) -> Option<Arc<str>> {
        self.inner.access_token.get().cloned()
    }

    /// The plan clock of a run in progress: when its plan times happen in
    /// real time (benchmarks measure reactions against it).
    pub fn plan_clock(&self, run_id: &str) -> Option<PlanClock> {
        let runs = self.inner.runs.lock().ok()?;
        runs.live
            .get(run_id)
            .map(|handle| handle.plan_clock.clone())
    }

    /// Stops an instance as a crash would (for rehearsing failures).
    pub async fn kill_instance(
        &self,
        endpoint: &str,
        fleet: Fleet,
        index: usize,
    ) -> Result<String, EngineError> {
        self.fault(endpoint, fleet, index, |instance| {
            instance.stop();
            Ok(())
        })
        .await
    }

    /// Makes a built-in instance hang (for rehearsing failures): it accepts
    /// requests, `/ping` included, and answers none until it is stopped.
    pub async fn hang_instance(
        &self,
        endpoint: &str,
        fleet: Fleet,
        index: usize,
    ) -> Result<String, EngineError> {
        self.fault(endpoint, fleet, index, |instance| {
            instance.hang().map_err(EngineError::Instances)
        })
        .await
    }

    async fn fault(
        &self,
        endpoint: &str,
        fleet: Fleet,
        index: usize,
        fault: impl FnOnce(&mut Instance) -> Result<(), EngineError>,
    ) -> Result<String, EngineError> {
        let entry = self.endpoint(endpoint)?;
        let mut state = entry.state.lock().await;
        let list = match fleet {
            Fleet::Blue => &mut state.blue,
            Fleet::Green => &mut state.green,
        };
        let instance = list.get_mut(index).ok_or_else(|| {
            EngineError::Instances(format!("no {fleet:?} instance {index} on {endpoint}"))
        })?;
        fault(instance)?;
        Ok(instance.id.clone())
    }

    pub async fn endpoint_status(&self, name: &str) -> Option<EndpointReport> {
        let entry = self.endpoint(name).ok()?;
        let state = entry.state.lock().await;
        let urls = |instances: &[Instance]| {
            instances
                .iter()
                .map(|instance| instance.url.clone())
                .collect()
        };
        Some(EndpointReport {
            name: name.to_string(),
            config: state.config.clone(),
            status: state.status.as_str().to_string(),
            blue: urls(&state.blue),
            green: urls(&state.green),
            updating: state.updating.clone(),
            invocations: entry.router.metrics.total(),
        })
    }

    /// SageMaker Runtime: `POST /endpoints/{name}/invocations`, answered by the
    /// endpoint's router.
    pub fn routes(&self) -> Router {
        self.invocations().routes()
    }

    /// The same, for `web::serve_http1` to answer ahead of axum.
    pub fn invocations(&self) -> router::Invocations {
        let engine = self.clone();
        let signing = self.clone();
        router::Invocations::new(
            move |name| engine.router_of(name),
            move || signing.access_token(),
        )
    }

    /// Stops the load generators, the alarm evaluator and every instance.
    pub async fn shutdown(&self) {
        for (_, task) in self.tasks().drain(..) {
            task.abort();
        }
        let entries: Vec<EndpointEntry> = self.read_endpoints().values().cloned().collect();
        for entry in entries {
            let mut state = entry.state.lock().await;
            let state = &mut *state;
            for instance in state.blue.iter_mut().chain(state.green.iter_mut()) {
                instance.stop();
            }
        }
    }

    /// The published metric `metric` of an endpoint over `[from_ms, to_ms)` of
    /// API time, selected by CloudWatch's dimensions: exactly
    /// `{EndpointName, VariantName}` or `{EndpointName, VariantName,
    /// EndpointConfigName}`, as SageMaker publishes them.
    pub fn published(
        &self,
        namespace: &str,
        dimensions: &[guardrail_core::plan::Dimension],
        from_ms: u64,
        to_ms: u64,
    ) -> Option<FleetBucket> {
        if namespace != "AWS/SageMaker" {
            return None;
        }
        let value = |name: &str| {
            dimensions
                .iter()
                .find(|dimension| dimension.name == name)
                .map(|dimension| dimension.value.as_str())
        };
        let names: BTreeSet<&str> = dimensions
            .iter()
            .map(|dimension| dimension.name.as_str())
            .collect();
        let config = match names.len() {
            2 => None,
            3 => Some(value("EndpointConfigName")?),
            _ => return None,
        };
        let router = self.metric_router(value("EndpointName")?, value("VariantName")?)?;
        Some(router.metrics.published(config, from_ms, to_ms))
    }
}

impl Engine {
    /// The dimension sets of every metric published so far, for `ListMetrics`:
    /// each endpoint's variant, and each of its configs that served (deleted
    /// endpoints' too, while their metrics are kept).
    pub fn published_dimensions(&self) -> Vec<Vec<guardrail_core::plan::Dimension>> {
        use guardrail_core::plan::Dimension;
        let mut routers = self.metric_routers();
        routers.sort_by(|a, b| (&a.name, &a.variant).cmp(&(&b.name, &b.variant)));
        let mut sets = Vec::new();
        for router in routers {
            let configs = router.metrics.published_configs();
            if configs.is_empty() {
                continue;
            }
            let variant = vec![
                Dimension::new("EndpointName", &router.name),
                Dimension::new("VariantName", &router.variant),
            ];
            for config in configs {
                let mut set = variant.clone();
                set.push(Dimension::new("EndpointConfigName", &config));
                sets.push(set);
            }
            sets.push(variant);
        }
        sets
    }
}

impl MetricSource for Engine {
    /// SageMaker's metrics from the endpoints' published buckets, per minute
    /// as SageMaker publishes them (a shorter period sees a minute only at its
    /// start); any other namespace from what users published.
    fn samples(
        &self,
        identity: &guardrail_core::plan::MetricIdentity,
        from_ms: u64,
        to_ms: u64,
    ) -> Option<PeriodSamples> {
        if identity.namespace != guardrail_core::alarm::NAMESPACE {
            return self
                .inner
                .cloudwatch
                .custom()
                .samples(identity, None, from_ms, to_ms);
        }
        let metric = Metric::from_name(&identity.metric_name)?;
        let (from, to) = guardrail_core::assumptions::datapoint_window_ms(
            i64::try_from(from_ms).ok()?,
            i64::try_from(to_ms.saturating_sub(from_ms)).ok()?,
            false,
        )?;
        let bucket = self.published(
            &identity.namespace,
            &identity.dimensions,
            u64::try_from(from).ok()?,
            u64::try_from(to).ok()?,
        )?;
        bucket.samples(metric, bucket.instances)
    }
}

/// Marks the endpoint as updated by run `run_id` to the rollout's config, if
/// it is in service, not updating and not already on that config; returns
/// the config it serves (blue's).
fn begin_update(
    state: &mut EndpointState,
    rollout: &guardrail_core::Rollout,
    run_id: &str,
    deployment: Option<guardrail_core::plan::DeploymentConfig>,
    started_api_ms: u64,
) -> Result<String, EngineError> {
    if let Some(run) = &state.updating {
        return Err(EngineError::Busy {
            endpoint: rollout.endpoint_name().to_string(),
            run: run.clone(),
        });
    }
    if state.status != EndpointStatus::InService {
        return Err(EngineError::NotInService {
            endpoint: rollout.endpoint_name().to_string(),
            status: state.status.as_str().to_string(),
        });
    }
    if state.config == rollout.endpoint_config_name() {
        return Err(EngineError::SameConfig {
            endpoint: rollout.endpoint_name().to_string(),
            config: state.config.clone(),
        });
    }
    state.begin_update(
        run_id,
        rollout.endpoint_config_name(),
        rollout.instance_count(),
        deployment,
        started_api_ms,
    );
    Ok(state.config.clone())
}

/// Takes out of `registry` what the API deleted of it (the demo,
/// engine.json), keeping a config, and its model, that a registry endpoint
/// still serves (as SageMaker's endpoint keeps serving a deleted config).
fn forget_deleted(registry: &mut Registry, store: &Store) -> Result<(), EngineError> {
    let gone = |kind| store.deleted(kind);
    let (models, configs, endpoints) = (
        gone(ResourceKind::Model)?,
        gone(ResourceKind::EndpointConfig)?,
        gone(ResourceKind::Endpoint)?,
    );
    registry
        .endpoints
        .retain(|endpoint| !endpoints.contains(&endpoint.endpoint_name));
    // A registry endpoint still standing starts on its config (as
    // SageMaker's endpoint keeps serving a deleted config): that config
    // and its model stay.
    // Where the last finished run left each registry endpoint, before
    // any interrupted run is resolved (which may complete one).
    let last_configs: HashMap<String, Option<String>> = registry
        .endpoints
        .iter()
        .map(|endpoint| {
            let last = store
                .last_config(&endpoint.endpoint_name)
                .unwrap_or_default();
            (endpoint.endpoint_name.clone(), last)
        })
        .collect();
    let serving: Vec<String> = registry
        .endpoints
        .iter()
        .flat_map(|endpoint| {
            [
                Some(endpoint.endpoint_config_name.clone()),
                last_configs.get(&endpoint.endpoint_name).cloned().flatten(),
            ]
        })
        .flatten()
        .collect();
    let serving_models: Vec<String> = registry
        .endpoint_configs
        .iter()
        .filter(|config| serving.contains(&config.endpoint_config_name))
        .map(|config| config.model_name.clone())
        .collect();
    registry.models.retain(|model| {
        !models.contains(&model.model_name) || serving_models.contains(&model.model_name)
    });
    registry.endpoint_configs.retain(|config| {
        !configs.contains(&config.endpoint_config_name)
            || serving.contains(&config.endpoint_config_name)
    });
    Ok(())
}

/// Adds the models and configs created through the API, kept in `store`.
fn merge_kept(registry: &mut Registry, store: &Store) -> Result<(), EngineError> {
    let kept_models: Vec<durable::SavedModel> = store.resources(ResourceKind::Model)?;
    registry.merge(Registry {
        models: kept_models
            .into_iter()
            .map(durable::SavedModel::into_model)
            .collect(),
        endpoint_configs: store.resources(ResourceKind::EndpointConfig)?,
        ..Registry::default()
    });
    Ok(())
}

/// Brings up every registry endpoint on the config its last finished run
/// left it on, if that config is still registered, else on its own.
async fn bring_up_all(
    client: &reqwest::Client,
    clock: ApiClock,
    registry: &Registry,
    store: &Store,
    seed: u64,
) -> Result<HashMap<String, EndpointEntry>, EngineError> {
    let mut endpoints = HashMap::new();
    for definition in &registry.endpoints {
        // Where the last finished run left the endpoint, if its config is
        // still registered.
        // Read again: resolving an interrupted run above may have moved it
        // (an update whose blue termination had begun completes).
        let current = store
            .last_config(&definition.endpoint_name)
            .unwrap_or_default()
            .filter(|name| registry.config(name).is_some())
            .unwrap_or_else(|| definition.endpoint_config_name.clone());
        let entry = bring_up(
            client,
            clock,
            registry,
            &definition.endpoint_name,
            &current,
            None,
            seed,
        )
        .await?;
        endpoints.insert(definition.endpoint_name.clone(), entry);
    }
    Ok(endpoints)
}

/// Starts endpoint `endpoint` on config `config_name` of `registry` with
/// `count` instances (by default the config's), `InService`.
async fn bring_up(
    client: &reqwest::Client,
    clock: ApiClock,
    registry: &Registry,
    endpoint: &str,
    config_name: &str,
    count: Option<u32>,
    seed: u64,
) -> Result<EndpointEntry, EngineError> {
    let config = registry
        .config(config_name)
        .ok_or_else(|| unknown_config(registry, config_name))?;
    let model = registry
        .model(&config.model_name)
        .ok_or_else(|| EngineError::Instances(format!("model {}", config.model_name)))
        .and_then(|model| registry.runnable(model).map_err(EngineError::Instances))?;
    let name = &config.endpoint_config_name;
    let count = count.unwrap_or(config.instance_count);
    let patience = crate::engine::fleet::startup_patience(clock.scale());
    let blue = launch_fleet(client, &model, name, count, seed, patience)
        .await
        .map_err(|reason| EngineError::Instances(format!("{endpoint}: {reason}")))?;
    let router = Arc::new(EndpointRouter::new(
        endpoint,
        &config.variant_name,
        Routing::blue_only(targets(&blue, name)),
        clock,
    ));
    let mut state = EndpointState::creating(name, &config.variant_name, count, clock.now_ms());
    state.blue = blue;
    state.status = EndpointStatus::InService;
    Ok(EndpointEntry {
        state: Arc::new(Mutex::new(state)),
        router,
    })
}

/// CloudWatch's evaluator: sleeps until the next evaluation is due on the API
/// clock, or until an alarm is added, and carries out what is due. It stops
/// when the engine is gone.
async fn evaluate_alarms(inner: Weak<Inner>) {
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let engine = Engine { inner: strong };
        let cloudwatch = engine.inner.cloudwatch.clone();
        let clock = engine.inner.clock;
        cloudwatch.advance_to(clock.now_ms(), &engine);
        let due = cloudwatch.next_due();
        drop(engine);
        let changed = cloudwatch.changed.notified();
        match due {
            Some(at) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(clock.instant_at(at).into()) => {}
                    _ = changed => {}
                }
            }
            None => changed.await,
        }
    }
}
