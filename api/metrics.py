"""In-process Prometheus metrics (text exposition format 0.0.4), without a client library.

Gauges (jobs and trials by state) are read from the database at scrape time; the report-latency histogram is
kept in this process (each controller replica exposes its own).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from nas_service.storage import BaseStorage

REPORT_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Histogram:
    """A thread-safe cumulative histogram."""

    def __init__(self, name: str, help_text: str, buckets: Sequence[float] = REPORT_BUCKETS) -> None:
        """Create an empty histogram with upper bounds ``buckets`` (``+Inf`` is implied)."""
        self.name, self.help = name, help_text
        self.buckets = tuple(sorted(buckets))
        self._counts = [0] * (len(self.buckets) + 1)
        self._sum = 0.0
        self._lock = threading.Lock()

    def observe(self, value: float) -> None:
        """Record one observation (seconds)."""
        with self._lock:
            self._sum += value
            for i, bound in enumerate(self.buckets):
                if value <= bound:
                    self._counts[i] += 1
                    break
            else:
                self._counts[-1] += 1

    def render(self) -> list[str]:
        """Exposition lines."""
        with self._lock:
            counts, total_sum = list(self._counts), self._sum
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        running = 0
        for bound, n in zip(self.buckets, counts, strict=False):
            running += n
            lines.append(f'{self.name}_bucket{{le="{bound}"}} {running}')
        running += counts[-1]
        lines += [
            f'{self.name}_bucket{{le="+Inf"}} {running}',
            f"{self.name}_sum {total_sum}",
            f"{self.name}_count {running}",
        ]
        return lines


class Metrics:
    """Every metric of one API process."""

    def __init__(self) -> None:
        """Create the in-process metrics."""
        self.report_latency = Histogram(
            "nas_trial_report_duration_seconds", "Time to store a worker's final trial report."
        )

    def render(self, storage: BaseStorage) -> str:
        """The whole exposition text (database gauges read now)."""
        lines = ["# HELP nas_jobs Jobs by state.", "# TYPE nas_jobs gauge"]
        lines += [f'nas_jobs{{state="{s.value}"}} {n}' for s, n in storage.count_jobs_by_state().items()]
        trials = storage.count_trials_by_state()
        lines += ["# HELP nas_trials Trials by state.", "# TYPE nas_trials gauge"]
        lines += [f'nas_trials{{state="{s.value}"}} {n}' for s, n in trials.items()]
        for state in ("completed", "failed", "pruned"):
            name = f"nas_trials_{state}_total"
            lines += [f"# HELP {name} Trials that ended {state}.", f"# TYPE {name} counter"]
            lines.append(f"{name} {next(n for s, n in trials.items() if s.value == state)}")
        lines += self.report_latency.render()
        return "\n".join(lines) + "\n"
