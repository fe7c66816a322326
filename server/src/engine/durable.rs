//! What the engine keeps of what users create through SageMaker's API, and
//! how it comes back at start-up.
//!
//! Models and endpoint configs are kept as they were created; an endpoint as
//! what `DescribeEndpoint` shows of it at rest (config, status,
//! `FailureReason`, `LastDeploymentConfig`, times) and, during an update, the
//! run and the new config. Each is written before the call that changed it
//! answers. Alarms and their history are the local CloudWatch's
//! (`cloudwatch.rs`); published metrics and the API clock are written every
//! 200 ms by [`keep`] (only the buckets invocations changed since), so a kill
//! loses at most the last 200 ms of invocations' metrics: a write per
//! invocation would cost the router more than the request itself.
//!
//! At start-up every kept endpoint comes back on its config with its model
//! servers started again, `InService` (a `Failed` one stays `Failed`). One
//! that a kill caught mid-update is where the resolution of its interrupted
//! run ([`super::recovery`]) left it: the old config and a `FailureReason`
//! that says the update was interrupted, or the new config if blue's
//! termination had begun.

use std::sync::{Arc, Weak};
use std::time::Duration;

use guardrail_core::controller::RollbackCause;
use guardrail_core::event::RunOutcome;
use guardrail_core::plan::DeploymentConfig;
use serde::{Deserialize, Serialize};

use crate::engine::endpoint::{EndpointState, EndpointStatus};
use crate::engine::metrics::{FleetBucket, PUBLISHED_RETENTION_MS};
use crate::engine::registry::ModelDefinition;
use crate::engine::router::EndpointRouter;
use crate::engine::{Engine, Inner};
use crate::store::{ResourceKind, SavedBucket, Store, StoreError};

/// How often published metrics and the API clock are written, in real time.
pub const KEEP_EVERY: Duration = Duration::from_millis(200);

/// A model created through the API, as kept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SavedModel {
    #[serde(flatten)]
    pub model: ModelDefinition,
    /// Whether `CreateModel` named its container in `Containers`.
    #[serde(default)]
    pub as_containers: bool,
}

impl SavedModel {
    pub fn of(model: &ModelDefinition) -> SavedModel {
        SavedModel {
            model: model.clone(),
            as_containers: model.as_containers,
        }
    }

    pub fn into_model(self) -> ModelDefinition {
        ModelDefinition {
            as_containers: self.as_containers,
            ..self.model
        }
    }
}

/// An update in progress when its endpoint was kept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SavedUpdate {
    pub run: String,
    /// The new config.
    pub config: String,
}

/// An endpoint created through the API, as kept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SavedEndpoint {
    pub endpoint_name: String,
    /// The config that serves (the old one during an update).
    pub endpoint_config_name: String,
    pub variant_name: String,
    pub status: String,
    #[serde(default)]
    pub failure_reason: Option<String>,
    pub created_ms: u64,
    pub modified_ms: u64,
    #[serde(default)]
    pub last_deployment_config: Option<DeploymentConfig>,
    pub desired_instances: u32,
    #[serde(default)]
    pub updating: Option<SavedUpdate>,
}

impl SavedEndpoint {
    pub fn of(name: &str, state: &EndpointState) -> SavedEndpoint {
        SavedEndpoint {
            endpoint_name: name.to_string(),
            endpoint_config_name: state.config.clone(),
            variant_name: state.variant.clone(),
            status: state.status.as_str().to_string(),
            failure_reason: state.failure_reason.clone(),
            created_ms: state.created_ms,
            modified_ms: state.modified_ms,
            last_deployment_config: state.last_deployment_config.clone(),
            desired_instances: state.desired_instances,
            updating: state.updating.as_ref().map(|run| SavedUpdate {
                run: run.clone(),
                config: state
                    .deployment
                    .as_ref()
                    .map(|deployment| deployment.green.config.clone())
                    .unwrap_or_default(),
            }),
        }
    }
}

