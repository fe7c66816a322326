//! The `guardrail` binary from the outside: exit codes, JSON shapes, messages.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_guardrail");
const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");

fn guardrail(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("guardrail starts");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write stdin");
    } else {
        drop(child.stdin.take());
    }
    child.wait_with_output().expect("guardrail finishes")
}

fn example(name: &str) -> String {
    format!("{EXAMPLES}/{name}")
}

fn stdout_json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "stdout is not JSON ({error}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn check_accepts_every_example() {
    for name in [
        "notebook-canary.json",
        "notebook-linear.json",
        "all-at-once.json",
        "rolling.json",
        "linear-2h-10-alarms.json",
        "team-guardrails.json",
    ] {
        let output = guardrail(&["check", &example(name)], None);
        assert_eq!(output.status.code(), Some(0), "{name}: {}", stderr(&output));
    }
}

#[test]
fn check_lists_every_problem_as_json_and_exits_1() {
    let mut plan: Value = serde_json::from_str(
        &std::fs::read_to_string(example("notebook-canary.json")).expect("read"),
    )
    .expect("json");
    plan["InstanceCount"] = Value::from(0);
    plan["Alarms"][0]["Period"] = Value::from(45);
    let output = guardrail(&["check", "-", "--json"], Some(&plan.to_string()));
    assert_eq!(output.status.code(), Some(1));
    let report = stdout_json(&output);
    let errors = report["errors"].as_array().expect("errors");
    let paths: Vec<&str> = errors
        .iter()
        .map(|error| error["path"].as_str().expect("path"))
        .collect();
    assert_eq!(paths, ["InstanceCount", "Alarms[0].Period"]);
    for error in errors {
        assert!(
            error["code"].is_string() && error["message"].is_string(),
            "{error}"
        );
    }
    assert!(report["warnings"].is_array());
}

#[test]
fn check_explains_problems_in_words() {
    let output = guardrail(&["check", &example("notebook-canary.json")], None);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("valid, 0 error(s), 1 warning(s)"), "{text}");
    assert!(text.contains("alarm_blind_in_phase"), "{text}");
}

#[test]
fn text_that_is_not_a_plan_gets_one_line_naming_the_position() {
    for (input, expected) in [
        ("{\n  \"InstanceCount\": \"three\"\n}", "line 2, column"),
        ("{\"EndpointName\": ", "line 1, column"),
        ("[1, 2]", "line 1, column"),
    ] {
        let output = guardrail(&["check", "-"], Some(input));
        assert_eq!(output.status.code(), Some(2), "{input}");
        let message = stderr(&output);
        assert_eq!(message.trim().lines().count(), 1, "{message}");
        assert!(message.contains(expected), "{message}");
        assert!(!message.contains("panicked"), "{message}");
    }
    let output = guardrail(&["check", "/nonexistent/plan.json"], None);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("cannot read /nonexistent/plan.json"));
}

