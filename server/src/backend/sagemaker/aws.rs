//! The AWS SDK for Rust side: settings, clients, errors, and the plan in the
//! SDK's types (and as the JSON a dry run prints).

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_sdk_cloudwatch::types as cw;
use aws_sdk_sagemaker::types as sm;
use guardrail_app::api::{ErrorKind, ServiceError};
use guardrail_core::plan::{
    CapacitySize, CompositeAlarm, DeploymentConfig, Dimension, MetricAlarm, MetricDataQuery,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Where and how a SageMaker backend reaches AWS. Never credentials: those
/// come from the SDK's chain (environment, profiles, SSO, instance roles).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// `--region`; otherwise the chain's (`AWS_REGION`, the profile).
    pub region: Option<String>,
    /// `--profile`; otherwise `AWS_PROFILE` or the default profile.
    pub profile: Option<String>,
    /// An endpoint URL for both services; otherwise the chain's
    /// (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_SAGEMAKER`, ...) or AWS's own.
    pub endpoint_url: Option<String>,
    /// How fast the API's clock runs: 1 on AWS; a `guardrail serve
    /// --time-scale` when rehearsing against the local APIs.
    pub api_time_scale: f64,
    /// How often the watcher polls while nothing fails, in ms.
    pub poll_ms: u64,
    /// Put the plan's alarms with `PutMetricAlarm` before the update.
    pub create_alarms: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            region: None,
            profile: None,
            endpoint_url: None,
            api_time_scale: 1.0,
            poll_ms: DEFAULT_POLL_MS,
            create_alarms: false,
        }
    }
}

/// One `DescribeEndpoint` and one `DescribeAlarms` a second: 120 requests a
/// minute, far below SageMaker's and CloudWatch's request quotas, and events
/// reach the live view within about a second of SageMaker's state changing.
pub const DEFAULT_POLL_MS: u64 = 1_000;
/// The longest wait between polls after repeated throttling or failures.
pub const MAX_POLL_MS: u64 = 30_000;

/// The SDK's clients. Every call retries as the SDK's standard retry mode
/// does (3 attempts, exponential backoff with jitter, the retry quota) unless
/// the SDK config says otherwise; a poll that still fails is reported and
/// paced by the watcher. `calls` make the preflight and the update; `polls`
/// watch it.
#[derive(Clone, Debug)]
pub struct Clients {
    pub sagemaker: aws_sdk_sagemaker::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub poll_sagemaker: aws_sdk_sagemaker::Client,
    pub poll_cloudwatch: aws_sdk_cloudwatch::Client,
    pub region: String,
    /// Where requests go, for people: the override, or AWS's endpoint.
    pub api: String,
    /// Where fresh credentials come from after a token expired; `None`: the
    /// clients cannot renew them (mocks).
    pub renew: Option<Renew>,
}

/// What [`Clients::renewed`] starts again from.
#[derive(Clone, Debug)]
pub struct Renew {
    config: aws_config::SdkConfig,
    /// The settings, when the clients came from the SDK's chain: loading it
    /// again re-reads the profiles and the SSO token cache.
    settings: Option<Settings>,
}

