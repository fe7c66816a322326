//! SageMaker's control-plane operations on the wire (awsJson1_1): each request
//! is read into its shape, handed to the engine (`crate::engine::sagemaker`),
//! and answered in SageMaker's shape. Timestamps are epoch seconds.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use guardrail_core::plan::DeploymentConfig;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::aws::failure::{parse, Failure};
use crate::aws::wire::{epoch_millis, epoch_seconds};
use crate::engine::endpoint::VariantView;
use crate::engine::ids::{arn, shown};
use crate::engine::registry::{EndpointConfigDefinition, ModelDefinition, BUILTIN_IMAGES};
use crate::engine::sagemaker::{
    name_problem, validation, EndpointSnapshot, SageMakerError, UpdateRequest, CONFIG, ENDPOINT,
    MODEL,
};
use crate::engine::Engine;

/// The operations this module answers.
pub const OPERATIONS: [&str; 13] = [
    "CreateModel",
    "DescribeModel",
    "DeleteModel",
    "ListModels",
    "CreateEndpointConfig",
    "DescribeEndpointConfig",
    "DeleteEndpointConfig",
    "ListEndpointConfigs",
    "CreateEndpoint",
    "DescribeEndpoint",
    "UpdateEndpoint",
    "DeleteEndpoint",
    "ListEndpoints",
];

