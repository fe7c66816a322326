//! SageMaker's control plane on the local engine: models, endpoint configs and
//! endpoints, created, described, updated and deleted as SageMaker does, with
//! its rules and its messages. The wire protocol is `crate::aws::sagemaker`'s;
//! this module is what the operations do.
//!
//! An endpoint created here is an endpoint of the engine like `guardrail-demo`,
//! and an update is a run of the engine like one from the planner: recorded,
//! with a live view, replay and links. Its rollback alarms are CloudWatch's, read
//! from the local CloudWatch as SageMaker reads them.
//!
//! What SageMaker does not document (the messages of some refusals, the
//! weights and statuses `DescribeEndpoint` shows mid-update, an update without
//! a `DeploymentConfig`) is decided in `guardrail_core::assumptions`.

use std::sync::Arc;

use guardrail_core::check;
use guardrail_core::instance_types;
use guardrail_core::plan::{DeploymentConfig, JudgeSection, MetricAlarm, Plan};
use tokio::sync::Mutex;

use crate::engine::durable::SavedModel;
use crate::engine::endpoint::{EndpointState, EndpointStatus, VariantStatus, VariantView};
use crate::engine::fleet::{launch_fleet, targets};
use crate::engine::ids::{arn, shown};
use crate::engine::registry::{EndpointConfigDefinition, ModelDefinition};
use crate::engine::router::Routing;
use crate::engine::{Alarms, EndpointEntry, Engine, EngineError, Prepared};
use crate::store::{ResourceKind, StoreError};

/// The most models, endpoint configs or endpoints the local engine keeps.
pub const MAX_RESOURCES: usize = 1_000;
/// The most instances one production variant may ask for.
pub const MAX_VARIANT_INSTANCES: u32 = 32;
/// The most instances the engine runs at once, over every endpoint and update.
pub const MAX_ENGINE_INSTANCES: u32 = 256;

/// Why a SageMaker call was refused, with the code its clients see.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SageMakerError {
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    LimitExceeded(String),
    /// The engine could not do what it accepted (its run store failed).
    #[error("{0}")]
    Internal(String),
}

impl SageMakerError {
    /// The error code, as in the `__type` of SageMaker's JSON errors.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Validation(_) => "ValidationException",
            Self::LimitExceeded(_) => "ResourceLimitExceeded",
            Self::Internal(_) => "InternalFailure",
        }
    }
}

impl From<StoreError> for SageMakerError {
    fn from(error: StoreError) -> SageMakerError {
        SageMakerError::Internal(format!(
            "the local engine could not keep the change, and made none: {error}"
        ))
    }
}

/// `count validation error(s) detected: …`, as AWS's JSON services write it.
pub fn validation(errors: Vec<String>) -> SageMakerError {
    let count = errors.len();
    SageMakerError::Validation(format!(
        "{count} validation error{} detected: {}",
        if count == 1 { "" } else { "s" },
        errors.join("; ")
    ))
}

/// SageMaker's resource names: 1 to 63 letters, digits and hyphens, starting
/// and ending with a letter or digit.
pub fn name_problem(field: &str, value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let valid = (1..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric);
    (!valid).then(|| {
        format!(
            "Value '{}' at '{field}' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){{0,62}}",
            shown(value)
        )
    })
}

fn check_name(field: &str, value: &str) -> Result<(), SageMakerError> {
    match name_problem(field, value) {
        Some(problem) => Err(validation(vec![problem])),
        None => Ok(()),
    }
}

/// A kind of SageMaker resource, as its ARNs and messages name it.
#[derive(Clone, Copy, Debug)]
pub struct Kind {
    /// The ARN's resource type.
    pub arn: &'static str,
    /// The words messages use.
    pub words: &'static str,
    pub plural: &'static str,
}

pub const MODEL: Kind = Kind {
    arn: "model",
    words: "model",
    plural: "models",
};
pub const CONFIG: Kind = Kind {
    arn: "endpoint-config",
    words: "endpoint configuration",
    plural: "endpoint configurations",
};
pub const ENDPOINT: Kind = Kind {
    arn: "endpoint",
    words: "endpoint",
    plural: "endpoints",
};

