"""Run every ``benchmarks/*_bench.py`` ``main()`` in turn, with its default arguments.

python -m benchmarks              # all of them
python -m benchmarks pareto       # only those whose name contains "pareto"
"""

from __future__ import annotations

import importlib
import inspect
import sys
import time
import traceback
from pathlib import Path


def _run(module_name: str) -> bool:
    module = importlib.import_module(f"benchmarks.{module_name}")
    main = getattr(module, "main", None)
    if main is None:
        print(f"== {module_name}: no main(), skipped")
        return True
    print(f"== {module_name}", flush=True)
    saved_argv, started = sys.argv, time.perf_counter()
    sys.argv = [module_name]  # mains that read sys.argv see no options
    try:
        result = main([]) if inspect.signature(main).parameters else main()
        ok = result in (None, 0)
    except SystemExit as exc:
        ok = exc.code in (None, 0)
    except Exception:
        traceback.print_exc()
        ok = False
    finally:
        sys.argv = saved_argv
    print(f"== {module_name}: {'ok' if ok else 'FAILED'} in {time.perf_counter() - started:.1f} s", flush=True)
    return ok


def main() -> int:
    """Run the selected benchmarks; exit status 1 when any failed."""
    wanted = sys.argv[1:]
    names = sorted(p.stem for p in Path(__file__).parent.glob("*_bench.py"))
    names = [n for n in names if not wanted or any(w in n for w in wanted)]
    results = [_run(name) for name in names]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