impl Clients {
    /// Clients from the SDK's standard chain, with `settings` on top.
    pub async fn load(settings: &Settings) -> Result<Clients, ServiceError> {
        use aws_smithy_http_client::tls;
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http);
        if let Some(region) = &settings.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        if let Some(profile) = &settings.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(url) = &settings.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let config = loader.load().await;
        let Some(region) = config.region().map(ToString::to_string) else {
            return Err(ServiceError::new(
                ErrorKind::Input,
                "no AWS region: pass --region, set AWS_REGION, or set region in the AWS profile",
            ));
        };
        let api = match config.endpoint_url() {
            Some(url) => redact_url(url),
            None => std::env::var("AWS_ENDPOINT_URL_SAGEMAKER")
                .map(|url| redact_url(&url))
                .unwrap_or_else(|_| format!("https://api.sagemaker.{region}.amazonaws.com")),
        };
        let mut clients = Clients::from_config(&config, region, api);
        if let Some(renew) = &mut clients.renew {
            renew.settings = Some(settings.clone());
        }
        Ok(clients)
    }

    /// Clients on an SDK config (tests give one with a fake or replay client).
    pub fn from_config(config: &aws_config::SdkConfig, region: String, api: String) -> Clients {
        Clients {
            sagemaker: aws_sdk_sagemaker::Client::new(config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(config),
            poll_sagemaker: aws_sdk_sagemaker::Client::new(config),
            poll_cloudwatch: aws_sdk_cloudwatch::Client::new(config),
            region,
            api,
            renew: Some(Renew {
                config: config.clone(),
                settings: None,
            }),
        }
    }

    /// The same clients with credentials fetched anew, after AWS said the
    /// token they signed with expired. The SDK's identity cache keeps
    /// credentials until the expiry they claim, so new clients get a new
    /// cache: the chain's providers (SSO, `credential_process`, an assumed
    /// role) are asked again, and clients loaded from the chain load it
    /// again. `None` if these clients cannot renew.
    pub async fn renewed(&self) -> Option<Clients> {
        let renew = self.renew.as_ref()?;
        if let Some(settings) = &renew.settings {
            if let Ok(clients) = Clients::load(settings).await {
                return Some(clients);
            }
        }
        let cache = || aws_config::identity::IdentityCache::lazy().build();
        let sagemaker = aws_sdk_sagemaker::config::Builder::from(&renew.config)
            .identity_cache(cache())
            .build();
        let cloudwatch = aws_sdk_cloudwatch::config::Builder::from(&renew.config)
            .identity_cache(cache())
            .build();
        Some(Clients {
            sagemaker: aws_sdk_sagemaker::Client::from_conf(sagemaker.clone()),
            cloudwatch: aws_sdk_cloudwatch::Client::from_conf(cloudwatch.clone()),
            poll_sagemaker: aws_sdk_sagemaker::Client::from_conf(sagemaker),
            poll_cloudwatch: aws_sdk_cloudwatch::Client::from_conf(cloudwatch),
            region: self.region.clone(),
            api: self.api.clone(),
            renew: self.renew.clone(),
        })
    }
}

/// A URL without user information or query, safe to show and record.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit('@').next().unwrap_or(host);
    if scheme.is_empty() {
        host.to_string()
    } else {
        format!("{scheme}://{host}")
    }
}

/// A failed call, for people: the service's code and message, or what went
/// wrong on the way. `throttled` when the service asked to slow down.
#[derive(Clone, Debug, PartialEq)]
pub struct CallError {
    pub code: Option<String>,
    pub text: String,
    pub throttled: bool,
}

impl CallError {
    /// AWS refused the request because the credentials' session token
    /// expired.
    pub fn expired_token(&self) -> bool {
        matches!(
            self.code.as_deref(),
            Some("ExpiredTokenException" | "ExpiredToken")
        )
    }
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Reads an SDK error.
pub fn call_error<E, R>(error: &aws_sdk_sagemaker::error::SdkError<E, R>) -> CallError
where
    E: aws_sdk_sagemaker::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_sagemaker::error::SdkError;
    match error {
        SdkError::ServiceError(service) => {
            let inner = service.err();
            let code = inner.code().map(str::to_string);
            let message = inner.message().unwrap_or("no message").to_string();
            let throttled = matches!(
                code.as_deref(),
                Some(
                    "ThrottlingException"
                        | "Throttling"
                        | "ThrottledException"
                        | "RequestLimitExceeded"
                        | "TooManyRequestsException"
                )
            );
            let mut text = format!("{}: {message}", code.as_deref().unwrap_or("an error"));
            if matches!(
                code.as_deref(),
                Some("ExpiredTokenException" | "ExpiredToken")
            ) {
                text.push_str(
                    " (the AWS credentials expired: guardrail asks the SDK's credential chain for new ones; \
                     if they stay expired, renew them with `aws sso login` or a new session)",
                );
            }
            CallError {
                text,
                code,
                throttled,
            }
        }
        other => {
            let text = aws_sdk_sagemaker::error::DisplayErrorContext(other).to_string();
            let text = if text.contains("no credentials")
                || text.contains("NoCredentials")
                || text.contains("credentials provider")
            {
                format!(
                    "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or use a profile (--profile, AWS_PROFILE, `aws sso login`) ({text})"
                )
            } else {
                text
            };
            CallError {
                code: None,
                text,
                throttled: false,
            }
        }
    }
}

fn capacity(size: &CapacitySize) -> Option<sm::CapacitySize> {
    let kind = serde_json::to_value(size.kind?).ok()?;
    sm::CapacitySize::builder()
        .r#type(sm::CapacitySizeType::from(kind.as_str()?))
        .value(i32::try_from(size.value?).ok()?)
        .build()
        .into()
}

fn seconds(value: Option<i64>) -> Option<i32> {
    value.and_then(|value| i32::try_from(value).ok())
}