/// SageMaker's answer for a resource of `kind` that does not exist.
fn not_found(region: &str, kind: Kind, name: &str) -> SageMakerError {
    SageMakerError::Validation(format!(
        "Could not find {} \"{}\".",
        kind.words,
        arn(region, kind.arn, name)
    ))
}

/// Whether another resource of `kind` called `name` may be created, when
/// `exists` says whether one is already there and `count` are kept.
fn admit(
    region: &str,
    kind: Kind,
    name: &str,
    exists: bool,
    count: usize,
) -> Result<(), SageMakerError> {
    if exists {
        return Err(SageMakerError::Validation(format!(
            "Cannot create already existing {} \"{}\".",
            kind.words,
            arn(region, kind.arn, name)
        )));
    }
    if count >= MAX_RESOURCES {
        return Err(SageMakerError::LimitExceeded(format!(
            "The local engine keeps at most {MAX_RESOURCES} {}.",
            kind.plural
        )));
    }
    Ok(())
}

/// What `DescribeEndpoint` shows.
#[derive(Clone, Debug)]
pub struct EndpointSnapshot {
    pub name: String,
    pub config: String,
    pub variant: String,
    pub status: EndpointStatus,
    pub failure_reason: Option<String>,
    pub created_ms: u64,
    pub modified_ms: u64,
    pub last_deployment_config: Option<DeploymentConfig>,
    /// The serving variant; `None` while the endpoint is being created.
    pub serving: Option<VariantView>,
    /// `PendingDeploymentSummary`: the new config, when it started, its
    /// variant and that variant's instance type.
    pub pending: Option<(String, u64, VariantView, String)>,
    /// `DeployedImages` of the serving variant: the model's image, if it has one.
    pub image: Option<String>,
}

/// One row of `ListEndpoints`.
#[derive(Clone, Debug)]
pub struct EndpointRow {
    pub name: String,
    pub status: EndpointStatus,
    pub created_ms: u64,
    pub modified_ms: u64,
}

/// An `UpdateEndpoint` request.
#[derive(Clone, Debug, Default)]
pub struct UpdateRequest {
    pub endpoint: String,
    pub config: String,
    pub deployment_config: Option<DeploymentConfig>,
    pub retain_deployment_config: bool,
    /// `RetainAllVariantProperties` without `DesiredInstanceCount` excluded:
    /// the new fleet has as many instances as the endpoint has now.
    pub retain_instance_count: bool,
}

impl Engine {
    /// Creation times of built-in definitions: when the engine started.
    fn created(&self, created_ms: u64) -> u64 {
        if created_ms == 0 {
            self.clock().started_ms()
        } else {
            created_ms
        }
    }

    /// `CreateModel`.
    pub fn create_model(
        &self,
        region: &str,
        mut model: ModelDefinition,
    ) -> Result<(), SageMakerError> {
        check_name("modelName", &model.model_name)?;
        model.created_ms = self.clock().now_ms();
        let mut registry = self.write_registry();
        let exists = registry.model(&model.model_name).is_some();
        admit(
            region,
            MODEL,
            &model.model_name,
            exists,
            registry.models.len(),
        )?;
        // Kept before it exists: a kill after the answer loses nothing.
        self.store().save_resource(
            ResourceKind::Model,
            &model.model_name,
            &SavedModel::of(&model),
        )?;
        registry.models.push(model);
        Ok(())
    }

    /// `DescribeModel`.
    pub fn describe_model(
        &self,
        region: &str,
        name: &str,
    ) -> Result<ModelDefinition, SageMakerError> {
        let registry = self.read_registry();
        let mut model = registry
            .model(name)
            .cloned()
            .ok_or_else(|| not_found(region, MODEL, name))?;
        model.created_ms = self.created(model.created_ms);
        Ok(model)
    }

    /// `DeleteModel`. As on SageMaker, a model that an endpoint config names
    /// may be deleted; an update to that config then fails.
    pub fn delete_model(&self, region: &str, name: &str) -> Result<(), SageMakerError> {
        let mut registry = self.write_registry();
        if registry.model(name).is_none() {
            return Err(not_found(region, MODEL, name));
        }
        self.store()
            .delete_resources(ResourceKind::Model, &[name])?;
        self.store().mark_deleted(ResourceKind::Model, name)?;
        registry.models.retain(|model| model.model_name != name);
        Ok(())
    }