/// Where a kept endpoint stands after a restart: its config, status and
/// `FailureReason`, given how its interrupted update's run was resolved
/// (`outcome`; `None` when the run was never recorded).
///
/// Worked examples, for an endpoint kept on `v1` while updating to `v2`:
/// - the run was resolved as interrupted and rolled back: `v1`, `InService`,
///   "Update to endpoint configuration v2 interrupted: guardrail stopped
///   during the canary bake, …; guardrail rolled the endpoint back to v1 when
///   it started again (run R)";
/// - it was resolved as interrupted and completed (blue's termination had
///   begun), or had succeeded: `v2`, `InService`, no reason;
/// - it had already rolled back on an alarm: `v1`, "Update rolled back: …".
pub(crate) fn after_restart(
    saved: &SavedEndpoint,
    outcome: Option<&RunOutcome>,
) -> (String, EndpointStatus, Option<String>) {
    let kept = EndpointStatus::parse(&saved.status).unwrap_or(EndpointStatus::InService);
    let status = match kept {
        EndpointStatus::Failed | EndpointStatus::UpdateRollbackFailed => kept,
        _ => EndpointStatus::InService,
    };
    let old = saved.endpoint_config_name.clone();
    let Some(update) = &saved.updating else {
        return (old, status, saved.failure_reason.clone());
    };
    let interrupted = |how: &str| {
        format!(
            "Update to endpoint configuration {} interrupted: {how}; guardrail rolled the endpoint back to {old} when it started again (run {})",
            update.config, update.run
        )
    };
    let reason = match outcome {
        Some(RunOutcome::Succeeded) => return (update.config.clone(), status, None),
        Some(RunOutcome::RolledBack {
            cause: RollbackCause::Interrupted { reason },
            ..
        }) => interrupted(reason),
        Some(RunOutcome::RolledBack { cause, .. }) => {
            format!("Update rolled back: {}", cause.describe())
        }
        Some(RunOutcome::Failed { reason }) => interrupted(reason),
        Some(RunOutcome::Unwatched { .. }) | None => {
            interrupted("guardrail stopped before the update was recorded")
        }
    };
    (old, status, Some(reason))
}

impl Engine {
    /// Whether endpoint `name` was created through the API (not the demo or
    /// `engine.json`'s, which start from the registry).
    pub(crate) fn is_api_endpoint(&self, name: &str) -> bool {
        !self
            .read_registry()
            .endpoints
            .iter()
            .any(|endpoint| endpoint.endpoint_name == name)
    }

    /// Keeps endpoint `name` as `state` shows it, if it was created through
    /// the API.
    pub(crate) fn keep_endpoint(
        &self,
        name: &str,
        state: &EndpointState,
    ) -> Result<(), StoreError> {
        if !self.is_api_endpoint(name) {
            return Ok(());
        }
        self.store().save_resource(
            ResourceKind::Endpoint,
            name,
            &SavedEndpoint::of(name, state),
        )
    }

    /// As [`Engine::keep_endpoint`], for changes the engine makes by itself
    /// (a launch ending, an update ending): a failure is logged.
    pub(crate) fn keep_endpoint_or_log(&self, name: &str, state: &EndpointState) {
        if let Err(error) = self.keep_endpoint(name, state) {
            tracing::error!("endpoint {name} could not be kept in the run store: {error}");
        }
    }

    /// Every router whose published metrics CloudWatch still answers for:
    /// the endpoints', and those of deleted endpoints.
    pub(crate) fn metric_routers(&self) -> Vec<Arc<EndpointRouter>> {
        let mut routers: Vec<Arc<EndpointRouter>> = self
            .read_endpoints()
            .values()
            .map(|entry| entry.router.clone())
            .collect();
        routers.extend(self.read_retired().iter().cloned());
        routers
    }

