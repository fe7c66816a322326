//! Amazon SageMaker as a backend, through the AWS SDK for Rust: preflight
//! checks, `UpdateEndpoint` with the plan's `DeploymentConfig`, then a watcher
//! that polls SageMaker and CloudWatch and records what it sees as the same
//! events a local run records, and says how the update really ended.

pub mod aws;
pub mod preflight;
pub mod reading;
mod watch;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use guardrail_app::api::service::Answer;
use guardrail_app::api::{ErrorKind, RunOptions, ServiceError, Target};
use guardrail_core::event::EventKind;
use guardrail_core::schedule::schedule;
use guardrail_core::{check, Plan};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::{oneshot, OnceCell};

use self::aws::{call_error, Clients, Settings};
use self::preflight::Put;
use super::{Backend, SAGEMAKER};
use crate::engine::clock::wall_ms;
use crate::store::{NewRun, Recorder, Store};

/// What the store keeps to resume watching a run: where, and the update's
/// start on both clocks. Never credentials.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WatchRecord {
    pub settings: Settings,
    pub region: String,
    pub from_config: String,
    pub to_config: String,
    pub started_api_ms: u64,
    pub started_wall_ms: u64,
    /// The endpoint's `LastModifiedTime` before the update (API epoch ms):
    /// until `DescribeEndpoint` shows a later one, or the update itself, an
    /// `InService` on the old config is a stale read, not a rollback.
    #[serde(default)]
    pub before_modified_api_ms: Option<u64>,
}

impl WatchRecord {
    /// The API clock now, estimated from the update's start on both clocks.
    pub fn api_now_ms(&self) -> u64 {
        let elapsed = wall_ms().saturating_sub(self.started_wall_ms) as f64;
        self.started_api_ms + (elapsed * self.settings.api_time_scale.max(0.0)) as u64
    }
}

/// The SageMaker backend.
pub struct SageMaker {
    settings: Settings,
    store: Store,
    clients: OnceCell<Clients>,
    watchers: Arc<Mutex<HashMap<String, oneshot::Sender<String>>>>,
    counter: AtomicU64,
}

fn refused(message: String) -> ServiceError {
    ServiceError::new(ErrorKind::Refused, message)
}

impl SageMaker {
    /// A backend that loads its clients from the SDK's chain on first use.
    pub fn new(store: Store, settings: Settings) -> SageMaker {
        SageMaker {
            settings,
            store,
            clients: OnceCell::new(),
            watchers: Arc::new(Mutex::new(HashMap::new())),
            counter: AtomicU64::new(0),
        }
    }

    /// A backend on given clients (tests: a mock or a local API).
    pub fn with_clients(store: Store, settings: Settings, clients: Clients) -> SageMaker {
        let backend = SageMaker::new(store, settings);
        let _ = backend.clients.set(clients);
        backend
    }

