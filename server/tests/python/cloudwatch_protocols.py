"""CloudWatch in each encoding its clients send, through botocore itself.

botocore 1.43 speaks awsJson1_0 to CloudWatch by default; its own serializers
and parsers for Smithy RPC v2 CBOR and the query protocol are chosen by
rewriting the protocol in a copy of its service model. For each protocol: one
PutMetricAlarm, one DescribeAlarms that reads it back (types and timestamps
included), and one error that the client maps to its modeled exception; then
PutMetricData read back with GetMetricStatistics, a metric-math alarm and a
composite alarm read back with DescribeAlarms. Prints one JSON line.
"""

import json
import os
import sys
import tempfile

import botocore.session

url = os.environ["AWS_ENDPOINT_URL"]
results = []
for protocol in ["json", "smithy-rpc-v2-cbor", "query"]:
    session = botocore.session.get_session()
    loader = session.get_component("data_loader")
    model = loader.load_service_model("cloudwatch", "service-2")
    model["metadata"]["protocol"] = protocol
    model["metadata"]["protocols"] = [protocol]
    directory = tempfile.mkdtemp()
    version = model["metadata"]["apiVersion"]
    os.makedirs(os.path.join(directory, "cloudwatch", version))
    with open(os.path.join(directory, "cloudwatch", version, "service-2.json"), "w") as file:
        json.dump(model, file)
    loader.search_paths.insert(0, directory)
    client = session.create_client(
        "cloudwatch",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id="AKIDLOCAL",
        aws_secret_access_key="local-secret",
    )
    sent = []
    client.meta.events.register(
        "before-send", lambda request, **_: sent.append(request.headers.get("Content-Type", b""))
    )
    name = f"protocol-{protocol}"
    client.put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/SageMaker",
        MetricName="Invocation5XXErrors",
        Dimensions=[
            {"Name": "EndpointName", "Value": "guardrail-demo"},
            {"Name": "VariantName", "Value": "AllTraffic"},
        ],
        Statistic="Average",
        Period=60,
        EvaluationPeriods=2,
        DatapointsToAlarm=1,
        Threshold=0.25,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
        ActionsEnabled=False,
    )
    alarm = client.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
    try:
        client.delete_alarms(AlarmNames=[f"{name}-never-made"])
        error = None
    except client.exceptions.ResourceNotFound as caught:
        error = {"code": caught.response["Error"]["Code"], "message": caught.response["Error"]["Message"]}
    try:
        client.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="x", StateReasonData="{not json")
        invalid = None
    except client.exceptions.InvalidFormatFault as caught:
        invalid = caught.response["Error"]["Code"]
    namespace = f"Protocol/{protocol}"
    client.put_metric_data(
        Namespace=namespace,
        MetricData=[
            {"MetricName": "Orders", "Dimensions": [{"Name": "Site", "Value": "www"}], "Values": [1.0, 3.0], "Counts": [2.0, 1.0], "StorageResolution": 1},
            {
                "MetricName": "Orders",
                "Dimensions": [{"Name": "Site", "Value": "www"}],
                "StatisticValues": {"SampleCount": 2.0, "Sum": 10.0, "Minimum": 5.0, "Maximum": 5.0},
                "Unit": "Count",
            },
        ],
    )
    listed = client.list_metrics(Namespace=namespace)["Metrics"]
    now = alarm["StateUpdatedTimestamp"]
    import datetime

    stats = client.get_metric_statistics(
        Namespace=namespace,
        MetricName="Orders",
        Dimensions=[{"Name": "Site", "Value": "www"}],
        StartTime=now - datetime.timedelta(hours=1),
        EndTime=now + datetime.timedelta(hours=1),
        Period=7200,
        Statistics=["Sum", "SampleCount", "Maximum"],
    )["Datapoints"]
    dimensions = [
        {"Name": "EndpointName", "Value": "guardrail-demo"},
        {"Name": "VariantName", "Value": "AllTraffic"},
    ]
    client.put_metric_alarm(
        AlarmName=f"{name}-rate",
        Metrics=[
            {"Id": "errors", "ReturnData": False, "MetricStat": {"Metric": {"Namespace": "AWS/SageMaker", "MetricName": "Invocation5XXErrors", "Dimensions": dimensions}, "Period": 60, "Stat": "Sum"}},
            {"Id": "requests", "ReturnData": False, "MetricStat": {"Metric": {"Namespace": "AWS/SageMaker", "MetricName": "Invocations", "Dimensions": dimensions}, "Period": 60, "Stat": "Sum"}},
            {"Id": "rate", "Expression": "100 * FILL(errors, 0) / requests", "Label": "rate", "ReturnData": True},
        ],
        EvaluationPeriods=1,
        Threshold=5,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching",
    )
    math = client.describe_alarms(AlarmNames=[f"{name}-rate"])["MetricAlarms"][0]
    client.put_composite_alarm(AlarmName=f"{name}-page", AlarmRule=f'ALARM("{name}") OR ALARM("{name}-rate")')
    composite = client.describe_alarms(AlarmNames=[f"{name}-page"], AlarmTypes=["CompositeAlarm"])["CompositeAlarms"][0]
    try:
        client.put_metric_alarm(
            AlarmName=f"{name}-unsupported",
            Metrics=[
                {"Id": "m1", "ReturnData": False, "MetricStat": {"Metric": {"Namespace": "AWS/SageMaker", "MetricName": "Invocations", "Dimensions": dimensions}, "Period": 60, "Stat": "Sum"}},
                {"Id": "e1", "Expression": "RATE(m1)", "ReturnData": True},
            ],
            EvaluationPeriods=1,
            Threshold=5,
            ComparisonOperator="GreaterThanThreshold",
        )
        unsupported = None
    except client.exceptions.InvalidParameterValueException as caught:
        unsupported = caught.response["Error"]["Message"]
    content_type = sent[0].decode() if isinstance(sent[0], bytes) else sent[0]
    results.append(
        {
            "protocol": protocol,
            "content_type": content_type,
            "alarm": {
                "name": alarm["AlarmName"],
                "state": alarm["StateValue"],
                "threshold": alarm["Threshold"],
                "period": alarm["Period"],
                "evaluation_periods": alarm["EvaluationPeriods"],
                "datapoints_to_alarm": alarm["DatapointsToAlarm"],
                "actions_enabled": alarm["ActionsEnabled"],
                "dimensions": len(alarm["Dimensions"]),
                "updated": alarm["StateUpdatedTimestamp"].timestamp(),
            },
            "error": error,
            "invalid_format": invalid,
            "listed": [metric["MetricName"] for metric in listed],
            "stats": [{key: point[key] for key in ("Sum", "SampleCount", "Maximum")} for point in stats],
            "math": {
                "ids": [query["Id"] for query in math["Metrics"]],
                "returns": [query.get("ReturnData") for query in math["Metrics"]],
                "period": math["Metrics"][0]["MetricStat"]["Period"],
                "expression": math["Metrics"][2]["Expression"],
            },
            "composite": {"rule": composite["AlarmRule"], "state": composite["StateValue"]},
            "unsupported": unsupported,
        }
    )
json.dump(results, sys.stdout)
print()
