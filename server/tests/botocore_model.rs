//! guardrail's validation held against the service models botocore publishes.
//!
//! The plan is SageMaker's and CloudWatch's own JSON, so every plan field has a
//! shape in their models: `UpdateEndpointInput` (the endpoint, the config and the
//! `DeploymentConfig` tree), `ProductionVariant` (the variant, its instance count
//! and type) and `PutMetricAlarmInput` (each alarm). This test walks those
//! shapes in the models that botocore ships, derives probes from the models' own
//! constraints (required members, numeric ranges, lengths, enums, patterns, list
//! sizes), applies each probe to an example plan, and compares guardrail's
//! verdict at that field with the model's. Every difference must be named below
//! with its reason; a named difference that no longer differs fails too, and so
//! does a member of those shapes that the plan neither maps nor names. A new
//! botocore therefore cannot change the rules without this test saying so.

mod common;

use std::collections::BTreeSet;

use guardrail_core::instance_types::INSTANCE_TYPES;
use guardrail_core::plan::STANDARD_UNITS;
use guardrail_core::{check_json, examples};
use serde_json::{json, Value};

/// Where guardrail refuses what the model accepts, on purpose: (field, probe, why).
const STRICTER: &[(&str, &str, &str)] = &[
    ("InstanceCount", "large", "guardrail's own ceiling of 1,000 instances bounds simulations and the local engine"),
    ("InstanceCount", "missing",
     "guardrail plans instance-based endpoints (serverless ones cannot use deployment guardrails)"),
    ("InstanceType", "missing",
     "guardrail plans instance-based endpoints (serverless ones cannot use deployment guardrails)"),
    ("DeploymentConfig.BlueGreenUpdatePolicy.TrafficRoutingConfiguration.CanarySize", "missing",
     "a CANARY needs a canary size: SageMaker documents no default"),
    ("DeploymentConfig.BlueGreenUpdatePolicy.TrafficRoutingConfiguration.CanarySize.Value", "large",
     "the API reference: the canary is at most 50% of the instance count"),
    ("DeploymentConfig.BlueGreenUpdatePolicy.TrafficRoutingConfiguration.LinearStepSize", "missing",
     "a LINEAR update needs a step size: SageMaker documents no default"),
    ("DeploymentConfig.BlueGreenUpdatePolicy.TrafficRoutingConfiguration.LinearStepSize.Value", "min",
     "the API reference: a linear step is 10% to 50% of the instance count (1% here)"),
    ("DeploymentConfig.BlueGreenUpdatePolicy.TrafficRoutingConfiguration.LinearStepSize.Value", "large",
     "the API reference: a linear step is 10% to 50% of the instance count"),
    ("DeploymentConfig.RollingUpdatePolicy.MaximumBatchSize.Value", "min",
     "the API reference: a rolling batch is 5% to 50% of the instance count (1% here)"),
    ("DeploymentConfig.RollingUpdatePolicy.MaximumBatchSize.Value", "large",
     "the API reference: a rolling batch is 5% to 50% of the instance count"),
    ("DeploymentConfig.RollingUpdatePolicy.RollbackMaximumBatchSize.Value", "large",
     "a rollback batch larger than the whole fleet (100%) means nothing"),
    ("DeploymentConfig.AutoRollbackConfiguration.Alarms", "missing",
     "an AutoRollbackConfiguration without alarms can never roll back: give alarms or leave it out"),
    ("DeploymentConfig.AutoRollbackConfiguration.Alarms[0].AlarmName", "missing",
     "a rollback alarm without a name names no alarm"),
    ("Alarms[0].AlarmName", "value \" \"",
     "the SageMaker Alarm that lists it must not be blank ((?!\\s*$).+), so a blank name cannot roll back"),
    ("Alarms[0].AlarmName", "value \"a\\tb\"",
     "the PutMetricAlarm reference: no ASCII control characters in an alarm name"),
    ("DeploymentConfig.AutoRollbackConfiguration.Alarms[0].AlarmName", "value \"a\\tb\"",
     "it names a CloudWatch alarm, and the PutMetricAlarm reference allows no ASCII control characters"),
    ("Alarms[0].Namespace", "missing", "a single-metric threshold alarm needs its metric's namespace"),
    ("Alarms[0].MetricName", "missing", "a single-metric threshold alarm needs its metric"),
    ("Alarms[0].Statistic", "missing",
     "a single-metric threshold alarm needs Statistic or ExtendedStatistic"),
    ("Alarms[0].ExtendedStatistic", "length min",
     "guardrail evaluates percentiles (p0 to p100) only, not trimmed means or other extended statistics"),
    ("Alarms[0].ExtendedStatistic", "value \"tm90\"",
     "guardrail evaluates percentiles (p0 to p100) only, not trimmed means or other extended statistics"),
    ("Alarms[0].Period", "missing", "a single-metric threshold alarm needs its period"),
    ("Alarms[0].Period", "min", "the PutMetricAlarm reference: 10, 20, 30 or a multiple of 60 seconds"),
    ("Alarms[0].Period", "large", "the PutMetricAlarm reference: 10, 20, 30 or a multiple of 60 seconds"),
    ("Alarms[0].EvaluationPeriods", "missing", "a threshold alarm needs EvaluationPeriods"),
    ("Alarms[0].EvaluationPeriods", "large",
     "the PutMetricAlarm reference: Period × EvaluationPeriods is at most one day (periods under an hour)"),
    ("Alarms[0].DatapointsToAlarm", "large",
     "the PutMetricAlarm reference: DatapointsToAlarm is at most EvaluationPeriods"),
    ("Alarms[0].Threshold", "missing", "a threshold alarm needs its threshold"),
    ("Alarms[0].ComparisonOperator", "missing", "a threshold alarm needs its comparison"),
    ("Alarms[0].ComparisonOperator", "enum LessThanLowerOrGreaterThanUpperThreshold",
     "anomaly-detection bands are not modelled by guardrail"),
    ("Alarms[0].ComparisonOperator", "enum LessThanLowerThreshold",
     "anomaly-detection bands are not modelled by guardrail"),
    ("Alarms[0].ComparisonOperator", "enum GreaterThanUpperThreshold",
     "anomaly-detection bands are not modelled by guardrail"),
    ("Alarms[0].TreatMissingData", "length min",
     "the model has a free string; CloudWatch documents breaching, notBreaching, ignore and missing"),
    ("Alarms[0].TreatMissingData", "length max",
     "the model has a free string; CloudWatch documents breaching, notBreaching, ignore and missing"),
    ("Alarms[0].EvaluateLowSampleCountPercentile", "length min",
     "the model has a free string; CloudWatch documents evaluate and ignore"),
    ("Alarms[0].EvaluateLowSampleCountPercentile", "length max",
     "the model has a free string; CloudWatch documents evaluate and ignore"),
];

