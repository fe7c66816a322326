//! The one place where guardrail decides what SageMaker and CloudWatch do not document.
//!
//! Each undocumented behaviour is a function or a constant here, with worked
//! examples, and an entry in [`ASSUMPTIONS`] so that the planner, the CLI and the
//! docs can state it in plain words. Nothing else in the core invents semantics;
//! it calls into this module.

use serde::Serialize;

use crate::fleets::Fleets;
use crate::plan::CapacitySizeType;

/// Basis points in one whole: 10 000 bp = 100 %.
pub const WHOLE_BP: u32 = 10_000;

/// Converts a `CapacitySize` into whole instances of a fleet of `fleet` instances.
///
/// `INSTANCE_COUNT` is taken as is. `CAPACITY_PERCENT` is rounded to the nearest
/// instance, halves rounding up, because the linear notebook states "33% * 3 = 1
/// instance" (0.99 becomes 1, which rules out rounding down). A result of zero
/// becomes one instance, since a step must move at least one instance; lint warns
/// when that happens. The count never exceeds the fleet.
///
/// Worked examples (fleet of 3): 33 % → 0.99 → 1; 50 % → 1.5 → 2; 10 % → 0.3 → 0,
/// so 1 (lint warns); fleet of 10, 25 % → 2.5 → 3.
pub fn instances_for(kind: CapacitySizeType, value: u32, fleet: u32) -> Sizing {
    let exact = match kind {
        CapacitySizeType::InstanceCount => value,
        // Nearest, halves up, in integers: floor(value * fleet / 100 + 1/2).
        CapacitySizeType::CapacityPercent => {
            ((u64::from(value) * u64::from(fleet) * 2 + 100) / 200) as u32
        }
    };
    Sizing {
        instances: exact.clamp(1, fleet.max(1)),
        rounded_to_zero: exact == 0,
    }
}

/// The instance count nearest `fleet` (a larger one on a tie, at most
/// [`crate::field::limits::MAX_INSTANCES`]) of which `percent` % is a whole
/// number of instances; `None` when none is.
pub fn exact_fleet_for(percent: u32, fleet: u32) -> Option<u32> {
    let max = crate::field::limits::MAX_INSTANCES;
    (1..=max)
        .filter(|count| (u64::from(percent) * u64::from(*count)) % 100 == 0)
        .min_by_key(|count| (count.abs_diff(fleet), u32::MAX - count))
}

/// The result of [`instances_for`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sizing {
    pub instances: u32,
    /// The percent named fewer than half an instance, so guardrail used one.
    pub rounded_to_zero: bool,
}

/// Green's share of traffic, in basis points, when `green` and `blue` instances serve.
///
/// Traffic is proportional to active capacity: share = green / (green + blue),
/// rounded to the nearest basis point, halves up. This fits the canary page's
/// "for example, 25 %" for one canary instance beside three blue ones, and the
/// notebooks' description of routing as probabilistic.
///
/// Worked examples: (1, 3) → 2 500 bp (25 %); (1, 2) → 3 333 bp; (2, 1) → 6 667 bp;
/// (3, 0) → 10 000 bp; (0, 3) → 0 bp; (0, 0) → 0 bp.
pub fn green_traffic_bp(green: u32, blue: u32) -> u32 {
    let total = u64::from(green) + u64::from(blue);
    if total == 0 {
        return 0;
    }
    ((u64::from(green) * u64::from(WHOLE_BP) * 2 + total) / (2 * total)) as u32
}

/// One step of a rollback: launch `launch_blue` blue instances (none when blue is
/// whole); once they are healthy, `serving` serve and `terminate_green` green
/// instances are terminated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RollbackStep {
    pub launch_blue: u32,
    pub serving: Fleets,
    pub terminate_green: u32,
}

