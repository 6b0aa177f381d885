"""What a kernel takes: the rows of every per-neuron array, the structures that carry them, and
the helpers that pack them.  The packing helpers (:func:`params`, :func:`initial_state`,
:func:`counters`, :func:`channel`, :func:`columns`) build them from the per-neuron values of a
run.  Free of Numba, so that the engine, the references and the tests read the layout without
compiling anything (docs/architecture.md §2).

Arrays are per neuron with the neuron index last, so that the lanes of a block are contiguous.
A chunk of a run is one :class:`Batch` (the state, parameters, stimulus tables, outputs and the
clock), plus one structure per term that the run uses: :class:`NoiseBatch` for current noise,
:class:`ChannelBatch` for channel noise, :class:`AdaptiveBatch` for an error-controlled method.
A kernel is called as ``kernel(batch, *terms)``; the engine never passes positionals one by one.
The arrays::

    y[4, N]       state V (mV), n, m, h, initial on entry, final on exit (a channel run holds
                  V, the open K and Na fractions and 0).
    P[NP, N]      per-neuron constants, rows P_*.
    tidx[N]       each neuron's stimulus table; tb, c0, c1 the tables (as_tables of
                  hhfast.stimulus).
    ic[NI, N]     int64 counters, rows I_*.
    fo[NF, N]     float64 outputs, rows F_*.
    spikes[N, K]  the first K spike times (ms).
    rec[R, S, M]  samples of state row rec_var[r] of the neurons with rec_slot >= 0.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NamedTuple

import numpy as np

from .. import config
from ..model import initial_armed, rearm_level

# rows of P (P_ICM is 1/Cm, so the right-hand side multiplies instead of dividing; P_REARM is
# the re-arm level, threshold minus the re-arm margin, docs/architecture.md §3)
(P_GNA, P_GK, P_GL, P_ENA, P_EK, P_EL, P_ICM, P_VREST, P_PHI, P_BIAS, P_AMP, P_THR,
 P_REARM) = range(13)
NP = 13
#: the model fields copied into P unchanged, row -> name of the per-neuron value
P_COPIED = ((P_GNA, "gNa"), (P_GK, "gK"), (P_GL, "gL"), (P_ENA, "ENa"), (P_EK, "EK"),
            (P_EL, "EL"), (P_VREST, "V_rest"), (P_BIAS, "bias"), (P_AMP, "amplitude"))

# rows of ic: spike detector armed (1) or not, spikes counted, spikes in the window, the step at
# which the neuron's state stopped being finite (-1: never)
I_ARMED, I_COUNT, I_WCOUNT, I_DIVSTEP = range(4)
NI = 4

# rows of fo: first spike, first and last spike in the window, sum of squared inter-spike
# intervals in the window (ms, ms²), time of the blow-up (ms)
F_FIRST, F_WFIRST, F_WLAST, F_WISI2, F_DIVT = range(5)
NF = 5

# rows of NZ (:func:`hhfast.noise.coefficients`): white-noise kick σ√dt/Cm (mV); OU decay
# e^(-dt/τ), OU kick σ√(1 - e^(-2dt/τ)) (µA/cm²); OU step mean: the factors of the start
# current and of the normals z and z' (µA/cm²)
Z_WHITE, Z_DECAY, Z_KICK, Z_MEAN, Z_CROSS, Z_OWN = range(6)
NZ_ROWS = 6

#: Philox streams (docs/architecture.md §3e): the membrane noise, the OU initial draw, the
#: first of the channel noise's (2, 3, ...), and the OU step mean's own normals (far above the
#: channel streams, so a channel model with more Philox calls per step can never reach it)
STREAM_NOISE = 0
STREAM_OU_START = 1
STREAM_CHANNEL = 2
STREAM_OU_MEAN = 2**31
#: steps served by one Philox counter (its four normals)
STEPS_PER_COUNTER = 4

#: rows of a channel run's X: occupancies (K n0..n4 at 0..4, Na m_i h_j at 5 + i + 4 j) or,
#: for a model on gates, n, m, h at 0..2
NX = 13
X_K_OPEN = 4
X_NA_OPEN = 5 + 3 + 4  # m3 h1
#: rows of NC: 1/N_K, 1/N_Na
C_INV_NK, C_INV_NNA = range(2)
NC_ROWS = 2

#: rows of an adaptive run's step statistics: accepted, rejected, stopped by max_steps (0/1)
S_ACCEPTED, S_REJECTED, S_LIMITED = range(3)
NS = 3


class Batch(NamedTuple):
    """Every array and number of one chunk that every kernel takes (module docstring)."""

    y: np.ndarray
    P: np.ndarray
    tidx: np.ndarray
    tb: np.ndarray
    c0: np.ndarray
    c1: np.ndarray
    ic: np.ndarray
    fo: np.ndarray
    spikes: np.ndarray
    rec: np.ndarray
    rec_slot: np.ndarray
    rec_var: np.ndarray
    #: start time (ms), step (ms), steps of a fixed-step run
    t0: float
    dt: float
    n_steps: int
    #: the analysis window [win0, win1) (ms)
    win0: float
    win1: float
    #: record every this many steps (beyond n_steps: only the initial sample)
    record_every: int
    #: the blocks of ``BLOCK`` neurons this call runs, ``[blk0, blk1)``
    blk0: int = 0
    blk1: int = 0


class NoiseBatch(NamedTuple):
    """The current-noise term's arrays: coefficients ``NZ[NZ_ROWS, N]`` (kernel float type),
    ``trial[N]`` (uint64) each neuron's noise identity, ``ou[N]`` the OU current (µA/cm²,
    float64; initial on entry, final on exit), the key words ``k0, k1`` (uint64) of the seed and
    ``kfirst``, the index counted from t = 0 of the chunk's first step."""

    NZ: np.ndarray
    trial: np.ndarray
    ou: np.ndarray
    k0: np.uint64
    k1: np.uint64
    kfirst: int


