"""``nas proxy study``: which cheap proxy ranks networks like the expensive one, and what it saves.

A study samples ``n`` networks of a space and trains each under a *reference* proxy (say 30 epochs at 32 px) and
under every *candidate* proxy (1 epoch; 2 epochs at 16 px; a quarter of the data), then reports per candidate the
Kendall tau of its accuracies against the reference's on the same networks, its cost (training seconds) relative
to the reference's, and recommends the cheapest candidate whose tau reaches a threshold
(:func:`nas_service.fidelity.recommend_proxy`).

Everything runs as ordinary jobs of the service, on its workers, so it survives restarts like any job:

* the **reference job**, a ``random`` search of ``n`` trials under the reference proxy (its trials are the sampled
  networks);
* one **candidate job** per candidate, a ``final`` job of the reference job with ``recipe: proxy``
  (``POST /jobs/{id}/finalize`` with ``proxy``): the same networks retrained under the candidate proxy.

The jobs are named after the study's key (a hash of its space, ``n``, seed and proxies), so running the same
study again attaches to them: a study whose client was interrupted continues where its jobs are.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nas_service.fidelity import ProxyCandidate, rank_correlations, recommend_proxy
from nas_service.finalize import FinalizeError, proxy_with
from nas_service.jobspec import JOB_TERMINAL, JobState, ProxyConfig

__all__ = ["StudyError", "StudyJobError", "StudyPlan", "StudyResult", "parse_proxy", "run_study"]


class StudyError(ValueError):
    """A study that cannot run; ``field`` names the input at fault (``reference``, ``candidate 2``, ``n``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class StudyJobError(StudyError):
    """A study job ended without completing, too few networks completed, or the wait timed out."""


def parse_proxy(text: str, what: str) -> dict[str, Any]:
    """``"epochs=2,resolution=16"`` as proxy fields (numbers and booleans parsed; anything else a string).

    Raises:
        StudyError: Not ``key=value`` pairs separated by commas (``field`` is ``what``).
    """
    changes: dict[str, Any] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, sep, raw = part.partition("=")
        if not sep or not key.strip() or not raw.strip():
            raise StudyError(what, f"{what}: expected key=value pairs separated by commas, got {text!r}")
        try:
            value: Any = json.loads(raw.strip())
        except json.JSONDecodeError:
            value = raw.strip()
        changes[key.strip()] = value
    return changes


@dataclass(frozen=True)
class StudyPlan:
    """What a study trains.

    Attributes:
        space: The search space to sample: a preset's name, or a stored space's id.
        n: Networks sampled.
        reference: Proxy fields of the reference training (over :class:`ProxyConfig`'s defaults).
        candidates: Proxy fields of each candidate (over the reference's).
        seed: The sampling seed.
        threshold: The tau a candidate needs to be recommended.
        concurrency: Trials of a study job at a time.
    """

    space: str
    n: int
    reference: Mapping[str, Any]
    candidates: Sequence[Mapping[str, Any]]
    seed: int = 0
    threshold: float = 0.6
    concurrency: int = 2

    @property
    def key(self) -> str:
        """A short hash of what the study trains (its jobs are named after it)."""
        what = [self.space, self.n, self.seed, dict(self.reference), [dict(c) for c in self.candidates]]
        return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:10]

    def reference_proxy(self) -> ProxyConfig:
        """The reference proxy, validated (:class:`StudyError` naming ``reference``)."""
        return _validated(ProxyConfig(), self.reference, "reference")

    def candidate_proxies(self) -> list[ProxyConfig]:
        """Each candidate's proxy, validated over the reference's (:class:`StudyError` naming ``candidate N``)."""
        base = self.reference_proxy()
        return [_validated(base, c, f"candidate {i}") for i, c in enumerate(self.candidates, 1)]


def _validated(base: ProxyConfig, changes: Mapping[str, Any], what: str) -> ProxyConfig:
    try:
        return proxy_with(base, changes)
    except FinalizeError as exc:
        raise StudyError(what, f"{what}: {exc}") from None


@dataclass
class CandidateResult:
    """One candidate's numbers: tau against the reference on ``n`` networks and its relative cost."""

    name: str
    proxy: dict[str, Any]
    job_id: int
    n: int
    kendall_tau: float | None
    spearman: float | None
    cost: float | None


@dataclass
class StudyResult:
    """A finished study (``--json`` prints :meth:`to_dict`)."""

    key: str
    reference_job_id: int
    n: int
    reference_seconds: float
    threshold: float
    candidates: list[CandidateResult] = field(default_factory=list)
    recommended: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "key": self.key,
            "reference_job_id": self.reference_job_id,
            "n": self.n,
            "reference_seconds": round(self.reference_seconds, 3),
            "threshold": self.threshold,
            "candidates": [c.__dict__ for c in self.candidates],
            "recommended": self.recommended,
        }


