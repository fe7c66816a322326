//! Rollout decisions as a pure state machine: `(state, input, now) -> (state, effects)`.
//!
//! The controller walks a [`Schedule`]: it launches green, shifts traffic, bakes,
//! watches alarms, terminates blue, and rolls back on an alarm, a timeout, an
//! unhealthy green fleet or an abort. It never reads a clock and never does IO.
//! [`crate::session::Session`] pairs it with the alarm monitor; the simulator
//! feeds that session simulated time, the local engine real (scaled) time,
//! health checks and live metrics, and both carry out its effects. Both
//! therefore make exactly the same decisions.

use serde::{Deserialize, Serialize};

use crate::alarm::AlarmState;
use crate::assumptions::{rollback_steps, RollbackStep};
use crate::fleets::Fleets;
use crate::rollout::{Rollout, Strategy};
use crate::schedule::{schedule, Phase, Schedule};

/// Something that happened, fed to [`Controller::handle`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "input", rename_all = "snake_case")]
pub enum Input {
    /// The update request: start the rollout.
    Start,
    /// Every green instance launched by the last `LaunchGreen` is healthy.
    GreenReady,
    /// Every blue instance launched by the last `LaunchBlue` is healthy.
    BlueReady,
    /// An alarm changed state.
    AlarmChanged {
        alarm: String,
        state: AlarmState,
        reason: String,
    },
    /// A green instance failed (crashed, or failed its health check).
    GreenFailed { reason: String },
    /// Someone asked to abort: roll back as an alarm would.
    Abort { by: String },
    /// Time passed; sent at or after `Decision::wake_at_ms`.
    Tick,
}

/// What the driver must do, in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    /// A step of the schedule starts; `planned_seconds` is its planned length
    /// (provisioning ends when green is ready instead).
    PhaseStarted {
        step: usize,
        phase: Phase,
        planned_seconds: u32,
    },
    /// Launch this many more green instances; answer with `Input::GreenReady`.
    LaunchGreen { instances: u32 },
    /// Route traffic: these instances of each fleet serve, green gets this share.
    Route {
        serving: Fleets,
        green_traffic_bp: u32,
    },
    /// Terminate this many blue instances.
    TerminateBlue { instances: u32 },
    /// Rollback: launch this many blue instances; answer with `Input::BlueReady`.
    LaunchBlue { instances: u32 },
    /// Terminate this many green instances.
    TerminateGreen { instances: u32 },
    /// Rollback begins.
    RollbackStarted { phase: Phase, cause: RollbackCause },
    /// The rollout is over.
    Finished { outcome: Outcome },
}

/// Why a rollout rolled back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cause", rename_all = "snake_case")]
pub enum RollbackCause {
    Alarm {
        alarm: String,
        reason: String,
    },
    Timeout {
        timeout_seconds: u32,
    },
    GreenUnhealthy {
        reason: String,
    },
    /// Someone aborted the rollout; `by` says who.
    Aborted {
        by: String,
    },
    /// SageMaker rolled back for a reason it reported (`FailureReason`), and no
    /// rollback alarm entered ALARM.
    Reported {
        reason: String,
    },
    /// guardrail stopped (a crash, a kill) while the run was in progress; when
    /// it started again it returned all traffic to blue and terminated green.
    Interrupted {
        reason: String,
    },
}

impl RollbackCause {
    pub fn describe(&self) -> String {
        match self {
            Self::Alarm { alarm, reason } => format!("alarm {alarm} entered ALARM: {reason}"),
            Self::Timeout { timeout_seconds } => format!(
                "MaximumExecutionTimeoutInSeconds ({timeout_seconds} s) ran out before the deployment completed"
            ),
            Self::GreenUnhealthy { reason } => format!("green fleet unhealthy: {reason}"),
            Self::Aborted { by } => format!("aborted by {by}"),
            Self::Reported { reason } => format!("SageMaker reported: {reason}"),
            Self::Interrupted { reason } => format!("interrupted: {reason}"),
        }
    }
}

/// How a rollout ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// The new config serves all traffic and blue is terminated.
    Succeeded { completed_at_ms: u64 },
    /// Traffic went back to blue; the endpoint stays on the old config.
    RolledBack {
        decided_at_ms: u64,
        completed_at_ms: u64,
        phase: Phase,
        cause: RollbackCause,
    },
}

