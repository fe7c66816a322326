//! One rollout on one clock: the controller and the alarm monitor together, sans IO.
//!
//! Every driver (the simulator, the local engine) runs the same loop: ask
//! [`Session::next_due`], bring metrics up to that moment, call
//! [`Session::handle_due`] with a way to read datapoints, carry out what
//! happened, and pass outside events (instances ready or failed, an abort) to
//! [`Session::handle`]. The session decides everything else, including the
//! order of things due at the same moment: alarms are judged first, because a
//! datapoint that ends at `t` describes the phase that is ending at `t`, and only
//! then may that phase end.

use crate::alarm::AlarmState;
use crate::controller::{AbortRefused, Controller, Decision, Effect, Input, Outcome};
use crate::fleets::Fleets;
use crate::monitor::{Judgement, Monitor};
use crate::rollout::Rollout;
use crate::schedule::{Phase, Schedule};
use crate::timeline::AlarmTransition;

/// What happened, in order, each at its plan time.
#[derive(Clone, Debug, PartialEq)]
pub enum Happening {
    /// An alarm changed state.
    Alarm(Judgement),
    /// The controller asks the driver to do something.
    Effect { at_ms: u64, effect: Effect },
}

/// A rollout in progress. See the module documentation.
#[derive(Clone, Debug)]
pub struct Session {
    controller: Controller,
    monitor: Monitor,
    wake_at_ms: Option<u64>,
}

impl Session {
    /// A session that judges the rollout's alarms itself.
    pub fn new(rollout: &Rollout, schedule: Schedule) -> Session {
        Session {
            controller: Controller::with_schedule(rollout, schedule),
            monitor: Monitor::new(rollout.alarms()),
            wake_at_ms: None,
        }
    }

    /// A session whose alarms are judged elsewhere, as SageMaker reads the
    /// states of CloudWatch alarms that CloudWatch evaluates: the driver passes
    /// their changes to [`Session::handle_alarms`].
    pub fn judged_elsewhere(rollout: &Rollout, schedule: Schedule) -> Session {
        Session {
            controller: Controller::with_schedule(rollout, schedule),
            monitor: Monitor::default(),
            wake_at_ms: None,
        }
    }

    /// The update request.
    pub fn start(&mut self, now_ms: u64) -> Vec<Happening> {
        self.handle(now_ms, Input::Start)
    }

    /// When something is next due, or `None` once the rollout has ended. While
    /// a rollback is under way only the controller's own steps are due: alarms
    /// no longer change anything, so they are not evaluated.
    pub fn next_due(&self) -> Option<u64> {
        if self.controller.outcome().is_some() {
            return None;
        }
        let alarms = self
            .controller
            .watches_alarms()
            .then(|| self.monitor.next_due())
            .flatten();
        [self.wake_at_ms, alarms].into_iter().flatten().min()
    }

    /// Handles everything due at or before `now_ms`, in time order; at each
    /// moment, alarms first. `datapoint(ask)` gives the value of one metric of
    /// one alarm over one period ([`crate::monitor::Ask`]), or `None` where
    /// it is missing.
    pub fn handle_due(
        &mut self,
        now_ms: u64,
        mut datapoint: impl FnMut(&crate::monitor::Ask) -> Option<f64>,
    ) -> Vec<Happening> {
        let mut happened = Vec::new();
        while let Some(at_ms) = self.next_due().filter(|at_ms| *at_ms <= now_ms) {
            let mut judged = false;
            if self.controller.watches_alarms() && self.monitor.next_due() == Some(at_ms) {
                for judgement in self.monitor.handle_due(at_ms, &mut datapoint) {
                    let transition = &judgement.transition;
                    self.controller.note_alarm(
                        &transition.alarm,
                        transition.to,
                        &transition.reason,
                    );
                    happened.push(Happening::Alarm(judgement));
                    judged = true;
                }
            }
            let woken = self.wake_at_ms.is_some_and(|wake| wake <= at_ms);
            if judged || woken {
                let decision = self.controller.handle(at_ms, Input::Tick);
                self.record(at_ms, decision, &mut happened);
            }
            // The controller always asks to be woken later than the tick it just
            // had; should it not, drop the wake-up rather than loop.
            if self.wake_at_ms.is_some_and(|wake| wake <= at_ms) {
                self.wake_at_ms = None;
            }
        }
        happened
    }

    /// Alarm changes judged elsewhere, at `at_ms`: all of them are noted, then the
    /// controller acts once, as on its own monitor's judgements. Call
    /// [`Session::handle_due`] for `at_ms` first, and this before anything else
    /// due at `at_ms` that is not yet handled.
    pub fn handle_alarms(&mut self, at_ms: u64, transitions: &[AlarmTransition]) -> Vec<Happening> {
        if transitions.is_empty() || !self.controller.watches_alarms() {
            return Vec::new();
        }
        for transition in transitions {
            self.controller
                .note_alarm(&transition.alarm, transition.to, &transition.reason);
        }
        self.handle(at_ms, Input::Tick)
    }

    /// Handles an outside event at `now_ms`. Call [`Session::handle_due`] for
    /// `now_ms` first, so that what was due before it happens first.
    pub fn handle(&mut self, now_ms: u64, input: Input) -> Vec<Happening> {
        let mut happened = Vec::new();
        let decision = self.controller.handle(now_ms, input);
        self.record(now_ms, decision, &mut happened);
        happened
    }

