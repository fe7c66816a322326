"""One step of the restart test (server/tests/durable.rs), through boto3.

Each step prints one JSON object on its last line: what it created or saw.
The Rust test kills `guardrail serve` with SIGKILL between steps and starts it
again on the same data directory.

  create        models, endpoint configs, an endpoint (waited for), an alarm
                and its state set by hand, invocations that publish metrics
  check         everything `create` made, as boto3 reads it back
  update        starts a canary update with a long bake and returns as soon as
                the endpoint is Updating (the test then kills the server)
  after-update  the interrupted update's outcome, then a later update to the
                same config, waited for
  delete        deletes the endpoint; its metrics stay
  metrics       the endpoint's metrics, whether or not the endpoint exists
"""

import datetime
import json
import sys
import time

import boto3

ENDPOINT = "kept-endpoint"
ALARM = "kept-endpoint-5xx"
ROLE = "arn:aws:iam::123456789012:role/guardrail"

sm = boto3.client("sagemaker")
runtime = boto3.client("sagemaker-runtime")
cw = boto3.client("cloudwatch")


def wait_for(endpoint, statuses, seconds=60):
    """Polls DescribeEndpoint until its status is one of `statuses`."""
    deadline = time.time() + seconds
    while True:
        described = sm.describe_endpoint(EndpointName=endpoint)
        if described["EndpointStatus"] in statuses:
            return described
        if time.time() > deadline:
            raise SystemExit(f"{endpoint} stayed {described['EndpointStatus']}")
        time.sleep(0.05)


def dimensions():
    return [
        {"Name": "EndpointName", "Value": ENDPOINT},
        {"Name": "VariantName", "Value": "AllTraffic"},
    ]


def invocations(now):
    """The sum of Invocations over the last day, by GetMetricStatistics."""
    points = cw.get_metric_statistics(
        Namespace="AWS/SageMaker",
        MetricName="Invocations",
        Dimensions=dimensions(),
        StartTime=now - datetime.timedelta(hours=2),
        EndTime=now + datetime.timedelta(hours=1),
        Period=60,
        Statistics=["Sum"],
    )["Datapoints"]
    return sum(point["Sum"] for point in points)


def listed(now):
    """Whether ListMetrics lists the endpoint's variant metrics."""
    metrics = cw.list_metrics(Namespace="AWS/SageMaker", MetricName="Invocations")["Metrics"]
    return any(
        sorted((d["Name"], d["Value"]) for d in metric["Dimensions"])
        == sorted((d["Name"], d["Value"]) for d in dimensions())
        for metric in metrics
    )


def history():
    items = cw.describe_alarm_history(AlarmName=ALARM, MaxRecords=100)["AlarmHistoryItems"]
    return sorted((item["Timestamp"].isoformat(), item["HistorySummary"]) for item in items)


def create():
    for name, image in [("kept-model-1", "guardrail/baseline:1"), ("kept-model-2", "guardrail/fixed:1")]:
        sm.create_model(
            ModelName=name,
            ExecutionRoleArn=ROLE,
            PrimaryContainer={"Image": image, "Environment": {"GUARDRAIL_LATENCY_MS": "2"}},
        )
    for config, model in [("kept-config-1", "kept-model-1"), ("kept-config-2", "kept-model-2")]:
        sm.create_endpoint_config(
            EndpointConfigName=config,
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": model,
                    "InstanceType": "ml.m5.xlarge",
                    "InitialInstanceCount": 2,
                }
            ],
        )
    sm.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="kept-config-1")
    described = wait_for(ENDPOINT, ["InService"])
    cw.put_metric_alarm(
        AlarmName=ALARM,
        Namespace="AWS/SageMaker",
        MetricName="Invocation5XXErrors",
        Dimensions=dimensions(),
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1000,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching",
    )
    cw.set_alarm_state(AlarmName=ALARM, StateValue="ALARM", StateReason="set by the restart test")
    for _ in range(25):
        runtime.invoke_endpoint(EndpointName=ENDPOINT, ContentType="text/csv", Body=b"1,2,3")
    now = described["LastModifiedTime"]
    # Invocations' metrics are written every 200 ms: wait until they are in.
    time.sleep(0.5)
    return {
        "created": str(described["CreationTime"]),
        "config": described["EndpointConfigName"],
        "invocations": invocations(now),
        "history": history(),
    }


