//! How guardrail reads what SageMaker and CloudWatch report into the same
//! events a local run records. Pure: the watcher polls, this decides.
//!
//! SageMaker does not document which status each phase of an update shows;
//! what guardrail assumes is `guardrail_core::assumptions` `sagemaker_reading`.

use guardrail_core::alarm::{AlarmState, EvaluatedPoint};
use guardrail_core::controller::RollbackCause;
use guardrail_core::event::{Event, EventKind, RunOutcome};
use guardrail_core::schedule::{Phase, Schedule};

/// One fleet as `DescribeEndpoint` shows it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FleetView {
    pub weight: Option<f64>,
    pub instances: Option<u32>,
    /// The variant's first `VariantStatus`: status, message, start (API epoch ms).
    pub status: Option<(String, Option<String>, Option<u64>)>,
}

/// What `DescribeEndpoint` said, in the terms guardrail reads.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EndpointView {
    pub status: String,
    pub config: String,
    pub failure_reason: Option<String>,
    /// `LastModifiedTime`, API epoch ms.
    pub modified_ms: Option<u64>,
    /// The serving variant (the old fleet during an update).
    pub blue: FleetView,
    /// `PendingDeploymentSummary`'s variant: the new fleet.
    pub green: Option<FleetView>,
}

/// One alarm state change, from `DescribeAlarmHistory` (or `DescribeAlarms`).
#[derive(Clone, Debug, PartialEq)]
pub struct AlarmChange {
    pub alarm: String,
    /// API epoch ms.
    pub at_api_ms: u64,
    pub from: AlarmState,
    pub to: AlarmState,
    pub reason: String,
    pub points: Vec<EvaluatedPoint>,
}

/// CloudWatch's state names.
pub fn alarm_state(text: &str) -> Option<AlarmState> {
    match text {
        "OK" => Some(AlarmState::Ok),
        "ALARM" => Some(AlarmState::Alarm),
        "INSUFFICIENT_DATA" => Some(AlarmState::InsufficientData),
        _ => None,
    }
}

/// The reader's state: what has been recorded so far.
#[derive(Clone, Debug)]
pub struct Reader {
    schedule: Schedule,
    to_config: String,
    rollback_alarms: Vec<String>,
    /// API epoch ms of the update request.
    pub started_api_ms: u64,
    /// Index of the schedule step the run is in; `None` before the first.
    step: Option<usize>,
    seen: Option<(String, Option<String>, Option<String>)>,
    green_bp: u32,
    green_instances: u32,
    blue_instances: u32,
    rollback: bool,
    /// The first rollback alarm that entered ALARM during the update.
    alarm_cause: Option<(String, String, u64)>,
    alarm_states: Vec<(String, AlarmState, u64)>,
    /// The endpoint's `LastModifiedTime` before the update request (API epoch
    /// ms), when the preflight saw it.
    pub before_modified_ms: Option<u64>,
    /// The endpoint's name, for messages.
    pub endpoint_name: String,
    /// Whether `DescribeEndpoint` has shown the update (a status other than
    /// `InService` and `SystemUpdating`, the new config, or a modification
    /// after the one before the request).
    update_seen: bool,
    pub finished: bool,
}

impl Reader {
    pub fn new(
        schedule: Schedule,
        to_config: &str,
        rollback_alarms: Vec<String>,
        started_api_ms: u64,
    ) -> Reader {
        Reader {
            schedule,
            to_config: to_config.to_string(),
            rollback_alarms,
            started_api_ms,
            step: None,
            seen: None,
            green_bp: 0,
            green_instances: 0,
            blue_instances: 0,
            rollback: false,
            alarm_cause: None,
            alarm_states: Vec::new(),
            before_modified_ms: None,
            endpoint_name: String::new(),
            update_seen: false,
            finished: false,
        }
    }

    /// Whether `view` shows this update at all. Right after `UpdateEndpoint`,
    /// `DescribeEndpoint` may still show the endpoint as it was (eventual
    /// consistency): `InService` on the old config, not modified since. Such
    /// a view is not a rollback.
    fn shows_update(&mut self, view: &EndpointView) -> bool {
        let modified_since = match (view.modified_ms, self.before_modified_ms) {
            (Some(now), Some(before)) => now > before,
            (Some(now), None) => now >= self.started_api_ms,
            (None, _) => false,
        };
        if view.config == self.to_config
            || modified_since
            || !matches!(view.status.as_str(), "InService" | "SystemUpdating")
        {
            self.update_seen = true;
        }
        self.update_seen
    }

