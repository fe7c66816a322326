//! Rollout events: what a run records and streams, in order.
//!
//! The engine writes each event to the store before anyone sees it, so a run's
//! events are its history: replay reads them back. They are plain data; their
//! timestamps are given by whoever creates them (the core reads no clock).

use serde::{Deserialize, Serialize};

use crate::alarm::{AlarmState, EvaluatedPoint};
use crate::controller::{Outcome, RollbackCause};
use crate::fleets::Fleets;
pub use crate::published::TeamTick;
use crate::schedule::Phase;
pub use crate::tick::{FleetMetrics, FleetTick, LATENCY_BUCKET_GROWTH};
use crate::timeline::{start_phase, AlarmTransition, PhaseSpan, TrafficChange};

/// Which fleet an instance or a metric belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fleet {
    Blue,
    Green,
}

/// The team metrics a run records, at most: the metrics its plan's alarms
/// and what-if name, a bound on a record's size.
pub const MAX_RECORDED_TEAM_METRICS: usize = 20;

/// What happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// The update request was accepted.
    PlanAccepted {
        endpoint: String,
        from_config: String,
        to_config: String,
        mode: String,
        time_scale: f64,
        planned_total_seconds: u32,
        timeout_seconds: u32,
        /// Where the run executes: "local" (the engine) or "sagemaker".
        #[serde(default = "local_backend")]
        backend: String,
    },
    /// A SageMaker run's target: the account, region and endpoint it updates.
    /// Never credentials.
    Targeted {
        account: String,
        region: String,
        endpoint_arn: String,
    },
    /// What SageMaker reported of the endpoint when it changed: its status, and
    /// the new variant's status and message during an update.
    EndpointObserved {
        status: String,
        variant_status: Option<String>,
        message: Option<String>,
    },
    /// A poll of SageMaker or CloudWatch failed; it is retried after `retry_in_ms`.
    PollFailed {
        operation: String,
        error: String,
        retry_in_ms: u64,
    },
    /// Watching resumed after a gap (the watcher was restarted): what happened
    /// between `gap_from_ms` and `gap_to_ms` was not seen as it happened.
    WatchResumed {
        gap_from_ms: u64,
        gap_to_ms: u64,
    },
    /// The process running the rollout stopped (a crash, a kill) after the
    /// record's last event, and a later one found the run unfinished: it rolls
    /// the run back next. `reason` says what it found.
    Interrupted {
        reason: String,
    },
    /// guardrail stopped watching; the update itself carries on in SageMaker.
    WatchStopped {
        by: String,
    },
    /// Green instances are being launched.
    GreenProvisioning {
        instances: u32,
    },
    /// An instance answered its health check.
    InstanceHealthy {
        fleet: Fleet,
        instance: String,
        url: String,
    },
    /// An instance stopped or failed its health check.
    InstanceFailed {
        fleet: Fleet,
        instance: String,
        reason: String,
    },
    /// A serving instance that failed its health checks was replaced, as
    /// SageMaker replaces one: `replacement` answers at `url` and serves in
    /// its place. Between its `InstanceFailed` and this, the fleet served
    /// with one instance fewer.
    InstanceReplaced {
        fleet: Fleet,
        instance: String,
        replacement: String,
        url: String,
    },
    /// Instances were terminated.
    InstancesTerminated {
        fleet: Fleet,
        instances: u32,
    },
    /// The router's weights changed.
    TrafficShifted {
        green_instances: u32,
        blue_instances: u32,
        green_traffic_bp: u32,
    },
    BakeStarted {
        phase: Phase,
        planned_seconds: u32,
    },
    BakeEnded {
        phase: Phase,
    },
    /// A phase that is not a bake started (provisioning, terminating blue).
    PhaseStarted {
        phase: Phase,
        planned_seconds: u32,
    },
    /// One metric period, per fleet. `ticks` holds what the alarms saw
    /// (blue, then green) when the run recorded it (the local engine does), so
    /// that alarms can be re-judged exactly ([`crate::retro`]).
    MetricPeriod {
        start_ms: u64,
        end_ms: u64,
        blue: FleetMetrics,
        green: FleetMetrics,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ticks: Option<Box<[FleetTick; 2]>>,
        /// What the team published over the tick, of each metric its plan
        /// names (the local engine records it with `ticks`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        team: Vec<TeamTick>,
    },
    /// The canary judge looked after one of its periods in which both fleets
    /// served (`crate::judge`); the local engine publishes the score as
    /// `Guardrail/CanaryJudge` `CanaryScore` at the same moment.
    CanaryJudged {
        judgement: Box<crate::judge::Judgement>,
    },
    /// An alarm changed state, with the values it saw.
    AlarmStateChanged {
        alarm: String,
        condition: String,
        from: AlarmState,
        to: AlarmState,
        reason: String,
        points: Vec<EvaluatedPoint>,
    },
    TimedOut {
        timeout_seconds: u32,
    },
    RollbackStarted {
        phase: Phase,
        cause: RollbackCause,
    },
    RollbackCompleted,
    Succeeded,
    /// The run could not go on (an instance could not start, an internal error).
    Failed {
        reason: String,
    },
    /// The final outcome, always last.
    Finished {
        outcome: RunOutcome,
    },
}