def check():
    described = sm.describe_endpoint(EndpointName=ENDPOINT)
    models = sorted(m["ModelName"] for m in sm.list_models()["Models"] if m["ModelName"].startswith("kept-"))
    configs = sorted(
        c["EndpointConfigName"]
        for c in sm.list_endpoint_configs()["EndpointConfigs"]
        if c["EndpointConfigName"].startswith("kept-")
    )
    model = sm.describe_model(ModelName="kept-model-1")
    config = sm.describe_endpoint_config(EndpointConfigName="kept-config-2")
    alarm = cw.describe_alarms(AlarmNames=[ALARM])["MetricAlarms"][0]
    answer = runtime.invoke_endpoint(EndpointName=ENDPOINT, ContentType="text/csv", Body=b"1,2,3")
    now = described["LastModifiedTime"]
    return {
        "status": described["EndpointStatus"],
        "created": str(described["CreationTime"]),
        "config": described["EndpointConfigName"],
        "instances": described["ProductionVariants"][0]["CurrentInstanceCount"],
        "models": models,
        "configs": configs,
        "image": model["PrimaryContainer"]["Image"],
        "environment": model["PrimaryContainer"].get("Environment", {}),
        "config_2_instances": config["ProductionVariants"][0]["InitialInstanceCount"],
        "alarm_state": alarm["StateValue"],
        "alarm_threshold": alarm["Threshold"],
        "history": history(),
        "invoked": answer["ResponseMetadata"]["HTTPStatusCode"],
        "invocations": invocations(now),
    }


def update():
    # The state `create` set by hand would roll the update back at once.
    cw.set_alarm_state(AlarmName=ALARM, StateValue="OK", StateReason="cleared by the restart test")
    sm.update_endpoint(
        EndpointName=ENDPOINT,
        EndpointConfigName="kept-config-2",
        DeploymentConfig={
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": {
                    "Type": "CANARY",
                    "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1},
                    "WaitIntervalInSeconds": 3600,
                },
                "TerminationWaitInSeconds": 0,
                "MaximumExecutionTimeoutInSeconds": 7200,
            },
            "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": ALARM}]},
        },
    )
    described = wait_for(ENDPOINT, ["Updating"])
    # Wait until the canary has traffic, so that the kill lands mid-bake.
    deadline = time.time() + 60
    while described.get("PendingDeploymentSummary", {}).get("ProductionVariants", [{}])[0].get(
        "CurrentInstanceCount", 0
    ) < 1:
        if time.time() > deadline:
            raise SystemExit("the canary never got an instance")
        time.sleep(0.05)
        described = sm.describe_endpoint(EndpointName=ENDPOINT)
    return {"status": described["EndpointStatus"], "pending": True}


def after_update():
    first = sm.describe_endpoint(EndpointName=ENDPOINT)
    last = first.get("LastDeploymentConfig", {})
    sm.update_endpoint(
        EndpointName=ENDPOINT,
        EndpointConfigName="kept-config-2",
        DeploymentConfig={
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0},
                "TerminationWaitInSeconds": 0,
            }
        },
    )
    wait_for(ENDPOINT, ["Updating", "InService"])
    second = wait_for(ENDPOINT, ["InService", "Failed", "UpdateRollbackFailed"])
    return {
        "status": first["EndpointStatus"],
        "config": first["EndpointConfigName"],
        "failure_reason": first.get("FailureReason", ""),
        "last_canary_wait": last.get("BlueGreenUpdatePolicy", {})
        .get("TrafficRoutingConfiguration", {})
        .get("WaitIntervalInSeconds"),
        "then_status": second["EndpointStatus"],
        "then_config": second["EndpointConfigName"],
        "then_failure_reason": second.get("FailureReason", ""),
    }


def delete():
    now = sm.describe_endpoint(EndpointName=ENDPOINT)["LastModifiedTime"]
    sm.delete_endpoint(EndpointName=ENDPOINT)
    endpoints = [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]]
    return {"gone": ENDPOINT not in endpoints, "invocations": invocations(now), "listed": listed(now)}


def metrics():
    now = datetime.datetime.now(datetime.timezone.utc)
    return {"invocations": invocations(now), "listed": listed(now)}


STEPS = {
    "create": create,
    "check": check,
    "update": update,
    "after-update": after_update,
    "delete": delete,
    "metrics": metrics,
}

if __name__ == "__main__":
    print(json.dumps(STEPS[sys.argv[1]]()))
