"""Guardrails as teams write them, in boto3, against `guardrail serve`.

1. Custom metrics: PutMetricData with Value, Values and Counts, a statistic
   set, units, timestamps and both storage resolutions, read back with
   GetMetricStatistics, GetMetricData (metric math included) and ListMetrics;
   an AWS/ namespace is refused with CloudWatch's code.
2. A new-fleet 5XX rate by metric math rolls back an update to a model that
   fails every request, during the canary, named in FailureReason.
3. A composite alarm follows its children; AutoRollbackConfiguration naming
   it is refused.
4. A business metric the script publishes rolls back an update of a healthy
   model when the canary moves it.

GUARDRAIL_TIME_SCALE is the server's --time-scale. The last line printed is a
JSON summary.
"""

import json
import os
import threading
import time
from datetime import datetime, timedelta, timezone

import boto3
import botocore

from rehearsal import endpoint_with_configs, pause

region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
sm = boto3.client("sagemaker", region_name=region)
runtime = boto3.client("sagemaker-runtime", region_name=region)
cw = boto3.client("cloudwatch", region_name=region)
summary = {}


def api_now():
    """About now: the server's API clock starts at the wall clock and runs
    faster, so a time before this is always in its past."""
    return datetime.fromtimestamp(time.time(), timezone.utc)


# 1. Custom metrics read back exactly.
namespace = "Shop/Checkout"
site = [{"Name": "Site", "Value": "www"}]
minute = (api_now() - timedelta(minutes=30)).replace(second=0, microsecond=0)
cw.put_metric_data(
    Namespace=namespace,
    MetricData=[
        {"MetricName": "Basket", "Dimensions": site, "Timestamp": minute + timedelta(seconds=5), "Value": 2.0, "Unit": "Count"},
        {"MetricName": "Basket", "Dimensions": site, "Timestamp": minute + timedelta(seconds=20), "Values": [1.0, 10.0], "Counts": [3.0, 1.0], "Unit": "Count"},
        {
            "MetricName": "Basket",
            "Dimensions": site,
            "Timestamp": minute + timedelta(seconds=40),
            "StatisticValues": {"SampleCount": 2.0, "Sum": 8.0, "Minimum": 4.0, "Maximum": 4.0},
            "Unit": "Count",
        },
        {"MetricName": "Latency", "Dimensions": site, "Timestamp": minute + timedelta(seconds=1), "Value": 120.0, "Unit": "Milliseconds", "StorageResolution": 1},
        {"MetricName": "Latency", "Dimensions": site, "Timestamp": minute + timedelta(seconds=12), "Value": 80.0, "Unit": "Milliseconds", "StorageResolution": 1},
    ],
)
stats = cw.get_metric_statistics(
    Namespace=namespace,
    MetricName="Basket",
    Dimensions=site,
    StartTime=minute,
    EndTime=minute + timedelta(minutes=1),
    Period=60,
    Statistics=["SampleCount", "Sum", "Minimum", "Maximum", "Average"],
    ExtendedStatistics=["p50"],
)
point = stats["Datapoints"][0]
summary["basket"] = {
    "points": len(stats["Datapoints"]),
    "sample_count": point["SampleCount"],
    "sum": point["Sum"],
    "minimum": point["Minimum"],
    "maximum": point["Maximum"],
    "average": point["Average"],
    "p50": point["ExtendedStatistics"]["p50"],
    "unit": point["Unit"],
}
seconds = cw.get_metric_data(
    MetricDataQueries=[
        {
            "Id": "latency",
            "MetricStat": {
                "Metric": {"Namespace": namespace, "MetricName": "Latency", "Dimensions": site},
                "Period": 10,
                "Stat": "Maximum",
            },
        },
        {
            "Id": "basket",
            "MetricStat": {
                "Metric": {"Namespace": namespace, "MetricName": "Basket", "Dimensions": site},
                "Period": 60,
                "Stat": "Sum",
            },
            "ReturnData": False,
        },
        {"Id": "half", "Expression": "basket / 2", "Label": "half the basket"},
    ],
    StartTime=minute,
    EndTime=minute + timedelta(minutes=1),
    ScanBy="TimestampAscending",
)
results = {result["Id"]: result for result in seconds["MetricDataResults"]}
summary["latency_10s"] = results["latency"]["Values"]
summary["half"] = results["half"]["Values"]
summary["half_label"] = results["half"]["Label"]
listed = cw.list_metrics(Namespace=namespace)["Metrics"]
summary["listed"] = sorted(metric["MetricName"] for metric in listed)
try:
    cw.put_metric_data(Namespace="AWS/SageMaker", MetricData=[{"MetricName": "Invocations", "Value": 1.0}])
    summary["aws_namespace"] = "accepted"
except botocore.exceptions.ClientError as error:
    summary["aws_namespace"] = error.response["Error"]["Code"]

# The endpoint, on the baseline model.
ts = time.strftime("%H%M%S", time.gmtime())
models = {"1": "guardrail/baseline:0.90-1", "2": "guardrail/incompatible:1.2-1", "3": "guardrail/fixed:0.90-2"}
endpoint, config = endpoint_with_configs(sm, "team", {number: {"Image": image} for number, image in models.items()}, "1")

def traffic(stop):
    """A request a second of API time until `stop`."""
    while not stop.is_set():
        try:
            runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body="1,2,3")
        except runtime.exceptions.ModelError:
            pass
        pause(1)


def canary(alarms):
    """A one-instance canary, baked 5 minutes, rolling back on `alarms`."""
    return {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "CANARY",
                "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1},
                "WaitIntervalInSeconds": 300,
            },
            "TerminationWaitInSeconds": 120,
            "MaximumExecutionTimeoutInSeconds": 1800,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": name} for name in alarms]},
    }


