//! The validated rollout: a plan with every default applied and every size resolved
//! to whole instances. Only [`crate::check`] builds one (its fields are private to
//! the core and it cannot be deserialised), so code that takes a `Rollout` never
//! re-checks ranges.

use serde::Serialize;

use crate::alarm::AlarmRule;
use crate::judge::JudgeSpec;

/// How traffic moves from blue to green.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
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
        /// `RollbackMaximumBatchSize` in instances; SageMaker's default, when it is
        /// absent, is the whole fleet.
        rollback_batch_instances: u32,
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
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Rollout {
    pub(crate) endpoint_name: String,
    pub(crate) endpoint_config_name: String,
    pub(crate) variant_name: String,
    pub(crate) instance_count: u32,
    pub(crate) strategy: Strategy,
    pub(crate) termination_wait_seconds: u32,
    pub(crate) timeout_seconds: u32,
    pub(crate) provisioning_seconds: u32,
    pub(crate) termination_seconds: u32,
    pub(crate) alarms: Vec<AlarmRule>,
    pub(crate) judge: Option<JudgeSpec>,
}

impl Rollout {
    pub fn endpoint_name(&self) -> &str {
        &self.endpoint_name
    }

    /// The *new* endpoint config.
    pub fn endpoint_config_name(&self) -> &str {
        &self.endpoint_config_name
    }

    pub fn variant_name(&self) -> &str {
        &self.variant_name
    }

    /// The variant's instance count: the size of each fleet.
    pub fn instance_count(&self) -> u32 {
        self.instance_count
    }

    pub fn strategy(&self) -> &Strategy {
        &self.strategy
    }

    /// The final bake (`TerminationWaitInSeconds`); always 0 for rolling updates.
    pub fn termination_wait_seconds(&self) -> u32 {
        self.termination_wait_seconds
    }

    /// `MaximumExecutionTimeoutInSeconds`, or the maximum when the plan has none.
    pub fn timeout_seconds(&self) -> u32 {
        self.timeout_seconds
    }

    pub fn provisioning_seconds(&self) -> u32 {
        self.provisioning_seconds
    }

    pub fn termination_seconds(&self) -> u32 {
        self.termination_seconds
    }

    /// The rollback alarms, in the order `AutoRollbackConfiguration` lists them.
    pub fn alarms(&self) -> &[AlarmRule] {
        &self.alarms
    }

    /// The plan's canary judge, if it has one.
    pub fn judge(&self) -> Option<&JudgeSpec> {
        self.judge.as_ref()
    }

    /// Whether `rule` reads this update's canary judge score
    /// ([`crate::judge::score_metric`]).
    pub fn reads_judge_score(&self, rule: &AlarmRule) -> bool {
        let score = crate::judge::score_metric(self.endpoint_name(), self.endpoint_config_name());
        rule.queries()
            .iter()
            .any(|query| query.identity.same_as(&score))
    }

    /// Whether a rollback alarm reads the judge's score: what makes the
    /// judge act.
    pub fn judge_score_read(&self) -> bool {
        self.alarms.iter().any(|rule| self.reads_judge_score(rule))
    }

    /// The same rollout with `judge` (or none).
    pub fn with_judge(&self, judge: Option<JudgeSpec>) -> Rollout {
        Rollout {
            judge,
            ..self.clone()
        }
    }

    /// The same rollout guarded by its alarm `index` alone: how much that one
    /// alarm catches by itself. `None` when there is no such alarm.
    pub fn with_only_alarm(&self, index: usize) -> Option<Rollout> {
        let alarm = self.alarms.get(index)?.clone();
        Some(Rollout {
            alarms: vec![alarm],
            ..self.clone()
        })
    }

    /// The metric tick both the simulator and the engine sum traffic into: the
    /// greatest common divisor of the alarm periods and the judge's, so that
    /// every period is a whole number of ticks; 60 s without either.
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
            .chain(self.judge.iter().map(|judge| judge.period_seconds))
            .reduce(gcd)
            .unwrap_or(60)
    }
}
