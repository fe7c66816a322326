//! The vocabulary of a rollout as it ran: phases, traffic changes and alarm
//! transitions on the plan clock. The simulator produces these, and a recorded
//! run is rebuilt into the same shapes ([`crate::event::RunTimeline`]), so the
//! planner draws both with the same code.

use serde::{Deserialize, Serialize};

use crate::alarm::AlarmState;
use crate::fleets::Fleets;
use crate::schedule::Phase;

/// A phase as it actually ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseSpan {
    pub phase: Phase,
    pub start_ms: u64,
    pub end_ms: u64,
}

/// Routing changed at `at_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrafficChange {
    pub at_ms: u64,
    pub serving: Fleets,
    pub green_traffic_bp: u32,
}

/// An alarm changed state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlarmTransition {
    pub at_ms: u64,
    pub alarm: String,
    pub from: AlarmState,
    pub to: AlarmState,
    pub reason: String,
}

/// Starts `phase` at `at_ms`: the phase before it ends there. The last phase's
/// end is set when the run ends.
pub fn start_phase(phases: &mut Vec<PhaseSpan>, phase: Phase, at_ms: u64) {
    if let Some(last) = phases.last_mut() {
        last.end_ms = at_ms;
    }
    phases.push(PhaseSpan {
        phase,
        start_ms: at_ms,
        end_ms: at_ms,
    });
}

/// Green's share of traffic as a step line, in (seconds, percent) points:
/// each change holds until the next one, the last until `end_ms`.
pub fn share_steps(traffic: &[TrafficChange], end_ms: u64) -> Vec<(f64, f64)> {
    step_line(
        traffic
            .iter()
            .map(|change| (change.at_ms, f64::from(change.green_traffic_bp) / 100.0)),
        end_ms,
    )
}

/// A piecewise-constant series as line points: every `(at_ms, value)` holds
/// until the next one, the last until `end_ms`. Times come out in seconds.
pub fn step_line(values: impl IntoIterator<Item = (u64, f64)>, end_ms: u64) -> Vec<(f64, f64)> {
    let values: Vec<(u64, f64)> = values.into_iter().collect();
    let mut points = Vec::with_capacity(values.len() * 2);
    for (index, (at_ms, value)) in values.iter().enumerate() {
        let until = values
            .get(index + 1)
            .map(|(next, _)| *next)
            .unwrap_or(end_ms)
            .max(*at_ms);
        points.push((*at_ms as f64 / 1_000.0, *value));
        points.push((until as f64 / 1_000.0, *value));
    }
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_line_holds_each_value_until_the_next() {
        assert_eq!(
            step_line([(0, 0.0), (300_000, 25.0), (600_000, 100.0)], 720_000),
            vec![
                (0.0, 0.0),
                (300.0, 0.0),
                (300.0, 25.0),
                (600.0, 25.0),
                (600.0, 100.0),
                (720.0, 100.0)
            ]
        );
        assert!(step_line([], 10).is_empty());
    }
}
