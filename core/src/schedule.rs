//! The schedule: every phase of a rollout with its start, end, fleets and traffic.
//!
//! The order of phases per mode follows SageMaker's pages on blue/green and rolling
//! deployments. Durations that AWS leaves open (provisioning, the last linear step,
//! rolling batches) come from `crate::assumptions`, and traffic weights from
//! [`crate::assumptions::green_traffic_bp`].

use serde::{Deserialize, Serialize};

use crate::assumptions::green_traffic_bp;
use crate::rollout::{Rollout, Strategy};

/// What happens during one step of the schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// Launching green instances; `instances` is how many this step launches.
    Provisioning { instances: u32 },
    /// The canary serves its share; alarms are watched.
    CanaryBake,
    /// One linear step serves; `step` of `steps` counts every linear step.
    LinearStepBake { step: u32, steps: u32 },
    /// One rolling batch serves beside the remaining blue instances.
    RollingBatchBake { batch: u32, batches: u32 },
    /// Green serves all traffic for `TerminationWaitInSeconds`; blue is kept for rollback.
    FinalBake,
    /// Blue is being terminated; no rollback is possible any more.
    TerminatingBlue,
}

impl Phase {
    /// Bakes are the phases SageMaker watches alarms in.
    pub fn is_bake(self) -> bool {
        matches!(
            self,
            Self::CanaryBake
                | Self::LinearStepBake { .. }
                | Self::RollingBatchBake { .. }
                | Self::FinalBake
        )
    }

    /// A short stable name, as in the CLI's JSON output.
    pub fn name(self) -> &'static str {
        match self {
            Self::Provisioning { .. } => "provisioning",
            Self::CanaryBake => "canary_bake",
            Self::LinearStepBake { .. } => "linear_step_bake",
            Self::RollingBatchBake { .. } => "rolling_batch_bake",
            Self::FinalBake => "final_bake",
            Self::TerminatingBlue => "terminating_blue",
        }
    }

    /// A label for people: "linear step 2 of 3".
    pub fn label(self) -> String {
        match self {
            Self::Provisioning { instances } => format!("provisioning {instances} green"),
            Self::CanaryBake => "canary bake".to_string(),
            Self::LinearStepBake { step, steps } => format!("linear step {step} of {steps}"),
            Self::RollingBatchBake { batch, batches } => {
                format!("rolling batch {batch} of {batches}")
            }
            Self::FinalBake => "final bake".to_string(),
            Self::TerminatingBlue => "terminating blue".to_string(),
        }
    }
}

/// One step: a phase over `[start_seconds, end_seconds)` with constant fleets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    #[serde(flatten)]
    pub phase: Phase,
    pub start_seconds: u32,
    pub end_seconds: u32,
    /// Green instances serving traffic.
    pub green_instances: u32,
    /// Blue instances serving traffic.
    pub blue_instances: u32,
    /// Green's share of traffic in basis points (10 000 = 100 %).
    pub green_traffic_bp: u32,
}

impl Step {
    pub fn duration_seconds(&self) -> u32 {
        self.end_seconds - self.start_seconds
    }

    pub fn green_traffic_percent(&self) -> f64 {
        f64::from(self.green_traffic_bp) / 100.0
    }
}

/// The planned timeline of a rollout that no alarm interrupts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    pub steps: Vec<Step>,
    pub total_seconds: u32,
    /// `MaximumExecutionTimeoutInSeconds` (or the assumed maximum).
    pub timeout_seconds: u32,
    /// Alarms can roll back from the first traffic shift until the last bake ends:
    /// `[start, end)` in seconds, or `None` when green never serves during a bake.
    pub monitoring: Option<(u32, u32)>,
}

impl Schedule {
    /// When the deployment is complete and blue starts terminating: the moment the
    /// execution timeout is measured against.
    pub fn completes_at_seconds(&self) -> u32 {
        self.steps
            .iter()
            .find(|step| step.phase == Phase::TerminatingBlue)
            .map(|step| step.start_seconds)
            .unwrap_or(self.total_seconds)
    }

    /// The timeout fires before the deployment completes.
    pub fn times_out(&self) -> bool {
        self.completes_at_seconds() > self.timeout_seconds
    }