/// The plan's `DeploymentConfig` in the SDK's types. The plan is valid, so
/// every required member is there.
pub fn deployment_config(config: &DeploymentConfig) -> sm::DeploymentConfig {
    let blue_green = config.blue_green_update_policy.as_ref().and_then(|policy| {
        let routing = policy.traffic_routing_configuration.as_ref()?;
        let kind = serde_json::to_value(routing.kind?).ok()?;
        let routing = sm::TrafficRoutingConfig::builder()
            .r#type(sm::TrafficRoutingConfigType::from(kind.as_str()?))
            .wait_interval_in_seconds(seconds(routing.wait_interval_in_seconds)?)
            .set_canary_size(routing.canary_size.as_ref().and_then(capacity))
            .set_linear_step_size(routing.linear_step_size.as_ref().and_then(capacity))
            .build();
        Some(
            sm::BlueGreenUpdatePolicy::builder()
                .traffic_routing_configuration(routing)
                .set_termination_wait_in_seconds(seconds(policy.termination_wait_in_seconds))
                .set_maximum_execution_timeout_in_seconds(seconds(
                    policy.maximum_execution_timeout_in_seconds,
                ))
                .build(),
        )
    });
    let rolling = config.rolling_update_policy.as_ref().and_then(|policy| {
        sm::RollingUpdatePolicy::builder()
            .set_maximum_batch_size(policy.maximum_batch_size.as_ref().and_then(capacity))
            .wait_interval_in_seconds(seconds(policy.wait_interval_in_seconds)?)
            .set_maximum_execution_timeout_in_seconds(seconds(
                policy.maximum_execution_timeout_in_seconds,
            ))
            .set_rollback_maximum_batch_size(
                policy
                    .rollback_maximum_batch_size
                    .as_ref()
                    .and_then(capacity),
            )
            .build()
            .into()
    });
    let rollback = config.auto_rollback_configuration.as_ref().map(|rollback| {
        sm::AutoRollbackConfig::builder()
            .set_alarms(Some(
                rollback
                    .alarms
                    .iter()
                    .map(|alarm| sm::Alarm::builder().alarm_name(&alarm.alarm_name).build())
                    .collect(),
            ))
            .build()
    });
    sm::DeploymentConfig::builder()
        .set_blue_green_update_policy(blue_green)
        .set_rolling_update_policy(rolling)
        .set_auto_rollback_configuration(rollback)
        .build()
}

/// `PutMetricAlarm` for one of the plan's alarms.
pub fn put_metric_alarm(
    client: &aws_sdk_cloudwatch::Client,
    alarm: &MetricAlarm,
) -> aws_sdk_cloudwatch::operation::put_metric_alarm::builders::PutMetricAlarmFluentBuilder {
    let text = |value: &Value| value.as_str().map(str::to_string);
    let statistic = alarm
        .statistic
        .and_then(|statistic| serde_json::to_value(statistic).ok())
        .and_then(|value| text(&value))
        .map(|name| cw::Statistic::from(name.as_str()));
    let comparison = alarm
        .comparison_operator
        .and_then(|operator| serde_json::to_value(operator).ok())
        .and_then(|value| text(&value))
        .map(|name| cw::ComparisonOperator::from(name.as_str()));
    let missing = alarm
        .treat_missing_data
        .and_then(|treatment| serde_json::to_value(treatment).ok())
        .and_then(|value| text(&value));
    let low_sample = alarm
        .evaluate_low_sample_count_percentile
        .and_then(|value| serde_json::to_value(value).ok())
        .and_then(|value| text(&value));
    let request = client
        .put_metric_alarm()
        .alarm_name(&alarm.alarm_name)
        .set_alarm_description(alarm.alarm_description.clone())
        .set_actions_enabled(alarm.actions_enabled)
        .set_ok_actions(alarm.ok_actions.clone())
        .set_alarm_actions(alarm.alarm_actions.clone())
        .set_insufficient_data_actions(alarm.insufficient_data_actions.clone());
    // A math alarm names its metrics in Metrics, and nothing else of them.
    let request = match &alarm.metrics {
        Some(queries) => request.set_metrics(Some(queries.iter().map(metric_data_query).collect())),
        None => request
            .namespace(&alarm.namespace)
            .metric_name(&alarm.metric_name)
            .set_dimensions(Some(dimensions(&alarm.dimensions))),
    };
    request
        .set_statistic(statistic)
        .set_extended_statistic(alarm.extended_statistic.clone())
        .set_period(seconds(alarm.period))
        .set_evaluation_periods(seconds(alarm.evaluation_periods))
        .set_datapoints_to_alarm(seconds(alarm.datapoints_to_alarm))
        .set_threshold(alarm.threshold)
        .set_comparison_operator(comparison)
        .set_treat_missing_data(missing)
        .set_evaluate_low_sample_count_percentile(low_sample)
        .set_unit(alarm.unit.as_deref().map(cw::StandardUnit::from))
}

