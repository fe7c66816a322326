//! An endpoint's state: its fleets, and what SageMaker's `DescribeEndpoint`
//! reports of it: the status, the failure reason, the timestamps, and during an
//! update the pending deployment, whose variant statuses, weights and instance
//! counts follow the run as it goes.
//!
//! What SageMaker does not document about that view (what the weights mean
//! mid-update, which status each phase shows) is decided in
//! `guardrail_core::assumptions` (`describe_endpoint`).

use guardrail_core::controller::{Outcome, RollbackCause};
use guardrail_core::plan::DeploymentConfig;
use guardrail_core::schedule::Phase;
use guardrail_core::Fleets;

use crate::engine::fleet::Instance;

/// SageMaker's `EndpointStatus` values that the local engine reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndpointStatus {
    Creating,
    InService,
    Updating,
    Deleting,
    Failed,
    /// A rollback could not restore blue: both configs may serve.
    UpdateRollbackFailed,
}

impl EndpointStatus {
    /// The status called `text`, as [`EndpointStatus::as_str`] writes it.
    pub fn parse(text: &str) -> Option<EndpointStatus> {
        [
            Self::Creating,
            Self::InService,
            Self::Updating,
            Self::Deleting,
            Self::Failed,
            Self::UpdateRollbackFailed,
        ]
        .into_iter()
        .find(|status| status.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "Creating",
            Self::InService => "InService",
            Self::Updating => "Updating",
            Self::Deleting => "Deleting",
            Self::Failed => "Failed",
            Self::UpdateRollbackFailed => "UpdateRollbackFailed",
        }
    }
}

/// One entry of a variant's `VariantStatus`.
#[derive(Clone, Debug, PartialEq)]
pub struct VariantStatus {
    /// `Creating`, `Updating`, `Deleting`, `ActivatingTraffic` or `Baking`.
    pub status: &'static str,
    pub message: String,
    pub started_ms: u64,
}

/// One fleet as `DescribeEndpoint` shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct VariantView {
    pub config: String,
    pub current_instances: u32,
    pub desired_instances: u32,
    pub current_weight: f64,
    pub desired_weight: f64,
    pub statuses: Vec<VariantStatus>,
}

/// An update in progress: `PendingDeploymentSummary`.
#[derive(Clone, Debug, PartialEq)]
pub struct Deployment {
    pub started_ms: u64,
    pub green: VariantView,
    pub blue: VariantView,
}

/// An endpoint's live state.
pub struct EndpointState {
    /// The config that serves: the old one during an update.
    pub config: String,
    pub variant: String,
    /// The serving fleet at rest; the old fleet during an update.
    pub blue: Vec<Instance>,
    /// The new fleet during an update.
    pub green: Vec<Instance>,
    /// The run updating the endpoint.
    pub updating: Option<String>,
    pub status: EndpointStatus,
    pub failure_reason: Option<String>,
    pub created_ms: u64,
    pub modified_ms: u64,
    pub last_deployment_config: Option<DeploymentConfig>,
    pub deployment: Option<Deployment>,
    /// The instance count the serving config asks for.
    pub desired_instances: u32,
}

impl EndpointState {
    /// An endpoint that is being created on `config`.
    pub fn creating(config: &str, variant: &str, instances: u32, now_ms: u64) -> EndpointState {
        EndpointState {
            config: config.to_string(),
            variant: variant.to_string(),
            blue: Vec::new(),
            green: Vec::new(),
            updating: None,
            status: EndpointStatus::Creating,
            failure_reason: None,
            created_ms: now_ms,
            modified_ms: now_ms,
            last_deployment_config: None,
            deployment: None,
            desired_instances: instances,
        }
    }

    /// The serving fleet's view, at rest or during an update.
    pub fn serving_view(&self) -> VariantView {
        match &self.deployment {
            Some(deployment) => deployment.blue.clone(),
            None => VariantView {
                config: self.config.clone(),
                current_instances: self.blue.len() as u32,
                desired_instances: self.desired_instances,
                current_weight: 1.0,
                desired_weight: 1.0,
                statuses: Vec::new(),
            },
        }
    }

