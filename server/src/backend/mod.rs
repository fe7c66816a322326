//! Where a plan runs: one interface that the local engine and Amazon SageMaker
//! both implement. A backend starts a run, records its events into the one
//! store (viewers follow the store, whoever writes it), and stops it. The CLI,
//! the server functions and the planner choose the backend; nothing else knows
//! which one runs.

#[cfg(feature = "sagemaker")]
pub mod sagemaker;

use std::sync::Arc;

use guardrail_app::api::service::Answer;
use guardrail_app::api::{BackendInfo, ErrorKind, RunOptions, ServiceError, Target};
use guardrail_core::Plan;

use crate::engine::{Engine, EngineError, ACCOUNT};
use crate::store::Store;

/// The backends guardrail knows, by the name the CLI and the planner use.
pub const LOCAL: &str = "local";
pub const SAGEMAKER: &str = "sagemaker";

/// Runs plans somewhere and records what happens.
pub trait Backend: Send + Sync + 'static {
    /// `local` or `sagemaker`.
    fn name(&self) -> &'static str;
    /// What a run of `plan` with `options` would update: account, region,
    /// endpoint, and the problems a start would refuse with. Sends no change.
    fn target<'a>(&'a self, plan: &'a Plan, options: RunOptions) -> Answer<'a, Target>;
    /// Starts `plan`; returns the run id once the update is accepted. Its
    /// events go to the store.
    fn start<'a>(&'a self, plan: &'a Plan, options: RunOptions) -> Answer<'a, String>;
    /// Stops a run: the local engine rolls it back to blue; SageMaker is only
    /// no longer watched (the update carries on there).
    fn stop<'a>(&'a self, run_id: &'a str, by: &'a str) -> Answer<'a, ()>;
}

/// The backends this process offers, over one store.
#[derive(Clone)]
pub struct Backends {
    pub store: Store,
    list: Vec<Arc<dyn Backend>>,
}

impl Backends {
    pub fn new(store: Store, list: Vec<Arc<dyn Backend>>) -> Backends {
        Backends { store, list }
    }

    /// The local engine only.
    pub fn local(engine: &Engine) -> Backends {
        Backends::new(
            engine.store().clone(),
            vec![Arc::new(Local {
                engine: engine.clone(),
            })],
        )
    }

    /// The backend called `name`, or a refusal that names those on offer.
    pub fn get(&self, name: &str) -> Result<Arc<dyn Backend>, ServiceError> {
        self.list
            .iter()
            .find(|backend| backend.name() == name)
            .cloned()
            .ok_or_else(|| {
                let known: Vec<&str> = self.list.iter().map(|backend| backend.name()).collect();
                let hint = if name == SAGEMAKER {
                    " (this guardrail was built without the `sagemaker` feature)"
                } else {
                    ""
                };
                ServiceError::new(
                    ErrorKind::Input,
                    format!(
                        "no backend {name:?} here{hint}; available: {}",
                        known.join(", ")
                    ),
                )
            })
    }

    /// What the planner offers.
    pub fn infos(&self) -> Vec<BackendInfo> {
        self.list
            .iter()
            .map(|backend| BackendInfo {
                name: backend.name().to_string(),
                label: match backend.name() {
                    LOCAL => "Local engine (this machine)".into(),
                    SAGEMAKER => "Amazon SageMaker (AWS SDK)".into(),
                    other => other.to_string(),
                },
            })
            .collect()
    }

    /// Stops `run_id` on the backend that runs it.
    pub async fn stop(&self, run_id: &str, by: &str) -> Result<(), ServiceError> {
        // An unknown run is the local engine's to refuse, with its message.
        let backend = self
            .store
            .backend(run_id)
            .unwrap_or_else(|_| LOCAL.to_string());
        self.get(&backend)?.stop(run_id, by).await
    }
}

/// What kind of failure an engine error is, for clients and exit codes.
pub fn error_kind(error: &EngineError) -> ErrorKind {
    match error {
        EngineError::InvalidPlan(_) => ErrorKind::Invalid,
        EngineError::TimeScale(_) => ErrorKind::Input,
        EngineError::UnknownEndpoint { .. }
        | EngineError::UnknownConfig { .. }
        | EngineError::Busy { .. }
        | EngineError::VariantMismatch { .. }
        | EngineError::SameConfig { .. }
        | EngineError::NotInService { .. }
        | EngineError::NoRun(_)
        | EngineError::AbortRefused { .. } => ErrorKind::Refused,
        EngineError::Store(crate::store::StoreError::NoRun(_)) => ErrorKind::Refused,
        EngineError::Instances(_) | EngineError::Registry(_) | EngineError::Store(_) => {
            ErrorKind::Failed
        }
    }
}

pub fn service_error(error: EngineError) -> ServiceError {
    ServiceError::new(error_kind(&error), error.to_string())
}

/// The local engine as a backend.
pub struct Local {
    pub engine: Engine,
}

impl Backend for Local {
    fn name(&self) -> &'static str {
        LOCAL
    }

    fn target<'a>(&'a self, plan: &'a Plan, _options: RunOptions) -> Answer<'a, Target> {
        Box::pin(async move {
            let mut target = Target {
                backend: LOCAL.into(),
                account: ACCOUNT.into(),
                region: "local".into(),
                endpoint: plan.endpoint_name.clone(),
                api: "the local engine in this process".into(),
                ..Target::default()
            };
            match self.engine.endpoint_status(&plan.endpoint_name).await {
                Some(report) => {
                    target.status = report.status;
                    target.current_config = report.config;
                }
                None => target.problems.push(
                    service_error(EngineError::UnknownEndpoint {
                        name: plan.endpoint_name.clone(),
                        known: self
                            .engine
                            .registry()
                            .endpoints
                            .iter()
                            .map(|endpoint| endpoint.endpoint_name.clone())
                            .collect::<Vec<_>>()
                            .join(", "),
                    })
                    .message,
                ),
            }
            if let Err(error) = self.engine.prepare(plan, 1.0) {
                let message = error.to_string();
                if !target.problems.contains(&message) {
                    target.problems.push(message);
                }
            }
            Ok(target)
        })
    }

    fn start<'a>(&'a self, plan: &'a Plan, options: RunOptions) -> Answer<'a, String> {
        Box::pin(async move {
            self.engine
                .start_rollout(plan, options.time_scale)
                .await
                .map_err(service_error)
        })
    }

    fn stop<'a>(&'a self, run_id: &'a str, by: &'a str) -> Answer<'a, ()> {
        Box::pin(async move { self.engine.abort(run_id, by).await.map_err(service_error) })
    }
}
