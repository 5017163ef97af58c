"""bench/floor.py's start-up probe: imports what a drmodel copy imports and makes its two S3 clients, then exits
as the command does (interpreter teardown included). floor.py takes its CPU from the outside (os.times of its
children), with the S3 endpoint and keys in the environment.

    python startup.py
"""

import drmodel.cli.main, drmodel.api, drmodel.execute  # noqa: E401,F401  (as the copy command imports them)
from drmodel.options import TransferOptions
from drmodel.stores.s3 import make_client

make_client(None, TransferOptions())
make_client(None, TransferOptions())
