"""The seed notebook's canary update, in boto3, against `guardrail serve`.

This is aws/amazon-sagemaker-examples' "Update a SageMaker inference endpoint
using canary traffic shifting", step by step, trimmed only of IAM, S3 and
`image_uris`: the execution role, the model artifacts' S3 URLs and the XGBoost
image URIs are plain strings here, and the images are guardrail's built-in
stand-ins for the notebook's three models (model 2 in an XGBoost container
that cannot load it). Everything else is the notebook's calls.

    guardrail serve --time-scale 60 &
    AWS_ENDPOINT_URL=http://127.0.0.1:3000 AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x \
        GUARDRAIL_TIME_SCALE=60 python examples/boto3/notebook-canary.py

GUARDRAIL_TIME_SCALE is the server's --time-scale: the notebook's own pauses
(an invocation a second, a status check every 30 s) shrink with it. The last
line printed is a JSON summary of what happened.
"""

import json
import os
import random
import threading
import time

import boto3

SCALE = float(os.environ.get("GUARDRAIL_TIME_SCALE", "1"))
# The notebook's latency alarm: Average ModelLatency >= 10 ms. Tests on a busy
# shared machine raise it, as the local models' ~7 ms can pass 10 ms there.
LATENCY_THRESHOLD_US = float(os.environ.get("GUARDRAIL_LATENCY_THRESHOLD_US", "10000"))


def pause(seconds):
    """Sleeps `seconds` of the server's API clock."""
    time.sleep(seconds / SCALE)


region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
sm = boto3.client("sagemaker", region_name=region)
sm_runtime = boto3.client("sagemaker-runtime", region_name=region)
cw = boto3.client("cloudwatch", region_name=region)

# Trimmed: sagemaker.get_execution_role(), the S3 bucket and image_uris.retrieve().
role = "arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole"
model_url = f"s3://sagemaker-example-files-prod-{region}/models/xgb-churn/xgb-churn-prediction-model.tar.gz"
model_url2 = f"s3://sagemaker-example-files-prod-{region}/models/xgb-churn/xgb-churn-prediction-model2.tar.gz"
image_uri = "guardrail/baseline:0.90-1"  # xgboost 0.90-1 with model 1
image_uri2 = "guardrail/incompatible:1.2-1"  # xgboost 1.2-1, which cannot load model 2
image_uri3 = "guardrail/fixed:0.90-2"  # xgboost 0.90-2 with model 2

# The notebook's test rows: 69 numeric churn features each.
rows = [",".join(f"{random.Random(i * 69 + j).uniform(0, 200):.1f}" for j in range(69)) for i in range(100)]

ts = time.strftime("%Y-%m-%d-%H-%M-%S", time.gmtime())
model_name = f"DEMO-xgb-churn-pred-{ts}"
model_name2 = f"DEMO-xgb-churn-pred2-{ts}"
model_name3 = f"DEMO-xgb-churn-pred3-{ts}"
ep_config_name = f"DEMO-EpConfig-1-{ts}"
ep_config_name2 = f"DEMO-EpConfig-2-{ts}"
ep_config_name3 = f"DEMO-EpConfig-3-{ts}"
endpoint_name = f"DEMO-Deployment-Guardrails-Canary-{ts}"

for name, image, url in [
    (model_name, image_uri, model_url),
    (model_name2, image_uri2, model_url2),
    (model_name3, image_uri3, model_url2),
]:
    resp = sm.create_model(
        ModelName=name,
        ExecutionRoleArn=role,
        Containers=[{"Image": image, "ModelDataUrl": url}],
    )
    print(f"Created Model: {resp['ModelArn']}")

for config, model in [(ep_config_name, model_name), (ep_config_name2, model_name2), (ep_config_name3, model_name3)]:
    resp = sm.create_endpoint_config(
        EndpointConfigName=config,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": model,
                "InstanceType": "ml.m5.xlarge",
                "InitialInstanceCount": 3,
                "InitialVariantWeight": 1,
            }
        ],
    )
    print(f"Created Endpoint Config: {resp['EndpointConfigArn']}")

resp = sm.create_endpoint(EndpointName=endpoint_name, EndpointConfigName=ep_config_name)
print(f"\nCreated Endpoint: {resp['EndpointArn']}")


def wait_for_endpoint_in_service(endpoint_name):
    print("Waiting for endpoint in service")
    seen = []
    while True:
        details = sm.describe_endpoint(EndpointName=endpoint_name)
        status = details["EndpointStatus"]
        pending = details.get("PendingDeploymentSummary")
        if pending:
            for variant in pending["ProductionVariants"]:
                for variant_status in variant.get("VariantStatus", []):
                    if not seen or seen[-1] != variant_status["Status"]:
                        seen.append(variant_status["Status"])
        if status in ["InService", "Failed"]:
            print("\nDone!")
            return details, seen
        print(".", end="", flush=True)
        pause(30)


details, _ = wait_for_endpoint_in_service(endpoint_name)
assert details["EndpointStatus"] == "InService", details


def invoke_endpoint(endpoint_name, max_invocations, stop=None):
    """The notebook's traffic: one row a second; ModelErrors are counted."""
    sent = failed = 0
    while sent < max_invocations and not (stop and stop.is_set()):
        try:
            sm_runtime.invoke_endpoint(
                EndpointName=endpoint_name, ContentType="text/csv", Body=rows[sent % len(rows)]
            )
        except sm_runtime.exceptions.ModelError:
            failed += 1
        sent += 1
        pause(1)
    return sent, failed


