#!/usr/bin/env bash
# Writes the fuzz targets' seed inputs to fuzz/seeds/TARGET/: links, plans and
# a recorded run's events from the `guardrail` CLI, and CloudWatch requests in
# JSON, query and CBOR from botocore's own serializers (.venv, made by
# `scripts/setup.sh --python`). Deterministic apart from the run's wall times.
set -euo pipefail
cd "$(dirname "$0")/.."
guardrail=target/debug/guardrail
[ -x "$guardrail" ] || cargo build -q -p guardrail-server --no-default-features
seeds=fuzz/seeds
rm -rf "$seeds"
mkdir -p "$seeds"/{share_link,plan_import,event_decoder,cloudwatch_json,cloudwatch_cbor,cloudwatch_query,alarm_expressions}

for plan in examples/*.json; do
  name=$(basename "$plan" .json)
  cp "$plan" "$seeds/plan_import/$name.json"
  "$guardrail" link "$plan" > "$seeds/share_link/$name.txt"
  "$guardrail" link "$plan" > "$seeds/plan_import/$name-link.txt"
done

# Metric math expressions and composite alarm rules: the team example's,
# and others that use every supported function and operator.
index=0
for text in '100 * FILL(errors, 0) / requests' 'IF(m1 > 10, m2, m3)' 'SUM([m1, m2]) / AVG([m1, m3])' \
    'FILL(m1, REPEAT) + FILL(m2, LINEAR)' 'MAX([m1,m2]) - MIN(m3) ^ 2' 'm1 >= 3 AND m2 != 0 || e1 < -1.5e3' \
    'ABS(m1 - m2) / m3' 'ALARM("a") OR (OK(b) AND NOT INSUFFICIENT_DATA(c))' \
    'ALARM(arn:aws:cloudwatch:us-east-1:123456789012:alarm:x) AND TRUE' 'RATE(m1)' 'FALSE OR ALARM("x y")'; do
  printf '%s' "$text" > "$seeds/alarm_expressions/seed-$index.txt"
  index=$((index + 1))
done

data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
for plan in notebook-canary rolling; do
  "$guardrail" run "examples/$plan.json" --time-scale 2000 --data-dir "$data" > /dev/null || true
done
for run in $("$guardrail" runs --data-dir "$data" --json | .venv/bin/python -c 'import json,sys; print(" ".join(r["id"] for r in json.load(sys.stdin)))'); do
  "$guardrail" events "$run" --json --data-dir "$data" > "$seeds/event_decoder/$run.jsonl"
  "$guardrail" link --run "$run" --data-dir "$data" > "$seeds/share_link/$run.txt"
done

.venv/bin/python - "$seeds" <<'PY'
import json, sys
import botocore.session
from botocore import serialize

seeds = sys.argv[1]
model = botocore.session.get_session().get_service_model("cloudwatch")
alarm = json.load(open("examples/notebook-canary.json"))["Alarms"][0]
requests = {
    "PutMetricAlarm": {k: v for k, v in alarm.items() if k != "AlarmDescription"},
    "DescribeAlarms": {"AlarmNames": [alarm["AlarmName"]], "MaxRecords": 10},
    "DescribeAlarmHistory": {"AlarmName": alarm["AlarmName"], "HistoryItemType": "StateUpdate",
                             "StartDate": 1_700_000_000, "EndDate": 1_700_003_600},
    "SetAlarmState": {"AlarmName": alarm["AlarmName"], "StateValue": "ALARM", "StateReason": "seed"},
    "GetMetricData": {"StartTime": 1_700_000_000, "EndTime": 1_700_003_600, "MetricDataQueries": [{
        "Id": "m1", "MetricStat": {"Metric": {"Namespace": "AWS/SageMaker", "MetricName": "Invocations",
        "Dimensions": alarm["Dimensions"]}, "Period": 60, "Stat": "Sum"}}]},
    "DeleteAlarms": {"AlarmNames": [alarm["AlarmName"]]},
}
for protocol, target, extension in [("json", "cloudwatch_json", "json"),
                                    ("query", "cloudwatch_query", "txt"),
                                    ("smithy-rpc-v2-cbor", "cloudwatch_cbor", "cbor")]:
    serializer = serialize.create_serializer(protocol)
    for operation, params in requests.items():
        body = serializer.serialize_to_request(params, model.operation_model(operation))["body"]
        if isinstance(body, dict):  # query: a dict of form fields
            from urllib.parse import urlencode
            body = urlencode(body)
        if isinstance(body, str):
            body = body.encode()
        open(f"{seeds}/{target}/{operation}.{extension}", "wb").write(body)
PY
find "$seeds" -type f | wc -l