/// How a run ended, for listings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum RunOutcome {
    Succeeded,
    RolledBack {
        phase: Phase,
        cause: RollbackCause,
    },
    Failed {
        reason: String,
    },
    /// guardrail stopped watching a SageMaker update before it ended: SageMaker
    /// carries on, and how it ends is not in this record.
    Unwatched {
        by: String,
    },
}

fn local_backend() -> String {
    "local".into()
}

impl RunOutcome {
    pub fn from_outcome(outcome: &Outcome) -> Self {
        match outcome {
            Outcome::Succeeded { .. } => RunOutcome::Succeeded,
            Outcome::RolledBack { phase, cause, .. } => RunOutcome::RolledBack {
                phase: *phase,
                cause: cause.clone(),
            },
        }
    }

    pub fn status(&self) -> &'static str {
        match self {
            RunOutcome::Succeeded => "succeeded",
            RunOutcome::RolledBack { .. } => "rolled_back",
            RunOutcome::Failed { .. } => "failed",
            RunOutcome::Unwatched { .. } => "unwatched",
        }
    }

    pub fn describe(&self) -> String {
        match self {
            RunOutcome::Succeeded => "succeeded: the new config serves all traffic".into(),
            RunOutcome::RolledBack { phase, cause } => {
                format!(
                    "rolled back during the {}: {}",
                    phase.label(),
                    cause.describe()
                )
            }
            RunOutcome::Failed { reason } => format!("failed: {reason}"),
            RunOutcome::Unwatched { by } => format!(
                "not known: {by} stopped watching, and SageMaker carries on with the update (see DescribeEndpoint)"
            ),
        }
    }
}

/// One line of a run's event stream: an event, or why the stream ends without
/// the run's `Finished` event (its record could not be written).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StreamLine {
    Event(Box<Event>),
    Ended { stream_ended: String },
}

/// A run as listed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub id: String,
    pub endpoint: String,
    pub from_config: String,
    pub to_config: String,
    pub backend: String,
    pub time_scale: f64,
    /// "running", "succeeded", "rolled_back" or "failed".
    pub status: String,
    pub outcome: Option<String>,
    pub started_wall_ms: u64,
    pub finished_wall_ms: Option<u64>,
    pub events: u64,
}

/// One recorded event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub run_id: String,
    /// 1, 2, 3… within the run, without gaps.
    pub seq: u64,
    /// Plan time: milliseconds since the update request, on the run's time scale.
    pub at_ms: u64,
    /// Wall-clock time, milliseconds since the Unix epoch.
    pub wall_ms: u64,
    #[serde(flatten)]
    pub kind: EventKind,
}

impl Event {
    /// One line for people: "  5:00 traffic shifted: green 25% (1 green, 3 blue)".
    pub fn describe(&self) -> String {
        let at = crate::units::mmss(self.at_ms / 1_000);
        format!("{at:>6} {}", self.summary())
    }