    /// Every model, for `ListModels`.
    pub fn models(&self) -> Vec<ModelDefinition> {
        let registry = self.read_registry();
        registry
            .models
            .iter()
            .map(|model| ModelDefinition {
                created_ms: self.created(model.created_ms),
                ..model.clone()
            })
            .collect()
    }

    /// `CreateEndpointConfig`, with one production variant: the local engine
    /// serves one variant per endpoint.
    pub fn create_endpoint_config(
        &self,
        region: &str,
        mut config: EndpointConfigDefinition,
    ) -> Result<(), SageMakerError> {
        let mut problems = Vec::new();
        problems.extend(name_problem(
            "endpointConfigName",
            &config.endpoint_config_name,
        ));
        problems.extend(name_problem(
            "productionVariants.1.member.variantName",
            &config.variant_name,
        ));
        if config.instance_count < 1 {
            problems.push(format!(
                "Value '{}' at 'productionVariants.1.member.initialInstanceCount' failed to satisfy constraint: Member must have value greater than or equal to 1",
                config.instance_count
            ));
        }
        if !instance_types::is_listed(&config.instance_type) {
            problems.push(format!(
                "Value '{}' at 'productionVariants.1.member.instanceType' failed to satisfy constraint: Member must satisfy enum value set: [{}, …] ({} instance types)",
                shown(&config.instance_type),
                instance_types::INSTANCE_TYPES[..4].join(", "),
                instance_types::INSTANCE_TYPES.len()
            ));
        }
        if !config.initial_variant_weight.is_finite() || config.initial_variant_weight < 0.0 {
            problems.push(format!(
                "Value '{}' at 'productionVariants.1.member.initialVariantWeight' failed to satisfy constraint: Member must have value greater than or equal to 0",
                config.initial_variant_weight
            ));
        }
        if !problems.is_empty() {
            return Err(validation(problems));
        }
        if config.instance_count > MAX_VARIANT_INSTANCES {
            return Err(SageMakerError::LimitExceeded(format!(
                "The local engine runs at most {MAX_VARIANT_INSTANCES} instances per production variant; InitialInstanceCount is {}.",
                config.instance_count
            )));
        }
        config.created_ms = self.clock().now_ms();
        let mut registry = self.write_registry();
        let exists = registry.config(&config.endpoint_config_name).is_some();
        let count = registry.endpoint_configs.len();
        admit(region, CONFIG, &config.endpoint_config_name, exists, count)?;
        if registry.model(&config.model_name).is_none() {
            return Err(not_found(region, MODEL, &config.model_name));
        }
        self.store().save_resource(
            ResourceKind::EndpointConfig,
            &config.endpoint_config_name,
            &config,
        )?;
        registry.endpoint_configs.push(config);
        Ok(())
    }

    /// `DescribeEndpointConfig`.
    pub fn describe_endpoint_config(
        &self,
        region: &str,
        name: &str,
    ) -> Result<EndpointConfigDefinition, SageMakerError> {
        let registry = self.read_registry();
        let mut config = registry
            .config(name)
            .cloned()
            .ok_or_else(|| not_found(region, CONFIG, name))?;
        config.created_ms = self.created(config.created_ms);
        Ok(config)
    }

    /// `DeleteEndpointConfig`. As on SageMaker, the config of a running
    /// endpoint may be deleted: the endpoint keeps serving, and a rollback that
    /// must start its instances again fails.
    pub fn delete_endpoint_config(&self, region: &str, name: &str) -> Result<(), SageMakerError> {
        let mut registry = self.write_registry();
        if registry.config(name).is_none() {
            return Err(not_found(region, CONFIG, name));
        }
        self.store()
            .delete_resources(ResourceKind::EndpointConfig, &[name])?;
        self.store()
            .mark_deleted(ResourceKind::EndpointConfig, name)?;
        registry
            .endpoint_configs
            .retain(|config| config.endpoint_config_name != name);
        Ok(())
    }