    /// Whether a run with `options` puts the plan's alarms first: asked for
    /// by the run, or by the settings (`--create-alarms`).
    fn creates_alarms(&self, options: RunOptions) -> bool {
        options.create_alarms || self.settings.create_alarms
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    async fn clients(&self) -> Result<&Clients, ServiceError> {
        self.clients
            .get_or_try_init(|| Clients::load(&self.settings))
            .await
    }

    fn new_run_id(&self) -> String {
        let number = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("run-{:x}-{:x}-sm{number}", wall_ms(), std::process::id())
    }

    /// Every request a run of `plan` would send, as JSON, sending nothing: the
    /// preflight reads, the alarms it would put, the update, and the polls.
    pub fn dry_run(plan: &Plan, settings: &Settings) -> Result<Value, ServiceError> {
        let checked = check(plan);
        let Some(rollout) = checked.rollout else {
            return Err(invalid(&checked));
        };
        let mut requests = vec![
            aws::request(
                "sagemaker",
                "DescribeEndpoint",
                json!({"EndpointName": plan.endpoint_name}),
            ),
            aws::request(
                "sagemaker",
                "DescribeEndpointConfig",
                json!({"EndpointConfigName": plan.endpoint_config_name}),
            ),
        ];
        let names = rollback_alarms(plan);
        if settings.create_alarms {
            for alarm in &plan.alarms {
                requests.push(aws::request(
                    "cloudwatch",
                    "PutMetricAlarm",
                    aws::alarm_input(alarm),
                ));
            }
            // After the metric alarms they name.
            for alarm in &plan.composite_alarms {
                requests.push(aws::request(
                    "cloudwatch",
                    "PutCompositeAlarm",
                    serde_json::to_value(alarm).unwrap_or_default(),
                ));
            }
        }
        if !names.is_empty() {
            requests.push(aws::request(
                "cloudwatch",
                "DescribeAlarms",
                json!({"AlarmNames": names}),
            ));
        }
        let mut update = json!({
            "EndpointName": plan.endpoint_name,
            "EndpointConfigName": plan.endpoint_config_name,
        });
        if let Some(config) = &plan.deployment_config {
            update["DeploymentConfig"] = serde_json::to_value(config).unwrap_or_default();
        }
        requests.push(aws::request("sagemaker", "UpdateEndpoint", update));
        let watched = watched_alarms(plan);
        let schedule = schedule(&rollout);
        Ok(json!({
            "region": settings.region,
            "profile": settings.profile,
            "requests": requests,
            "then": {
                "every_ms": settings.poll_ms,
                "until": "the endpoint leaves Updating",
                "requests": [
                    aws::request("cloudwatch", "DescribeAlarms", json!({"AlarmNames": watched})),
                    aws::request("sagemaker", "DescribeEndpoint", json!({"EndpointName": plan.endpoint_name})),
                ],
                "when_an_alarm_changes": aws::request("cloudwatch", "DescribeAlarmHistory", json!({"AlarmName": "<the alarm>", "HistoryItemType": "StateUpdate"})),
                "every_metric_period": aws::request("cloudwatch", "GetMetricData", json!({"MetricDataQueries": "Invocations, Invocation4XXErrors, Invocation5XXErrors, InvocationModelErrors (Sum), ModelLatency (Average, p99) and OverheadLatency (Average) of each config", "Period": watch::metric_period(plan)})),
                "after_each_look_of_the_judge": rollout.judge().map(|spec| judge_request(plan, spec)),
                "planned_seconds": schedule.total_seconds,
                "timeout_seconds": schedule.timeout_seconds,
            }
        }))
    }

    /// Resumes watching the SageMaker runs that a process which is gone left
    /// unfinished; returns their ids.
    pub async fn resume_unfinished(&self) -> Vec<String> {
        let unfinished = match self.store.claim_unfinished(SAGEMAKER) {
            Ok(unfinished) => unfinished,
            Err(error) => {
                tracing::error!("cannot look for SageMaker runs to resume: {error}");
                return Vec::new();
            }
        };
        let mut resumed = Vec::new();
        for run in unfinished {
            let record: Option<WatchRecord> = serde_json::from_str(&run.watch).ok();
            let plan = Plan::from_json(&run.plan_json).ok();
            let (Some(record), Some(plan)) = (record, plan) else {
                self.store.abandon(
                    &run.id,
                    "guardrail could not read this run's record to resume watching it",
                    wall_ms(),
                );
                continue;
            };
            let clients = match self.clients.get() {
                Some(clients) => clients.clone(),
                None => match Clients::load(&record.settings).await {
                    Ok(clients) => clients,
                    Err(error) => {
                        tracing::error!(run = %run.id, "cannot resume watching: {}", error.message);
                        continue;
                    }
                },
            };
            let events = self.store.events(&run.id).unwrap_or_default();
            let last = events
                .last()
                .map(|event| (event.seq, event.at_ms))
                .unwrap_or((0, 0));
            let mut recorder = Recorder::after(self.store.clone(), &run.id, last.0, last.1);
            let gap_to_ms = record.api_now_ms().saturating_sub(record.started_api_ms);
            recorder.emit(
                gap_to_ms,
                EventKind::WatchResumed {
                    gap_from_ms: last.1,
                    gap_to_ms,
                },
            );
            tracing::info!(run = %run.id, "resumed watching a SageMaker update");
            self.spawn_watch(clients, plan, record, recorder, &events);
            resumed.push(run.id);
        }
        resumed
    }

    fn spawn_watch(
        &self,
        clients: Clients,
        plan: Plan,
        record: WatchRecord,
        recorder: Recorder,
        history: &[guardrail_core::event::Event],
    ) {
        let Some(watch) = watch::Watch::new(clients, plan, record, recorder, history) else {
            return;
        };
        let (stop, stopped) = oneshot::channel();
        let run_id = watch.run_id().to_string();
        if let Ok(mut watchers) = self.watchers.lock() {
            watchers.insert(run_id.clone(), stop);
        }
        let watchers = self.watchers.clone();
        tokio::spawn(async move {
            watch.run(stopped).await;
            if let Ok(mut watchers) = watchers.lock() {
                watchers.remove(&run_id);
            }
        });
    }

    /// How many runs this backend is watching.
    pub fn watching(&self) -> usize {
        self.watchers
            .lock()
            .map(|watchers| watchers.len())
            .unwrap_or(0)
    }
}

impl SageMaker {
    /// The update's start on the API's clock: the pending deployment's
    /// `StartTime`, else a `LastModifiedTime` after the one before. Right after
    /// `UpdateEndpoint`, `DescribeEndpoint` may not show the update yet
    /// (eventual consistency): it is asked a few times, then the start is
    /// estimated from this machine's clock, with a note saying so.
    async fn update_started_ms(
        &self,
        clients: &Clients,
        plan: &Plan,
        found: &preflight::Preflight,
        started_wall_ms: u64,
        notes: &mut Vec<(String, String)>,
    ) -> u64 {
        // At most about 4 s in all: 250 ms, then twice as long each time.
        let mut pace = aws::Pace::new(self.settings.poll_ms.min(250));
        for attempt in 0..5 {
            if attempt > 0 {
                tokio::time::sleep(pace.wait()).await;
                pace.failed();
            }
            let Ok(described) = clients
                .sagemaker
                .describe_endpoint()
                .endpoint_name(&plan.endpoint_name)
                .send()
                .await
            else {
                continue;
            };
            let ms = |time: Option<&aws_sdk_sagemaker::primitives::DateTime>| {
                time.and_then(|time| time.to_millis().ok())
                    .map(|ms| ms.max(0) as u64)
            };
            let pending = described
                .pending_deployment_summary()
                .and_then(|pending| ms(pending.start_time()));
            let modified = ms(described.last_modified_time())
                .filter(|modified| found.modified_ms.is_none_or(|before| *modified > before));
            if let Some(at) = pending.or(modified) {
                return at;
            }
        }
        notes.push((
            found.status.clone(),
            "DescribeEndpoint did not show the update's start yet: its times are estimated from this machine's clock"
                .to_string(),
        ));
        found
            .modified_ms
            .map_or(started_wall_ms, |before| before.max(started_wall_ms))
    }

