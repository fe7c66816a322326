//! Resolving local runs that a process left unfinished when it stopped (a
//! crash, `kill -9`, a power cut), at the next start-up.
//!
//! Every model server and the router lived in the process that stopped, so
//! nothing serves the update any more. The next engine records what happened
//! and decides where the endpoint stands:
//!
//! - before blue's termination began, the run is recorded as **interrupted,
//!   then rolled back**: traffic back on blue, green terminated, and the
//!   endpoint starts again on the old config. Green never finished its bakes,
//!   so it is never trusted with traffic.
//! - once blue's termination had begun (`TerminatingBlue`), green had passed
//!   every bake and SageMaker no longer rolls back: the run is recorded as
//!   interrupted, then completed, and the endpoint starts on the new config.
//!
//! The endpoint's config at start-up is then the one the last finished run
//! left it on ([`Store::last_config`]).
//!
//! An endpoint created through SageMaker's API is kept in the store
//! (`durable.rs`) and resolved the same way: it starts again on the config
//! the resolution leaves it on, with a `FailureReason` that says the update
//! was interrupted. A run on an endpoint that no longer exists at all is
//! recorded as failed, saying so.

use guardrail_core::controller::RollbackCause;
use guardrail_core::event::{Event, EventKind, Fleet, RunOutcome, RunTimeline};
use guardrail_core::schedule::Phase;

use crate::engine::durable::SavedEndpoint;
use crate::engine::registry::Registry;
use crate::store::{InterruptedRun, Recorder, Store};

/// Resolves every local run a process that is gone left unfinished; returns
/// the ids resolved.
pub(crate) fn resolve_interrupted(
    store: &Store,
    registry: &Registry,
    kept: &[SavedEndpoint],
) -> Vec<String> {
    let runs = match store.claim_interrupted() {
        Ok(runs) => runs,
        Err(error) => {
            tracing::error!("cannot look for runs left unfinished by a stopped process: {error}");
            return Vec::new();
        }
    };
    runs.iter()
        .map(|run| {
            let exists = registry
                .endpoints
                .iter()
                .any(|endpoint| endpoint.endpoint_name == run.endpoint)
                || kept
                    .iter()
                    .any(|endpoint| endpoint.endpoint_name == run.endpoint);
            resolve(store, registry, run, exists);
            run.id.clone()
        })
        .collect()
}

/// How many instances of `fleet` the record says were serving at its end,
/// of `initial` before it began (blue's fleet is there before any event).
fn serving(events: &[Event], fleet: Fleet, initial: u32) -> u32 {
    events
        .iter()
        .fold(initial, |count, event| match &event.kind {
            EventKind::InstanceHealthy { fleet: f, .. } if *f == fleet => count.saturating_add(1),
            EventKind::InstancesTerminated {
                fleet: f,
                instances,
            } if *f == fleet => count.saturating_sub(*instances),
            _ => count,
        })
}

fn resolve(store: &Store, registry: &Registry, run: &InterruptedRun, exists: bool) {
    let (seq, at_ms, wall_ms) = run
        .events
        .last()
        .map_or((0, 0, 0), |event| (event.seq, event.at_ms, event.wall_ms));
    let phase = RunTimeline::from_events(&run.events)
        .at(at_ms)
        .phase
        .unwrap_or(Phase::Provisioning { instances: 0 });
    let mut recorder = Recorder::after(store.clone(), &run.id, seq, at_ms);
    let stopped = if run.events.is_empty() {
        "before its first event".to_string()
    } else {
        format!("during the {}, after event {seq}", phase.label())
    };
    recorder.emit(
        at_ms,
        EventKind::Interrupted {
            reason: format!(
                "the guardrail process running this update stopped {stopped}, and a later one found it unfinished{}",
                if wall_ms > 0 {
                    format!(
                        " {} s after that event",
                        crate::engine::clock::wall_ms().saturating_sub(wall_ms) / 1_000
                    )
                } else {
                    String::new()
                }
            ),
        },
    );
    if !exists {
        recorder.emit(
            at_ms,
            EventKind::Finished {
                outcome: RunOutcome::Failed {
                    reason: format!(
                        "guardrail stopped during the run, and endpoint {} no longer exists",
                        run.endpoint
                    ),
                },
            },
        );
        report(store, run, recorder);
        return;
    }
    let blue_fleet = registry
        .config(&run.from_config)
        .map_or(0, |config| config.instance_count);
    let ending = if phase == Phase::TerminatingBlue {
        completed(&run.events, blue_fleet)
    } else {
        rolled_back(&run.events, phase, &stopped, blue_fleet)
    };
    for kind in ending {
        recorder.emit(at_ms, kind);
    }
    report(store, run, recorder);
}

/// How a run interrupted while terminating blue ends: blue's instances
/// terminated, the update succeeded.
fn completed(events: &[Event], blue_fleet: u32) -> Vec<EventKind> {
    vec![
        EventKind::InstancesTerminated {
            fleet: Fleet::Blue,
            instances: serving(events, Fleet::Blue, blue_fleet),
        },
        EventKind::Succeeded,
        EventKind::Finished {
            outcome: RunOutcome::Succeeded,
        },
    ]
}

