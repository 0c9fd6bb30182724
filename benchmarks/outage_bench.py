"""How long a database outage delays a job: the real dispatcher loop and a real PostgreSQL server stopped mid-job.

    .venv/bin/python -m benchmarks.outage_bench [--outages 0,10,20,30] [--trials 8] [--epoch-s 1.0] [--json]

Needs root and the PostgreSQL server binaries: a throwaway cluster (initdb + pg_ctl on a free loopback port, run
as user ``postgres``) per run. For each outage length one job (``--trials`` trials, 2 at a time, 3 epochs of
``--epoch-s`` seconds each, no training: :func:`~nas_service.orchestration.synthetic_trial` slowed down) is driven
by :class:`nas_service.orchestration.Dispatcher` on the in-process executor in a thread (``Dispatcher.run``, as the
embedded and standalone dispatchers run it). Once the first trial completed the server is stopped
(``pg_ctl -m fast``) for the outage, then started again.

Printed per outage: the job's wall time, its ``delay`` over the no-outage run, ``extra`` = delay minus the
outage (what the retrying itself costs: the backoff's last wait and the replay), ``recover_s`` = from the
database's restart to the dispatcher's first successful tick, and whether every trial completed once with its
full epoch curve (``intact``). ``--json`` prints ``{"rows": [...]}``.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from nas_service.jobspec import JobSpec, JobState, TrialState
from nas_service.orchestration import Dispatcher, InProcessExecutor, TrialPayload, TrialRun, synthetic_trial
from nas_service.orchestration.inprocess import InProcessReporter
from nas_service.space import tiny_space
from nas_service.storage import SQLAlchemyStorage
from tests.outage.conftest import PgCluster

EPOCHS = 3


class _SlowEpochs:
    def __init__(self, reporter: InProcessReporter, epoch_s: float) -> None:
        self._reporter, self._epoch_s = reporter, epoch_s

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reporter, name)

    def epoch(self, report: Any) -> None:
        time.sleep(self._epoch_s)
        self._reporter.heartbeat()
        self._reporter.epoch(report)


def run_once(outage_s: float, trials: int, epoch_s: float) -> dict[str, Any]:
    """One job with an outage of ``outage_s`` seconds (0: none); its numbers."""
    root = Path(tempfile.mkdtemp(prefix="nas-outage-"))
    cluster = PgCluster(root)
    storage = SQLAlchemyStorage(cluster.url)

    def runner(payload: TrialPayload, reporter: InProcessReporter) -> TrialRun:
        return synthetic_trial(payload, _SlowEpochs(reporter, epoch_s))  # type: ignore[arg-type]

    executor = InProcessExecutor(runner, threads=2)
    stop = threading.Event()
    try:
        spec = JobSpec.model_validate({
            "strategy": {"name": "random", "seed": 0},
            "budget": {"max_trials": trials, "max_concurrent": 2, "max_attempts": 2},
            "proxy": {"dataset": "digits", "resolution": 16, "epochs": EPOCHS},
        })  # fmt: skip
        space = storage.create_space("alice", "tiny", tiny_space().model_dump(mode="json"))
        job_id = storage.create_job("alice", space.id, spec).id
        dispatcher = Dispatcher(storage, executor, "bench", poll_s=0.2, data_dir=root)
        thread = threading.Thread(target=dispatcher.run, args=(stop,), daemon=True)
        start = time.time()
        thread.start()
        recover_s = None
        if outage_s > 0:
            while storage.get_job(job_id).trials_completed < 1:
                time.sleep(0.1)
            cluster.stop()
            time.sleep(outage_s)
            cluster.start()
            up = time.time()
            while not dispatcher.health.ok:
                time.sleep(0.05)
            recover_s = time.time() - up
        while storage.get_job(job_id).state in (JobState.RUNNING, JobState.QUEUED):
            time.sleep(0.1)
        wall = time.time() - start
        rows = storage.list_trials(job_id, limit=1000).items
        intact = len(rows) == trials and all(
            t.state == TrialState.COMPLETED
            and t.attempts == 1
            and [m.epoch for m in storage.list_metrics(t.id)] == list(range(1, EPOCHS + 1))
            for t in rows
        )
        return {
            "outage_s": outage_s,
            "wall_s": round(wall, 2),
            "recover_s": None if recover_s is None else round(recover_s, 2),
            "state": storage.get_job(job_id).state.value,
            "intact": intact,
            "alive": thread.is_alive(),
        }
    finally:
        stop.set()
        executor.shutdown()
        storage.close()
        cluster.destroy()
        shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print a table (or ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outages", default="0,10,20,30", help="Outage lengths in seconds (0: the baseline).")
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epoch-s", type=float, default=1.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    lengths = [float(x) for x in args.outages.split(",") if x.strip()]
    if 0.0 not in lengths:
        lengths.insert(0, 0.0)
    rows = [run_once(length, args.trials, args.epoch_s) for length in sorted(lengths)]
    base = rows[0]["wall_s"]
    for row in rows:
        row["delay_s"] = round(row["wall_s"] - base, 2)
        row["extra_s"] = round(row["delay_s"] - row["outage_s"], 2)
    if args.json:
        print(json.dumps({"rows": rows}))
        return 0
    print(f"{'outage s':>9} {'wall s':>7} {'delay s':>8} {'extra s':>8} {'recover s':>10} {'state':>10} intact alive")
    for r in rows:
        rec = "-" if r["recover_s"] is None else f"{r['recover_s']:.2f}"
        print(
            f"{r['outage_s']:>9g} {r['wall_s']:>7.2f} {r['delay_s']:>8.2f} {r['extra_s']:>8.2f} {rec:>10} "
            f"{r['state']:>10} {str(r['intact']):>6} {r['alive']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
