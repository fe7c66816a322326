//! Named plans kept in the browser, so that one person can work on several
//! rollouts: save, open, rename, delete, and pin to Compare. Kept in local
//! storage under [`PLANS_KEY`], beside the draft (which stays the plan on
//! screen).

use guardrail_core::Plan;
use serde::{Deserialize, Serialize};

/// The local-storage key of the named plans.
pub const PLANS_KEY: &str = "guardrail.plans.v1";

/// The local-storage key of the plans pinned for comparison.
pub const PINNED_KEY: &str = "guardrail.pinned.v1";

/// The most plans kept: each is a few KB of local storage.
pub const MOST_PLANS: usize = 50;

/// The longest name, in characters.
pub const LONGEST_NAME: usize = 80;

/// One named plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Named {
    pub name: String,
    pub plan: Plan,
}

/// The named plans, in the order they were first saved.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Library {
    pub plans: Vec<Named>,
}

/// Why a name or a save was refused.
fn check_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("give the plan a name".into());
    }
    if name.chars().count() > LONGEST_NAME {
        return Err(format!("a name has at most {LONGEST_NAME} characters"));
    }
    Ok(name.to_string())
}

impl Library {
    /// Saves `plan` as `name`, replacing a plan of that name.
    pub fn save(&mut self, name: &str, plan: &Plan) -> Result<(), String> {
        let name = check_name(name)?;
        let full = self.plans.len() >= MOST_PLANS;
        match self.plans.iter_mut().find(|named| named.name == name) {
            Some(named) => named.plan = plan.clone(),
            None if full => {
                return Err(format!(
                    "{MOST_PLANS} plans are kept at most: delete one first"
                ));
            }
            None => self.plans.push(Named {
                name,
                plan: plan.clone(),
            }),
        }
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&Plan> {
        self.plans
            .iter()
            .find(|named| named.name == name)
            .map(|named| &named.plan)
    }

    /// Renames `from` to `to`, unless another plan has that name.
    pub fn rename(&mut self, from: &str, to: &str) -> Result<(), String> {
        let to = check_name(to)?;
        if to != from && self.get(&to).is_some() {
            return Err(format!("a plan named {to} exists already"));
        }
        let named = self
            .plans
            .iter_mut()
            .find(|named| named.name == from)
            .ok_or_else(|| format!("no plan named {from}"))?;
        named.name = to;
        Ok(())
    }

    pub fn delete(&mut self, name: &str) -> bool {
        let before = self.plans.len();
        self.plans.retain(|named| named.name != name);
        self.plans.len() != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use guardrail_core::examples;

    #[test]
    fn plans_are_saved_opened_renamed_and_deleted_by_name() {
        let mut library = Library::default();
        let canary = examples::notebook_canary();
        let rolling = Plan::from_json(examples::ROLLING).expect("plan");
        library.save(" prod canary ", &canary).expect("saved");
        library.save("rolling", &rolling).expect("saved");
        assert_eq!(library.get("prod canary"), Some(&canary));
        // Saving under a name again replaces that plan.
        library.save("rolling", &canary).expect("saved");
        assert_eq!(library.plans.len(), 2);
        assert_eq!(library.get("rolling"), Some(&canary));
        assert!(library.rename("rolling", "prod canary").is_err());
        library.rename("rolling", "staging").expect("renamed");
        assert!(library.get("rolling").is_none() && library.get("staging").is_some());
        assert!(library.delete("staging"));
        assert!(!library.delete("staging"));
        assert!(library.save("  ", &canary).is_err());
        assert!(library
            .save(&"x".repeat(LONGEST_NAME + 1), &canary)
            .is_err());
        for index in library.plans.len()..MOST_PLANS {
            library
                .save(&format!("plan {index}"), &canary)
                .expect("room");
        }
        assert!(library.save("one more", &canary).is_err());
        // The stored form reads back.
        let json = serde_json::to_string(&library).expect("json");
        assert_eq!(
            serde_json::from_str::<Library>(&json).expect("reads"),
            library
        );
    }
}
