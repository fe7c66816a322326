//! Rollout decisions as a pure state machine: `(state, input, now) -> (state, effects)`.
//!
//! The controller walks a [`Schedule`]: it launches green, shifts traffic, bakes,
//! watches alarms, terminates blue, and rolls back on an alarm, a timeout or an
//! unhealthy green fleet. It never reads a clock and never does IO. The simulator
//! feeds it simulated time and alarm states; the local engine feeds it real (scaled)
//! time, health checks and live alarm evaluations, and executes its effects. Both
//! therefore make exactly the same decisions.

use serde::{Deserialize, Serialize};

use crate::alarm::AlarmState;
use crate::assumptions::green_traffic_bp;
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
    /// A person asked to stop: roll back.
    Stop,
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
    /// Route traffic: this many instances of each fleet serve, green gets this share.
    Route {
        green_instances: u32,
        blue_instances: u32,
        green_traffic_bp: u32,
    },
    /// Terminate this many blue instances.
    TerminateBlue { instances: u32 },
    /// Rolling rollback: launch this many blue instances; answer with `Input::BlueReady`.
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
    Alarm { alarm: String, reason: String },
    Timeout { timeout_seconds: u32 },
    GreenUnhealthy { reason: String },
    Stopped,
}

impl RollbackCause {
    pub fn describe(&self) -> String {
        match self {
            Self::Alarm { alarm, reason } => format!("alarm {alarm} entered ALARM: {reason}"),
            Self::Timeout { timeout_seconds } => format!(
                "MaximumExecutionTimeoutInSeconds ({timeout_seconds} s) ran out before the deployment completed"
            ),
            Self::GreenUnhealthy { reason } => format!("green fleet unhealthy: {reason}"),
            Self::Stopped => "stopped by request".to_string(),
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
}

/// What the controller wants next.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub effects: Vec<Effect>,
    /// Send `Input::Tick` at this time (plan milliseconds) unless another input comes first.
    pub wake_at_ms: Option<u64>,
}

#[derive(Clone, Debug, PartialEq)]
enum State {
    Idle,
    InStep {
        index: usize,
        since_ms: u64,
    },
    /// Rolling rollback in batches: waiting for `waiting_for` blue instances.
    RollingBack {
        green: u32,
        blue: u32,
        batch: u32,
        decided_at_ms: u64,
        phase: Phase,
        cause: RollbackCause,
    },
    Done(Outcome),
}

/// The rollout controller. See the module documentation.
#[derive(Clone, Debug)]
pub struct Controller {
    schedule: Schedule,
    fleet: u32,
    rolling: bool,
    rollback_batch: Option<u32>,
    timeout_ms: u64,
    /// Steps `[monitor_from, monitor_to]` watch alarms.
    monitor: Option<(usize, usize)>,
    /// The step at which the deployment counts as complete (blue terminating).
    complete_at: usize,
    state: State,
    /// Alarms currently in ALARM, with their reasons, in the order they entered it.
    in_alarm: Vec<(String, String)>,
    blue_alive: u32,
    serving: (u32, u32),
}

impl Controller {
    pub fn new(rollout: &Rollout) -> Self {
        Self::with_schedule(rollout, schedule(rollout))
    }

    pub fn with_schedule(rollout: &Rollout, schedule: Schedule) -> Self {
        let (rolling, rollback_batch) = match rollout.strategy {
            Strategy::Rolling {
                rollback_batch_instances,
                ..
            } => (true, rollback_batch_instances),
            _ => (false, None),
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
            fleet: rollout.instance_count,
            rolling,
            rollback_batch,
            timeout_ms: u64::from(schedule.timeout_seconds) * 1_000,
            monitor,
            complete_at,
            schedule,
            state: State::Idle,
            in_alarm: Vec::new(),
            blue_alive: rollout.instance_count,
            serving: (0, rollout.instance_count),
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
            State::RollingBack { phase, .. } => Some(*phase),
            _ => None,
        }
    }

    /// (green, blue) instances serving now.
    pub fn serving(&self) -> (u32, u32) {
        self.serving
    }

    pub fn green_traffic_bp(&self) -> u32 {
        green_traffic_bp(self.serving.0, self.serving.1)
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
            self.in_alarm.retain(|(name, _)| name != alarm);
            if *state == AlarmState::Alarm {
                self.in_alarm.push((alarm.clone(), reason.clone()));
            }
        }