    /// An update to `config` with `instances` instances was accepted.
    pub fn begin_update(
        &mut self,
        run: &str,
        config: &str,
        instances: u32,
        deployment_config: Option<DeploymentConfig>,
        now_ms: u64,
    ) {
        self.updating = Some(run.to_string());
        self.status = EndpointStatus::Updating;
        self.failure_reason = None;
        self.modified_ms = now_ms;
        if deployment_config.is_some() {
            self.last_deployment_config = deployment_config;
        }
        let blue = VariantView {
            config: self.config.clone(),
            current_instances: self.blue.len() as u32,
            desired_instances: self.blue.len() as u32,
            current_weight: 1.0,
            desired_weight: 0.0,
            statuses: Vec::new(),
        };
        let green = VariantView {
            config: config.to_string(),
            current_instances: 0,
            desired_instances: instances,
            current_weight: 0.0,
            desired_weight: 1.0,
            statuses: Vec::new(),
        };
        self.deployment = Some(Deployment {
            started_ms: now_ms,
            green,
            blue,
        });
    }

    /// A phase of the update started: the variant statuses follow it.
    pub fn phase_started(&mut self, phase: Phase, planned_seconds: u32, now_ms: u64) {
        let Some(deployment) = self.deployment.as_mut() else {
            return;
        };
        let green_instances = deployment.green.current_instances;
        let (fleet, status, message) = match phase {
            Phase::Provisioning { instances } => (
                &mut deployment.green,
                "Creating",
                format!("Launching {instances} instance(s)."),
            ),
            Phase::CanaryBake => (
                &mut deployment.green,
                "Baking",
                format!(
                    "Baking for {planned_seconds} seconds (WaitIntervalInSeconds) with traffic enabled on canary capacity of {green_instances} instance(s)."
                ),
            ),
            Phase::LinearStepBake { step, steps } => (
                &mut deployment.green,
                "Baking",
                format!(
                    "Baking for {planned_seconds} seconds (WaitIntervalInSeconds) with traffic enabled on linear step {step} of {steps}: {green_instances} instance(s)."
                ),
            ),
            Phase::RollingBatchBake { batch, batches } => (
                &mut deployment.green,
                "Baking",
                format!(
                    "Baking for {planned_seconds} seconds (WaitIntervalInSeconds) with traffic enabled on rolling batch {batch} of {batches}: {green_instances} instance(s)."
                ),
            ),
            Phase::FinalBake => (
                &mut deployment.green,
                "Baking",
                format!(
                    "Baking for {planned_seconds} seconds (TerminationWaitInSeconds) with traffic enabled on full capacity of {green_instances} instance(s)."
                ),
            ),
            Phase::TerminatingBlue => {
                let blue = deployment.blue.current_instances.max(1);
                (
                    &mut deployment.blue,
                    "Deleting",
                    format!("Terminating {blue} instance(s)."),
                )
            }
        };
        fleet.statuses = vec![VariantStatus {
            status,
            message,
            started_ms: now_ms,
        }];
    }

    /// Traffic moved: weights are each fleet's share, instance counts who serves.
    pub fn traffic_shifted(&mut self, serving: Fleets, green_bp: u32, now_ms: u64) {
        let Some(deployment) = self.deployment.as_mut() else {
            return;
        };
        let green_weight = f64::from(green_bp) / 10_000.0;
        // New capacity takes traffic; during a bake the variant says Baking.
        let activating = serving.green > deployment.green.current_instances
            && deployment
                .green
                .statuses
                .iter()
                .all(|status| status.status != "Baking");
        deployment.green.current_weight = green_weight;
        deployment.blue.current_weight = 1.0 - green_weight;
        deployment.green.current_instances = serving.green;
        deployment.blue.current_instances = serving.blue;
        if activating {
            deployment.green.statuses = vec![VariantStatus {
                status: "ActivatingTraffic",
                message: format!(
                    "Activating traffic on capacity of {} instance(s).",
                    serving.green
                ),
                started_ms: now_ms,
            }];
        }
    }

    /// The rollback started: blue is coming back.
    pub fn rolling_back(&mut self, cause: &RollbackCause, now_ms: u64) {
        if let Some(deployment) = self.deployment.as_mut() {
            deployment.green.statuses = vec![VariantStatus {
                status: "Deleting",
                message: format!("Rolling back: {}.", cause.describe()),
                started_ms: now_ms,
            }];
        }
    }

