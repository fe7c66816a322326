//! What must hold before guardrail asks SageMaker to update an endpoint, each
//! failure a message that names the fix. All problems are found at once.

use guardrail_core::alarm::{scope_of, Scope};
use guardrail_core::plan::Dimension;
use guardrail_core::Plan;

use super::aws::{call_error, Clients};

fn dimensions_of(dimensions: &[aws_sdk_cloudwatch::types::Dimension]) -> Vec<Dimension> {
    dimensions
        .iter()
        .map(|dimension| {
            Dimension::new(
                dimension.name().unwrap_or_default(),
                dimension.value().unwrap_or_default(),
            )
        })
        .collect()
}

/// What the preflight learnt about the target.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Preflight {
    pub account: String,
    pub endpoint_arn: String,
    pub status: String,
    pub from_config: String,
    /// The endpoint's `LastModifiedTime`, API epoch ms.
    pub modified_ms: Option<u64>,
    pub problems: Vec<String>,
}

/// The account in an ARN: `arn:aws:sagemaker:REGION:ACCOUNT:endpoint/NAME`.
pub fn account_of(arn: &str) -> String {
    arn.split(':').nth(4).unwrap_or_default().to_string()
}

/// Whether the plan's alarms are put with `PutMetricAlarm` before the update.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Put {
    /// No: the rollback alarms must be in CloudWatch as they are.
    No,
    /// They will be, when the run starts: an alarm the plan defines need not
    /// exist yet, and its dimensions are the plan's (which `check` validates).
    Planned,
    /// They just were.
    Done,
}

/// Checks the endpoint, the new config and the rollback alarms as CloudWatch
/// has them.
pub async fn check(clients: &Clients, plan: &Plan, put: Put) -> Preflight {
    let mut found = Preflight::default();
    check_endpoint(clients, plan, &mut found).await;
    check_new_config(clients, plan, &mut found).await;
    check_rollback_alarms(clients, plan, put, &mut found).await;
    found
}

/// The endpoint: in service, on another config, with the plan's variant.
async fn check_endpoint(clients: &Clients, plan: &Plan, found: &mut Preflight) {
    let region = &clients.region;
    let endpoint = &plan.endpoint_name;
    let to_config = &plan.endpoint_config_name;
    match clients
        .sagemaker
        .describe_endpoint()
        .endpoint_name(endpoint)
        .send()
        .await
    {
        Ok(described) => {
            found.endpoint_arn = described.endpoint_arn().unwrap_or_default().to_string();
            found.account = account_of(&found.endpoint_arn);
            found.status = described
                .endpoint_status()
                .map(|status| status.as_str().to_string())
                .unwrap_or_default();
            found.from_config = described
                .endpoint_config_name()
                .unwrap_or_default()
                .to_string();
            found.modified_ms = described
                .last_modified_time()
                .and_then(|time| time.to_millis().ok())
                .map(|ms| ms.max(0) as u64);
            if found.status != "InService" {
                let why = described
                    .failure_reason()
                    .map(|reason| format!(" ({reason})"))
                    .unwrap_or_default();
                let fix = if found.status == "Failed" {
                    "a Failed endpoint cannot be updated: delete it and create it again"
                } else {
                    "wait until it is InService (`aws sagemaker wait endpoint-in-service`)"
                };
                found.problems.push(format!(
                    "endpoint {endpoint} is {}{why}, not InService: {fix}",
                    found.status
                ));
            }
            if &found.from_config == to_config {
                found.problems.push(format!(
                    "endpoint {endpoint} already serves {to_config}: set EndpointConfigName to the new config"
                ));
            }
            let variants: Vec<&str> = described
                .production_variants()
                .iter()
                .filter_map(|variant| variant.variant_name())
                .collect();
            if !variants.is_empty() && !variants.contains(&plan.variant_name.as_str()) {
                found.problems.push(format!(
                    "endpoint {endpoint} has variant(s) {} but the plan's VariantName is {}: set VariantName to the variant the update replaces",
                    variants.join(", "),
                    plan.variant_name
                ));
            }
        }
        Err(error) => {
            let error = call_error(&error);
            found.problems.push(if error.text.contains("Could not find endpoint") {
                format!(
                    "endpoint {endpoint} does not exist in region {region}: create it first, or fix EndpointName (or --region) ({error})"
                )
            } else {
                format!("cannot describe endpoint {endpoint} in region {region}: {error}")
            });
        }
    }
}

