//! The router on loopback under `wrk`, side by side with two baselines on the
//! same two backends: calling a model server directly, and nginx doing the same
//! 90/10 weighted split (`split_clients`). Prints a Markdown table.
//!
//! Run: `scripts/setup.sh --bench && cargo run -p guardrail-tests --release --bin router-bench`
//! Options (environment): BENCH_SECONDS (default 10), BENCH_CONNECTIONS (64),
//! BENCH_ROUTER_THREADS (2, as nginx's two worker processes).
//!
//! Besides throughput and latency it reports what each proxy's own threads
//! or processes spent of CPU (user + system, from `/proc`) per request: on a
//! machine whose speed drifts between runs, the steadier of the two measures
//! of what the proxy costs.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use guardrail_server::engine::clock::ApiClock;
use guardrail_server::engine::model::{Behaviour, BuiltinModel, ModelServer};
use guardrail_server::engine::router::{EndpointRouter, Invocations, Routing, Target};
use guardrail_tests::{env_number, scratch_dir};

struct Result_ {
    name: &'static str,
    requests_per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    requests: u64,
    /// CPU time the proxy's own threads or processes spent (user + system),
    /// per request, in microseconds; `None` for the direct target.
    proxy_cpu_us: Option<f64>,
}

/// Clock ticks of CPU time (user + system) that the tasks in `stat_files`
/// (`/proc/…/stat` of threads or processes) have spent.
fn cpu_ticks(stat_files: &[std::path::PathBuf]) -> u64 {
    stat_files
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .filter_map(|stat| {
            // Fields after the command's closing parenthesis: state is the
            // 3rd of the line, utime the 14th and stime the 15th.
            let rest = stat.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        })
        .sum()
}

/// This process's threads named `http-…`: the router's.
fn router_threads() -> Vec<std::path::PathBuf> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .filter_map(|task| task.ok())
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|name| name.starts_with("http-"))
        })
        .map(|task| task.path().join("stat"))
        .collect()
}

/// nginx's processes: the master `pid` and its workers.
fn nginx_processes(pid: u32) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok())
        .filter(|entry| {
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            let parent = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
            entry.file_name().to_str() == Some(&pid.to_string()) || parent == Some(pid)
        })
        .map(|entry| entry.path().join("stat"))
        .collect()
}

/// Clock ticks per second, as `/proc/…/stat` counts them.
fn ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|output| String::from_utf8_lossy(&output.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// Parses wrk's "Requests/sec:" and the 50 % / 99 % latency lines.
fn parse_wrk(name: &'static str, output: &str) -> Result<Result_> {
    let field = |prefix: &str| -> Option<String> {
        output
            .lines()
            .map(str::trim)
            .find(|line| line.starts_with(prefix))
            .and_then(|line| line.split_whitespace().nth(1).map(str::to_string))
    };
    let duration_ms = |text: String| -> Option<f64> {
        let (number, unit) = text.split_at(text.find(|c: char| c.is_ascii_alphabetic())?);
        let value: f64 = number.parse().ok()?;
        Some(match unit {
            "us" => value / 1_000.0,
            "ms" => value,
            "s" => value * 1_000.0,
            _ => return None,
        })
    };
    let requests = output
        .lines()
        .find(|line| line.contains(" requests in "))
        .and_then(|line| line.split_whitespace().next()?.parse().ok())
        .context("no request count in wrk's output")?;
    Ok(Result_ {
        name,
        requests,
        proxy_cpu_us: None,
        requests_per_second: field("Requests/sec:")
            .and_then(|text| text.parse().ok())
            .context("no Requests/sec in wrk's output")?,
        p50_ms: field("50%").and_then(duration_ms).context("no p50")?,
        p99_ms: field("99%").and_then(duration_ms).context("no p99")?,
    })
}

/// wrk against `url`; with `proxy`, the `/proc/…/stat` files of the proxy's
/// threads or processes, whose CPU time per request is then measured.
fn wrk(
    name: &'static str,
    url: &str,
    script: &Path,
    proxy: Option<&[std::path::PathBuf]>,
) -> Result<Result_> {
    let before = proxy.map(cpu_ticks);
    let seconds = env_number("BENCH_SECONDS", 10);
    let connections = env_number("BENCH_CONNECTIONS", 64);
    let output = Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
            "--latency",
            "-s",
        ])
        .arg(script)
        .arg(url)
        .output()
        .context("cannot run wrk: install it with scripts/setup.sh --bench")?;
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    if !output.status.success() {
        bail!(
            "wrk failed: {text}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    if text.contains("Non-2xx") {
        bail!("{name}: some requests failed:\n{text}");
    }
    let mut result = parse_wrk(name, &text)?;
    if let (Some(proxy), Some(before)) = (proxy, before) {
        let spent = cpu_ticks(proxy).saturating_sub(before) as f64 / ticks_per_second();
        result.proxy_cpu_us = Some(spent * 1e6 / result.requests.max(1) as f64);
    }
    Ok(result)
}

