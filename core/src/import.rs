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
            .map_err(|error| format!("not JSON, and not a guardrail link: {error}"));
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
        let config: DeploymentConfig = serde_json::from_value(value.clone())
            .map_err(|error| format!("not a DeploymentConfig: {error}"))?;
        let mut plan = current.clone();
        plan.deployment_config = Some(config);
        let wrapped = serde_json::json!({ "DeploymentConfig": value });
        return Ok(Import {
            dropped: dropped(&wrapped, &plan),
            imported: Imported::DeploymentConfig(Box::new(plan)),
        });
    }
    let plan = Plan::from_json(trimmed).map_err(|error| error.one_line())?;
    let dropped = dropped(&value, &plan);
    let fields = object.iter().filter(|(_, value)| !value.is_null()).count();
    let unknown_at_top = dropped
        .iter()
        .filter(|path| !path.contains(['.', '[']))
        .count();
    if fields == 0 || unknown_at_top == fields {
        let named = object
            .keys()
            .take(5)
            .map(|key| format!("`{key}`"))
            .collect::<Vec<_>>();
        return Err(format!(
            "not a plan, a DeploymentConfig or a link: {} none of the fields a plan has \
             (EndpointName, DeploymentConfig, Alarms, …). Nothing was changed.",
            if named.is_empty() {
                "the object is empty, with".to_string()
            } else {
                format!("it has {}, and", named.join(", "))
            }
        ));
    }
    Ok(Import {
        imported: Imported::Plan(Box::new(plan)),
        dropped,
    })
}

/// The paths of `input`'s fields that `plan` (what it was read as) left out.
fn dropped(input: &serde_json::Value, plan: &Plan) -> Vec<String> {
    crate::plan::unknown_fields(input, plan)
        .into_iter()
        .map(|problem| problem.path)
        .collect()
}
