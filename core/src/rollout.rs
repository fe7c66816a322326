//! The validated rollout: a plan with every default applied and every size resolved
//! to whole instances. Only [`crate::validate::check`] builds one, so code that takes
//! a `Rollout` never re-checks ranges.

use serde::{Deserialize, Serialize};

use crate::alarm::AlarmRule;

/// How traffic moves from blue to green.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Strategy {
    AllAtOnce,
    Canary {
        canary_instances: u32,
        wait_seconds: u32,
    },
    Linear {
        step_instances: u32,
        wait_seconds: u32,
    },
    Rolling {
        batch_instances: u32,
        wait_seconds: u32,
        /// `None`: all traffic returns to blue at once on rollback.
        rollback_batch_instances: Option<u32>,
    },
}

impl Strategy {
    pub fn label(&self) -> &'static str {
        match self {
            Self::AllAtOnce => "all at once",
            Self::Canary { .. } => "canary",
            Self::Linear { .. } => "linear",
            Self::Rolling { .. } => "rolling",
        }
    }
}

/// A plan that passed validation, in integer seconds and whole instances.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rollout {
    pub endpoint_name: String,
    pub endpoint_config_name: String,
    pub variant_name: String,
    pub instance_count: u32,
    pub strategy: Strategy,
    /// The final bake (`TerminationWaitInSeconds`); always 0 for rolling updates.
    pub termination_wait_seconds: u32,
    pub timeout_seconds: u32,
    pub provisioning_seconds: u32,
    pub termination_seconds: u32,
    /// The rollback alarms, in the order `AutoRollbackConfiguration` lists them.
    pub alarms: Vec<AlarmRule>,
}

impl Rollout {
    /// The metric tick both the simulator and the engine sum traffic into: the
    /// greatest common divisor of the alarm periods, so that every period is a
    /// whole number of ticks; 60 s without alarms.
    pub fn metric_tick_seconds(&self) -> u32 {
        fn gcd(a: u32, b: u32) -> u32 {
            if b == 0 {
                a
            } else {
                gcd(b, a % b)
            }
        }
        self.alarms
            .iter()
            .map(|alarm| alarm.period_seconds)
            .reduce(gcd)
            .unwrap_or(60)
    }
}
