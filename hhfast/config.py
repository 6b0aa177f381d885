"""The numerical knobs of hhfast, in one place, each with the reason for its value.

Kernels import these as compile-time constants; the engine and analysis layers read them as
defaults.  Change a value here (before the first call compiles the kernels) rather than
scattering literals over the code.
"""

from __future__ import annotations

import os

#: LLVM fast-math flags for every kernel.  ``nnan`` and ``ninf`` are deliberately left out:
#: they let LLVM assume no NaN/Inf exists and delete the ``x != x`` / ``abs(x) < inf`` tests
#: that detect a numerical blow-up (tested in ``tests/test_divergence.py``).  ``reassoc`` is
#: left out too: it lets LLVM merge the two-part (Cody–Waite) range reduction of the
#: vectorisable exp in ``kernels/fastexp.py`` and costs it 10 ulp instead of 1 (measured).
#: ``contract`` (FMA), ``afn`` (approximate libm calls), ``arcp``/``nsz`` are safe for HH.
FASTMATH = {"contract", "afn", "arcp", "nsz"}

#: Neurons per block in the blocked kernels: the lane loop over a block is what LLVM
#: vectorises; 16 float64 lanes fill two AVX-512 registers (blocks of 8 did not vectorise
#: in the prototype measured in issue 4).
BLOCK = 16

#: Default spike threshold, in mV above ``V_rest``.  HH action potentials peak ~100 mV above
#: rest while sub-threshold responses and the damped oscillations of depolarisation block stay
#: well below +50 mV, so 50 mV separates them for the classic parameters.
SPIKE_THRESHOLD_ABOVE_REST = 50.0

#: Default number of spike times kept per neuron (further spikes are counted, not stored).
#: Memory is ``8 * MAX_SPIKES`` bytes per neuron; rates and ISI statistics over the analysis
#: window are accumulated in O(1) memory per neuron and never need the stored times.
MAX_SPIKES = 16

#: Below |z| < this, z / (exp(z) - 1) is evaluated by its Taylor series
#: 1 - z/2 + z^2/12 - z^4/720 (truncation error < z^6/30240 ~ 3e-17 at the edge), where the
#: direct formula would lose ~eps/|z| ~ 2e-14 relative accuracy to cancellation.  This is the
#: removable 0/0 of alpha_n at V - V_rest = 10 mV and alpha_m at 25 mV.
SERIES_CUTOFF = 1e-2

#: The kernels' cut-offs for the same series, which there runs to the z^8 term
#: (1 - z/2 + z^2/12 - z^4/720 + z^6/30240 - z^8/1209600, truncation < 2.1e-8 |z|^10).  They
#: are wider than ``SERIES_CUTOFF`` because the kernels form e^z - 1 from e^(-u/10), itself the
#: 8th power of e^(-u/80) (~8 ulp), so the direct formula loses ~8 eps/|z|: float64 at 0.1:
#: truncation 2e-18, direct 2e-14; float32 at 0.5: truncation 2e-11, direct 1e-6.
KERNEL_SERIES_CUTOFF64 = 0.1
KERNEL_SERIES_CUTOFF32 = 0.5

#: Fraction of physical RAM that recorded traces may take before ``simulate`` refuses.
RECORD_MEMORY_FRACTION = 0.25

#: Neurons per kernel call inside ``simulate``: bounds the temporary per-neuron parameter
#: arrays (about 120 bytes per neuron) independently of the batch size.
CHUNK_NEURONS = 1 << 16

#: Relative tolerance (in units of dt) under which a stimulus edge is taken to lie on a grid
#: point, so that 10 ms / 0.01 ms is "on the grid" despite binary rounding.
EDGE_SNAP = 1e-9


def total_memory_bytes() -> int:
    """Physical memory of this machine in bytes (a conservative 4 GiB if unknown)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 4 << 30


#: Bytes that recorded traces may take (``HHFAST_RECORD_BUDGET`` overrides, in bytes).
RECORD_MEMORY_BUDGET = int(
    os.environ.get("HHFAST_RECORD_BUDGET", RECORD_MEMORY_FRACTION * total_memory_bytes())
)
