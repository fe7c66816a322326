//! One rollout on the local engine: a driver of the core's [`Session`].
//!
//! The session decides (controller and alarm monitor); this driver supplies what
//! it cannot know, on a plan clock: live datapoints from the router's metrics,
//! instances that became healthy or failed, and aborts. It carries out the
//! session's effects on real instances and records every event.
//!
//! Timers are handled in plan-time order at their due time even when the task
//! wakes late, so alarm verdicts and phase ends happen in the order the plan
//! says, whatever the machine's scheduling jitter.
//!
//! An update through SageMaker's API reads its alarms as SageMaker does, from
//! CloudWatch: the local CloudWatch evaluates them all the time, and the run
//! hears of every change. Before each of its own deadlines the run has
//! CloudWatch catch up to that moment, so that an alarm is judged before a
//! phase ends there, as with the run's own alarms.
//!
//! A run whose record cannot be written (a full disk, a read-only directory)
//! does not go on unrecorded: the first failed append stops the record, the
//! rollout is aborted back to blue if it can still be, and the run ends failed,
//! with the reason given to every live viewer.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use guardrail_core::alarm::{AlarmRule, AlarmState, Scope};
use guardrail_core::assumptions::datapoint_window_ms;
use guardrail_core::controller::{AbortRefused, Effect, Input, Outcome, RollbackCause};
use guardrail_core::event::{EventKind, Fleet, RunOutcome, TeamTick, MAX_RECORDED_TEAM_METRICS};
use guardrail_core::judge::{Judgement, Watch};
use guardrail_core::monitor::Ask;
use guardrail_core::monitor::Monitor;
use guardrail_core::plan::{MetricIdentity, Plan};
use guardrail_core::published::{team_reach_ms, TeamRecorder, TeamView};
use guardrail_core::rollout::Rollout;
use guardrail_core::schedule::{schedule, Phase, Schedule};
use guardrail_core::session::{Happening, Session};
use guardrail_core::timeline::AlarmTransition;
use guardrail_core::Fleets;
use tokio::sync::{mpsc, oneshot, Mutex};
use tokio::task::JoinHandle;

use crate::engine::clock::{wall_ms, ApiClock, PlanClock};
use crate::engine::cloudwatch::{AlarmNews, CloudWatch, MetricSource};
use crate::engine::custom_metrics::{Datum, DatumData};
use crate::engine::endpoint::EndpointState;
use crate::engine::fleet::{
    startup_patience, targets, terminate_when_drained, wait_healthy, Instance,
};
use crate::engine::metrics::SETTLE_LIMIT;
use crate::engine::registry::ModelDefinition;
use crate::engine::router::{EndpointRouter, Routing, Target};
use crate::store::{Recorder, Store};

/// Where the run's alarm states come from.
pub(crate) enum AlarmSource {
    /// The plan's alarms, evaluated by the run's own session on its plan
    /// clock; the team's own metrics come from the local CloudWatch.
    Own { cloudwatch: Arc<CloudWatch> },
    /// The local CloudWatch's alarms of the same names.
    CloudWatch {
        cloudwatch: Arc<CloudWatch>,
        metrics: Arc<dyn MetricSource + Send + Sync>,
    },
}

impl AlarmSource {
    /// The local CloudWatch, whichever judges the alarms.
    pub(crate) fn cloudwatch(&self) -> &CloudWatch {
        match self {
            AlarmSource::Own { cloudwatch } | AlarmSource::CloudWatch { cloudwatch, .. } => {
                cloudwatch
            }
        }
    }
}

/// Everything a run needs.
pub(crate) struct RunContext {
    pub run_id: String,
    pub rollout: Rollout,
    pub time_scale: f64,
    pub plan_clock: PlanClock,
    pub api_clock: ApiClock,
    /// When the update was asked for, on the API clock.
    pub started_api_ms: u64,
    pub alarms: AlarmSource,
    /// The least time a launch of instances takes, in plan milliseconds
    /// (`--provisioning-seconds` for updates through the API; 0 for the
    /// planner's runs, which measure the real time).
    pub min_launch_ms: u64,
    pub from_config: String,
    pub green_model: Result<ModelDefinition, String>,
    /// How to restore blue instances; `Err` when its config or model is gone.
    pub blue_model: Result<ModelDefinition, String>,
    pub endpoint: Arc<Mutex<EndpointState>>,
    pub router: Arc<EndpointRouter>,
    pub store: Store,
    pub client: reqwest::Client,
    pub seed: u64,
    /// The team's own metrics the run records (those its plan names).
    pub team_metrics: Vec<MetricIdentity>,
}

impl RunContext {
    /// Whether the time the run's clock stood still at a deadline is taken
    /// out of plan time ([`PlanClock`]): a planner's run does; one through
    /// SageMaker's API follows the API clock, which CloudWatch reads too.
    /// Both hold new requests while they are behind a deadline.
    fn takes_out_lost_time(&self) -> bool {
        matches!(self.alarms, AlarmSource::Own { .. })
    }
}

/// What someone asks of a running rollout.
pub(crate) enum Command {
    /// Roll back now, as an alarm would; the reply says whether it could.
    Abort {
        by: String,
        reply: oneshot::Sender<Result<(), AbortRefused>>,
    },
}

/// What background tasks tell the run.
enum Signal {
    Ready {
        fleet: Fleet,
        instances: Vec<(String, String)>,
    },
    LaunchFailed {
        fleet: Fleet,
        instance: String,
        reason: String,
    },
    GreenFailed {
        instance: String,
        reason: String,
    },
    /// A serving blue instance failed: reported, and no longer routed to.
    BlueFailed {
        instance: String,
        reason: String,
    },
    /// The replacement of a failed instance is serving in its place.
    Replaced {
        fleet: Fleet,
        instance: String,
        replacement: String,
        url: String,
    },
    /// The replacement of a failed instance could not start.
    ReplacementFailed {
        fleet: Fleet,
        replacement: String,
        reason: String,
    },
}

/// Appends the run's events in order. Sequence numbers count appended events
/// only, and after a failed append nothing more is written, so the record is
/// always 1, 2, 3… without a gap.
/// Who aborts a rollout whose record failed.
const STORE_ABORT: &str = "guardrail, because the run could no longer be recorded";