    /// Plan time of an API moment: ms since the update request.
    pub fn at(&self, api_ms: u64) -> u64 {
        api_ms.saturating_sub(self.started_api_ms)
    }

    /// Takes up the state a recorded run reached (to resume watching it).
    pub fn replay(&mut self, events: &[Event]) {
        for event in events {
            match &event.kind {
                EventKind::GreenProvisioning { .. }
                | EventKind::BakeStarted { .. }
                | EventKind::PhaseStarted { .. } => {
                    let phase = match &event.kind {
                        EventKind::GreenProvisioning { instances } => Phase::Provisioning {
                            instances: *instances,
                        },
                        EventKind::BakeStarted { phase, .. }
                        | EventKind::PhaseStarted { phase, .. } => *phase,
                        _ => continue,
                    };
                    let from = self.step.map_or(0, |step| step + 1);
                    if let Some(index) = self.find(from, |step| step.phase == phase) {
                        self.step = Some(index);
                    }
                }
                EventKind::TrafficShifted {
                    green_instances,
                    blue_instances,
                    green_traffic_bp,
                } => {
                    self.green_bp = *green_traffic_bp;
                    self.green_instances = *green_instances;
                    self.blue_instances = *blue_instances;
                }
                EventKind::EndpointObserved {
                    status,
                    variant_status,
                    message,
                } => {
                    if !matches!(status.as_str(), "InService" | "SystemUpdating") {
                        self.update_seen = true;
                    }
                    self.seen = Some((status.clone(), variant_status.clone(), message.clone()));
                }
                EventKind::AlarmStateChanged { alarm, to, .. } => {
                    let at = self.started_api_ms + event.at_ms;
                    self.note_alarm(alarm, *to, at, "");
                }
                EventKind::RollbackStarted { cause, .. } => {
                    self.rollback = true;
                    if let RollbackCause::Alarm { alarm, reason } = cause {
                        self.alarm_cause = Some((alarm.clone(), reason.clone(), event.at_ms));
                    }
                }
                EventKind::Finished { .. } => self.finished = true,
                _ => {}
            }
        }
    }

    fn find(
        &self,
        from: usize,
        matches: impl Fn(&guardrail_core::schedule::Step) -> bool,
    ) -> Option<usize> {
        self.schedule
            .steps
            .iter()
            .enumerate()
            .skip(from)
            .find(|(_, step)| matches(step))
            .map(|(index, _)| index)
    }

    fn phase(&self) -> Option<Phase> {
        self.step
            .and_then(|index| self.schedule.steps.get(index))
            .map(|step| step.phase)
    }

    /// Moves to schedule step `index`, ending the bake in progress.
    fn enter(&mut self, index: usize, at_ms: u64, out: &mut Vec<(u64, EventKind)>) {
        if let Some(phase) = self.phase().filter(|phase| phase.is_bake()) {
            out.push((at_ms, EventKind::BakeEnded { phase }));
        }
        self.step = Some(index);
        let step = &self.schedule.steps[index];
        let planned_seconds = step.duration_seconds();
        out.push((
            at_ms,
            match step.phase {
                Phase::Provisioning { instances } => EventKind::GreenProvisioning { instances },
                phase if phase.is_bake() => EventKind::BakeStarted {
                    phase,
                    planned_seconds,
                },
                phase => EventKind::PhaseStarted {
                    phase,
                    planned_seconds,
                },
            },
        ));
    }

    fn note_alarm(&mut self, alarm: &str, to: AlarmState, at_api_ms: u64, reason: &str) {
        match self
            .alarm_states
            .iter_mut()
            .find(|(name, _, _)| name == alarm)
        {
            Some(entry) => {
                entry.1 = to;
                entry.2 = at_api_ms;
            }
            None => self.alarm_states.push((alarm.to_string(), to, at_api_ms)),
        }
        if to == AlarmState::Alarm
            && at_api_ms >= self.started_api_ms
            && self.alarm_cause.is_none()
            && self.rollback_alarms.iter().any(|name| name == alarm)
        {
            self.alarm_cause = Some((alarm.to_string(), reason.to_string(), self.at(at_api_ms)));
        }
    }