    /// Writes the published buckets changed since the last time, and the API
    /// clock.
    fn keep_metrics(&self) -> Result<(), StoreError> {
        let now = self.clock().now_ms();
        let mut rows = Vec::new();
        let mut rolled_up = Vec::new();
        for router in self.metric_routers() {
            for rolled in router.metrics.roll_up(now) {
                rolled_up.push((
                    router.name.clone(),
                    router.variant.clone(),
                    rolled.start_ms,
                    rolled.start_ms + rolled.width_ms,
                ));
                for (config, bucket) in rolled.configs {
                    rows.push(SavedBucket {
                        endpoint: router.name.clone(),
                        variant: router.variant.clone(),
                        config,
                        start_ms: rolled.start_ms,
                        body: serde_json::to_string(&bucket).unwrap_or_default(),
                    });
                }
            }
            for (start_ms, config, bucket) in router.metrics.take_unsaved() {
                rows.push(SavedBucket {
                    endpoint: router.name.clone(),
                    variant: router.variant.clone(),
                    config,
                    start_ms,
                    body: serde_json::to_string(&bucket).unwrap_or_default(),
                });
            }
        }
        let oldest = now.saturating_sub(PUBLISHED_RETENTION_MS);
        self.store().save_buckets(&rolled_up, &rows, oldest)?;
        // A deleted endpoint's metrics are forgotten with their retention.
        self.write_retired().retain(|router| {
            router
                .metrics
                .newest_ms()
                .is_some_and(|newest| newest >= oldest)
        });
        self.store().save_api_clock(now)
    }

    /// Puts back the published metrics the store kept: onto the router of the
    /// endpoint and variant they were published for, or a retired one.
    pub(crate) fn restore_metrics(&self, store: &Store) -> Result<(), StoreError> {
        let now = self.clock().now_ms();
        for saved in store.buckets()? {
            let Ok(bucket) = serde_json::from_str::<FleetBucket>(&saved.body) else {
                tracing::error!(
                    "a kept metric bucket of endpoint {} cannot be read; it is left out",
                    saved.endpoint
                );
                continue;
            };
            let router = self
                .metric_router(&saved.endpoint, &saved.variant)
                .unwrap_or_else(|| {
                    let router = Arc::new(EndpointRouter::new(
                        &saved.endpoint,
                        &saved.variant,
                        Default::default(),
                        self.clock(),
                    ));
                    self.write_retired().push(router.clone());
                    router
                });
            router
                .metrics
                .restore(saved.start_ms, &saved.config, bucket, now);
        }
        Ok(())
    }

    /// The router holding the published metrics of endpoint `name`'s variant
    /// `variant`: the endpoint's own, or a deleted endpoint's.
    pub(crate) fn metric_router(&self, name: &str, variant: &str) -> Option<Arc<EndpointRouter>> {
        if let Some(router) = self
            .router_of(name)
            .filter(|router| router.variant == variant)
        {
            return Some(router);
        }
        self.read_retired()
            .iter()
            .find(|router| router.name == name && router.variant == variant)
            .cloned()
    }

    /// The router for a new endpoint `name` with variant `variant`: a deleted
    /// endpoint's of the same name and variant, whose metrics it continues (as
    /// CloudWatch's metrics are named by their dimensions), or a new one.
    pub(crate) fn adopt_router(&self, name: &str, variant: &str) -> Arc<EndpointRouter> {
        let mut retired = self.write_retired();
        match retired
            .iter()
            .position(|router| router.name == name && router.variant == variant)
        {
            Some(position) => retired.swap_remove(position),
            None => Arc::new(EndpointRouter::new(
                name,
                variant,
                Default::default(),
                self.clock(),
            )),
        }
    }

    /// Keeps a deleted endpoint's router for its metrics.
    pub(crate) fn retire_router(&self, router: Arc<EndpointRouter>) {
        let mut retired = self.write_retired();
        retired.retain(|other| !(other.name == router.name && other.variant == router.variant));
        retired.push(router);
    }
}

