"""Benchmarks: each ``benchmarks/<name>_bench.py`` has a ``main()``; ``python -m benchmarks`` runs them all."""