/// Where guardrail accepts what the model refuses, on purpose: (field, probe, why).
const LAXER: &[(&str, &str, &str)] = &[
    (
        "InstanceType",
        "value \"ml.m5.notreal\"",
        "a well-formed instance type SageMaker does not list is a warning (instance_type_unknown), not an error: \
         AWS adds instance types between guardrail releases",
    ),
    (
        "VariantName",
        "missing",
        "the plan's VariantName defaults to AllTraffic, as in SageMaker's examples; UpdateEndpoint does not carry it",
    ),
];

/// Where guardrail refuses what the model accepts in a math alarm's `Metrics`
/// and in a composite alarm, on purpose.
const STRICTER_MATH: &[(&str, &str, &str)] = &[
    ("Alarms[0].Metrics", "items min",
     "PutMetricAlarm's reference: exactly one query returns data, and the probe's one query (a metric with ReturnData false) returns none"),
    ("Alarms[0].Metrics[0].MetricStat.Metric.Namespace", "missing",
     "a metric needs its namespace (the model leaves Metric's members optional; CloudWatch finds no metric without)"),
    ("Alarms[0].Metrics[0].MetricStat.Metric.MetricName", "missing",
     "a metric needs its name (the model leaves Metric's members optional; CloudWatch finds no metric without)"),
    ("Alarms[0].Metrics[0].MetricStat.Period", "min",
     "the PutMetricAlarm reference: 10, 20, 30 or a multiple of 60 seconds"),
    ("Alarms[0].Metrics[0].MetricStat.Period", "large",
     "the PutMetricAlarm reference: 10, 20, 30 or a multiple of 60 seconds"),
    ("Alarms[0].Metrics[0].MetricStat.Stat", "length min",
     "a metric needs its statistic: SampleCount, Average, Sum, Minimum, Maximum or a percentile"),
    ("Alarms[0].Metrics[0].Period", "min",
     "a MetricStat query sets its period in MetricStat.Period; the query's Period is for INSIGHT_RULE_METRIC, which guardrail does not evaluate"),
    ("Alarms[0].Metrics[0].Period", "large",
     "a MetricStat query sets its period in MetricStat.Period; the query's Period is for INSIGHT_RULE_METRIC, which guardrail does not evaluate"),
    ("Alarms[0].Metrics[0].AccountId", "length min",
     "guardrail reads the metrics of one account: cross-account alarms are not modelled"),
    ("Alarms[0].Metrics[0].AccountId", "length max",
     "guardrail reads the metrics of one account: cross-account alarms are not modelled"),
    ("Alarms[0].ThresholdMetricId", "length min",
     "anomaly-detection alarms need a band, which guardrail does not model"),
    ("Alarms[0].ThresholdMetricId", "length max",
     "anomaly-detection alarms need a band, which guardrail does not model"),
    ("CompositeAlarms[0].AlarmRule", "length min",
     "an AlarmRule is ALARM(…), OK(…), INSUFFICIENT_DATA(…), TRUE or FALSE joined by AND, OR and NOT: `a` is none"),
    ("CompositeAlarms[0].AlarmRule", "length max",
     "an AlarmRule is ALARM(…), OK(…), INSUFFICIENT_DATA(…), TRUE or FALSE joined by AND, OR and NOT: `aaa…` is none"),
];

