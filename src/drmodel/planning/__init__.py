"""Planning: what a command asks (request.py), and the Plan it gets (drmodel.plan)."""

from drmodel.planning.request import ModelRef, TransferRequest

__all__ = ["ModelRef", "TransferRequest"]