/// The steps of a rollback of a fleet of `fleet` instances, from `serving`, with
/// `RollbackMaximumBatchSize` resolved to `batch` instances.
///
/// AWS's API reference for `RollbackMaximumBatchSize`: each rollback step
/// provisions capacity on the old fleet, turns traffic on there, and terminates
/// capacity on the new fleet; without it, the default is 100 % of the total
/// capacity, "bring up the whole capacity of the old fleet at once". So blue
/// instances that a rolling update already terminated must be launched again,
/// and each batch takes a provisioning time, during which the serving instances
/// keep serving. Blue instances that still exist take traffic back at once: a
/// blue/green rollback never terminated any, so it is a single instant step.
///
/// Worked examples, (green, blue) serving:
/// - blue/green canary, fleet 3, (1, 3): one instant step to (0, 3), 1 green terminated;
/// - rolling fleet 1, batch 1, (1, 1): blue is whole, so one instant step to (0, 1);
/// - rolling fleet 3, default 100 % = 3, (2, 2): launch 1 blue, then (0, 3) and 2
///   green terminated: one provisioning time (a batch at least as large as the
///   missing blue capacity still takes one);
/// - rolling fleet 3, batch 1, (3, 1): launch 1 → (2, 2), 1 green terminated;
///   launch 1 → (0, 3), 2 green terminated: two provisioning times;
/// - fleet 3, batch 1, no blue left, (3, 0): three launches, to (2, 1), (1, 2), (0, 3).
pub fn rollback_steps(fleet: u32, serving: Fleets, batch: u32) -> Vec<RollbackStep> {
    let batch = batch.max(1);
    let mut green = serving.green;
    let mut blue = serving.blue.min(fleet);
    let mut steps = Vec::new();
    loop {
        let launch = batch.min(fleet - blue);
        blue += launch;
        let moved = if blue >= fleet {
            green
        } else {
            launch.min(green)
        };
        green -= moved;
        steps.push(RollbackStep {
            launch_blue: launch,
            serving: Fleets::new(green, blue),
            terminate_green: moved,
        });
        if blue >= fleet {
            return steps;
        }
    }
}

impl Fleets {
    /// Green's share of traffic when these instances serve, in basis points
    /// ([`green_traffic_bp`]).
    pub fn green_traffic_bp(self) -> u32 {
        green_traffic_bp(self.green, self.blue)
    }
}

/// CloudWatch retrieves more datapoints than `EvaluationPeriods` (the "evaluation
/// range") but does not publish how many. Its own example retrieves 5 for 3
/// evaluation periods, so guardrail uses `EvaluationPeriods + 2`.
pub const EVALUATION_RANGE_EXTRA: u32 = 2;

/// The window of data an alarm period starting at `start_ms` reads, for a
/// metric stored per minute (`high_resolution` false: SageMaker's own
/// metrics, and `PutMetricData` without `StorageResolution` 1) or per second.
///
/// CloudWatch stores a standard-resolution metric as one datapoint a minute,
/// stamped at the minute's start. A period of 10, 20 or 30 s on it sees that
/// minute's data only when it starts on the minute, and no data otherwise;
/// a period of a minute or more, and any period on high-resolution data, sees
/// exactly its own window. AWS does not say so in these words; see
/// [`ASSUMPTIONS`]' `standard_resolution`.
///
/// Worked examples (milliseconds): (0, 60 000, false) → [0, 60 000);
/// (60 000, 10 000, false) → [60 000, 120 000), the whole minute;
/// (70 000, 10 000, false) → none; (70 000, 10 000, true) → [70 000, 80 000).
pub fn datapoint_window_ms(
    start_ms: i64,
    period_ms: i64,
    high_resolution: bool,
) -> Option<(i64, i64)> {
    const MINUTE_MS: i64 = 60_000;
    if high_resolution || period_ms >= MINUTE_MS {
        return Some((start_ms, start_ms + period_ms));
    }
    (start_ms.rem_euclid(MINUTE_MS) == 0).then_some((start_ms, start_ms + MINUTE_MS))
}

/// The shape of per-request model latency: log-normal with this sigma (of the
/// underlying normal), scaled so that its mean is the scenario's `LatencyMs`.
/// With sigma 0.5, p99 is about 2.6 times the mean and p50 about 0.88 times it.
pub const LATENCY_LOG_SIGMA: f64 = 0.5;

/// SageMaker's own overhead per request (`OverheadLatency`), in microseconds, as
/// simulated. It is the same for both fleets, so it never separates them.
pub const OVERHEAD_LATENCY_US: f64 = 1_500.0;

/// SageMaker's documented limit: model containers must answer an invocation
/// within 60 seconds. The local engine's router fails a request that takes
/// longer, on the API clock, as SageMaker Runtime does (`ModelError`, the
/// model's status 0), but never sooner than 1 s of real time: a model's
/// own latency does not speed up with the time scale (its `ModelLatency` is
/// measured in real microseconds).
pub const INVOCATION_TIMEOUT_SECONDS: u32 = 60;
pub const INVOCATION_TIMEOUT_FLOOR_REAL_SECONDS: f64 = 1.0;

