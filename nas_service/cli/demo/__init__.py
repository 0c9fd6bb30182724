"""``nas demo``: a real, small architecture search end to end on this machine, with nothing configured.

The demo runs the whole stack in one process, the way a deployment runs it across several: the controller
API (uvicorn on 127.0.0.1, in a thread) over the embedded database, the embedded dispatcher with a local Ray
beside it, and the command itself as an ordinary SDK client talking HTTP to that API. It submits a search of
the ``digits`` preset space (a MnasNet-like space scaled down to scikit-learn's 8x8 digits), follows it from
the server-sent event stream (an overall bar and one bar per running trial), then prints the Pareto front and
the dashboard URL.

Sizing (2 CPU cores, one torch thread per trial): digits at 16 px, 2 epochs of batch 64 train a candidate in
about 4-15 s; latency is the median of 20 batch-1 forwards after 10 warm-ups. The reward's target ``T`` is
the latency of the space's base network (MnasNet's plain MBConv6 k3, widths 1.0, no depth change, stem stride
2), measured once on this CPU at start. That network sits near the median latency of the space, so the reward
trades accuracy against latency around the middle of the space on this machine, rather than around a number
measured on another one.

Exit codes: 0 when the job completed, 1 otherwise (failed, cancelled, interrupted, timed out, or the stack
could not start). Errors are one line on stderr, never a traceback.
"""

from nas_service.cli.demo._job import BASE_CHOICES, base_params, build_spec, demo_space, max_macs, measure_target_ms
from nas_service.cli.demo._options import EXIT_FAILURE, EXIT_OK, STRATEGIES, DemoError, DemoOptions
from nas_service.cli.demo._progress import DemoProgress, follow_job
from nas_service.cli.demo._report import pareto_rows, print_front, print_summary
from nas_service.cli.demo._stack import EmbeddedStack, resolve_settings
from nas_service.cli.demo.command import register, run_demo

__all__ = [
    "BASE_CHOICES",
    "EXIT_FAILURE",
    "EXIT_OK",
    "STRATEGIES",
    "DemoError",
    "DemoOptions",
    "DemoProgress",
    "EmbeddedStack",
    "base_params",
    "build_spec",
    "demo_space",
    "follow_job",
    "max_macs",
    "measure_target_ms",
    "pareto_rows",
    "print_front",
    "print_summary",
    "register",
    "resolve_settings",
    "run_demo",
]
