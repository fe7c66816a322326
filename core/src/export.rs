//! Exports: the plan as the DeploymentConfig JSON, AWS CLI commands, CloudFormation,
//! Terraform and boto3, each ready to paste.
//!
//! Every format carries the alarms (so the rollback alarms exist before the update
//! that names them) and the update itself. The CLI and boto3 forms end by checking
//! which config serves once the endpoint is back in service, because SageMaker's
//! automatic rollback is silent: the update "succeeds" on the old config.

use serde_json::Value;

use crate::plan::{CompositeAlarm, MetricAlarm, Plan};

/// The export formats, by their CLI names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    DeploymentConfig,
    Cli,
    CloudFormation,
    Terraform,
    Boto3,
}

impl Format {
    pub const ALL: [Format; 5] = [
        Self::DeploymentConfig,
        Self::Cli,
        Self::CloudFormation,
        Self::Terraform,
        Self::Boto3,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::DeploymentConfig => "deployment-config",
            Self::Cli => "cli",
            Self::CloudFormation => "cloudformation",
            Self::Terraform => "terraform",
            Self::Boto3 => "boto3",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Self::DeploymentConfig => "DeploymentConfig JSON",
            Self::Cli => "AWS CLI",
            Self::CloudFormation => "CloudFormation",
            Self::Terraform => "Terraform",
            Self::Boto3 => "boto3",
        }
    }

    /// The file name a download gets.
    pub fn file_name(self) -> &'static str {
        match self {
            Self::DeploymentConfig => "deployment-config.json",
            Self::Cli => "update-endpoint.sh",
            Self::CloudFormation => "guardrail.cfn.yaml",
            Self::Terraform => "guardrail.tf",
            Self::Boto3 => "update_endpoint.py",
        }
    }

    pub fn from_name(name: &str) -> Option<Format> {
        Self::ALL.into_iter().find(|format| format.name() == name)
    }
}

/// Renders `plan` in `format`.
pub fn export(plan: &Plan, format: Format) -> String {
    match format {
        Format::DeploymentConfig => format!("{}\n", plan.deployment_config_json_pretty()),
        Format::Cli => cli(plan),
        Format::CloudFormation => cloudformation(plan),
        Format::Terraform => terraform(plan),
        Format::Boto3 => boto3(plan),
    }
}

fn deployment_config_value(plan: &Plan) -> Value {
    serde_json::to_value(plan.deployment_config.clone().unwrap_or_default()).unwrap_or(Value::Null)
}

/// The alarms the update names, in their order, then any others.
fn alarms(plan: &Plan) -> Vec<&MetricAlarm> {
    let names = plan.rollback_alarm_names();
    let mut ordered: Vec<&MetricAlarm> = names
        .iter()
        .filter_map(|name| plan.alarms.iter().find(|alarm| alarm.alarm_name == *name))
        .collect();
    for alarm in &plan.alarms {
        if !ordered.iter().any(|known| std::ptr::eq(*known, alarm)) {
            ordered.push(alarm);
        }
    }
    ordered
}

fn header(plan: &Plan) -> String {
    format!(
        "guardrail: guarded update of endpoint {} to config {} (generated)",
        plan.endpoint_name, plan.endpoint_config_name
    )
}

/// Single-quotes text for a POSIX shell.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

fn number(value: f64) -> String {
    crate::alarm::trim_float(value)
}

fn cli(plan: &Plan) -> String {
    let mut out = format!("#!/bin/sh\n# {}\nset -eu\n\n", header(plan));
    let commands = alarms(plan)
        .into_iter()
        .map(cli_put_metric_alarm)
        // Composite alarms after the alarms their rules name.
        .chain(plan.composite_alarms.iter().map(cli_put_composite_alarm));
    for lines in commands {
        out.push_str(&lines.join(" \\\n  "));
        out.push_str("\n\n");
    }
    out.push_str(&cli_update(plan));
    out
}

