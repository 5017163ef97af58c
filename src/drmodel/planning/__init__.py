"""Planning: what a command asks (request.py) turned into the Plan execute runs (drmodel.plan). Lists and reads;
writes nothing. transfer.py plans a pull, push or copy (target.py finds where it goes, content.py what it writes,
droa.py a push into DeepRacer on AWS); repair.py and restore.py plan those commands."""

from drmodel.planning.batch import BatchRequest, plan_batch
from drmodel.planning.repair import plan_repair
from drmodel.planning.request import ModelRef, TransferRequest
from drmodel.planning.restore import plan_restore
from drmodel.planning.transfer import plan_between, plan_request, plan_transfer

__all__ = ["BatchRequest", "ModelRef", "TransferRequest", "plan_batch", "plan_between", "plan_repair", "plan_request",
           "plan_restore", "plan_transfer"]