/// The real seconds the router waits for a model at `time_scale`.
///
/// Worked examples: at 1× 60 s; at 30× 2 s; at 60× 1 s; at 2 000× 30 ms would
/// fail ordinary requests of a loaded machine, so 1 s.
pub fn invocation_timeout_real_seconds(time_scale: f64) -> f64 {
    (f64::from(INVOCATION_TIMEOUT_SECONDS) / time_scale.max(1e-6))
        .max(INVOCATION_TIMEOUT_FLOOR_REAL_SECONDS)
}

/// In-service health checks, which SageMaker does not document: each serving
/// instance's `GET /ping` every second of the run's clock, within 2 seconds,
/// and an instance that fails 3 in a row is unhealthy. See
/// [`ASSUMPTIONS`]' `in_service_health`.
pub const PING_INTERVAL_SECONDS: f64 = 1.0;
pub const PING_TIMEOUT_SECONDS: f64 = 2.0;
pub const UNHEALTHY_AFTER_FAILED_PINGS: u32 = 3;

/// How long a starting instance may take to answer its first `/ping`: four
/// minutes of the clock its launch runs on (the API clock, or a planner run's
/// plan clock), as AWS's knowledge center says SageMaker allows, but never
/// less than 30 s of real time. See [`ASSUMPTIONS`]' `startup_patience`.
pub const STARTUP_PATIENCE_SECONDS: f64 = 240.0;
pub const STARTUP_PATIENCE_FLOOR_REAL_SECONDS: f64 = 30.0;

/// The real seconds a starting instance is given at `time_scale` (plan or API
/// seconds per real second).
///
/// Worked examples: at 1× 240 s; at 2× 120 s; at 60× 4 s would be too short
/// for a model server to start at all, so 30 s (which is 30 minutes of the API
/// clock); at 10 000× also 30 s.
pub fn startup_patience_real_seconds(time_scale: f64) -> f64 {
    let scaled = STARTUP_PATIENCE_SECONDS / time_scale.max(1e-6);
    scaled.max(STARTUP_PATIENCE_FLOOR_REAL_SECONDS)
}

/// A statement of one modelling choice, for people.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Assumption {
    pub id: &'static str,
    pub title: &'static str,
    pub text: &'static str,
}