/// How a run interrupted in `phase` (before blue's termination) ends: rolled
/// back, all traffic on blue's `blue_fleet`, green's instances terminated.
fn rolled_back(events: &[Event], phase: Phase, stopped: &str, blue_fleet: u32) -> Vec<EventKind> {
    let cause = RollbackCause::Interrupted {
        reason: format!("guardrail stopped {stopped}"),
    };
    vec![
        EventKind::RollbackStarted {
            phase,
            cause: cause.clone(),
        },
        EventKind::TrafficShifted {
            green_instances: 0,
            blue_instances: blue_fleet,
            green_traffic_bp: 0,
        },
        EventKind::InstancesTerminated {
            fleet: Fleet::Green,
            instances: serving(events, Fleet::Green, 0),
        },
        EventKind::RollbackCompleted,
        EventKind::Finished {
            outcome: RunOutcome::RolledBack { phase, cause },
        },
    ]
}

fn report(store: &Store, run: &InterruptedRun, recorder: Recorder) {
    match recorder.failure {
        None => tracing::warn!(
            run = %run.id,
            "resolved a run left unfinished by a stopped process: endpoint {} from {} to {}",
            run.endpoint,
            run.from_config,
            run.to_config
        ),
        Some(failure) => {
            tracing::error!(run = %run.id, "cannot record how an interrupted run ended: {failure}");
            store.abandon(
                &run.id,
                &format!("interrupted, and {failure}"),
                crate::engine::clock::wall_ms(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NewRun;

    fn event(seq: u64, at_ms: u64, kind: EventKind) -> Event {
        Event {
            run_id: "run-x".into(),
            seq,
            at_ms,
            wall_ms: 1,
            kind,
        }
    }

    /// A canary of 1 green beside 3 blue, in `phase` when its process stopped.
    fn interrupted_in(phase: Phase) -> Vec<EventKind> {
        let store = Store::in_memory().expect("store");
        store
            .create_run(&NewRun {
                id: "run-x".into(),
                endpoint: "guardrail-demo".into(),
                from_config: "baseline".into(),
                to_config: "fixed".into(),
                backend: "local".into(),
                time_scale: 60.0,
                plan_json: "{}".into(),
                started_wall_ms: 1,
                watch: None,
            })
            .expect("run");
        let mut kinds = vec![
            EventKind::GreenProvisioning { instances: 1 },
            EventKind::InstanceHealthy {
                fleet: Fleet::Green,
                instance: "green-1".into(),
                url: String::new(),
            },
            EventKind::TrafficShifted {
                green_instances: 1,
                blue_instances: 3,
                green_traffic_bp: 2_500,
            },
            EventKind::BakeStarted {
                phase: Phase::CanaryBake,
                planned_seconds: 300,
            },
        ];
        if phase == Phase::TerminatingBlue {
            kinds.push(EventKind::PhaseStarted {
                phase: Phase::TerminatingBlue,
                planned_seconds: 60,
            });
        }
        for (index, kind) in kinds.into_iter().enumerate() {
            let seq = index as u64 + 1;
            store
                .append(&event(seq, seq * 1_000, kind))
                .expect("append");
        }
        // This process "restarts": the run's recorded process is itself, which
        // no other process can be, so it is claimed as a dead one's.
        assert_eq!(
            resolve_interrupted(&store, &Registry::demo(), &[]),
            vec!["run-x".to_string()]
        );
        assert!(
            resolve_interrupted(&store, &Registry::demo(), &[]).is_empty(),
            "resolved once"
        );
        let events = store.events("run-x").expect("events");
        let seqs: Vec<u64> = events.iter().map(|event| event.seq).collect();
        assert_eq!(seqs, (1..=events.len() as u64).collect::<Vec<_>>());
        events
            .into_iter()
            .skip_while(|event| !matches!(event.kind, EventKind::Interrupted { .. }))
            .map(|event| event.kind)
            .collect()
    }

    #[test]
    fn a_canary_interrupted_while_it_bakes_is_rolled_back_to_its_whole_blue_fleet() {
        let after = interrupted_in(Phase::CanaryBake);
        assert!(
            matches!(&after[0], EventKind::Interrupted { reason } if reason.contains("during the canary bake, after event 4"))
        );
        let cause = RollbackCause::Interrupted {
            reason: "guardrail stopped during the canary bake, after event 4".into(),
        };
        assert_eq!(
            after[1..],
            [
                EventKind::RollbackStarted {
                    phase: Phase::CanaryBake,
                    cause: cause.clone(),
                },
                EventKind::TrafficShifted {
                    green_instances: 0,
                    blue_instances: 3,
                    green_traffic_bp: 0,
                },
                EventKind::InstancesTerminated {
                    fleet: Fleet::Green,
                    instances: 1,
                },
                EventKind::RollbackCompleted,
                EventKind::Finished {
                    outcome: RunOutcome::RolledBack {
                        phase: Phase::CanaryBake,
                        cause,
                    },
                },
            ]
        );
    }

    #[test]
    fn a_run_interrupted_while_blue_is_terminated_completes() {
        let after = interrupted_in(Phase::TerminatingBlue);
        assert_eq!(
            after[1..],
            [
                EventKind::InstancesTerminated {
                    fleet: Fleet::Blue,
                    instances: 3,
                },
                EventKind::Succeeded,
                EventKind::Finished {
                    outcome: RunOutcome::Succeeded,
                },
            ]
        );
    }
}