    /// Every endpoint config, for `ListEndpointConfigs`.
    pub fn endpoint_configs(&self) -> Vec<EndpointConfigDefinition> {
        let registry = self.read_registry();
        registry
            .endpoint_configs
            .iter()
            .map(|config| EndpointConfigDefinition {
                created_ms: self.created(config.created_ms),
                ..config.clone()
            })
            .collect()
    }

    /// Instances running or asked for, over every endpoint.
    async fn instances_in_use(&self) -> u32 {
        let entries: Vec<EndpointEntry> = self.read_endpoints().values().cloned().collect();
        let mut total = 0u32;
        for entry in entries {
            let state = entry.state.lock().await;
            let green = state
                .deployment
                .as_ref()
                .map(|deployment| deployment.green.desired_instances)
                .unwrap_or(0);
            total = total
                .saturating_add(state.desired_instances.max(state.blue.len() as u32))
                .saturating_add(green);
        }
        total
    }

    /// Refuses `more` instances beyond the engine's limit, in the words of
    /// SageMaker's account quotas.
    async fn check_capacity(&self, more: u32) -> Result<(), SageMakerError> {
        let used = self.instances_in_use().await;
        if used.saturating_add(more) > MAX_ENGINE_INSTANCES {
            return Err(SageMakerError::LimitExceeded(format!(
                "The account-level service limit 'instances for endpoint usage on the local engine' is {MAX_ENGINE_INSTANCES} Instances, with current utilization of {used} Instances and a request delta of {more} Instances."
            )));
        }
        Ok(())
    }

    /// `CreateEndpoint`: the endpoint is `Creating` at once, then `InService`
    /// once every instance answers `/ping`, or `Failed` with the reason.
    /// A `DeploymentConfig` given here is kept for `RetainDeploymentConfig`.
    pub async fn create_endpoint(
        &self,
        region: &str,
        name: &str,
        config_name: &str,
        deployment_config: Option<DeploymentConfig>,
    ) -> Result<(), SageMakerError> {
        let mut problems = Vec::new();
        problems.extend(name_problem("endpointName", name));
        problems.extend(name_problem("endpointConfigName", config_name));
        if !problems.is_empty() {
            return Err(validation(problems));
        }
        let config = self
            .read_registry()
            .config(config_name)
            .cloned()
            .ok_or_else(|| not_found(region, CONFIG, config_name))?;
        if let Some(deployment) = &deployment_config {
            self.deployment_plan(
                region,
                name,
                &config,
                config.instance_count,
                Some(deployment.clone()),
            )?;
        }
        // Counted and claimed under one lock: parallel creates cannot both
        // take the last instances.
        let capacity = self.claim_capacity().await;
        self.check_capacity(config.instance_count).await?;
        let now = self.clock().now_ms();
        let mut state = EndpointState::creating(
            config_name,
            &config.variant_name,
            config.instance_count,
            now,
        );
        state.last_deployment_config = deployment_config;
        {
            let endpoints = self.read_endpoints();
            admit(
                region,
                ENDPOINT,
                name,
                endpoints.contains_key(name),
                endpoints.len(),
            )?;
        }
        // Kept before it exists; endpoints are only added under `capacity`,
        // so the check above still holds.
        self.keep_endpoint(name, &state)?;
        let entry = EndpointEntry {
            state: Arc::new(Mutex::new(state)),
            router: self.adopt_router(name, &config.variant_name),
        };
        self.write_endpoints()
            .insert(name.to_string(), entry.clone());
        drop(capacity);
        self.spawn(bring_into_service(
            self.clone(),
            entry,
            config,
            name.to_string(),
            now,
        ));
        Ok(())
    }

