"""The canary judge through boto3, against `guardrail serve`.

Two blue/green updates of one endpoint, each rolling back only on an
ordinary CloudWatch alarm on the judge's `CanaryScore` ("Minimum < 75 for
1 period"), which guardrail publishes while both fleets serve:

1. a green three times slower with no errors rolls back, named in
   FailureReason;
2. a green that is blue's exact twin succeeds.

Then the judge's own metrics are read back with GetMetricData. The last
line printed is a JSON summary.
"""

import json
import os
import threading
import time
from datetime import datetime, timedelta, timezone

import boto3

from rehearsal import endpoint_with_configs, pause

region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
sm = boto3.client("sagemaker", region_name=region)
runtime = boto3.client("sagemaker-runtime", region_name=region)
cw = boto3.client("cloudwatch", region_name=region)
summary = {}


ts = time.strftime("%H%M%S", time.gmtime())
# The same image and model; only the latency the container adds differs.
latencies = {"blue": "2", "slow": "6", "twin": "2"}
endpoint, config = endpoint_with_configs(
    sm,
    "judge",
    {
        name: {"Image": "guardrail/baseline:0.90-1", "Environment": {"GUARDRAIL_LATENCY_MS": latency}}
        for name, latency in latencies.items()
    },
    "blue",
)

def traffic(stop):
    """About two requests a second of API time until `stop`."""
    while not stop.is_set():
        runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body="1,2,3")
        pause(0.5)


def score_alarm(green):
    """An ordinary alarm on the judge's score for the update to `green`."""
    name = f"judge-score-{green}-{ts}"
    cw.put_metric_alarm(
        AlarmName=name,
        ActionsEnabled=False,
        Namespace="Guardrail/CanaryJudge",
        MetricName="CanaryScore",
        Dimensions=[
            {"Name": "EndpointName", "Value": endpoint},
            {"Name": "EndpointConfigName", "Value": config[green]},
        ],
        Statistic="Minimum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=75,
        ComparisonOperator="LessThanThreshold",
        TreatMissingData="notBreaching",
    )
    return name


def update(green):
    """Updates to `green` with traffic, a one-instance canary baked 5
    minutes that rolls back on the score alarm; returns DescribeEndpoint
    after."""
    alarm = score_alarm(green)
    stop = threading.Event()
    senders = [threading.Thread(target=traffic, args=(stop,)) for _ in range(2)]
    for sender in senders:
        sender.start()
    try:
        sm.update_endpoint(
            EndpointName=endpoint,
            EndpointConfigName=config[green],
            DeploymentConfig={
                "BlueGreenUpdatePolicy": {
                    "TrafficRoutingConfiguration": {
                        "Type": "CANARY",
                        "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1},
                        "WaitIntervalInSeconds": 300,
                    },
                    "TerminationWaitInSeconds": 120,
                    "MaximumExecutionTimeoutInSeconds": 1800,
                },
                "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": alarm}]},
            },
        )
        pause(5)
        while True:
            details = sm.describe_endpoint(EndpointName=endpoint)
            if details["EndpointStatus"] in ("InService", "Failed"):
                return details, alarm
            pause(5)
    finally:
        stop.set()
        for sender in senders:
            sender.join()


for green in ("slow", "twin"):
    started = datetime.now(timezone.utc) - timedelta(minutes=1)
    details, alarm = update(green)
    scores = cw.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "score",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "Guardrail/CanaryJudge",
                        "MetricName": "CanaryScore",
                        "Dimensions": [
                            {"Name": "EndpointName", "Value": endpoint},
                            {"Name": "EndpointConfigName", "Value": config[green]},
                        ],
                    },
                    "Period": 10,
                    "Stat": "Minimum",
                },
            }
        ],
        StartTime=started,
        EndTime=datetime.now(timezone.utc) + timedelta(hours=2),
    )["MetricDataResults"][0]["Values"]
    listed = cw.list_metrics(Namespace="Guardrail/CanaryJudge", Dimensions=[{"Name": "EndpointConfigName", "Value": config[green]}])
    summary[green] = {
        "status": details["EndpointStatus"],
        "config": details["EndpointConfigName"],
        "to_config": config[green],
        "failure_reason": details.get("FailureReason"),
        "alarm": alarm,
        "alarm_state": cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["StateValue"],
        "lowest_score": min(scores) if scores else None,
        "scores": len(scores),
        "metrics": sorted(metric["MetricName"] for metric in listed["Metrics"]),
    }
summary["blue_config"] = config["blue"]
print(json.dumps(summary))
