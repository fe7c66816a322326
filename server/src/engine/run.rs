//! One rollout on the local engine: the core's controller, driven by a plan
//! clock, live alarm evaluations and instance health, with its effects carried
//! out on real instances and every event recorded.
//!
//! Timers are handled in plan-time order at their due time even when the task
//! wakes late, so alarm verdicts and phase ends happen in the order the plan
//! says, whatever the machine's scheduling jitter.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use guardrail_core::alarm::{evaluate_at, AlarmRule, AlarmState};
use guardrail_core::controller::{Controller, Decision, Effect, Input, Outcome, RollbackCause};
use guardrail_core::event::{Event, EventKind, Fleet, RunOutcome};
use guardrail_core::rollout::Rollout;
use guardrail_core::schedule::{schedule, Phase};
use tokio::sync::{mpsc, Mutex};
use tokio::task::JoinHandle;

use crate::engine::fleet::{wait_healthy, Instance};
use crate::engine::metrics::PlanClock;
use crate::engine::registry::ModelDefinition;
use crate::engine::router::{EndpointRouter, Routing, Target};
use crate::engine::EndpointState;
use crate::store::Store;

/// Everything a run needs.
pub(crate) struct RunContext {
    pub run_id: String,
    pub rollout: Rollout,
    pub time_scale: f64,
    pub from_config: String,
    pub green_model: ModelDefinition,
    pub blue_model: ModelDefinition,
    pub endpoint: Arc<Mutex<EndpointState>>,
    pub router: Arc<EndpointRouter>,
    pub store: Store,
    pub client: reqwest::Client,
    pub seed: u64,
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
}

struct Recorder {
    store: Store,
    run_id: String,
    seq: u64,
    last_at_ms: u64,
}

impl Recorder {
    fn emit(&mut self, at_ms: u64, kind: EventKind) {
        self.seq += 1;
        self.last_at_ms = self.last_at_ms.max(at_ms);
        let event = Event {
            run_id: self.run_id.clone(),
            seq: self.seq,
            at_ms: self.last_at_ms,
            wall_ms: wall_ms(),
            kind,
        };
        if let Err(error) = self.store.append(&event) {
            tracing::error!(run = %self.run_id, "cannot record an event: {error}");
        }
    }
}

pub(crate) fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|duration| duration.as_millis() as u64)
        .unwrap_or(0)
}

struct AlarmTracker {
    rule: AlarmRule,
    state: AlarmState,
    next_ms: u64,
}

/// How long to wait for instances to become healthy, in real time.
const HEALTH_PATIENCE: Duration = Duration::from_secs(300);

struct Driver {
    ctx: Arc<RunContext>,
    signals: mpsc::UnboundedSender<Signal>,
    phase: Option<Phase>,
    launched: u64,
    /// Launch tasks, with the fleet they launch.
    tasks: Vec<(Fleet, JoinHandle<()>)>,
}

impl Driver {
    async fn apply(&mut self, at_ms: u64, decision: &Decision, recorder: &mut Recorder) {
        for effect in &decision.effects {
            self.effect(at_ms, effect, recorder).await;
        }
    }