    /// The step in force at `second`; the last step at or after the end.
    pub fn step_at(&self, second: u32) -> Option<&Step> {
        self.steps
            .iter()
            .find(|step| second < step.end_seconds)
            .or(self.steps.last())
    }
}

/// Computes the schedule of `rollout`.
///
/// Worked example, the seed notebook's canary (3 instances, canary of 1, wait 300,
/// termination wait 120, provisioning 300, termination 60):
///
/// | phase | seconds | green | blue | green traffic |
/// |---|---|---|---|---|
/// | provisioning 3 green | 0–300 | 0 | 3 | 0 % |
/// | canary bake | 300–600 | 1 | 3 | 25 % |
/// | final bake | 600–720 | 3 | 0 | 100 % |
/// | terminating blue | 720–780 | 3 | 0 | 100 % |
///
/// Steps of zero length (a wait of 0) are left out, except provisioning, where
/// green is launched even when the plan says it takes no time.
pub fn schedule(rollout: &Rollout) -> Schedule {
    let fleet = rollout.instance_count;
    let mut builder = Builder::default();
    match rollout.strategy {
        Strategy::AllAtOnce => {
            builder.push(
                Phase::Provisioning { instances: fleet },
                rollout.provisioning_seconds,
                0,
                fleet,
            );
            builder.push(Phase::FinalBake, rollout.termination_wait_seconds, fleet, 0);
        }
        Strategy::Canary {
            canary_instances,
            wait_seconds,
        } => {
            builder.push(
                Phase::Provisioning { instances: fleet },
                rollout.provisioning_seconds,
                0,
                fleet,
            );
            builder.push(Phase::CanaryBake, wait_seconds, canary_instances, fleet);
            builder.push(Phase::FinalBake, rollout.termination_wait_seconds, fleet, 0);
        }
        Strategy::Linear {
            step_instances,
            wait_seconds,
        } => {
            builder.push(
                Phase::Provisioning { instances: fleet },
                rollout.provisioning_seconds,
                0,
                fleet,
            );
            let steps = fleet.div_ceil(step_instances.max(1));
            for step in 1..steps {
                let green = (step * step_instances).min(fleet);
                builder.push(
                    Phase::LinearStepBake { step, steps },
                    wait_seconds,
                    green,
                    fleet - green,
                );
            }
            builder.push(Phase::FinalBake, rollout.termination_wait_seconds, fleet, 0);
        }
        Strategy::Rolling {
            batch_instances,
            wait_seconds,
            ..
        } => rolling_batches(
            &mut builder,
            fleet,
            batch_instances,
            wait_seconds,
            rollout.provisioning_seconds,
        ),
    }
    builder.push(
        Phase::TerminatingBlue,
        rollout.termination_seconds,
        fleet,
        0,
    );
    builder.finish(rollout.timeout_seconds)
}

/// A rolling update's batches: each provisioned, then baked with blue
/// still whole (a batch's old instances stop only after its bake).
fn rolling_batches(
    builder: &mut Builder,
    fleet: u32,
    batch_instances: u32,
    wait_seconds: u32,
    provisioning_seconds: u32,
) {
    let batch = batch_instances.max(1);
    let batches = fleet.div_ceil(batch);
    for index in 1..=batches {
        let green_before = ((index - 1) * batch).min(fleet);
        let green_after = (index * batch).min(fleet);
        let blue = fleet - green_before;
        builder.push(
            Phase::Provisioning {
                instances: green_after - green_before,
            },
            provisioning_seconds,
            green_before,
            blue,
        );
        builder.push(
            Phase::RollingBatchBake {
                batch: index,
                batches,
            },
            wait_seconds,
            green_after,
            blue,
        );
    }
}

#[derive(Default)]
struct Builder {
    steps: Vec<Step>,
    now: u32,
}

impl Builder {
    fn push(&mut self, phase: Phase, seconds: u32, green: u32, blue: u32) {
        // A zero-length step cannot be observed, so it is left out; provisioning is
        // kept, because it is where green is launched.
        if seconds == 0 && !matches!(phase, Phase::Provisioning { .. }) {
            return;
        }
        self.steps.push(Step {
            phase,
            start_seconds: self.now,
            end_seconds: self.now + seconds,
            green_instances: green,
            blue_instances: blue,
            green_traffic_bp: green_traffic_bp(green, blue),
        });
        self.now += seconds;
    }