impl From<SageMakerError> for Failure {
    fn from(error: SageMakerError) -> Failure {
        let status = match error {
            SageMakerError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        Failure::new(status, error.code(), error.to_string())
    }
}

fn read<T: DeserializeOwned>(input: Value) -> Result<T, Failure> {
    parse(input, "SerializationException")
}

fn invalid(message: impl Into<String>) -> Failure {
    SageMakerError::Validation(message.into()).into()
}

/// Answers one SageMaker operation.
// Long: one match over SageMaker's operations, an arm per operation.
pub async fn call(
    engine: &Engine,
    region: &str,
    operation: &str,
    input: Value,
) -> Result<Value, Failure> {
    match operation {
        "CreateModel" => create_model(engine, region, read(input)?),
        "DescribeModel" => {
            let input: Named = read(input)?;
            let model = engine.describe_model(region, &input.model_name)?;
            Ok(describe_model(region, &model))
        }
        "DeleteModel" => {
            let input: Named = read(input)?;
            engine.delete_model(region, &input.model_name)?;
            Ok(json!({}))
        }
        "ListModels" => {
            let rows = engine
                .models()
                .into_iter()
                .map(|model| Row {
                    item: json!({
                        "ModelName": model.model_name,
                        "ModelArn": arn(region, MODEL.arn, &model.model_name),
                        "CreationTime": epoch_seconds(model.created_ms),
                    }),
                    name: model.model_name,
                    created_ms: model.created_ms,
                    modified_ms: model.created_ms,
                    status: "",
                })
                .collect();
            list(read(input)?, rows, &["Name", "CreationTime"], "Models")
        }
        "CreateEndpointConfig" => create_endpoint_config(engine, region, read(input)?),
        "DescribeEndpointConfig" => {
            let input: Named = read(input)?;
            let config = engine.describe_endpoint_config(region, &input.endpoint_config_name)?;
            Ok(describe_endpoint_config(region, &config))
        }
        "DeleteEndpointConfig" => {
            let input: Named = read(input)?;
            engine.delete_endpoint_config(region, &input.endpoint_config_name)?;
            Ok(json!({}))
        }
        "ListEndpointConfigs" => {
            let rows = engine
                .endpoint_configs()
                .into_iter()
                .map(|config| Row {
                    item: json!({
                        "EndpointConfigName": config.endpoint_config_name,
                        "EndpointConfigArn": arn(region, CONFIG.arn, &config.endpoint_config_name),
                        "CreationTime": epoch_seconds(config.created_ms),
                    }),
                    name: config.endpoint_config_name,
                    created_ms: config.created_ms,
                    modified_ms: config.created_ms,
                    status: "",
                })
                .collect();
            list(
                read(input)?,
                rows,
                &["Name", "CreationTime"],
                "EndpointConfigs",
            )
        }
        "CreateEndpoint" => {
            let input: CreateEndpointInput = read(input)?;
            engine
                .create_endpoint(
                    region,
                    &input.endpoint_name,
                    &input.endpoint_config_name,
                    input.deployment_config,
                )
                .await?;
            Ok(json!({"EndpointArn": arn(region, ENDPOINT.arn, &input.endpoint_name)}))
        }
        "DescribeEndpoint" => {
            let input: Named = read(input)?;
            let snapshot = engine
                .describe_endpoint(region, &input.endpoint_name)
                .await?;
            Ok(describe_endpoint(region, &snapshot))
        }
        "UpdateEndpoint" => update_endpoint(engine, region, read(input)?).await,
        "DeleteEndpoint" => {
            let input: Named = read(input)?;
            engine.delete_endpoint(region, &input.endpoint_name).await?;
            Ok(json!({}))
        }
        "ListEndpoints" => {
            let rows = engine
                .endpoints()
                .await
                .into_iter()
                .map(|row| Row {
                    item: json!({
                        "EndpointName": row.name,
                        "EndpointArn": arn(region, ENDPOINT.arn, &row.name),
                        "CreationTime": epoch_seconds(row.created_ms),
                        "LastModifiedTime": epoch_seconds(row.modified_ms),
                        "EndpointStatus": row.status.as_str(),
                    }),
                    name: row.name,
                    created_ms: row.created_ms,
                    modified_ms: row.modified_ms,
                    status: row.status.as_str(),
                })
                .collect();
            list(
                read(input)?,
                rows,
                &["Name", "CreationTime", "Status"],
                "Endpoints",
            )
        }
        _ => Err(Failure::new(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            format!(
                "guardrail's local SageMaker does not implement {}; it implements {}",
                shown(operation),
                OPERATIONS.join(", ")
            ),
        )),
    }
}

/// The input of the calls that name one resource.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct Named {
    model_name: String,
    endpoint_config_name: String,
    endpoint_name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct Container {
    image: Option<String>,
    model_data_url: Option<String>,
    environment: BTreeMap<String, String>,
    model_package_name: Option<String>,
    mode: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct CreateModelInput {
    model_name: String,
    primary_container: Option<Container>,
    containers: Option<Vec<Container>>,
    execution_role_arn: Option<String>,
}

/// What is wrong with a container, in AWS's words, at `at`.
fn container_problems(at: &str, container: &Container) -> Vec<String> {
    let mut problems = Vec::new();
    match &container.image {
        None if container.model_package_name.is_some() => problems.push(format!(
            "{at}.modelPackageName: guardrail's local engine runs container images, not model packages; give {at}.image"
        )),
        None => problems.push(format!(
            "Value null at '{at}.image' failed to satisfy constraint: Member must not be null (guardrail runs the model from its image)"
        )),
        Some(image)
            if image.is_empty() || image.len() > 255 || image.chars().any(char::is_whitespace) =>
        {
            problems.push(format!(
                "Value '{}' at '{at}.image' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\S]+ and have length less than or equal to 255",
                shown(image)
            ))
        }
        Some(_) => {}
    }
    if let Some(url) = &container.model_data_url {
        let scheme = url.starts_with("s3://") || url.starts_with("https://");
        if !scheme || url.len() > 1024 {
            problems.push(format!(
                "Value '{}' at '{at}.modelDataUrl' failed to satisfy constraint: Member must satisfy regular expression pattern: ^(https|s3)://([^/]+)/?(.*)$",
                shown(url)
            ));
        }
    }
    if container.environment.len() > 100 {
        problems.push(format!(
            "Value at '{at}.environment' failed to satisfy constraint: Map value must have length less than or equal to 100"
        ));
    }
    for (key, value) in &container.environment {
        let valid_key = key.len() <= 1024
            && key
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid_key || value.len() > 1024 {
            problems.push(format!(
                "Value at '{at}.environment' failed to satisfy constraint: Map keys must satisfy [a-zA-Z_][a-zA-Z0-9_]* and values have length at most 1024 ({})",
                shown(key)
            ));
        }
    }
    if container
        .mode
        .as_deref()
        .is_some_and(|mode| mode != "SingleModel")
    {
        problems.push(format!(
            "{at}.mode: guardrail's local engine runs SingleModel containers only"
        ));
    }
    problems
}

fn create_model(engine: &Engine, region: &str, input: CreateModelInput) -> Result<Value, Failure> {
    let mut problems: Vec<String> = name_problem("modelName", &input.model_name)
        .into_iter()
        .collect();
    let (container, as_containers) = match (input.primary_container, input.containers) {
        (Some(_), Some(_)) => {
            return Err(invalid("Specify PrimaryContainer or Containers, not both."))
        }
        (None, None) => {
            return Err(invalid(
                "Specify the model's container in PrimaryContainer or Containers.",
            ))
        }
        (Some(container), None) => (container, false),
        (None, Some(mut containers)) => {
            if containers.len() != 1 {
                return Err(invalid(format!(
                    "Containers has {} containers: guardrail's local engine runs one container per model (no inference pipelines).",
                    containers.len()
                )));
            }
            (containers.remove(0), true)
        }
    };
    let at = if as_containers {
        "containers.1.member"
    } else {
        "primaryContainer"
    };
    problems.extend(container_problems(at, &container));
    if let Some(role) = &input.execution_role_arn {
        let valid = (20..=2048).contains(&role.len())
            && role.starts_with("arn:aws")
            && role.contains(":iam::")
            && role.contains(":role/");
        if !valid {
            problems.push(format!(
                "Value '{}' at 'executionRoleArn' failed to satisfy constraint: Member must satisfy regular expression pattern: ^arn:aws[a-z\\-]*:iam::\\d{{12}}:role/?[a-zA-Z_0-9+=,.@\\-_/]+$",
                shown(role)
            ));
        }
    }
    if !problems.is_empty() {
        return Err(validation(problems).into());
    }
    let mut model = ModelDefinition::named(&input.model_name);
    model.image = container.image;
    model.model_data_url = container.model_data_url;
    model.environment = container.environment;
    model.execution_role_arn = input.execution_role_arn;
    model.as_containers = as_containers;
    engine.create_model(region, model)?;
    Ok(json!({"ModelArn": arn(region, MODEL.arn, &input.model_name)}))
}

/// The image a model shows: its own, or the built-in one it runs.
fn image_of(model: &ModelDefinition) -> Option<String> {
    model.image.clone().or_else(|| {
        let behaviour = model.run.builtin.as_ref()?.behaviour;
        BUILTIN_IMAGES
            .iter()
            .find(|(_, known)| *known == behaviour)
            .map(|(image, _)| image.to_string())
    })
}

fn describe_model(region: &str, model: &ModelDefinition) -> Value {
    let mut container = Map::new();
    if let Some(image) = image_of(model) {
        container.insert("Image".into(), json!(image));
    }
    if let Some(url) = &model.model_data_url {
        container.insert("ModelDataUrl".into(), json!(url));
    }
    if !model.environment.is_empty() {
        container.insert("Environment".into(), json!(model.environment));
    }
    let mut output = json!({
        "ModelName": model.model_name,
        "CreationTime": epoch_seconds(model.created_ms),
        "ModelArn": arn(region, MODEL.arn, &model.model_name),
        "EnableNetworkIsolation": false,
    });
    if model.as_containers {
        output["Containers"] = json!([container]);
    } else {
        output["PrimaryContainer"] = Value::Object(container);
    }
    if let Some(role) = &model.execution_role_arn {
        output["ExecutionRoleArn"] = json!(role);
    }
    output
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct Variant {
    variant_name: String,
    model_name: String,
    initial_instance_count: Option<i64>,
    instance_type: Option<String>,
    initial_variant_weight: Option<f64>,
    serverless_config: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct CreateEndpointConfigInput {
    endpoint_config_name: String,
    production_variants: Vec<Variant>,
}

fn create_endpoint_config(
    engine: &Engine,
    region: &str,
    input: CreateEndpointConfigInput,
) -> Result<Value, Failure> {
    let mut variants = input.production_variants;
    let variant = match variants.len() {
        0 => {
            return Err(validation(vec![
                "Value '[]' at 'productionVariants' failed to satisfy constraint: Member must have length greater than or equal to 1".into(),
            ])
            .into())
        }
        1 => variants.remove(0),
        count => {
            return Err(invalid(format!(
                "ProductionVariants has {count} variants: guardrail's local engine serves one production variant per endpoint."
            )))
        }
    };
    if variant.serverless_config.is_some() {
        return Err(invalid(
            "productionVariants.1.member.serverlessConfig: guardrail's local engine runs instance-based variants only; give InitialInstanceCount and InstanceType.",
        ));
    }
    let Some(count) = variant.initial_instance_count else {
        return Err(validation(vec![
            "Value null at 'productionVariants.1.member.initialInstanceCount' failed to satisfy constraint: Member must not be null".into(),
        ])
        .into());
    };
    let config = EndpointConfigDefinition {
        endpoint_config_name: input.endpoint_config_name,
        model_name: variant.model_name,
        variant_name: variant.variant_name,
        instance_count: u32::try_from(count.max(0)).unwrap_or(u32::MAX),
        instance_type: variant.instance_type.unwrap_or_default(),
        initial_variant_weight: variant.initial_variant_weight.unwrap_or(1.0),
        created_ms: 0,
    };
    let name = config.endpoint_config_name.clone();
    engine.create_endpoint_config(region, config)?;
    Ok(json!({"EndpointConfigArn": arn(region, CONFIG.arn, &name)}))
}

fn describe_endpoint_config(region: &str, config: &EndpointConfigDefinition) -> Value {
    json!({
        "EndpointConfigName": config.endpoint_config_name,
        "EndpointConfigArn": arn(region, CONFIG.arn, &config.endpoint_config_name),
        "ProductionVariants": [{
            "VariantName": config.variant_name,
            "ModelName": config.model_name,
            "InitialInstanceCount": config.instance_count,
            "InstanceType": config.instance_type,
            "InitialVariantWeight": config.initial_variant_weight,
        }],
        "CreationTime": epoch_seconds(config.created_ms),
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct CreateEndpointInput {
    endpoint_name: String,
    endpoint_config_name: String,
    deployment_config: Option<DeploymentConfig>,
}

/// One variant, as `ProductionVariantSummary` or, with an instance type,
/// `PendingProductionVariantSummary`.
fn variant_summary(variant: &str, view: &VariantView, instance_type: Option<&str>) -> Value {
    let mut summary = json!({
        "VariantName": variant,
        "CurrentWeight": view.current_weight,
        "DesiredWeight": view.desired_weight,
        "CurrentInstanceCount": view.current_instances,
        "DesiredInstanceCount": view.desired_instances,
    });
    if let Some(instance_type) = instance_type.filter(|text| !text.is_empty()) {
        summary["InstanceType"] = json!(instance_type);
    }
    if !view.statuses.is_empty() {
        summary["VariantStatus"] = view
            .statuses
            .iter()
            .map(|status| {
                json!({
                    "Status": status.status,
                    "StatusMessage": status.message,
                    "StartTime": epoch_seconds(status.started_ms),
                })
            })
            .collect();
    }
    summary
}

fn describe_endpoint(region: &str, snapshot: &EndpointSnapshot) -> Value {
    let mut output = json!({
        "EndpointName": snapshot.name,
        "EndpointArn": arn(region, ENDPOINT.arn, &snapshot.name),
        "EndpointConfigName": snapshot.config,
        "EndpointStatus": snapshot.status.as_str(),
        "CreationTime": epoch_seconds(snapshot.created_ms),
        "LastModifiedTime": epoch_seconds(snapshot.modified_ms),
    });
    if let Some(serving) = &snapshot.serving {
        let mut variant = variant_summary(&snapshot.variant, serving, None);
        if let Some(image) = &snapshot.image {
            variant["DeployedImages"] = json!([{
                "SpecifiedImage": image,
                "ResolvedImage": image,
                "ResolutionTime": epoch_seconds(snapshot.created_ms),
            }]);
        }
        output["ProductionVariants"] = json!([variant]);
    }
    if let Some(reason) = &snapshot.failure_reason {
        output["FailureReason"] = json!(reason);
    }
    if let Some(last) = &snapshot.last_deployment_config {
        output["LastDeploymentConfig"] = serde_json::to_value(last).unwrap_or_default();
    }
    if let Some((config, started_ms, view, instance_type)) = &snapshot.pending {
        output["PendingDeploymentSummary"] = json!({
            "EndpointConfigName": config,
            "StartTime": epoch_seconds(*started_ms),
            "ProductionVariants": [variant_summary(&snapshot.variant, view, Some(instance_type))],
        });
    }
    output
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct VariantProperty {
    variant_property_type: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct UpdateEndpointInput {
    endpoint_name: String,
    endpoint_config_name: String,
    retain_all_variant_properties: bool,
    exclude_retained_variant_properties: Vec<VariantProperty>,
    deployment_config: Option<DeploymentConfig>,
    retain_deployment_config: bool,
}

const VARIANT_PROPERTIES: [&str; 3] =
    ["DesiredInstanceCount", "DesiredWeight", "DataCaptureConfig"];

/// What is wrong with `value` at `at` when it is not one of `allowed`, in the
/// words of AWS's JSON services.
fn enum_problem(at: &str, value: &str, allowed: &[&str]) -> Option<String> {
    (!allowed.contains(&value)).then(|| {
        format!(
            "Value '{}' at '{at}' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
            shown(value),
            allowed.join(", ")
        )
    })
}

async fn update_endpoint(
    engine: &Engine,
    region: &str,
    input: UpdateEndpointInput,
) -> Result<Value, Failure> {
    let excluded = &input.exclude_retained_variant_properties;
    let mut problems = Vec::new();
    if excluded.len() > 3 {
        problems.push(format!(
            "Value at 'excludeRetainedVariantProperties' failed to satisfy constraint: Member must have length less than or equal to 3 (it has {})",
            excluded.len()
        ));
    }
    for (index, property) in excluded.iter().enumerate() {
        problems.extend(enum_problem(
            &format!(
                "excludeRetainedVariantProperties.{}.member.variantPropertyType",
                index + 1
            ),
            &property.variant_property_type,
            &VARIANT_PROPERTIES,
        ));
    }
    if !problems.is_empty() {
        return Err(validation(problems).into());
    }
    let keeps_count = input.retain_all_variant_properties
        && !excluded
            .iter()
            .any(|property| property.variant_property_type == "DesiredInstanceCount");
    engine
        .update_endpoint(
            region,
            UpdateRequest {
                endpoint: input.endpoint_name.clone(),
                config: input.endpoint_config_name,
                deployment_config: input.deployment_config,
                retain_deployment_config: input.retain_deployment_config,
                retain_instance_count: keeps_count,
            },
        )
        .await?;
    Ok(json!({"EndpointArn": arn(region, ENDPOINT.arn, &input.endpoint_name)}))
}

/// The input every `List*` call shares.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ListInput {
    sort_by: Option<String>,
    sort_order: Option<String>,
    next_token: Option<String>,
    max_results: Option<i64>,
    name_contains: Option<String>,
    creation_time_before: Option<f64>,
    creation_time_after: Option<f64>,
    last_modified_time_before: Option<f64>,
    last_modified_time_after: Option<f64>,
    status_equals: Option<String>,
}

/// One resource of a `List*` answer, with what it is filtered and sorted by.
struct Row {
    name: String,
    created_ms: u64,
    modified_ms: u64,
    status: &'static str,
    item: Value,
}

/// Filters, sorts and pages `rows` as SageMaker's `List*` calls do: sorted by
/// creation time, newest first, unless asked otherwise; 10 to a page.
fn list(input: ListInput, mut rows: Vec<Row>, sorts: &[&str], key: &str) -> Result<Value, Failure> {
    let mut problems = Vec::new();
    let sort_by = input.sort_by.as_deref().unwrap_or("CreationTime");
    problems.extend(enum_problem("sortBy", sort_by, sorts));
    let order = input.sort_order.as_deref().unwrap_or("Descending");
    problems.extend(enum_problem(
        "sortOrder",
        order,
        &["Ascending", "Descending"],
    ));
    let ascending = order == "Ascending";
    let max = input.max_results.unwrap_or(10);
    if !(1..=100).contains(&max) {
        problems.push(format!(
            "Value '{max}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 100"
        ));
    }
    let start = match input.next_token.as_deref() {
        None => 0,
        Some(token) => match token.parse::<usize>() {
            Ok(start) => start,
            Err(_) => {
                problems.push(format!("Invalid pagination token '{}'.", shown(token)));
                0
            }
        },
    };
    if !problems.is_empty() {
        return Err(validation(problems).into());
    }
    let ms = |seconds: Option<f64>| seconds.map(epoch_millis);
    let (created_before, created_after) = (
        ms(input.creation_time_before),
        ms(input.creation_time_after),
    );
    let (modified_before, modified_after) = (
        ms(input.last_modified_time_before),
        ms(input.last_modified_time_after),
    );
    rows.retain(|row| {
        input
            .name_contains
            .as_deref()
            .is_none_or(|part| row.name.contains(part))
            && input
                .status_equals
                .as_deref()
                .is_none_or(|status| row.status == status)
            && created_before.is_none_or(|before| row.created_ms < before)
            && created_after.is_none_or(|after| row.created_ms > after)
            && modified_before.is_none_or(|before| row.modified_ms < before)
            && modified_after.is_none_or(|after| row.modified_ms > after)
    });
    rows.sort_by(|a, b| {
        let order = match sort_by {
            "Name" => a.name.cmp(&b.name),
            "Status" => a.status.cmp(b.status).then(a.name.cmp(&b.name)),
            _ => a.created_ms.cmp(&b.created_ms).then(a.name.cmp(&b.name)),
        };
        if ascending {
            order
        } else {
            order.reverse()
        }
    });
    let total = rows.len();
    let end = start.saturating_add(max as usize).min(total);
    let page: Vec<Value> = rows
        .into_iter()
        .skip(start)
        .take(end.saturating_sub(start))
        .map(|row| row.item)
        .collect();
    let mut output = json!({ key: page });
    if end < total {
        output["NextToken"] = json!(end.to_string());
    }
    Ok(output)
}