/// The new config: it exists, keeps the variant, and has the plan's
/// instances.
async fn check_new_config(clients: &Clients, plan: &Plan, found: &mut Preflight) {
    let region = &clients.region;
    let to_config = &plan.endpoint_config_name;
    match clients
        .sagemaker
        .describe_endpoint_config()
        .endpoint_config_name(to_config)
        .send()
        .await
    {
        Ok(config) => {
            let variants = config.production_variants();
            match variants
                .iter()
                .find(|variant| variant.variant_name() == Some(plan.variant_name.as_str()))
            {
                None => found.problems.push(format!(
                    "endpoint config {to_config} has no variant {} (it has {}): the new config must keep the variant name",
                    plan.variant_name,
                    variants
                        .iter()
                        .filter_map(|variant| variant.variant_name())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
                Some(variant) => {
                    match (variant.initial_instance_count(), plan.instance_count) {
                        (None, _) => found.problems.push(format!(
                            "endpoint config {to_config}'s variant {} has no InitialInstanceCount (serverless?): deployment guardrails need instance-based variants",
                            plan.variant_name
                        )),
                        (Some(count), Some(planned)) if i64::from(count) != planned => {
                            found.problems.push(format!(
                                "endpoint config {to_config}'s variant {} has InitialInstanceCount {count} but the plan's InstanceCount is {planned}: make them equal, in the plan or the config",
                                plan.variant_name
                            ))
                        }
                        _ => {}
                    }
                    if let Some(kind) = variant.instance_type() {
                        if !plan.instance_type.is_empty() && kind.as_str() != plan.instance_type {
                            found.problems.push(format!(
                                "endpoint config {to_config}'s variant {} runs {} but the plan's InstanceType is {}: make them equal",
                                plan.variant_name,
                                kind.as_str(),
                                plan.instance_type
                            ));
                        }
                    }
                }
            }
        }
        Err(error) => {
            let error = call_error(&error);
            found.problems.push(if error.text.contains("Could not find") {
                format!(
                    "endpoint config {to_config} does not exist in region {region}: create it with CreateEndpointConfig (`aws sagemaker create-endpoint-config`), or fix EndpointConfigName ({error})"
                )
            } else {
                format!("cannot describe endpoint config {to_config}: {error}")
            });
        }
    }
}

/// The rollback alarms as CloudWatch has them: each exists (or will be put),
/// is a metric alarm, and can see this update.
async fn check_rollback_alarms(clients: &Clients, plan: &Plan, put: Put, found: &mut Preflight) {
    let region = &clients.region;
    let names = super::rollback_alarms(plan);
    if names.is_empty() {
        return;
    }
    let described = match clients
        .cloudwatch
        .describe_alarms()
        .set_alarm_names(Some(names.clone()))
        .alarm_types(aws_sdk_cloudwatch::types::AlarmType::MetricAlarm)
        .alarm_types(aws_sdk_cloudwatch::types::AlarmType::CompositeAlarm)
        .send()
        .await
    {
        Ok(described) => described,
        Err(error) => {
            found.problems.push(format!(
                "cannot describe the rollback alarms: {}",
                call_error(&error)
            ));
            return;
        }
    };
    let alarms = described.metric_alarms();
    let composites = described.composite_alarms();
    for name in &names {
        if composites
            .iter()
            .any(|alarm| alarm.alarm_name() == Some(name.as_str()))
        {
            found.problems.push(format!(
                "rollback alarm {name} is a composite alarm in CloudWatch: guardrail assumes SageMaker rolls back on metric alarms only (it reads them with DescribeAlarms, which returns composite alarms only when asked); list the metric alarms its rule names instead"
            ));
            continue;
        }
        let in_plan = plan.alarms.iter().any(|alarm| &alarm.alarm_name == name);
        let Some(alarm) = alarms
            .iter()
            .find(|alarm| alarm.alarm_name() == Some(name.as_str()))
        else {
            let fix = match put {
                Put::Planned if in_plan => continue,
                Put::Done if in_plan => "PutMetricAlarm did not create it".to_string(),
                _ if in_plan => "create it, or have guardrail put the plan's definition (--create-alarms, or \"Put the plan's alarms\" in the planner)".to_string(),
                _ => "create it in CloudWatch, or add its definition to the plan's Alarms and have guardrail put it (--create-alarms)".to_string(),
            };
            found.problems.push(format!(
                "rollback alarm {name} does not exist in CloudWatch in region {region}: {fix}"
            ));
            continue;
        };
        check_alarm(alarm, name, plan, put == Put::Planned && in_plan, found);
    }
}

/// An alarm on the canary judge's `score` metric: the plan must have a Judge
/// to publish it, and missing data (before the judge can say anything) must
/// not breach.
fn check_score_alarm(
    alarm: &aws_sdk_cloudwatch::types::MetricAlarm,
    name: &str,
    plan: &Plan,
    score: &guardrail_core::plan::MetricIdentity,
    found: &mut Preflight,
) {
    let to_config = &plan.endpoint_config_name;
    if plan.judge.is_none() {
        found.problems.push(format!(
            "rollback alarm {name} reads the canary judge's score ({} {} for {to_config}), but the plan has no Judge: on SageMaker guardrail's watcher publishes it only for a plan with one, so the alarm would see no data; add a Judge to the plan, or take the alarm off the rollback list",
            score.namespace, score.metric_name
        ));
    }
    if alarm.treat_missing_data() == Some("breaching") {
        found.problems.push(format!(
            "rollback alarm {name} treats missing data as breaching, but the judge publishes no score until both fleets have served its minimum samples (and none if the watcher stops): SageMaker would roll back at the start of the bake; set TreatMissingData to notBreaching"
        ));
    }
}

/// The metrics an alarm reads: its own, or each of its metric math's.
fn metrics_read(
    alarm: &aws_sdk_cloudwatch::types::MetricAlarm,
) -> Vec<(String, String, Vec<Dimension>)> {
    if alarm.metrics().is_empty() {
        vec![(
            alarm.namespace().unwrap_or_default().to_string(),
            alarm.metric_name().unwrap_or_default().to_string(),
            dimensions_of(alarm.dimensions()),
        )]
    } else {
        alarm
            .metrics()
            .iter()
            .filter_map(|query| query.metric_stat()?.metric())
            .map(|metric| {
                (
                    metric.namespace().unwrap_or_default().to_string(),
                    metric.metric_name().unwrap_or_default().to_string(),
                    dimensions_of(metric.dimensions()),
                )
            })
            .collect()
    }
}

/// One rollback alarm that exists in CloudWatch: not already in ALARM, and
/// reading a metric SageMaker publishes for this update (or the judge's
/// score, for a plan with a judge).
fn check_alarm(
    alarm: &aws_sdk_cloudwatch::types::MetricAlarm,
    name: &str,
    plan: &Plan,
    to_be_put: bool,
    found: &mut Preflight,
) {
    let endpoint = &plan.endpoint_name;
    let to_config = &plan.endpoint_config_name;
    if alarm.state_value().map(|state| state.as_str()) == Some("ALARM") {
        found.problems.push(format!(
            "rollback alarm {name} is already in ALARM ({}): SageMaker would roll the update back at once; fix what it sees, or wait until it is OK",
            alarm.state_reason().unwrap_or("no reason given")
        ));
    }
    // One about to be put is the plan's, which `check` validated.
    if to_be_put {
        return;
    }
    let score = guardrail_core::judge::score_metric(endpoint, to_config);
    let read = guardrail_core::plan::MetricIdentity::new(
        alarm.namespace().unwrap_or_default(),
        alarm.metric_name().unwrap_or_default(),
        dimensions_of(alarm.dimensions()),
    );
    if read.same_as(&score) {
        check_score_alarm(alarm, name, plan, &score, found);
        return;
    }
    let metrics = metrics_read(alarm);
    let mut sees = false;
    let mut blind = Vec::new();
    for (namespace, metric, dimensions) in &metrics {
        let scope = scope_of(
            namespace,
            metric,
            dimensions,
            (endpoint, &plan.variant_name, to_config),
        );
        let old_fleet = matches!(scope, Scope::Unrelated)
            && scope_of(
                namespace,
                metric,
                dimensions,
                (endpoint, &plan.variant_name, &found.from_config),
            ) == Scope::NewFleet;
        match scope {
            Scope::Endpoint | Scope::NewFleet | Scope::Team => sees = true,
            _ if old_fleet => sees = true,
            _ => {
                let shown: Vec<String> = dimensions
                    .iter()
                    .map(|dimension| format!("{}={}", dimension.name, dimension.value))
                    .collect();
                blind.push(format!("{namespace} {metric} {{{}}}", shown.join(", ")));
            }
        }
    }
    if !sees && !blind.is_empty() {
        found.problems.push(format!(
            "rollback alarm {name} watches {}, which SageMaker does not publish for this update: SageMaker publishes its endpoint metrics in AWS/SageMaker under EndpointName={endpoint}, VariantName={} (the whole variant) and with EndpointConfigName={to_config} (the new fleet); fix the alarm's namespace, metric or dimensions",
            blind.join(" and "),
            plan.variant_name
        ));
    }
}