/// Members of those shapes that a plan does not have, and why.
const NOT_IN_PLAN: &[(&str, &str, &str)] = &[
    (
        "UpdateEndpointInput",
        "RetainAllVariantProperties",
        "guardrail updates to the whole new config",
    ),
    (
        "UpdateEndpointInput",
        "ExcludeRetainedVariantProperties",
        "guardrail updates to the whole new config",
    ),
    (
        "UpdateEndpointInput",
        "RetainDeploymentConfig",
        "a plan always carries its DeploymentConfig",
    ),
    (
        "PutMetricAlarmInput",
        "EvaluationCriteria",
        "guardrail evaluates CloudWatch metric alarms, not PromQL",
    ),
    (
        "PutMetricAlarmInput",
        "EvaluationInterval",
        "guardrail evaluates CloudWatch metric alarms, not PromQL",
    ),
    (
        "PutMetricAlarmInput",
        "Tags",
        "tags do not change how an alarm evaluates",
    ),
    (
        "PutCompositeAlarmInput",
        "Tags",
        "tags do not change how an alarm evaluates",
    ),
    (
        "PutCompositeAlarmInput",
        "ActionsSuppressor",
        "action suppression changes which actions run, not the state SageMaker reads",
    ),
    (
        "PutCompositeAlarmInput",
        "ActionsSuppressorWaitPeriod",
        "action suppression changes which actions run, not the state SageMaker reads",
    ),
    (
        "PutCompositeAlarmInput",
        "ActionsSuppressorExtensionPeriod",
        "action suppression changes which actions run, not the state SageMaker reads",
    ),
];

/// The plan field of each `ProductionVariant` member a plan has; the others
/// belong to the endpoint config, which guardrail does not create.
const VARIANT_FIELDS: &[(&str, &str)] = &[
    ("VariantName", "VariantName"),
    ("InitialInstanceCount", "InstanceCount"),
    ("InstanceType", "InstanceType"),
];

