"""Records the S3 requests of one drmodel command (bench/run.py's ls scenario runs it once, untimed).

    python trace_requests.py OUT.json DRMODEL-ARGS...

Runs drmodel's CLI in-process with every botocore client hooked: drmodel makes its clients with botocore, boto3
wraps botocore, so wrapping the public `botocore.session.Session.create_client` catches both. On every client it
registers public events: `provide-client-params` (per API call: the operation and the caller's parameters),
`after-call` (its HTTP status) and `before-send` (every HTTP request sent, retries included). OUT.json gets
{"clients": [service, ...], "sent": N, "calls": [{"op", "params", "status"}, ...]}; the exit status is
drmodel's.
"""

import json
import sys

import botocore.session

out, trace = sys.argv[1], {"clients": [], "sent": 0, "calls": []}
create_client = botocore.session.Session.create_client


def record(params, model, context, **_):
    context["bench_call"] = len(trace["calls"])
    trace["calls"].append({"op": model.name, "params": dict(params), "status": None})


def status(http_response, context, **_):
    trace["calls"][context["bench_call"]]["status"] = http_response.status_code


def sent(**_):
    trace["sent"] += 1


def traced_create_client(self, service_name, *args, **kwargs):
    client = create_client(self, service_name, *args, **kwargs)
    trace["clients"].append(service_name)
    client.meta.events.register("provide-client-params", record)
    client.meta.events.register("after-call", status)
    client.meta.events.register("before-send", sent)
    return client


botocore.session.Session.create_client = traced_create_client
from drmodel.cli.main import main  # noqa: E402  (after the hook: drmodel's clients are made through it)

try:
    code = main(sys.argv[2:])
finally:
    with open(out, "w") as f:
        json.dump(trace, f, indent=1)
sys.exit(code)