        match (self.state.clone(), input) {
            (State::Idle, Input::Start) => {
                effects.push(self.route(0, self.fleet));
                self.enter(0, now_ms, &mut effects);
            }
            (State::Idle, _) | (State::Done(_), _) => {}
            (State::InStep { index, .. }, input) => {
                let complete = index >= self.complete_at;
                match input {
                    Input::Stop if !complete => {
                        self.roll_back(now_ms, RollbackCause::Stopped, &mut effects)
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
            (
                State::RollingBack {
                    green,
                    blue,
                    batch,
                    decided_at_ms,
                    phase,
                    cause,
                },
                Input::BlueReady,
            ) => {
                let moved = batch.min(green);
                let (green, blue) = (green - moved, blue + moved);
                effects.push(self.route(green, blue));
                effects.push(Effect::TerminateGreen { instances: moved });
                if green == 0 {
                    self.finish_rollback(decided_at_ms, now_ms, phase, cause, &mut effects);
                } else {
                    effects.push(Effect::LaunchBlue {
                        instances: batch.min(green),
                    });
                    self.state = State::RollingBack {
                        green,
                        blue,
                        batch,
                        decided_at_ms,
                        phase,
                        cause,
                    };
                }
            }
            (State::RollingBack { .. }, _) => {}
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
            self.state = State::Done(Outcome::Succeeded {
                completed_at_ms: at_ms,
            });
            effects.push(Effect::Finished {
                outcome: Outcome::Succeeded {
                    completed_at_ms: at_ms,
                },
            });
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
        if (step.green_instances, step.blue_instances) != self.serving {
            effects.push(self.route(step.green_instances, step.blue_instances));
        }
        if blue_to_remove > 0 {
            self.blue_alive -= blue_to_remove;
            effects.push(Effect::TerminateBlue {
                instances: blue_to_remove,
            });
        }
        if let Phase::Provisioning { instances } = step.phase {
            effects.push(Effect::LaunchGreen { instances });
        }
        self.state = State::InStep {
            index,
            since_ms: at_ms,
        };
    }

    fn roll_back(&mut self, now_ms: u64, cause: RollbackCause, effects: &mut Vec<Effect>) {
        let phase = self.phase().unwrap_or(Phase::Provisioning {
            instances: self.fleet,
        });
        effects.push(Effect::RollbackStarted {
            phase,
            cause: cause.clone(),
        });
        let (green, blue) = self.serving;
        let green_alive = self.green_launched();
        match self.rollback_batch {
            Some(batch) if self.rolling && batch < green && blue > 0 => {
                effects.push(Effect::LaunchBlue { instances: batch });
                self.state = State::RollingBack {
                    green,
                    blue,
                    batch,
                    decided_at_ms: now_ms,
                    phase,
                    cause,
                };
            }
            _ => {
                effects.push(self.route(0, self.blue_alive.max(blue)));
                if green_alive > 0 {
                    effects.push(Effect::TerminateGreen {
                        instances: green_alive,
                    });
                }
                if self.blue_alive < self.fleet {
                    effects.push(Effect::LaunchBlue {
                        instances: self.fleet - self.blue_alive,
                    });
                }
                self.finish_rollback(now_ms, now_ms, phase, cause, effects);
            }
        }
    }

    fn finish_rollback(
        &mut self,
        decided_at_ms: u64,
        now_ms: u64,
        phase: Phase,
        cause: RollbackCause,
        effects: &mut Vec<Effect>,
    ) {
        let outcome = Outcome::RolledBack {
            decided_at_ms,
            completed_at_ms: now_ms,
            phase,
            cause,
        };
        effects.push(Effect::Finished {
            outcome: outcome.clone(),
        });
        self.state = State::Done(outcome);
    }

    /// Green instances launched so far (serving or not).
    fn green_launched(&self) -> u32 {
        let State::InStep { index, .. } = self.state else {
            return self.serving.0;
        };
        self.schedule.steps[..=index]
            .iter()
            .filter_map(|step| match step.phase {
                Phase::Provisioning { instances } => Some(instances),
                _ => None,
            })
            .sum()
    }

    fn monitored(&self, index: usize) -> bool {
        self.monitor
            .is_some_and(|(from, to)| index >= from && index <= to)
    }

    fn route(&mut self, green: u32, blue: u32) -> Effect {
        self.serving = (green, blue);
        Effect::Route {
            green_instances: green,
            blue_instances: blue,
            green_traffic_bp: green_traffic_bp(green, blue),
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
    use crate::examples;
    use crate::validate::check_json;

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
                        ready_at = Some(now + u64::from(rollout.provisioning_seconds) * 1_000)
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
                let input = if matches!(controller.state, State::RollingBack { .. }) {
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
            green_instances: 0,
            blue_instances: 3,
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

    #[test]
    fn rolling_rollback_in_batches_takes_a_provisioning_time_per_batch() {
        let mut value: serde_json::Value =
            serde_json::from_str(examples::ROLLING).expect("example");
        value["DeploymentConfig"]["RollingUpdatePolicy"]["RollbackMaximumBatchSize"] =
            serde_json::json!({"Type": "INSTANCE_COUNT", "Value": 1});
        // At 1000 s batch 2 of 3 bakes: 2 green, 2 blue serve.
        let (outcome, effects) = drive(&rollout(&value.to_string()), Some(1_000_000));
        match outcome {
            Outcome::RolledBack {
                decided_at_ms,
                completed_at_ms,
                ..
            } => {
                assert_eq!(decided_at_ms, 1_000_000);
                assert_eq!(completed_at_ms, 1_000_000 + 2 * 300_000);
            }
            other => panic!("{other:?}"),
        }
        assert!(effects.contains(&Effect::Route {
            green_instances: 1,
            blue_instances: 2,
            green_traffic_bp: 3_333
        }));
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