invoke_endpoint(endpoint_name, 100)

# The notebook's alarms: a 5XX error rate and a latency alarm over the whole endpoint.
alarm_5xx = f"TestAlarm-5XXErrors-{endpoint_name}"
alarm_latency = f"TestAlarm-ModelLatency-{endpoint_name}"
cw.put_metric_alarm(
    AlarmName=alarm_5xx,
    AlarmDescription="Test SageMaker endpoint deployment 5XX error alarm",
    ActionsEnabled=False,
    MetricName="Invocation5XXErrors",
    Namespace="AWS/SageMaker",
    Statistic="Average",
    Dimensions=[
        {"Name": "EndpointName", "Value": endpoint_name},
        {"Name": "VariantName", "Value": "AllTraffic"},
    ],
    Period=60,
    EvaluationPeriods=1,
    Threshold=1,
    ComparisonOperator="GreaterThanOrEqualToThreshold",
    TreatMissingData="notBreaching",
)
cw.put_metric_alarm(
    AlarmName=alarm_latency,
    AlarmDescription="Test SageMaker endpoint deployment latency alarm",
    ActionsEnabled=False,
    MetricName="ModelLatency",
    Namespace="AWS/SageMaker",
    Statistic="Average",
    Dimensions=[
        {"Name": "EndpointName", "Value": endpoint_name},
        {"Name": "VariantName", "Value": "AllTraffic"},
    ],
    Period=60,
    EvaluationPeriods=1,
    Threshold=LATENCY_THRESHOLD_US,
    ComparisonOperator="GreaterThanOrEqualToThreshold",
    TreatMissingData="notBreaching",
)

canary_deployment_config = {
    "BlueGreenUpdatePolicy": {
        "TrafficRoutingConfiguration": {
            "Type": "CANARY",
            "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1},
            "WaitIntervalInSeconds": 300,
        },
        "TerminationWaitInSeconds": 120,
        "MaximumExecutionTimeoutInSeconds": 1800,
    },
    "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": alarm_5xx}, {"AlarmName": alarm_latency}]},
}


def update_with_traffic(**update):
    """Updates the endpoint while the notebook's traffic runs, and waits for it."""
    sm.update_endpoint(EndpointName=endpoint_name, **update)
    stop = threading.Event()
    results = {}
    sender = threading.Thread(target=lambda: results.update(traffic=invoke_endpoint(endpoint_name, 10**9, stop)))
    sender.start()
    details, seen = wait_for_endpoint_in_service(endpoint_name)
    stop.set()
    sender.join()
    return {
        "status": details["EndpointStatus"],
        "config": details["EndpointConfigName"],
        "failure_reason": details.get("FailureReason"),
        "variant_statuses": seen,
        "invocations": results["traffic"][0],
        "model_errors": results["traffic"][1],
        "last_modified": details["LastModifiedTime"].timestamp(),
    }


# Model 2 in an incompatible container: the update should roll back.
first = update_with_traffic(EndpointConfigName=ep_config_name2, DeploymentConfig=canary_deployment_config)
print(f"\nAfter the first update the endpoint serves {first['config']}: {first['failure_reason']}")

# Model 2 in a compatible container, with the same deployment configuration.
second = update_with_traffic(EndpointConfigName=ep_config_name3, RetainDeploymentConfig=True)
print(f"After the second update the endpoint serves {second['config']}")

# Which alarm tripped, from CloudWatch's alarm history.
tripped = []
for alarm in [alarm_5xx, alarm_latency]:
    history = cw.describe_alarm_history(AlarmName=alarm, HistoryItemType="StateUpdate", ScanBy="TimestampAscending")
    for item in history["AlarmHistoryItems"]:
        if item["HistorySummary"].endswith("to ALARM"):
            tripped.append(alarm)

# The notebook's metrics per endpoint config (EndpointConfigName dimension),
# over the API clock's last hour: the server's timestamps, not this machine's.
end = second["last_modified"] + 60
start = end - 3600
metrics = {}
for config in [ep_config_name, ep_config_name2, ep_config_name3]:
    for metric in ["Invocations", "Invocation5XXErrors"]:
        points = cw.get_metric_statistics(
            Namespace="AWS/SageMaker",
            MetricName=metric,
            Dimensions=[
                {"Name": "EndpointName", "Value": endpoint_name},
                {"Name": "VariantName", "Value": "AllTraffic"},
                {"Name": "EndpointConfigName", "Value": config},
            ],
            StartTime=start,
            EndTime=end,
            Period=60,
            Statistics=["Sum"],
        )["Datapoints"]
        metrics[f"{config[5:16]}/{metric}"] = sum(point["Sum"] for point in points)

# Clean up, as the notebook does.
sm.delete_endpoint(EndpointName=endpoint_name)
for config in [ep_config_name, ep_config_name2, ep_config_name3]:
    sm.delete_endpoint_config(EndpointConfigName=config)
for model in [model_name, model_name2, model_name3]:
    sm.delete_model(ModelName=model)
cw.delete_alarms(AlarmNames=[alarm_5xx, alarm_latency])

print(
    json.dumps(
        {
            "configs": [ep_config_name, ep_config_name2, ep_config_name3],
            "first": first,
            "second": second,
            "tripped": tripped,
            "metrics": metrics,
        }
    )
)
