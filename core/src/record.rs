//! A recorded run that travels in its link, so that a reviewer needs no access
//! to the server that recorded it: any copy of the planner, served from any
//! static host, replays it.
//!
//! The record is the run's events, less what a replay never shows (the run id
//! on every event, wall-clock times, the loopback URLs of the local model
//! servers), in the same versioned, checksummed token format as plan links
//! ([`crate::link`]). It sits beside the plan in the URL's fragment, after
//! `r=`: `#p=<plan token>&r=<record token>`. The record token is written once,
//! when the link is made; moving around the replay rewrites only the plan token.
//!
//! Replaying a record gives the same [`RunTimeline`] as replaying the events it
//! was made from, at every moment: the record keeps every field the timeline
//! reads (tested).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

use crate::event::{Event, EventKind, RunTimeline};
use crate::link::{self, LinkError, LinkState};
use crate::plan::Plan;

/// A record token longer than this is not offered as a link: some chat tools
/// and code-review comments cut URLs near 32 KB, and the planner falls back to
/// a link naming the run on its server.
pub const MAX_RECORD_CHARS: usize = 32 * 1024;

/// Decoded records above this size are refused (a deflate bomb guard): about
/// ten times the largest record that fits in [`MAX_RECORD_CHARS`].
const MAX_DECODED_BYTES: usize = 4 * 1024 * 1024;

/// The key of the record token in a URL's fragment or query.
pub const KEY: &str = "r=";

/// One event of a record: its time and what happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordedEvent {
    #[serde(rename = "t")]
    pub at_ms: u64,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// A run as its link carries it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub run_id: String,
    /// When the update was requested, in milliseconds since the Unix epoch.
    pub started_wall_ms: u64,
    pub events: Vec<RecordedEvent>,
}

/// Why a run has no self-contained link.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum RecordError {
    #[error("the run's record is {chars} characters as a link, more than the {MAX_RECORD_CHARS} a link may carry: share the link to the run on its server instead")]
    TooLong { chars: usize },
    #[error("the run has no events to share")]
    Empty,
}

impl RunRecord {
    /// The record of `events` (one run's, in order).
    pub fn from_events(events: &[Event]) -> RunRecord {
        RunRecord {
            run_id: events
                .first()
                .map(|event| event.run_id.clone())
                .unwrap_or_default(),
            started_wall_ms: events.first().map(|event| event.wall_ms).unwrap_or(0),
            events: events
                .iter()
                .map(|event| RecordedEvent {
                    at_ms: event.at_ms,
                    kind: trimmed(&event.kind),
                })
                .collect(),
        }
    }

    /// The events again: numbered from 1, wall-clock times derived from the
    /// start and the run's time scale.
    pub fn to_events(&self) -> Vec<Event> {
        let scale = self
            .events
            .iter()
            .find_map(|event| match &event.kind {
                EventKind::PlanAccepted { time_scale, .. } if *time_scale > 0.0 => {
                    Some(*time_scale)
                }
                _ => None,
            })
            .unwrap_or(1.0);
        self.events
            .iter()
            .enumerate()
            .map(|(index, event)| Event {
                run_id: self.run_id.clone(),
                seq: index as u64 + 1,
                at_ms: event.at_ms,
                wall_ms: self
                    .started_wall_ms
                    .saturating_add((event.at_ms as f64 / scale) as u64),
                kind: event.kind.clone(),
            })
            .collect()
    }

    /// The run's timeline, as a replay shows it.
    pub fn timeline(&self) -> RunTimeline {
        RunTimeline::from_events(&self.to_events())
    }

    /// The record as a link token, or why it cannot be one.
    pub fn to_token(&self) -> Result<String, RecordError> {
        if self.events.is_empty() {
            return Err(RecordError::Empty);
        }
        let value = serde_json::to_value(self).unwrap_or(Value::Null);
        let token = link::encode_value(&value);
        if token.len() > MAX_RECORD_CHARS {
            return Err(RecordError::TooLong { chars: token.len() });
        }
        Ok(token)
    }

    /// Reads a record token, or a URL carrying one after `r=`.
    pub fn from_token(link_or_token: &str) -> Result<RunRecord, LinkError> {
        let token = link::extract_token(link_or_token.trim(), KEY);
        let value = link::decode_value(token, MAX_DECODED_BYTES)?;
        crate::json::from_json(&value.to_string())
            .map_err(|error| LinkError::NotARecord(error.at_path()))
    }
}

/// A link to a recorded run, for a review.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReviewLink {
    /// `BASE/#p=…&r=…`, or `BASE/#p=…` naming the run on its server.
    pub url: String,
    /// Whether the link carries the run (`r=`), so that it opens anywhere.
    pub self_contained: bool,
    /// Why it does not, if it does not.
    pub note: Option<String>,
}

