"""The baseline of bench/run.py's ls target: import boto3, make one S3 client from an AWS profile and replay the
calls trace_requests.py recorded (every GetObject body read to the end).

    python boto3_replay.py TRACE.json PROFILE

Fails (non-zero exit) unless every call gets the recorded HTTP status and it sends as many HTTP requests as
drmodel did (counted with the public `before-send` event).
"""

import json
import sys

import boto3
from botocore import xform_name
from botocore.exceptions import ClientError

with open(sys.argv[1]) as f:
    trace = json.load(f)
client = boto3.session.Session(profile_name=sys.argv[2]).client("s3")
sent = [0]


def count(**_):
    sent[0] += 1


client.meta.events.register("before-send", count)
for call in trace["calls"]:
    try:
        response = getattr(client, xform_name(call["op"]))(**call["params"])
        got = response["ResponseMetadata"]["HTTPStatusCode"]
        if "Body" in response:
            response["Body"].read()
    except ClientError as exc:
        got = exc.response["ResponseMetadata"]["HTTPStatusCode"]
    if got != call["status"]:
        sys.exit(f"{call['op']} {call['params']}: HTTP {got}, drmodel got {call['status']}")
if sent[0] != trace["sent"]:
    sys.exit(f"sent {sent[0]} requests, drmodel sent {trace['sent']}")