    /// The last state recorded of `alarm`, and when (API epoch ms).
    pub fn alarm_state(&self, alarm: &str) -> Option<(AlarmState, u64)> {
        self.alarm_states
            .iter()
            .find(|(name, _, _)| name == alarm)
            .map(|(_, state, at)| (*state, *at))
    }

    /// An alarm changed state: the event, unless it is already recorded.
    pub fn alarm(&mut self, change: AlarmChange) -> Option<(u64, EventKind)> {
        if let Some((state, at)) = self.alarm_state(&change.alarm) {
            if at >= change.at_api_ms || (state == change.to && at + 1_000 >= change.at_api_ms) {
                return None;
            }
        }
        self.note_alarm(&change.alarm, change.to, change.at_api_ms, &change.reason);
        let at_ms = self.at(change.at_api_ms);
        Some((
            at_ms,
            EventKind::AlarmStateChanged {
                condition: String::new(),
                alarm: change.alarm,
                from: change.from,
                to: change.to,
                reason: change.reason,
                points: change.points,
            },
        ))
    }

    /// Records what the endpoint shows (status, the new fleet's status, the
    /// message), once each time it changes.
    fn observe(
        &mut self,
        seen: (String, Option<String>, Option<String>),
        now_ms: u64,
        out: &mut Vec<(u64, EventKind)>,
    ) {
        if self.seen.as_ref() != Some(&seen) {
            self.seen = Some(seen.clone());
            out.push((
                now_ms,
                EventKind::EndpointObserved {
                    status: seen.0,
                    variant_status: seen.1,
                    message: seen.2,
                },
            ));
        }
    }

    /// What `DescribeEndpoint` shows now; `now_ms` is the plan time of the poll.
    pub fn endpoint(&mut self, view: &EndpointView, now_ms: u64) -> Vec<(u64, EventKind)> {
        let mut out = Vec::new();
        if self.finished {
            return out;
        }
        if !self.shows_update(view) {
            let seen = (
                view.status.clone(),
                None,
                Some(format!(
                    "DescribeEndpoint does not show the update yet (still {} on {}): SageMaker's reads are eventually consistent",
                    view.status, view.config
                )),
            );
            self.observe(seen, now_ms, &mut out);
            return out;
        }
        let green_status = view.green.as_ref().and_then(|green| green.status.clone());
        let seen = (
            view.status.clone(),
            green_status.as_ref().map(|(status, _, _)| status.clone()),
            green_status
                .as_ref()
                .and_then(|(_, message, _)| message.clone())
                .or_else(|| view.failure_reason.clone()),
        );
        self.observe(seen, now_ms, &mut out);
        match (view.status.as_str(), &view.green) {
            ("Updating", Some(green)) => self.updating(view, green, now_ms, &mut out),
            ("RollingBack", green) => {
                if let Some(green) = green {
                    self.traffic(view, green, now_ms, &mut out);
                }
                self.rolling_back(view, now_ms, &mut out);
            }
            ("Updating", None) | ("Creating", _) | ("SystemUpdating", _) => {}
            ("InService", _) => {
                let at_ms = view.modified_ms.map(|ms| self.at(ms)).unwrap_or(now_ms);
                if view.config == self.to_config {
                    self.succeeded(at_ms, &mut out);
                } else {
                    self.rolled_back(view, at_ms, &mut out);
                }
            }
            (status, _) => self.failed(view, status, now_ms, &mut out),
        }
        out
    }

    /// When a fleet's status began, in plan time: SageMaker's start time for
    /// it if it gave one, else the poll's `now_ms`.
    fn status_at(
        &self,
        status: &Option<(String, Option<String>, Option<u64>)>,
        now_ms: u64,
    ) -> u64 {
        status
            .as_ref()
            .and_then(|(_, _, started)| *started)
            .map(|started| started.saturating_sub(self.started_api_ms))
            .unwrap_or(now_ms)
    }

