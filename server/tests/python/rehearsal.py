"""What the boto3 test scripts share: the server's API clock, and an
endpoint of three instances with one config per container."""

import os
import time

SCALE = float(os.environ.get("GUARDRAIL_TIME_SCALE", "1"))
ROLE = "arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole"


def pause(seconds):
    """Sleeps `seconds` of the server's API clock (`--time-scale` is
    GUARDRAIL_TIME_SCALE)."""
    time.sleep(seconds / SCALE)


def endpoint_with_configs(sm, prefix, containers, first):
    """Creates, per name in `containers` (name -> container), a model and a
    config of three ml.m5.xlarge instances, then the endpoint on the config
    of `first`, and waits until it is in service. Returns the endpoint's
    name and the configs' names by container name."""
    ts = time.strftime("%H%M%S", time.gmtime())
    config = {}
    for name, container in containers.items():
        sm.create_model(ModelName=f"{prefix}-model-{name}-{ts}", ExecutionRoleArn=ROLE, Containers=[container])
        config[name] = f"{prefix}-config-{name}-{ts}"
        sm.create_endpoint_config(
            EndpointConfigName=config[name],
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": f"{prefix}-model-{name}-{ts}",
                    "InstanceType": "ml.m5.xlarge",
                    "InitialInstanceCount": 3,
                }
            ],
        )
    endpoint = f"{prefix}-endpoint-{ts}"
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=config[first])
    sm.get_waiter("endpoint_in_service").wait(
        EndpointName=endpoint, WaiterConfig={"Delay": max(1, int(30 / SCALE)), "MaxAttempts": 200}
    )
    return endpoint, config
