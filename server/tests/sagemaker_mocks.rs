//! The SageMaker backend's polling under throttling and failures, with the
//! AWS SDK's own mocks (`aws-smithy-mocks`): each failed poll is reported as
//! an event with the wait before the next, the wait doubles, and the run
//! still ends with what SageMaker says.

use aws_sdk_sagemaker::error::ErrorMetadata;
use aws_sdk_sagemaker::operation::describe_endpoint::{
    DescribeEndpointError, DescribeEndpointOutput,
};
use aws_sdk_sagemaker::operation::describe_endpoint_config::DescribeEndpointConfigOutput;
use aws_sdk_sagemaker::operation::update_endpoint::UpdateEndpointOutput;
use aws_sdk_sagemaker::types::{EndpointStatus, ProductionVariant, ProductionVariantInstanceType};
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use guardrail_app::api::RunOptions;
use guardrail_core::event::{EventKind, RunOutcome};
use guardrail_core::Plan;
use guardrail_server::backend::sagemaker::aws::{Clients, Settings};
use guardrail_server::backend::sagemaker::SageMaker;
use guardrail_server::backend::Backend;
use guardrail_server::store::Store;

const ARN: &str = "arn:aws:sagemaker:eu-west-1:210987654321:endpoint/guardrail-demo";

fn endpoint(status: EndpointStatus, config: &str) -> DescribeEndpointOutput {
    DescribeEndpointOutput::builder()
        .endpoint_name("guardrail-demo")
        .endpoint_arn(ARN)
        .endpoint_config_name(config)
        .endpoint_status(status)
        .creation_time(aws_sdk_sagemaker::primitives::DateTime::from_secs(1_000))
        .last_modified_time(aws_sdk_sagemaker::primitives::DateTime::from_secs(2_000))
        .build()
}

fn error(code: &str, message: &str) -> DescribeEndpointError {
    DescribeEndpointError::generic(ErrorMetadata::builder().code(code).message(message).build())
}

#[tokio::test]
async fn throttled_and_failed_polls_are_reported_retried_slower_and_the_run_still_ends() {
    use aws_sdk_sagemaker::Client;
    let describe = mock!(Client::describe_endpoint)
        .then_output(|| endpoint(EndpointStatus::InService, "baseline"));
    let config = mock!(Client::describe_endpoint_config).then_output(|| {
        DescribeEndpointConfigOutput::builder()
            .endpoint_config_name("fixed")
            .production_variants(
                ProductionVariant::builder()
                    .variant_name("AllTraffic")
                    .model_name("m")
                    .initial_instance_count(3)
                    .instance_type(ProductionVariantInstanceType::MlM5Xlarge)
                    .build(),
            )
            .build()
    });
    let update = mock!(Client::update_endpoint)
        .then_output(|| UpdateEndpointOutput::builder().endpoint_arn(ARN).build());
    let polls = mock!(Client::describe_endpoint)
        .sequence()
        .error(|| error("ThrottlingException", "Rate exceeded"))
        .error(|| error("InternalFailure", "try again"))
        .output(|| endpoint(EndpointStatus::InService, "fixed"))
        .repeatedly()
        .build();
    let no_retries = |builder: aws_sdk_sagemaker::config::Builder| {
        builder.retry_config(aws_sdk_sagemaker::config::retry::RetryConfig::disabled())
    };
    let calls = mock_client!(
        aws_sdk_sagemaker,
        RuleMode::MatchAny,
        &[&describe, &config, &update]
    );
    let poll = mock_client!(aws_sdk_sagemaker, RuleMode::MatchAny, &[&polls], no_retries);
    let cloudwatch = mock_client!(
        aws_sdk_cloudwatch,
        RuleMode::MatchAny,
        &Vec::<&aws_smithy_mocks::Rule>::new()
    );
    let clients = Clients {
        sagemaker: calls,
        cloudwatch: cloudwatch.clone(),
        poll_sagemaker: poll,
        poll_cloudwatch: cloudwatch,
        region: "eu-west-1".into(),
        api: "mock".into(),
        renew: None,
    };
    // No alarms: only the endpoint is polled.
    let mut plan = Plan::from_json(guardrail_core::examples::NOTEBOOK_CANARY).expect("example");
    plan.endpoint_config_name = "fixed".into();
    plan.alarms.clear();
    plan.deployment_config
        .as_mut()
        .expect("config")
        .auto_rollback_configuration = None;
    let store = Store::in_memory().expect("store");
    let settings = Settings {
        poll_ms: 10,
        ..Settings::default()
    };
    let backend = SageMaker::with_clients(store.clone(), settings, clients);
    let run_id = backend
        .start(&plan, RunOptions::default())
        .await
        .expect("the update starts");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let outcome = loop {
        if let Some(outcome) = store.outcome(&run_id).expect("run") {
            break outcome;
        }
        assert!(std::time::Instant::now() < deadline, "the run should end");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    };
    let events = store.events(&run_id).expect("events");
    assert_eq!(outcome, RunOutcome::Succeeded, "{events:#?}");
    let failures: Vec<(String, String, u64)> = events
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::PollFailed {
                operation,
                error,
                retry_in_ms,
            } => Some((operation.clone(), error.clone(), *retry_in_ms)),
            _ => None,
        })
        .collect();
    assert_eq!(
        failures,
        [
            (
                "DescribeEndpoint".to_string(),
                "ThrottlingException: Rate exceeded".to_string(),
                20
            ),
            (
                "DescribeEndpoint".to_string(),
                "InternalFailure: try again".to_string(),
                40
            ),
        ],
        "{events:#?}"
    );
    assert_eq!(
        polls.num_calls(),
        3,
        "two failures, then the poll that saw the end"
    );
    assert!(events.iter().any(|event| matches!(
        &event.kind,
        EventKind::Targeted { account, region, .. } if account == "210987654321" && region == "eu-west-1"
    )));
}