    fn end_bake(&mut self, at_ms: u64, recorder: &mut Recorder) {
        if let Some(phase) = self.phase.take() {
            if phase.is_bake() {
                recorder.emit(at_ms, EventKind::BakeEnded { phase });
            }
        }
    }

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
            }
            Effect::LaunchGreen { instances } => self.launch(Fleet::Green, *instances),
            Effect::LaunchBlue { instances } => self.launch(Fleet::Blue, *instances),
            Effect::Route {
                green_instances,
                blue_instances,
                green_traffic_bp,
            } => {
                let state = self.ctx.endpoint.lock().await;
                let targets = |instances: &[Instance], count: u32| {
                    instances
                        .iter()
                        .take(count as usize)
                        .map(|instance| Target::new(&instance.id, &instance.url))
                        .collect::<Vec<_>>()
                };
                self.ctx.router.set_routing(Routing {
                    blue: targets(&state.blue, *blue_instances),
                    green: targets(&state.green, *green_instances),
                    green_bp: *green_traffic_bp,
                });
                drop(state);
                recorder.emit(
                    at_ms,
                    EventKind::TrafficShifted {
                        green_instances: *green_instances,
                        blue_instances: *blue_instances,
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

    /// Launches instances in the background; they join the fleet once healthy.
    fn launch(&mut self, fleet: Fleet, count: u32) {
        let ctx = self.ctx.clone();
        let signals = self.signals.clone();
        let first = self.launched;
        self.launched += u64::from(count);
        let model = match fleet {
            Fleet::Green => ctx.green_model.clone(),
            Fleet::Blue => ctx.blue_model.clone(),
        };
        self.tasks.push((
            fleet,
            tokio::spawn(async move {
                let mut ready = Vec::new();
                for offset in 0..u64::from(count) {
                    let number = first + offset;
                    let name = match fleet {
                        Fleet::Green => format!("green-{}", number + 1),
                        Fleet::Blue => format!("blue-restore-{}", number + 1),
                    };
                    let instance = match Instance::launch(
                        &model,
                        number as usize,
                        name.clone(),
                        fleet,
                        ctx.seed ^ number,
                    )
                    .await
                    {
                        Ok(instance) => instance,
                        Err(reason) => {
                            let _ = signals.send(Signal::LaunchFailed {
                                fleet,
                                instance: name,
                                reason,
                            });
                            return;
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
                    // (a rolling rollback restoring capacity) fails the run.
                    if let Err(reason) = wait_healthy(&ctx.client, &url, HEALTH_PATIENCE).await {
                        if fleet == Fleet::Blue {
                            let _ = signals.send(Signal::LaunchFailed {
                                fleet,
                                instance: name,
                                reason,
                            });
                        }
                        return;
                    }
                    ready.push((name, url));
                }
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
        for mut instance in list.drain(keep..) {
            instance.stop();
        }
    }

    /// On success green becomes the endpoint's fleet and its config the current one.
    async fn promote(&mut self) {
        let mut state = self.ctx.endpoint.lock().await;
        for mut instance in state.blue.drain(..) {
            instance.stop();
        }
        let green: Vec<Instance> = state.green.drain(..).collect();
        state.blue = green;
        for instance in &mut state.blue {
            instance.fleet = Fleet::Blue;
        }
        state.config = self.ctx.rollout.endpoint_config_name.clone();
        let targets = state
            .blue
            .iter()
            .map(|instance| Target::new(&instance.id, &instance.url))
            .collect();
        self.ctx.router.set_routing(Routing {
            blue: targets,
            green: Vec::new(),
            green_bp: 0,
        });
    }
}

/// Watches green instances and reports the first one that stops.
fn watch_green(ctx: Arc<RunContext>, signals: mpsc::UnboundedSender<Signal>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut reported = std::collections::BTreeSet::new();
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let mut state = ctx.endpoint.lock().await;
            for instance in &mut state.green {
                if !instance.is_running() && reported.insert(instance.id.clone()) {
                    let _ = signals.send(Signal::GreenFailed {
                        instance: instance.id.clone(),
                        reason: format!("instance {} at {} stopped", instance.id, instance.url),
                    });
                }
            }
        }
    })
}

/// Runs the rollout to its end and returns how it ended.
pub(crate) async fn execute(ctx: RunContext) -> RunOutcome {
    let ctx = Arc::new(ctx);
    let schedule = schedule(&ctx.rollout);
    let clock = PlanClock::start(ctx.time_scale);
    let mut recorder = Recorder {
        store: ctx.store.clone(),
        run_id: ctx.run_id.clone(),
        seq: 0,
        last_at_ms: 0,
    };
    recorder.emit(
        0,
        EventKind::PlanAccepted {
            endpoint: ctx.rollout.endpoint_name.clone(),
            from_config: ctx.from_config.clone(),
            to_config: ctx.rollout.endpoint_config_name.clone(),
            mode: ctx.rollout.strategy.label().to_string(),
            time_scale: ctx.time_scale,
            planned_total_seconds: schedule.total_seconds,
            timeout_seconds: schedule.timeout_seconds,
        },
    );

    let tick_ms = u64::from(ctx.rollout.metric_tick_seconds()) * 1_000;
    ctx.router.metrics.begin(clock, tick_ms);
    let mut alarms: Vec<AlarmTracker> = ctx
        .rollout
        .alarms
        .iter()
        .map(|rule| AlarmTracker {
            rule: rule.clone(),
            state: AlarmState::InsufficientData,
            next_ms: u64::from(rule.period_seconds) * 1_000,
        })
        .collect();
    let mut next_metric_ms = tick_ms;

    let (signals, mut inbox) = mpsc::unbounded_channel();
    let watcher = watch_green(ctx.clone(), signals.clone());
    let mut driver = Driver {
        ctx: ctx.clone(),
        signals,
        phase: None,
        launched: 0,
        tasks: Vec::new(),
    };
    let mut controller = Controller::with_schedule(&ctx.rollout, schedule);
    let decision = controller.handle(0, Input::Start);
    driver.apply(0, &decision, &mut recorder).await;
    let mut wake = decision.wake_at_ms;

    // Set when the run cannot go on: blue could not be restored during a rolling
    // rollback (SageMaker's UpdateRollbackFailed).
    let mut failure: Option<String> = None;
    while controller.outcome().is_none() && failure.is_none() {
        let next_alarm = alarms.iter().map(|alarm| alarm.next_ms).min();
        let due = [wake, next_alarm, Some(next_metric_ms)]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(next_metric_ms);
        let mut arrived = None;
        tokio::select! {
            _ = tokio::time::sleep_until(clock.instant_at(due).into()) => {}
            signal = inbox.recv() => arrived = signal,
        }
        let now = clock.now_ms();

        // Every timer due by now, in plan-time order, at its own time.
        loop {
            let next_alarm = alarms.iter().map(|alarm| alarm.next_ms).min();
            let Some(at) = [wake, next_alarm, Some(next_metric_ms)]
                .into_iter()
                .flatten()
                .filter(|time| *time <= now)
                .min()
            else {
                break;
            };
            if next_metric_ms == at {
                let [blue, green] = ctx.router.metrics.window(at - tick_ms, at);
                recorder.emit(
                    at,
                    EventKind::MetricPeriod {
                        start_ms: at - tick_ms,
                        end_ms: at,
                        blue: blue.summary(),
                        green: green.summary(),
                    },
                );
                next_metric_ms += tick_ms;
            }
            for alarm in alarms.iter_mut().filter(|alarm| alarm.next_ms == at) {
                let serving = controller.serving();
                if let Some(input) = evaluate_alarm(&ctx, alarm, at, serving, &mut recorder) {
                    let decision = controller.handle(at, input);
                    driver.apply(at, &decision, &mut recorder).await;
                    wake = decision.wake_at_ms;
                }
                alarm.next_ms += u64::from(alarm.rule.period_seconds) * 1_000;
            }
            if controller.outcome().is_some() {
                break;
            }
            if wake.is_some_and(|wake| wake <= at) {
                let decision = controller.handle(at, Input::Tick);
                driver.apply(at, &decision, &mut recorder).await;
                wake = decision.wake_at_ms;
            }
            if controller.outcome().is_some() {
                break;
            }
        }

        if let (Some(signal), None) = (arrived, controller.outcome()) {
            let input = match signal {
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
                    match fleet {
                        Fleet::Green => Input::GreenReady,
                        Fleet::Blue => Input::BlueReady,
                    }
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
                    if fleet == Fleet::Blue {
                        failure = Some(format!(
                            "blue instance {instance} could not be restored during the rollback ({reason}); \
                             the endpoint may serve a mix of old and new instances (UpdateRollbackFailed)"
                        ));
                        continue;
                    }
                    Input::GreenFailed {
                        reason: format!("{instance} could not start: {reason}"),
                    }
                }
                Signal::GreenFailed { instance, reason } => {
                    recorder.emit(
                        now,
                        EventKind::InstanceFailed {
                            fleet: Fleet::Green,
                            instance,
                            reason: reason.clone(),
                        },
                    );
                    Input::GreenFailed { reason }
                }
            };
            let decision = controller.handle(now, input);
            driver.apply(now, &decision, &mut recorder).await;
            wake = decision.wake_at_ms;
        }
    }

    watcher.abort();
    // A rolling rollback may still be restoring blue capacity in the background:
    // let it finish, then route to every blue instance. Green launches stop.
    let mut restored = false;
    for (fleet, task) in driver.tasks.drain(..) {
        if fleet == Fleet::Blue && !task.is_finished() {
            let _ = tokio::time::timeout(Duration::from_secs(30), task).await;
            restored = true;
        } else {
            restored |= fleet == Fleet::Blue;
            task.abort();
        }
    }
    // Record the blue instances that came back after the controller finished.
    while let Ok(signal) = inbox.try_recv() {
        if let Signal::Ready {
            fleet: Fleet::Blue,
            instances,
        } = signal
        {
            for (instance, url) in instances {
                let at = clock.now_ms();
                recorder.emit(
                    at,
                    EventKind::InstanceHealthy {
                        fleet: Fleet::Blue,
                        instance,
                        url,
                    },
                );
            }
        }
    }
    {
        let mut state = ctx.endpoint.lock().await;
        for mut instance in state.green.drain(..) {
            instance.stop();
        }
        if restored && !matches!(controller.outcome(), Some(Outcome::Succeeded { .. })) {
            let blue = state
                .blue
                .iter()
                .map(|instance| Target::new(&instance.id, &instance.url))
                .collect();
            ctx.router.set_routing(Routing {
                blue,
                green: Vec::new(),
                green_bp: 0,
            });
        }
    }
    ctx.router.metrics.end();
    let at = clock.now_ms();
    let outcome = match (failure, controller.outcome()) {
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
            reason: "the controller stopped without an outcome".into(),
        },
    };
    recorder.emit(
        at,
        EventKind::Finished {
            outcome: outcome.clone(),
        },
    );
    outcome
}

/// Evaluates one alarm at `at_ms` on the live metrics; returns the controller
/// input when its state changed (and records the change).
fn evaluate_alarm(
    ctx: &RunContext,
    alarm: &mut AlarmTracker,
    at_ms: u64,
    serving: (u32, u32),
    recorder: &mut Recorder,
) -> Option<Input> {
    let rule = &alarm.rule;
    let period_ms = u64::from(rule.period_seconds) * 1_000;
    // Periods before the update are missing: the engine's metrics start with it.
    let evaluation = evaluate_at(rule, at_ms, alarm.state, |period| {
        let start = u64::try_from(period).ok()? * period_ms;
        let samples = ctx.router.metrics.samples(
            rule.metric?,
            rule.scope,
            start,
            start + period_ms,
            (serving.1, serving.0),
        )?;
        rule.datapoint(&samples)
    });
    if evaluation.state == alarm.state {
        return None;
    }
    let from = alarm.state;
    alarm.state = evaluation.state;
    let reason = evaluation.reason(rule);
    recorder.emit(
        at_ms,
        EventKind::AlarmStateChanged {
            alarm: rule.name.clone(),
            condition: rule.condition(),
            from,
            to: evaluation.state,
            reason: reason.clone(),
            points: evaluation.points,
        },
    );
    Some(Input::AlarmChanged {
        alarm: rule.name.clone(),
        state: evaluation.state,
        reason,
    })
}