/// The link that opens `events` (a recorded run of `plan`) in the planner at
/// `base`, at `at_ms` or at its end: self-contained when the record fits.
pub fn review_link(base: &str, plan: &Plan, events: &[Event], at_ms: Option<u64>) -> ReviewLink {
    let record = RunRecord::from_events(events);
    let state = LinkState {
        plan: plan.clone(),
        view: Some("run".into()),
        run: Some(record.run_id.clone()),
        at_ms,
        review: true,
    };
    let base = base.trim_end_matches('/');
    let plan_part = format!("{base}/#p={}", link::encode(&state));
    match record.to_token() {
        Ok(token) => ReviewLink {
            url: format!("{plan_part}&{KEY}{token}"),
            self_contained: true,
            note: None,
        },
        Err(error) => ReviewLink {
            url: plan_part,
            self_contained: false,
            note: Some(error.to_string()),
        },
    }
}

/// What a replay does not need of an event: the local model servers'
/// loopback addresses, and the per-tick samples (SageMaker's and the team's)
/// that only a re-judgement reads (they would make a link many times longer).
fn trimmed(kind: &EventKind) -> EventKind {
    match kind {
        EventKind::MetricPeriod {
            start_ms,
            end_ms,
            blue,
            green,
            ..
        } => EventKind::MetricPeriod {
            start_ms: *start_ms,
            end_ms: *end_ms,
            blue: blue.clone(),
            green: green.clone(),
            ticks: None,
            team: Vec::new(),
        },
        EventKind::InstanceHealthy {
            fleet, instance, ..
        } => EventKind::InstanceHealthy {
            fleet: *fleet,
            instance: instance.clone(),
            url: String::new(),
        },
        EventKind::InstanceReplaced {
            fleet,
            instance,
            replacement,
            ..
        } => EventKind::InstanceReplaced {
            fleet: *fleet,
            instance: instance.clone(),
            replacement: replacement.clone(),
            url: String::new(),
        },
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alarm::AlarmState;
    use crate::controller::RollbackCause;
    use crate::event::{Fleet, FleetMetrics, FleetTick, RunOutcome};
    use crate::schedule::Phase;

    fn event(seq: u64, at_ms: u64, kind: EventKind) -> Event {
        Event {
            run_id: "run-7".into(),
            seq,
            at_ms,
            wall_ms: 1_700_000_000_000 + at_ms / 10,
            kind,
        }
    }

    /// A short rollback, with every kind of event a replay reads.
    fn run() -> Vec<Event> {
        let kinds = vec![
            (
                0,
                EventKind::PlanAccepted {
                    endpoint: "guardrail-demo".into(),
                    from_config: "baseline".into(),
                    to_config: "incompatible".into(),
                    mode: "canary".into(),
                    time_scale: 10.0,
                    planned_total_seconds: 780,
                    timeout_seconds: 3_600,
                    backend: "local".into(),
                },
            ),
            (0, EventKind::GreenProvisioning { instances: 1 }),
            (
                60_000,
                EventKind::InstanceHealthy {
                    fleet: Fleet::Green,
                    instance: "green-1".into(),
                    url: "http://127.0.0.1:41234".into(),
                },
            ),
            (
                60_000,
                EventKind::TrafficShifted {
                    green_instances: 1,
                    blue_instances: 3,
                    green_traffic_bp: 2_500,
                },
            ),
            (
                60_000,
                EventKind::BakeStarted {
                    phase: Phase::CanaryBake,
                    planned_seconds: 300,
                },
            ),
            (
                120_000,
                EventKind::MetricPeriod {
                    start_ms: 60_000,
                    end_ms: 120_000,
                    blue: FleetMetrics {
                        invocations: 300,
                        model_latency_average_us: Some(8_123.5),
                        ..FleetMetrics::default()
                    },
                    green: FleetMetrics {
                        invocations: 100,
                        invocation_5xx_errors: 100,
                        ..FleetMetrics::default()
                    },
                    ticks: Some(Box::new([
                        FleetTick::default(),
                        FleetTick {
                            invocations: 100,
                            errors_5xx: 100,
                            ..FleetTick::default()
                        },
                    ])),
                    team: vec![crate::event::TeamTick {
                        metric: crate::plan::MetricIdentity::new(
                            "Shop/Checkout",
                            "ConversionRate",
                            Vec::new(),
                        ),
                        start_ms: 60_000,
                        data: crate::published::Aggregate::default(),
                    }],
                },
            ),
            (
                120_000,
                EventKind::AlarmStateChanged {
                    alarm: "green-5xx".into(),
                    condition: "Average of Invocation5XXErrors >= 0.1".into(),
                    from: AlarmState::Ok,
                    to: AlarmState::Alarm,
                    reason: "Threshold crossed".into(),
                    points: Vec::new(),
                },
            ),
            (
                120_000,
                EventKind::RollbackStarted {
                    phase: Phase::CanaryBake,
                    cause: RollbackCause::Reported {
                        reason: "alarm".into(),
                    },
                },
            ),
            (125_000, EventKind::RollbackCompleted),
            (
                125_000,
                EventKind::Finished {
                    outcome: RunOutcome::Failed {
                        reason: "stand-in".into(),
                    },
                },
            ),
        ];
        kinds
            .into_iter()
            .enumerate()
            .map(|(index, (at_ms, kind))| event(index as u64 + 1, at_ms, kind))
            .collect()
    }

    #[test]
    fn a_record_replays_as_its_events_do_at_every_moment() {
        let events = run();
        let token = RunRecord::from_events(&events).to_token().expect("fits");
        let record = RunRecord::from_token(&format!("https://host/#p=1.x&r={token}"))
            .expect("the record reads back");
        let replayed = record.timeline();
        let original = RunTimeline::from_events(&events);
        assert_eq!(replayed, original);
        for at in [0, 59_999, 60_000, 90_000, 120_000, 125_000] {
            assert_eq!(replayed.at(at), original.at(at), "at {at}");
        }
        let back = record.to_events();
        assert_eq!(back.len(), events.len());
        assert_eq!(back[4].seq, 5);
        assert_eq!(back[4].run_id, "run-7");
        // Wall-clock times come back from the start and the time scale.
        assert_eq!(back[9].wall_ms, 1_700_000_000_000 + 12_500);
    }

    #[test]
    fn a_review_link_carries_the_run_and_the_plan() {
        let plan = crate::examples::notebook_canary();
        let review = review_link("http://127.0.0.1:3000/", &plan, &run(), Some(60_000));
        assert!(review.self_contained, "{review:?}");
        assert!(
            review.url.starts_with("http://127.0.0.1:3000/#p=1."),
            "{}",
            review.url
        );
        let state = link::decode(&review.url).expect("the plan part reads");
        assert_eq!(state.plan, plan);
        assert_eq!(
            (state.view.as_deref(), state.run.as_deref(), state.at_ms),
            (Some("run"), Some("run-7"), Some(60_000))
        );
        assert!(state.review, "a review link opens a read-only page");
        let record = RunRecord::from_token(&review.url).expect("the record part reads");
        assert_eq!(record.timeline(), RunTimeline::from_events(&run()));
        // Without events there is no record: the link names the run only.
        let bare = review_link("http://h", &plan, &[], None);
        assert!(!bare.self_contained && !bare.url.contains("&r="));
        assert!(bare.note.is_some());
    }

    #[test]
    fn a_record_leaves_out_the_loopback_addresses() {
        let token = RunRecord::from_events(&run()).to_token().expect("fits");
        let record = RunRecord::from_token(&token).expect("reads");
        let text = serde_json::to_string(&record).expect("json");
        assert!(!text.contains("127.0.0.1"), "{text}");
        // Nor the per-tick samples, SageMaker's or the team's: a link
        // replays, it does not re-judge.
        assert!(!text.contains("ticks"), "{text}");
        assert!(!text.contains("ConversionRate"), "{text}");
    }

    #[test]
    fn a_replaced_instance_is_kept_without_its_address() {
        let mut events = run();
        let at = events.len();
        events.insert(
            at - 1,
            Event {
                run_id: "run-1".into(),
                seq: 0,
                at_ms: 60_000,
                wall_ms: 0,
                kind: EventKind::InstanceReplaced {
                    fleet: Fleet::Blue,
                    instance: "baseline-2".into(),
                    replacement: "baseline-2-replacement".into(),
                    url: "http://127.0.0.1:41235".into(),
                },
            },
        );
        let token = RunRecord::from_events(&events).to_token().expect("fits");
        let text =
            serde_json::to_string(&RunRecord::from_token(&token).expect("reads")).expect("json");
        assert!(!text.contains("127.0.0.1"), "{text}");
        assert!(text.contains("baseline-2-replacement"), "{text}");
    }

    #[test]
    fn damaged_or_foreign_records_are_refused_with_a_reason() {
        let token = RunRecord::from_events(&run()).to_token().expect("fits");
        let cut = &token[..token.len() - 10];
        assert!(matches!(
            RunRecord::from_token(cut),
            Err(LinkError::Damaged(_))
        ));
        // A plan token is a valid token but not a record.
        let plan = link::encode(&link::LinkState::plan(crate::examples::notebook_canary()));
        let error = RunRecord::from_token(&plan).expect_err("not a record");
        assert!(matches!(error, LinkError::NotARecord(_)), "{error}");
        assert!(error.to_string().contains("not a run record"), "{error}");
        assert_eq!(RunRecord::from_token(""), Err(LinkError::Empty));
    }

    #[test]
    fn a_record_too_long_for_a_link_says_so() {
        let mut events = run();
        let template = events[5].clone();
        // Incompressible values: every period's latency differs.
        for index in 0..20_000u64 {
            let mut period = template.clone();
            if let EventKind::MetricPeriod { blue, .. } = &mut period.kind {
                blue.model_latency_average_us = Some(1.0 + (index * 7919 % 104_729) as f64 / 3.1);
                blue.invocations = index * 31 % 977;
            }
            events.push(period);
        }
        match RunRecord::from_events(&events).to_token() {
            Err(RecordError::TooLong { chars }) => assert!(chars > MAX_RECORD_CHARS),
            other => panic!("expected TooLong, got {other:?}"),
        }
        assert_eq!(
            RunRecord::from_events(&[]).to_token(),
            Err(RecordError::Empty)
        );
    }
}
