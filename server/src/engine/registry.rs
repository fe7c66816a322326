//! The local registry of models, endpoint configs and endpoints.
//!
//! By default it holds the seed notebook's demo: models and configs `baseline`,
//! `incompatible` and `fixed` (3 instances each, variant `AllTraffic`) and the
//! endpoint `guardrail-demo` on `baseline`. An `engine.json` in the data
//! directory adds a user's own models: container URLs, or a command that starts
//! one instance per `{port}`, so that a real SageMaker inference container run
//! locally can be rehearsed.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::engine::model::{Behaviour, BuiltinModel};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ModelDefinition {
    pub model_name: String,
    /// A built-in demo model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builtin: Option<BuiltinModel>,
    /// Containers already running: instance i uses `Urls[i % len]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    /// A shell command that starts one instance listening on `{port}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EndpointConfigDefinition {
    pub endpoint_config_name: String,
    pub model_name: String,
    #[serde(default = "default_variant")]
    pub variant_name: String,
    #[serde(default = "default_instances")]
    pub instance_count: u32,
}

fn default_variant() -> String {
    "AllTraffic".into()
}

fn default_instances() -> u32 {
    3
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EndpointDefinition {
    pub endpoint_name: String,
    pub endpoint_config_name: String,
}

/// Everything the engine knows about.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Registry {
    #[serde(default)]
    pub models: Vec<ModelDefinition>,
    #[serde(default)]
    pub endpoint_configs: Vec<EndpointConfigDefinition>,
    #[serde(default)]
    pub endpoints: Vec<EndpointDefinition>,
}

pub const DEMO_ENDPOINT: &str = "guardrail-demo";

impl Registry {
    /// The seed notebook's demo.
    pub fn demo() -> Registry {
        let model = |name: &str, behaviour| ModelDefinition {
            model_name: name.into(),
            builtin: Some(BuiltinModel::new(behaviour)),
            urls: None,
            command: None,
        };
        let config = |name: &str| EndpointConfigDefinition {
            endpoint_config_name: name.into(),
            model_name: name.into(),
            variant_name: default_variant(),
            instance_count: 3,
        };
        Registry {
            models: vec![
                model("baseline", Behaviour::Baseline),
                model("incompatible", Behaviour::Incompatible),
                model("fixed", Behaviour::Fixed),
            ],
            endpoint_configs: vec![config("baseline"), config("incompatible"), config("fixed")],
            endpoints: vec![EndpointDefinition {
                endpoint_name: DEMO_ENDPOINT.into(),
                endpoint_config_name: "baseline".into(),
            }],
        }
    }

    /// The demo plus `engine.json` in `data_dir`, if there is one. Later
    /// definitions replace earlier ones with the same name.
    pub fn load(data_dir: &Path) -> Result<Registry, String> {
        let mut registry = Registry::demo();
        let path = data_dir.join("engine.json");
        if let Ok(text) = std::fs::read_to_string(&path) {
            let extra: Registry = serde_json::from_str(&text)
                .map_err(|error| format!("{}: {error}", path.display()))?;
            registry.merge(extra);
        }
        registry
            .check()
            .map_err(|problems| format!("{}: {}", path.display(), problems.join("; ")))?;
        Ok(registry)
    }

    pub fn merge(&mut self, extra: Registry) {
        for model in extra.models {
            self.models
                .retain(|known| known.model_name != model.model_name);
            self.models.push(model);
        }
        for config in extra.endpoint_configs {
            self.endpoint_configs
                .retain(|known| known.endpoint_config_name != config.endpoint_config_name);
            self.endpoint_configs.push(config);
        }
        for endpoint in extra.endpoints {
            self.endpoints
                .retain(|known| known.endpoint_name != endpoint.endpoint_name);
            self.endpoints.push(endpoint);
        }
    }

    /// Every reference resolves, and every model says how to run it.
    pub fn check(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        for model in &self.models {
            let sources = usize::from(model.builtin.is_some())
                + usize::from(model.urls.as_ref().is_some_and(|urls| !urls.is_empty()))
                + usize::from(model.command.is_some());
            if sources != 1 {
                problems.push(format!(
                    "model {} needs exactly one of Builtin, Urls or Command",
                    model.model_name
                ));
            }
            if let Some(command) = &model.command {
                if !command.contains("{port}") {
                    problems.push(format!(
                        "model {}: Command must contain {{port}}",
                        model.model_name
                    ));
                }
            }
        }
        for config in &self.endpoint_configs {
            if self.model(&config.model_name).is_none() {
                problems.push(format!(
                    "endpoint config {} names model {}, which is not defined",
                    config.endpoint_config_name, config.model_name
                ));
            }
            if config.instance_count == 0 {
                problems.push(format!(
                    "endpoint config {} has no instances",
                    config.endpoint_config_name
                ));
            }
        }
        for endpoint in &self.endpoints {
            if self.config(&endpoint.endpoint_config_name).is_none() {
                problems.push(format!(
                    "endpoint {} names endpoint config {}, which is not defined",
                    endpoint.endpoint_name, endpoint.endpoint_config_name
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    pub fn model(&self, name: &str) -> Option<&ModelDefinition> {
        self.models.iter().find(|model| model.model_name == name)
    }

    pub fn config(&self, name: &str) -> Option<&EndpointConfigDefinition> {
        self.endpoint_configs
            .iter()
            .find(|config| config.endpoint_config_name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_is_consistent() {
        assert_eq!(Registry::demo().check(), Ok(()));
    }

    #[test]
    fn user_definitions_are_checked() {
        let mut registry = Registry::demo();
        registry.merge(Registry {
            models: vec![ModelDefinition {
                model_name: "mine".into(),
                builtin: None,
                urls: None,
                command: Some("serve --port 8080".into()),
            }],
            endpoint_configs: vec![EndpointConfigDefinition {
                endpoint_config_name: "mine".into(),
                model_name: "missing".into(),
                variant_name: "AllTraffic".into(),
                instance_count: 1,
            }],
            endpoints: vec![],
        });
        let problems = registry.check().expect_err("problems");
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("{port}"));
        assert!(problems[1].contains("model missing"));
    }
}
