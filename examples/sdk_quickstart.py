"""SDK quickstart: submit a small search, follow it, read the Pareto front and export the best network.

Run a controller first (``nas serve``; the embedded mode writes an admin token the SDK picks up), then::

    python examples/sdk_quickstart.py

``NAS_API_URL`` and ``NAS_TOKEN`` point the SDK at another controller.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from nas_service.client import Client, NasError


def main() -> int:
    """Submit ``examples/job-digits.yaml``, wait for it, print the front and export the best trial."""
    spec = yaml.safe_load((Path(__file__).parent / "job-digits.yaml").read_text())
    try:
        with Client() as nas:
            job = nas.submit_job(spec)
            print(f"job {job.id} submitted: {nas.config.url}/dashboard/jobs/{job.id}")
            final = job.wait(progress=True)
            print(f"job {final.id} {final.state}: best reward {final.best_reward}")

            front = nas.pareto(job.id)
            for point in front.points:
                blocks = point.block_strings
                print(f"  #{point.number:<3} acc {point.accuracy:.3f}  {point.latency_ms:.2f} ms  {blocks}")

            # Re-score the same results for a tighter latency target, without re-running anything.
            best = nas.best(job.id, k=1, target_ms=1.0).trials
            print("best at T=1 ms:", best[0] if best else None)

            top = nas.best(job.id, k=1).trials
            if top:
                trial_id = top[0].trial_id
                files = nas.export(trial_id, Path("export") / f"trial-{trial_id}", format="all")
                for kind, path in files.items():
                    print(f"  {kind:12} {path}")
    except NasError as exc:
        print(f"error: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