#[test]
fn schedule_json_has_the_documented_shape() {
    let output = guardrail(
        &["schedule", &example("notebook-canary.json"), "--json"],
        None,
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let schedule = stdout_json(&output);
    assert_eq!(schedule["total_seconds"], 780);
    let steps = schedule["steps"].as_array().expect("steps");
    let canary = &steps[1];
    assert_eq!(canary["phase"], "canary_bake");
    assert_eq!(canary["start_seconds"], 300);
    assert_eq!(canary["end_seconds"], 600);
    assert_eq!(canary["green_instances"], 1);
    assert_eq!(canary["blue_instances"], 3);
    assert_eq!(canary["green_traffic_percent"], 25.0);
}

#[test]
fn simulate_reports_outcome_rollback_and_blast_radius() {
    let output = guardrail(
        &["simulate", &example("notebook-canary.json"), "--json"],
        None,
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let result = stdout_json(&output);
    assert_eq!(result["outcome"], "rolled_back");
    assert_eq!(result["rollback_at_seconds"], 660.0);
    assert_eq!(result["rollback_phase"], "final_bake");
    let to_green = result["requests_to_green"].as_u64().expect("count");
    assert!(to_green > 0);
    assert_eq!(
        result["failed_requests_from_green"].as_u64(),
        Some(to_green)
    );

    let output = guardrail(
        &[
            "simulate",
            &example("notebook-canary.json"),
            "--json",
            "--runs",
            "50",
        ],
        None,
    );
    let result = stdout_json(&output);
    assert_eq!(result["detection"]["runs"], 50);
    assert_eq!(result["detection"]["probability"], 1.0);
    assert_eq!(result["detection_curve"].as_array().map(Vec::len), Some(12));
}

#[test]
fn a_plan_whose_rollback_alarm_is_metric_math_is_checked_linted_and_simulated() {
    let team = example("team-guardrails.json");
    let output = guardrail(&["check", &team, "--json"], None);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report = stdout_json(&output);
    assert_eq!(report["errors"], serde_json::json!([]));
    let codes: Vec<&str> = report["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .filter_map(|warning| warning["code"].as_str())
        .collect();
    assert!(codes.contains(&"team_metric_publisher"), "{codes:?}");
    let output = guardrail(
        &["simulate", &team, "--json", "--runs", "40", "--each-alarm"],
        None,
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let result = stdout_json(&output);
    // The 10 s client rate sees the canary first: 20 s after green's first request.
    assert_eq!(result["rollback_phase"], "canary_bake", "{result}");
    assert_eq!(result["time_to_rollback_seconds"], 20.0, "{result}");
    let each = result["each_alarm"].as_array().expect("each alarm");
    let caught: Vec<(&str, u64, u64)> = each
        .iter()
        .map(|alone| {
            (
                alone["alarm"].as_str().unwrap_or_default(),
                alone["detection"]["detected"].as_u64().unwrap_or(0),
                alone["detection"]["detected_early"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(caught.len(), 5, "{caught:?}");
    // The endpoint-wide 5XX alarm only in the final bake; the new-fleet
    // rate (metric math) in the canary every time.
    assert_eq!(caught[0], ("TestAlarm-5XXErrors-guardrail-demo", 40, 0));
    assert_eq!(caught[2], ("ErrorRate-NewFleet-guardrail-demo", 40, 40));
    // A math expression CloudWatch has but guardrail does not evaluate is
    // refused by name, at its field, and the plan is invalid (exit 1).
    let mut plan: Value =
        serde_json::from_str(&std::fs::read_to_string(&team).expect("the example")).expect("JSON");
    plan["Alarms"][2]["Metrics"][2]["Expression"] = serde_json::json!("RATE(errors)");
    let output = guardrail(&["check", "-", "--json"], Some(&plan.to_string()));
    assert_eq!(output.status.code(), Some(1));
    let report = stdout_json(&output);
    assert_eq!(
        report["errors"][0]["path"],
        "Alarms[2].Metrics[2].Expression"
    );
    assert!(report["errors"][0]["message"]
        .as_str()
        .is_some_and(|message| message.contains("RATE is a CloudWatch function")));
}

#[test]
fn the_same_seed_simulates_the_same_run() {
    let args = [
        "simulate",
        &example("notebook-linear.json"),
        "--json",
        "--seed",
        "7",
    ];
    let first = guardrail(&args, None);
    let second = guardrail(&args, None);
    assert_eq!(first.stdout, second.stdout);
}

#[test]
fn export_writes_every_format() {
    for format in [
        "deployment-config",
        "cli",
        "cloudformation",
        "terraform",
        "boto3",
    ] {
        for name in ["notebook-canary.json", "rolling.json"] {
            let output = guardrail(&["export", &example(name), "--format", format], None);
            assert_eq!(
                output.status.code(),
                Some(0),
                "{format} {name}: {}",
                stderr(&output)
            );
            assert!(!output.stdout.is_empty());
        }
    }
    let output = guardrail(
        &[
            "export",
            &example("notebook-canary.json"),
            "--format",
            "deployment-config",
        ],
        None,
    );
    let config = stdout_json(&output);
    assert_eq!(
        config["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"],
        "CANARY"
    );
}

#[test]
fn a_link_round_trips_and_a_broken_one_is_refused() {
    let output = guardrail(&["link", &example("notebook-canary.json")], None);
    assert_eq!(output.status.code(), Some(0));
    let link = String::from_utf8(output.stdout)
        .expect("utf8")
        .trim()
        .to_string();
    assert!(link.starts_with("http://127.0.0.1:3000/#p=1."), "{link}");
    assert!(link.len() < 650, "{} characters", link.len());

    let decoded = guardrail(&["link", "--decode", &link], None);
    assert_eq!(decoded.status.code(), Some(0), "{}", stderr(&decoded));
    let original = guardrail_core::Plan::from_json(
        &std::fs::read_to_string(example("notebook-canary.json")).expect("read"),
    )
    .expect("plan");
    let restored = guardrail_core::Plan::from_json(&String::from_utf8_lossy(&decoded.stdout))
        .expect("decoded plan");
    assert_eq!(restored, original);

    let broken = guardrail(&["link", "--decode", &link[..link.len() - 20]], None);
    assert_eq!(broken.status.code(), Some(2));
    assert!(stderr(&broken).contains("damaged"), "{}", stderr(&broken));
}

/// A data directory of its own for each test that records runs.
fn data_dir(label: &str) -> String {
    let dir = std::env::temp_dir().join(format!("gr-cli-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir.display().to_string()
}

#[test]
fn run_rolls_back_the_incompatible_model_and_says_which_alarm_and_why() {
    let data = data_dir("run");
    // The notebook's plan, with its latency alarm raised to 1 s: this test is
    // about errors, and a busy machine can push a short period's average latency
    // past the notebook's 10 ms.
    let mut plan: Value = serde_json::from_str(
        &std::fs::read_to_string(example("notebook-canary.json")).expect("read"),
    )
    .expect("json");
    plan["Alarms"][1]["Threshold"] = Value::from(1_000_000);
    let output = guardrail(
        &[
            "run",
            "-",
            "--time-scale",
            "240",
            "--in-process",
            "--rps",
            "100",
            "--data-dir",
            &data,
        ],
        Some(&plan.to_string()),
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains("rolled back during the final bake")
            && message.contains("TestAlarm-5XXErrors-guardrail-demo")
            && message.contains("greater than or equal to 1"),
        "{message}"
    );
    let progress = String::from_utf8_lossy(&output.stdout);
    assert!(
        progress.contains("| canary bake | green 25% |"),
        "{progress}"
    );

    let runs = guardrail(&["runs", "--json", "--data-dir", &data], None);
    let runs = stdout_json(&runs);
    let run = &runs[0];
    assert_eq!(run["status"], "rolled_back");
    let id = run["id"].as_str().expect("id").to_string();

    let events = guardrail(&["events", &id, "--json", "--data-dir", &data], None);
    let lines: Vec<Value> = String::from_utf8_lossy(&events.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("json line"))
        .collect();
    assert_eq!(lines[0]["type"], "plan_accepted");
    assert_eq!(
        lines.last().map(|event| event["type"].clone()),
        Some(Value::from("finished"))
    );
    let sequence: Vec<u64> = lines
        .iter()
        .map(|event| event["seq"].as_u64().expect("seq"))
        .collect();
    assert_eq!(sequence, (1..=lines.len() as u64).collect::<Vec<_>>());

    let missing = guardrail(&["events", "no-such-run", "--data-dir", &data], None);
    assert_eq!(missing.status.code(), Some(3));
    assert!(stderr(&missing).contains("no run no-such-run"));

    // The review: a self-contained link, and the same summary from the store
    // and from the link alone.
    let linked = guardrail(&["link", "--run", &id, "--data-dir", &data], None);
    assert_eq!(code(&linked), Some(0), "{}", stderr(&linked));
    let link = String::from_utf8_lossy(&linked.stdout).trim().to_string();
    assert!(link.contains("&r=1."), "{link}");
    assert!(
        stderr(&linked).contains("self-contained"),
        "{}",
        stderr(&linked)
    );
    let from_store = guardrail(&["summary", &id, "--data-dir", &data], None);
    assert_eq!(code(&from_store), Some(0), "{}", stderr(&from_store));
    let from_store = String::from_utf8_lossy(&from_store.stdout).into_owned();
    assert!(from_store.contains("**rolled back**"), "{from_store}");
    assert!(
        from_store.contains("| `TestAlarm-5XXErrors-guardrail-demo` | Average of Invocation5XXErrors >= 1, 60 s, 1 of 1 | **ALARM** at"),
        "{from_store}"
    );
    assert!(
        from_store.contains(&format!("/runs/{id}/timeline.svg)")),
        "{from_store}"
    );
    assert!(
        from_store.contains(&format!("`guardrail events {id} --json`")),
        "{from_store}"
    );
    let elsewhere = data_dir("summary-elsewhere");
    let from_link = guardrail(&["summary", &link, "--data-dir", &elsewhere], None);
    assert_eq!(code(&from_link), Some(0), "{}", stderr(&from_link));
    let from_link = String::from_utf8_lossy(&from_link.stdout).into_owned();
    let table = |text: &str| text.split("\n\n").take(3).collect::<Vec<_>>().join("\n\n");
    assert_eq!(table(&from_link), table(&from_store));
    assert!(from_link.contains("/timeline.svg?r=1."), "{from_link}");
    let not_a_run = guardrail(
        &["summary", "https://h/#p=1.AAAA", "--data-dir", &elsewhere],
        None,
    );
    assert_eq!(code(&not_a_run), Some(2), "{}", stderr(&not_a_run));

    // Re-judged under its own alarms, then under a tighter one on green only.
    let own = guardrail(
        &[
            "retro",
            &id,
            "--alarms",
            &example("notebook-canary.json"),
            "--data-dir",
            &data,
        ],
        None,
    );
    assert_eq!(code(&own), Some(0), "{}", stderr(&own));
    let own = String::from_utf8_lossy(&own.stdout).into_owned();
    assert!(
        own.contains("would have rolled back at") && own.contains("when the run did"),
        "{own}"
    );
    let tighter = serde_json::json!([{
        "AlarmName": "green-5xx",
        "Namespace": "AWS/SageMaker",
        "MetricName": "Invocation5XXErrors",
        "Dimensions": [
            {"Name": "EndpointName", "Value": "guardrail-demo"},
            {"Name": "VariantName", "Value": "AllTraffic"},
            {"Name": "EndpointConfigName", "Value": "incompatible"}
        ],
        "Statistic": "Average", "Period": 60, "EvaluationPeriods": 1,
        "Threshold": 0.1, "ComparisonOperator": "GreaterThanOrEqualToThreshold"
    }]);
    let retro = guardrail(
        &["retro", &id, "--alarms", "-", "--json", "--data-dir", &data],
        Some(&tighter.to_string()),
    );
    assert_eq!(code(&retro), Some(0), "{}", stderr(&retro));
    let retro = stdout_json(&retro);
    assert_eq!(retro["rollback_phase"]["phase"], "canary_bake", "{retro}");
    assert_eq!(retro["rollback_alarm"], "green-5xx", "{retro}");
    let bad = guardrail(
        &["retro", &id, "--alarms", "-", "--data-dir", &data],
        Some("[{}]"),
    );
    assert_eq!(code(&bad), Some(2), "{}", stderr(&bad));
    assert!(stderr(&bad).contains("Alarms[0]"), "{}", stderr(&bad));

    // The canary judge re-judges the run. The default looks every 10 s,
    // finer than the 60 s the run recorded: refused, saying so.
    let finer = guardrail(&["judge", &id, "--data-dir", &data], None);
    assert_eq!(code(&finer), Some(2), "{}", stderr(&finer));
    assert!(stderr(&finer).contains("every 60 s"), "{}", stderr(&finer));
    // Every 60 s on 5XX alone, it fails the broken green at its first look
    // with a score. At 240× the canary's bake lasts little over a second of
    // the load generator's time, and a machine busy with other tests sends
    // green fewer than the default 50 requests: judge from 5.
    let judge = serde_json::json!({"Judge": {
        "Metrics": [{"MetricName": "Invocation5XXErrors", "Critical": true, "MinimumSamples": 5}],
        "PeriodSeconds": 60
    }});
    let judged = guardrail(
        &["judge", &id, "--judge", "-", "--json", "--data-dir", &data],
        Some(&judge.to_string()),
    );
    assert_eq!(code(&judged), Some(0), "{}", stderr(&judged));
    let judged = stdout_json(&judged);
    let periods = judged["periods"].as_array().expect("periods");
    let first = periods
        .iter()
        .find(|look| !look["judgement"]["score"].is_null())
        .expect("a score");
    assert_eq!(first["judgement"]["score"], 0.0, "{judged}");
    let errors = &first["judgement"]["metrics"][0];
    assert_eq!(errors["class"], "High", "{judged}");
    assert_eq!(errors["evidence"]["green"], 1.0, "{judged}");
    assert_eq!(errors["evidence"]["blue"], 0.0, "{judged}");
    assert_eq!(judged["failed_at_ms"], first["at_ms"], "{judged}");
    let text = guardrail(
        &["judge", &id, "--judge", "-", "--data-dir", &data],
        Some(&judge.to_string()),
    );
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(text.contains("Invocation5XXErrors High"), "{text}");
    assert!(text.contains("the judge fails green at"), "{text}");
    let unknown = guardrail(
        &["judge", &id, "--judge", "-", "--data-dir", &data],
        Some(r#"{"Metrics": [{"MetricName": "CPUUtilization"}]}"#),
    );
    assert_eq!(code(&unknown), Some(1), "{}", stderr(&unknown));
    assert!(
        stderr(&unknown).contains("Judge.Metrics[0].MetricName"),
        "{}",
        stderr(&unknown)
    );
    let _ = std::fs::remove_dir_all(&data);
}

/// A `guardrail serve` on a free loopback port, stopped when dropped.
struct Server {
    child: std::process::Child,
    url: String,
    data: String,
}

impl Server {
    fn start(label: &str) -> Server {
        Server::start_with(label, &["--rps", "0"])
    }

    /// A server with `options` (which must include `--rps`).
    fn start_with(label: &str, options: &[&str]) -> Server {
        Server::spawn(data_dir(label), options, None)
    }

    /// A server keeping its store in `data`, whose SageMaker backend talks to
    /// the AWS APIs at `aws` if given.
    fn spawn(data: String, options: &[&str], aws: Option<&str>) -> Server {
        let dist = format!("{data}-dist");
        std::fs::create_dir_all(&dist).expect("dist");
        std::fs::write(format!("{dist}/index.html"), "<html></html>").expect("index");
        let log = format!("{data}-serve.log");
        // A free port can be taken by another process (a model server of a
        // test running beside this one) before serve binds it: serve then
        // exits with code 4, and another port is tried.
        for _ in 0..3 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|listener| listener.local_addr())
                .expect("a free port")
                .port();
            let mut command = Command::new(BIN);
            command
                .args(["serve", "--port", &port.to_string()])
                .args(options)
                .args(["--data-dir", &data, "--dist", &dist])
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).expect("a log file"));
            if let Some(aws) = aws {
                rehearsal_env(&mut command, aws);
            }
            let mut child = command.spawn().expect("serve starts");
            // Wait until the port answers: start-up launches three model
            // servers, which takes a while when every other test is starting
            // processes too. A server that exits or never answers fails here,
            // with its log, rather than leaving a later command to find
            // nothing listening (`guardrail run --server` would quietly run
            // in its own process instead).
            let answered = eventually("guardrail serve to answer", || {
                if let Ok(Some(status)) = child.try_wait() {
                    assert_eq!(
                        status.code(),
                        Some(4),
                        "guardrail serve exited: {}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    );
                    return Some(false);
                }
                std::net::TcpStream::connect(("127.0.0.1", port))
                    .ok()
                    .map(|_| true)
            });
            if answered {
                let url = format!("http://127.0.0.1:{port}");
                return Server { child, url, data };
            }
        }
        panic!(
            "guardrail serve found no free port in three tries: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
}

/// The environment a user's shell gives the AWS SDK to rehearse against
/// `guardrail serve` at `url`.
fn rehearsal_env<'a>(command: &'a mut Command, url: &str) -> &'a mut Command {
    command
        .env("AWS_ENDPOINT_URL", url)
        .env("AWS_ACCESS_KEY_ID", "AKIDLOCAL")
        .env("AWS_SECRET_ACCESS_KEY", "cli-test-secret")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data);
        let _ = std::fs::remove_dir_all(format!("{}-dist", self.data));
        let _ = std::fs::remove_file(format!("{}-serve.log", self.data));
    }
}

fn code(output: &Output) -> Option<i32> {
    output.status.code()
}

#[test]
fn exit_codes_mean_what_the_readme_says() {
    let canary = example("notebook-canary.json");
    // 0: success.
    assert_eq!(code(&guardrail(&["check", &canary], None)), Some(0));
    // 1: the plan is invalid.
    let invalid = r#"{"EndpointName": "e", "EndpointConfigName": "c", "InstanceCount": 0, "InstanceType": "ml.m5.large"}"#;
    assert_eq!(code(&guardrail(&["check", "-"], Some(invalid))), Some(1));
    // 2: the input cannot be read, is not a plan, or an argument is out of range.
    assert_eq!(
        code(&guardrail(&["check", "/no/such/plan.json"], None)),
        Some(2)
    );
    assert_eq!(code(&guardrail(&["check", "-"], Some("not json"))), Some(2));
    let too_many = guardrail(&["simulate", &canary, "--runs", "4000000000"], None);
    assert_eq!(code(&too_many), Some(2), "{}", stderr(&too_many));
    assert!(
        stderr(&too_many).contains("at most 100000"),
        "{}",
        stderr(&too_many)
    );
    let slow = guardrail(
        &["run", &canary, "--time-scale", "1e-300", "--in-process"],
        None,
    );
    assert_eq!(code(&slow), Some(2), "{}", stderr(&slow));
    assert!(
        stderr(&slow).contains("allowed 1 to 10000"),
        "{}",
        stderr(&slow)
    );
    // The APIs' clock has the same range.
    let fast = guardrail(&["serve", "--port", "1", "--time-scale", "20000"], None);
    assert_eq!(code(&fast), Some(2), "{}", stderr(&fast));
    assert!(
        stderr(&fast).contains("--time-scale 20000"),
        "{}",
        stderr(&fast)
    );
    // 4: guardrail cannot do its work: nothing answers there.
    let unreachable = guardrail(&["abort", "run-x", "--server", "http://127.0.0.1:1"], None);
    assert_eq!(code(&unreachable), Some(4), "{}", stderr(&unreachable));
    assert!(
        stderr(&unreachable).contains("cannot reach"),
        "{}",
        stderr(&unreachable)
    );

    // 4: the data directory cannot hold a store (here it is a file): at start-up.
    let not_a_directory = format!("{}-file", data_dir("codes-file"));
    std::fs::write(&not_a_directory, "not a directory").expect("file");
    let unusable = guardrail(
        &[
            "run",
            &canary,
            "--in-process",
            "--data-dir",
            &not_a_directory,
        ],
        None,
    );
    assert_eq!(code(&unusable), Some(4), "{}", stderr(&unusable));
    assert!(
        stderr(&unusable).contains("cannot open the run store at"),
        "{}",
        stderr(&unusable)
    );
    let _ = std::fs::remove_file(&not_a_directory);

    let server = Server::start("codes");
    // 4: the port is taken.
    let port = server
        .url
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_string();
    let taken = guardrail(
        &["serve", "--port", &port, "--data-dir", &server.data],
        None,
    );
    assert_eq!(code(&taken), Some(4), "{}", stderr(&taken));
    // 3: refused: no such run to abort.
    let nope = guardrail(&["abort", "run-nope", "--server", &server.url], None);
    assert_eq!(code(&nope), Some(3), "{}", stderr(&nope));
    // A slow rollout on the server (real time), followed by a first client...
    let mut plan: Value =
        serde_json::from_str(&std::fs::read_to_string(&canary).expect("read")).expect("json");
    plan["EndpointConfigName"] = Value::from("fixed");
    let plan = plan.to_string();
    let mut first = Command::new(BIN)
        .args(["run", "-", "--server", &server.url])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run starts");
    first
        .stdin
        .take()
        .expect("stdin")
        .write_all(plan.as_bytes())
        .expect("plan");
    // Its first line on standard error names the run once the server accepted it.
    let mut first_stderr = std::io::BufReader::new(first.stderr.take().expect("stderr"));
    let mut accepted = String::new();
    std::io::BufRead::read_line(&mut first_stderr, &mut accepted).expect("a line");
    assert!(accepted.contains("on the local engine of"), "{accepted}");
    let run = accepted
        .split_whitespace()
        .nth(2)
        .expect("the run id")
        .to_string();
    // ...3: a second update of the same endpoint is refused while it runs.
    let busy = guardrail(&["run", "-", "--server", &server.url], Some(&plan));
    assert_eq!(code(&busy), Some(3), "{}", stderr(&busy));
    assert!(
        stderr(&busy).contains("already being updated"),
        "{}",
        stderr(&busy)
    );
    // 0: an abort is accepted, and the first client then exits 1: not on the new config.
    let runs = stdout_json(&guardrail(
        &["runs", "--json", "--data-dir", &server.data],
        None,
    ));
    assert_eq!(
        runs[0]["id"].as_str(),
        Some(run.as_str()),
        "runs reads a live store"
    );
    let aborted = guardrail(
        &["abort", &run, "--server", &server.url, "--by", "the test"],
        None,
    );
    assert_eq!(code(&aborted), Some(0), "{}", stderr(&aborted));
    let status = first.wait().expect("the first client ends");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut first_stderr, &mut rest).expect("stderr");
    assert_eq!(status.code(), Some(1), "{rest}");
    assert!(
        rest.contains("rolled back") && rest.contains("aborted by the test"),
        "{rest}"
    );
    // 3: too late to abort a run that ended.
    let late = guardrail(&["abort", &run, "--server", &server.url], None);
    assert_eq!(code(&late), Some(3), "{}", stderr(&late));
    assert!(stderr(&late).contains("already ended"), "{}", stderr(&late));
}

/// The notebook's plan with its latency alarm raised to 1 s (see above).
fn notebook_about_errors() -> String {
    let mut plan: Value = serde_json::from_str(
        &std::fs::read_to_string(example("notebook-canary.json")).expect("read"),
    )
    .expect("json");
    plan["Alarms"][1]["Threshold"] = Value::from(1_000_000);
    plan.to_string()
}

/// The phases the first run recorded in `data` went through, and its status.
fn recorded(data: &str) -> (Vec<String>, String) {
    let runs = stdout_json(&guardrail(&["runs", "--json", "--data-dir", data], None));
    let run = runs.as_array().and_then(|runs| runs.last()).expect("a run");
    let id = run["id"].as_str().expect("id").to_string();
    let events = guardrail(&["events", &id, "--json", "--data-dir", data], None);
    let phases = String::from_utf8_lossy(&events.stdout)
        .lines()
        .filter_map(|line| {
            let event: Value = serde_json::from_str(line).ok()?;
            match event["type"].as_str()? {
                "green_provisioning" => Some("provisioning".to_string()),
                "bake_started" | "phase_started" => {
                    Some(event["phase"]["phase"].as_str()?.to_string())
                }
                _ => None,
            }
        })
        .collect();
    (
        phases,
        run["status"].as_str().unwrap_or_default().to_string(),
    )
}

#[test]
fn the_same_plan_on_both_backends_gives_the_same_phases_and_outcome() {
    let server = Server::start_with(
        "both",
        &[
            "--rps",
            "60",
            "--time-scale",
            "120",
            "--provisioning-seconds",
            "60",
        ],
    );
    let plan = notebook_about_errors();
    let local = guardrail(
        &["run", "-", "--server", &server.url, "--time-scale", "120"],
        Some(&plan),
    );
    assert_eq!(code(&local), Some(1), "{}", stderr(&local));

    // The SageMaker backend, in this process, against the server's SageMaker
    // and CloudWatch APIs, configured as a user's environment would be.
    let client = data_dir("both-client");
    let mut command = Command::new(BIN);
    command
        .args(["run", "-", "--backend", "sagemaker", "--time-scale", "120"])
        .args(["--create-alarms", "--poll-ms", "50", "--data-dir", &client]);
    rehearsal_env(&mut command, &server.url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("guardrail starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(plan.as_bytes())
        .expect("plan");
    let sagemaker = child.wait_with_output().expect("guardrail finishes");
    let message = stderr(&sagemaker);
    assert_eq!(code(&sagemaker), Some(1), "{message}");
    assert!(
        message.contains("rolled back during the final bake")
            && message.contains("TestAlarm-5XXErrors-guardrail-demo"),
        "{message}"
    );
    let (local_phases, local_status) = recorded(&server.data);
    let (sagemaker_phases, sagemaker_status) = recorded(&client);
    assert_eq!(local_status, "rolled_back");
    assert_eq!(sagemaker_status, "rolled_back");
    assert_eq!(local_phases, ["provisioning", "canary_bake", "final_bake"]);
    assert_eq!(sagemaker_phases, local_phases);
    // The secret went nowhere: not in the output, not in the store.
    let store = std::fs::read(format!("{client}/guardrail.sqlite3")).expect("store");
    assert!(!String::from_utf8_lossy(&store).contains("cli-test-secret"));
    assert!(!message.contains("cli-test-secret"));
    let _ = std::fs::remove_dir_all(&client);
}

/// The last run recorded in `data`: its id and status, if there is one.
fn last_run(data: &str) -> Option<(String, String)> {
    let output = guardrail(&["runs", "--json", "--data-dir", data], None);
    let runs: Value = serde_json::from_slice(&output.stdout).ok()?;
    let run = runs.as_array()?.last()?;
    Some((
        run["id"].as_str()?.to_string(),
        run["status"].as_str()?.to_string(),
    ))
}

/// Polls `condition` every 50 ms for up to 60 s.
fn eventually<T>(what: &str, mut condition: impl FnMut() -> Option<T>) -> T {
    let started = std::time::Instant::now();
    loop {
        if let Some(value) = condition() {
            return value;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn a_watcher_killed_mid_update_is_resumed_by_serve_and_the_run_ends_as_sagemaker_ended_it() {
    // "AWS": a guardrail serve whose SageMaker API runs the update at 120x.
    let aws = Server::start_with(
        "kill-aws",
        &[
            "--rps",
            "60",
            "--time-scale",
            "120",
            "--provisioning-seconds",
            "60",
        ],
    );
    // The first watcher: `guardrail run --backend sagemaker`, killed with
    // SIGKILL once SageMaker is provisioning the new fleet.
    let client = data_dir("kill-client");
    let mut command = Command::new(BIN);
    command
        .args(["run", "-", "--backend", "sagemaker", "--time-scale", "120"])
        .args(["--create-alarms", "--poll-ms", "50", "--data-dir", &client]);
    let mut watcher = rehearsal_env(&mut command, &aws.url)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("guardrail starts");
    watcher
        .stdin
        .take()
        .expect("stdin")
        .write_all(notebook_about_errors().as_bytes())
        .expect("plan");
    let run_id = eventually("the update to be under way", || {
        let (id, status) = last_run(&client)?;
        let events = guardrail(&["events", &id, "--json", "--data-dir", &client], None);
        let text = String::from_utf8_lossy(&events.stdout);
        (status == "running" && text.contains("\"green_provisioning\"")).then_some(id)
    });
    watcher.kill().expect("SIGKILL");
    watcher.wait().expect("reaped");
    assert_eq!(
        last_run(&client).map(|(_, status)| status).as_deref(),
        Some("running"),
        "killed before SageMaker finished"
    );

    // `guardrail serve` on the same store claims the orphaned run and watches
    // it to its end, reading what it missed from SageMaker and CloudWatch.
    let _watching = Server::spawn(
        client.clone(),
        &["--rps", "0", "--time-scale", "120", "--poll-ms", "50"],
        Some(&aws.url),
    );
    let status = eventually("the resumed run to end", || {
        let (id, status) = last_run(&client)?;
        (id == run_id && status != "running").then_some(status)
    });
    assert_eq!(status, "rolled_back");
    let events = guardrail(&["events", &run_id, "--json", "--data-dir", &client], None);
    let text = String::from_utf8_lossy(&events.stdout);
    assert!(text.contains("\"watch_resumed\""), "{text}");
    assert!(
        text.contains("TestAlarm-5XXErrors-guardrail-demo"),
        "the rollback names its alarm: {text}"
    );
    let (phases, _) = recorded(&client);
    assert!(phases.contains(&"canary_bake".to_string()), "{phases:?}");
}

#[test]
fn a_dry_run_prints_every_request_and_sends_nothing() {
    // No credentials and an endpoint that nothing answers: a dry run needs neither.
    let output = Command::new(BIN)
        .args([
            "run",
            &example("notebook-canary.json"),
            "--backend",
            "sagemaker",
        ])
        .args(["--dry-run", "--create-alarms", "--region", "eu-west-1"])
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .output()
        .expect("guardrail runs");
    assert_eq!(code(&output), Some(0), "{}", stderr(&output));
    let dry = stdout_json(&output);
    let operations: Vec<&str> = dry["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .map(|request| request["operation"].as_str().expect("operation"))
        .collect();
    assert_eq!(
        operations,
        [
            "DescribeEndpoint",
            "DescribeEndpointConfig",
            "PutMetricAlarm",
            "PutMetricAlarm",
            "DescribeAlarms",
            "UpdateEndpoint"
        ]
    );
    let plan: Value = serde_json::from_str(
        &std::fs::read_to_string(example("notebook-canary.json")).expect("read"),
    )
    .expect("json");
    assert_eq!(
        dry["requests"][5]["input"]["DeploymentConfig"],
        plan["DeploymentConfig"]
    );
    assert_eq!(dry["region"], "eu-west-1");
    // --dry-run belongs to the SageMaker backend.
    let local = guardrail(
        &["run", &example("notebook-canary.json"), "--dry-run"],
        None,
    );
    assert_eq!(code(&local), Some(2));
}