    /// An update under way: green's status moves the run through the
    /// schedule's provisioning and bakes, or starts a rollback; blue deleting
    /// means green serves everything.
    fn updating(
        &mut self,
        view: &EndpointView,
        green: &FleetView,
        now_ms: u64,
        out: &mut Vec<(u64, EventKind)>,
    ) {
        let at_ms = self.status_at(&green.status, now_ms);
        let status = green.status.as_ref().map(|(status, _, _)| status.as_str());
        self.traffic(view, green, now_ms, out);
        match status {
            Some("Creating") => self.provisioning(at_ms, out),
            Some("Baking") => self.baking(at_ms, out),
            Some("Deleting") if !self.rollback => {
                self.rollback = true;
                let phase = self.phase().unwrap_or(Phase::Provisioning { instances: 0 });
                out.push((
                    at_ms,
                    EventKind::RollbackStarted {
                        phase,
                        cause: self.cause(view),
                    },
                ));
            }
            _ => {}
        }
        // The old fleet terminating once green serves everything.
        let blue_deleting = view
            .blue
            .status
            .as_ref()
            .is_some_and(|(status, _, _)| status == "Deleting");
        if blue_deleting && !self.rollback && self.phase() != Some(Phase::TerminatingBlue) {
            let from = self.step.map_or(0, |step| step + 1);
            if let Some(index) = self.find(from, |step| step.phase == Phase::TerminatingBlue) {
                let at_ms = self.status_at(&view.blue.status, now_ms);
                self.enter(index, at_ms, out);
            }
        }
    }

    /// Green is being created: the next provisioning step, unless already in one.
    fn provisioning(&mut self, at_ms: u64, out: &mut Vec<(u64, EventKind)>) {
        if matches!(self.phase(), Some(Phase::Provisioning { .. })) {
            return;
        }
        let from = self.step.map_or(0, |step| step + 1);
        if let Some(index) = self.find(from, |step| {
            matches!(step.phase, Phase::Provisioning { .. })
        }) {
            self.enter(index, at_ms, out);
        }
    }

    /// Green is baking: the next bake at green's share of traffic (within one
    /// percentage point), else the next bake, unless already in that bake.
    fn baking(&mut self, at_ms: u64, out: &mut Vec<(u64, EventKind)>) {
        let from = self.step.map_or(0, |step| step + 1);
        let bp = self.green_bp;
        let same_bake = self.phase().is_some_and(Phase::is_bake)
            && self
                .step
                .and_then(|index| self.schedule.steps.get(index))
                .is_some_and(|step| step.green_traffic_bp.abs_diff(bp) <= 100);
        if same_bake {
            return;
        }
        let index = self
            .find(from, |step| {
                step.phase.is_bake() && step.green_traffic_bp.abs_diff(bp) <= 100
            })
            .or_else(|| self.find(from, |step| step.phase.is_bake()));
        if let Some(index) = index {
            self.enter(index, at_ms, out);
        }
    }

    /// The endpoint is RollingBack: the rollback started when the alarm
    /// fired, else when SageMaker changed the endpoint, else now.
    fn rolling_back(&mut self, view: &EndpointView, now_ms: u64, out: &mut Vec<(u64, EventKind)>) {
        if self.rollback {
            return;
        }
        self.rollback = true;
        let phase = self.phase().unwrap_or(Phase::Provisioning { instances: 0 });
        let modified = view
            .modified_ms
            .filter(|ms| *ms > self.started_api_ms)
            .map(|ms| self.at(ms));
        let at_ms = self
            .alarm_cause
            .as_ref()
            .map(|(_, _, at)| *at)
            .or(modified)
            .unwrap_or(now_ms);
        out.push((
            at_ms,
            EventKind::RollbackStarted {
                phase,
                cause: self.cause(view),
            },
        ));
    }

    /// Any other status (Failed, UpdateRollbackFailed, ...) ends the run as failed.
    fn failed(
        &mut self,
        view: &EndpointView,
        status: &str,
        now_ms: u64,
        out: &mut Vec<(u64, EventKind)>,
    ) {
        let why = view
            .failure_reason
            .as_deref()
            .filter(|reason| !reason.is_empty())
            .unwrap_or("SageMaker gave no FailureReason");
        let reason = if status == "UpdateRollbackFailed" {
            format!(
                "SageMaker could not roll the update back: the endpoint is UpdateRollbackFailed ({why}). \
                 It needs a person: SageMaker says the endpoint may serve a mix of the old and the new \
                 config; see which with `aws sagemaker describe-endpoint --endpoint-name {}`, then update it \
                 to the config it should serve",
                self.endpoint_name
            )
        } else {
            format!("the endpoint is {status}: {why}")
        };
        if let Some(phase) = self.phase().filter(|phase| phase.is_bake()) {
            out.push((now_ms, EventKind::BakeEnded { phase }));
        }
        out.push((
            now_ms,
            EventKind::Failed {
                reason: reason.clone(),
            },
        ));
        out.push((
            now_ms,
            EventKind::Finished {
                outcome: RunOutcome::Failed { reason },
            },
        ));
        self.finished = true;
    }