struct Driver {
    ctx: Arc<RunContext>,
    signals: mpsc::UnboundedSender<Signal>,
    phase: Option<Phase>,
    launched: u64,
    /// Launch tasks, with the fleet they launch.
    tasks: Vec<(Fleet, JoinHandle<()>)>,
    /// The last routing the session asked for: serving instances, green's share.
    routed: (Fleets, u32),
    /// Instances that failed their health checks: never routed to again.
    failed: std::collections::BTreeSet<String>,
    /// Replacements launched for failed instances; one that fails in turn is
    /// not replaced again (see the assumption `instance_replacement`).
    replacements: std::collections::BTreeSet<String>,
    /// Replacement launches in progress, ended with the run.
    replacing: Vec<JoinHandle<()>>,
}

impl Driver {
    fn new(ctx: Arc<RunContext>, signals: mpsc::UnboundedSender<Signal>) -> Driver {
        Driver {
            ctx,
            signals,
            phase: None,
            launched: 0,
            tasks: Vec::new(),
            routed: (Fleets::new(0, 0), 0),
            failed: Default::default(),
            replacements: Default::default(),
            replacing: Vec::new(),
        }
    }

    /// Records and carries out what the session decided, in order.
    async fn apply(
        &mut self,
        monitor: &Monitor,
        happened: Vec<Happening>,
        recorder: &mut Recorder,
    ) {
        for happening in happened {
            match happening {
                Happening::Alarm(judgement) => {
                    let transition = judgement.transition;
                    let condition = monitor
                        .rule(judgement.index)
                        .map(AlarmRule::condition)
                        .unwrap_or_default();
                    recorder.emit(
                        transition.at_ms,
                        EventKind::AlarmStateChanged {
                            alarm: transition.alarm,
                            condition,
                            from: transition.from,
                            to: transition.to,
                            reason: transition.reason,
                            points: judgement.points,
                        },
                    );
                }
                Happening::Effect { at_ms, effect } => self.effect(at_ms, &effect, recorder).await,
            }
        }
    }

    fn end_bake(&mut self, at_ms: u64, recorder: &mut Recorder) {
        if let Some(phase) = self.phase.take() {
            if phase.is_bake() {
                recorder.emit(at_ms, EventKind::BakeEnded { phase });
            }
        }
    }

    /// Carries out one effect first, then records it: a failed record never
    /// keeps traffic where it should not be.
    // Long: one match over the controller's effects, an arm per effect.
    async fn effect(&mut self, at_ms: u64, effect: &Effect, recorder: &mut Recorder) {
        match effect {
            Effect::PhaseStarted {
                phase,
                planned_seconds,
                ..
            } => {
                self.end_bake(at_ms, recorder);
                let kind = match phase {
                    Phase::Provisioning { instances } => EventKind::GreenProvisioning {
                        instances: *instances,
                    },
                    phase if phase.is_bake() => EventKind::BakeStarted {
                        phase: *phase,
                        planned_seconds: *planned_seconds,
                    },
                    phase => EventKind::PhaseStarted {
                        phase: *phase,
                        planned_seconds: *planned_seconds,
                    },
                };
                recorder.emit(at_ms, kind);
                self.phase = Some(*phase);
                let now = self.ctx.api_clock.now_ms();
                self.ctx
                    .endpoint
                    .lock()
                    .await
                    .phase_started(*phase, *planned_seconds, now);
            }
            Effect::LaunchGreen { instances } => self.launch(Fleet::Green, *instances),
            Effect::LaunchBlue { instances } => self.launch(Fleet::Blue, *instances),
            Effect::Route {
                serving,
                green_traffic_bp,
            } => {
                self.route(*serving, *green_traffic_bp).await;
                recorder.emit(
                    at_ms,
                    EventKind::TrafficShifted {
                        green_instances: serving.green,
                        blue_instances: serving.blue,
                        green_traffic_bp: *green_traffic_bp,
                    },
                );
            }
            Effect::TerminateBlue { instances } => {
                self.terminate(Fleet::Blue, *instances).await;
                recorder.emit(
                    at_ms,
                    EventKind::InstancesTerminated {
                        fleet: Fleet::Blue,
                        instances: *instances,
                    },
                );
            }
            Effect::TerminateGreen { instances } => {
                self.terminate(Fleet::Green, *instances).await;
                recorder.emit(
                    at_ms,
                    EventKind::InstancesTerminated {
                        fleet: Fleet::Green,
                        instances: *instances,
                    },
                );
            }
            Effect::RollbackStarted { phase, cause } => {
                if let RollbackCause::Timeout { timeout_seconds } = cause {
                    recorder.emit(
                        at_ms,
                        EventKind::TimedOut {
                            timeout_seconds: *timeout_seconds,
                        },
                    );
                }
                let now = self.ctx.api_clock.now_ms();
                self.ctx.endpoint.lock().await.rolling_back(cause, now);
                recorder.emit(
                    at_ms,
                    EventKind::RollbackStarted {
                        phase: *phase,
                        cause: cause.clone(),
                    },
                );
            }
            Effect::Finished { outcome } => {
                self.end_bake(at_ms, recorder);
                match outcome {
                    Outcome::Succeeded { .. } => {
                        self.promote().await;
                        recorder.emit(at_ms, EventKind::Succeeded);
                    }
                    Outcome::RolledBack { .. } => {
                        recorder.emit(at_ms, EventKind::RollbackCompleted)
                    }
                }
            }
        }
    }

    /// Points the router at the first `serving` instances of each fleet, less
    /// the blue ones that failed.
    async fn route(&mut self, serving: Fleets, green_bp: u32) {
        self.routed = (serving, green_bp);
        let mut state = self.ctx.endpoint.lock().await;
        let failed = &self.failed;
        let targets = |instances: &[Instance], count: u32, config: &str| {
            instances
                .iter()
                .take(count as usize)
                .filter(|instance| !failed.contains(&instance.id))
                .map(|instance| Target::new(&instance.id, &instance.url, config))
                .collect::<Vec<_>>()
        };
        self.ctx.router.set_routing(Routing {
            blue: targets(&state.blue, serving.blue, &self.ctx.from_config),
            green: targets(
                &state.green,
                serving.green,
                self.ctx.rollout.endpoint_config_name(),
            ),
            green_bp,
            // A planner's run holds its clock; one through the API does not.
            clock: Some(self.ctx.plan_clock.clone()),
        });
        state.traffic_shifted(serving, green_bp, self.ctx.api_clock.now_ms());
    }