class ChannelBatch(NamedTuple):
    """The channel term's arrays: ``X[NX, N]`` occupancies or gates (initial on entry, final on
    exit, NaN for a diverged neuron), ``NC[NC_ROWS, N]`` 1/N_K and 1/N_Na, and ``calls``, the
    Philox calls per step that the model's normals take (:func:`philox_calls`), and whether
    ``X`` holds gates (a model on gates) rather than occupancies."""

    X: np.ndarray
    NC: np.ndarray
    calls: int
    gates: bool


#: indices of the fields of a NoiseBatch and a ChannelBatch: inside a kernel the terms are
#: plain tuples (Numba 0.68 loses writes into an array reached through a NamedTuple inside a
#: ``prange`` body, measured; a plain tuple keeps them, so a driver may use ``prange``)
NB_NZ, NB_TRIAL, NB_OU, NB_K0, NB_K1, NB_KFIRST = range(6)
CB_X, CB_NC, CB_CALLS, CB_GATES = range(4)


#: rows of a features run's accumulators ``A[NA, NW, N]`` (float64, per window w and neuron;
#: docs/architecture.md §3.2): spikes (eFEL's peaks) in the window, first and last peak time
#: (ms), ISIs after the first (count, Welford mean and M2, ms), the last ISI (ms), adaptation
#: (sum of the ratios r_j of consecutive ISIs, r_2, r_3), AP amplitude (count, sum, mV), half
#: width (count, sum, ms), AHP minimum (count, sum, mV), V over the window (count, Welford
#: mean and M2), V in voltage_base's window and in the stimulus end's (count, sum)
(A_N, A_FIRST, A_LAST, A_ISIN, A_ISIMEAN, A_ISIM2, A_LASTISI, A_ADI, A_R2, A_R3, A_AMPN,
 A_AMPS, A_HWN, A_HWS, A_AHPN, A_AHPS, A_VN, A_VMEAN, A_VM2, A_VBN, A_VBS, A_SSN,
 A_SSS) = range(23)
NA = 23
#: columns of a features run's windows ``win[NW, NWC]`` (ms): the window [t0, t1], voltage_base's
#: [vb0, vb1], the stimulus end's [ss0, t1)
W_T0, W_T1, W_VB0, W_VB1, W_SS0 = range(5)
NWC = 5


class FeatureBatch(NamedTuple):
    """The features term's arrays: accumulators ``A[NA, NW, N]`` (float64, rows ``A_*``, zero
    on entry), the windows ``win[NW, NWC]`` (ms, columns ``W_*``), the upstroke's dV/dt
    threshold ``dvdt_thr`` (mV/ms) and the samples ``dvdt_window`` it must hold for."""

    A: np.ndarray
    win: np.ndarray
    dvdt_thr: float
    dvdt_window: int


#: indices of a FeatureBatch's fields inside a kernel (a plain tuple, as the other terms)
FB_A, FB_WIN, FB_DTHR, FB_DWIN = range(4)