fn dimensions(dimensions: &[Dimension]) -> Vec<cw::Dimension> {
    dimensions
        .iter()
        .map(|dimension| {
            cw::Dimension::builder()
                .name(&dimension.name)
                .value(&dimension.value)
                .build()
        })
        .collect()
}

/// One query of a math alarm's `Metrics` in the SDK's types.
fn metric_data_query(query: &MetricDataQuery) -> cw::MetricDataQuery {
    let stat = query.metric_stat.as_ref().map(|stat| {
        cw::MetricStat::builder()
            .metric(
                cw::Metric::builder()
                    .namespace(&stat.metric.namespace)
                    .metric_name(&stat.metric.metric_name)
                    .set_dimensions(Some(dimensions(&stat.metric.dimensions)))
                    .build(),
            )
            .set_period(seconds(stat.period))
            .stat(&stat.stat)
            .set_unit(stat.unit.as_deref().map(cw::StandardUnit::from))
            .build()
    });
    cw::MetricDataQuery::builder()
        .id(&query.id)
        .set_metric_stat(stat)
        .set_expression(query.expression.clone())
        .set_label(query.label.clone())
        .set_return_data(query.return_data)
        .set_period(seconds(query.period))
        .set_account_id(query.account_id.clone())
        .build()
}

/// `PutCompositeAlarm` for one of the plan's composite alarms.
pub fn put_composite_alarm(
    client: &aws_sdk_cloudwatch::Client,
    alarm: &CompositeAlarm,
) -> aws_sdk_cloudwatch::operation::put_composite_alarm::builders::PutCompositeAlarmFluentBuilder {
    client
        .put_composite_alarm()
        .alarm_name(&alarm.alarm_name)
        .alarm_rule(&alarm.alarm_rule)
        .set_alarm_description(alarm.alarm_description.clone())
        .set_actions_enabled(alarm.actions_enabled)
        .set_ok_actions(alarm.ok_actions.clone())
        .set_alarm_actions(alarm.alarm_actions.clone())
        .set_insufficient_data_actions(alarm.insufficient_data_actions.clone())
}

/// One request as a dry run prints it: the service, the operation and its
/// input in AWS's JSON shape.
pub fn request(service: &str, operation: &str, input: Value) -> Value {
    json!({"service": service, "operation": operation, "input": input})
}

/// The plan's alarm as `PutMetricAlarm`'s input.
pub fn alarm_input(alarm: &MetricAlarm) -> Value {
    serde_json::to_value(alarm).unwrap_or_default()
}

/// Waits between polls: `base` while polls succeed; doubled, up to
/// [`MAX_POLL_MS`], after each throttled or failed one; halved back after each
/// success.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pace {
    base_ms: u64,
    pub current_ms: u64,
}

impl Pace {
    pub fn new(base_ms: u64) -> Pace {
        let base_ms = base_ms.clamp(10, MAX_POLL_MS);
        Pace {
            base_ms,
            current_ms: base_ms,
        }
    }

    pub fn failed(&mut self) -> u64 {
        self.current_ms = (self.current_ms.saturating_mul(2)).min(MAX_POLL_MS);
        self.current_ms
    }

    pub fn succeeded(&mut self) {
        self.current_ms = (self.current_ms / 2).max(self.base_ms);
    }

    pub fn wait(&self) -> Duration {
        Duration::from_millis(self.current_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_credentials_or_queries() {
        assert_eq!(
            redact_url("http://user:secret@127.0.0.1:3000/path?X-Amz-Signature=abc"),
            "http://127.0.0.1:3000"
        );
        assert_eq!(
            redact_url("https://api.sagemaker.eu-west-1.amazonaws.com"),
            "https://api.sagemaker.eu-west-1.amazonaws.com"
        );
    }

    #[test]
    fn the_pace_backs_off_on_failures_and_returns_on_success() {
        let mut pace = Pace::new(1_000);
        assert_eq!(pace.failed(), 2_000);
        assert_eq!(pace.failed(), 4_000);
        for _ in 0..10 {
            pace.failed();
        }
        assert_eq!(pace.current_ms, MAX_POLL_MS);
        pace.succeeded();
        assert_eq!(pace.current_ms, 15_000);
        for _ in 0..10 {
            pace.succeeded();
        }
        assert_eq!(pace.current_ms, 1_000);
    }
}