    /// `DescribeEndpoint`.
    pub async fn describe_endpoint(
        &self,
        region: &str,
        name: &str,
    ) -> Result<EndpointSnapshot, SageMakerError> {
        let entry = self
            .endpoint(name)
            .map_err(|_| not_found(region, ENDPOINT, name))?;
        let state = entry.state.lock().await;
        let registry = self.read_registry();
        let instance_type = |config: &str| {
            registry
                .config(config)
                .map(|config| config.instance_type.clone())
                .unwrap_or_default()
        };
        let image = registry
            .config(&state.config)
            .and_then(|config| registry.model(&config.model_name))
            .and_then(|model| model.image.clone());
        let (serving, pending) = match (&state.deployment, state.status) {
            (Some(deployment), _) => (
                Some(deployment.blue.clone()),
                Some((
                    deployment.green.config.clone(),
                    deployment.started_ms,
                    deployment.green.clone(),
                    instance_type(&deployment.green.config),
                )),
            ),
            (None, EndpointStatus::Creating) => {
                let creating = VariantView {
                    config: state.config.clone(),
                    current_instances: 0,
                    desired_instances: state.desired_instances,
                    current_weight: 0.0,
                    desired_weight: 1.0,
                    statuses: vec![VariantStatus {
                        status: "Creating",
                        message: format!("Launching {} instance(s).", state.desired_instances),
                        started_ms: state.created_ms,
                    }],
                };
                (
                    None,
                    Some((
                        state.config.clone(),
                        state.created_ms,
                        creating,
                        instance_type(&state.config),
                    )),
                )
            }
            (None, EndpointStatus::Failed) => (None, None),
            (None, _) => (Some(state.serving_view()), None),
        };
        Ok(EndpointSnapshot {
            name: name.to_string(),
            config: state.config.clone(),
            variant: state.variant.clone(),
            status: state.status,
            failure_reason: state.failure_reason.clone(),
            created_ms: state.created_ms,
            modified_ms: state.modified_ms,
            last_deployment_config: state.last_deployment_config.clone(),
            serving,
            pending,
            image,
        })
    }

    /// Every endpoint, for `ListEndpoints`.
    pub async fn endpoints(&self) -> Vec<EndpointRow> {
        let entries: Vec<(String, EndpointEntry)> = self
            .read_endpoints()
            .iter()
            .map(|(name, entry)| (name.clone(), entry.clone()))
            .collect();
        let mut rows = Vec::new();
        for (name, entry) in entries {
            let state = entry.state.lock().await;
            rows.push(EndpointRow {
                name,
                status: state.status,
                created_ms: state.created_ms,
                modified_ms: state.modified_ms,
            });
        }
        rows
    }

    /// `DeleteEndpoint`: stops its instances and forgets it. An endpoint being
    /// created or updated cannot be deleted until that ends.
    pub async fn delete_endpoint(&self, region: &str, name: &str) -> Result<(), SageMakerError> {
        let entry = self
            .endpoint(name)
            .map_err(|_| not_found(region, ENDPOINT, name))?;
        let mut state = entry.state.lock().await;
        if state.updating.is_some() || state.status == EndpointStatus::Creating {
            return Err(SageMakerError::Validation(format!(
                "Cannot delete in-progress endpoint \"{}\".",
                arn(region, ENDPOINT.arn, name)
            )));
        }
        self.store()
            .delete_resources(ResourceKind::Endpoint, &[name])?;
        self.store().mark_deleted(ResourceKind::Endpoint, name)?;
        // A registry endpoint is gone too: one created again under its name
        // is the API's, and kept.
        self.write_registry()
            .endpoints
            .retain(|endpoint| endpoint.endpoint_name != name);
        state.status = EndpointStatus::Deleting;
        self.write_endpoints().remove(name);
        self.stop_load(name);
        entry.router.set_routing(Routing::default());
        // CloudWatch keeps a deleted endpoint's metrics.
        self.retire_router(entry.router.clone());
        let state = &mut *state;
        let instances: Vec<_> = state.blue.drain(..).chain(state.green.drain(..)).collect();
        crate::engine::fleet::terminate_when_drained(entry.router.clone(), instances);
        Ok(())
    }