/// `aws cloudwatch put-metric-alarm` for `alarm`, an option a line.
fn cli_put_metric_alarm(alarm: &MetricAlarm) -> Vec<String> {
    let mut lines = vec![
        "aws cloudwatch put-metric-alarm".to_string(),
        format!("--alarm-name {}", shell_quote(&alarm.alarm_name)),
    ];
    lines.extend(cli_description_and_actions(
        alarm.alarm_description.as_deref(),
        alarm.actions_enabled,
        alarm.actions(),
    ));
    match &alarm.metrics {
        Some(metrics) => {
            let json = serde_json::to_string(metrics).unwrap_or_default();
            lines.push(format!("--metrics {}", shell_quote(&json)));
        }
        None => {
            lines.push(format!("--namespace {}", shell_quote(&alarm.namespace)));
            lines.push(format!("--metric-name {}", shell_quote(&alarm.metric_name)));
            if !alarm.dimensions.is_empty() {
                let json = serde_json::to_string(&alarm.dimensions).unwrap_or_default();
                lines.push(format!("--dimensions {}", shell_quote(&json)));
            }
        }
    }
    if let Some(statistic) = alarm.statistic {
        lines.push(format!("--statistic {}", statistic.as_str()));
    }
    if let Some(extended) = &alarm.extended_statistic {
        lines.push(format!("--extended-statistic {}", shell_quote(extended)));
    }
    if let Some(period) = alarm.period {
        lines.push(format!("--period {period}"));
    }
    if let Some(count) = alarm.evaluation_periods {
        lines.push(format!("--evaluation-periods {count}"));
    }
    if let Some(count) = alarm.datapoints_to_alarm {
        lines.push(format!("--datapoints-to-alarm {count}"));
    }
    if let Some(threshold) = alarm.threshold {
        lines.push(format!("--threshold {}", number(threshold)));
    }
    if let Some(operator) = alarm.comparison_operator {
        lines.push(format!("--comparison-operator {}", operator.as_str()));
    }
    if let Some(treat) = alarm.treat_missing_data {
        lines.push(format!("--treat-missing-data {}", treat.as_str()));
    }
    if let Some(low) = alarm.evaluate_low_sample_count_percentile {
        let value = serde_json::to_value(low).unwrap_or_default();
        lines.push(format!(
            "--evaluate-low-sample-count-percentile {}",
            value.as_str().unwrap_or("evaluate")
        ));
    }
    if let Some(unit) = &alarm.unit {
        lines.push(format!("--unit {}", shell_quote(unit)));
    }
    lines
}

/// `aws cloudwatch put-composite-alarm` for `alarm`, an option a line.
fn cli_put_composite_alarm(alarm: &CompositeAlarm) -> Vec<String> {
    let mut lines = vec![
        "aws cloudwatch put-composite-alarm".to_string(),
        format!("--alarm-name {}", shell_quote(&alarm.alarm_name)),
        format!("--alarm-rule {}", shell_quote(&alarm.alarm_rule)),
    ];
    lines.extend(cli_description_and_actions(
        alarm.alarm_description.as_deref(),
        alarm.actions_enabled,
        alarm.actions(),
    ));
    lines
}

/// `aws sagemaker update-endpoint`, then the wait and the check that the
/// update was not silently rolled back.
fn cli_update(plan: &Plan) -> String {
    let mut out = String::new();
    let config = serde_json::to_string(&deployment_config_value(plan)).unwrap_or_default();
    out.push_str(&format!(
        "aws sagemaker update-endpoint \\\n  --endpoint-name {} \\\n  --endpoint-config-name {} \\\n  --deployment-config {}\n\n",
        shell_quote(&plan.endpoint_name),
        shell_quote(&plan.endpoint_config_name),
        shell_quote(&config)
    ));
    out.push_str(&format!(
        "# An automatic rollback is silent: the endpoint returns to InService on the old config.\n\
         aws sagemaker wait endpoint-in-service --endpoint-name {name}\n\
         serving=$(aws sagemaker describe-endpoint --endpoint-name {name} --query EndpointConfigName --output text)\n\
         if [ \"$serving\" != {config} ]; then\n  echo \"update rolled back: the endpoint still serves $serving\" >&2\n  exit 1\nfi\n\
         echo \"update succeeded: the endpoint serves {config_text}\"\n",
        name = shell_quote(&plan.endpoint_name),
        config = shell_quote(&plan.endpoint_config_name),
        config_text = plan.endpoint_config_name.replace('"', ""),
    ));
    out
}

