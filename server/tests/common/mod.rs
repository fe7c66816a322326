//! Helpers shared by the tests that use AWS's own tools. Each test binary
//! uses some of them.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// The workspace root.
pub fn workspace() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// A program of the Python virtual environment `scripts/setup.sh --python`
/// makes (`GUARDRAIL_VENV` overrides where it is). These tests need AWS's own
/// tools: without them they fail and say how to install them.
pub fn venv_bin(name: &str) -> PathBuf {
    let venv = std::env::var_os("GUARDRAIL_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join(".venv"));
    let path = venv.join("bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `scripts/setup.sh --python` (scripts/test.sh does) to install botocore, \
         boto3, the AWS CLI and cfn-lint",
        path.display()
    );
    path
}

/// Runs a Python program in the venv with `input` on standard input.
pub fn python(program: &str, input: &str) -> Output {
    run(
        Command::new(venv_bin("python")).arg("-c").arg(program),
        input,
    )
}

/// Runs `command` with `input` on standard input and waits for it.
pub fn run(command: &mut Command, input: &str) -> Output {
    use std::io::Write;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the program starts");
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes()).expect("write stdin");
    }
    child.wait_with_output().expect("the program finishes")
}

/// `guardrail serve`'s application with a local engine on a free loopback
/// port: the demo endpoint (without a load generator), an in-memory store, the
/// API clock at `time_scale`, and launches through the API that take at least
/// `provisioning_seconds` of it.
pub struct LocalAws {
    pub url: String,
    pub engine: guardrail_server::engine::Engine,
    task: tokio::task::JoinHandle<()>,
}

impl LocalAws {
    pub async fn start(time_scale: f64, provisioning_seconds: u32) -> LocalAws {
        Self::with_registry(
            guardrail_server::engine::registry::Registry::demo(),
            time_scale,
            provisioning_seconds,
        )
        .await
    }

    /// The same, on `registry` (the demo and what an `engine.json` would add).
    pub async fn with_registry(
        registry: guardrail_server::engine::registry::Registry,
        time_scale: f64,
        provisioning_seconds: u32,
    ) -> LocalAws {
        use guardrail_server::engine::{Engine, EngineOptions};
        let engine = Engine::start(
            registry,
            guardrail_server::store::Store::in_memory().expect("store"),
            EngineOptions {
                load_rps: 0.0,
                seed: 11,
                api_time_scale: time_scale,
                api_provisioning_seconds: provisioning_seconds,
            },
        )
        .await
        .expect("the engine starts");
        // No planner is needed: the AWS APIs do not serve files.
        let dist = std::env::temp_dir().join("guardrail-tests-no-planner");
        let app = guardrail_server::web::app(&dist, engine.clone());
        Self::serve(engine, app).await
    }

    /// Serves `app`, `guardrail serve`'s application for `engine` (with
    /// whatever layers a test adds; invocations are answered ahead of them,
    /// as `guardrail serve` answers them), on a free loopback port.
    pub async fn serve(engine: guardrail_server::engine::Engine, app: axum::Router) -> LocalAws {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let served = guardrail_server::web::Served {
            app,
            invocations: Some(engine.invocations()),
        };
        let task = tokio::spawn(async move {
            let _ = guardrail_server::web::serve_http1(listener, served).await;
        });
        LocalAws { url, engine, task }
    }
}

impl Drop for LocalAws {
    fn drop(&mut self) {
        self.task.abort();
        let engine = self.engine.clone();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move { engine.shutdown().await });
        }
    }
}

/// The environment AWS's tools need to talk to `url` and nothing else.
pub fn aws_environment(url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", url.to_string()),
        ("AWS_ACCESS_KEY_ID", "AKIDLOCAL".into()),
        ("AWS_SECRET_ACCESS_KEY", "local-secret".into()),
        ("AWS_DEFAULT_REGION", "us-east-1".into()),
        ("AWS_CONFIG_FILE", "/dev/null".into()),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ]
}

/// An empty directory of this test process, `guardrail-{test}-{label}-PID`
/// under the temporary directory.
pub fn scratch_dir(test: &str, label: &str) -> PathBuf {
    let directory =
        std::env::temp_dir().join(format!("guardrail-{test}-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir_all(&directory).expect("a scratch directory");
    directory
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

/// A `guardrail serve` process, killed (`kill -9`) and reaped when dropped.
pub struct ServeProcess {
    pub child: std::process::Child,
    pub base: String,
}

/// The end of a log: what a test that failed shows of it.
fn tail(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

impl ServeProcess {
    /// Starts `guardrail serve --port PORT` with `configure`'s arguments and
    /// environment, and waits until `/healthz` answers. Its log goes to a
    /// file, which a failure to answer shows.
    pub async fn start(
        port: u16,
        configure: impl FnOnce(&mut Command) -> &mut Command,
    ) -> ServeProcess {
        static STARTED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let log = std::env::temp_dir().join(format!(
            "guardrail-serve-{}-{port}-{}.log",
            std::process::id(),
            STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let stderr = std::fs::File::create(&log).expect("a log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_guardrail"));
        command
            .args(["serve", "--port", &port.to_string()])
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdout(Stdio::null())
            .stderr(stderr);
        let child = configure(&mut command)
            .spawn()
            .expect("guardrail serve starts");
        let mut server = ServeProcess {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        let started = std::time::Instant::now();
        while !client
            .get(format!("{}/healthz", server.base))
            .send()
            .await
            .is_ok_and(|response| response.status().is_success())
        {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!(
                    "guardrail serve ended ({status}) before it answered; its log:\n{}",
                    tail(&log)
                );
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "guardrail serve should answer within 30 s; its log:\n{}",
                tail(&log)
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let _ = std::fs::remove_file(&log);
        server
    }

    /// `kill -9`, and reaped, so that nothing of the process is left.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What `/api/run_events` streams of a run, as text (one JSON line each).
pub async fn run_record_text(base: &str, run: &str) -> String {
    reqwest::Client::new()
        .post(format!("{base}/api/run_events"))
        .form(&[("run_id", run)])
        .send()
        .await
        .expect("run_events")
        .text()
        .await
        .expect("the record")
}

/// A finished run's whole record from `/api/run_events`: the text, and its
/// events (the stream ends when the run does).
pub async fn run_record(base: &str, run: &str) -> (String, Vec<guardrail_core::event::Event>) {
    let text = run_record_text(base, run).await;
    let events = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("an event per line"))
        .collect();
    (text, events)
}