    /// What happened, without the time: "traffic shifted: green 25% (1 green, 3 blue)".
    // Long: one match over EventKind, an arm (one sentence) per kind of event.
    pub fn summary(&self) -> String {
        match &self.kind {
            EventKind::PlanAccepted {
                endpoint,
                from_config,
                to_config,
                mode,
                time_scale,
                planned_total_seconds,
                backend,
                ..
            } if backend == "sagemaker" => format!(
                "SageMaker accepted the update: {endpoint} from {from_config} to {to_config}, {mode}, {} planned",
                crate::units::mmss(u64::from(*planned_total_seconds))
            ),
            EventKind::PlanAccepted {
                endpoint,
                from_config,
                to_config,
                mode,
                time_scale,
                planned_total_seconds,
                ..
            } => format!(
                "plan accepted: {endpoint} from {from_config} to {to_config}, {mode}, {} planned, time scale {time_scale}",
                crate::units::mmss(u64::from(*planned_total_seconds))
            ),
            EventKind::Targeted {
                account,
                region,
                endpoint_arn,
            } => format!("on SageMaker: account {account}, region {region}, endpoint {endpoint_arn}"),
            EventKind::EndpointObserved {
                status,
                variant_status,
                message,
            } => {
                let mut text = format!("SageMaker: endpoint {status}");
                if let Some(variant) = variant_status {
                    text.push_str(&format!(", new variant {variant}"));
                }
                if let Some(message) = message {
                    text.push_str(&format!(": {message}"));
                }
                text
            }
            EventKind::PollFailed {
                operation,
                error,
                retry_in_ms,
            } => format!(
                "{operation} failed, retrying in {} s: {error}",
                crate::alarm::trim_float(*retry_in_ms as f64 / 1_000.0)
            ),
            EventKind::WatchResumed {
                gap_from_ms,
                gap_to_ms,
            } => format!(
                "watching resumed after a restart: {}–{} was not seen as it happened",
                crate::units::mmss(gap_from_ms / 1_000),
                crate::units::mmss(gap_to_ms / 1_000)
            ),
            EventKind::WatchStopped { by } => format!(
                "{by} stopped watching: SageMaker carries on with the update"
            ),
            EventKind::Interrupted { reason } => format!("interrupted: {reason}"),
            EventKind::GreenProvisioning { instances } => {
                format!("provisioning {instances} green instance(s)")
            }
            EventKind::InstanceHealthy {
                fleet,
                instance,
                url,
            } if url.is_empty() => format!("{} instance {instance} healthy", fleet_name(*fleet)),
            EventKind::InstanceHealthy {
                fleet, instance, url,
            } => format!("{} instance {instance} healthy at {url}", fleet_name(*fleet)),
            EventKind::InstanceFailed {
                fleet,
                instance,
                reason,
            } => format!("{} instance {instance} failed: {reason}", fleet_name(*fleet)),
            EventKind::InstanceReplaced {
                fleet,
                instance,
                replacement,
                url,
            } => format!(
                "{} instance {instance} replaced by {replacement}{}",
                fleet_name(*fleet),
                if url.is_empty() {
                    String::new()
                } else {
                    format!(" at {url}")
                }
            ),
            EventKind::InstancesTerminated { fleet, instances } => {
                format!("terminated {instances} {} instance(s)", fleet_name(*fleet))
            }
            EventKind::TrafficShifted {
                green_instances,
                blue_instances,
                green_traffic_bp,
            } => format!(
                "traffic shifted: green {}% ({green_instances} green, {blue_instances} blue)",
                crate::alarm::trim_float(f64::from(*green_traffic_bp) / 100.0)
            ),
            EventKind::BakeStarted {
                phase,
                planned_seconds,
            } => format!("{} started, {planned_seconds} s", phase.label()),
            EventKind::BakeEnded { phase } => format!("{} ended", phase.label()),
            EventKind::PhaseStarted { phase, .. } => format!("{} started", phase.label()),
            EventKind::MetricPeriod { blue, green, .. } => format!(
                "metrics: blue {} invocations, {} 5xx; green {} invocations, {} 5xx",
                blue.invocations,
                blue.invocation_5xx_errors,
                green.invocations,
                green.invocation_5xx_errors
            ),
            EventKind::CanaryJudged { judgement } => judgement.describe(),
            EventKind::AlarmStateChanged {
                alarm, from, to, reason, ..
            } => format!(
                "alarm {alarm}: {} -> {}: {reason}",
                from.as_str(),
                to.as_str()
            ),
            EventKind::TimedOut { timeout_seconds } => {
                format!("timed out after {timeout_seconds} s")
            }
            EventKind::RollbackStarted { phase, cause } => format!(
                "rollback started during the {}: {}",
                phase.label(),
                cause.describe()
            ),
            EventKind::RollbackCompleted => "rollback completed: all traffic on blue".into(),
            EventKind::Succeeded => "succeeded: the new config serves all traffic".into(),
            EventKind::Failed { reason } => format!("failed: {reason}"),
            EventKind::Finished { outcome } => format!("finished: {}", outcome.describe()),
        }
    }
}