/// An alarm's description, `--actions-enabled` and action lists (OK, ALARM,
/// INSUFFICIENT_DATA) as AWS CLI options.
fn cli_description_and_actions(
    description: Option<&str>,
    enabled: Option<bool>,
    [ok, alarm, insufficient]: [&Option<Vec<String>>; 3],
) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(description) = description {
        lines.push(format!("--alarm-description {}", shell_quote(description)));
    }
    match enabled {
        Some(true) => lines.push("--actions-enabled".into()),
        Some(false) => lines.push("--no-actions-enabled".into()),
        None => {}
    }
    let lists = [
        ("--ok-actions", ok),
        ("--alarm-actions", alarm),
        ("--insufficient-data-actions", insufficient),
    ];
    for (flag, actions) in lists {
        if let Some(actions) = actions.as_ref().filter(|actions| !actions.is_empty()) {
            let quoted: Vec<String> = actions.iter().map(|arn| shell_quote(arn)).collect();
            lines.push(format!("{flag} {}", quoted.join(" ")));
        }
    }
    lines
}

/// A CloudFormation logical ID: letters and digits only, starting with a letter.
fn logical_id(name: &str, fallback: &str) -> String {
    let mut id: String = name
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect();
    if !id.starts_with(|c: char| c.is_ascii_alphabetic()) {
        id = format!("{fallback}{id}");
    }
    id.truncate(255);
    id
}

fn cloudformation(plan: &Plan) -> String {
    let mut out = String::new();
    out.push_str("AWSTemplateFormatVersion: \"2010-09-09\"\n");
    out.push_str(&format!("Description: {}\n", yaml_string(&header(plan))));
    out.push_str("Resources:\n");
    let mut ids = Vec::new();
    for alarm in alarms(plan) {
        let id = unique(logical_id(&alarm.alarm_name, "Alarm"), &ids);
        out.push_str(&format!(
            "  {id}:\n    Type: AWS::CloudWatch::Alarm\n    Properties:\n"
        ));
        let value = serde_json::to_value(alarm).unwrap_or(Value::Null);
        yaml(&value, 6, &mut out);
        ids.push(id);
    }
    // Composite alarms name their alarms by name: they wait for them.
    let metric_ids = ids.clone();
    for alarm in &plan.composite_alarms {
        let id = unique(logical_id(&alarm.alarm_name, "Alarm"), &ids);
        out.push_str(&format!(
            "  {id}:\n    Type: AWS::CloudWatch::CompositeAlarm\n"
        ));
        if !metric_ids.is_empty() {
            out.push_str(&format!("    DependsOn: [{}]\n", metric_ids.join(", ")));
        }
        out.push_str("    Properties:\n");
        let value = serde_json::to_value(alarm).unwrap_or(Value::Null);
        yaml(&value, 6, &mut out);
        ids.push(id);
    }
    let ids = metric_ids;
    out.push_str("  Endpoint:\n    Type: AWS::SageMaker::Endpoint\n");
    if !ids.is_empty() {
        out.push_str(&format!("    DependsOn: [{}]\n", ids.join(", ")));
    }
    out.push_str("    Properties:\n");
    out.push_str(&format!(
        "      EndpointName: {}\n      EndpointConfigName: {}\n",
        yaml_string(&plan.endpoint_name),
        yaml_string(&plan.endpoint_config_name)
    ));
    if plan.deployment_config.is_some() {
        out.push_str("      DeploymentConfig:\n");
        yaml(&deployment_config_value(plan), 8, &mut out);
    }
    out
}

fn unique(id: String, taken: &[String]) -> String {
    let mut candidate = id.clone();
    let mut counter = 2;
    while taken.contains(&candidate) {
        candidate = format!("{id}{counter}");
        counter += 1;
    }
    candidate
}

/// Strings are always double-quoted: a JSON string is a valid YAML double-quoted scalar.
fn yaml_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into())
}

fn yaml_scalar(value: &Value) -> String {
    match value {
        Value::String(text) => yaml_string(text),
        Value::Number(number) => number
            .as_f64()
            .map(crate::alarm::trim_float)
            .unwrap_or_else(|| number.to_string()),
        other => other.to_string(),
    }
}

