"""The measuring process of bench/run.py: spawns one command, waits for it and writes its wall time, CPU time
and peak RSS as JSON.

    python -I -S measure.py RESULT.json COMMAND [ARG...]

run.py starts it as a separate bare interpreter because on Linux a child's ru_maxrss starts at the memory of
the process that spawned it (exec counts the image it replaces): spawned from the benchmark (100-400 MB), every
tool would look that big. This one adds a floor of about 10 MB instead. Standard library only (it runs with
-I -S); the clock starts here, so reading this file costs the measured command nothing.
"""

import json
import os
import sys
import time

start = time.perf_counter()
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - start
with open(sys.argv[1], "w") as out:
    json.dump({"s": seconds, "cpu_s": usage.ru_utime + usage.ru_stime, "rss_kib": usage.ru_maxrss,
               "exit": os.waitstatus_to_exitcode(status)}, out)