    /// Launches instances in the background; they join the fleet once healthy.
    fn launch(&mut self, fleet: Fleet, count: u32) {
        let ctx = self.ctx.clone();
        let signals = self.signals.clone();
        let first = self.launched;
        self.launched += u64::from(count);
        let launched_at = self.ctx.plan_clock.now_ms();
        let model = match fleet {
            Fleet::Green => ctx.green_model.clone(),
            Fleet::Blue => ctx.blue_model.clone(),
        };
        self.tasks.push((
            fleet,
            tokio::spawn(async move {
                let mut ready = Vec::new();
                for offset in 0..u64::from(count) {
                    match launch_one(&ctx, &signals, &model, fleet, first + offset).await {
                        Some(launched) => ready.push(launched),
                        None => return,
                    }
                }
                // A launch takes at least its set time, as SageMaker's do.
                let done = ctx
                    .plan_clock
                    .instant_at(launched_at.saturating_add(ctx.min_launch_ms));
                tokio::time::sleep_until(done.into()).await;
                let _ = signals.send(Signal::Ready {
                    fleet,
                    instances: ready,
                });
            }),
        ));
    }

    async fn terminate(&mut self, fleet: Fleet, count: u32) {
        let mut state = self.ctx.endpoint.lock().await;
        let list = match fleet {
            Fleet::Blue => &mut state.blue,
            Fleet::Green => &mut state.green,
        };
        let keep = list.len().saturating_sub(count as usize);
        // Traffic has left them: what they hold is answered before they end.
        let leaving: Vec<Instance> = list.drain(keep..).collect();
        terminate_when_drained(self.ctx.router.clone(), leaving);
    }

    /// On success green becomes the endpoint's fleet and its config the current one.
    async fn promote(&mut self) {
        let mut state = self.ctx.endpoint.lock().await;
        let blue: Vec<Instance> = state.blue.drain(..).collect();
        let green: Vec<Instance> = state.green.drain(..).collect();
        state.blue = green;
        for instance in &mut state.blue {
            instance.fleet = Fleet::Blue;
        }
        state.config = self.ctx.rollout.endpoint_config_name().to_string();
        self.ctx
            .router
            .set_routing(Routing::blue_only(targets(&state.blue, &state.config)));
        terminate_when_drained(self.ctx.router.clone(), blue);
    }

    /// A serving instance failed its health checks. It is no longer routed
    /// to, and, as SageMaker replaces an unhealthy instance, a replacement is
    /// launched to serve in its place (the fleet serves one short until it
    /// does). A replacement that fails in turn is not replaced: a green one
    /// then rolls the update back (the returned input), a blue one is routed
    /// around. A green instance that fails before it serves is a failed
    /// launch, as before.
    async fn instance_failed(
        &mut self,
        now: u64,
        fleet: Fleet,
        instance: String,
        reason: String,
        recorder: &mut Recorder,
    ) -> Option<Input> {
        let routing = self.ctx.router.routing();
        let targets = match fleet {
            Fleet::Blue => &routing.blue,
            Fleet::Green => &routing.green,
        };
        let serving = targets.iter().any(|target| *target.instance == *instance);
        let replace = serving && !self.replacements.contains(&instance);
        if serving || fleet == Fleet::Blue {
            self.failed.insert(instance.clone());
            let (fleets, green_bp) = self.routed;
            self.route(fleets, green_bp).await;
        }
        let blame = match fleet {
            Fleet::Blue => ", and not counted against green",
            Fleet::Green => "",
        };
        let what = if replace {
            format!("{reason}; no longer routed to, and replaced{blame}")
        } else if fleet == Fleet::Blue {
            format!("{reason}; no longer routed to{blame}")
        } else {
            reason.clone()
        };
        recorder.emit(
            now,
            EventKind::InstanceFailed {
                fleet,
                instance: instance.clone(),
                reason: what,
            },
        );
        if replace {
            self.replace(fleet, instance).await;
            return None;
        }
        match fleet {
            Fleet::Blue => None,
            Fleet::Green => Some(Input::GreenFailed { reason }),
        }
    }

    /// Launches a replacement for `failed` of `fleet`; it takes the failed
    /// instance's place once healthy and its launch's set time has passed.
    async fn replace(&mut self, fleet: Fleet, failed: String) {
        let replacement = format!("{failed}-replacement");
        self.replacements.insert(replacement.clone());
        let ctx = self.ctx.clone();
        let signals = self.signals.clone();
        let model = match fleet {
            Fleet::Green => ctx.green_model.clone(),
            Fleet::Blue => ctx.blue_model.clone(),
        };
        let position = {
            let state = ctx.endpoint.lock().await;
            let list = match fleet {
                Fleet::Blue => &state.blue,
                Fleet::Green => &state.green,
            };
            list.iter()
                .position(|instance| instance.id == failed)
                .unwrap_or(0)
        };
        let launched_at = ctx.plan_clock.now_ms();
        self.replacing.push(tokio::spawn(async move {
            let seed = ctx.seed ^ 0x5EED_u64 ^ position as u64;
            let launched = match &model {
                Ok(model) => {
                    Instance::launch(model, position, replacement.clone(), fleet, seed).await
                }
                Err(reason) => Err(reason.clone()),
            };
            let started = match launched {
                Ok(instance) => {
                    let url = instance.url.clone();
                    wait_healthy(&ctx.client, &url, startup_patience(ctx.time_scale))
                        .await
                        .map(|()| (instance, url))
                }
                Err(reason) => Err(reason),
            };
            let (instance, url) = match started {
                Ok(started) => started,
                Err(reason) => {
                    let _ = signals.send(Signal::ReplacementFailed {
                        fleet,
                        replacement,
                        reason,
                    });
                    return;
                }
            };
            let done = ctx
                .plan_clock
                .instant_at(launched_at.saturating_add(ctx.min_launch_ms));
            tokio::time::sleep_until(done.into()).await;
            {
                let mut state = ctx.endpoint.lock().await;
                let list = match fleet {
                    Fleet::Blue => &mut state.blue,
                    Fleet::Green => &mut state.green,
                };
                match list.iter().position(|serving| serving.id == failed) {
                    // The failed instance gives up its place (it is stopped as
                    // it is dropped).
                    Some(position) => list[position] = instance,
                    // Its fleet was terminated meanwhile.
                    None => {
                        instance.terminate();
                        return;
                    }
                }
            }
            let _ = signals.send(Signal::Replaced {
                fleet,
                instance: failed,
                replacement,
                url,
            });
        }));
    }