/// Writes a mapping's entries at `indent` spaces.
fn yaml(value: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) => {
            for (key, item) in map {
                match item {
                    Value::Object(inner) if inner.is_empty() => {
                        out.push_str(&format!("{pad}{key}: {{}}\n"))
                    }
                    Value::Array(items) if items.is_empty() => {
                        out.push_str(&format!("{pad}{key}: []\n"))
                    }
                    Value::Object(_) => {
                        out.push_str(&format!("{pad}{key}:\n"));
                        yaml(item, indent + 2, out);
                    }
                    Value::Array(items) => {
                        out.push_str(&format!("{pad}{key}:\n"));
                        for element in items {
                            yaml_list_item(element, indent + 2, out);
                        }
                    }
                    scalar => out.push_str(&format!("{pad}{key}: {}\n", yaml_scalar(scalar))),
                }
            }
        }
        scalar => out.push_str(&format!("{pad}{}\n", yaml_scalar(scalar))),
    }
}

fn yaml_list_item(value: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) if !map.is_empty() => {
            let mut nested = String::new();
            yaml(value, indent + 2, &mut nested);
            // The first line of the mapping goes after the dash.
            let replaced = nested.replacen(&format!("{pad}  "), &format!("{pad}- "), 1);
            out.push_str(&replaced);
        }
        other => out.push_str(&format!("{pad}- {}\n", yaml_scalar(other))),
    }
}

/// "WaitIntervalInSeconds" → "wait_interval_in_seconds".
fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 8);
    let chars: Vec<char> = name.chars().collect();
    for (index, c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let previous_lower = index > 0 && !chars[index - 1].is_ascii_uppercase();
            let next_lower = chars
                .get(index + 1)
                .is_some_and(|next| next.is_ascii_lowercase());
            if index > 0 && (previous_lower || next_lower) {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(*c);
        }
    }
    out
}

fn terraform_name(name: &str) -> String {
    let mut id: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if !id.starts_with(|c: char| c.is_ascii_alphabetic()) {
        id = format!("r_{id}");
    }
    id
}

fn hcl_scalar(value: &Value) -> String {
    match value {
        Value::String(text) => serde_json::to_string(text)
            .unwrap_or_default()
            .replace("${", "$${"),
        Value::Number(number) => number
            .as_f64()
            .map(crate::alarm::trim_float)
            .unwrap_or_default(),
        other => other.to_string(),
    }
}

/// Writes attributes (aligned) and then nested blocks, Terraform-style.
fn hcl_block(map: &serde_json::Map<String, Value>, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    let attributes: Vec<(String, &Value)> = map
        .iter()
        .filter(|(_, value)| !matches!(value, Value::Object(_) | Value::Array(_)))
        .map(|(key, value)| (snake_case(key), value))
        .collect();
    let width = attributes
        .iter()
        .map(|(key, _)| key.len())
        .max()
        .unwrap_or(0);
    for (key, value) in &attributes {
        out.push_str(&format!("{pad}{key:<width$} = {}\n", hcl_scalar(value)));
    }
    for (key, value) in map {
        let name = snake_case(key);
        match value {
            Value::Object(inner) => {
                out.push_str(&format!("{pad}{name} {{\n"));
                hcl_block(inner, indent + 2, out);
                out.push_str(&format!("{pad}}}\n"));
            }
            Value::Array(items) => {
                for item in items {
                    if let Value::Object(inner) = item {
                        out.push_str(&format!("{pad}{name} {{\n"));
                        hcl_block(inner, indent + 2, out);
                        out.push_str(&format!("{pad}}}\n"));
                    }
                }
            }
            _ => {}
        }
    }
}

/// Terraform calls the action lists alarm_actions/ok_actions/...; snake case
/// of the API names gives exactly those, and lists are attributes there.
fn terraform_action_lists(value: &mut Value) -> Vec<String> {
    let mut lists = Vec::new();
    if let Some(map) = value.as_object_mut() {
        for key in ["OKActions", "AlarmActions", "InsufficientDataActions"] {
            if let Some(Value::Array(items)) = map.remove(key) {
                let rendered: Vec<String> = items.iter().map(hcl_scalar).collect();
                let key = if key == "OKActions" {
                    "ok_actions".to_string()
                } else {
                    snake_case(key)
                };
                lists.push(format!("  {key} = [{}]\n", rendered.join(", ")));
            }
        }
    }
    lists
}

