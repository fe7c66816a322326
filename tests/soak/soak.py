"""Soak benchmark (BENCHMARKS.md, "Soak: updates through boto3 under load and
SIGKILL"): not a test.

Starts `guardrail serve` on a fresh data directory at a high time scale,
creates two models and configs, an endpoint and an alarm through boto3, and
then runs UPDATES updates back and forth between the configs while LOAD
threads (one keep-alive connection each) invoke the endpoint without pause.
Every KILL_EVERY updates the server is killed with SIGKILL and started again
on the same directory. It reports:

- resources lost: models, configs, endpoints and alarms boto3 created that a
  restarted server does not list;
- events lost: events of any run that the server had streamed before a kill
  and that are missing or changed after it;
- requests failed other than by the injected faults: failures outside the
  window from each kill to the restarted server's first answer (a request in
  flight when the process dies cannot succeed);
- the server's RSS and open files after the set-up and at the end of each
  life.

Usage: .venv/bin/python tests/soak/soak.py [--updates 200] [--kill-every 20]
       [--load 64] [--time-scale 2000] [--binary target/release/guardrail]
"""

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import boto3
import botocore.config

ENDPOINT = "soak-endpoint"
ALARM = "soak-5xx"
CONFIGS = ["soak-config-a", "soak-config-b"]
MODELS = {"soak-model-a": "guardrail/baseline:1", "soak-model-b": "guardrail/fixed:1"}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """One life of `guardrail serve` at a time, on one data directory."""

    def __init__(self, binary, data, port, scale):
        self.binary, self.data, self.port, self.scale = binary, data, port, scale
        self.process = None
        self.base = f"http://127.0.0.1:{port}"
        self.planner = os.path.join(data, "planner")
        os.makedirs(self.planner, exist_ok=True)
        with open(os.path.join(self.planner, "index.html"), "w") as page:
            page.write("<!doctype html>")

    def start(self):
        self.process = subprocess.Popen(
            [
                self.binary, "serve", "--port", str(self.port), "--rps", "0",
                "--provisioning-seconds", "0", "--time-scale", str(self.scale),
                "--data-dir", self.data, "--dist", self.planner,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{self.base}/healthz", timeout=1) as answer:
                    if answer.status == 200:
                        return time.time()
            except OSError:
                pass
            if time.time() > deadline:
                raise SystemExit("guardrail serve did not answer")
            time.sleep(0.01)

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def usage(self):
        """(RSS in KiB, open files) of the running process."""
        pid = self.process.pid
        with open(f"/proc/{pid}/status") as status:
            rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
        return rss, len(os.listdir(f"/proc/{pid}/fd"))


class Load:
    """LOAD threads invoking the endpoint; failures kept with their times."""

    def __init__(self, port, threads):
        self.port = port
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.ok = 0
        self.failures = []  # (time, what)
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(threads)]

    def start(self):
        for thread in self.threads:
            thread.start()

    def run(self):
        connection = None
        while not self.stop.is_set():
            try:
                if connection is None:
                    connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=70)
                connection.request(
                    "POST", f"/endpoints/{ENDPOINT}/invocations", body=b"1,2,3",
                    headers={"Content-Type": "text/csv"},
                )
                answer = connection.getresponse()
                text = answer.read()
                if answer.status == 200:
                    with self.lock:
                        self.ok += 1
                else:
                    with self.lock:
                        self.failures.append((time.time(), f"status {answer.status}: {text[:160]!r}"))
            except (OSError, http.client.HTTPException) as error:
                with self.lock:
                    self.failures.append((time.time(), type(error).__name__))
                connection = None
                time.sleep(0.005)


def clients(base):
    config = botocore.config.Config(retries={"mode": "standard", "max_attempts": 10})
    make = lambda service: boto3.client(service, endpoint_url=base, config=config)
    return make("sagemaker"), make("cloudwatch")


def wait_in_service(sm, seconds=120):
    deadline = time.time() + seconds
    while True:
        status = sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointStatus"]
        if status in ("InService", "Failed", "UpdateRollbackFailed"):
            return status
        if time.time() > deadline:
            raise SystemExit(f"the endpoint stayed {status}")
        time.sleep(0.02)