    /// Creates the run in the store and records its first events: the plan,
    /// the target, and the notes on its start.
    fn record_start(
        &self,
        clients: &Clients,
        plan: &Plan,
        rollout: &guardrail_core::Rollout,
        found: &preflight::Preflight,
        record: &WatchRecord,
        notes: Vec<(String, String)>,
    ) -> Result<(String, Recorder), ServiceError> {
        let run_id = self.new_run_id();
        self.store
            .create_run(&NewRun {
                id: run_id.clone(),
                endpoint: plan.endpoint_name.clone(),
                from_config: found.from_config.clone(),
                to_config: plan.endpoint_config_name.clone(),
                backend: SAGEMAKER.into(),
                time_scale: self.settings.api_time_scale,
                plan_json: plan.to_json_pretty(),
                started_wall_ms: record.started_wall_ms,
                watch: Some(serde_json::to_string(record).unwrap_or_default()),
            })
            .map_err(|error| {
                ServiceError::new(
                    ErrorKind::Failed,
                    format!(
                        "SageMaker is updating {} but guardrail cannot record the run: {error}",
                        plan.endpoint_name
                    ),
                )
            })?;
        let schedule = schedule(rollout);
        let mut recorder = Recorder::new(self.store.clone(), &run_id);
        recorder.emit(
            0,
            EventKind::PlanAccepted {
                endpoint: plan.endpoint_name.clone(),
                from_config: found.from_config.clone(),
                to_config: plan.endpoint_config_name.clone(),
                mode: rollout.strategy().label().to_string(),
                time_scale: self.settings.api_time_scale,
                planned_total_seconds: schedule.total_seconds,
                timeout_seconds: schedule.timeout_seconds,
                backend: SAGEMAKER.into(),
            },
        );
        recorder.emit(
            0,
            EventKind::Targeted {
                account: found.account.clone(),
                region: clients.region.clone(),
                endpoint_arn: found.endpoint_arn.clone(),
            },
        );
        for (status, note) in notes {
            recorder.emit(
                0,
                EventKind::EndpointObserved {
                    status,
                    variant_status: None,
                    message: Some(note),
                },
            );
        }
        Ok((run_id, recorder))
    }
}

/// Puts the plan's alarms: the metric alarms, then the composite alarms
/// that name them (which must exist first).
async fn put_alarms(clients: &Clients, plan: &Plan) -> Result<(), ServiceError> {
    for alarm in &plan.alarms {
        aws::put_metric_alarm(&clients.cloudwatch, alarm)
            .send()
            .await
            .map_err(|error| {
                refused(format!(
                    "PutMetricAlarm {} failed: {}",
                    alarm.alarm_name,
                    call_error(&error)
                ))
            })?;
    }
    for alarm in &plan.composite_alarms {
        aws::put_composite_alarm(&clients.cloudwatch, alarm)
            .send()
            .await
            .map_err(|error| {
                refused(format!(
                    "PutCompositeAlarm {} failed: {}",
                    alarm.alarm_name,
                    call_error(&error)
                ))
            })?;
    }
    Ok(())
}

/// `UpdateEndpoint` for the plan. An error after the SDK's retries may still
/// hide an update SageMaker began (a 500 whose retry met "in progress"): then
/// guardrail watches that update, with a note saying so.
async fn send_update(
    clients: &Clients,
    plan: &Plan,
    notes: &mut Vec<(String, String)>,
) -> Result<(), ServiceError> {
    let mut update = clients
        .sagemaker
        .update_endpoint()
        .endpoint_name(&plan.endpoint_name)
        .endpoint_config_name(&plan.endpoint_config_name);
    if let Some(config) = &plan.deployment_config {
        update = update.deployment_config(aws::deployment_config(config));
    }
    let Err(error) = update.send().await else {
        return Ok(());
    };
    let error = call_error(&error);
    match updating_to(clients, plan).await {
        Some(_) => {
            notes.push((
                "Updating".into(),
                format!(
                    "UpdateEndpoint answered {error}, but SageMaker is updating {} to {}: guardrail watches that update",
                    plan.endpoint_name, plan.endpoint_config_name
                ),
            ));
            Ok(())
        }
        None => Err(refused(format!(
            "SageMaker refused UpdateEndpoint for {}: {error}",
            plan.endpoint_name
        ))),
    }
}

/// Whether SageMaker is updating the plan's endpoint to the plan's config
/// (its pending deployment), as one `DescribeEndpoint` shows it.
async fn updating_to(clients: &Clients, plan: &Plan) -> Option<()> {
    let described = clients
        .sagemaker
        .describe_endpoint()
        .endpoint_name(&plan.endpoint_name)
        .send()
        .await
        .ok()?;
    let pending = described.pending_deployment_summary()?;
    (described.endpoint_status().map(|status| status.as_str()) == Some("Updating")
        && pending.endpoint_config_name() == Some(plan.endpoint_config_name.as_str()))
    .then_some(())
}

fn invalid(checked: &guardrail_core::Checked) -> ServiceError {
    let lines: Vec<String> = checked
        .report
        .errors
        .iter()
        .map(ToString::to_string)
        .collect();
    ServiceError::new(
        ErrorKind::Invalid,
        format!("the plan is invalid:\n{}", lines.join("\n")),
    )
}

/// The alarms the plan's `AutoRollbackConfiguration` names, as the SDK takes them.
pub fn rollback_alarms(plan: &Plan) -> Vec<String> {
    plan.rollback_alarm_names()
        .into_iter()
        .map(str::to_string)
        .collect()
}

/// The rollback alarms and the plan's other alarms, each once.
fn watched_alarms(plan: &Plan) -> Vec<String> {
    let mut names = rollback_alarms(plan);
    for alarm in &plan.alarms {
        if !names.contains(&alarm.alarm_name) {
            names.push(alarm.alarm_name.clone());
        }
    }
    names.truncate(100);
    names
}

impl Backend for SageMaker {
    fn name(&self) -> &'static str {
        SAGEMAKER
    }

