//! Reading pasted text into a plan: a plan, a bare `DeploymentConfig` (as
//! `update-endpoint` takes it) or a share link, refusing anything else, and
//! naming the fields it left out. The planner's import box uses it; it is
//! fuzzed (`fuzz/`), so no text makes it panic.

use crate::plan::{DeploymentConfig, Plan};

/// What the pasted text was.
#[derive(Clone, Debug, PartialEq)]
pub enum Imported {
    Plan(Box<Plan>),
    /// A bare DeploymentConfig, merged into the current plan.
    DeploymentConfig(Box<Plan>),
    /// A share link.
    Link(Box<crate::link::LinkState>),
    /// Part of a plan (no EndpointName or EndpointConfigName), merged into
    /// the current plan: the top-level fields it replaced.
    Merged {
        plan: Box<Plan>,
        changed: Vec<String>,
    },
}

/// What an import found, and the fields of the pasted JSON it did not know
/// and so left out, with their paths (`Alarms[0].Foo`).
#[derive(Clone, Debug, PartialEq)]
pub struct Import {
    pub imported: Imported,
    pub dropped: Vec<String>,
}

/// Reads pasted text: a plan, a bare `DeploymentConfig` (as `update-endpoint`
/// takes it), or a share link. Errors are one line and name the position.
/// JSON that is none of these (an object none of whose fields a plan has,
/// or not an object at all) is refused, so that it never replaces a plan
/// with an empty one.
pub fn import(current: &Plan, text: &str) -> Result<Import, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("nothing to import: paste a plan, a DeploymentConfig or a link".into());
    }
    if !trimmed.starts_with(['{', '[']) {
        return crate::link::decode(trimmed)
            .map(|state| Import {
                imported: Imported::Link(Box::new(state)),
                dropped: Vec::new(),
            })
            .map_err(|error| match error {
                crate::link::LinkError::NotALink => "not a plan, a DeploymentConfig or a guardrail link: paste JSON (it starts with `{`) or a link (it has `#p=1.` in it, or starts with `1.`). Nothing was changed.".to_string(),
                other => format!("{}. Nothing was changed.", crate::explain::capitalise(&other.to_string())),
            });
    }
    let value: serde_json::Value = serde_json::from_str(trimmed).map_err(|error| {
        format!(
            "line {}, column {}: {}",
            error.line(),
            error.column(),
            error
                .to_string()
                .split(" at line ")
                .next()
                .unwrap_or_default()
        )
    })?;
    let Some(object) = value.as_object() else {
        return Err("not a plan: a plan is a JSON object, not a list. Nothing was changed.".into());
    };
    let is_config = object.keys().all(|key| {
        matches!(
            key.as_str(),
            "BlueGreenUpdatePolicy" | "RollingUpdatePolicy" | "AutoRollbackConfiguration"
        )
    }) && !object.is_empty();
    if is_config {
        let config: DeploymentConfig = crate::json::from_json(trimmed)
            .map_err(|error| format!("not a DeploymentConfig: {}", error.one_line()))?;
        let mut plan = current.clone();
        plan.deployment_config = Some(config);
        let wrapped = serde_json::json!({ "DeploymentConfig": value });
        return Ok(Import {
            dropped: dropped(&wrapped, &plan),
            imported: Imported::DeploymentConfig(Box::new(plan)),
        });
    }
    // A plan without its endpoint and config is part of one: merged into the
    // current plan, field by field at the top, never replacing the rest.
    // Read as the user wrote it first, so that an error names their line.
    let plan = Plan::from_json(trimmed).map_err(|error| error.one_line())?;
    let whole = ["EndpointName", "EndpointConfigName"]
        .iter()
        .all(|key| object.contains_key(*key));
    if !whole {
        return merge(current, object);
    }
    let dropped = dropped(&value, &plan);
    let fields = object.iter().filter(|(_, value)| !value.is_null()).count();
    let unknown_at_top = dropped
        .iter()
        .filter(|path| !path.contains(['.', '[']))
        .count();
    if fields == 0 || unknown_at_top == fields {
        return Err(not_a_plan(object.keys()));
    }
    Ok(Import {
        imported: Imported::Plan(Box::new(plan)),
        dropped,
    })
}

/// `object`, part of a plan, merged into `current`: each top-level field it
/// holds replaces the current plan's; the rest stays. Refused when it holds
/// none of a plan's fields, or what it holds is not what a plan takes there.
fn merge(
    current: &Plan,
    object: &serde_json::Map<String, serde_json::Value>,
) -> Result<Import, String> {
    let mut merged = serde_json::to_value(current).unwrap_or_default();
    let Some(target) = merged.as_object_mut() else {
        return Err("the current plan cannot be read. Nothing was changed.".into());
    };
    let known: Vec<String> = target.keys().cloned().collect();
    let mut changed = Vec::new();
    let mut unknown = Vec::new();
    for (key, value) in object {
        let plan_field = known.contains(key) || crate::plan::PLAN_KEYS.contains(&key.as_str());
        if !plan_field {
            unknown.push(key.clone());
            continue;
        }
        if target.get(key) != Some(value) {
            changed.push(key.clone());
        }
        target.insert(key.clone(), value.clone());
    }
    if changed.is_empty() && unknown.len() == object.len() {
        return Err(not_a_plan(unknown.iter()));
    }
    let text = merged.to_string();
    let plan = Plan::from_json(&text)
        .map_err(|error| format!("{}. Nothing was changed.", error.one_line()))?;
    let mut dropped = dropped(&serde_json::Value::Object(object.clone()), &plan);
    for key in unknown {
        if !dropped.contains(&key) {
            dropped.push(key);
        }
    }
    Ok(Import {
        imported: Imported::Merged {
            plan: Box::new(plan),
            changed,
        },
        dropped,
    })
}

/// The refusal of JSON that holds none of a plan's fields, naming (up to
/// five of) those it holds.
fn not_a_plan<'a>(keys: impl Iterator<Item = &'a String>) -> String {
    let named = keys
        .take(5)
        .map(|key| format!("`{key}`"))
        .collect::<Vec<_>>();
    format!(
        "not a plan, a DeploymentConfig or a link: {} none of the fields a plan has \
         (EndpointName, DeploymentConfig, Alarms, …). Nothing was changed.",
        if named.is_empty() {
            "the object is empty, with".to_string()
        } else {
            format!("it has {}, and", named.join(", "))
        }
    )
}

/// The paths of `input`'s fields that `plan` (what it was read as) left out.
fn dropped(input: &serde_json::Value, plan: &Plan) -> Vec<String> {
    crate::plan::unknown_fields(input, plan)
        .into_iter()
        .map(|problem| problem.path)
        .collect()
}