def listed(sm, cw):
    """What the server lists of what the soak created."""
    return {
        "models": sorted(m["ModelName"] for m in sm.list_models(MaxResults=100)["Models"] if m["ModelName"] in MODELS),
        "configs": sorted(
            c["EndpointConfigName"]
            for c in sm.list_endpoint_configs(MaxResults=100)["EndpointConfigs"]
            if c["EndpointConfigName"] in CONFIGS
        ),
        "endpoints": [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"] if e["EndpointName"] == ENDPOINT],
        "alarms": [a["AlarmName"] for a in cw.describe_alarms(AlarmNames=[ALARM])["MetricAlarms"]],
    }


def records(base):
    """Every run's events, as `/api/run_events` streams them: id -> lines."""
    request = urllib.request.Request(f"{base}/api/list_runs", data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=30) as answer:
        runs = json.load(answer)
    out = {}
    for run in runs:
        body = f"run_id={run['id']}".encode()
        request = urllib.request.Request(
            f"{base}/api/run_events", data=body, method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        with urllib.request.urlopen(request, timeout=60) as answer:
            out[run["id"]] = answer.read().decode().splitlines()
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--updates", type=int, default=200)
    parser.add_argument("--kill-every", type=int, default=20)
    parser.add_argument("--load", type=int, default=64)
    parser.add_argument("--time-scale", type=float, default=2000)
    parser.add_argument("--binary", default="target/release/guardrail")
    parser.add_argument("--keep", action="store_true", help="keep the data directory, and say where")
    args = parser.parse_args()
    os.environ.update(
        AWS_ACCESS_KEY_ID="soak", AWS_SECRET_ACCESS_KEY="soak", AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_EC2_METADATA_DISABLED="true",
    )
    data = tempfile.mkdtemp(prefix="guardrail-soak-")
    server = Server(args.binary, data, free_port(), args.time_scale)
    server.start()
    sm, cw = clients(server.base)
    for name, image in MODELS.items():
        sm.create_model(ModelName=name, ExecutionRoleArn="arn:aws:iam::123456789012:role/soak",
                        PrimaryContainer={"Image": image})
    for config, model in zip(CONFIGS, MODELS):
        sm.create_endpoint_config(EndpointConfigName=config, ProductionVariants=[{
            "VariantName": "AllTraffic", "ModelName": model, "InstanceType": "ml.m5.xlarge",
            "InitialInstanceCount": 2}])
    sm.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=CONFIGS[0])
    wait_in_service(sm)
    cw.put_metric_alarm(
        AlarmName=ALARM, Namespace="AWS/SageMaker", MetricName="Invocation5XXErrors",
        Dimensions=[{"Name": "EndpointName", "Value": ENDPOINT}, {"Name": "VariantName", "Value": "AllTraffic"}],
        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1e9,
        ComparisonOperator="GreaterThanOrEqualToThreshold", TreatMissingData="notBreaching")
    expected = listed(sm, cw)
    load = Load(server.port, args.load)
    load.start()
    time.sleep(1)
    usage = [("after set-up", server.usage())]
    windows = []  # (killed, answering again)
    lost_resources = []
    lost_events = 0
    outcomes = {}
    started = time.time()
    for update in range(1, args.updates + 1):
        sm.update_endpoint(
            EndpointName=ENDPOINT, EndpointConfigName=CONFIGS[update % 2],
            DeploymentConfig={"BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0},
                "TerminationWaitInSeconds": 0},
                "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": ALARM}]}})
        status = wait_in_service(sm)
        outcomes[status] = outcomes.get(status, 0) + 1
        if update % args.kill_every == 0:
            before = records(server.base)
            usage.append((f"before kill {update // args.kill_every}", server.usage()))
            killed = time.time()
            server.kill()
            answering = server.start()
            windows.append((killed, answering))
            sm, cw = clients(server.base)
            now = listed(sm, cw)
            if now != expected:
                lost_resources.append((update, now))
            after = records(server.base)
            for run, lines in before.items():
                kept = after.get(run, [])
                lost_events += sum(1 for line in lines if line not in kept)
    elapsed = time.time() - started
    time.sleep(0.5)
    usage.append(("at the end", server.usage()))
    load.stop.set()
    for thread in load.threads:
        thread.join(timeout=80)
    # A request in flight at a kill fails; so may one sent before the restarted
    # server answers. Those are the injected faults; anything else is not.
    grace = 0.1
    injected = [f for f in load.failures if any(k - grace <= f[0] <= a + grace for k, a in windows)]
    other = [f for f in load.failures if f not in injected]
    server.kill()
    print(json.dumps({
        "updates": args.updates, "kills": len(windows), "time_scale": args.time_scale,
        "load_threads": args.load, "seconds": round(elapsed, 1), "outcomes": outcomes,
        "requests_ok": load.ok, "requests_failed_injected": len(injected),
        "requests_failed_other": len(other), "other_failures": other[:10],
        "resources_lost": lost_resources, "events_lost": lost_events,
        "usage_kib_and_files": usage,
    }, indent=1))
    if args.keep:
        print(f"data directory kept: {data}", file=sys.stderr)
    else:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
