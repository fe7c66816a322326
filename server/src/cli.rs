//! The `guardrail` command line: parsing, and one function per command.
//!
//! Exit codes are listed in [`crate::output`]: 0 success; 1 the plan is invalid
//! or a rollout did not end on the new config; 2 the input could not be read or
//! is not a plan; 3 the engine or server refused; 4 guardrail could not do its work.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use guardrail_core::assumptions::ASSUMPTIONS;
use guardrail_core::controller::Outcome;
use guardrail_core::explain::{explain, mmss};
use guardrail_core::export::{export, Format};
use guardrail_core::link::{self, LinkState};
use guardrail_core::schedule::{schedule, Schedule};
use guardrail_core::simulate::{
    detect, detect_each, detection_curve, simulate, AlarmDetection, CurvePoint, Detection,
    Simulation, SimulationError, CURVE_ERROR_RATES, MAX_RUNS,
};
use guardrail_core::tune::wilson;
use guardrail_core::{check_json, Checked, Plan, Problem};
use serde_json::json;

use crate::engine::{Engine, EngineOptions, TIME_SCALE_MAX, TIME_SCALE_MIN};
use crate::output::{emit, say, CliError};
use crate::settings;

#[derive(Parser)]
#[command(
    name = "guardrail",
    version,
    about = "Plan, rehearse, run and review guarded SageMaker-style model rollouts",
    long_about = "Plan, rehearse, run and review guarded SageMaker-style model rollouts.\n\n\
                  PLAN is a JSON file (or - for standard input) with EndpointName, EndpointConfigName, \
                  VariantName, InstanceCount, InstanceType, DeploymentConfig and Alarms; see examples/."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the planner at http://127.0.0.1:PORT
    Serve {
        #[arg(long, default_value_t = 3000)]
        port: u16,
        /// The address to listen on. Anything but loopback makes every call
        /// that changes something need the access token: AWS clients sign
        /// with it as their secret access key, the planner asks for it once
        #[arg(long, default_value = "127.0.0.1")]
        bind: std::net::IpAddr,
        /// The access token (default off loopback: a new one, printed once).
        /// Given on loopback, it is required there too
        #[arg(long, env = "GUARDRAIL_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Where runs and events are stored
        #[arg(long, env = "GUARDRAIL_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// The Trunk-built planner to serve
        #[arg(long, env = "GUARDRAIL_DIST")]
        dist: Option<PathBuf>,
        /// Requests per second the load generator sends to each local endpoint
        #[arg(long, default_value_t = 20.0)]
        rps: f64,
        /// How many times faster than real time the SageMaker and CloudWatch
        /// APIs' clock runs, from the moment the server starts: bakes, alarm
        /// periods and every timestamp the APIs take and return are on it
        #[arg(long, default_value_t = 1.0)]
        time_scale: f64,
        /// The least time, in API seconds, that launching an endpoint's or an
        /// update's instances takes through the SageMaker API (0: as fast as
        /// they start)
        #[arg(long, default_value_t = guardrail_core::plan::DEFAULT_PROVISIONING_SECONDS)]
        provisioning_seconds: u32,
        #[command(flatten)]
        aws: AwsArgs,
    },
    /// Validate and lint a plan; exit 1 if it is invalid
    Check {
        plan: String,
        #[arg(long)]
        json: bool,
    },
    /// Print the phases of a plan with their times, fleets and traffic
    Schedule {
        plan: String,
        #[arg(long)]
        json: bool,
    },
    /// Simulate the plan's scenario: outcome, rollback time, blast radius
    Simulate {
        plan: String,
        #[arg(long)]
        json: bool,
        /// Also run the detection analysis over this many seeds (at most 100000)
        #[arg(long)]
        runs: Option<u32>,
        /// Override the scenario's seed
        #[arg(long)]
        seed: Option<u64>,
        /// With --runs: also each rollback alarm's detection on its own, on
        /// the same seeded runs
        #[arg(long, requires = "runs")]
        each_alarm: bool,
    },
    /// Export the plan for AWS
    Export {
        plan: String,
        #[arg(long, value_enum)]
        format: ExportFormat,
    },
    /// Print a share link for a plan, or decode one
    Link {
        /// The plan to link (omit with --decode)
        plan: Option<String>,
        /// Decode a link (or token) and print its plan as JSON
        #[arg(long, value_name = "LINK", conflicts_with = "plan")]
        decode: Option<String>,
        /// Where the planner is served
        #[arg(long, default_value = "http://127.0.0.1:3000")]
        base: String,
        /// The view the link opens: plan, whatif, compare, export or run
        #[arg(long)]
        view: Option<String>,
        /// Link to a recorded run's timeline (its plan comes from the store)
        #[arg(long, value_name = "RUN_ID", conflicts_with = "plan")]
        run: Option<String>,
        /// With --run: the moment to open, in plan seconds
        #[arg(long, value_name = "SECONDS", requires = "run")]
        at: Option<u64>,
        #[arg(long, env = "GUARDRAIL_DATA_DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Run a plan on the local engine (in-process, or on a running `guardrail
    /// serve`) or on Amazon SageMaker (`--backend sagemaker`)
    Run {
        plan: String,
        #[arg(long, value_enum, default_value = "local")]
        backend: Backend,
        /// Plan seconds per real second, 1 to 10000: 60 makes a 300 s bake last
        /// 5 s. With --backend sagemaker: how fast the API's clock runs (1 on
        /// AWS; the --time-scale of a `guardrail serve` it rehearses against)
        #[arg(long, default_value_t = 1.0)]
        time_scale: f64,
        #[command(flatten)]
        aws: AwsArgs,
        /// With --backend sagemaker: put the plan's Alarms with PutMetricAlarm
        /// before the update
        #[arg(long)]
        create_alarms: bool,
        /// With --backend sagemaker: print every request a run would send, as
        /// JSON, and send nothing
        #[arg(long)]
        dry_run: bool,
        /// A running guardrail server to run on
        #[arg(long, default_value = "http://127.0.0.1:3000")]
        server: String,
        /// Always run the engine in this process
        #[arg(long)]
        in_process: bool,
        /// Load generator rate for an in-process engine, requests per second
        #[arg(long, default_value_t = 20.0)]
        rps: f64,
        #[arg(long, env = "GUARDRAIL_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// Print every metric period in full
        #[arg(long)]
        verbose: bool,
    },
    /// Abort a run on a running `guardrail serve`: it rolls back to blue
    Abort {
        run_id: String,
        /// The guardrail server the run is on
        #[arg(long, default_value = "http://127.0.0.1:3000")]
        server: String,
        /// Who asks, as the run's record will say (default: $USER@host)
        #[arg(long)]
        by: Option<String>,
    },
    /// List recorded runs
    Runs {
        #[arg(long)]
        json: bool,
        #[arg(long, env = "GUARDRAIL_DATA_DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Print a run's events in order
    Events {
        run_id: String,
        #[arg(long)]
        json: bool,
        #[arg(long, env = "GUARDRAIL_DATA_DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Print a recorded run as Markdown for a code review: the plan, the
    /// outcome, each alarm, the blast radius, the link and the image link
    Summary {
        /// A run id in the store, or a review link (which carries its run)
        run: String,
        /// Where the planner and the timeline images are served
        #[arg(long, default_value = "http://127.0.0.1:3000")]
        base: String,
        #[arg(long, env = "GUARDRAIL_DATA_DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Re-judge a recorded run under other alarms: when each would have fired,
    /// when traffic would have returned to blue, and what that would have spared
    Retro {
        run_id: String,
        /// The alarms: a JSON array of PutMetricAlarm definitions, or an object
        /// with "Alarms" (such as a plan); `-` for standard input
        #[arg(long, value_name = "FILE")]
        alarms: String,
        #[arg(long)]
        json: bool,
        #[arg(long, env = "GUARDRAIL_DATA_DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Re-judge a recorded run with the canary judge: its score and each
    /// metric's class and evidence after every period, and when it would
    /// have failed green
    Judge {
        run_id: String,
        /// The judge: a `Judge` section, or an object holding one (such as a
        /// plan); `-` for standard input. Default: the run's plan's judge, or
        /// the default judge
        #[arg(long, value_name = "FILE")]
        judge: Option<String>,
        #[arg(long)]
        json: bool,
        #[arg(long, env = "GUARDRAIL_DATA_DIR")]
        data_dir: Option<PathBuf>,
    },
    /// List the modelling assumptions guardrail makes where AWS is silent
    Assumptions,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Backend {
    /// The embedded local engine: real model servers on loopback
    Local,
    /// Amazon SageMaker, through the AWS SDK for Rust (credentials, region and
    /// endpoint from the SDK's standard chain)
    Sagemaker,
}

/// Where the SageMaker backend reaches AWS. Credentials come only from the
/// SDK's chain (environment, profiles, SSO, instance roles).
#[derive(clap::Args, Clone, Debug)]
struct AwsArgs {
    /// SageMaker backend: the AWS region (default: AWS_REGION or the profile's)
    #[arg(long)]
    region: Option<String>,
    /// SageMaker backend: the AWS profile (default: AWS_PROFILE or `default`)
    #[arg(long)]
    profile: Option<String>,
    /// SageMaker backend: milliseconds between polls while nothing fails
    /// (doubled on each throttled or failed poll, up to 30 s)
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(10..=30_000))]
    poll_ms: u64,
}

#[derive(Clone, Copy, ValueEnum)]
enum ExportFormat {
    DeploymentConfig,
    Cli,
    Cloudformation,
    Terraform,
    Boto3,
}

impl From<ExportFormat> for Format {
    fn from(format: ExportFormat) -> Self {
        match format {
            ExportFormat::DeploymentConfig => Format::DeploymentConfig,
            ExportFormat::Cli => Format::Cli,
            ExportFormat::Cloudformation => Format::CloudFormation,
            ExportFormat::Terraform => Format::Terraform,
            ExportFormat::Boto3 => Format::Boto3,
        }
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "guardrail_server=info,warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(cli.command) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("guardrail: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}

// Long: one match over the subcommands, an arm per subcommand.
fn run(command: Command) -> Result<ExitCode, CliError> {
    match command {
        Command::Serve {
            port,
            bind,
            token,
            data_dir,
            dist,
            rps,
            time_scale,
            provisioning_seconds,
            aws,
        } => serve_command(
            Listen { bind, port, token },
            data_dir,
            dist,
            aws,
            EngineOptions {
                load_rps: rps,
                api_time_scale: time_scale,
                api_provisioning_seconds: provisioning_seconds,
                ..EngineOptions::default()
            },
        ),
        Command::Run {
            plan,
            backend: Backend::Sagemaker,
            time_scale,
            aws,
            create_alarms,
            dry_run,
            data_dir,
            verbose,
            ..
        } => sagemaker_run_command(
            &plan,
            time_scale,
            aws,
            create_alarms,
            dry_run,
            data_dir,
            verbose,
        ),
        Command::Run {
            create_alarms: true,
            ..
        }
        | Command::Run { dry_run: true, .. } => Err(CliError::Input(
            "--create-alarms and --dry-run go with --backend sagemaker".into(),
        )),
        Command::Run {
            plan,
            backend: Backend::Local,
            time_scale,
            server,
            in_process,
            rps,
            data_dir,
            verbose,
            ..
        } => run_plan_command(
            &plan,
            time_scale,
            (!in_process).then_some(server),
            rps,
            data_dir,
            verbose,
        ),
        Command::Abort { run_id, server, by } => runtime()?.block_on(crate::run_command::abort(
            &server,
            &run_id,
            by.unwrap_or_else(crate::run_command::terminal_user),
        )),
        Command::Runs { json, data_dir } => runs_command(json, data_dir),
        Command::Events {
            run_id,
            json,
            data_dir,
        } => events_command(&run_id, json, data_dir),
        Command::Check { plan, json } => check_command(&plan, json),
        Command::Schedule { plan, json } => schedule_command(&plan, json),
        Command::Simulate {
            plan,
            json,
            runs,
            seed,
            each_alarm,
        } => simulate_command(&plan, json, runs, seed, each_alarm),
        Command::Export { plan, format } => {
            let (parsed, checked) = read_plan(&plan)?;
            require_valid(&plan, &checked)?;
            emit(&export(&parsed, format.into()));
            Ok(ExitCode::SUCCESS)
        }
        Command::Link {
            plan,
            decode,
            base,
            view,
            run: Some(run_id),
            at,
            data_dir,
        } => {
            let _ = (plan, decode, view);
            run_link_command(&run_id, at, &base, data_dir)
        }
        Command::Link {
            plan,
            decode,
            base,
            view,
            run: None,
            ..
        } => link_command(plan, decode, &base, view),
        Command::Summary {
            run,
            base,
            data_dir,
        } => summary_command(&run, &base, data_dir),
        Command::Retro {
            run_id,
            alarms,
            json,
            data_dir,
        } => retro_command(&run_id, &alarms, json, data_dir),
        Command::Judge {
            run_id,
            judge,
            json,
            data_dir,
        } => judge_command(&run_id, judge.as_deref(), json, data_dir),
        Command::Assumptions => {
            for assumption in ASSUMPTIONS {
                say!("{}\n  {}\n", assumption.title, assumption.text);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The plan at `source`, refused unless it is valid and `time_scale` in range.
fn runnable_plan(source: &str, time_scale: f64) -> Result<Plan, CliError> {
    let (parsed, checked) = read_plan(source)?;
    require_valid(source, &checked)?;
    check_time_scale(time_scale)?;
    Ok(parsed)
}

/// `guardrail run`: checks the plan and the time scale, then runs it on a
/// server or in this process.
fn run_plan_command(
    source: &str,
    time_scale: f64,
    server: Option<String>,
    rps: f64,
    data_dir: Option<PathBuf>,
    verbose: bool,
) -> Result<ExitCode, CliError> {
    let parsed = runnable_plan(source, time_scale)?;
    let data_dir = data_dir.unwrap_or_else(settings::default_data_dir);
    runtime()?.block_on(crate::run_command::run(
        parsed, time_scale, server, rps, data_dir, verbose,
    ))
}

fn schedule_command(source: &str, json: bool) -> Result<ExitCode, CliError> {
    let (_, checked) = read_plan(source)?;
    let schedule = valid_schedule(source, &checked)?;
    if json {
        print_json(&schedule_json(&schedule));
    } else {
        emit(&schedule_text(&schedule));
    }
    Ok(ExitCode::SUCCESS)
}

/// `--time-scale` must be in the engine's range (exit 2 if not).
fn check_time_scale(time_scale: f64) -> Result<(), CliError> {
    if (TIME_SCALE_MIN..=TIME_SCALE_MAX).contains(&time_scale) {
        Ok(())
    } else {
        Err(CliError::Input(format!(
            "--time-scale {time_scale} is out of range; allowed {TIME_SCALE_MIN} to {TIME_SCALE_MAX}"
        )))
    }
}

/// The SageMaker backend's settings from the command line.
#[cfg(feature = "sagemaker")]
fn aws_settings(
    aws: AwsArgs,
    api_time_scale: f64,
    create_alarms: bool,
) -> crate::backend::sagemaker::aws::Settings {
    crate::backend::sagemaker::aws::Settings {
        region: aws.region,
        profile: aws.profile,
        endpoint_url: None,
        api_time_scale,
        poll_ms: aws.poll_ms,
        create_alarms,
    }
}

/// `guardrail run --backend sagemaker`: a dry run, or a real update watched
/// from this process.
#[cfg(feature = "sagemaker")]
fn sagemaker_run_command(
    source: &str,
    time_scale: f64,
    aws: AwsArgs,
    create_alarms: bool,
    dry_run: bool,
    data_dir: Option<PathBuf>,
    verbose: bool,
) -> Result<ExitCode, CliError> {
    let parsed = runnable_plan(source, time_scale)?;
    let settings = aws_settings(aws, time_scale, create_alarms);
    if dry_run {
        let requests = crate::backend::sagemaker::SageMaker::dry_run(&parsed, &settings)?;
        print_json(&requests);
        return Ok(ExitCode::SUCCESS);
    }
    let data_dir = data_dir.unwrap_or_else(settings::default_data_dir);
    runtime()?.block_on(crate::run_command::run_on_sagemaker(
        parsed, settings, data_dir, verbose,
    ))
}

#[cfg(not(feature = "sagemaker"))]
fn sagemaker_run_command(
    _source: &str,
    _time_scale: f64,
    _aws: AwsArgs,
    _create_alarms: bool,
    _dry_run: bool,
    _data_dir: Option<PathBuf>,
    _verbose: bool,
) -> Result<ExitCode, CliError> {
    Err(CliError::Input(
        "this guardrail was built without the `sagemaker` feature: rebuild with default features"
            .into(),
    ))
}

/// The backends `guardrail serve` offers: the local engine, and SageMaker
/// (whose unfinished runs it resumes watching).
fn serve_backends(engine: &Engine, aws: AwsArgs, api_time_scale: f64) -> crate::backend::Backends {
    #[allow(unused_mut)]
    let mut list: Vec<std::sync::Arc<dyn crate::backend::Backend>> =
        vec![std::sync::Arc::new(crate::backend::Local {
            engine: engine.clone(),
        })];
    #[cfg(feature = "sagemaker")]
    {
        let sagemaker = std::sync::Arc::new(crate::backend::sagemaker::SageMaker::new(
            engine.store().clone(),
            aws_settings(aws, api_time_scale, false),
        ));
        let resuming = sagemaker.clone();
        tokio::spawn(async move {
            let resumed = resuming.resume_unfinished().await;
            if !resumed.is_empty() {
                tracing::info!("resumed watching SageMaker run(s) {}", resumed.join(", "));
            }
        });
        list.push(sagemaker);
    }
    #[cfg(not(feature = "sagemaker"))]
    let _ = (aws, api_time_scale);
    crate::backend::Backends::new(engine.store().clone(), list)
}

/// Where `guardrail serve` listens, and the access token it requires.
struct Listen {
    bind: std::net::IpAddr,
    port: u16,
    token: Option<String>,
}

impl Listen {
    /// The token calls must present: the one given, or off loopback a new
    /// one (16 random bytes, hex), printed once to the terminal and never
    /// logged.
    fn access_token(&self) -> Result<Option<String>, CliError> {
        if let Some(token) = self.token.as_deref().filter(|token| !token.is_empty()) {
            if token.len() < 16 || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(CliError::Input(
                    "--token: the access token must be at least 16 characters, without spaces"
                        .into(),
                ));
            }
            return Ok(Some(token.to_string()));
        }
        if self.bind.is_loopback() {
            return Ok(None);
        }
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes)
            .map_err(|error| CliError::Failed(format!("cannot make an access token: {error}")))?;
        let token: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
        eprintln!(
            "guardrail: listening off loopback on {}: starting or stopping a rollout, and every AWS API call, needs this access token (shown once; AWS clients use it as their secret access key):\n\n    {token}\n",
            self.bind
        );
        Ok(Some(token))
    }
}

/// Holds `serve.lock` in the data directory for as long as the returned file
/// lives: two servers on one data directory would both relaunch its
/// endpoints and write its resources, so a second one is refused, naming the
/// first. The lock goes with the process, however it ends.
fn lock_data_dir(
    data_dir: &std::path::Path,
    address: std::net::SocketAddr,
) -> Result<std::fs::File, CliError> {
    use std::io::{Read, Seek, Write};
    std::fs::create_dir_all(data_dir).map_err(|error| {
        CliError::Failed(format!(
            "cannot create the data directory {}: {error}",
            data_dir.display()
        ))
    })?;
    let path = data_dir.join("serve.lock");
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|error| CliError::Failed(format!("cannot open {}: {error}", path.display())))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            return Err(CliError::Failed(format!(
                "another guardrail serve ({}) uses the data directory {}: stop it first, or give this one another with --data-dir or GUARDRAIL_DATA_DIR",
                if holder.is_empty() { "its pid is not recorded" } else { holder },
                data_dir.display()
            )));
        }
        Err(std::fs::TryLockError::Error(error)) => {
            return Err(CliError::Failed(format!(
                "cannot lock {}: {error}",
                path.display()
            )))
        }
    }
    let _ = file
        .set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| writeln!(file, "pid {}, serving http://{address}", std::process::id()));
    Ok(file)
}

/// `guardrail serve`: the planner and the local engine, on 127.0.0.1 unless
/// `--bind` says otherwise.
fn serve_command(
    listen: Listen,
    data_dir: Option<PathBuf>,
    dist: Option<PathBuf>,
    aws: AwsArgs,
    options: EngineOptions,
) -> Result<ExitCode, CliError> {
    check_time_scale(options.api_time_scale)?;
    let data_dir = data_dir.unwrap_or_else(settings::default_data_dir);
    let dist = dist.unwrap_or_else(settings::default_dist_dir);
    let address = std::net::SocketAddr::new(listen.bind, listen.port);
    // Fail on a taken port before starting any model server.
    std::net::TcpListener::bind(address)
        .map_err(|error| CliError::Failed(format!("cannot listen on {address}: {error}")))?;
    let token = listen.access_token()?;
    let lock = lock_data_dir(&data_dir, address)?;
    runtime()?.block_on(async move {
        let _lock = lock;
        let api_time_scale = options.api_time_scale;
        let engine = Engine::start_in(&data_dir, options).await?;
        engine.set_access_token(token);
        let backends = serve_backends(&engine, aws, api_time_scale);
        crate::web::serve(dist, address, engine, backends)
            .await
            .map_err(|error| CliError::Failed(error.to_string()))
    })?;
    Ok(ExitCode::SUCCESS)
}

fn runs_command(json: bool, data_dir: Option<PathBuf>) -> Result<ExitCode, CliError> {
    let store = open_store(data_dir)?;
    let runs = store
        .runs()
        .map_err(|error| CliError::Failed(error.to_string()))?;
    if json {
        print_json(&json!(runs));
    } else if runs.is_empty() {
        say!("no runs yet: start one with `guardrail run PLAN --time-scale 60`");
    } else {
        say!(
            "{:<32} {:<16} {:<28} {:<12} {:>6}  outcome",
            "run",
            "endpoint",
            "update",
            "status",
            "events"
        );
        for run in runs {
            say!(
                "{:<32} {:<16} {:<28} {:<12} {:>6}  {}",
                run.id,
                run.endpoint,
                format!("{} -> {}", run.from_config, run.to_config),
                run.status,
                run.events,
                run.outcome.unwrap_or_default()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn events_command(
    run_id: &str,
    json: bool,
    data_dir: Option<PathBuf>,
) -> Result<ExitCode, CliError> {
    let store = open_store(data_dir)?;
    // An unknown run is refused (3); a record that cannot be read is work
    // guardrail could not do (4).
    let events = store.events(run_id).map_err(|error| match error {
        crate::store::StoreError::NoRun(_) => CliError::Refused(error.to_string()),
        other => CliError::Failed(other.to_string()),
    })?;
    for event in events {
        if json {
            say!("{}", serde_json::to_string(&event).unwrap_or_default());
        } else {
            say!("{}", event.describe());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `guardrail link --run RUN_ID`: a link to a recorded run's timeline that
/// carries the run itself when it fits, so that it opens without this store.
fn run_link_command(
    run_id: &str,
    at: Option<u64>,
    base: &str,
    data_dir: Option<PathBuf>,
) -> Result<ExitCode, CliError> {
    let store = open_store(data_dir)?;
    let (plan, events) = recorded_run(&store, run_id)?;
    let review = guardrail_core::record::review_link(
        base,
        &plan,
        &events,
        at.map(|seconds| seconds.saturating_mul(1_000)),
    );
    say!("{}", review.url);
    match review.note {
        None => eprintln!(
            "guardrail: a self-contained link ({} characters): it opens in any copy of the planner, without this server",
            review.url.len()
        ),
        Some(note) => eprintln!("guardrail: {note}; this link opens the run on the server that recorded it"),
    }
    Ok(ExitCode::SUCCESS)
}

/// `guardrail summary RUN_ID_OR_LINK`: the review summary in Markdown.
fn summary_command(run: &str, base: &str, data_dir: Option<PathBuf>) -> Result<ExitCode, CliError> {
    use guardrail_core::record::{self, RunRecord};
    use guardrail_core::review::{summary_markdown, SummaryLinks};
    let base = base.trim_end_matches('/');
    let carried = run.contains(record::KEY) || run.contains("p=");
    let (plan, run_id, timeline, links) = if carried {
        let state =
            link::decode(run).map_err(|error| CliError::Input(format!("{run}: {error}")))?;
        let token = link::extract_token(run.trim(), record::KEY);
        let found = RunRecord::from_token(token).map_err(|error| {
            CliError::Input(format!(
                "this link carries no run ({error}); pass the run id, on the machine that recorded it"
            ))
        })?;
        let links = SummaryLinks {
            link: Some(run.trim().to_string()),
            image: Some(format!("{base}/timeline.svg?r={token}")),
            events_command: None,
        };
        (state.plan, found.run_id.clone(), found.timeline(), links)
    } else {
        let store = open_store(data_dir)?;
        let (plan, events) = recorded_run(&store, run)?;
        let review = record::review_link(base, &plan, &events, None);
        let links = SummaryLinks {
            link: Some(review.url),
            image: Some(format!("{base}/runs/{run}/timeline.svg")),
            events_command: Some(format!("guardrail events {run} --json")),
        };
        (
            plan,
            run.to_string(),
            guardrail_core::event::RunTimeline::from_events(&events),
            links,
        )
    };
    say!("{}", summary_markdown(&plan, &run_id, &timeline, &links));
    Ok(ExitCode::SUCCESS)
}

/// `guardrail retro RUN_ID --alarms FILE`: the run re-judged.
fn retro_command(
    run_id: &str,
    source: &str,
    json: bool,
    data_dir: Option<PathBuf>,
) -> Result<ExitCode, CliError> {
    use guardrail_core::plan::MetricAlarm;
    let text = read_text(source)?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|error| CliError::Input(format!("{source}: not JSON: {error}")))?;
    let list = match &value {
        serde_json::Value::Object(object) => object.get("Alarms").cloned().ok_or_else(|| {
            CliError::Input(format!(
                "{source}: an object needs \"Alarms\": a list of PutMetricAlarm definitions"
            ))
        })?,
        other => other.clone(),
    };
    let alarms: Vec<MetricAlarm> = serde_json::from_value(list)
        .map_err(|error| CliError::Input(format!("{source}: not a list of alarms: {error}")))?;
    let store = open_store(data_dir)?;
    let (plan, events) = recorded_run(&store, run_id)?;
    let retro = guardrail_core::retro::rejudge(&events, &plan, &alarms)
        .map_err(|error| CliError::Input(format!("run {run_id}: {error}")))?;
    if json {
        say!(
            "{}",
            serde_json::to_string_pretty(&retro).unwrap_or_default()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let at = |ms: Option<u64>| {
        ms.map(|ms| guardrail_core::explain::mmss(ms / 1_000))
            .unwrap_or_else(|| "never".into())
    };
    for alarm in &retro.alarms {
        say!(
            "{}: {}\n  would have entered ALARM: {}; the run's own: {}",
            alarm.name,
            alarm.condition,
            at(alarm.first_alarm_ms),
            at(alarm.recorded_alarm_ms)
        );
    }
    say!("{}", retro.verdict);
    Ok(ExitCode::SUCCESS)
}

/// `guardrail judge RUN_ID [--judge FILE]`: the run re-judged by the
/// canary judge.
fn judge_command(
    run_id: &str,
    source: Option<&str>,
    json: bool,
    data_dir: Option<PathBuf>,
) -> Result<ExitCode, CliError> {
    use guardrail_core::plan::JudgeSection;
    let given = source.map(read_judge).transpose()?;
    let store = open_store(data_dir)?;
    let (mut plan, events) = recorded_run(&store, run_id)?;
    plan.judge = given
        .or(plan.judge)
        .or_else(|| Some(JudgeSection::default_judge()));
    let spec = judge_spec(&plan, run_id)?;
    let looks = guardrail_core::retro::judge_record(&events, &spec)
        .map_err(|error| CliError::Input(format!("run {run_id}: {error}")))?;
    // What judged: on a SageMaker run's minutes, its period rounded up.
    let (_, spec) = guardrail_core::retro::judge_as_recorded(&events, &spec);
    let failed_at = looks
        .iter()
        .find(|look| {
            look.judgement
                .score
                .is_some_and(|score| score < look.judgement.pass_score)
        })
        .map(|look| look.at_ms);
    if json {
        say!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "run_id": run_id,
                "judge": JudgeSection::from_spec(&spec),
                "periods": looks,
                "failed_at_ms": failed_at,
            }))
            .unwrap_or_default()
        );
        return Ok(ExitCode::SUCCESS);
    }
    for look in &looks {
        let at = guardrail_core::explain::mmss(look.at_ms / 1_000);
        say!("{at:>6} {}", look.judgement.describe());
    }
    match (failed_at, looks.is_empty()) {
        (_, true) => say!("the judge never looked: the fleets never served side by side"),
        (Some(at), _) => say!(
            "the judge fails green at {}",
            guardrail_core::explain::mmss(at / 1_000)
        ),
        (None, _) => say!("the judge passes green at every look"),
    }
    Ok(ExitCode::SUCCESS)
}

/// The judge in `source` (a file, or `-` for standard input): a plan's
/// `Judge` section, or the section alone.
fn read_judge(source: &str) -> Result<guardrail_core::plan::JudgeSection, CliError> {
    let text = read_text(source)?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|error| CliError::Input(format!("{source}: not JSON: {error}")))?;
    let section = value.get("Judge").cloned().unwrap_or(value);
    serde_json::from_value(section).map_err(|error| {
        CliError::Input(format!(
            "{source}: not a judge (a `Judge` section): {error}"
        ))
    })
}

/// The judge `plan` asks for, checked; refused with the plan's errors.
fn judge_spec(
    plan: &guardrail_core::Plan,
    run_id: &str,
) -> Result<guardrail_core::judge::JudgeSpec, CliError> {
    let checked = guardrail_core::check::check(plan);
    checked
        .rollout
        .as_ref()
        .and_then(|rollout| rollout.judge().cloned())
        .ok_or_else(|| {
            let problems: Vec<String> = checked
                .report
                .errors
                .iter()
                .map(ToString::to_string)
                .collect();
            CliError::Invalid(format!(
                "the judge cannot judge run {run_id}:\n{}",
                problems.join("\n")
            ))
        })
}

/// A recorded run's plan and events.
fn recorded_run(
    store: &crate::store::Store,
    run_id: &str,
) -> Result<(Plan, Vec<guardrail_core::event::Event>), CliError> {
    let text = store
        .plan_json(run_id)
        .map_err(|error| CliError::Refused(error.to_string()))?;
    let plan = Plan::from_json(&text)
        .map_err(|error| CliError::Failed(format!("run {run_id} holds no plan: {error}")))?;
    let events = store
        .events(run_id)
        .map_err(|error| CliError::Refused(error.to_string()))?;
    Ok((plan, events))
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Runtime::new()
        .map_err(|error| CliError::Failed(format!("cannot start the runtime: {error}")))
}

/// The store, read-only: the commands that read runs never write.
fn open_store(data_dir: Option<PathBuf>) -> Result<crate::store::Store, CliError> {
    let data_dir = data_dir.unwrap_or_else(settings::default_data_dir);
    crate::store::Store::open_read_only(&data_dir)
        .map_err(|error| CliError::Failed(error.to_string()))
}

/// Reads PLAN (a path, or `-` for standard input) and checks it.
fn read_plan(source: &str) -> Result<(Plan, Checked), CliError> {
    let text = read_text(source)?;
    check_json(&text).map_err(|error| CliError::Input(format!("{source}: not a plan: {error}")))
}

fn read_text(source: &str) -> Result<String, CliError> {
    if source == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|error| CliError::Input(format!("cannot read standard input: {error}")))?;
        Ok(text)
    } else {
        std::fs::read_to_string(source)
            .map_err(|error| CliError::Input(format!("cannot read {source}: {error}")))
    }
}

fn problems_text(problems: &[Problem], kind: &str) -> String {
    problems
        .iter()
        .map(|problem| {
            format!(
                "{kind}: {}: {} [{}]\n",
                problem.path, problem.message, problem.code
            )
        })
        .collect()
}

pub(crate) fn require_valid(source: &str, checked: &Checked) -> Result<(), CliError> {
    if checked.report.errors.is_empty() {
        return Ok(());
    }
    Err(CliError::Invalid(format!(
        "{source} is not valid; fix these first (guardrail check {source}):\n{}",
        problems_text(&checked.report.errors, "error").trim_end()
    )))
}

fn valid_schedule(source: &str, checked: &Checked) -> Result<Schedule, CliError> {
    require_valid(source, checked)?;
    checked
        .rollout
        .as_ref()
        .map(schedule)
        .ok_or_else(|| CliError::Invalid(format!("{source} is not valid")))
}

fn print_json(value: &serde_json::Value) {
    say!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
    );
}

fn check_command(source: &str, json: bool) -> Result<ExitCode, CliError> {
    let (_, checked) = read_plan(source)?;
    let report = &checked.report;
    if json {
        print_json(&json!({ "errors": report.errors, "warnings": report.warnings }));
    } else {
        let verdict = if report.errors.is_empty() {
            "valid"
        } else {
            "invalid"
        };
        say!(
            "{source}: {verdict}, {} error(s), {} warning(s)",
            report.errors.len(),
            report.warnings.len()
        );
        emit(&problems_text(&report.errors, "error"));
        emit(&problems_text(&report.warnings, "warning"));
    }
    Ok(if report.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn schedule_json(schedule: &Schedule) -> serde_json::Value {
    json!({
        "total_seconds": schedule.total_seconds,
        "timeout_seconds": schedule.timeout_seconds,
        "times_out": schedule.times_out(),
        "steps": schedule.steps.iter().map(|step| {
            let mut value = json!({
                "phase": step.phase.name(),
                "label": step.phase.label(),
                "start_seconds": step.start_seconds,
                "end_seconds": step.end_seconds,
                "green_instances": step.green_instances,
                "blue_instances": step.blue_instances,
                "green_traffic_percent": step.green_traffic_percent(),
            });
            if let (Some(object), Ok(serde_json::Value::Object(phase))) =
                (value.as_object_mut(), serde_json::to_value(step.phase))
            {
                for (key, field) in phase {
                    if key != "phase" {
                        object.insert(key, field);
                    }
                }
            }
            value
        }).collect::<Vec<_>>(),
    })
}

fn schedule_text(schedule: &Schedule) -> String {
    let mut out = format!(
        "{:<24} {:>8} {:>8} {:>6} {:>5} {:>9}\n",
        "phase", "start", "end", "green", "blue", "traffic"
    );
    for step in &schedule.steps {
        out.push_str(&format!(
            "{:<24} {:>8} {:>8} {:>6} {:>5} {:>8.2}%\n",
            step.phase.label(),
            mmss(u64::from(step.start_seconds)),
            mmss(u64::from(step.end_seconds)),
            step.green_instances,
            step.blue_instances,
            step.green_traffic_percent()
        ));
    }
    out.push_str(&format!(
        "total {} ({} s); timeout {} s{}\n",
        mmss(u64::from(schedule.total_seconds)),
        schedule.total_seconds,
        schedule.timeout_seconds,
        if schedule.times_out() {
            " - the schedule does not fit: it will time out"
        } else {
            ""
        }
    ));
    out.push_str(
        "traffic is modelled as proportional to active instances (guardrail assumptions)\n",
    );
    out
}

/// The what-if and, with `--runs`, the detection analysis and its curve.
struct WhatIf {
    simulation: Simulation,
    sentences: Vec<String>,
    seed: u64,
    detection: Option<(Detection, Vec<CurvePoint>)>,
    /// With `--each-alarm`: each rollback alarm's detection alone.
    each_alarm: Vec<AlarmDetection>,
}

fn simulate_command(
    source: &str,
    json: bool,
    runs: Option<u32>,
    seed: Option<u64>,
    each_alarm: bool,
) -> Result<ExitCode, CliError> {
    let (plan, checked) = read_plan(source)?;
    let schedule = valid_schedule(source, &checked)?;
    let Some(rollout) = checked.rollout.as_ref() else {
        return Err(CliError::Invalid(format!("{source} is not valid")));
    };
    if let Some(runs) = runs.filter(|runs| *runs > MAX_RUNS) {
        return Err(CliError::Input(format!(
            "--runs {runs} is more than the analysis allows; at most {MAX_RUNS}"
        )));
    }
    let mut scenario = plan.scenario_or_default();
    if let Some(seed) = seed {
        scenario.seed = seed;
    }
    let failed = |error: SimulationError| CliError::Failed(error.to_string());
    let simulation = simulate(rollout, &scenario).map_err(failed)?;
    let detection = match runs {
        Some(runs) => Some((
            detect(rollout, &scenario, runs).map_err(failed)?,
            detection_curve(rollout, &scenario, &CURVE_ERROR_RATES, runs.min(200))
                .map_err(failed)?,
        )),
        None => None,
    };
    let each_alarm = match runs {
        Some(runs) if each_alarm => detect_each(rollout, &scenario, runs).map_err(failed)?,
        _ => Vec::new(),
    };
    let what_if = WhatIf {
        sentences: explain(&schedule, &scenario, &simulation),
        simulation,
        seed: scenario.seed,
        detection,
        each_alarm,
    };
    if json {
        print_json(&what_if_json(&what_if));
    } else {
        emit(&what_if_text(&what_if));
    }
    Ok(ExitCode::SUCCESS)
}

fn rollback_phase(simulation: &Simulation) -> Option<&'static str> {
    match &simulation.outcome {
        Outcome::RolledBack { phase, .. } => Some(phase.name()),
        Outcome::Succeeded { .. } => None,
    }
}

fn what_if_json(what_if: &WhatIf) -> serde_json::Value {
    let simulation = &what_if.simulation;
    let cause = match &simulation.outcome {
        Outcome::RolledBack { cause, .. } => serde_json::to_value(cause).ok(),
        Outcome::Succeeded { .. } => None,
    };
    let mut value = json!({
        "outcome": simulation.outcome.name(),
        "rollback_at_seconds": simulation.rollback_at_seconds(),
        "rollback_phase": rollback_phase(simulation),
        "rollback_cause": cause,
        "end_seconds": simulation.end_ms as f64 / 1000.0,
        "requests_total": simulation.requests_total,
        "requests_to_green": simulation.requests_to_green,
        "failed_requests_from_green": simulation.failed_requests_from_green,
        "excess_failed_requests": simulation.excess_failed_requests,
        "time_to_rollback_seconds": simulation.time_to_rollback_seconds(),
        "seed": what_if.seed,
        "explanation": what_if.sentences,
    });
    if let (Some(object), Some((detection, curve))) = (value.as_object_mut(), &what_if.detection) {
        object.insert("detection".into(), json!(detection));
        object.insert("detection_curve".into(), json!(curve));
    }
    if let (Some(object), false) = (value.as_object_mut(), what_if.each_alarm.is_empty()) {
        let each: Vec<serde_json::Value> = what_if
            .each_alarm
            .iter()
            .map(|alone| {
                let (low, high) = wilson(alone.detection.detected, alone.detection.runs);
                json!({
                    "alarm": alone.alarm,
                    "detection": alone.detection,
                    "interval_95": [low, high],
                })
            })
            .collect();
        object.insert("each_alarm".into(), json!(each));
    }
    value
}

fn what_if_text(what_if: &WhatIf) -> String {
    let simulation = &what_if.simulation;
    let mut out = format!("outcome: {}\n", simulation.outcome.name().replace('_', " "));
    if let Some(at) = simulation.rollback_at_seconds() {
        out.push_str(&format!(
            "rollback at: {} ({at} s) in {}\n",
            mmss(at as u64),
            rollback_phase(simulation).unwrap_or("?")
        ));
    }
    out.push_str(&format!(
        "blast radius: {} request(s) to green, {} failed\n",
        simulation.requests_to_green, simulation.failed_requests_from_green
    ));
    for sentence in &what_if.sentences {
        out.push_str(&format!("  {sentence}\n"));
    }
    let Some((detection, curve)) = &what_if.detection else {
        return out;
    };
    out.push_str(&format!(
        "detection over {} seeded runs: {:.1}% rolled back by an alarm ({} timed out)\n",
        detection.runs,
        detection.probability * 100.0,
        detection.timed_out
    ));
    if let Some(spread) = detection.time_to_rollback_seconds {
        out.push_str(&format!(
            "  time to rollback: median {} s, p95 {} s\n",
            spread.median, spread.p95
        ));
    }
    if let Some(spread) = detection.bad_requests {
        out.push_str(&format!(
            "  failed green requests per run: median {}, p95 {}\n",
            spread.median, spread.p95
        ));
    }
    out.push_str("  detection probability by green error rate (the rest of the regression as in the scenario):\n");
    for point in curve {
        out.push_str(&format!(
            "    {:>6.1}%  {:>5.1}%\n",
            point.error_rate * 100.0,
            point.probability * 100.0
        ));
    }
    if !what_if.each_alarm.is_empty() {
        out.push_str("each rollback alarm alone, on the same seeded runs:\n");
    }
    for alone in &what_if.each_alarm {
        let detection = &alone.detection;
        let share = guardrail_core::tune::Share::of(detection.detected, detection.runs);
        let median = detection
            .time_to_rollback_seconds
            .map(|spread| format!("median {} s to detect", spread.median))
            .unwrap_or_else(|| "never detected".into());
        out.push_str(&format!(
            "  {}: caught {}; {median}; {} during the canary (or first linear) bake\n",
            alone.alarm,
            share.describe(),
            detection.detected_early
        ));
    }
    out
}

fn link_command(
    plan: Option<String>,
    decode: Option<String>,
    base: &str,
    view: Option<String>,
) -> Result<ExitCode, CliError> {
    if let Some(link) = decode {
        let state = link::decode(&link)
            .map_err(|error| CliError::Input(format!("cannot open link: {error}")))?;
        say!("{}", state.plan.to_json_pretty());
        return Ok(ExitCode::SUCCESS);
    }
    let Some(source) = plan else {
        return Err(CliError::Input(
            "give a PLAN to link, or --decode LINK".into(),
        ));
    };
    let (parsed, _) = read_plan(&source)?;
    let mut state = LinkState::plan(parsed);
    state.view = view;
    say!("{}/#p={}", base.trim_end_matches('/'), link::encode(&state));
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listen(bind: &str, token: Option<&str>) -> Listen {
        Listen {
            bind: bind.parse().expect("an address"),
            port: 3000,
            token: token.map(str::to_string),
        }
    }

    #[test]
    fn off_loopback_a_token_is_made_on_loopback_none_unless_given() {
        assert_eq!(listen("127.0.0.1", None).access_token().expect("ok"), None);
        assert_eq!(listen("::1", None).access_token().expect("ok"), None);
        let made = listen("10.1.2.3", None)
            .access_token()
            .expect("ok")
            .expect("a token off loopback");
        assert_eq!(made.len(), 32);
        assert!(made.bytes().all(|b| b.is_ascii_hexdigit()), "{made}");
        let again = listen("0.0.0.0", None).access_token().expect("ok");
        assert_ne!(again.as_deref(), Some(made.as_str()), "a new one each time");
        let given = "a-given-token-of-24-chars";
        assert_eq!(
            listen("127.0.0.1", Some(given))
                .access_token()
                .expect("ok")
                .as_deref(),
            Some(given)
        );
        let short = listen("10.1.2.3", Some("short")).access_token();
        assert!(
            matches!(short, Err(CliError::Input(message)) if message.contains("16 characters"))
        );
    }
}
