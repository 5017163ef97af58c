"""bench/breakdown.py's wrapper: runs drmodel's `main` as the `drmodel` command does (`cli.main.run`), marking
milestones, or under a per-thread cProfile when DRMODEL_PROFILE names a file.

    python milestones.py DRMODEL-ARGS...

Environment: SPAWNED_AT (time.time() just before the spawn), CLIENTS (how many S3 clients the command makes),
MARKS_TO (where the milestones go, as JSON [[name, wall s since the spawn, CPU s], ...]), DRMODEL_PROFILE
(optional: the cProfile file). Exits with drmodel's exit status.
"""

import json
import os
import resource
import sys
import time

T0 = float(os.environ["SPAWNED_AT"])
marks = []


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def mark(name):
    if name not in {m[0] for m in marks}:
        marks.append((name, time.time() - T0, cpu()))


mark("interpreter ready")
profile_to = os.environ.get("DRMODEL_PROFILE")
if profile_to:
    import cProfile
    import threading

    profiles = [cProfile.Profile(time.thread_time)]
    run_thread = threading.Thread.run

    def profiled_run(self):
        p = cProfile.Profile(time.thread_time)
        profiles.append(p)
        p.enable()
        try:
            run_thread(self)
        finally:
            p.disable()

    threading.Thread.run = profiled_run
    profiles[0].enable()
# The modules a transfer uses, imported first: the same work as in the command, moved to the front.
import drmodel.api, drmodel.execute, drmodel.cli.render, drmodel.layouts, drmodel.stores.s3  # noqa
import botocore.session, botocore.config, botocore.client, botocore.args, botocore.endpoint  # noqa
import botocore.regions, botocore.httpsession, botocore.parsers, botocore.serialize, botocore.auth  # noqa
import botocore.signers, botocore.endpoint_provider, botocore.httpchecksum, botocore.retries.standard  # noqa

mark("imports done")
import drmodel.stores.s3 as s3  # noqa: E402

make_client = s3.make_client
clients = []


def first_request(**_):
    mark("first S3 request")


def timed_make_client(*args, **kwargs):
    client = make_client(*args, **kwargs)
    # botocore's public `provide-client-params` event (boto3's extensibility guide) is emitted at the start of
    # every API call, before its parameters are validated and serialised: the moment the first request begins.
    client.meta.events.register("provide-client-params", first_request)
    clients.append(1)
    if len(clients) == int(os.environ["CLIENTS"]):
        mark("S3 clients made")
    return client


s3.make_client = timed_make_client
execute = drmodel.api.execute


def timed_execute(*args, **kwargs):
    mark("plan made, transfer starts")
    try:
        return execute(*args, **kwargs)
    finally:
        mark("transfer done")


drmodel.api.execute = timed_execute
from drmodel.cli.main import main  # noqa: E402

code = main(sys.argv[1:])
mark("end")
if profile_to:
    import pstats

    profiles[0].disable()
    stats = pstats.Stats(profiles[0])
    for p in profiles[1:]:
        try:
            stats.add(p)
        except TypeError:  # a thread that never ran a function
            pass
    stats.dump_stats(profile_to)
if clients and "first S3 request" not in {m[0] for m in marks}:
    # every command measured here sends requests: none seen means a client was made outside make_client
    sys.exit("milestones.py: drmodel made S3 clients but no request was seen on them")
with open(os.environ["MARKS_TO"], "w") as f:
    json.dump(marks, f)
sys.exit(code)
