//! The local registry of models, endpoint configs and endpoints.
//!
//! By default it holds the seed notebook's demo: models and configs `baseline`,
//! `incompatible` and `fixed` (3 instances each, variant `AllTraffic`) and the
//! endpoint `guardrail-demo` on `baseline`. An `engine.json` in the data
//! directory adds a user's own models: container URLs, or a command that starts
//! one instance per `{port}`, so that a real SageMaker inference container run
//! locally can be rehearsed.
//!
//! Models created through SageMaker's API name a container image instead.
//! Images are not pulled: `guardrail/baseline`, `guardrail/incompatible` and
//! `guardrail/fixed` run the built-in models, and `engine.json`'s `Images` maps
//! any other image, by exact name or by prefix, to a command or to URLs.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::engine::model::{Behaviour, BuiltinModel};

/// How an instance runs: `Builtin`, `Urls` or `Command`, exactly one of them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Runner {
    /// A built-in demo model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builtin: Option<BuiltinModel>,
    /// Containers already running: instance i uses `Urls[i % len]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    /// A shell command that starts one instance listening on `{port}`; in an
    /// image mapping, `{model_data_url}` is replaced by the model's `ModelDataUrl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
}

impl Runner {
    /// How many ways to run are given: one is right.
    pub fn ways(&self) -> usize {
        usize::from(self.builtin.is_some())
            + usize::from(self.urls.as_ref().is_some_and(|urls| !urls.is_empty()))
            + usize::from(self.command.is_some())
    }

