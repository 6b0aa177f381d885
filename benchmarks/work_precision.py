"""Work-precision benchmark: spike-time error against cost for every method and dt.

Runs ``hhfast bench --work-precision`` (the same code path) and takes the same options::

    python benchmarks/work_precision.py --out hhfast-out            # ~3-5 minutes on 2 cores
    python benchmarks/work_precision.py --quick --n-neurons 200     # a smoke run

Writes ``work_precision.csv`` and ``work_precision.png`` to ``--out`` and prints, for each
spike-time accuracy target (1, 0.1, 0.01, 0.001 ms), the cheapest method/dt that meets it, with
the cost of scipy's DOP853 (one neuron after another, the gist's way) at that accuracy.
"""

import sys

from hhfast.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "--work-precision", *sys.argv[1:]]))