/// Every modelling choice guardrail makes where the AWS documentation is silent.
pub const ASSUMPTIONS: &[Assumption] = &[
    Assumption {
        id: "traffic_weights",
        title: "Traffic follows active capacity",
        text: "Green's share of traffic is green's active instances divided by all active instances. \
               A canary of 1 instance beside 3 blue ones gets 1/4 = 25 %; linear steps of 1 of 3 give 33.33 %, 66.67 %, 100 %.",
    },
    Assumption {
        id: "percent_rounding",
        title: "Percent sizes round to the nearest instance",
        text: "CAPACITY_PERCENT is converted to instances of the variant's instance count, rounded to the nearest \
               instance with halves up (33 % of 3 = 0.99 → 1). A result of 0 becomes 1 instance, and lint warns.",
    },
    Assumption {
        id: "provisioning",
        title: "Provisioning and termination take a set time",
        text: "SageMaker does not publish how long launching or terminating instances takes. The plan's \
               ProvisioningSeconds (default 300) and TerminationSeconds (default 60) set it. The local engine \
               measures the real time for the planner's runs; through its SageMaker API a launch takes at least \
               `guardrail serve --provisioning-seconds` (default 300) of the API clock, so that alarms meet an \
               update as they would on SageMaker.",
    },
    Assumption {
        id: "linear_last_step",
        title: "The last linear step is followed by the final bake only",
        text: "Each linear step that leaves blue serving bakes for WaitIntervalInSeconds. The step that moves the \
               last instances is followed by the final bake (TerminationWaitInSeconds), as the canary's second step is.",
    },
    Assumption {
        id: "rolling",
        title: "Rolling batches",
        text: "Each rolling batch is provisioned, receives traffic in proportion to capacity, bakes for \
               WaitIntervalInSeconds, and then one batch of blue is removed.",
    },
    Assumption {
        id: "rolling_rollback",
        title: "A rollback brings blue back before traffic returns",
        text: "A rollback provisions the blue instances that a rolling update already terminated, in batches of \
               RollbackMaximumBatchSize (by default the whole fleet at once, as AWS documents); each batch takes \
               ProvisioningSeconds, and the instances serving keep serving until it is healthy. Then traffic moves \
               to blue and as many green instances are terminated. Blue instances that still exist take traffic \
               back at once, so a blue/green rollback is instant. Fleet 3 at (2 green, 2 blue): 1 blue is launched, \
               then blue serves alone, one provisioning time after the decision.",
    },
    Assumption {
        id: "all_at_once_wait",
        title: "WaitIntervalInSeconds does nothing with ALL_AT_ONCE",
        text: "SageMaker's API requires WaitIntervalInSeconds for every traffic routing type, but it is the wait \
               between incremental steps, and ALL_AT_ONCE has one step. guardrail assumes it has no effect there: \
               the bake after the shift is TerminationWaitInSeconds.",
    },
    Assumption {
        id: "monitoring_window",
        title: "When alarms can roll back",
        text: "Alarms are watched from the first traffic shift until the final bake ends. An alarm already in ALARM \
               when watching starts rolls back at once (AWS documents that an old-fleet alarm terminates the \
               deployment). INSUFFICIENT_DATA never rolls back. SageMaker is assumed to see a state change as soon \
               as CloudWatch makes it.",
    },
    Assumption {
        id: "timeout",
        title: "The execution timeout rolls back",
        text: "MaximumExecutionTimeoutInSeconds counts from the update request, provisioning included, to the end \
               of the final bake. When it runs out, traffic returns to blue, as on an alarm. Without a timeout, \
               guardrail assumes the maximum, 28800 s.",
    },
    Assumption {
        id: "alarm_periods",
        title: "Alarm periods and evaluation",
        text: "Metric periods are aligned to the update request, metrics arrive without delay, and each alarm is \
               evaluated at the end of each of its periods over the last EvaluationPeriods + 2 periods (CloudWatch's \
               example retrieves 5 datapoints for 3 evaluation periods). Endpoint-wide metrics exist before the \
               update, from blue alone; new-fleet metrics (EndpointConfigName) start with green's first request.",
    },
    Assumption {
        id: "missing_data_missing",
        title: "TreatMissingData missing and ignore",
        text: "With fewer real datapoints than EvaluationPeriods, `missing` evaluates only the real ones: any \
               non-breaching point gives OK unless DatapointsToAlarm points breach; if every real point breaches, \
               the state is ALARM when enough breach or when the newest period is missing (the metric stopped), and \
               INSUFFICIENT_DATA otherwise. `ignore` does the same but keeps the current state where `missing` \
               would give ALARM or INSUFFICIENT_DATA from too few points. This reproduces every row of AWS's tables.",
    },
    Assumption {
        id: "describe_endpoint",
        title: "What DescribeEndpoint shows during an update (local engine)",
        text: "ProductionVariants is the old fleet and PendingDeploymentSummary the new one. CurrentWeight is each \
               fleet's share of traffic (traffic follows active capacity), DesiredWeight is 0 for the old fleet and 1 \
               for the new, and CurrentInstanceCount counts the instances serving. The new fleet's VariantStatus is \
               Creating while it launches, ActivatingTraffic when new capacity takes traffic, Baking during each bake \
               (the message names the wait), and Deleting when it rolls back; the old fleet's is Deleting while it is \
               terminated. Canary of 1 beside 3: old CurrentWeight 0.75, new 0.25 with CurrentInstanceCount 1 of \
               DesiredInstanceCount 3. After a rollback the endpoint is InService on the old config with \
               FailureReason \"Update rolled back: <cause>\"; LastDeploymentConfig is the DeploymentConfig of the \
               last update that had one.",
    },
    Assumption {
        id: "update_without_deployment_config",
        title: "An update without a DeploymentConfig",
        text: "SageMaker documents that without an update policy it uses blue/green with all-at-once shifting. \
               guardrail runs exactly that: every new instance takes traffic at once, no bake (TerminationWaitInSeconds \
               0), no rollback alarms, the maximum timeout (28800 s). RetainDeploymentConfig reuses the last \
               DeploymentConfig the endpoint was created or updated with (none: the same as no DeploymentConfig); \
               giving both DeploymentConfig and RetainDeploymentConfig is refused.",
    },
    Assumption {
        id: "api_refusals",
        title: "What the SageMaker API refuses, and in which words",
        text: "UpdateEndpoint on an endpoint that is Creating or Updating is refused with ValidationException \
               'Cannot update in-progress endpoint \"<arn>\".'; DeleteEndpoint then is refused with 'Cannot delete \
               in-progress endpoint \"<arn>\".'; a Failed endpoint can only be deleted. An update to the config the \
               endpoint already uses is refused. An alarm named in AutoRollbackConfiguration that does not exist in \
               CloudWatch makes UpdateEndpoint fail at once with ValidationException rather than the update later. \
               A request member guardrail does not model is refused with a 400 that names it (Tags excepted: they \
               change nothing here), rather than ignored: a rehearsal that quietly dropped a setting would mislead. \
               Example: CreateEndpointConfig with DataCaptureConfig answers 'unknown member(s) DataCaptureConfig'.",
    },
    Assumption {
        id: "api_alarms",
        title: "CloudWatch on the local engine",
        text: "SageMaker's metrics are published in 10-second buckets of the API clock, per endpoint config and for \
               the whole variant, without delay, and read per minute as SageMaker publishes them (standard_resolution), and kept as CloudWatch keeps data: 10-second buckets for 3 \
               hours, then summed into minutes (kept 15 days), 5 minutes (63 days) and hours (455 days); a query \
               whose period is shorter than what is kept finds no datapoints. Example: 4 hours later, a minute's six \
               10-second buckets are one, and a 10-second period over it is empty. Alarms created with PutMetricAlarm are evaluated \
               at the end of each of their periods, aligned to the epoch, over the last EvaluationPeriods + 2 periods, \
               all the time. An update through the API reads its rollback alarms' states from there, and before each \
               of its own deadlines CloudWatch catches up to that moment, so an alarm due then is judged first.",
    },
    Assumption {
        id: "sagemaker_reading",
        title: "How a run on SageMaker is read",
        text: "guardrail polls DescribeAlarms and DescribeEndpoint (each second by default), DescribeAlarmHistory \
               when an alarm changes, and GetMetricData once per metric period, two minutes after it ends \
               (CloudWatch's delay), following every NextToken. Each call retries as the AWS SDK's standard retry \
               mode does (3 attempts, exponential backoff with jitter); a poll that still fails is recorded and the \
               next comes twice as late, up to 30 s. An expired token is recorded, and the next poll asks the \
               credential chain for new credentials. An UpdateEndpoint that fails after its retries is a refusal \
               unless DescribeEndpoint shows SageMaker updating to the new config anyway (a 500 whose retry met \
               \"in progress\"): then it is watched, and the record says so. Right after UpdateEndpoint, \
               DescribeEndpoint may still show the endpoint as it was: until it shows the update (a status other \
               than InService or SystemUpdating, the new config, or a LastModifiedTime after the one before the \
               request), InService on the old config is not a rollback. RollingBack starts the rollback; the \
               InService that follows ends it. SystemUpdating is waited out. The new \
               fleet's VariantStatus in PendingDeploymentSummary gives the phase: Creating is provisioning, Baking \
               is the next bake of the plan's schedule whose traffic share matches, Deleting is a rollback; the old \
               fleet Deleting is blue terminating. Green's share is its CurrentWeight over both fleets' (when \
               weights are missing, its share of serving instances). Times are SageMaker's own (VariantStatus \
               StartTime, LastModifiedTime, alarm history) from the update's StartTime. The outcome: succeeded only \
               if the endpoint is InService on the new config; InService on the old config is a rollback, caused \
               by the first rollback alarm that entered ALARM during the update (with its reason and values), else \
               by the FailureReason; Failed is a failure; UpdateRollbackFailed is a failure that needs a person (SageMaker \
               could not roll back, and the endpoint may serve a mix of both configs), with SageMaker's reason. Example: canary of 1 beside 3 \
               shows new CurrentWeight 0.25 and VariantStatus Baking: the canary bake at 25 %.",
    },
    Assumption {
        id: "in_service_health",
        title: "An instance that stops answering during an update",
        text: "SageMaker documents the 60-second limit on an invocation, not how it health-checks serving \
               instances. The local engine pings every serving instance's /ping once a second of the run's clock, \
               allowing 2 seconds (at least 250 ms of real time), and calls an instance unhealthy after 3 failures \
               in a row, or at once when its process stops. An unhealthy serving instance, blue or green, is no \
               longer routed to and is replaced, as SageMaker replaces an unhealthy instance: a new one of the \
               same model is launched (taking the launch's set time, and the start-up patience to answer /ping) \
               and serves in its place; until then its fleet serves one instance short, which the alarms see. A \
               blue failure is never counted against green. A replacement that fails in turn is not replaced \
               again: a green one rolls the update back (green fleet unhealthy), a blue one leaves blue one \
               short. An endpoint at rest (InService, no update) is checked the same way and keeps its instance \
               count: an unhealthy instance is replaced, the endpoint stays InService one instance short until \
               the replacement answers, and a replacement that cannot start is tried again 10 s (real time) later. A green instance that fails before it serves is a failed launch, which rolls back. A \
               request no instance answers within 60 s of the API clock (but never sooner than 1 s of real \
               time) fails as a ModelError with the model's status 0, counted in InvocationModelErrors and \
               Invocation5XXErrors. Example: the canary hangs at 3:00 of its bake; its pings fail at about \
               3:02, 3:05 and 3:08, traffic then goes to blue alone, and its replacement serves the rest of the \
               bake; requests the hung instance held fail when it is stopped.",
    },
    Assumption {
        id: "startup_patience",
        title: "How long a starting instance may take",
        text: "AWS's knowledge center says an endpoint fails when its container does not answer /ping \
               consistently within four minutes of starting (ContainerStartupHealthCheckTimeoutInSeconds changes it \
               per variant; guardrail does not model it). The local engine allows 240 s of the clock the launch runs \
               on, the API clock or the run's plan clock, but never less than 30 s of real time: a model server's \
               start-up does not speed up with --time-scale. Example: at 1× an instance has 240 s; at 60× it has \
               30 s of real time (30 minutes of the API clock), not 4 s. One that has not answered by then fails \
               its launch. Stopping is real time too: a terminated command's processes get SIGTERM, then SIGKILL \
               30 s later, as AWS documents for SageMaker's containers, whatever the time scale. A rollback waits \
               for blue's relaunch as long as its start-up patience. Each request the engine makes to a model \
               server has its own timeout on these clocks; a 60 s real-time limit on the engine's HTTP client only \
               ends one that hangs past them.",
    },
    Assumption {
        id: "metric_math",
        title: "Metric math where AWS is silent",
        text: "guardrail evaluates what error-rate and latency-ratio alarms use: arithmetic, comparisons, AND/OR, \
               ABS, AVG, FILL, IF, MAX, MIN and SUM, as AWS's metric math page describes (a value missing in one \
               of two series counts as 0 where the other has one; a division by zero drops the point). An alarm's \
               expression is evaluated over its evaluation range (EvaluationPeriods + 2 periods), so MIN, MAX, SUM \
               and AVG of one series are taken over that range. FILL(m, REPEAT) leaves a gap at the start of the \
               range, which has no value before it; FILL(m, LINEAR) fills only gaps between two values. MIN and MAX \
               of an array take the values present at each time; SUM and AVG count a missing one as 0. Another \
               CloudWatch function (RATE, METRICS, SEARCH, …) is refused by name, an unknown one as CloudWatch \
               refuses it (\"Unrecognized function\"); AWS does not publish its exact messages. Example: errors \
               [5, -, 0] and requests [50, 0, -] give 100*errors/requests = [10, -, -] (0/0 and 0/missing drop).",
    },
    Assumption {
        id: "composite_alarms",
        title: "Composite alarms",
        text: "A composite alarm is in ALARM when its rule is true and OK otherwise, evaluated when it is put and \
               whenever an alarm it names changes state (AWS: INSUFFICIENT_DATA only until that first \
               evaluation). NOT binds tighter than AND, AND tighter than OR (AWS does not say). Alarms that name \
               each other in a circle stop being re-evaluated after as many rounds as there are alarms, as \
               CloudWatch stops evaluating a cycle. DeleteAlarms refuses an alarm that a composite alarm not being \
               deleted names, with ValidationError (AWS says such an alarm cannot be deleted, not in which words). \
               Example: ALARM(a) OR ALARM(b) goes to ALARM the moment a does.",
    },
    Assumption {
        id: "composite_rollback",
        title: "SageMaker rolls back on metric alarms only",
        text: "AWS does not say whether AutoRollbackConfiguration takes a composite alarm. SageMaker needs \
               cloudwatch:DescribeAlarms on its alarms, and DescribeAlarms returns only metric alarms unless asked \
               for composite ones, so guardrail assumes SageMaker would not see a composite alarm: a plan that \
               lists one for rollback is invalid, the local SageMaker refuses UpdateEndpoint naming one, and the \
               preflight says so. List the metric alarms the rule names instead: for ALARM(a) OR ALARM(b) that is \
               exactly the same rollback.",
    },
    Assumption {
        id: "standard_resolution",
        title: "Standard-resolution data is one datapoint a minute",
        text: "SageMaker publishes its endpoint metrics once a minute, and PutMetricData without StorageResolution \
               1 is kept per minute. A period of 10, 20 or 30 s on such data sees a minute's datapoint in the \
               period that starts on the minute and nothing in the others; only high-resolution data \
               (StorageResolution 1, kept per second for 3 hours) has datapoints every 10 s. Periods of 10 and \
               30 s are evaluated at the end of each period: with periods aligned and no delay, CloudWatch's \
               evaluation every 10 s sees the same datapoints. Example: a 10 s alarm on AWS/SageMaker sees the \
               minute 0:00-1:00 at 0:00 and no data at 0:10 to 0:50.",
    },
    Assumption {
        id: "team_metrics",
        title: "Metrics the team publishes",
        text: "In the what-if, a team metric (a namespace outside AWS/) is what the plan's Scenario.TeamMetrics says: \
               Requests, Errors and Latency are the client's own count of every invocation, endpoint-wide (a client \
               cannot tell the fleets apart), at the metric's StorageResolution; a Level metric publishes one value \
               every PublishSeconds (default 60), stamped at the end of what it describes: Level plus Noise times \
               a standard normal, moved towards GreenLevel in proportion to green's share of traffic after the \
               regression's onset. An alarm on a team metric the scenario does not model sees no data. Nothing \
               publishes a team metric in a rehearsal but the team: the local engine's alarms read what was sent \
               with PutMetricData, and a planner run reads the same real time on the API clock. Example: Level 3.1, \
               GreenLevel 0 and a 25 % canary give about 2.3 during the canary bake.",
    },
    Assumption {
        id: "put_metric_data",
        title: "What the local CloudWatch keeps of PutMetricData",
        text: "Data is kept per metric (namespace, name and dimensions in any order), per second for \
               StorageResolution 1 and per minute otherwise, rolled up and forgotten as CloudWatch keeps data \
               (seconds become minutes after 3 hours; 455 days in all), in the run store before the call answers. \
               A query with Unit reads only data sent with that unit; without one, all units together. Percentiles \
               are exact up to 2 000 distinct values per bucket and within 0.5 % beyond; data sent as a \
               StatisticValues set has no percentiles unless the set is one value (CloudWatch's rule). At most \
               10 000 metrics are kept (LimitExceeded beyond). Timestamps are read on the API clock: at most two \
               weeks before it and two hours after.",
    },
    Assumption {
        id: "simulated_traffic",
        title: "Simulated traffic",
        text: "Requests arrive at a steady rate and each goes to green with probability equal to green's share. \
               Each request fails independently with its fleet's error rate; latency is log-normal (sigma 0.5) \
               around the fleet's mean. Before the regression's onset, green behaves exactly like blue.",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_period_on_standard_resolution_sees_the_minute_at_its_start() {
        assert_eq!(datapoint_window_ms(0, 60_000, false), Some((0, 60_000)));
        assert_eq!(
            datapoint_window_ms(60_000, 10_000, false),
            Some((60_000, 120_000))
        );
        assert_eq!(datapoint_window_ms(70_000, 10_000, false), None);
        assert_eq!(
            datapoint_window_ms(70_000, 10_000, true),
            Some((70_000, 80_000))
        );
        assert_eq!(
            datapoint_window_ms(-60_000, 30_000, false),
            Some((-60_000, 0))
        );
        assert_eq!(datapoint_window_ms(-30_000, 30_000, false), None);
    }

    #[test]
    fn the_invocation_timeout_follows_the_clock_down_to_its_real_time_floor() {
        assert_eq!(invocation_timeout_real_seconds(1.0), 60.0);
        assert_eq!(invocation_timeout_real_seconds(30.0), 2.0);
        assert_eq!(invocation_timeout_real_seconds(60.0), 1.0);
        assert_eq!(invocation_timeout_real_seconds(2_000.0), 1.0);
    }

    #[test]
    fn startup_patience_follows_the_clock_down_to_its_real_time_floor() {
        assert_eq!(startup_patience_real_seconds(1.0), 240.0);
        assert_eq!(startup_patience_real_seconds(2.0), 120.0);
        assert_eq!(startup_patience_real_seconds(8.0), 30.0);
        assert_eq!(startup_patience_real_seconds(60.0), 30.0);
        assert_eq!(startup_patience_real_seconds(10_000.0), 30.0);
    }

    fn check_instances(kind: CapacitySizeType, value: u32, fleet: u32, expected: (u32, bool)) {
        let sizing = instances_for(kind, value, fleet);
        assert_eq!(
            (sizing.instances, sizing.rounded_to_zero),
            expected,
            "{kind:?} {value} of {fleet}"
        );
    }

    #[test]
    fn percent_rounds_to_nearest_instance_with_halves_up() {
        use CapacitySizeType::*;
        check_instances(CapacityPercent, 33, 3, (1, false));
        check_instances(CapacityPercent, 50, 3, (2, false));
        check_instances(CapacityPercent, 10, 3, (1, true));
        check_instances(CapacityPercent, 25, 10, (3, false));
        check_instances(CapacityPercent, 30, 3, (1, false));
        check_instances(CapacityPercent, 100, 4, (4, false));
        check_instances(InstanceCount, 1, 3, (1, false));
        check_instances(InstanceCount, 5, 3, (3, false));
    }

    /// (fleet, green serving, blue serving, batch) → (launch, green, blue, terminated) per step.
    fn check_rollback(case: (u32, u32, u32, u32), expected: &[(u32, u32, u32, u32)]) {
        let (fleet, green, blue, batch) = case;
        let got: Vec<(u32, u32, u32, u32)> = rollback_steps(fleet, Fleets::new(green, blue), batch)
            .into_iter()
            .map(|step| {
                (
                    step.launch_blue,
                    step.serving.green,
                    step.serving.blue,
                    step.terminate_green,
                )
            })
            .collect();
        assert_eq!(
            got, expected,
            "fleet {fleet}, ({green}, {blue}), batch {batch}"
        );
    }

    #[test]
    fn rollback_steps_follow_rollback_maximum_batch_size() {
        // Blue/green: blue was never terminated, so traffic returns at once.
        check_rollback((3, 1, 3, 3), &[(0, 0, 3, 1)]);
        check_rollback((3, 3, 3, 3), &[(0, 0, 3, 3)]);
        // A fleet of 1: blue is whole during the only bake.
        check_rollback((1, 1, 1, 1), &[(0, 0, 1, 1)]);
        // The default, 100 %: the missing blue capacity comes back in one batch.
        check_rollback((3, 2, 2, 3), &[(1, 0, 3, 2)]);
        check_rollback((4, 3, 2, 4), &[(2, 0, 4, 3)]);
        // A batch at least as large as green still takes a provisioning time.
        check_rollback((3, 2, 2, 2), &[(1, 0, 3, 2)]);
        // Batches of 1: one provisioning time per missing blue instance.
        check_rollback((3, 3, 1, 1), &[(1, 2, 2, 1), (1, 0, 3, 2)]);
        check_rollback((3, 3, 0, 1), &[(1, 2, 1, 1), (1, 1, 2, 1), (1, 0, 3, 1)]);
        check_rollback((5, 4, 2, 2), &[(2, 2, 4, 2), (1, 0, 5, 2)]);
        // Blue is whole and green never served (a failure while provisioning).
        check_rollback((3, 0, 3, 1), &[(0, 0, 3, 0)]);
    }

    #[test]
    fn traffic_is_proportional_to_active_capacity() {
        for (green, blue, expected) in [
            (1, 3, 2_500),
            (1, 2, 3_333),
            (2, 1, 6_667),
            (3, 0, 10_000),
            (0, 3, 0),
            (0, 0, 0),
            (1, 1, 5_000),
        ] {
            assert_eq!(green_traffic_bp(green, blue), expected, "{green} vs {blue}");
        }
    }
}