impl Outcome {
    pub fn succeeded(&self) -> bool {
        matches!(self, Self::Succeeded { .. })
    }

    /// "succeeded" or "rolled_back", as in the CLI's JSON.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Succeeded { .. } => "succeeded",
            Self::RolledBack { .. } => "rolled_back",
        }
    }

    /// When the rollout ended: blue terminated, or the rollback complete.
    pub fn completed_at_ms(&self) -> u64 {
        match self {
            Self::Succeeded { completed_at_ms }
            | Self::RolledBack {
                completed_at_ms, ..
            } => *completed_at_ms,
        }
    }
}

/// What the controller wants next.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub effects: Vec<Effect>,
    /// Send `Input::Tick` at this time (plan milliseconds) unless another input comes first.
    pub wake_at_ms: Option<u64>,
}

/// Why an abort cannot be carried out.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AbortRefused {
    #[error("the rollout has not started")]
    NotStarted,
    #[error("the deployment already completed: blue is being terminated, so there is nothing to roll back to")]
    Completed,
    #[error("the rollout is already rolling back")]
    RollingBack,
    #[error("the rollout already ended")]
    Finished,
}

#[derive(Clone, Debug, PartialEq)]
struct RollingBack {
    steps: Vec<RollbackStep>,
    /// The step whose blue instances are being launched.
    next: usize,
    decided_at_ms: u64,
    phase: Phase,
    cause: RollbackCause,
}

#[derive(Clone, Debug, PartialEq)]
enum State {
    Idle,
    InStep {
        index: usize,
        since_ms: u64,
    },
    /// Waiting for the blue instances of `steps[next]`.
    RollingBack(RollingBack),
    Done(Outcome),
}

/// The rollout controller. See the module documentation.
#[derive(Clone, Debug)]
pub struct Controller {
    schedule: Schedule,
    fleet: u32,
    rolling: bool,
    /// `RollbackMaximumBatchSize` in instances (the whole fleet by default).
    rollback_batch: u32,
    timeout_ms: u64,
    /// Steps `[monitor_from, monitor_to]` watch alarms.
    monitor: Option<(usize, usize)>,
    /// The step at which the deployment counts as complete (blue terminating).
    complete_at: usize,
    state: State,
    /// Alarms currently in ALARM, with their reasons, in the order they entered it.
    in_alarm: Vec<(String, String)>,
    blue_alive: u32,
    green_alive: u32,
    serving: Fleets,
}

impl Controller {
    pub fn new(rollout: &Rollout) -> Self {
        Self::with_schedule(rollout, schedule(rollout))
    }

    pub fn with_schedule(rollout: &Rollout, schedule: Schedule) -> Self {
        let fleet = rollout.instance_count();
        let (rolling, rollback_batch) = match rollout.strategy() {
            Strategy::Rolling {
                rollback_batch_instances,
                ..
            } => (true, *rollback_batch_instances),
            _ => (false, fleet),
        };
        let first_traffic = schedule
            .steps
            .iter()
            .position(|step| step.green_traffic_bp > 0);
        let last_bake = schedule.steps.iter().rposition(|step| step.phase.is_bake());
        let monitor = match (first_traffic, last_bake) {
            (Some(from), Some(to)) if from <= to => Some((from, to)),
            _ => None,
        };
        let complete_at = schedule
            .steps
            .iter()
            .position(|step| step.phase == Phase::TerminatingBlue)
            .unwrap_or(schedule.steps.len());
        Self {
            fleet,
            rolling,
            rollback_batch,
            timeout_ms: u64::from(schedule.timeout_seconds) * 1_000,
            monitor,
            complete_at,
            schedule,
            state: State::Idle,
            in_alarm: Vec::new(),
            blue_alive: fleet,
            green_alive: 0,
            serving: Fleets::blue_only(fleet),
        }
    }

    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    pub fn outcome(&self) -> Option<&Outcome> {
        match &self.state {
            State::Done(outcome) => Some(outcome),
            _ => None,
        }
    }