fn fleet_name(fleet: Fleet) -> &'static str {
    match fleet {
        Fleet::Blue => "blue",
        Fleet::Green => "green",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialise_flat_with_a_type_tag() {
        let event = Event {
            run_id: "run-1".into(),
            seq: 3,
            at_ms: 300_000,
            wall_ms: 1,
            kind: EventKind::TrafficShifted {
                green_instances: 1,
                blue_instances: 3,
                green_traffic_bp: 2_500,
            },
        };
        let json = serde_json::to_value(&event).expect("json");
        assert_eq!(json["type"], "traffic_shifted");
        assert_eq!(json["green_traffic_bp"], 2_500);
        let back: Event = serde_json::from_value(json).expect("round trip");
        assert_eq!(back, event);
        assert_eq!(
            event.describe(),
            "  5:00 traffic shifted: green 25% (1 green, 3 blue)"
        );
    }
}

/// One metric period of a recorded run, per fleet.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricPeriod {
    pub start_ms: u64,
    pub end_ms: u64,
    pub blue: FleetMetrics,
    pub green: FleetMetrics,
}

/// A run, reconstructed from its events: what the timeline view and replay show,
/// in the same shapes as a simulation ([`crate::timeline`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunTimeline {
    pub endpoint: String,
    pub from_config: String,
    pub to_config: String,
    pub time_scale: f64,
    pub planned_total_seconds: u32,
    /// "local" or "sagemaker".
    pub backend: String,
    /// Periods the record does not cover as they happened (a watcher restart).
    pub gaps: Vec<(u64, u64)>,
    /// Polls that failed.
    pub poll_failures: u32,
    /// Phases as they ran; the last one ends at `end_ms`.
    pub phases: Vec<PhaseSpan>,
    pub traffic: Vec<TrafficChange>,
    pub periods: Vec<MetricPeriod>,
    /// The canary judge's looks: (plan time, score).
    pub judge_scores: Vec<(u64, Option<f64>)>,
    /// The judge's latest look, in full.
    pub judgement: Option<crate::judge::Judgement>,
    /// Alarm transitions, in order.
    pub alarm_changes: Vec<AlarmTransition>,
    pub rollback_at_ms: Option<u64>,
    pub outcome: Option<RunOutcome>,
    /// The last event's time.
    pub end_ms: u64,
}

/// The state of a run at one moment of its timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct RunSnapshot {
    pub phase: Option<Phase>,
    pub green_traffic_bp: u32,
    pub alarms: Vec<(String, AlarmState)>,
}

impl RunTimeline {
    pub fn from_events(events: &[Event]) -> RunTimeline {
        let mut timeline = RunTimeline {
            time_scale: 1.0,
            ..RunTimeline::default()
        };
        for event in events {
            timeline.end_ms = timeline.end_ms.max(event.at_ms);
            timeline.add(event);
        }
        let end = timeline.end_ms;
        if let Some(last) = timeline.phases.last_mut() {
            last.end_ms = end;
        }
        timeline
    }

    fn add(&mut self, event: &Event) {
        let at = event.at_ms;
        match &event.kind {
            EventKind::PlanAccepted {
                endpoint,
                from_config,
                to_config,
                time_scale,
                planned_total_seconds,
                backend,
                ..
            } => {
                self.backend = backend.clone();
                self.endpoint = endpoint.clone();
                self.from_config = from_config.clone();
                self.to_config = to_config.clone();
                self.time_scale = *time_scale;
                self.planned_total_seconds = *planned_total_seconds;
            }
            EventKind::BakeStarted { phase, .. } | EventKind::PhaseStarted { phase, .. } => {
                start_phase(&mut self.phases, *phase, at);
            }
            EventKind::GreenProvisioning { instances } => {
                let phase = Phase::Provisioning {
                    instances: *instances,
                };
                start_phase(&mut self.phases, phase, at);
            }
            EventKind::TrafficShifted {
                green_instances,
                blue_instances,
                green_traffic_bp,
            } => self.traffic.push(TrafficChange {
                at_ms: at,
                serving: Fleets::new(*green_instances, *blue_instances),
                green_traffic_bp: *green_traffic_bp,
            }),
            EventKind::MetricPeriod {
                start_ms,
                end_ms,
                blue,
                green,
                ..
            } => self.periods.push(MetricPeriod {
                start_ms: *start_ms,
                end_ms: *end_ms,
                blue: blue.clone(),
                green: green.clone(),
            }),
            EventKind::AlarmStateChanged {
                alarm,
                from,
                to,
                reason,
                ..
            } => self.alarm_changes.push(AlarmTransition {
                at_ms: at,
                alarm: alarm.clone(),
                from: *from,
                to: *to,
                reason: reason.clone(),
            }),
            EventKind::CanaryJudged { judgement } => {
                self.judge_scores.push((at, judgement.score));
                self.judgement = Some((**judgement).clone());
            }
            EventKind::RollbackStarted { .. } => self.rollback_at_ms = Some(at),
            EventKind::WatchResumed {
                gap_from_ms,
                gap_to_ms,
            } => self.gaps.push((*gap_from_ms, *gap_to_ms)),
            EventKind::PollFailed { .. } => self.poll_failures += 1,
            EventKind::Finished { outcome } => self.outcome = Some(outcome.clone()),
            _ => {}
        }
    }

