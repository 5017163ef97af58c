"""Planning a push into DeepRacer on AWS: the upload of what the pre-flight passed, then the import (Plan.droa), a
step execute runs once every file landed."""

from __future__ import annotations

from dataclasses import replace

from drmodel.address import Address
from drmodel.layouts import ModelLocation
from drmodel.plan import Plan
from drmodel.planning.content import gate, select_checkpoints
from drmodel.planning.request import TransferRequest


def plan_droa(src: ModelLocation, addr: Address, request: TransferRequest) -> Plan:
    from drmodel.droa import transfer as droa

    files, rewritten, selection = select_checkpoints(src, request.checkpoint)
    notes: list[str] = []
    racing = gate(src, files, rewritten, "push", request.force, notes)
    model = request.name or addr.path or src.name
    plan = droa.plan_push(src, files, {p: d for p, (d, _) in rewritten.items()}, addr.bucket or "", model,
                          request.description, request.droa_options)
    return replace(plan, notes=(*notes, *plan.notes), checkpoints=selection.description, racing=racing)