/// Writes published metrics and the API clock every [`KEEP_EVERY`] until the
/// engine is gone.
pub(crate) async fn keep(inner: Weak<Inner>) {
    let mut ticks = tokio::time::interval(KEEP_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let engine = Engine { inner: strong };
        if let Err(error) = engine.keep_metrics() {
            tracing::error!("published metrics could not be kept in the run store: {error}");
        }
        if let Err(error) = engine.cloudwatch().keep_custom_metrics() {
            tracing::error!(
                "metric data users published could not be rolled up in the run store: {error}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use guardrail_core::schedule::Phase;

    fn saved(updating: Option<SavedUpdate>) -> SavedEndpoint {
        SavedEndpoint {
            endpoint_name: "e".into(),
            endpoint_config_name: "v1".into(),
            variant_name: "AllTraffic".into(),
            status: if updating.is_some() {
                "Updating"
            } else {
                "InService"
            }
            .into(),
            failure_reason: None,
            created_ms: 1,
            modified_ms: 2,
            last_deployment_config: None,
            desired_instances: 3,
            updating,
        }
    }

    fn update() -> Option<SavedUpdate> {
        Some(SavedUpdate {
            run: "run-1".into(),
            config: "v2".into(),
        })
    }

    #[test]
    fn an_interrupted_update_leaves_the_old_config_with_a_reason_that_says_so() {
        let interrupted = RunOutcome::RolledBack {
            phase: Phase::CanaryBake,
            cause: RollbackCause::Interrupted {
                reason: "guardrail stopped during the canary bake, after event 7".into(),
            },
        };
        let (config, status, reason) = after_restart(&saved(update()), Some(&interrupted));
        assert_eq!((config.as_str(), status), ("v1", EndpointStatus::InService));
        assert_eq!(
            reason.as_deref(),
            Some(
                "Update to endpoint configuration v2 interrupted: guardrail stopped during the canary bake, \
                 after event 7; guardrail rolled the endpoint back to v1 when it started again (run run-1)"
            )
        );
        let (config, _, reason) = after_restart(&saved(update()), Some(&RunOutcome::Succeeded));
        assert_eq!((config.as_str(), reason), ("v2", None));
        let (config, _, reason) = after_restart(&saved(update()), None);
        assert_eq!(config, "v1");
        assert!(reason
            .expect("a reason")
            .contains("before the update was recorded"));
        let alarm = RunOutcome::RolledBack {
            phase: Phase::CanaryBake,
            cause: RollbackCause::Alarm {
                alarm: "a".into(),
                reason: "Threshold crossed".into(),
            },
        };
        let (_, _, reason) = after_restart(&saved(update()), Some(&alarm));
        assert!(reason
            .expect("a reason")
            .starts_with("Update rolled back: "));
    }

    #[test]
    fn an_endpoint_at_rest_keeps_its_config_and_a_failed_one_stays_failed() {
        let mut at_rest = saved(None);
        at_rest.failure_reason = Some("Update rolled back: earlier".into());
        assert_eq!(
            after_restart(&at_rest, None),
            (
                "v1".to_string(),
                EndpointStatus::InService,
                Some("Update rolled back: earlier".to_string())
            )
        );
        at_rest.status = "Creating".into();
        assert_eq!(after_restart(&at_rest, None).1, EndpointStatus::InService);
        at_rest.status = "Failed".into();
        assert_eq!(after_restart(&at_rest, None).1, EndpointStatus::Failed);
    }

    #[test]
    fn a_kept_model_says_how_it_was_created() {
        let mut model = ModelDefinition::named("m");
        model.image = Some("guardrail/baseline:1".into());
        model.as_containers = true;
        let text = serde_json::to_string(&SavedModel::of(&model)).expect("writes");
        assert!(text.contains("\"AsContainers\":true"), "{text}");
        let back: SavedModel = serde_json::from_str(&text).expect("reads");
        assert_eq!(back.into_model(), model);
    }
}