/// Strings every pattern is tried with.
const PATTERN_PROBES: &[&str] = &[
    "a", "A1", "a-b", "a--b", "-a", "a-", "a_b", "a b", " ", "\t", "a\nb", "é", ":a", "a:b",
];

struct Models {
    version: String,
    sagemaker: Value,
    cloudwatch: Value,
}

impl Models {
    fn load() -> Models {
        let output = common::python(
            r#"
import json, sys, botocore, botocore.loaders
loader = botocore.loaders.Loader()
json.dump({"version": botocore.__version__,
           "sagemaker": loader.load_service_model("sagemaker", "service-2"),
           "cloudwatch": loader.load_service_model("cloudwatch", "service-2")}, sys.stdout)
"#,
            "",
        );
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let mut all: Value = serde_json::from_slice(&output.stdout).expect("models");
        Models {
            version: all["version"].as_str().unwrap_or_default().to_string(),
            sagemaker: all["sagemaker"].take(),
            cloudwatch: all["cloudwatch"].take(),
        }
    }

    fn shape<'a>(&'a self, service: &str, name: &str) -> &'a Value {
        let model = if service == "sagemaker" {
            &self.sagemaker
        } else {
            &self.cloudwatch
        };
        &model["shapes"][name]
    }
}

/// One probe: an edit of an example plan at one field, and the model's verdict.
#[derive(Clone, Debug)]
struct Probe {
    path: String,
    label: String,
    edit: Edit,
    model_accepts: bool,
    /// The model's pattern the value must also match in full, decided by
    /// Python's `re` once every probe is known.
    pattern: Option<(String, String)>,
    /// Only problems at the path itself count (a list's size, not its items).
    exact: bool,
}

#[derive(Clone, Debug)]
enum Edit {
    Remove,
    Set(Value),
}

/// "DeploymentConfig.X.Alarms[0].AlarmName" → "/DeploymentConfig/X/Alarms/0/AlarmName".
fn pointer(path: &str) -> String {
    let mut out = String::new();
    for part in path.split('.') {
        match part.split_once('[') {
            Some((key, index)) => {
                out.push('/');
                out.push_str(key);
                out.push('/');
                out.push_str(index.trim_end_matches(']'));
            }
            None => {
                out.push('/');
                out.push_str(part);
            }
        }
    }
    out
}

/// The example a probe at `path` edits: one whose update policy has the field;
/// for a math alarm's `Metrics`, the team example with its new-fleet error
/// rate (metric math) moved first; for a composite alarm, the team example.
fn base(path: &str) -> Value {
    if path.starts_with("Alarms[0].Metrics") || path.starts_with("CompositeAlarms") {
        let mut plan: Value = serde_json::from_str(examples::TEAM_GUARDRAILS).expect("example");
        if let Some(alarms) = plan["Alarms"].as_array_mut() {
            let math = alarms
                .iter()
                .position(|alarm| alarm.get("Metrics").is_some())
                .expect("a math alarm");
            let alarm = alarms.remove(math);
            alarms.insert(0, alarm);
        }
        return plan;
    }
    let text = if path.contains("RollingUpdatePolicy") {
        examples::ROLLING
    } else if path.contains("LinearStepSize") {
        examples::NOTEBOOK_LINEAR
    } else {
        examples::NOTEBOOK_CANARY
    };
    serde_json::from_str(text).expect("example")
}

/// A minimal valid value of a shape, to create a member the example lacks.
fn minimal(models: &Models, service: &str, name: &str) -> Value {
    let shape = models.shape(service, name);
    match shape["type"].as_str() {
        Some("structure") if name == "CapacitySize" => {
            json!({"Type": "INSTANCE_COUNT", "Value": 1})
        }
        Some("structure") => {
            let mut object = serde_json::Map::new();
            for member in shape["required"].as_array().into_iter().flatten() {
                let member = member.as_str().unwrap_or_default();
                let member_shape = shape["members"][member]["shape"]
                    .as_str()
                    .unwrap_or_default();
                object.insert(member.into(), minimal(models, service, member_shape));
            }
            Value::Object(object)
        }
        Some("list") => json!([]),
        Some("integer") | Some("long") => json!(shape["min"].as_i64().unwrap_or(1)),
        Some("double") => json!(1.0),
        Some("boolean") => json!(true),
        _ => match shape["enum"].as_array().and_then(|values| values.first()) {
            Some(first) => first.clone(),
            None => json!("a"),
        },
    }
}