    /// Phase, weights and alarm states at `at_ms`.
    pub fn at(&self, at_ms: u64) -> RunSnapshot {
        let phase = self
            .phases
            .iter()
            .rev()
            .find(|span| span.start_ms <= at_ms)
            .map(|span| span.phase);
        let green_traffic_bp = self
            .traffic
            .iter()
            .rev()
            .find(|change| change.at_ms <= at_ms)
            .map(|change| change.green_traffic_bp)
            .unwrap_or(0);
        let mut alarms: Vec<(String, AlarmState)> = Vec::new();
        for change in &self.alarm_changes {
            if change.at_ms > at_ms {
                break;
            }
            match alarms.iter_mut().find(|(name, _)| *name == change.alarm) {
                Some(entry) => entry.1 = change.to,
                None => alarms.push((change.alarm.clone(), change.to)),
            }
        }
        RunSnapshot {
            phase,
            green_traffic_bp,
            alarms,
        }
    }
}

#[cfg(test)]
mod timeline_tests {
    use super::*;

    #[test]
    fn a_timed_out_invocation_counts_as_a_5xx_and_a_model_error() {
        let mut tick = FleetTick::default();
        tick.record(0, 60_000_000.0, 0.0, 1);
        tick.record(200, 1_000.0, 0.0, 1);
        tick.record(404, 1_000.0, 0.0, 1);
        assert_eq!(
            (
                tick.invocations,
                tick.errors_4xx,
                tick.errors_5xx,
                tick.model_errors
            ),
            (3, 1, 1, 2)
        );
    }

    fn event(seq: u64, at_ms: u64, kind: EventKind) -> Event {
        Event {
            run_id: "r".into(),
            seq,
            at_ms,
            wall_ms: 0,
            kind,
        }
    }

    #[test]
    fn a_timeline_answers_what_held_at_any_moment() {
        let events = vec![
            event(1, 0, EventKind::GreenProvisioning { instances: 3 }),
            event(
                2,
                5_000,
                EventKind::BakeStarted {
                    phase: Phase::CanaryBake,
                    planned_seconds: 300,
                },
            ),
            event(
                3,
                5_000,
                EventKind::TrafficShifted {
                    green_instances: 1,
                    blue_instances: 3,
                    green_traffic_bp: 2_500,
                },
            ),
            event(
                4,
                60_000,
                EventKind::AlarmStateChanged {
                    alarm: "a".into(),
                    condition: "c".into(),
                    from: AlarmState::InsufficientData,
                    to: AlarmState::Alarm,
                    reason: "r".into(),
                    points: Vec::new(),
                },
            ),
            event(
                5,
                60_000,
                EventKind::RollbackStarted {
                    phase: Phase::CanaryBake,
                    cause: RollbackCause::Aborted { by: "test".into() },
                },
            ),
            event(
                6,
                60_000,
                EventKind::TrafficShifted {
                    green_instances: 0,
                    blue_instances: 3,
                    green_traffic_bp: 0,
                },
            ),
            event(
                7,
                61_000,
                EventKind::Finished {
                    outcome: RunOutcome::Failed { reason: "x".into() },
                },
            ),
        ];
        let timeline = RunTimeline::from_events(&events);
        assert_eq!(timeline.phases.len(), 2);
        assert_eq!(
            timeline.phases[1],
            PhaseSpan {
                phase: Phase::CanaryBake,
                start_ms: 5_000,
                end_ms: 61_000
            }
        );
        assert_eq!(timeline.rollback_at_ms, Some(60_000));
        let during = timeline.at(30_000);
        assert_eq!(during.phase, Some(Phase::CanaryBake));
        assert_eq!(during.green_traffic_bp, 2_500);
        assert!(during.alarms.is_empty());
        let after = timeline.at(60_500);
        assert_eq!(after.green_traffic_bp, 0);
        assert_eq!(after.alarms, vec![("a".to_string(), AlarmState::Alarm)]);
    }
}