def _describe(changes: Mapping[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in changes.items()) or "(the reference)"


def _find_job(client: Any, name: str) -> int | None:
    for summary in client.list_jobs(page_size=100):
        if summary.name == name:
            return int(summary.id)
    return None


def _wait(client: Any, job_id: int, what: str, poll_s: float, deadline: float | None) -> None:
    while True:
        info = client.get_job(job_id).info
        state = JobState(str(getattr(info.state, "value", info.state)))
        if state == JobState.COMPLETED:
            return
        if state in JOB_TERMINAL:
            raise StudyJobError(
                what,
                f"{what} (job {job_id}) ended {state.value}: {info.error or 'no reason given'}; "
                f"nas job resume {job_id}, then run the study again",
            )
        if deadline is not None and time.monotonic() > deadline:
            raise StudyJobError(what, f"timed out waiting for {what} (job {job_id}); run the study again to continue")
        time.sleep(poll_s)


def _accuracies(
    client: Any, job_id: int, key: Callable[[Any], int], states: tuple[str, ...] = ("completed",)
) -> tuple[dict[int, float], float]:
    """Accuracy by network (``key``) of the trials in ``states``, and the job's training seconds in all."""
    acc: dict[int, float] = {}
    seconds = 0.0
    for t in client.trials(job_id, page_size=500):
        state = str(getattr(t.state, "value", t.state))
        if state in states and t.accuracy is not None:
            acc[key(t)] = float(t.accuracy)
            seconds += float(t.train_seconds or 0.0)
    return acc, seconds


def run_study(
    client: Any,
    plan: StudyPlan,
    *,
    poll_s: float = 2.0,
    timeout_s: float | None = None,
    say: Callable[[str], None] = lambda _line: None,
) -> StudyResult:
    """Run (or attach to) ``plan``'s jobs and report the candidates (module docstring).

    Args:
        client: A :class:`nas_service.client.Client`.
        plan: The study.
        poll_s: How often job states are read.
        timeout_s: Give up waiting after this long (the jobs keep running; run the study again to continue).
        say: Progress lines.

    Raises:
        StudyError: Bad proxies, a study job that ended without completing, too few networks, or the timeout.
    """
    if plan.n < 2:
        raise StudyError("n", "n: a study needs at least 2 networks to rank")
    if not plan.candidates:
        raise StudyError("candidate", "candidate: give at least one --candidate proxy")
    plan.candidate_proxies()  # the reference and every candidate are checked before anything is submitted
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    prefix = f"proxy-study {plan.key}"
    ref_name = f"{prefix} reference"
    ref_id = _find_job(client, ref_name)
    if ref_id is None:
        spec = {
            "name": ref_name,
            "strategy": {"name": "random", "seed": plan.seed},
            "budget": {"max_trials": plan.n, "max_concurrent": plan.concurrency},
            "proxy": dict(plan.reference),  # only what the user set: a space that searches resolution keeps it
        }
        where = {"space_id": int(plan.space)} if plan.space.isdigit() else {"space": plan.space}
        ref_id = int(client.submit_job(spec, **where).id)
        say(f"reference job {ref_id}: {plan.n} networks of {plan.space} under {_describe(plan.reference)}")
    else:
        say(f"attached to the study's reference job {ref_id}")
    _wait(client, ref_id, "the reference job", poll_s, deadline)
    ref_acc, ref_seconds = _accuracies(client, ref_id, lambda t: int(t.id))
    if len(ref_acc) < 2:
        done = len(ref_acc)
        raise StudyJobError("n", f"the reference job {ref_id} completed {done} network(s); a study ranks 2 or more")

    jobs: list[int] = []
    for i, changes in enumerate(plan.candidates, 1):
        name = f"{prefix} candidate {i}"
        job_id = _find_job(client, name)
        if job_id is None:
            made = client.finalize(ref_id, len(ref_acc), by="reward", proxy=dict(changes), name=name)
            job_id = int(made.id)
            say(f"candidate {i} job {job_id}: the same {len(ref_acc)} networks under {_describe(changes)}")
        jobs.append(job_id)
    for i, job_id in enumerate(jobs, 1):
        _wait(client, job_id, f"candidate {i}", poll_s, deadline)

    result = StudyResult(plan.key, ref_id, len(ref_acc), ref_seconds, plan.threshold)
    scored = []
    for changes, job_id in zip(plan.candidates, jobs, strict=True):
        # A duplicate (two sampled networks that are one at the candidate's resolution) repeats a trained result.
        acc, seconds = _accuracies(client, job_id, lambda t: int(t.params["source_trial"]), ("completed", "duplicate"))
        common = sorted(set(acc) & set(ref_acc))
        tau, rho = rank_correlations([ref_acc[k] for k in common], [acc[k] for k in common])
        cost = seconds / ref_seconds if ref_seconds > 0 else None  # no training seconds reported: unknown
        name = _describe(changes)
        result.candidates.append(CandidateResult(name, dict(changes), job_id, len(common), tau, rho, cost))
        scored.append(ProxyCandidate(name, tau, cost if cost is not None else float("inf")))
    best = recommend_proxy(scored, plan.threshold)
    result.recommended = best.name if best is not None else None
    return result