def philox_calls(sources: int) -> int:
    """Philox calls per step for ``sources`` normals per step (four normals a call)."""
    return -(-sources // 4)


class AdaptiveBatch(NamedTuple):
    """What an error-controlled method takes beyond :class:`Batch` (whose ``dt`` is the first
    trial step and ``n_steps`` unused): end time (ms), tolerances, attempts allowed per neuron,
    sample spacing (ms), and the step statistics ``stats[NS, N]`` (int64, rows ``S_*``)."""

    t_end: float
    rtol: float
    atol: float
    max_steps: int
    rec_dt: float
    stats: np.ndarray


# -- packing ------------------------------------------------------------------------------------
def params(col: Callable[[str], np.ndarray | None]) -> np.ndarray:
    """``P[NP, n]`` (float64) from the per-neuron columns ``col(name)`` (None: not given, the
    default applies; ``Cm``, ``temperature`` and the model fields are always given)."""
    V_rest = col("V_rest")
    P = np.empty((NP, V_rest.size))
    for row, name in P_COPIED:
        P[row] = col(name)
    P[P_ICM] = 1.0 / col("Cm")
    P[P_PHI] = 3.0 ** ((col("temperature") - 6.3) / 10.0)
    thr = col("threshold")
    P[P_THR] = V_rest + config.SPIKE_THRESHOLD_ABOVE_REST if thr is None else thr
    P[P_REARM] = rearm_level(P[P_THR], col("spike_rearm"))
    return P


def initial_state(col: Callable[[str], np.ndarray | None], P: np.ndarray) -> np.ndarray:
    """``y[4, n]`` (float64): ``V0`` (default the resting potential) and the gates ``n0, m0,
    h0`` (default each gate's steady state at rest, whatever V0)."""
    from ..model import HHParams, steady_state

    y = np.empty((4, P.shape[1]))
    V0 = col("V0")
    y[0] = P[P_VREST] if V0 is None else V0
    rest = steady_state(np.zeros(P.shape[1]), HHParams(V_rest=0.0))  # φ cancels in α/(α+β)
    for v, name in enumerate(("n0", "m0", "h0"), start=1):
        g = col(name)
        y[v] = rest[v - 1] if g is None else g
    return y


def counters(y: np.ndarray, P: np.ndarray, armed: np.ndarray | None, max_spikes: int):
    """Fresh ``ic``, ``fo`` and ``spikes`` for the neurons of ``y``: detector armed as given
    (None: where V0 is below the threshold), nothing counted, no blow-up."""
    n = y.shape[1]
    ic = np.zeros((NI, n), dtype=np.int64)
    ic[I_ARMED] = initial_armed(armed, y[0], P[P_THR])
    ic[I_DIVSTEP] = -1
    fo = np.full((NF, n), np.nan)
    fo[F_WISI2] = 0.0
    spikes = np.full((n, max_spikes), np.nan)
    return ic, fo, spikes


def channel(gates_only: bool, y: np.ndarray, col: Callable[[str], np.ndarray | None]):
    """``X`` and ``NC`` (float64) of a channel run: the binomial occupancies of the initial
    gates ``y[1:4]`` (summing to 1), or the gates themselves for a model on gates; 1/N per kind
    from ``area`` (µm²) and the densities ``rho_K``, ``rho_Na`` (1/µm²)."""
    from ..model import occupancy

    X = np.zeros((NX, y.shape[1]))
    if gates_only:
        X[:3] = y[1:4]
    else:
        pk, pna = occupancy(y[1], y[2], y[3])
        X[:5] = pk.T
        X[5:] = pna.T
    NC = np.empty((NC_ROWS, y.shape[1]))
    NC[C_INV_NK] = 1.0 / (col("rho_K") * col("area"))
    NC[C_INV_NNA] = 1.0 / (col("rho_Na") * col("area"))
    return X, NC


def columns(values: Mapping[str, np.ndarray], take: np.ndarray):
    """``col(name)``: the float64 values of ``values[name]`` (arrays broadcast to the batch
    shape) at the flat neuron indices ``take``, or None where the name is not given.  A value
    shared by every neuron is filled without a gather."""

    def col(name: str) -> np.ndarray | None:
        a = values.get(name)
        if a is None:
            return None
        if a.strides == (0,) * a.ndim:  # one value for all neurons
            return np.full(take.size, float(a.reshape(-1)[0]))
        return np.asarray(a.flat[take], dtype=float)

    return col