    /// A replacement serves: routed to, and recorded.
    async fn replaced(
        &mut self,
        now: u64,
        fleet: Fleet,
        instance: String,
        replacement: String,
        url: String,
        recorder: &mut Recorder,
    ) {
        let (fleets, green_bp) = self.routed;
        self.route(fleets, green_bp).await;
        recorder.emit(
            now,
            EventKind::InstanceReplaced {
                fleet,
                instance,
                replacement,
                url,
            },
        );
    }

    /// Turns a signal from a background task into the session's input,
    /// recording what happened; `Err` when the run cannot go on.
    fn input_for(
        &self,
        now: u64,
        signal: Signal,
        recorder: &mut Recorder,
    ) -> Result<Input, String> {
        match signal {
            Signal::Ready { fleet, instances } => {
                for (instance, url) in instances {
                    recorder.emit(
                        now,
                        EventKind::InstanceHealthy {
                            fleet,
                            instance,
                            url,
                        },
                    );
                }
                Ok(match fleet {
                    Fleet::Green => Input::GreenReady,
                    Fleet::Blue => Input::BlueReady,
                })
            }
            Signal::LaunchFailed {
                fleet,
                instance,
                reason,
            } => {
                recorder.emit(
                    now,
                    EventKind::InstanceFailed {
                        fleet,
                        instance: instance.clone(),
                        reason: reason.clone(),
                    },
                );
                match fleet {
                    // SageMaker's UpdateRollbackFailed.
                    Fleet::Blue => Err(format!(
                        "blue instance {instance} could not be restored during the rollback ({reason}); \
                         the endpoint may serve a mix of old and new instances (UpdateRollbackFailed)"
                    )),
                    Fleet::Green => Ok(Input::GreenFailed {
                        reason: format!("{instance} could not start: {reason}"),
                    }),
                }
            }
            Signal::BlueFailed { instance, .. }
            | Signal::GreenFailed { instance, .. }
            | Signal::Replaced { instance, .. } => Err(format!(
                "instance {instance}'s health was not handled as such"
            )),
            Signal::ReplacementFailed {
                fleet,
                replacement,
                reason,
            } => {
                recorder.emit(
                    now,
                    EventKind::InstanceFailed {
                        fleet,
                        instance: replacement.clone(),
                        reason: format!("the replacement could not start: {reason}"),
                    },
                );
                match fleet {
                    Fleet::Green => Ok(Input::GreenFailed {
                        reason: format!("replacement {replacement} could not start: {reason}"),
                    }),
                    // `listen` records a blue one: blue serves one short.
                    Fleet::Blue => Err(format!(
                        "blue replacement {replacement}'s failure was not handled as such"
                    )),
                }
            }
        }
    }
}

/// How an instance failed a health check.
enum Unhealthy {
    /// Its process stopped: unhealthy at once.
    Stopped,
    /// `/ping` failed or did not answer in time: unhealthy after
    /// `UNHEALTHY_AFTER_FAILED_PINGS` in a row.
    Ping(String),
}

/// Health checks of the update's instances (see the assumption
/// `in_service_health`): every green instance is watched for a stop, and every
/// instance the router sends to is pinged, on the run's clock with real-time
/// floors. The first failure of each is reported once.
fn watch_health(ctx: Arc<RunContext>, signals: mpsc::UnboundedSender<Signal>) -> JoinHandle<()> {
    use guardrail_core::assumptions::{
        PING_INTERVAL_SECONDS, PING_TIMEOUT_SECONDS, UNHEALTHY_AFTER_FAILED_PINGS,
    };
    tokio::spawn(async move {
        let scale = ctx.plan_clock.scale();
        let interval = Duration::from_secs_f64((PING_INTERVAL_SECONDS / scale).max(0.025));
        let patience = Duration::from_secs_f64((PING_TIMEOUT_SECONDS / scale).max(0.25));
        let mut reported = std::collections::BTreeSet::new();
        let mut failures: std::collections::HashMap<String, u32> = Default::default();
        loop {
            tokio::time::sleep(interval).await;
            let (mut checks, green_serving) = health_checks(&ctx).await;
            checks.retain(|(_, id, _, _)| !reported.contains(id));
            let results =
                futures::future::join_all(checks.into_iter().map(|(fleet, id, url, running)| {
                    let client = ctx.client.clone();
                    // Green is pinged once it serves; before, only its process is watched.
                    let pinged = fleet == Fleet::Blue || green_serving.contains(&id);
                    async move {
                        let health = health_of(&client, &url, running, pinged, patience).await;
                        (fleet, id, url, health)
                    }
                }))
                .await;
            for (fleet, id, url, health) in results {
                let reason = match health {
                    Ok(()) => {
                        failures.remove(&id);
                        continue;
                    }
                    Err(Unhealthy::Stopped) => format!("instance {id} at {url} stopped"),
                    Err(Unhealthy::Ping(reason)) => {
                        let count = failures.entry(id.clone()).or_default();
                        *count += 1;
                        if *count < UNHEALTHY_AFTER_FAILED_PINGS {
                            continue;
                        }
                        format!("instance {id} at {url} failed {count} health checks in a row: {reason}")
                    }
                };
                reported.insert(id.clone());
                let _ = signals.send(match fleet {
                    Fleet::Green => Signal::GreenFailed {
                        instance: id,
                        reason,
                    },
                    Fleet::Blue => Signal::BlueFailed {
                        instance: id,
                        reason,
                    },
                });
            }
        }
    })
}

/// What to check: green's instances, launched or serving, and blue's that
/// serve, each `(fleet, id, url, running)`; and the ids green serves from.
async fn health_checks(ctx: &RunContext) -> (Vec<(Fleet, String, String, bool)>, Vec<String>) {
    let mut checks: Vec<(Fleet, String, String, bool)> = Vec::new();
    {
        let mut state = ctx.endpoint.lock().await;
        for instance in &mut state.green {
            let running = instance.is_running();
            checks.push((
                Fleet::Green,
                instance.id.clone(),
                instance.url.clone(),
                running,
            ));
        }
    }
    let routing = ctx.router.routing();
    let serving = |targets: &[Target]| -> Vec<String> {
        targets
            .iter()
            .map(|target| target.instance.to_string())
            .collect()
    };
    let (green_serving, blue_serving) = (serving(&routing.green), serving(&routing.blue));
    {
        let mut state = ctx.endpoint.lock().await;
        for instance in &mut state.blue {
            if blue_serving.contains(&instance.id) {
                let running = instance.is_running();
                checks.push((
                    Fleet::Blue,
                    instance.id.clone(),
                    instance.url.clone(),
                    running,
                ));
            }
        }
    }
    (checks, green_serving)
}