    /// The phase in force, or `None` before the start and after the end.
    pub fn phase(&self) -> Option<Phase> {
        match &self.state {
            State::InStep { index, .. } => Some(self.schedule.steps[*index].phase),
            State::RollingBack(rollback) => Some(rollback.phase),
            _ => None,
        }
    }

    /// The instances serving now.
    pub fn serving(&self) -> Fleets {
        self.serving
    }

    pub fn green_traffic_bp(&self) -> u32 {
        self.serving.green_traffic_bp()
    }

    /// Whether the controller still acts on alarm changes: not once a rollback
    /// is under way or the rollout has ended.
    pub fn watches_alarms(&self) -> bool {
        matches!(self.state, State::Idle | State::InStep { .. })
    }

    /// Whether an abort would roll back now, and if not, why.
    pub fn abortable(&self) -> Result<(), AbortRefused> {
        match &self.state {
            State::Idle => Err(AbortRefused::NotStarted),
            State::InStep { index, .. } if *index >= self.complete_at => {
                Err(AbortRefused::Completed)
            }
            State::InStep { .. } => Ok(()),
            State::RollingBack(_) => Err(AbortRefused::RollingBack),
            State::Done(_) => Err(AbortRefused::Finished),
        }
    }

    /// Takes note of an alarm's new state without acting on it yet: the next
    /// input acts on every alarm noted so far. [`crate::session::Session`] notes
    /// every alarm judged at a moment, then ticks once, so that two alarms
    /// judged at the same moment are weighed together.
    pub fn note_alarm(&mut self, alarm: &str, state: AlarmState, reason: &str) {
        self.in_alarm.retain(|(name, _)| name != alarm);
        if state == AlarmState::Alarm {
            self.in_alarm.push((alarm.to_string(), reason.to_string()));
        }
    }

    /// Handles one input at `now_ms` (plan milliseconds since the update request).
    pub fn handle(&mut self, now_ms: u64, input: Input) -> Decision {
        let mut effects = Vec::new();
        if let Input::AlarmChanged {
            alarm,
            state,
            reason,
        } = &input
        {
            self.note_alarm(alarm, *state, reason);
        }

        match (&self.state, input) {
            (State::Idle, Input::Start) => {
                effects.push(self.route(Fleets::blue_only(self.fleet)));
                self.enter(0, now_ms, &mut effects);
            }
            (State::Idle, _) | (State::Done(_), _) => {}
            (State::InStep { index, .. }, input) => {
                let index = *index;
                let complete = index >= self.complete_at;
                match input {
                    Input::Abort { by } if !complete => {
                        self.roll_back(now_ms, RollbackCause::Aborted { by }, &mut effects)
                    }
                    Input::GreenFailed { reason } if !complete => self.roll_back(
                        now_ms,
                        RollbackCause::GreenUnhealthy { reason },
                        &mut effects,
                    ),
                    Input::GreenReady
                        if matches!(
                            self.schedule.steps[index].phase,
                            Phase::Provisioning { .. }
                        ) =>
                    {
                        self.enter(index + 1, now_ms, &mut effects);
                    }
                    _ => {}
                }
                self.advance(now_ms, &mut effects);
            }
            (State::RollingBack(_), Input::BlueReady) => {
                self.finish_rollback_step(now_ms, &mut effects);
            }
            (State::RollingBack(_), _) => {}
        }

        Decision {
            effects,
            wake_at_ms: self.wake_at(),
        }
    }

    /// Moves through every step whose time is up, checking timeout and alarms.
    fn advance(&mut self, now_ms: u64, effects: &mut Vec<Effect>) {
        loop {
            let State::InStep { index, since_ms } = self.state else {
                return;
            };
            if index < self.complete_at && now_ms >= self.timeout_ms {
                self.roll_back(
                    now_ms,
                    RollbackCause::Timeout {
                        timeout_seconds: self.schedule.timeout_seconds,
                    },
                    effects,
                );
                return;
            }
            if self.monitored(index) {
                if let Some((alarm, reason)) = self.in_alarm.first().cloned() {
                    self.roll_back(now_ms, RollbackCause::Alarm { alarm, reason }, effects);
                    return;
                }
            }
            let step = self.schedule.steps[index];
            if matches!(step.phase, Phase::Provisioning { .. }) {
                return;
            }
            let ends_at = since_ms + u64::from(step.duration_seconds()) * 1_000;
            if now_ms < ends_at {
                return;
            }
            // Later steps start when this one was due to end, so that a late tick
            // does not stretch the schedule.
            self.enter(index + 1, ends_at.min(now_ms), effects);
        }
    }

