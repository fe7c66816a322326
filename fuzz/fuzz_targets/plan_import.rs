//! The planner's import box: any pasted text, read as a plan, a bare
//! DeploymentConfig or a link, then checked (validation, lint, schedule)
//! as the planner does on every edit.
#![no_main]

use guardrail_core::{check, examples, import};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let current = examples::notebook_canary();
    let Ok(found) = import::import(&current, text) else {
        return;
    };
    let plan = match found.imported {
        import::Imported::Plan(plan)
        | import::Imported::DeploymentConfig(plan)
        | import::Imported::Merged { plan, .. } => *plan,
        import::Imported::Link(state) => state.plan,
    };
    let checked = check(&plan);
    if let Some(rollout) = checked.rollout {
        let _ = guardrail_core::schedule::schedule(&rollout);
    }
});