/// One instance's health: stopped, or (if `pinged`) whether `/ping` at `url`
/// answers with a success within `patience`.
async fn health_of(
    client: &reqwest::Client,
    url: &str,
    running: bool,
    pinged: bool,
    patience: Duration,
) -> Result<(), Unhealthy> {
    if !running {
        return Err(Unhealthy::Stopped);
    }
    if !pinged {
        return Ok(());
    }
    match tokio::time::timeout(patience, client.get(format!("{url}/ping")).send()).await {
        Ok(Ok(response)) if response.status().is_success() => Ok(()),
        Ok(Ok(response)) => Err(Unhealthy::Ping(format!(
            "/ping answered {}",
            response.status()
        ))),
        Ok(Err(_)) => Err(Unhealthy::Ping("/ping could not connect".into())),
        Err(_) => Err(Unhealthy::Ping(format!(
            "/ping did not answer within {} ms",
            patience.as_millis()
        ))),
    }
}

/// The value of one metric of an alarm over one period: SageMaker's from
/// the router's live metrics (periods before the update are missing: the
/// engine's metrics start with it), the team's from what it published to the
/// local CloudWatch over the same real time.
fn datapoint(ctx: &RunContext, team: &TeamView, ask: &Ask, serving: Fleets) -> Option<f64> {
    let query = ask.query;
    let (start, end) = ask.window_ms()?;
    let samples = match query.scope {
        // As recorded: a re-judgement reads the same.
        Scope::Team => team.samples(&query.identity, start, end)?,
        _ => {
            let (start, end) = datapoint_window_ms(start as i64, (end - start) as i64, false)?;
            ctx.router.metrics.samples(
                query.metric?,
                query.scope,
                u64::try_from(start).ok()?,
                u64::try_from(end).ok()?,
                serving,
            )?
        }
    };
    query.datapoint(&samples, ask.rule.low_sample_count)
}

/// The run's loop state: the session, its driver and recorder, the metric
/// clock, and what it has heard from CloudWatch but not yet handled.
struct Running {
    ctx: Arc<RunContext>,
    clock: PlanClock,
    session: Session,
    driver: Driver,
    recorder: Recorder,
    tick_ms: u64,
    next_metric_ms: u64,
    /// The latest plan time the session has been given.
    handled_ms: u64,
    /// CloudWatch's news of the run's alarms, and the subscription.
    feed: Option<(u64, mpsc::UnboundedReceiver<AlarmNews>)>,
    heard: VecDeque<AlarmNews>,
    /// What the team publishes of the metrics the run records.
    team: TeamRecorder,
    /// The canary judge, when the run has one.
    judge: Option<Watch>,
}

/// What the canary judge publishes after a look, at `at_api_ms`
/// ([`guardrail_core::judge::published_values`]), each with the dimensions
/// `EndpointName` and `EndpointConfigName` (green's config).
pub(crate) fn judge_data(
    judgement: &Judgement,
    endpoint: &str,
    green_config: &str,
    at_api_ms: u64,
    high_resolution: bool,
) -> Vec<Datum> {
    let score = guardrail_core::judge::score_metric(endpoint, green_config);
    let datum = |metric_name: String, value: f64| Datum {
        identity: MetricIdentity {
            metric_name,
            ..score.clone()
        },
        at_ms: at_api_ms,
        high_resolution,
        unit: None,
        data: DatumData::Values(vec![(value, 1.0)]),
    };
    guardrail_core::judge::published_values(judgement)
        .into_iter()
        .map(|(name, value)| datum(name, value))
        .collect()
}

impl Running {
    /// What the team has published for the ticks in reach of the run's
    /// alarms, read from the local CloudWatch at `at` (a tick's end), where
    /// it changed since last recorded.
    fn record_team(&mut self, at: u64) -> Vec<TeamTick> {
        let cloudwatch = self.ctx.alarms.cloudwatch();
        let ctx = &self.ctx;
        let tick_ms = self.tick_ms;
        let api_ms = |plan_ms: u64| ctx.api_clock.ms_at(ctx.plan_clock.instant_at(plan_ms));
        self.team.tick(at, |metric, starts| {
            let edges: Vec<u64> = starts
                .iter()
                .map(|start| api_ms(*start))
                .chain(starts.last().map(|start| api_ms(start + tick_ms)))
                .collect();
            cloudwatch.custom().aggregates(metric, &edges)
        })
    }
    /// Publishes the judge's look at plan time `at` to the local CloudWatch,
    /// where an alarm on `CanaryScore` reads it like any published metric.
    fn publish(&self, at: u64, judgement: &Judgement) {
        let ctx = &self.ctx;
        let at_api_ms = ctx.api_clock.ms_at(ctx.plan_clock.instant_at(at));
        let high_resolution = self.judge_period_ms() < 60_000;
        let data = judge_data(
            judgement,
            ctx.rollout.endpoint_name(),
            ctx.rollout.endpoint_config_name(),
            at_api_ms,
            high_resolution,
        );
        if let Err(error) = ctx.alarms.cloudwatch().put_metric_data(&data) {
            tracing::warn!(run = %ctx.run_id, %error, "the canary judge's score was not published");
        }
    }

    fn judge_period_ms(&self) -> u64 {
        self.ctx
            .rollout
            .judge()
            .map_or(60_000, |spec| u64::from(spec.period_seconds) * 1_000)
    }