    /// A command must say where to listen.
    pub fn command_lacks_port(&self) -> bool {
        self.command
            .as_ref()
            .is_some_and(|command| !command.contains("{port}"))
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ModelDefinition {
    pub model_name: String,
    /// How it runs; models created through the API name an image instead.
    #[serde(flatten)]
    pub run: Runner,
    /// A SageMaker container image (models created through the API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_data_url: Option<String>,
    /// The container's environment.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_role_arn: Option<String>,
    /// When it was created, in API milliseconds (0 for built-in definitions).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub created_ms: u64,
    /// Whether `CreateModel` named the container in `Containers` rather than
    /// `PrimaryContainer`: `DescribeModel` answers in the same form.
    #[serde(skip)]
    pub as_containers: bool,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

impl ModelDefinition {
    /// A model that runs as one of the built-in behaviours.
    pub fn builtin(name: &str, model: BuiltinModel) -> ModelDefinition {
        ModelDefinition {
            run: Runner {
                builtin: Some(model),
                ..Runner::default()
            },
            ..ModelDefinition::named(name)
        }
    }

    /// A model with a name and nothing to run yet.
    pub fn named(name: &str) -> ModelDefinition {
        ModelDefinition {
            model_name: name.into(),
            run: Runner::default(),
            image: None,
            model_data_url: None,
            environment: BTreeMap::new(),
            execution_role_arn: None,
            created_ms: 0,
            as_containers: false,
        }
    }
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
    #[serde(default = "default_instance_type")]
    pub instance_type: String,
    #[serde(default = "default_weight")]
    pub initial_variant_weight: f64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub created_ms: u64,
}

fn default_instance_type() -> String {
    "ml.m5.xlarge".into()
}

fn default_weight() -> f64 {
    1.0
}

/// Where a container image runs: `Image` names one exactly, `Prefix` every
/// image that starts with it; it runs as `Builtin`, `Urls` or `Command`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageMapping {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(flatten)]
    pub run: Runner,
}

/// The images that run the built-in models.
pub const BUILTIN_IMAGES: [(&str, Behaviour); 3] = [
    ("guardrail/baseline", Behaviour::Baseline),
    ("guardrail/incompatible", Behaviour::Incompatible),
    ("guardrail/fixed", Behaviour::Fixed),
];

/// Environment variables a built-in image reads.
pub const LATENCY_VARIABLE: &str = "GUARDRAIL_LATENCY_MS";
pub const ERROR_RATE_VARIABLE: &str = "GUARDRAIL_ERROR_RATE";

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
    #[serde(default)]
    pub images: Vec<ImageMapping>,
}

pub const DEMO_ENDPOINT: &str = "guardrail-demo";

impl Registry {
    /// The seed notebook's demo.
    pub fn demo() -> Registry {
        let model =
            |name: &str, behaviour| ModelDefinition::builtin(name, BuiltinModel::new(behaviour));
        let config = |name: &str| EndpointConfigDefinition {
            endpoint_config_name: name.into(),
            model_name: name.into(),
            variant_name: default_variant(),
            instance_count: 3,
            instance_type: default_instance_type(),
            initial_variant_weight: default_weight(),
            created_ms: 0,
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
            images: Vec::new(),
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
        self.images.extend(extra.images);
    }

    /// Every reference resolves, and every model says how to run it.
    pub fn check(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        for model in &self.models {
            if model.run.ways() + usize::from(model.image.is_some()) != 1 {
                problems.push(format!(
                    "model {} needs exactly one of Builtin, Urls, Command or Image",
                    model.model_name
                ));
            }
            if model.run.command_lacks_port() {
                problems.push(format!(
                    "model {}: Command must contain {{port}}",
                    model.model_name
                ));
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
        for (index, mapping) in self.images.iter().enumerate() {
            let keys = usize::from(mapping.image.is_some()) + usize::from(mapping.prefix.is_some());
            if keys != 1 || mapping.run.ways() != 1 {
                problems.push(format!(
                    "Images[{index}] needs one of Image or Prefix, and one of Builtin, Urls or Command"
                ));
            }
            if mapping.run.command_lacks_port() {
                problems.push(format!("Images[{index}]: Command must contain {{port}}"));
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

    /// How to run `model`: its own definition, or what its image maps to.
    pub fn runnable(&self, model: &ModelDefinition) -> Result<ModelDefinition, String> {
        let Some(image) = &model.image else {
            return Ok(model.clone());
        };
        let mut runnable = model.clone();
        let name = image.split(':').next().unwrap_or(image);
        if let Some((_, behaviour)) = BUILTIN_IMAGES.iter().find(|(known, _)| *known == name) {
            let mut builtin = BuiltinModel::new(*behaviour);
            let number = |key: &str| {
                model
                    .environment
                    .get(key)
                    .and_then(|text| text.parse::<f64>().ok())
            };
            if let Some(latency) = number(LATENCY_VARIABLE).filter(|value| *value >= 0.0) {
                builtin.latency_ms = latency;
            }
            if let Some(rate) =
                number(ERROR_RATE_VARIABLE).filter(|value| (0.0..=1.0).contains(value))
            {
                builtin.error_rate = rate;
            }
            runnable.run.builtin = Some(builtin);
            return Ok(runnable);
        }
        let exact = self
            .images
            .iter()
            .find(|mapping| mapping.image.as_deref() == Some(image.as_str()));
        let by_prefix = self
            .images
            .iter()
            .filter(|mapping| {
                mapping
                    .prefix
                    .as_ref()
                    .is_some_and(|prefix| image.starts_with(prefix.as_str()))
            })
            .max_by_key(|mapping| mapping.prefix.as_ref().map(String::len));
        let Some(mapping) = exact.or(by_prefix) else {
            return Err(format!(
                "guardrail does not pull container images, and nothing maps {image}: use guardrail/baseline, \
                 guardrail/incompatible or guardrail/fixed, or map it in engine.json, for example \
                 {{\"Images\": [{{\"Image\": \"{image}\", \"Command\": \"python serve.py --port {{port}}\"}}]}}"
            ));
        };
        runnable.run = Runner {
            command: mapping.run.command.as_ref().map(|command| {
                command.replace(
                    "{model_data_url}",
                    model.model_data_url.as_deref().unwrap_or_default(),
                )
            }),
            ..mapping.run.clone()
        };
        Ok(runnable)
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
    fn engine_json_as_the_readme_writes_it_parses() {
        let text = r#"{
          "Models": [
            {"ModelName": "mine", "Urls": ["http://127.0.0.1:8080"]},
            {"ModelName": "container", "Command": "python serve.py --port {port}"},
            {"ModelName": "slow", "Builtin": {"Behaviour": "baseline", "LatencyMs": 40, "ErrorRate": 0.01}}
          ],
          "Images": [
            {"Prefix": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost", "Command": "python serve.py --port {port} --model {model_data_url}"},
            {"Image": "my-registry/churn:2", "Urls": ["http://127.0.0.1:8080"]}
          ]
        }"#;
        let extra: Registry = serde_json::from_str(text).expect("parses");
        assert_eq!(
            extra.models[0].run.urls.as_deref().map(<[String]>::len),
            Some(1)
        );
        assert!(extra.models[1].run.command.is_some());
        let slow = extra.models[2].run.builtin.as_ref().expect("a builtin");
        assert_eq!((slow.latency_ms, slow.error_rate), (40.0, 0.01));
        assert_eq!(extra.images[0].run.ways(), 1);
        assert_eq!(
            extra.images[1].image.as_deref(),
            Some("my-registry/churn:2")
        );
        let mut registry = Registry::demo();
        registry.merge(extra);
        assert_eq!(registry.check(), Ok(()));
        // And back: what is written is what was read.
        let again: Registry =
            serde_json::from_str(&serde_json::to_string(&registry).expect("writes"))
                .expect("reads");
        assert_eq!(again, registry);
    }

    #[test]
    fn user_definitions_are_checked() {
        let mut registry = Registry::demo();
        let mut mine = ModelDefinition::builtin("mine", BuiltinModel::new(Behaviour::Baseline));
        mine.run = Runner {
            command: Some("serve --port 8080".into()),
            ..Runner::default()
        };
        let mut config = registry.endpoint_configs[0].clone();
        config.endpoint_config_name = "mine".into();
        config.model_name = "missing".into();
        registry.merge(Registry {
            models: vec![mine],
            endpoint_configs: vec![config],
            endpoints: vec![],
            images: vec![ImageMapping {
                image: Some("a".into()),
                prefix: Some("b".into()),
                run: Runner {
                    command: Some("run".into()),
                    ..Runner::default()
                },
            }],
        });
        let problems = registry.check().expect_err("problems");
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].contains("{port}"));
        assert!(problems[1].contains("model missing"));
        assert!(problems[2].contains("Images[0] needs one of Image or Prefix"));
        assert!(problems[3].contains("Images[0]: Command must contain {port}"));
    }

    fn image_model(image: &str, environment: &[(&str, &str)]) -> ModelDefinition {
        let mut model = ModelDefinition::builtin("m", BuiltinModel::new(Behaviour::Baseline));
        model.run.builtin = None;
        model.image = Some(image.into());
        model.model_data_url = Some("s3://bucket/model.tar.gz".into());
        model.environment = environment
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect();
        model
    }

    #[test]
    fn images_resolve_to_builtins_exact_names_and_the_longest_prefix() {
        let mut registry = Registry::demo();
        let mapping = |image: Option<&str>, prefix: Option<&str>, command: &str| ImageMapping {
            image: image.map(String::from),
            prefix: prefix.map(String::from),
            run: Runner {
                command: Some(command.into()),
                ..Runner::default()
            },
        };
        registry.images = vec![
            mapping(None, Some("123.dkr.ecr"), "short {port}"),
            mapping(
                None,
                Some("123.dkr.ecr.us-east-1"),
                "long {port} {model_data_url}",
            ),
            mapping(Some("123.dkr.ecr.us-east-1/x:1"), None, "exact {port}"),
        ];
        let builtin = registry
            .runnable(&image_model(
                "guardrail/incompatible:latest",
                &[(LATENCY_VARIABLE, "40"), (ERROR_RATE_VARIABLE, "0.25")],
            ))
            .expect("built in");
        let model = builtin.run.builtin.expect("a builtin");
        assert_eq!(
            (model.behaviour, model.latency_ms, model.error_rate),
            (Behaviour::Incompatible, 40.0, 0.25)
        );
        let exact = registry
            .runnable(&image_model("123.dkr.ecr.us-east-1/x:1", &[]))
            .expect("exact");
        assert_eq!(exact.run.command.as_deref(), Some("exact {port}"));
        let prefixed = registry
            .runnable(&image_model("123.dkr.ecr.us-east-1/y:2", &[]))
            .expect("prefix");
        assert_eq!(
            prefixed.run.command.as_deref(),
            Some("long {port} s3://bucket/model.tar.gz")
        );
        let unmapped = registry
            .runnable(&image_model("public.ecr.aws/z:3", &[]))
            .expect_err("unmapped");
        assert!(
            unmapped.contains("nothing maps public.ecr.aws/z:3") && unmapped.contains("Images"),
            "{unmapped}"
        );
    }
}