    fn finish(self, timeout_seconds: u32) -> Schedule {
        let first_traffic = self
            .steps
            .iter()
            .find(|step| step.green_traffic_bp > 0)
            .map(|step| step.start_seconds);
        let last_bake_end = self
            .steps
            .iter()
            .rev()
            .find(|step| step.phase.is_bake())
            .map(|step| step.end_seconds);
        let monitoring = match (first_traffic, last_bake_end) {
            (Some(start), Some(end)) if start < end => Some((start, end)),
            _ => None,
        };
        Schedule {
            steps: self.steps,
            total_seconds: self.now,
            timeout_seconds,
            monitoring,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check_json;
    use crate::examples;

    fn schedule_of(text: &str) -> Schedule {
        let (_, checked) = check_json(text).expect("plan parses");
        schedule(&checked.rollout.expect("plan is valid"))
    }

    /// (phase name, start, end, green, blue, bp) per step.
    fn check(text: &str, expected: &[(&str, u32, u32, u32, u32, u32)]) {
        let schedule = schedule_of(text);
        let got: Vec<_> = schedule
            .steps
            .iter()
            .map(|step| {
                (
                    step.phase.name(),
                    step.start_seconds,
                    step.end_seconds,
                    step.green_instances,
                    step.blue_instances,
                    step.green_traffic_bp,
                )
            })
            .collect();
        assert_eq!(got, expected);
        assert_eq!(
            schedule.total_seconds,
            expected.last().map(|step| step.2).unwrap_or(0)
        );
    }

    #[test]
    fn notebook_canary() {
        check(
            examples::NOTEBOOK_CANARY,
            &[
                ("provisioning", 0, 300, 0, 3, 0),
                ("canary_bake", 300, 600, 1, 3, 2_500),
                ("final_bake", 600, 720, 3, 0, 10_000),
                ("terminating_blue", 720, 780, 3, 0, 10_000),
            ],
        );
        let schedule = schedule_of(examples::NOTEBOOK_CANARY);
        assert_eq!(schedule.monitoring, Some((300, 720)));
        assert!(!schedule.times_out());
    }

    #[test]
    fn notebook_linear_moves_one_instance_per_step() {
        check(
            examples::NOTEBOOK_LINEAR,
            &[
                ("provisioning", 0, 300, 0, 3, 0),
                ("linear_step_bake", 300, 480, 1, 2, 3_333),
                ("linear_step_bake", 480, 660, 2, 1, 6_667),
                ("final_bake", 660, 780, 3, 0, 10_000),
                ("terminating_blue", 780, 840, 3, 0, 10_000),
            ],
        );
    }

    #[test]
    fn all_at_once() {
        check(
            examples::ALL_AT_ONCE,
            &[
                ("provisioning", 0, 300, 0, 3, 0),
                ("final_bake", 300, 900, 3, 0, 10_000),
                ("terminating_blue", 900, 960, 3, 0, 10_000),
            ],
        );
    }

    #[test]
    fn rolling_batches_replace_blue_one_batch_at_a_time() {
        check(
            examples::ROLLING,
            &[
                ("provisioning", 0, 300, 0, 3, 0),
                ("rolling_batch_bake", 300, 480, 1, 3, 2_500),
                ("provisioning", 480, 780, 1, 2, 3_333),
                ("rolling_batch_bake", 780, 960, 2, 2, 5_000),
                ("provisioning", 960, 1_260, 2, 1, 6_667),
                ("rolling_batch_bake", 1_260, 1_440, 3, 1, 7_500),
                ("terminating_blue", 1_440, 1_500, 3, 0, 10_000),
            ],
        );
    }

    #[test]
    fn a_schedule_longer_than_the_timeout_times_out() {
        let mut value: serde_json::Value =
            serde_json::from_str(examples::ROLLING).expect("example");
        value["ProvisioningSeconds"] = serde_json::json!(600);
        let schedule = schedule_of(&value.to_string());
        // 3 × (600 + 180) = 2340 s > 1800 s.
        assert_eq!(schedule.completes_at_seconds(), 2_340);
        assert!(schedule.times_out());
    }
}
