//! Live progress of a run for the terminal: each event as a line, and at every
//! metric period a status line with the phase, the weights, the alarm states
//! and an ETA.

use std::collections::BTreeMap;

use guardrail_core::alarm::{trim_float, AlarmState};
use guardrail_core::event::{Event, EventKind, RunOutcome};
use guardrail_core::explain::mmss;

/// Turns events into terminal lines.
#[derive(Debug, Default)]
pub struct Progress {
    time_scale: f64,
    planned_total_seconds: u32,
    phase: String,
    green_bp: u32,
    alarms: BTreeMap<String, AlarmState>,
    /// Print every metric period in full.
    pub verbose: bool,
    pub outcome: Option<RunOutcome>,
}

impl Progress {
    pub fn new(verbose: bool) -> Progress {
        Progress {
            time_scale: 1.0,
            verbose,
            phase: "starting".into(),
            ..Progress::default()
        }
    }

    /// The lines to print for `event`.
    pub fn lines(&mut self, event: &Event) -> Vec<String> {
        match &event.kind {
            EventKind::PlanAccepted {
                time_scale,
                planned_total_seconds,
                ..
            } => {
                self.time_scale = *time_scale;
                self.planned_total_seconds = *planned_total_seconds;
            }
            EventKind::BakeStarted { phase, .. } | EventKind::PhaseStarted { phase, .. } => {
                self.phase = phase.label();
            }
            EventKind::GreenProvisioning { .. } => self.phase = "provisioning green".into(),
            EventKind::TrafficShifted {
                green_traffic_bp, ..
            } => self.green_bp = *green_traffic_bp,
            EventKind::AlarmStateChanged { alarm, to, .. } => {
                self.alarms.insert(alarm.clone(), *to);
            }
            EventKind::Finished { outcome } => self.outcome = Some(outcome.clone()),
            EventKind::MetricPeriod { .. } => {
                let mut lines = vec![self.status(event.at_ms)];
                if self.verbose {
                    lines.push(event.describe());
                }
                return lines;
            }
            _ => {}
        }
        vec![event.describe()]
    }

    /// "  5:00 | canary bake | green 25% | alarms: A OK, B OK | ETA 8:00 (8 s)".
    fn status(&self, at_ms: u64) -> String {
        let alarms = if self.alarms.is_empty() {
            "no alarm data yet".to_string()
        } else {
            self.alarms
                .iter()
                .map(|(name, state)| format!("{name} {}", state.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let remaining = u64::from(self.planned_total_seconds).saturating_sub(at_ms / 1_000);
        format!(
            "{:>6} | {} | green {}% | alarms: {alarms} | ETA {} ({} s real)",
            mmss(at_ms / 1_000),
            self.phase,
            trim_float(f64::from(self.green_bp) / 100.0),
            mmss(remaining),
            trim_float((remaining as f64 / self.time_scale).round())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use guardrail_core::schedule::Phase;

    fn event(at_ms: u64, kind: EventKind) -> Event {
        Event {
            run_id: "r".into(),
            seq: 1,
            at_ms,
            wall_ms: 0,
            kind,
        }
    }

    #[test]
    fn a_metric_period_prints_phase_weights_alarms_and_eta() {
        let mut progress = Progress::new(false);
        progress.lines(&event(
            0,
            EventKind::PlanAccepted {
                endpoint: "e".into(),
                from_config: "a".into(),
                to_config: "b".into(),
                mode: "canary".into(),
                time_scale: 60.0,
                planned_total_seconds: 780,
                timeout_seconds: 1_800,
                backend: "local".into(),
            },
        ));
        progress.lines(&event(
            300_000,
            EventKind::BakeStarted {
                phase: Phase::CanaryBake,
                planned_seconds: 300,
            },
        ));
        progress.lines(&event(
            300_000,
            EventKind::TrafficShifted {
                green_instances: 1,
                blue_instances: 3,
                green_traffic_bp: 2_500,
            },
        ));
        let lines = progress.lines(&event(
            360_000,
            EventKind::MetricPeriod {
                start_ms: 300_000,
                end_ms: 360_000,
                blue: Default::default(),
                green: Default::default(),
                ticks: None,
                team: Vec::new(),
            },
        ));
        assert_eq!(
            lines,
            ["  6:00 | canary bake | green 25% | alarms: no alarm data yet | ETA 7:00 (7 s real)"]
        );
    }
}