    fn target<'a>(&'a self, plan: &'a Plan, options: RunOptions) -> Answer<'a, Target> {
        Box::pin(async move {
            let clients = self.clients().await?;
            let put = if self.creates_alarms(options) {
                Put::Planned
            } else {
                Put::No
            };
            let found = preflight::check(clients, plan, put).await;
            Ok(Target {
                backend: SAGEMAKER.into(),
                account: found.account,
                region: clients.region.clone(),
                endpoint: if found.endpoint_arn.is_empty() {
                    plan.endpoint_name.clone()
                } else {
                    found.endpoint_arn
                },
                status: found.status,
                current_config: found.from_config,
                api: clients.api.clone(),
                problems: found.problems,
            })
        })
    }

    fn start<'a>(&'a self, plan: &'a Plan, options: RunOptions) -> Answer<'a, String> {
        Box::pin(async move {
            let checked = check(plan);
            let Some(rollout) = checked.rollout else {
                return Err(invalid(&checked));
            };
            let clients = self.clients().await?;
            let create_alarms = self.creates_alarms(options);
            if create_alarms {
                put_alarms(clients, plan).await?;
            }
            let put = if create_alarms { Put::Done } else { Put::No };
            let found = preflight::check(clients, plan, put).await;
            if !found.problems.is_empty() {
                return Err(refused(format!(
                    "guardrail did not update {} in account {}, region {}:\n- {}",
                    plan.endpoint_name,
                    if found.account.is_empty() {
                        "?"
                    } else {
                        &found.account
                    },
                    clients.region,
                    found.problems.join("\n- ")
                )));
            }
            // What the record should say about the start: (the status seen, why).
            let mut notes: Vec<(String, String)> = Vec::new();
            send_update(clients, plan, &mut notes).await?;
            let started_wall_ms = wall_ms();
            let started_api_ms = self
                .update_started_ms(clients, plan, &found, started_wall_ms, &mut notes)
                .await;
            let record = WatchRecord {
                settings: Settings {
                    endpoint_url: self.settings.endpoint_url.as_deref().map(aws::redact_url),
                    ..self.settings.clone()
                },
                region: clients.region.clone(),
                from_config: found.from_config.clone(),
                to_config: plan.endpoint_config_name.clone(),
                started_api_ms,
                started_wall_ms,
                before_modified_api_ms: found.modified_ms,
            };
            let (run_id, recorder) =
                self.record_start(clients, plan, &rollout, &found, &record, notes)?;
            self.spawn_watch(clients.clone(), plan.clone(), record, recorder, &[]);
            Ok(run_id)
        })
    }