    fn enter(&mut self, index: usize, at_ms: u64, effects: &mut Vec<Effect>) {
        let Some(step) = self.schedule.steps.get(index).copied() else {
            let outcome = Outcome::Succeeded {
                completed_at_ms: at_ms,
            };
            effects.push(Effect::Finished {
                outcome: outcome.clone(),
            });
            self.state = State::Done(outcome);
            return;
        };
        effects.push(Effect::PhaseStarted {
            step: index,
            phase: step.phase,
            planned_seconds: step.duration_seconds(),
        });
        // Rolling updates remove one blue batch after each baked batch; blue/green
        // keeps blue (idle) until the end, for rollback.
        let blue_to_remove = if step.phase == Phase::TerminatingBlue {
            self.blue_alive
        } else if self.rolling {
            self.blue_alive.saturating_sub(step.blue_instances)
        } else {
            0
        };
        let fleets = Fleets::new(step.green_instances, step.blue_instances);
        if fleets != self.serving {
            effects.push(self.route(fleets));
        }
        if blue_to_remove > 0 {
            self.blue_alive -= blue_to_remove;
            effects.push(Effect::TerminateBlue {
                instances: blue_to_remove,
            });
        }
        if let Phase::Provisioning { instances } = step.phase {
            self.green_alive += instances;
            effects.push(Effect::LaunchGreen { instances });
        }
        self.state = State::InStep {
            index,
            since_ms: at_ms,
        };
    }

    /// Starts a rollback: [`rollback_steps`] decides whether blue must be
    /// launched again first (a rolling update that removed blue batches) or can
    /// take traffic back at once.
    fn roll_back(&mut self, now_ms: u64, cause: RollbackCause, effects: &mut Vec<Effect>) {
        let phase = self.phase().unwrap_or(Phase::Provisioning {
            instances: self.fleet,
        });
        effects.push(Effect::RollbackStarted {
            phase,
            cause: cause.clone(),
        });
        let mut steps = rollback_steps(
            self.fleet,
            Fleets::new(self.serving.green, self.blue_alive),
            self.rollback_batch,
        );
        // Green instances launched but not serving (still provisioning, or idle
        // beside a canary) take no traffic: they go with the first step.
        let idle_green = self.green_alive.saturating_sub(self.serving.green);
        if let Some(first) = steps.first_mut() {
            first.terminate_green += idle_green;
        }
        self.state = State::RollingBack(RollingBack {
            steps,
            next: 0,
            decided_at_ms: now_ms,
            phase,
            cause,
        });
        self.start_rollback_step(now_ms, effects);
    }

    /// Launches the blue instances of the next rollback step, or, when it needs
    /// none, carries it out at once.
    fn start_rollback_step(&mut self, now_ms: u64, effects: &mut Vec<Effect>) {
        let State::RollingBack(rollback) = &self.state else {
            return;
        };
        let Some(step) = rollback.steps.get(rollback.next) else {
            return;
        };
        if step.launch_blue > 0 {
            effects.push(Effect::LaunchBlue {
                instances: step.launch_blue,
            });
        } else {
            self.finish_rollback_step(now_ms, effects);
        }
    }

    /// The blue instances of the current rollback step are healthy: move traffic
    /// to them, terminate as much green, and go on or finish.
    fn finish_rollback_step(&mut self, now_ms: u64, effects: &mut Vec<Effect>) {
        let State::RollingBack(rollback) = &mut self.state else {
            return;
        };
        let Some(step) = rollback.steps.get(rollback.next).copied() else {
            return;
        };
        rollback.next += 1;
        let done = rollback.next >= rollback.steps.len();
        let finished = done.then(|| Outcome::RolledBack {
            decided_at_ms: rollback.decided_at_ms,
            completed_at_ms: now_ms,
            phase: rollback.phase,
            cause: rollback.cause.clone(),
        });
        self.blue_alive += step.launch_blue;
        effects.push(self.route(step.serving));
        if step.terminate_green > 0 {
            self.green_alive = self.green_alive.saturating_sub(step.terminate_green);
            effects.push(Effect::TerminateGreen {
                instances: step.terminate_green,
            });
        }
        match finished {
            Some(outcome) => {
                effects.push(Effect::Finished {
                    outcome: outcome.clone(),
                });
                self.state = State::Done(outcome);
            }
            None => self.start_rollback_step(now_ms, effects),
        }
    }