    /// The plan of an update of endpoint `endpoint` to `config` under
    /// `deployment`: its rollback alarms are CloudWatch's definitions of them.
    /// Refuses what the planner would report as an error.
    fn deployment_plan(
        &self,
        region: &str,
        endpoint: &str,
        config: &EndpointConfigDefinition,
        instance_count: u32,
        deployment: Option<DeploymentConfig>,
    ) -> Result<(Plan, guardrail_core::Rollout), SageMakerError> {
        let names: Vec<String> = deployment
            .iter()
            .flat_map(|deployment| deployment.auto_rollback_configuration.iter())
            .flat_map(|rollback| rollback.alarms.iter())
            .map(|alarm| alarm.alarm_name.clone())
            .collect();
        let alarms = self.rollback_alarm_definitions(region, &names)?;
        let plan = Plan {
            endpoint_name: endpoint.to_string(),
            endpoint_config_name: config.endpoint_config_name.clone(),
            variant_name: config.variant_name.clone(),
            instance_count: Some(i64::from(instance_count)),
            instance_type: config.instance_type.clone(),
            deployment_config: deployment,
            alarms,
            provisioning_seconds: None,
            termination_seconds: None,
            scenario: None,
            composite_alarms: Vec::new(),
            // Every blue/green update through the API is judged by the
            // default canary judge, which publishes `CanaryScore`: an alarm
            // on it in AutoRollbackConfiguration rolls the update back.
            judge: Some(JudgeSection::default_judge()),
        };
        let checked = check(&plan);
        match checked.rollout {
            Some(rollout) => Ok((plan, rollout)),
            None => Err(validation(
                checked
                    .report
                    .errors
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
            )),
        }
    }

