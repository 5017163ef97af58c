"""bench/floor.py's start-up probe: imports what a drmodel copy imports and makes its two S3 clients, then exits
as the command does (interpreter teardown included). floor.py takes its CPU from the outside (os.times of its
children), with the S3 endpoint and keys in the environment.

    python startup.py
"""

import drmodel.api  # noqa: F401  # imported as the copy command imports it
import drmodel.cli.main
import drmodel.execute  # noqa: F401  # imported as the copy command imports it
from drmodel.options import TransferOptions
from drmodel.stores.s3 import make_client

make_client(None, TransferOptions())
make_client(None, TransferOptions())
