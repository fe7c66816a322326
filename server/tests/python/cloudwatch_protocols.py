"""CloudWatch in each encoding its clients send, through botocore itself.

botocore 1.43 speaks awsJson1_0 to CloudWatch by default; its own serializers
and parsers for Smithy RPC v2 CBOR and the query protocol are chosen by
rewriting the protocol in a copy of its service model. For each protocol: one
PutMetricAlarm, one DescribeAlarms that reads it back (types and timestamps
included), and one error that the client maps to its modeled exception. Prints
one JSON line per protocol.
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
        }
    )
json.dump(results, sys.stdout)
print()