fn start_nginx(dir: &Path, port: u16, blue: SocketAddr, green: SocketAddr) -> Result<Child> {
    let config = format!(
        "worker_processes 2;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  upstream blue {{ server {blue}; keepalive 128; }}
  upstream green {{ server {green}; keepalive 128; }}
  split_clients \"${{request_id}}\" $pool {{ 10% green; * blue; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://$pool;
      proxy_http_version 1.1;
      proxy_set_header Connection \"\";
    }}
  }}
}}
",
        dir = dir.display()
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, config)?;
    let child = Command::new("nginx")
        .arg("-c")
        .arg(&path)
        .arg("-p")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start nginx: install it with scripts/setup.sh --bench")?;
    Ok(child)
}

async fn wait_listening(port: u16) -> Result<()> {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    bail!("nothing listens on {port}")
}

fn runtime(name: &str) -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(name)
        .enable_all()
        .build()?)
}

/// The backends get a runtime of two threads, and the router two HTTP threads,
/// as nginx gets two worker processes, so that every target competes for the
/// same two cores with the same number of threads.
fn main() -> Result<()> {
    let backends = runtime("backends")?;
    let trivial = BuiltinModel {
        behaviour: Behaviour::Baseline,
        latency_ms: 0.0,
        error_rate: 0.0,
    };
    let (blue, green) = backends.block_on(async {
        Ok::<_, std::io::Error>((
            ModelServer::start(trivial.clone(), 1).await?,
            ModelServer::start(trivial, 2).await?,
        ))
    })?;
    runtime("bench")?.block_on(bench(&blue, &green))
}

async fn bench(blue: &ModelServer, green: &ModelServer) -> Result<()> {
    let router = Arc::new(EndpointRouter::new(
        "bench",
        "AllTraffic",
        Routing {
            blue: vec![Target::new("blue", &blue.url(), "blue")],
            green: vec![Target::new("green", &green.url(), "green")],
            green_bp: 1_000,
            clock: None,
        },
        ApiClock::start(1.0),
    ));
    // As the engine finds an endpoint's router: by name, in a shared map.
    let endpoints = Arc::new(RwLock::new(HashMap::from([(
        "bench".to_string(),
        router.clone(),
    )])));
    let invocations = Invocations::new(
        move |name| {
            endpoints
                .read()
                .ok()
                .and_then(|endpoints| endpoints.get(name).cloned())
        },
        || None,
    );
    // As `guardrail serve` serves it: invocations ahead of axum's router.
    let app = guardrail_server::web::Served {
        app: invocations.routes(),
        invocations: Some(invocations),
    };
    // As `guardrail serve` runs it: one thread per core.
    let router_port = guardrail_server::web::spawn_server_threads(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        env_number("BENCH_ROUTER_THREADS", 2) as usize,
        app,
    )?;

    let dir = scratch_dir("bench")?;
    let script = dir.join("post.lua");
    std::fs::write(
        &script,
        "wrk.method = \"POST\"\nwrk.body = \"186,0.1,137.8,97,187.7,118\"\nwrk.headers[\"Content-Type\"] = \"text/csv\"\n",
    )?;
    let nginx_port = guardrail_tests::free_port()?;
    let mut nginx = start_nginx(&dir, nginx_port, blue.address, green.address)?;
    wait_listening(nginx_port).await?;
    wait_listening(router_port).await?;

    let direct_url = format!("{}/invocations", blue.url());
    let router_url = format!("http://127.0.0.1:{router_port}/endpoints/bench/invocations");
    let nginx_url = format!("http://127.0.0.1:{nginx_port}/invocations");
    let router_tasks = router_threads();
    // The master and its two workers, once it has forked them.
    let mut nginx_tasks = nginx_processes(nginx.id());
    for _ in 0..100 {
        if nginx_tasks.len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        nginx_tasks = nginx_processes(nginx.id());
    }
    if router_tasks.is_empty() || nginx_tasks.len() < 3 {
        bail!("cannot find the router's threads or nginx's workers in /proc");
    }
    let results = tokio::task::spawn_blocking(move || -> Result<Vec<Result_>> {
        Ok(vec![
            wrk("direct to one model server", &direct_url, &script, None)?,
            wrk(
                "guardrail router, 90/10",
                &router_url,
                &script,
                Some(&router_tasks),
            )?,
            wrk(
                "nginx split_clients, 90/10",
                &nginx_url,
                &script,
                Some(&nginx_tasks),
            )?,
        ])
    })
    .await??;
    // SIGKILL would orphan nginx's workers: ask the master to stop them.
    let _ = Command::new("nginx")
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-p")
        .arg(&dir)
        .args(["-s", "stop"])
        .status();
    let _ = nginx.wait();

    let total = router.metrics.total();
    let direct = &results[0];
    println!("| target | requests/s | p50 ms | p99 ms | p50 added ms | p99 added ms | proxy CPU µs per request |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for result in &results {
        println!(
            "| {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {} |",
            result.name,
            result.requests_per_second,
            result.p50_ms,
            result.p99_ms,
            result.p50_ms - direct.p50_ms,
            result.p99_ms - direct.p99_ms,
            result
                .proxy_cpu_us
                .map(|us| format!("{us:.1}"))
                .unwrap_or_default()
        );
    }
    println!("\nthe router recorded {total} invocations");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
