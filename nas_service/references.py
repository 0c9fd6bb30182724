"""The ids a job names: every stored object a job spec refers to, so the API can authorise each one.

A job may name objects by id: the space it searches (``space_id``) and, for a compound-scaling or netadapt job, a
trial whose network is the base (``scaling.base`` or ``netadapt.base`` given as a trial id). Each one must be
resolved through the caller's visibility, exactly like a read of that object: someone else's object and a missing
one give the same 404, so ids cannot be probed. This module only *lists* the references (pure, no storage);
``api.routes.jobs`` resolves them. Specs that gain new references (a finalize source) add them to
:func:`spec_references`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from nas_service.jobspec import JobSpec

ReferenceKind = Literal["space", "trial"]


@dataclass(frozen=True)
class Reference:
    """One stored object a job names.

    Attributes:
        kind: What the id points at (``space`` or ``trial``).
        ident: The id.
        field: Where the request names it (``space_id``, ``scaling.base``), for the error's ``field``.
    """

    kind: ReferenceKind
    ident: int
    field: str


def trial_id_reference(value: object) -> int | None:
    """The trial id a ``scaling.base`` value names (up to 18 ASCII digits), else ``None``.

    Only ASCII digits count: ``"٣".isdigit()`` is true and ``int("٣") == 3``, so a looser test would let a
    reference slip past the check under another spelling.
    """
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18:
        return int(value)
    return None


def spec_references(spec: JobSpec, space_id: int | None = None) -> list[Reference]:
    """Every stored object ``spec`` (and the request's ``space_id``) names, in request order."""
    refs: list[Reference] = []
    if space_id is not None:
        refs.append(Reference("space", space_id, "space_id"))
    for block, field in ((spec.scaling, "scaling.base"), (spec.netadapt, "netadapt.base")):
        trial_id = trial_id_reference(block.base) if block is not None else None
        if trial_id is not None:
            refs.append(Reference("trial", trial_id, field))
    return refs