/// Sets or removes the field at `path`, creating missing parents.
fn apply(plan: &mut Value, path: &str, edit: &Edit, parents: &[(String, Value)]) {
    for (parent, value) in parents {
        if plan.pointer(&pointer(parent)).is_none() {
            set(plan, &pointer(parent), value.clone());
        }
    }
    match edit {
        Edit::Remove => {
            let target = pointer(path);
            let (parent, key) = target.rsplit_once('/').expect("a parent");
            if let Some(Value::Object(map)) = plan.pointer_mut(parent) {
                map.remove(key);
            }
        }
        Edit::Set(value) => set(plan, &pointer(path), value.clone()),
    }
    couple(plan, path, edit);
}

fn set(plan: &mut Value, target: &str, value: Value) {
    let (parent, key) = target.rsplit_once('/').expect("a parent");
    match plan.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.insert(key.to_string(), value);
        }
        Some(Value::Array(items)) => {
            let index: usize = key.parse().expect("an index");
            if index < items.len() {
                items[index] = value;
            } else {
                items.push(value);
            }
        }
        _ => panic!("no parent at {parent}"),
    }
}

/// Edits that keep the rest of the plan consistent with a probe: an alarm and
/// its rollback listing keep one name, and an extended statistic replaces the
/// statistic rather than joining it.
fn couple(plan: &mut Value, path: &str, edit: &Edit) {
    let rename = |plan: &mut Value, target: &str, value: &Value| {
        if plan.pointer(target).is_some() {
            set(plan, target, value.clone());
        }
    };
    match (path, edit) {
        ("Alarms[0].AlarmName", Edit::Set(name)) => rename(
            plan,
            "/DeploymentConfig/AutoRollbackConfiguration/Alarms/0/AlarmName",
            name,
        ),
        ("DeploymentConfig.AutoRollbackConfiguration.Alarms[0].AlarmName", Edit::Set(name)) => {
            rename(plan, "/Alarms/0/AlarmName", name)
        }
        ("Alarms[0].ExtendedStatistic", Edit::Set(_)) => {
            if let Some(alarm) = plan.pointer_mut("/Alarms/0").and_then(Value::as_object_mut) {
                alarm.remove("Statistic");
            }
        }
        _ => {}
    }
}

/// Whether guardrail accepts the plan at `path`: no error there, below it, or
/// at the list it is an item of.
fn guardrail_accepts(plan: &Value, path: &str, exact: bool) -> bool {
    if exact {
        return match check_json(&plan.to_string()) {
            Err(error) => error.path != path,
            Ok((_, checked)) => !checked
                .report
                .errors
                .iter()
                .any(|problem| problem.path == path),
        };
    }
    let list = path
        .rsplit_once('[')
        .filter(|(_, tail)| !tail.contains('.'))
        .map(|(head, _)| head.to_string());
    let hits = |problem_path: &str| {
        problem_path == path
            || problem_path.starts_with(&format!("{path}."))
            || problem_path.starts_with(&format!("{path}["))
            || list.as_deref() == Some(problem_path)
    };
    match check_json(&plan.to_string()) {
        Err(error) => !hits(&error.path),
        Ok((_, checked)) => !checked
            .report
            .errors
            .iter()
            .any(|problem| hits(&problem.path)),
    }
}

/// Collects probes for every member of a structure shape, recursively.
struct Walker<'a> {
    models: &'a Models,
    probes: Vec<Probe>,
    /// Parents that must exist for a probe at a path: (path, minimal value).
    parents: Vec<(String, Vec<(String, Value)>)>,
    unmapped: Vec<(String, String)>,
}