    fn traffic(
        &mut self,
        view: &EndpointView,
        green: &FleetView,
        at_ms: u64,
        out: &mut Vec<(u64, EventKind)>,
    ) {
        let green_instances = green.instances.unwrap_or(0);
        let blue_instances = view.blue.instances.unwrap_or(0);
        let bp = match (green.weight, view.blue.weight) {
            (Some(g), Some(b)) if g >= 0.0 && b >= 0.0 && g + b > 0.0 => {
                (g / (g + b) * 10_000.0).round() as u32
            }
            _ if green_instances + blue_instances > 0 => (f64::from(green_instances)
                / f64::from(green_instances + blue_instances)
                * 10_000.0)
                .round() as u32,
            _ => 0,
        };
        if (bp, green_instances, blue_instances)
            != (self.green_bp, self.green_instances, self.blue_instances)
        {
            self.green_bp = bp;
            self.green_instances = green_instances;
            self.blue_instances = blue_instances;
            if bp == 0 && green_instances == 0 && !self.rollback && self.step.is_none() {
                return;
            }
            out.push((
                at_ms,
                EventKind::TrafficShifted {
                    green_instances,
                    blue_instances,
                    green_traffic_bp: bp,
                },
            ));
        }
    }

    /// Why SageMaker rolled back, as far as guardrail can tell.
    fn cause(&self, view: &EndpointView) -> RollbackCause {
        if let Some((alarm, reason, at_ms)) = &self.alarm_cause {
            return RollbackCause::Alarm {
                alarm: alarm.clone(),
                reason: format!(
                    "{} (at {})",
                    if reason.is_empty() {
                        "no reason given"
                    } else {
                        reason
                    },
                    guardrail_core::explain::mmss(at_ms / 1_000)
                ),
            };
        }
        match &view.failure_reason {
            Some(reason)
                if reason.to_ascii_lowercase().contains("timeout")
                    || reason.contains("MaximumExecutionTimeout") =>
            {
                RollbackCause::Timeout {
                    timeout_seconds: self.schedule.timeout_seconds,
                }
            }
            Some(reason) => RollbackCause::Reported {
                reason: reason.clone(),
            },
            None => RollbackCause::Reported {
                reason: "SageMaker gave no FailureReason and no rollback alarm entered ALARM"
                    .into(),
            },
        }
    }

    fn succeeded(&mut self, at_ms: u64, out: &mut Vec<(u64, EventKind)>) {
        if let Some(phase) = self.phase().filter(|phase| phase.is_bake()) {
            out.push((at_ms, EventKind::BakeEnded { phase }));
        }
        if self.green_bp != 10_000 {
            self.green_bp = 10_000;
            out.push((
                at_ms,
                EventKind::TrafficShifted {
                    green_instances: self.green_instances.max(self.blue_instances),
                    blue_instances: 0,
                    green_traffic_bp: 10_000,
                },
            ));
        }
        out.push((at_ms, EventKind::Succeeded));
        out.push((
            at_ms,
            EventKind::Finished {
                outcome: RunOutcome::Succeeded,
            },
        ));
        self.finished = true;
    }

