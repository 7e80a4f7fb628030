"""`make bench`: edgeship against the official TFLite/TFJS tools, in the same run, alternating sides.

`python -m bench.run` writes bench/RESULTS.md and bench/results.json; `python -m bench.run --smoke` runs a
small version of every section into a temporary folder (tests/test_bench_smoke.py).
"""