    /// The update ended: `InService` on the config that serves now.
    pub fn end_update(&mut self, outcome: Option<&Outcome>, failure: Option<&str>, now_ms: u64) {
        self.updating = None;
        self.deployment = None;
        self.modified_ms = now_ms;
        self.status = EndpointStatus::InService;
        self.failure_reason = match (outcome, failure) {
            (_, Some(reason)) if reason.contains("UpdateRollbackFailed") => {
                self.status = EndpointStatus::UpdateRollbackFailed;
                Some(reason.to_string())
            }
            (_, Some(reason)) => Some(reason.to_string()),
            (Some(Outcome::RolledBack { cause, .. }), None) => {
                Some(format!("Update rolled back: {}", cause.describe()))
            }
            _ => None,
        };
        self.desired_instances = self.blue.len() as u32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(view: &VariantView) -> (&'static str, &str) {
        let status = &view.statuses[0];
        (status.status, status.message.as_str())
    }

    #[test]
    fn describe_follows_a_canary_that_rolls_back() {
        let mut state = EndpointState::creating("config-1", "AllTraffic", 3, 1_000);
        state.status = EndpointStatus::InService;
        state.begin_update(
            "run-1",
            "config-2",
            3,
            Some(DeploymentConfig::default()),
            2_000,
        );
        assert_eq!(state.status, EndpointStatus::Updating);
        assert!(state.last_deployment_config.is_some());
        state.phase_started(Phase::Provisioning { instances: 3 }, 300, 2_000);
        let deployment = state.deployment.clone().expect("an update");
        assert_eq!(status(&deployment.green).0, "Creating");
        assert_eq!(
            (
                deployment.green.desired_instances,
                deployment.green.current_instances
            ),
            (3, 0)
        );

        // One canary instance beside three blue ones takes a quarter of the traffic.
        state.traffic_shifted(Fleets::new(1, 3), 2_500, 3_000);
        let deployment = state.deployment.clone().expect("an update");
        assert_eq!(status(&deployment.green).0, "ActivatingTraffic");
        assert_eq!(
            (
                deployment.green.current_weight,
                deployment.blue.current_weight
            ),
            (0.25, 0.75)
        );
        state.phase_started(Phase::CanaryBake, 300, 3_000);
        let (baking, message) = status(&state.deployment.as_ref().expect("an update").green);
        assert_eq!(baking, "Baking");
        assert!(
            message.contains("300 seconds") && message.contains("1 instance(s)"),
            "{message}"
        );
        // Traffic that moves during a bake leaves the bake's status.
        state.traffic_shifted(Fleets::new(1, 3), 2_500, 3_500);
        assert_eq!(
            status(&state.deployment.as_ref().expect("an update").green).0,
            "Baking"
        );

        let cause = RollbackCause::Alarm {
            alarm: "a5xx".into(),
            reason: "Threshold crossed".into(),
        };
        state.rolling_back(&cause, 4_000);
        assert_eq!(
            status(&state.deployment.as_ref().expect("an update").green).0,
            "Deleting"
        );
        let outcome = Outcome::RolledBack {
            decided_at_ms: 4_000,
            completed_at_ms: 4_000,
            phase: Phase::CanaryBake,
            cause,
        };
        state.end_update(Some(&outcome), None, 5_000);
        // The silent rollback: InService on the old config, with the reason.
        assert_eq!(state.status, EndpointStatus::InService);
        assert_eq!(state.config, "config-1");
        assert!(state.deployment.is_none() && state.updating.is_none());
        let reason = state.failure_reason.clone().expect("a reason");
        assert!(
            reason.starts_with("Update rolled back: ") && reason.contains("a5xx"),
            "{reason}"
        );
        assert_eq!(state.modified_ms, 5_000);
    }

    #[test]
    fn a_rollback_that_cannot_restore_blue_is_update_rollback_failed() {
        let mut state = EndpointState::creating("config-1", "AllTraffic", 3, 0);
        state.begin_update("run-1", "config-2", 3, None, 1);
        assert!(
            state.last_deployment_config.is_none(),
            "no DeploymentConfig: the last one stays"
        );
        state.end_update(
            None,
            Some("blue instance b could not be restored (UpdateRollbackFailed)"),
            2,
        );
        assert_eq!(state.status, EndpointStatus::UpdateRollbackFailed);
    }
}