def update(to, alarms, during_bake=None):
    """Updates to config `to`, with traffic, and waits; calls `during_bake`
    once the canary bakes. Returns what DescribeEndpoint says after, and the
    statuses the new fleet went through."""
    stop = threading.Event()
    sender = threading.Thread(target=traffic, args=(stop,))
    sender.start()
    try:
        sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=config[to], DeploymentConfig=canary(alarms))
        seen = []
        while True:
            details = sm.describe_endpoint(EndpointName=endpoint)
            for variant in (details.get("PendingDeploymentSummary") or {}).get("ProductionVariants", []):
                for status in variant.get("VariantStatus", []):
                    if not seen or seen[-1] != status["Status"]:
                        seen.append(status["Status"])
                        if status["Status"] == "Baking" and during_bake:
                            during_bake()
                            during_bake = None
            if details["EndpointStatus"] in ("InService", "Failed"):
                return details, seen
            pause(5)
    finally:
        stop.set()
        sender.join()


# 2. A new-fleet 5XX rate by metric math.
new_fleet = [
    {"Name": "EndpointName", "Value": endpoint},
    {"Name": "VariantName", "Value": "AllTraffic"},
    {"Name": "EndpointConfigName", "Value": config["2"]},
]
rate_alarm = f"team-5xx-rate-{ts}"
cw.put_metric_alarm(
    AlarmName=rate_alarm,
    ActionsEnabled=False,
    Metrics=[
        {
            "Id": "errors",
            "MetricStat": {"Metric": {"Namespace": "AWS/SageMaker", "MetricName": "Invocation5XXErrors", "Dimensions": new_fleet}, "Period": 60, "Stat": "Sum"},
            "ReturnData": False,
        },
        {
            "Id": "requests",
            "MetricStat": {"Metric": {"Namespace": "AWS/SageMaker", "MetricName": "Invocations", "Dimensions": new_fleet}, "Period": 60, "Stat": "Sum"},
            "ReturnData": False,
        },
        {"Id": "rate", "Expression": "100 * FILL(errors, 0) / requests", "Label": "5XX rate (%)", "ReturnData": True},
    ],
    EvaluationPeriods=1,
    Threshold=5,
    ComparisonOperator="GreaterThanOrEqualToThreshold",
    TreatMissingData="notBreaching",
)
described = cw.describe_alarms(AlarmNames=[rate_alarm])["MetricAlarms"][0]
summary["rate_alarm_metrics"] = [query["Id"] for query in described["Metrics"]]
details, seen = update("2", [rate_alarm])
summary["math"] = {
    "config": details["EndpointConfigName"],
    "failure_reason": details.get("FailureReason"),
    "statuses": seen,
    "expected_config": config["1"],
    "to_config": config["2"],
}

# 3. A composite alarm follows its children, and cannot roll back.
composite = f"team-page-{ts}"
cw.put_composite_alarm(AlarmName=composite, AlarmRule=f'ALARM("{rate_alarm}") OR FALSE', ActionsEnabled=False)
described = cw.describe_alarms(AlarmNames=[composite], AlarmTypes=["CompositeAlarm"])
summary["composite"] = {
    "found": len(described["CompositeAlarms"]),
    "hidden_by_default": len(cw.describe_alarms(AlarmNames=[composite])["CompositeAlarms"]),
    "state": described["CompositeAlarms"][0]["StateValue"],
    "children": [alarm["AlarmName"] for alarm in cw.describe_alarms(ChildrenOfAlarmName=composite)["MetricAlarms"]],
}
try:
    sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=config["3"], DeploymentConfig=canary([composite]))
    summary["composite"]["rollback"] = "accepted"
except botocore.exceptions.ClientError as error:
    summary["composite"]["rollback"] = error.response["Error"]["Code"]
try:
    cw.delete_alarms(AlarmNames=[rate_alarm])
    summary["composite"]["delete_child"] = "deleted"
except botocore.exceptions.ClientError as error:
    summary["composite"]["delete_child"] = error.response["Error"]["Code"]
try:
    cw.put_composite_alarm(AlarmName=f"{composite}-orphan", AlarmRule="ALARM(nothing-by-that-name)")
    summary["composite"]["orphan"] = "accepted"
except botocore.exceptions.ClientError as error:
    summary["composite"]["orphan"] = error.response["Error"]["Code"]

# 4. A business metric the team publishes rolls back a healthy model.
conversion = f"team-conversion-{ts}"
cw.put_metric_alarm(
    AlarmName=conversion,
    ActionsEnabled=False,
    Namespace=namespace,
    MetricName="ConversionRate",
    Dimensions=site,
    Statistic="Average",
    Period=60,
    EvaluationPeriods=1,
    Threshold=2.5,
    ComparisonOperator="LessThanThreshold",
    TreatMissingData="notBreaching",
)
publishing = threading.Event()
level = {"value": 3.1}


def publish():
    """The shop's conversion rate, every 10 s of API time."""
    while not publishing.is_set():
        cw.put_metric_data(Namespace=namespace, MetricData=[{"MetricName": "ConversionRate", "Dimensions": site, "Value": level["value"], "Unit": "Percent"}])
        pause(10)


publisher = threading.Thread(target=publish)
publisher.start()
try:
    pause(120)

    def checkout_breaks():
        level["value"] = 1.0

    details, seen = update("3", [conversion], during_bake=checkout_breaks)
finally:
    publishing.set()
    publisher.join()
summary["business"] = {
    "config": details["EndpointConfigName"],
    "failure_reason": details.get("FailureReason"),
    "statuses": seen,
    "expected_config": config["1"],
    "to_config": config["3"],
}
print(json.dumps(summary))