    fn monitored(&self, index: usize) -> bool {
        self.monitor
            .is_some_and(|(from, to)| index >= from && index <= to)
    }

    fn route(&mut self, serving: Fleets) -> Effect {
        self.serving = serving;
        Effect::Route {
            serving,
            green_traffic_bp: serving.green_traffic_bp(),
        }
    }

    fn wake_at(&self) -> Option<u64> {
        let State::InStep { index, since_ms } = self.state else {
            return None;
        };
        let step = self.schedule.steps[index];
        let step_end = match step.phase {
            Phase::Provisioning { .. } => None,
            _ => Some(since_ms + u64::from(step.duration_seconds()) * 1_000),
        };
        let deadline = (index < self.complete_at).then_some(self.timeout_ms);
        match (step_end, deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check_json;
    use crate::examples;

    fn rollout(text: &str) -> Rollout {
        check_json(text).expect("parses").1.rollout.expect("valid")
    }

    /// Drives a controller the way the simulator does: green is ready after the
    /// planned provisioning time, and `alarm_at` puts the first alarm into ALARM.
    fn drive(rollout: &Rollout, alarm_at_ms: Option<u64>) -> (Outcome, Vec<Effect>) {
        let mut controller = Controller::new(rollout);
        let mut log = Vec::new();
        let mut decision = controller.handle(0, Input::Start);
        let mut now = 0;
        let mut ready_at: Option<u64> = None;
        let mut alarm_sent = false;
        for _ in 0..1_000 {
            for effect in &decision.effects {
                match effect {
                    Effect::LaunchGreen { .. } | Effect::LaunchBlue { .. } => {
                        ready_at = Some(now + u64::from(rollout.provisioning_seconds()) * 1_000)
                    }
                    _ => {}
                }
            }
            log.extend(decision.effects.clone());
            if let Some(outcome) = controller.outcome() {
                return (outcome.clone(), log);
            }
            let alarm_due = alarm_at_ms.filter(|_| !alarm_sent);
            let next = [decision.wake_at_ms, ready_at, alarm_due]
                .into_iter()
                .flatten()
                .min()
                .expect("something to wait for");
            now = next;
            decision = if Some(next) == alarm_due {
                alarm_sent = true;
                controller.handle(
                    now,
                    Input::AlarmChanged {
                        alarm: "A".into(),
                        state: AlarmState::Alarm,
                        reason: "test".into(),
                    },
                )
            } else if Some(next) == ready_at {
                ready_at = None;
                let input = if matches!(controller.state, State::RollingBack(_)) {
                    Input::BlueReady
                } else {
                    Input::GreenReady
                };
                controller.handle(now, input)
            } else {
                controller.handle(now, Input::Tick)
            };
        }
        panic!("controller did not finish");
    }

    #[test]
    fn an_undisturbed_canary_succeeds_on_schedule() {
        let (outcome, effects) = drive(&rollout(examples::NOTEBOOK_CANARY), None);
        assert_eq!(
            outcome,
            Outcome::Succeeded {
                completed_at_ms: 780_000
            }
        );
        let routes: Vec<u32> = effects
            .iter()
            .filter_map(|effect| match effect {
                Effect::Route {
                    green_traffic_bp, ..
                } => Some(*green_traffic_bp),
                _ => None,
            })
            .collect();
        assert_eq!(routes, vec![0, 2_500, 10_000]);
        assert!(effects.contains(&Effect::TerminateBlue { instances: 3 }));
    }

    #[test]
    fn an_alarm_during_the_canary_bake_rolls_back_at_once() {
        let (outcome, effects) = drive(&rollout(examples::NOTEBOOK_CANARY), Some(420_000));
        match outcome {
            Outcome::RolledBack {
                decided_at_ms,
                completed_at_ms,
                phase,
                cause: RollbackCause::Alarm { alarm, .. },
            } => {
                assert_eq!((decided_at_ms, completed_at_ms), (420_000, 420_000));
                assert_eq!(phase, Phase::CanaryBake);
                assert_eq!(alarm, "A");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(effects.contains(&Effect::Route {
            serving: Fleets::blue_only(3),
            green_traffic_bp: 0
        }));
        assert!(effects.contains(&Effect::TerminateGreen { instances: 3 }));
    }

    #[test]
    fn an_alarm_during_provisioning_rolls_back_when_watching_starts() {
        let (outcome, _) = drive(&rollout(examples::NOTEBOOK_CANARY), Some(100_000));
        assert!(
            matches!(
                outcome,
                Outcome::RolledBack {
                    decided_at_ms: 300_000,
                    phase: Phase::CanaryBake,
                    ..
                }
            ),
            "{outcome:?}"
        );
    }

    #[test]
    fn an_alarm_after_the_final_bake_changes_nothing() {
        let (outcome, _) = drive(&rollout(examples::NOTEBOOK_CANARY), Some(750_000));
        assert!(outcome.succeeded());
    }

    #[test]
    fn the_timeout_rolls_back() {
        let mut value: serde_json::Value =
            serde_json::from_str(examples::ROLLING).expect("example");
        value["ProvisioningSeconds"] = serde_json::json!(600);
        let (outcome, _) = drive(&rollout(&value.to_string()), None);
        assert!(
            matches!(
                outcome,
                Outcome::RolledBack {
                    decided_at_ms: 1_800_000,
                    cause: RollbackCause::Timeout { .. },
                    ..
                }
            ),
            "{outcome:?}"
        );
    }

    /// Routes and blue launches in the order the controller asked for them.
    fn moves(effects: &[Effect]) -> Vec<String> {
        effects
            .iter()
            .filter_map(|effect| match effect {
                Effect::Route { serving, .. } => {
                    Some(format!("route {}g{}b", serving.green, serving.blue))
                }
                Effect::LaunchBlue { instances } => Some(format!("launch {instances}b")),
                Effect::TerminateGreen { instances } => Some(format!("end {instances}g")),
                _ => None,
            })
            .collect()
    }

    /// Rollback cases, Argo Rollouts style: (case, plan, alarm at, decided at,
    /// completed at, the moves from the decision on).
    #[test]
    fn rollback_table() {
        let rolling = |instances: u32, batch: Option<u32>| {
            let mut value: serde_json::Value =
                serde_json::from_str(examples::ROLLING).expect("example");
            value["InstanceCount"] = serde_json::json!(instances);
            if instances == 1 {
                value["DeploymentConfig"]["RollingUpdatePolicy"]["MaximumBatchSize"] =
                    serde_json::json!({"Type": "CAPACITY_PERCENT", "Value": 50});
            }
            if let Some(batch) = batch {
                value["DeploymentConfig"]["RollingUpdatePolicy"]["RollbackMaximumBatchSize"] =
                    serde_json::json!({"Type": "INSTANCE_COUNT", "Value": batch});
            }
            value.to_string()
        };
        // The rolling example: 3 instances in batches of 1, 180 s bakes, 300 s
        // provisioning. Batch 1 bakes 300-480 s beside all 3 blue; batch 2 bakes
        // 780-960 s beside 2; batch 3 bakes 1260-1440 s beside 1.
        let cases: Vec<(&str, String, u64, u64, Vec<&str>)> = vec![
            (
                "canary: blue was never terminated, so traffic returns at once",
                examples::NOTEBOOK_CANARY.to_string(),
                420_000,
                420_000,
                vec!["route 0g3b", "end 3g"],
            ),
            (
                "rolling, fleet of 1: blue is whole during the only bake",
                rolling(1, None),
                400_000,
                400_000,
                vec!["route 0g1b", "end 1g"],
            ),
            (
                "rolling, batch 1 bake: blue is whole",
                rolling(3, None),
                400_000,
                400_000,
                vec!["route 0g3b", "end 1g"],
            ),
            (
                "rolling, default 100 %: one blue launch brings the fleet back",
                rolling(3, None),
                900_000,
                1_200_000,
                vec!["launch 1b", "route 0g3b", "end 2g"],
            ),
            (
                "rolling, batch at least as large as green still takes a provisioning time",
                rolling(3, Some(3)),
                900_000,
                1_200_000,
                vec!["launch 1b", "route 0g3b", "end 2g"],
            ),
            (
                "rolling, batches of 1 during the last bake: two launches",
                rolling(3, Some(1)),
                1_300_000,
                1_900_000,
                vec!["launch 1b", "route 2g2b", "end 1g", "launch 1b", "route 0g3b", "end 2g"],
            ),
            (
                "rolling, during the second provisioning: the launching green goes with the first step",
                rolling(3, Some(1)),
                600_000,
                900_000,
                vec!["launch 1b", "route 0g3b", "end 2g"],
            ),
        ];
        for (case, plan, alarm_at, completed_at, expected) in cases {
            let (outcome, effects) = drive(&rollout(&plan), Some(alarm_at));
            let Outcome::RolledBack {
                decided_at_ms,
                completed_at_ms,
                ..
            } = outcome
            else {
                panic!("{case}: {outcome:?}");
            };
            assert_eq!(
                (decided_at_ms, completed_at_ms),
                (alarm_at, completed_at),
                "{case}"
            );
            let from_decision = effects
                .iter()
                .position(|effect| matches!(effect, Effect::RollbackStarted { .. }))
                .expect("a rollback");
            assert_eq!(moves(&effects[from_decision..]), expected, "{case}");
            assert!(
                matches!(effects.last(), Some(Effect::Finished { .. })),
                "{case}: Finished is last"
            );
        }
    }

    #[test]
    fn an_abort_rolls_back_and_names_who_asked() {
        let rollout = rollout(examples::NOTEBOOK_CANARY);
        let mut controller = Controller::new(&rollout);
        assert_eq!(controller.abortable(), Err(AbortRefused::NotStarted));
        controller.handle(0, Input::Start);
        controller.handle(300_000, Input::GreenReady);
        assert_eq!(controller.abortable(), Ok(()));
        controller.handle(
            310_000,
            Input::Abort {
                by: "ops@example".into(),
            },
        );
        match controller.outcome() {
            Some(Outcome::RolledBack {
                cause: RollbackCause::Aborted { by },
                phase: Phase::CanaryBake,
                ..
            }) => assert_eq!(by, "ops@example"),
            other => panic!("{other:?}"),
        }
        assert_eq!(controller.abortable(), Err(AbortRefused::Finished));
    }

    #[test]
    fn an_abort_after_the_deployment_completed_is_refused() {
        let rollout = rollout(examples::NOTEBOOK_CANARY);
        let mut controller = Controller::new(&rollout);
        controller.handle(0, Input::Start);
        controller.handle(300_000, Input::GreenReady);
        controller.handle(730_000, Input::Tick);
        assert_eq!(controller.phase(), Some(Phase::TerminatingBlue));
        assert_eq!(controller.abortable(), Err(AbortRefused::Completed));
        controller.handle(740_000, Input::Abort { by: "late".into() });
        assert_eq!(controller.outcome(), None);
    }

    #[test]
    fn rolling_removes_one_blue_batch_after_each_baked_batch() {
        let (outcome, effects) = drive(&rollout(examples::ROLLING), None);
        assert!(outcome.succeeded());
        let removed: Vec<u32> = effects
            .iter()
            .filter_map(|effect| match effect {
                Effect::TerminateBlue { instances } => Some(*instances),
                _ => None,
            })
            .collect();
        assert_eq!(removed, vec![1, 1, 1]);
    }

    #[test]
    fn a_failed_green_instance_rolls_back() {
        let rollout = rollout(examples::NOTEBOOK_CANARY);
        let mut controller = Controller::new(&rollout);
        controller.handle(0, Input::Start);
        controller.handle(300_000, Input::GreenReady);
        let decision = controller.handle(
            310_000,
            Input::GreenFailed {
                reason: "instance 1 exited".into(),
            },
        );
        assert!(matches!(
            controller.outcome(),
            Some(Outcome::RolledBack {
                cause: RollbackCause::GreenUnhealthy { .. },
                ..
            })
        ));
        assert!(decision.wake_at_ms.is_none());
    }
}