    /// Everything due by `now`, each at its own time: CloudWatch's alarm
    /// changes up to that time, then metric periods, then the session (alarms,
    /// then the controller).
    async fn catch_up(&mut self, mut now: u64) {
        loop {
            let due = self.next_due().filter(|at| *at <= now);
            if let Some(at) = due {
                // What arrived by then is answered before anything reads it.
                let bound = self.clock.instant_at(at);
                self.ctx.router.metrics.settle(bound, SETTLE_LIMIT).await;
            }
            self.hear_alarms(due.unwrap_or(now)).await;
            if self.session.outcome().is_some() {
                return;
            }
            let Some(at) = due else { return };
            self.handled_ms = self.handled_ms.max(at);
            if self.next_metric_ms == at {
                let [blue, green] = self.ctx.router.metrics.window(at - self.tick_ms, at);
                let team = self.record_team(at);
                // At each of its periods' end the judge publishes its score,
                // looking again when both fleets served: a verdict stands
                // once green has all traffic, so an alarm on it never reads
                // missing data while the run lasts.
                let mut judged = None;
                if let Some(watch) = &mut self.judge {
                    let looked = watch.tick(at, &green, &blue);
                    let publish = watch.period_ended(at) && watch.judge().score().is_some();
                    if looked || publish {
                        judged = Some((looked, publish, watch.judge().judgement()));
                    }
                }
                self.recorder.emit(
                    at,
                    EventKind::MetricPeriod {
                        start_ms: at - self.tick_ms,
                        end_ms: at,
                        blue: blue.summary(),
                        green: green.summary(),
                        ticks: Some(Box::new([blue, green])),
                        team,
                    },
                );
                if let Some((looked, publish, judgement)) = judged {
                    if publish {
                        self.publish(at, &judgement);
                    }
                    if looked {
                        self.recorder.emit(
                            at,
                            EventKind::CanaryJudged {
                                judgement: Box::new(judgement),
                            },
                        );
                    }
                }
                self.next_metric_ms += self.tick_ms;
            }
            if self.session.next_due() == Some(at) {
                let serving = self.session.serving();
                let ctx = self.ctx.clone();
                let team = self.team.view();
                let happened = self
                    .session
                    .handle_due(at, |ask| datapoint(&ctx, team, ask, serving));
                self.driver
                    .apply(self.session.monitor(), happened, &mut self.recorder)
                    .await;
            }
            if self.session.outcome().is_some() {
                return;
            }
            if self.ctx.takes_out_lost_time() {
                // Plan time goes on from `at`: what else was due by `now` is
                // no longer due, and is handled on time.
                self.clock.caught_up_to(at);
                now = now.min(self.clock.now_ms());
            }
            if let Some(next) = self.next_due() {
                self.clock.hold_at(next);
            }
        }
    }

    /// The next deadline: the session's, or the next metric period's end.
    fn next_due(&self) -> Option<u64> {
        [self.session.next_due(), Some(self.next_metric_ms)]
            .into_iter()
            .flatten()
            .min()
    }

    /// Has CloudWatch evaluate everything due by plan time `until`, and hands
    /// the session every change of the run's alarms up to then, in order.
    async fn hear_alarms(&mut self, until: u64) {
        let ctx = self.ctx.clone();
        let AlarmSource::CloudWatch {
            cloudwatch,
            metrics,
        } = &ctx.alarms
        else {
            return;
        };
        let limit = self.ctx.started_api_ms.saturating_add(until);
        cloudwatch.advance_to(limit.min(self.ctx.api_clock.now_ms()), metrics.as_ref());
        if let Some((_, feed)) = self.feed.as_mut() {
            while let Ok(news) = feed.try_recv() {
                self.heard.push_back(news);
            }
        }
        while self
            .heard
            .front()
            .is_some_and(|news| news.transition.at_ms <= limit)
        {
            let Some(first) = self.heard.pop_front() else {
                break;
            };
            let at_api = first.transition.at_ms;
            let mut together = vec![first];
            while self
                .heard
                .front()
                .is_some_and(|news| news.transition.at_ms == at_api)
            {
                together.extend(self.heard.pop_front());
            }
            let at = at_api
                .saturating_sub(self.ctx.started_api_ms)
                .max(self.handled_ms);
            self.handle_news(at, together).await;
            if self.session.outcome().is_some() {
                return;
            }
        }
    }

    /// Records CloudWatch's changes at plan time `at` and lets the controller
    /// act on them.
    async fn handle_news(&mut self, at: u64, news: Vec<AlarmNews>) {
        let started_ms = i64::try_from(self.ctx.started_api_ms).unwrap_or(i64::MAX);
        let mut transitions = Vec::new();
        for item in news {
            let points = item
                .points
                .into_iter()
                .map(|mut point| {
                    point.period_start_seconds = point
                        .period_start_seconds
                        .saturating_mul(1_000)
                        .saturating_sub(started_ms)
                        .div_euclid(1_000);
                    point
                })
                .collect();
            let transition = AlarmTransition {
                at_ms: at,
                ..item.transition
            };
            self.recorder.emit(
                at,
                EventKind::AlarmStateChanged {
                    alarm: transition.alarm.clone(),
                    condition: item.condition,
                    from: transition.from,
                    to: transition.to,
                    reason: transition.reason.clone(),
                    points,
                },
            );
            transitions.push(transition);
        }
        self.handled_ms = self.handled_ms.max(at);
        let happened = self.session.handle_alarms(at, &transitions);
        self.driver
            .apply(self.session.monitor(), happened, &mut self.recorder)
            .await;
    }

