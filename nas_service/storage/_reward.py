"""The MnasNet reward as a SQL expression, for ranking by a re-scored reward inside the database.

The Python definition is :func:`nas_service.reward.mnasnet_reward`; this is its SQL form, tested against it
on the shared table of cases in ``tests/cases/definition_cases.json`` (SQLite and Postgres), as is the
dashboard's JavaScript form.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, case, func, literal
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement


def reward_expression(
    accuracy: ColumnElement[Any] | InstrumentedAttribute[Any],
    latency_ms: ColumnElement[Any] | InstrumentedAttribute[Any],
    target_ms: float,
    alpha: float,
    beta: float,
) -> ColumnElement[float]:
    """``accuracy * (latency_ms / target_ms) ** w`` with ``w = alpha`` at or under the target, else ``beta``.

    Args:
        accuracy: A column (or literal) of accuracies in [0, 1].
        latency_ms: A column (or literal) of latencies, > 0 (filter other rows out: the power is undefined).
        target_ms: Latency target ``T``, > 0.
        alpha: Exponent at or under the target.
        beta: Exponent over the target.

    Returns:
        The reward expression (SQLite needs ``power()``, which the storage engine registers where missing).
    """
    target = literal(float(target_ms), Float)
    exponent = case((latency_ms <= target, literal(float(alpha), Float)), else_=literal(float(beta), Float))
    return accuracy * func.power(latency_ms / target, exponent)