    fn stop<'a>(&'a self, run_id: &'a str, by: &'a str) -> Answer<'a, ()> {
        Box::pin(async move {
            let sender = self
                .watchers
                .lock()
                .ok()
                .and_then(|mut watchers| watchers.remove(run_id));
            match sender {
                Some(sender) => sender.send(by.to_string()).map_err(|_| {
                    refused(format!("run {run_id} cannot be stopped: it already ended"))
                }),
                None => Err(refused(match self.store.outcome(run_id) {
                    Ok(Some(outcome)) => {
                        format!(
                            "run {run_id} cannot be stopped: it already ended ({})",
                            outcome.describe()
                        )
                    }
                    _ => format!("run {run_id} is not being watched by this guardrail"),
                })),
            }
        })
    }
}

/// The `PutMetricData` the watcher sends after each look of the judge
/// (`JudgeSpec::looking_every`): its score and each judged metric's class,
/// stamped when it looks.
fn judge_request(plan: &Plan, spec: &guardrail_core::judge::JudgeSpec) -> Value {
    let identity =
        guardrail_core::judge::score_metric(&plan.endpoint_name, &plan.endpoint_config_name);
    let dimensions = serde_json::to_value(&identity.dimensions).unwrap_or_default();
    let mut data = vec![json!({
        "MetricName": guardrail_core::judge::SCORE_METRIC,
        "Dimensions": dimensions,
        "Value": "<the score, 0 to 100>",
        "Unit": "None",
    })];
    for criterion in &spec.criteria {
        data.push(json!({
            "MetricName": format!("{}Class", criterion.signal.name()),
            "Dimensions": dimensions,
            "Value": "<0 pass, 1 high, -1 low>",
            "Unit": "None",
        }));
    }
    let mut request = aws::request(
        "cloudwatch",
        "PutMetricData",
        json!({"Namespace": guardrail_core::judge::NAMESPACE, "MetricData": data}),
    );
    request["every_seconds"] = json!(
        spec.looking_every(watch::metric_period(plan))
            .period_seconds
    );
    request
}
