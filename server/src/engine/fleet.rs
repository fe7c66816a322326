//! Instances: built-in model servers, containers at URLs, or processes started
//! from a command, and their health checks over `GET /ping`.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use guardrail_core::event::Fleet;

use crate::engine::model::ModelServer;
use crate::engine::registry::ModelDefinition;
use crate::engine::router::{EndpointRouter, Target};

/// How long a starting instance may take to answer `/ping` when its launch
/// runs at `time_scale`, in real time: 240 s of that clock, with a real-time
/// floor (`guardrail_core::assumptions::startup_patience_real_seconds`).
pub fn startup_patience(time_scale: f64) -> Duration {
    Duration::from_secs_f64(guardrail_core::assumptions::startup_patience_real_seconds(
        time_scale,
    ))
}

/// How long a terminated container has between SIGTERM and SIGKILL, as AWS
/// documents for SageMaker's.
const CONTAINER_STOP_GRACE: Duration = Duration::from_secs(30);

/// The variable a mapped command finds the model's `ModelDataUrl` in.
pub const MODEL_DATA_VARIABLE: &str = "GUARDRAIL_MODEL_DATA_URL";

enum Handle {
    Builtin(ModelServer),
    External,
    Process(tokio::process::Child),
}

/// One running instance.
pub struct Instance {
    pub id: String,
    pub fleet: Fleet,
    /// Base URL, without a trailing slash.
    pub url: String,
    handle: Handle,
    stopped: bool,
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance")
            .field("id", &self.id)
            .field("fleet", &self.fleet)
            .field("url", &self.url)
            .finish()
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Instance {
    /// Starts instance number `index` of `model`.
    pub async fn launch(
        model: &ModelDefinition,
        index: usize,
        id: String,
        fleet: Fleet,
        seed: u64,
    ) -> Result<Instance, String> {
        let (url, handle) = if let Some(builtin) = &model.run.builtin {
            let server = ModelServer::start(builtin.clone(), seed)
                .await
                .map_err(|error| format!("cannot start model {}: {error}", model.model_name))?;
            (server.url(), Handle::Builtin(server))
        } else if let Some(urls) = model.run.urls.as_ref().filter(|urls| !urls.is_empty()) {
            (
                urls[index % urls.len()].trim_end_matches('/').to_string(),
                Handle::External,
            )
        } else if let Some(command) = &model.run.command {
            let port = free_port().map_err(|error| format!("no free port: {error}"))?;
            let line = command.replace("{port}", &port.to_string());
            // The container's environment, as SageMaker gives it, and where its
            // model data is (images are not pulled, nor model data fetched).
            // The line runs in a process group of its own beside a watcher:
            // when this guardrail is gone, even killed with SIGKILL (which
            // nothing can catch), the watcher ends the whole group within a
            // second; `stop` ends the group at once.
            let watched = format!(
                "sh -c \"$1\" & child=$!; \
                 while kill -0 {guardrail} 2>/dev/null && kill -0 $child 2>/dev/null; do sleep 1; done; \
                 kill -KILL 0",
                guardrail = std::process::id()
            );
            let child = tokio::process::Command::new("sh")
                .arg("-c")
                .arg(watched)
                .arg("guardrail-instance")
                .arg(&line)
                .process_group(0)
                .envs(&model.environment)
                .env("SAGEMAKER_BIND_TO_PORT", port.to_string())
                .env(
                    MODEL_DATA_VARIABLE,
                    model.model_data_url.as_deref().unwrap_or_default(),
                )
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .map_err(|error| format!("cannot run `{line}`: {error}"))?;
            (format!("http://127.0.0.1:{port}"), Handle::Process(child))
        } else {
            return Err(format!("model {} has nothing to run", model.model_name));
        };
        Ok(Instance {
            id,
            fleet,
            url,
            handle,
            stopped: false,
        })
    }

    /// Whether the instance is still up, as far as can be known without a request.
    pub fn is_running(&mut self) -> bool {
        if self.stopped {
            return false;
        }
        match &mut self.handle {
            Handle::Builtin(server) => server.is_running(),
            Handle::External => true,
            Handle::Process(child) => matches!(child.try_wait(), Ok(None)),
        }
    }

    /// Makes a built-in model server hang (for rehearsing failures): it
    /// accepts requests and answers none until it is stopped.
    pub fn hang(&self) -> Result<(), String> {
        match &self.handle {
            Handle::Builtin(server) => {
                server.hang();
                Ok(())
            }
            _ => Err(format!(
                "instance {} is not a built-in model server: only those can be made to hang",
                self.id
            )),
        }
    }

    /// Terminates the instance as SageMaker does once traffic has left it:
    /// a built-in model server answers the requests it holds, then ends; a
    /// command's processes get SIGTERM, and SIGKILL 30 seconds later (as
    /// AWS documents for containers). [`Instance::stop`] is a crash instead.
    pub fn terminate(mut self) {
        self.stopped = true;
        match std::mem::replace(&mut self.handle, Handle::External) {
            Handle::Builtin(server) => server.terminate(),
            Handle::External => {}
            Handle::Process(mut child) => {
                let group = child.id();
                signal_group(group, "TERM");
                tokio::spawn(async move {
                    let ended = tokio::time::timeout(CONTAINER_STOP_GRACE, child.wait()).await;
                    if ended.is_err() {
                        signal_group(group, "KILL");
                        let _ = child.start_kill();
                    }
                });
            }
        }
    }

    pub fn stop(&mut self) {
        self.stopped = true;
        match &mut self.handle {
            Handle::Builtin(server) => server.stop(),
            Handle::External => {}
            Handle::Process(child) => {
                signal_group(child.id(), "KILL");
                let _ = child.start_kill();
            }
        }
    }
}

/// Sends `signal` to a command's whole process group: the line (and whatever
/// it started) and its watcher. `sh`'s own `kill` takes a group as `-PGID`.
fn signal_group(group: Option<u32>, signal: &str) {
    if let Some(group) = group {
        let _ = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("kill -{signal} -{group}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Polls `GET {url}/ping` until it answers 200, or gives up after `patience`.
pub async fn wait_healthy(
    client: &reqwest::Client,
    url: &str,
    patience: Duration,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + patience;
    let ping = format!("{url}/ping");
    loop {
        let last = match client
            .get(&ping)
            .timeout(Duration::from_secs(2))
            .send()
            .await
        {
            Ok(response) if response.status().is_success() => return Ok(()),
            Ok(response) => format!("/ping answered {}", response.status()),
            Err(error) => format!("/ping failed: {}", error_text(&error)),
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(last);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A short, user-facing description of an HTTP client error.
pub fn error_text(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".into()
    } else if error.is_connect() {
        "connection refused".into()
    } else {
        "request failed".into()
    }
}

/// Terminates `instances`, which traffic has left, once no invocation in
/// flight can still reach them (`EndpointRouter::drained`).
pub fn terminate_when_drained(router: Arc<EndpointRouter>, instances: Vec<Instance>) {
    if instances.is_empty() {
        return;
    }
    tokio::spawn(async move {
        router.drained().await;
        for instance in instances {
            instance.terminate();
        }
    });
}

/// The router targets of `instances`, all of them, as instances of `config`.
pub fn targets(instances: &[Instance], config: &str) -> Vec<Target> {
    instances
        .iter()
        .map(|instance| Target::new(&instance.id, &instance.url, config))
        .collect()
}

/// Starts `count` instances of `model` for `config` and waits until each
/// answers `/ping`; on a failure the ones started are stopped and the reason
/// returned.
pub async fn launch_fleet(
    client: &reqwest::Client,
    model: &ModelDefinition,
    config: &str,
    count: u32,
    seed: u64,
    patience: Duration,
) -> Result<Vec<Instance>, String> {
    let mut instances = Vec::new();
    for index in 0..count {
        let id = format!("{config}-{}", index + 1);
        let instance = Instance::launch(
            model,
            index as usize,
            id.clone(),
            Fleet::Blue,
            seed ^ u64::from(index),
        )
        .await?;
        let url = instance.url.clone();
        instances.push(instance);
        wait_healthy(client, &url, patience)
            .await
            .map_err(|reason| format!("instance {id} did not become healthy: {reason}"))?;
    }
    Ok(instances)
}