/// `dimensions = { Name = "value" }`, aligned, at `indent`.
fn hcl_dimensions(items: &[Value], indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    out.push_str(&format!("{pad}dimensions = {{\n"));
    let name_of = |item: &Value| {
        item.get("Name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let width = items
        .iter()
        .map(|item| name_of(item).len())
        .max()
        .unwrap_or(0);
    for item in items {
        let value = item.get("Value").cloned().unwrap_or(Value::Null);
        out.push_str(&format!(
            "{pad}  {:<width$} = {}\n",
            name_of(item),
            hcl_scalar(&value)
        ));
    }
    out.push_str(&format!("{pad}}}\n"));
}

/// One `metric_query` block of a math alarm: its `id`, `expression`, `label`,
/// `return_data`, and the `metric` it reads (with `period` and `stat` there).
fn terraform_metric_query(query: &Value, out: &mut String) {
    out.push_str("\n  metric_query {\n");
    for (key, name) in [
        ("Id", "id"),
        ("Expression", "expression"),
        ("Label", "label"),
        ("ReturnData", "return_data"),
        ("Period", "period"),
        ("AccountId", "account_id"),
    ] {
        if let Some(value) = query.get(key) {
            out.push_str(&format!("    {name} = {}\n", hcl_scalar(value)));
        }
    }
    if let Some(stat) = query.get("MetricStat") {
        out.push_str("\n    metric {\n");
        let metric = stat.get("Metric");
        for (from, key, name) in [
            (metric, "Namespace", "namespace"),
            (metric, "MetricName", "metric_name"),
            (Some(stat), "Period", "period"),
            (Some(stat), "Stat", "stat"),
            (Some(stat), "Unit", "unit"),
        ] {
            if let Some(value) = from.and_then(|from| from.get(key)) {
                out.push_str(&format!("      {name} = {}\n", hcl_scalar(value)));
            }
        }
        if let Some(Value::Array(items)) = metric.and_then(|metric| metric.get("Dimensions")) {
            if !items.is_empty() {
                hcl_dimensions(items, 6, out);
            }
        }
        out.push_str("    }\n");
    }
    out.push_str("  }\n");
}

fn terraform(plan: &Plan) -> String {
    let mut out = format!("# {}\n\n", header(plan));
    let mut names = Vec::new();
    for alarm in alarms(plan) {
        let name = unique(terraform_name(&alarm.alarm_name), &names);
        out.push_str(&terraform_metric_alarm(alarm, &name));
        names.push(name);
    }
    let metric_names = names.clone();
    for alarm in &plan.composite_alarms {
        let name = unique(terraform_name(&alarm.alarm_name), &names);
        out.push_str(&format!(
            "resource \"aws_cloudwatch_composite_alarm\" \"{name}\" {{\n"
        ));
        let mut value = serde_json::to_value(alarm).unwrap_or(Value::Null);
        let lists = terraform_action_lists(&mut value);
        if let Value::Object(map) = &value {
            hcl_block(map, 2, &mut out);
        }
        for line in lists {
            out.push_str(&line);
        }
        out.push_str(&terraform_depends_on(&metric_names));
        out.push_str("}\n\n");
        names.push(name);
    }
    out.push_str(&terraform_endpoint(plan, &metric_names));
    out
}

/// `resource "aws_cloudwatch_metric_alarm"` for `alarm`, named `name`.
fn terraform_metric_alarm(alarm: &MetricAlarm, name: &str) -> String {
    let mut out = format!("resource \"aws_cloudwatch_metric_alarm\" \"{name}\" {{\n");
    let mut value = serde_json::to_value(alarm).unwrap_or(Value::Null);
    let dimensions = value
        .as_object_mut()
        .and_then(|map| map.remove("Dimensions"));
    let queries = value.as_object_mut().and_then(|map| map.remove("Metrics"));
    let lists = terraform_action_lists(&mut value);
    if let Value::Object(map) = &value {
        hcl_block(map, 2, &mut out);
    }
    for line in lists {
        out.push_str(&line);
    }
    if let Some(Value::Array(items)) = dimensions {
        hcl_dimensions(&items, 2, &mut out);
    }
    if let Some(Value::Array(queries)) = queries {
        for query in &queries {
            terraform_metric_query(query, &mut out);
        }
    }
    out.push_str("}\n\n");
    out
}

/// A `depends_on` line naming the metric alarms `names`; nothing if none.
fn terraform_depends_on(names: &[String]) -> String {
    if names.is_empty() {
        return String::new();
    }
    let list: Vec<String> = names
        .iter()
        .map(|name| format!("aws_cloudwatch_metric_alarm.{name}"))
        .collect();
    format!("\n  depends_on = [{}]\n", list.join(", "))
}

/// `resource "aws_sagemaker_endpoint"` with the plan's deployment config,
/// after the metric alarms `names`.
fn terraform_endpoint(plan: &Plan, names: &[String]) -> String {
    let endpoint = terraform_name(&plan.endpoint_name);
    let mut out = format!("resource \"aws_sagemaker_endpoint\" \"{endpoint}\" {{\n");
    out.push_str(&format!(
        "  name                 = {}\n  endpoint_config_name = {}\n",
        hcl_scalar(&Value::String(plan.endpoint_name.clone())),
        hcl_scalar(&Value::String(plan.endpoint_config_name.clone()))
    ));
    if let Value::Object(config) = deployment_config_value(plan) {
        if !config.is_empty() {
            out.push_str("\n  deployment_config {\n");
            hcl_block(&config, 4, &mut out);
            out.push_str("  }\n");
        }
    }
    out.push_str(&terraform_depends_on(names));
    out.push_str("}\n");
    out
}

fn python(value: &Value, indent: usize) -> String {
    let pad = " ".repeat(indent + 4);
    let close = " ".repeat(indent);
    match value {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(number) => number
            .as_f64()
            .map(crate::alarm::trim_float)
            .unwrap_or_default(),
        Value::String(text) => serde_json::to_string(text).unwrap_or_default(),
        Value::Array(items) if items.is_empty() => "[]".into(),
        Value::Object(map) if map.is_empty() => "{}".into(),
        Value::Array(items) => {
            let inner: Vec<String> = items
                .iter()
                .map(|item| format!("{pad}{},\n", python(item, indent + 4)))
                .collect();
            format!("[\n{}{close}]", inner.concat())
        }
        Value::Object(map) => {
            let inner: Vec<String> = map
                .iter()
                .map(|(key, item)| {
                    format!(
                        "{pad}{}: {},\n",
                        serde_json::to_string(key).unwrap_or_default(),
                        python(item, indent + 4)
                    )
                })
                .collect();
            format!("{{\n{}{close}}}", inner.concat())
        }
    }
}

/// `client.operation(Key=value, …)` with a composite alarm's members.
fn boto3_call(call: &str, alarm: &CompositeAlarm) -> String {
    let mut out = format!("{call}(\n");
    if let Value::Object(map) = serde_json::to_value(alarm).unwrap_or(Value::Null) {
        for (key, value) in map {
            out.push_str(&format!("    {key}={},\n", python(&value, 4)));
        }
    }
    out.push_str(")\n\n");
    out
}

fn boto3(plan: &Plan) -> String {
    let mut out = format!(
        "\"\"\"{}.\"\"\"\nimport math\n\nimport boto3\n\ncloudwatch = boto3.client(\"cloudwatch\")\nsagemaker = boto3.client(\"sagemaker\")\n\n",
        header(plan)
    );
    for alarm in alarms(plan) {
        out.push_str("cloudwatch.put_metric_alarm(\n");
        if let Value::Object(map) = serde_json::to_value(alarm).unwrap_or(Value::Null) {
            for (key, value) in map {
                out.push_str(&format!("    {key}={},\n", python(&value, 4)));
            }
        }
        out.push_str(")\n\n");
    }
    // Composite alarms after the alarms their rules name.
    for alarm in &plan.composite_alarms {
        out.push_str(&boto3_call("cloudwatch.put_composite_alarm", alarm));
    }
    let endpoint = serde_json::to_string(&plan.endpoint_name).unwrap_or_default();
    let config = serde_json::to_string(&plan.endpoint_config_name).unwrap_or_default();
    out.push_str(&format!(
        "sagemaker.update_endpoint(\n    EndpointName={endpoint},\n    EndpointConfigName={config},\n"
    ));
    if plan.deployment_config.is_some() {
        out.push_str(&format!(
            "    DeploymentConfig={},\n",
            python(&deployment_config_value(plan), 4)
        ));
    }
    out.push_str(")\n\n");
    let timeout = crate::check(plan)
        .rollout
        .map(|rollout| rollout.timeout_seconds)
        .unwrap_or(28_800);
    out.push_str(&format!(
        "# An automatic rollback is silent: the endpoint returns to InService on the old config.\n\
         sagemaker.get_waiter(\"endpoint_in_service\").wait(\n    EndpointName={endpoint},\n    \
         WaiterConfig={{\"Delay\": 30, \"MaxAttempts\": math.ceil({timeout} / 30) + 20}},\n)\n\
         serving = sagemaker.describe_endpoint(EndpointName={endpoint})[\"EndpointConfigName\"]\n\
         if serving != {config}:\n    raise SystemExit(f\"update rolled back: the endpoint still serves {{serving}}\")\n\
         print(\"update succeeded: the endpoint serves\", serving)\n"
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::examples;

    fn canary() -> Plan {
        examples::notebook_canary()
    }

    #[test]
    fn the_deployment_config_export_is_the_plan_s_own_json() {
        let plan = canary();
        let exported = export(&plan, Format::DeploymentConfig);
        let parsed: crate::plan::DeploymentConfig = serde_json::from_str(&exported).expect("json");
        assert_eq!(Some(parsed), plan.deployment_config);
    }

    #[test]
    fn the_cli_export_creates_alarms_then_updates_then_verifies() {
        let out = export(&canary(), Format::Cli);
        let alarm = out.find("aws cloudwatch put-metric-alarm").expect("alarm");
        let update = out.find("aws sagemaker update-endpoint").expect("update");
        let verify = out.find("describe-endpoint").expect("verify");
        assert!(alarm < update && update < verify, "{out}");
        assert!(out.contains("--threshold 1 \\"), "{out}");
        assert!(out.contains("--no-actions-enabled"), "{out}");
        assert!(out.contains(r#"--deployment-config '{"BlueGreenUpdatePolicy":{"TrafficRoutingConfiguration":{"Type":"CANARY""#), "{out}");
    }

    #[test]
    fn shell_quoting_survives_quotes() {
        assert_eq!(shell_quote("it's"), r#"'it'\''s'"#);
    }

    #[test]
    fn cloudformation_has_both_resource_types() {
        let out = export(&canary(), Format::CloudFormation);
        assert!(out.contains("Type: AWS::CloudWatch::Alarm"), "{out}");
        assert!(out.contains("Type: AWS::SageMaker::Endpoint"), "{out}");
        assert!(
            out.contains(
                "DependsOn: [TestAlarm5XXErrorsGuardrailDemo, TestAlarmModelLatencyGuardrailDemo]"
            ),
            "{out}"
        );
        assert!(out.contains("            CanarySize:\n              Type: \"INSTANCE_COUNT\"\n              Value: 1\n"), "{out}");
        assert!(
            out.contains("        - Name: \"EndpointName\"\n          Value: \"guardrail-demo\"\n"),
            "{out}"
        );
    }

    #[test]
    fn terraform_uses_snake_case_blocks() {
        let out = export(&canary(), Format::Terraform);
        assert!(
            out.contains("resource \"aws_sagemaker_endpoint\" \"guardrail_demo\""),
            "{out}"
        );
        assert!(out.contains("  name                 = \"guardrail-demo\"\n  endpoint_config_name = \"incompatible\""), "{out}");
        assert!(out.contains("wait_interval_in_seconds = 300"), "{out}");
        assert!(out.contains("canary_size {"), "{out}");
        assert!(
            out.contains("alarms {\n        alarm_name = \"TestAlarm-5XXErrors-guardrail-demo\""),
            "{out}"
        );
        assert!(out.contains("dimensions = {\n    EndpointName = \"guardrail-demo\"\n    VariantName  = \"AllTraffic\""), "{out}");
        assert!(
            out.contains("maximum_execution_timeout_in_seconds = 1800"),
            "{out}"
        );
    }

    #[test]
    fn boto3_is_python() {
        let out = export(&canary(), Format::Boto3);
        assert!(out.contains("ActionsEnabled=False,"), "{out}");
        assert!(out.contains("Threshold=1,"), "{out}");
        assert!(out.contains("sagemaker.update_endpoint("), "{out}");
        assert!(out.contains("math.ceil(1800 / 30)"), "{out}");
    }

    #[test]
    fn snake_case_handles_acronyms() {
        assert_eq!(
            snake_case("WaitIntervalInSeconds"),
            "wait_interval_in_seconds"
        );
        assert_eq!(snake_case("Type"), "type");
        assert_eq!(snake_case("AlarmName"), "alarm_name");
    }
}