    fn rolled_back(&mut self, view: &EndpointView, at_ms: u64, out: &mut Vec<(u64, EventKind)>) {
        let phase = self.phase().unwrap_or(Phase::Provisioning { instances: 0 });
        let cause = self.cause(view);
        if let Some(phase) = self.phase().filter(|phase| phase.is_bake()) {
            out.push((at_ms, EventKind::BakeEnded { phase }));
        }
        if !self.rollback {
            self.rollback = true;
            let started = self
                .alarm_cause
                .as_ref()
                .map(|(_, _, at)| *at)
                .unwrap_or(at_ms)
                .min(at_ms);
            out.push((
                started,
                EventKind::RollbackStarted {
                    phase,
                    cause: cause.clone(),
                },
            ));
        }
        if self.green_bp != 0 {
            self.green_bp = 0;
            out.push((
                at_ms,
                EventKind::TrafficShifted {
                    green_instances: 0,
                    blue_instances: self.blue_instances.max(view.blue.instances.unwrap_or(0)),
                    green_traffic_bp: 0,
                },
            ));
        }
        out.push((at_ms, EventKind::RollbackCompleted));
        out.push((
            at_ms,
            EventKind::Finished {
                outcome: RunOutcome::RolledBack { phase, cause },
            },
        ));
        self.finished = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: u64 = 1_800_000_000_000;

    fn reader() -> Reader {
        let plan = guardrail_core::Plan::from_json(guardrail_core::examples::NOTEBOOK_CANARY)
            .expect("example");
        let rollout = guardrail_core::check(&plan).rollout.expect("valid");
        let mut reader = Reader::new(
            guardrail_core::schedule::schedule(&rollout),
            "incompatible",
            plan.rollback_alarm_names()
                .into_iter()
                .map(str::to_string)
                .collect(),
            START,
        );
        reader.before_modified_ms = Some(START - 3_600_000);
        reader.endpoint_name = "guardrail-demo".into();
        reader
    }

    fn view(status: &str, config: &str, modified_ms: u64) -> EndpointView {
        EndpointView {
            status: status.into(),
            config: config.into(),
            modified_ms: Some(modified_ms),
            ..EndpointView::default()
        }
    }

    fn outcome(events: &[(u64, EventKind)]) -> Option<&RunOutcome> {
        events.iter().find_map(|(_, kind)| match kind {
            EventKind::Finished { outcome } => Some(outcome),
            _ => None,
        })
    }

    #[test]
    fn the_endpoint_as_it_was_before_the_update_is_a_stale_read_not_a_rollback() {
        let mut reader = reader();
        let stale = view("InService", "baseline", START - 3_600_000);
        let events = reader.endpoint(&stale, 1_000);
        assert!(outcome(&events).is_none(), "{events:?}");
        assert!(matches!(
            &events[..],
            [(_, EventKind::EndpointObserved { message: Some(text), .. })] if text.contains("does not show the update yet")
        ));
        assert!(reader.endpoint(&stale, 2_000).is_empty(), "said once");
        // Once SageMaker has modified the endpoint, InService on the old
        // config is a rollback.
        let events = reader.endpoint(&view("InService", "baseline", START + 60_000), 3_000);
        assert!(
            matches!(outcome(&events), Some(RunOutcome::RolledBack { .. })),
            "{events:?}"
        );
    }

    #[test]
    fn rolling_back_starts_the_rollback_once_and_in_service_ends_it() {
        let mut reader = reader();
        reader.endpoint(&view("Updating", "baseline", START), 1_000);
        let events = reader.endpoint(&view("RollingBack", "baseline", START + 300_000), 2_000);
        assert!(
            outcome(&events).is_none(),
            "RollingBack is not an end: {events:?}"
        );
        let started: Vec<u64> = events
            .iter()
            .filter(|(_, kind)| matches!(kind, EventKind::RollbackStarted { .. }))
            .map(|(at, _)| *at)
            .collect();
        assert_eq!(started, [300_000], "at SageMaker's LastModifiedTime");
        let events = reader.endpoint(&view("RollingBack", "baseline", START + 300_000), 3_000);
        assert!(events
            .iter()
            .all(|(_, kind)| !matches!(kind, EventKind::RollbackStarted { .. })));
        let events = reader.endpoint(&view("InService", "baseline", START + 400_000), 4_000);
        assert!(
            matches!(outcome(&events), Some(RunOutcome::RolledBack { .. })),
            "{events:?}"
        );
        assert!(events
            .iter()
            .all(|(_, kind)| !matches!(kind, EventKind::RollbackStarted { .. })));
    }

    #[test]
    fn update_rollback_failed_says_a_person_is_needed_and_why() {
        let mut reader = reader();
        reader.endpoint(&view("Updating", "baseline", START), 1_000);
        let mut failed = view("UpdateRollbackFailed", "baseline", START + 500_000);
        failed.failure_reason = Some("instances could not be launched".into());
        let events = reader.endpoint(&failed, 2_000);
        let Some(RunOutcome::Failed { reason }) = outcome(&events) else {
            panic!("a failure: {events:?}");
        };
        assert!(
            reason.contains("could not roll the update back"),
            "{reason}"
        );
        assert!(
            reason.contains("(instances could not be launched)"),
            "{reason}"
        );
        assert!(reason.contains("needs a person"), "{reason}");
        assert!(
            reason.contains("--endpoint-name guardrail-demo"),
            "{reason}"
        );
    }
}