    fn record(&mut self, at_ms: u64, decision: Decision, happened: &mut Vec<Happening>) {
        happened.extend(
            decision
                .effects
                .into_iter()
                .map(|effect| Happening::Effect { at_ms, effect }),
        );
        self.wake_at_ms = decision.wake_at_ms;
    }

    pub fn outcome(&self) -> Option<&Outcome> {
        self.controller.outcome()
    }

    pub fn phase(&self) -> Option<Phase> {
        self.controller.phase()
    }

    /// The instances serving now.
    pub fn serving(&self) -> Fleets {
        self.controller.serving()
    }

    pub fn schedule(&self) -> &Schedule {
        self.controller.schedule()
    }

    /// Whether alarm verdicts can still change anything: not once a rollback is
    /// under way or the rollout has ended.
    pub fn watches_alarms(&self) -> bool {
        self.controller.watches_alarms()
    }

    /// Whether an abort would roll back now, and if not, why.
    pub fn abortable(&self) -> Result<(), AbortRefused> {
        self.controller.abortable()
    }

    pub fn monitor(&self) -> &Monitor {
        &self.monitor
    }

    /// Each alarm's name and current state.
    pub fn alarm_states(&self) -> impl Iterator<Item = (&str, AlarmState)> {
        self.monitor.states()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::RollbackCause;
    use crate::{check_json, examples};

    fn session(text: &str) -> Session {
        let rollout = check_json(text).expect("parses").1.rollout.expect("valid");
        let schedule = crate::schedule::schedule(&rollout);
        Session::new(&rollout, schedule)
    }

    /// Drives a session: green is ready after 300 s, and alarm 0 reads `value(period)`.
    fn drive(session: &mut Session, value: impl Fn(i64) -> Option<f64>) -> Vec<Happening> {
        let mut all = session.start(0);
        let mut ready_at = Some(300_000);
        while session.outcome().is_none() {
            let next = [session.next_due(), ready_at].into_iter().flatten().min();
            let Some(now) = next else { break };
            all.extend(session.handle_due(now, |ask| {
                (ask.alarm == 0).then(|| value(ask.period)).flatten()
            }));
            if ready_at == Some(now) {
                ready_at = None;
                all.extend(session.handle(now, Input::GreenReady));
            }
        }
        all
    }

    #[test]
    fn an_alarm_due_when_a_bake_ends_is_judged_in_that_bake() {
        // The canary bake is [300, 600) s; the new-fleet period [540, 600) breaches.
        let mut value: serde_json::Value =
            serde_json::from_str(examples::NOTEBOOK_CANARY).expect("json");
        value["Alarms"][0]["Dimensions"]
            .as_array_mut()
            .expect("dimensions")
            .push(serde_json::json!({"Name": "EndpointConfigName", "Value": "incompatible"}));
        value["Alarms"][0]["Threshold"] = serde_json::json!(0.5);
        let mut session = session(&value.to_string());
        drive(&mut session, |period| {
            Some(if period == 9 { 1.0 } else { 0.0 })
        });
        match session.outcome() {
            Some(Outcome::RolledBack {
                decided_at_ms,
                phase,
                cause: RollbackCause::Alarm { .. },
                ..
            }) => {
                assert_eq!(*decided_at_ms, 600_000);
                assert_eq!(*phase, Phase::CanaryBake);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn alarms_judged_elsewhere_roll_back_as_the_sessions_own_would() {
        let rollout = check_json(examples::NOTEBOOK_CANARY)
            .expect("parses")
            .1
            .rollout
            .expect("valid");
        let schedule = crate::schedule::schedule(&rollout);
        let mut session = Session::judged_elsewhere(&rollout, schedule);
        session.start(0);
        session.handle(300_000, Input::GreenReady);
        // Nothing of its own to evaluate: only the end of the canary bake is due.
        assert_eq!(session.next_due(), Some(600_000));
        let alarm = |to| AlarmTransition {
            at_ms: 420_000,
            alarm: "TestAlarm-5XXErrors-guardrail-demo".into(),
            from: AlarmState::Ok,
            to,
            reason: "set by hand".into(),
        };
        let happened = session.handle_alarms(420_000, &[alarm(AlarmState::Alarm)]);
        assert!(happened.iter().any(|happening| matches!(
            happening,
            Happening::Effect {
                effect: Effect::RollbackStarted { .. },
                ..
            }
        )));
        assert!(matches!(
            session.outcome(),
            Some(Outcome::RolledBack {
                decided_at_ms: 420_000,
                phase: Phase::CanaryBake,
                ..
            })
        ));
        assert!(session
            .handle_alarms(430_000, &[alarm(AlarmState::Ok)])
            .is_empty());
    }

    #[test]
    fn alarms_are_not_evaluated_once_the_rollout_has_ended() {
        let mut session = session(examples::NOTEBOOK_CANARY);
        let happened = drive(&mut session, |_| Some(0.0));
        assert!(session.outcome().is_some_and(Outcome::succeeded));
        assert_eq!(session.next_due(), None);
        let last = happened.last().expect("something happened");
        assert!(
            matches!(
                last,
                Happening::Effect {
                    effect: Effect::Finished { .. },
                    ..
                }
            ),
            "{last:?}"
        );
    }
}
