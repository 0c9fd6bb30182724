"""The shared table of cases for every concept computed in more than one language.

The reward (:func:`nas_service.reward.mnasnet_reward`), the 2-D Pareto front (:func:`nas_service.pareto.
pareto_front`), the front's hypervolume (:func:`nas_service.pareto.hypervolume_2d`) and its reference latency
(:func:`nas_service.pareto.front_reference_latency`) are defined in Python; SQL (storage re-scoring) and the
dashboard's JavaScript recompute some of them. ``definition_cases.json`` holds inputs with the Python results;
``tests/storage/test_reward_sql.py`` and ``tests/dashboard/test_definitions_browser.py`` check the other forms
against it. This test keeps the file equal to what Python computes today.

Regenerate after changing a definition: ``.venv/bin/python tests/cases/test_definition_cases.py``.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

CASES_FILE = Path(__file__).with_name("definition_cases.json")


def load_cases() -> dict[str, Any]:
    """The stored table of cases."""
    return json.loads(CASES_FILE.read_text())


def build_cases() -> dict[str, Any]:
    """Inputs on both sides of and at the target, ties, duplicates; outputs from the Python definitions."""
    from nas_service.pareto import front_reference_latency, hypervolume_2d, pareto_front
    from nas_service.reward import REWARD_PRESETS, mnasnet_reward

    exponents = sorted(set(REWARD_PRESETS.values())) + [(-0.5, -1.0), (0.07, 0.2), (-0.07, -0.15)]
    reward = []
    for acc in (0.0, 0.05, 0.5, 0.913, 1.0):
        for target in (0.5, 2.0, 7.3):
            for lat in (0.01, target / 2, target * 0.999999, target, target * 1.000001, 3.7 * target, 1234.5):
                for alpha, beta in exponents:
                    expected = mnasnet_reward(acc, lat, target, alpha, beta)
                    reward.append(
                        {"acc": acc, "lat": lat, "T": target, "alpha": alpha, "beta": beta, "expected": expected}
                    )
    rng = random.Random(2026)
    fronts = []
    for n, grid in ((1, None), (2, 3), (7, None), (40, 5), (60, 12), (200, None), (25, 2)):
        points = [
            [rng.randint(0, grid) / grid, float(rng.randint(1, grid + 1))]
            if grid
            else [rng.random(), 0.1 + 9 * rng.random()]
            for _ in range(n)
        ]
        if n > 2:
            points.append(list(points[0]))  # an exact duplicate
        target = rng.choice([0.5, 2.0, 6.0])
        front = pareto_front(points)
        lats = [points[i][1] for i in front]
        ref = front_reference_latency(lats, target)
        hv = hypervolume_2d([points[i] for i in front], (0.0, ref))
        fronts.append({"points": points, "T": target, "front": front, "reference_latency": ref, "hypervolume": hv})
    return {"reward": reward, "pareto": fronts}


def test_the_stored_cases_are_what_python_computes() -> None:
    assert load_cases() == json.loads(json.dumps(build_cases())), (
        "the Python definitions changed: regenerate with `.venv/bin/python tests/cases/test_definition_cases.py`"
    )


def test_the_cases_cover_both_sides_of_the_target_and_ties() -> None:
    cases = load_cases()
    assert any(c["lat"] == c["T"] for c in cases["reward"])
    assert any(c["lat"] < c["T"] for c in cases["reward"]) and any(c["lat"] > c["T"] for c in cases["reward"])
    assert any(len(c["front"]) > 1 for c in cases["pareto"])
    assert any(c["points"][0] == c["points"][-1] and 0 in c["front"] for c in cases["pareto"])


if __name__ == "__main__":
    CASES_FILE.write_text(json.dumps(build_cases(), indent=None, separators=(",", ":")) + "\n")
    print(f"wrote {CASES_FILE}")