    /// The metric alarms `names` of AutoRollbackConfiguration, each once;
    /// refused if one is composite or does not exist.
    fn rollback_alarm_definitions(
        &self,
        region: &str,
        names: &[String],
    ) -> Result<Vec<MetricAlarm>, SageMakerError> {
        let mut alarms = Vec::new();
        let mut missing = Vec::new();
        // SageMaker reads its alarms with DescribeAlarms, which returns metric
        // alarms only unless asked for composite ones: a composite alarm is
        // not one it can see (the assumption `composite_rollback`).
        let composite: Vec<String> = names
            .iter()
            .filter(|name| {
                !self
                    .cloudwatch()
                    .composites(|view| &view.definition.alarm_name == *name)
                    .is_empty()
            })
            .cloned()
            .collect();
        if !composite.is_empty() {
            return Err(SageMakerError::Validation(format!(
                "The CloudWatch alarm(s) {} named in AutoRollbackConfiguration are composite alarms; guardrail assumes SageMaker rolls back on metric alarms only (DescribeAlarms returns composite alarms only when asked): list the metric alarms they name instead.",
                composite
                    .iter()
                    .map(|name| format!("'{}'", shown(name)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        for name in names {
            match self.cloudwatch().alarm(name) {
                Some(view) => {
                    if !alarms.contains(&view.definition) {
                        alarms.push(view.definition);
                    }
                }
                None => missing.push(name.clone()),
            }
        }
        if !missing.is_empty() {
            return Err(SageMakerError::Validation(format!(
                "The CloudWatch alarm(s) {} named in AutoRollbackConfiguration do not exist in region {region}: create them with PutMetricAlarm first.",
                missing
                    .iter()
                    .map(|name| format!("'{}'", shown(name)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        Ok(alarms)
    }

    /// `UpdateEndpoint`: starts a guarded update, a run of the engine, and
    /// returns its id. See the module documentation.
    pub async fn update_endpoint(
        &self,
        region: &str,
        request: UpdateRequest,
    ) -> Result<String, SageMakerError> {
        let mut problems = Vec::new();
        problems.extend(name_problem("endpointName", &request.endpoint));
        problems.extend(name_problem("endpointConfigName", &request.config));
        if !problems.is_empty() {
            return Err(validation(problems));
        }
        let endpoint_arn = arn(region, ENDPOINT.arn, &request.endpoint);
        let entry = self
            .endpoint(&request.endpoint)
            .map_err(|_| not_found(region, ENDPOINT, &request.endpoint))?;
        let (status, variant, last, current_count) = {
            let state = entry.state.lock().await;
            (
                state.status,
                state.variant.clone(),
                state.last_deployment_config.clone(),
                state.desired_instances,
            )
        };
        updatable(status, &endpoint_arn)?;
        let config = self
            .read_registry()
            .config(&request.config)
            .cloned()
            .ok_or_else(|| not_found(region, CONFIG, &request.config))?;
        if config.variant_name != variant {
            return Err(SageMakerError::Validation(format!(
                "Endpoint configuration \"{}\" has production variant {}, but endpoint \"{endpoint_arn}\" serves {variant}: a blue/green update keeps the variant names.",
                arn(region, CONFIG.arn, &request.config),
                config.variant_name
            )));
        }
        let deployment = match (request.deployment_config, request.retain_deployment_config) {
            (Some(_), true) => {
                return Err(SageMakerError::Validation(
                    "Specify DeploymentConfig or RetainDeploymentConfig, not both.".into(),
                ))
            }
            (Some(given), false) => Some(given),
            (None, true) => last,
            (None, false) => None,
        };
        let instance_count = if request.retain_instance_count {
            current_count
        } else {
            config.instance_count
        };
        let (plan, rollout) = self.deployment_plan(
            region,
            &request.endpoint,
            &config,
            instance_count,
            deployment.clone(),
        )?;
        // Counted and claimed (by the run's start) under one lock.
        let _capacity = self.claim_capacity().await;
        self.check_capacity(instance_count).await?;
        let green_model = self
            .runnable_config(&config.endpoint_config_name)
            .map(|(_, model)| model);
        let prepared = Prepared {
            entry,
            rollout,
            green_model,
            time_scale: self.clock().scale(),
        };
        self.launch_run(&plan, prepared, Alarms::CloudWatch, deployment)
            .await
            .map_err(|error| update_error(error, region, &endpoint_arn))
    }
}

/// Whether an endpoint in `status` takes an update: only `InService` does.
fn updatable(status: EndpointStatus, endpoint_arn: &str) -> Result<(), SageMakerError> {
    match status {
        EndpointStatus::InService => Ok(()),
        EndpointStatus::Failed | EndpointStatus::UpdateRollbackFailed => {
            Err(SageMakerError::Validation(format!(
                "Cannot update endpoint \"{endpoint_arn}\" in status {}: delete it and create it again.",
                status.as_str()
            )))
        }
        _ => Err(SageMakerError::Validation(format!(
            "Cannot update in-progress endpoint \"{endpoint_arn}\"."
        ))),
    }
}

/// SageMaker's error for an update the engine refused to start.
fn update_error(error: EngineError, region: &str, endpoint_arn: &str) -> SageMakerError {
    match error {
        EngineError::Busy { .. } | EngineError::NotInService { .. } => SageMakerError::Validation(
            format!("Cannot update in-progress endpoint \"{endpoint_arn}\"."),
        ),
        EngineError::SameConfig { config, .. } => SageMakerError::Validation(format!(
            "Endpoint \"{endpoint_arn}\" already uses endpoint configuration \"{}\": an update needs a new one.",
            arn(region, CONFIG.arn, &config)
        )),
        other => SageMakerError::Internal(other.to_string()),
    }
}

/// Launches a new endpoint's fleet of `config` and, after the provisioning
/// time, puts it `InService`; or `Failed` with the reason.
async fn bring_into_service(
    engine: Engine,
    entry: EndpointEntry,
    config: EndpointConfigDefinition,
    name: String,
    now: u64,
) {
    let launched = match engine.runnable_config(&config.endpoint_config_name) {
        Ok((_, model)) => {
            launch_fleet(
                engine.client(),
                &model,
                &config.endpoint_config_name,
                config.instance_count,
                engine.seed(),
                crate::engine::fleet::startup_patience(engine.clock().scale()),
            )
            .await
        }
        Err(reason) => Err(reason),
    };
    if launched.is_ok() {
        let ready = engine
            .clock()
            .instant_at(now.saturating_add(engine.provisioning_ms()));
        tokio::time::sleep_until(ready.into()).await;
    }
    let mut state = entry.state.lock().await;
    state.modified_ms = engine.clock().now_ms();
    match launched {
        Ok(instances) => {
            entry.router.set_routing(Routing::blue_only(targets(
                &instances,
                &config.endpoint_config_name,
            )));
            state.blue = instances;
            state.status = EndpointStatus::InService;
        }
        Err(reason) => {
            state.status = EndpointStatus::Failed;
            state.failure_reason = Some(
                format!(
                    "Production variant {} could not start: {reason}",
                    config.variant_name
                )
                .chars()
                .take(1_024)
                .collect(),
            );
        }
    }
    engine.keep_endpoint_or_log(&name, &state);
}