impl Walker<'_> {
    fn probe(&mut self, path: &str, label: impl Into<String>, edit: Edit, model_accepts: bool) {
        self.probes.push(Probe {
            path: path.to_string(),
            label: label.into(),
            edit,
            model_accepts,
            pattern: None,
            exact: false,
        });
    }

    /// A probe the model accepts only if `text` also matches `pattern` in full.
    fn pattern_probe(
        &mut self,
        path: &str,
        label: String,
        pattern: &str,
        text: &str,
        in_range: bool,
    ) {
        self.probe(path, label, Edit::Set(json!(text)), in_range);
        if let Some(last) = self.probes.last_mut() {
            last.pattern = Some((pattern.to_string(), text.to_string()));
        }
    }

    fn structure(
        &mut self,
        service: &str,
        name: &str,
        path_of: &dyn Fn(&str) -> Option<String>,
        parents: &[(String, Value)],
    ) {
        let shape = self.models.shape(service, name).clone();
        let required: BTreeSet<String> = shape["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|member| member.as_str().map(str::to_string))
            .collect();
        let Some(members) = shape["members"].as_object() else {
            return;
        };
        for (member, spec) in members {
            let Some(path) = path_of(member) else {
                self.unmapped.push((name.to_string(), member.clone()));
                continue;
            };
            let member_shape = spec["shape"].as_str().unwrap_or_default().to_string();
            self.parents.push((path.clone(), parents.to_vec()));
            self.probe(&path, "missing", Edit::Remove, !required.contains(member));
            self.member(service, &member_shape, &path, parents);
        }
    }

    fn member(&mut self, service: &str, name: &str, path: &str, parents: &[(String, Value)]) {
        let shape = self.models.shape(service, name).clone();
        let mut with_me = parents.to_vec();
        with_me.push((path.to_string(), minimal(self.models, service, name)));
        match shape["type"].as_str().unwrap_or_default() {
            "structure" => {
                let base = path.to_string();
                self.structure(
                    service,
                    name,
                    &move |member: &str| Some(format!("{base}.{member}")),
                    &with_me,
                );
            }
            "list" => self.list(service, &shape, path, &with_me),
            "integer" | "long" => self.integer(&shape, path),
            "string" => self.string(&shape, path),
            _ => {}
        }
    }

    fn integer(&mut self, shape: &Value, path: &str) {
        let min = shape["min"].as_i64();
        let max = shape["max"].as_i64();
        if let Some(min) = min {
            self.probe(path, "min", Edit::Set(json!(min)), true);
            self.probe(path, "below min", Edit::Set(json!(min - 1)), false);
        }
        match max {
            Some(max) => {
                self.probe(path, "max", Edit::Set(json!(max)), true);
                self.probe(path, "above max", Edit::Set(json!(max + 1)), false);
            }
            // A Smithy integer is 32 bits: its largest value, where nothing caps it.
            None => self.probe(path, "large", Edit::Set(json!(i32::MAX)), true),
        }
    }

    fn string(&mut self, shape: &Value, path: &str) {
        if let Some(values) = shape["enum"].as_array() {
            for value in values {
                let label = format!("enum {}", value.as_str().unwrap_or_default());
                self.probe(path, label, Edit::Set(value.clone()), true);
            }
            self.probe(path, "not in enum", Edit::Set(json!("NOT_A_VALUE")), false);
            return;
        }
        let min = shape["min"].as_u64().unwrap_or(0) as usize;
        let max = shape["max"].as_u64().map(|max| max as usize);
        let pattern = shape["pattern"].as_str();
        let mut lengths = vec![("length min", min, true)];
        if min > 0 {
            lengths.push(("length below min", min - 1, false));
        }
        if let Some(max) = max {
            lengths.push(("length max", max, true));
            lengths.push(("length above max", max + 1, false));
        }
        for (label, length, in_range) in lengths {
            let text = "a".repeat(length);
            match pattern {
                Some(pattern) => self.pattern_probe(path, label.into(), pattern, &text, in_range),
                None => self.probe(path, label, Edit::Set(json!(text)), in_range),
            }
        }
        if let Some(pattern) = pattern {
            for text in PATTERN_PROBES {
                let length = text.chars().count();
                let in_range = length >= min && max.is_none_or(|max| length <= max);
                self.pattern_probe(path, format!("pattern {text:?}"), pattern, text, in_range);
            }
        }
    }

    fn list(&mut self, service: &str, shape: &Value, path: &str, parents: &[(String, Value)]) {
        let item_shape = shape["member"]["shape"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let item_path = format!("{path}[0]");
        let example_item = base(path)
            .pointer(&format!("{}/0", pointer(path)))
            .cloned()
            .unwrap_or_else(|| minimal(self.models, service, &item_shape));
        let mut sizes = Vec::new();
        let min = shape["min"].as_u64().unwrap_or(0) as usize;
        if min > 0 {
            sizes.push(("items below min", min - 1, false));
        }
        sizes.push(("items min", min.max(1), true));
        if let Some(max) = shape["max"].as_u64() {
            sizes.push(("items max", max as usize, true));
            sizes.push(("items above max", max as usize + 1, false));
        }
        for (label, count, accepted) in sizes {
            let items = Value::Array(vec![example_item.clone(); count]);
            self.probe(path, label, Edit::Set(items), accepted);
            if let Some(last) = self.probes.last_mut() {
                last.exact = true;
            }
        }
        let mut with_item = parents.to_vec();
        with_item.push((path.to_string(), Value::Array(vec![example_item.clone()])));
        self.parents.push((item_path.clone(), with_item.clone()));
        self.member(service, &item_shape, &item_path, &with_item);
    }
}

/// Decides every probe's pattern with Python's `re.fullmatch`, in one call.
fn resolve_patterns(probes: &mut [Probe]) {
    let pairs: Vec<(String, String)> = probes
        .iter()
        .filter_map(|probe| probe.pattern.clone())
        .collect();
    let output = common::python(
        "import json, re, sys\nprint(json.dumps([bool(re.fullmatch(p, t)) for p, t in json.load(sys.stdin)]))",
        &serde_json::to_string(&pairs).expect("json"),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answers: Vec<bool> = serde_json::from_slice(&output.stdout).expect("answers");
    assert_eq!(answers.len(), pairs.len());
    let mut answers = answers.into_iter();
    for probe in probes.iter_mut().filter(|probe| probe.pattern.is_some()) {
        probe.model_accepts &= answers.next().unwrap_or(false);
    }
}

#[test]
fn every_plan_field_agrees_with_botocore_or_says_why_not() {
    let models = Models::load();
    let mut walker = Walker {
        models: &models,
        probes: Vec::new(),
        parents: Vec::new(),
        unmapped: Vec::new(),
    };
    walker.structure(
        "sagemaker",
        "UpdateEndpointInput",
        &|member| {
            matches!(
                member,
                "EndpointName" | "EndpointConfigName" | "DeploymentConfig"
            )
            .then(|| member.to_string())
        },
        &[],
    );
    walker.structure(
        "sagemaker",
        "ProductionVariant",
        &|member| {
            VARIANT_FIELDS
                .iter()
                .find(|(name, _)| *name == member)
                .map(|(_, field)| field.to_string())
        },
        &[],
    );
    walker.structure(
        "cloudwatch",
        "PutMetricAlarmInput",
        &|member| {
            (!NOT_IN_PLAN
                .iter()
                .any(|(shape, name, _)| *shape == "PutMetricAlarmInput" && *name == member))
            .then(|| format!("Alarms[0].{member}"))
        },
        &[],
    );
    walker.structure(
        "cloudwatch",
        "PutCompositeAlarmInput",
        &|member| {
            (!NOT_IN_PLAN
                .iter()
                .any(|(shape, name, _)| *shape == "PutCompositeAlarmInput" && *name == member))
            .then(|| format!("CompositeAlarms[0].{member}"))
        },
        &[],
    );
    // Probes the model cannot express, named in LAXER and STRICTER.
    walker.probe(
        "InstanceType",
        "value \"ml.m5.notreal\"",
        Edit::Set(json!("ml.m5.notreal")),
        false,
    );
    walker.probe(
        "Alarms[0].ExtendedStatistic",
        "value \"p99\"",
        Edit::Set(json!("p99")),
        true,
    );
    walker.probe(
        "Alarms[0].AlarmName",
        "value \" \"",
        Edit::Set(json!(" ")),
        true,
    );
    walker.probe(
        "Alarms[0].AlarmName",
        "value \"a\\tb\"",
        Edit::Set(json!("a\tb")),
        true,
    );
    walker.probe(
        "DeploymentConfig.AutoRollbackConfiguration.Alarms[0].AlarmName",
        "value \"a\\tb\"",
        Edit::Set(json!("a\tb")),
        true,
    );
    walker.probe(
        "Alarms[0].ExtendedStatistic",
        "value \"tm90\"",
        Edit::Set(json!("tm90")),
        true,
    );

    let variant_members: Vec<(String, String)> = walker
        .unmapped
        .iter()
        .filter(|(shape, _)| shape == "ProductionVariant")
        .cloned()
        .collect();
    let unexplained: Vec<&(String, String)> = walker
        .unmapped
        .iter()
        .filter(|(shape, member)| {
            shape != "ProductionVariant"
                && !NOT_IN_PLAN
                    .iter()
                    .any(|(s, m, _)| s == shape && m == member)
        })
        .collect();
    assert!(
        unexplained.is_empty(),
        "botocore {} has members the plan neither maps nor names in NOT_IN_PLAN: {unexplained:?}",
        models.version
    );
    assert!(variant_members.len() > 3, "{variant_members:?}");

    resolve_patterns(&mut walker.probes);
    let mut differences = Vec::new();
    let mut named_used = BTreeSet::new();
    for probe in &walker.probes {
        let parents = walker
            .parents
            .iter()
            .rev()
            .find(|(path, _)| *path == probe.path)
            .map(|(_, parents)| parents.clone())
            .unwrap_or_default();
        let mut plan = base(&probe.path);
        apply(&mut plan, &probe.path, &probe.edit, &parents);
        let ours = guardrail_accepts(&plan, &probe.path, probe.exact);
        if ours == probe.model_accepts {
            continue;
        }
        let named: Vec<&(&str, &str, &str)> = if probe.model_accepts {
            STRICTER.iter().chain(STRICTER_MATH).collect()
        } else {
            LAXER.iter().collect()
        };
        match named
            .iter()
            .find(|(path, label, _)| *path == probe.path && *label == probe.label)
        {
            Some((path, label, _)) => {
                named_used.insert((*path, *label));
            }
            None => differences.push(format!(
                "{} [{}]: botocore {} {}, guardrail {} ({:?})",
                probe.path,
                probe.label,
                models.version,
                if probe.model_accepts {
                    "accepts"
                } else {
                    "refuses"
                },
                if ours { "accepts" } else { "refuses" },
                probe.edit
            )),
        }
    }
    let stale: Vec<_> = STRICTER
        .iter()
        .chain(STRICTER_MATH)
        .chain(LAXER)
        .filter(|(path, label, _)| !named_used.contains(&(*path, *label)))
        .map(|(path, label, _)| format!("{path} [{label}]"))
        .collect();
    assert!(
        differences.is_empty() && stale.is_empty(),
        "{} probes; unexplained differences:\n{}\nnamed differences that no longer differ:\n{}",
        walker.probes.len(),
        differences.join("\n"),
        stale.join("\n")
    );
    assert!(walker.probes.len() > 300, "{} probes", walker.probes.len());
}

#[test]
fn the_instance_types_and_units_are_botocores() {
    let models = Models::load();
    let listed: Vec<&str> = models.sagemaker["shapes"]["ProductionVariantInstanceType"]["enum"]
        .as_array()
        .expect("enum")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        INSTANCE_TYPES.to_vec(),
        listed,
        "core/src/instance_types.rs differs from botocore {}; its list is:\n{}",
        models.version,
        listed
            .iter()
            .map(|name| format!("    \"{name}\",\n"))
            .collect::<String>()
    );
    let units: Vec<&str> = models.cloudwatch["shapes"]["StandardUnit"]["enum"]
        .as_array()
        .expect("enum")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(STANDARD_UNITS.to_vec(), units);
}