    /// Runs the session until it has an outcome, or until the run cannot go on
    /// (then the reason: blue could not be restored during a rollback,
    /// SageMaker's UpdateRollbackFailed).
    async fn drive(
        &mut self,
        commands: &mut mpsc::UnboundedReceiver<Command>,
        inbox: &mut mpsc::UnboundedReceiver<Signal>,
    ) -> Option<String> {
        let mut aborted_for_store = false;
        let mut commands_open = true;
        while self.session.outcome().is_none() {
            if self.recorder.failure.is_some() && !aborted_for_store {
                aborted_for_store = true;
                if self.session.abortable().is_ok() {
                    let now = self.clock.now_ms();
                    let by = STORE_ABORT.to_string();
                    self.handle(now, Input::Abort { by }).await;
                }
                continue;
            }
            let due = self.next_due().unwrap_or(self.next_metric_ms);
            self.clock.hold_at(due);
            let mut arrived = None;
            let mut command = None;
            let mut heard = None;
            let wake = self.clock.instant_at(due);
            let feed = self.feed.as_mut().map(|(_, feed)| feed);
            let listening = feed.is_some();
            let news = async {
                match feed {
                    Some(feed) => feed.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = tokio::time::sleep_until(wake.into()) => {}
                signal = inbox.recv() => arrived = signal,
                received = commands.recv(), if commands_open => match received {
                    Some(received) => command = Some(received),
                    None => commands_open = false,
                },
                news = news, if listening => heard = Some(news),
            }
            match heard {
                Some(Some(news)) => self.heard.push_back(news),
                Some(None) => self.feed = None,
                None => {}
            }
            let now = self.clock.now_ms();
            self.catch_up(now).await;
            if let Some(signal) = arrived.filter(|_| self.session.outcome().is_none()) {
                if let Some(reason) = self.on_signal(now, signal).await {
                    return Some(reason);
                }
            }
            if let Some(Command::Abort { by, reply }) = command {
                let answer = self.session.abortable();
                if answer.is_ok() {
                    self.handle(now, Input::Abort { by }).await;
                }
                let _ = reply.send(answer);
            }
        }
        None
    }

    /// Acts on what a watcher reported; `Some(reason)` if the run cannot go on.
    async fn on_signal(&mut self, now: u64, signal: Signal) -> Option<String> {
        match signal {
            Signal::BlueFailed { instance, reason } => {
                self.driver
                    .instance_failed(now, Fleet::Blue, instance, reason, &mut self.recorder)
                    .await;
            }
            Signal::GreenFailed { instance, reason } => {
                let failed = self
                    .driver
                    .instance_failed(now, Fleet::Green, instance, reason, &mut self.recorder)
                    .await;
                if let Some(input) = failed {
                    self.handle(now, input).await;
                }
            }
            Signal::Replaced {
                fleet,
                instance,
                replacement,
                url,
            } => {
                self.driver
                    .replaced(now, fleet, instance, replacement, url, &mut self.recorder)
                    .await;
            }
            Signal::ReplacementFailed {
                fleet: Fleet::Blue,
                replacement,
                reason,
            } => {
                self.recorder.emit(
                    now,
                    EventKind::InstanceFailed {
                        fleet: Fleet::Blue,
                        instance: replacement,
                        reason: format!(
                        "the replacement could not start: {reason}; blue serves one instance short"
                    ),
                    },
                );
            }
            signal => match self.driver.input_for(now, signal, &mut self.recorder) {
                Ok(input) => self.handle(now, input).await,
                Err(reason) => return Some(reason),
            },
        }
        None
    }

    async fn handle(&mut self, now: u64, input: Input) {
        let now = now.max(self.handled_ms);
        self.handled_ms = now;
        let happened = self.session.handle(now, input);
        self.driver
            .apply(self.session.monitor(), happened, &mut self.recorder)
            .await;
    }

    /// Starts listening to CloudWatch for the run's alarms and tells the session
    /// the state each is in now, as SageMaker reads them when an update starts.
    async fn listen(&mut self) {
        let ctx = self.ctx.clone();
        let AlarmSource::CloudWatch { cloudwatch, .. } = &ctx.alarms else {
            return;
        };
        let names: Vec<String> = self
            .ctx
            .rollout
            .alarms()
            .iter()
            .map(|rule| rule.name.clone())
            .collect();
        let (id, feed, states) = cloudwatch.subscribe(&names);
        self.feed = Some((id, feed));
        let news: Vec<AlarmNews> = states
            .into_iter()
            .filter(|(_, state)| *state != AlarmState::InsufficientData)
            .map(|(alarm, state)| AlarmNews {
                transition: AlarmTransition {
                    at_ms: self.ctx.started_api_ms,
                    alarm,
                    from: AlarmState::InsufficientData,
                    to: state,
                    reason: "its state when the update started".into(),
                },
                condition: String::new(),
                points: Vec::new(),
            })
            .collect();
        if !news.is_empty() {
            self.handle_news(0, news).await;
        }
    }

    fn stop_listening(&mut self) {
        if let (AlarmSource::CloudWatch { cloudwatch, .. }, Some((id, _))) =
            (&self.ctx.alarms, self.feed.take())
        {
            cloudwatch.unsubscribe(id);
        }
    }
}

/// Launches instance `number` of `fleet` and waits until it answers:
/// `(name, url)` once it does; `None` if it did not (a failed launch, or a
/// blue one never healthy, is signalled as `LaunchFailed`).
async fn launch_one(
    ctx: &RunContext,
    signals: &mpsc::UnboundedSender<Signal>,
    model: &Result<ModelDefinition, String>,
    fleet: Fleet,
    number: u64,
) -> Option<(String, String)> {
    let name = match fleet {
        Fleet::Green => format!("green-{}", number + 1),
        Fleet::Blue => format!("blue-restore-{}", number + 1),
    };
    let launched = match model {
        Ok(model) => {
            Instance::launch(
                model,
                number as usize,
                name.clone(),
                fleet,
                ctx.seed ^ number,
            )
            .await
        }
        Err(reason) => Err(reason.clone()),
    };
    let instance = match launched {
        Ok(instance) => instance,
        Err(reason) => {
            let _ = signals.send(Signal::LaunchFailed {
                fleet,
                instance: name,
                reason,
            });
            return None;
        }
    };
    let url = instance.url.clone();
    {
        let mut state = ctx.endpoint.lock().await;
        match fleet {
            Fleet::Green => state.green.push(instance),
            Fleet::Blue => state.blue.push(instance),
        }
    }
    // A green instance that never answers keeps the run waiting; the
    // execution timeout then rolls back, as on SageMaker. A blue one
    // (a rollback restoring capacity) fails the run.
    if let Err(reason) = wait_healthy(&ctx.client, &url, startup_patience(ctx.time_scale)).await {
        if fleet == Fleet::Blue {
            let _ = signals.send(Signal::LaunchFailed {
                fleet,
                instance: name,
                reason,
            });
        }
        return None;
    }
    Some((name, url))
}

/// The run's first event: what it updates, how, and at what time scale.
fn plan_accepted(ctx: &RunContext, schedule: &Schedule) -> EventKind {
    EventKind::PlanAccepted {
        endpoint: ctx.rollout.endpoint_name().to_string(),
        from_config: ctx.from_config.clone(),
        to_config: ctx.rollout.endpoint_config_name().to_string(),
        mode: ctx.rollout.strategy().label().to_string(),
        time_scale: ctx.time_scale,
        planned_total_seconds: schedule.total_seconds,
        timeout_seconds: schedule.timeout_seconds,
        backend: "local".into(),
    }
}

/// Runs the rollout to its end and returns how it ended, with the controller's
/// outcome when it reached one.
pub(crate) async fn execute(
    ctx: RunContext,
    mut commands: mpsc::UnboundedReceiver<Command>,
) -> (RunOutcome, Option<Outcome>) {
    let ctx = Arc::new(ctx);
    let schedule = schedule(&ctx.rollout);
    let clock = ctx.plan_clock.clone();
    let mut recorder = Recorder::new(ctx.store.clone(), &ctx.run_id);
    recorder.emit(0, plan_accepted(&ctx, &schedule));
    let tick_ms = u64::from(ctx.rollout.metric_tick_seconds()) * 1_000;
    ctx.router.metrics.begin(clock.clone(), tick_ms);
    let (signals, mut inbox) = mpsc::unbounded_channel();
    let watcher = watch_health(ctx.clone(), signals.clone());
    let session = match ctx.alarms {
        AlarmSource::Own { .. } => Session::new(&ctx.rollout, schedule),
        AlarmSource::CloudWatch { .. } => Session::judged_elsewhere(&ctx.rollout, schedule),
    };
    let mut running = Running {
        ctx: ctx.clone(),
        clock,
        session,
        driver: Driver::new(ctx.clone(), signals),
        recorder,
        tick_ms,
        next_metric_ms: tick_ms,
        handled_ms: 0,
        feed: None,
        heard: VecDeque::new(),
        team: TeamRecorder::new(
            ctx.team_metrics.clone(),
            tick_ms,
            team_reach_ms(ctx.rollout.alarms(), tick_ms),
        ),
        judge: ctx.rollout.judge().map(Watch::new),
    };
    let started = running.session.start(0);
    running
        .driver
        .apply(running.session.monitor(), started, &mut running.recorder)
        .await;
    running.listen().await;
    let failure = running.drive(&mut commands, &mut inbox).await;
    running.clock.hold_at(u64::MAX);
    running.stop_listening();
    watcher.abort();
    let Running {
        session,
        mut driver,
        mut recorder,
        clock,
        ..
    } = running;
    settle(
        &ctx,
        &session,
        &mut driver,
        &mut recorder,
        &mut inbox,
        &clock,
    )
    .await;
    ctx.router.metrics.end();
    let outcome = finish(&ctx, &session, failure, &mut recorder, &clock);
    (outcome, session.outcome().cloned())
}

/// The team's own metrics a run records: every one its rollback alarms read,
/// then the others its plan names (alarms and what-if), up to
/// [`MAX_RECORDED_TEAM_METRICS`] in all.
pub(crate) fn team_metrics_recorded(plan: &Plan, rollout: &Rollout) -> Vec<MetricIdentity> {
    let mut metrics: Vec<MetricIdentity> = Vec::new();
    let read = rollout
        .alarms()
        .iter()
        .flat_map(|rule| rule.queries())
        .filter(|query| query.scope == Scope::Team)
        .map(|query| query.identity.clone());
    for metric in read.chain(plan.team_metrics_named(MAX_RECORDED_TEAM_METRICS)) {
        if !metrics.iter().any(|known| known.same_as(&metric))
            && (metrics.len() < MAX_RECORDED_TEAM_METRICS
                || rollout.alarms().iter().any(|rule| {
                    rule.queries()
                        .iter()
                        .any(|query| query.identity.same_as(&metric))
                }))
        {
            metrics.push(metric);
        }
    }
    metrics
}

/// After the controller has finished: lets a rollback's blue launches complete,
/// records the instances that came back, stops green and routes to blue.
async fn settle(
    ctx: &RunContext,
    session: &Session,
    driver: &mut Driver,
    recorder: &mut Recorder,
    inbox: &mut mpsc::UnboundedReceiver<Signal>,
    clock: &PlanClock,
) {
    for replacing in driver.replacing.drain(..) {
        replacing.abort();
    }
    let mut restored = false;
    // A blue launch waits for its instances' start-up patience (the
    // assumption `startup_patience`), and a little more for the launch.
    let patience = startup_patience(ctx.time_scale) + Duration::from_secs(1);
    for (fleet, task) in driver.tasks.drain(..) {
        if fleet == Fleet::Blue && !task.is_finished() {
            let _ = tokio::time::timeout(patience, task).await;
            restored = true;
        } else {
            restored |= fleet == Fleet::Blue;
            task.abort();
        }
    }
    while let Ok(signal) = inbox.try_recv() {
        if let Signal::Ready {
            fleet: Fleet::Blue,
            instances,
        } = signal
        {
            for (instance, url) in instances {
                recorder.emit(
                    clock.now_ms(),
                    EventKind::InstanceHealthy {
                        fleet: Fleet::Blue,
                        instance,
                        url,
                    },
                );
            }
        }
    }
    let mut state = ctx.endpoint.lock().await;
    let green: Vec<Instance> = state.green.drain(..).collect();
    terminate_when_drained(ctx.router.clone(), green);
    if restored && !matches!(session.outcome(), Some(Outcome::Succeeded { .. })) {
        ctx.router
            .set_routing(Routing::blue_only(targets(&state.blue, &ctx.from_config)));
    }
}

/// Records how the run ended, or, when its record failed, ends its live
/// stream with the reason.
fn finish(
    ctx: &RunContext,
    session: &Session,
    failure: Option<String>,
    recorder: &mut Recorder,
    clock: &PlanClock,
) -> RunOutcome {
    let at = clock.now_ms();
    let outcome = match (failure, session.outcome()) {
        (Some(reason), _) => {
            recorder.emit(
                at,
                EventKind::Failed {
                    reason: reason.clone(),
                },
            );
            RunOutcome::Failed { reason }
        }
        (None, Some(outcome)) => RunOutcome::from_outcome(outcome),
        (None, None) => RunOutcome::Failed {
            reason: "the run stopped without an outcome".into(),
        },
    };
    recorder.emit(
        at,
        EventKind::Finished {
            outcome: outcome.clone(),
        },
    );
    let Some(store) = &recorder.failure else {
        return outcome;
    };
    // The record is incomplete, so the run failed, whatever the endpoint did.
    let state = match session.outcome() {
        Some(Outcome::Succeeded { .. }) => "the update had completed and the new config serves",
        Some(Outcome::RolledBack { .. }) => "traffic is back on blue",
        None => "the rollout could not finish",
    };
    let reason = format!("{store}; guardrail stopped the run and its record: {state}");
    ctx.store.abandon(&ctx.run_id, &reason, wall_ms());
    RunOutcome::Failed { reason }
}
