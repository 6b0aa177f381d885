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


# -- spike detection: re-arming with hysteresis (kernels/common.py, reference, markov) -----------

#: Default re-arm margin (mV below the threshold, ``simulate(spike_rearm=...)``): after a spike
#: the detector counts the next upward crossing only once V has been below ``threshold -
#: SPIKE_REARM_MV`` at a step's end.  A noisy path re-crosses the threshold many times per spike,
#: more the finer dt: re-arming at 0 mV gave 61.8 / 69.4 / 83.3 Hz at dt = 0.01 / 0.005 / 0.0025
#: ms, 10 mV gives 57.6 / 57.5 / 57.6 (benchmarks/results/noisy_rate_dt.md; 2-20 mV identical).
#: 10 mV is ~30 per-step noise jitters at sigma = 3, dt = 0.01, yet every HH spike repolarises
#: far below it (AHP ~ -12 mV from rest; f–I edges bitwise unchanged, docs/architecture.md §3).
SPIKE_REARM_MV = 10.0


def total_memory_bytes() -> int:
    """Physical memory of this machine in bytes (a conservative 4 GiB if unknown)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 4 << 30


def _record_budget(text: str | None) -> tuple[int | None, str | None]:
    """``HHFAST_RECORD_BUDGET`` -> (bytes, None), or (None, why) when the text is not a
    positive finite number of bytes (e.g. ``2000000000`` or ``2e9``).  Never raises: a bad
    environment variable must not make ``import hhfast`` fail; ``simulate`` reports it."""
    if text is None:
        return int(RECORD_MEMORY_FRACTION * total_memory_bytes()), None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (value >= 1 and value != float("inf")):
        return None, (f"HHFAST_RECORD_BUDGET must be a positive number of bytes (e.g. 2000000000 "
                      f"or 2e9), got {text!r}")
    return int(value), None


#: Bytes that recorded traces may take (``HHFAST_RECORD_BUDGET`` overrides, in bytes); None
#: when that variable is malformed, and then ``RECORD_BUDGET_ERROR`` says why.
RECORD_MEMORY_BUDGET, RECORD_BUDGET_ERROR = _record_budget(os.environ.get("HHFAST_RECORD_BUDGET"))

#: Most pulses in one ``pulse_train``: 1e6 pulses are a 48 MB breakpoint table (t, c0, c1 in
#: float64), and every distinct stimulus of a batch is padded to the longest table; a count
#: beyond that is a typo (a TOML ``count = 1e8`` took minutes and gigabytes before this cap).
MAX_PULSES = 10**6

#: Most fixed steps one run may take.  1e12 steps of a single neuron take hours at the
#: kernels' speed (~1e8 steps/s on one core), so a larger count is a unit mistake (dt=1e-300);
#: it keeps the int64 step index and ``t_start + k * dt`` (exact to 2^53) far from their limits.
MAX_STEPS = 10**12


# -- f–I analysis (hhfast.analysis, hhfast.fi, hhfast.excitability) ---------------------------

#: A neuron is *sustained* firing only if it still fires at the end of the analysis window:
#: the gap from its last spike to the window's end is below this many mean ISIs.  2 allows
#: for the window cutting a regular train anywhere (gap < 1 ISI) with margin for ISI jitter,
#: while a train that stopped (gap grows without bound) is "transient" whatever it did before.
SUSTAINED_GAP_ISIS = 2.0

#: ... and has at least this many spikes in the window (an ISI needs 2; 3 gives a spread, so
#: a pair of spikes at the window's start is not called firing).
SUSTAINED_MIN_SPIKES = 3

#: Default analysis window of an f–I run: the last half of the time at the target current
#: (the first half lets the onset transient and the adaptation of the gates die out).
FI_WINDOW_FRACTION = 0.5

#: Firing branch: each neuron starts at rest at I_high = (lowest Hopf current) + this margin
#: (µA/cm²), where rest is unstable so the step puts it on the firing cycle, then the current
#: ramps linearly to its target.  2 µA/cm² above the Hopf point the escape from rest takes one
#: spike; I_high = 10 (0.2 above Hopf) was measured to lose the cycle on a 500 ms ramp.
FI_RAMP_MARGIN = 2.0

#: Duration (ms) of the ramp from I_high to the target on the firing branch.  Measured (rk4,
#: dt = 0.01): a 200 ms ramp from 12 µA/cm² falls off the thin basin near the fold (lost at
#: 6.3), 500 ms and 2000 ms keep every current >= 6.261 on the cycle.
FI_RAMP_MS = 500.0

#: Quiet branch: a neuron whose equilibrium is unstable (Jacobian eigenvalue with Re > 0) is
#: started from the equilibrium displaced by this much (mV) along the unstable eigenvector, so
#: it leaves within ~200 ms even 1e-3 µA/cm² above the Hopf point instead of waiting for
#: round-off (seconds).  Stable equilibria start exactly at the equilibrium.
QUIET_KICK_MV = 1.0

#: Points per bracket per round of batched bisection: each round is ONE batched run of
#: BISECT_POINTS neurons per bracket and shrinks it (BISECT_POINTS + 1)-fold; 31 points fill
#: two blocks of 16 lanes, so a round costs about one single-neuron run on two cores.
BISECT_POINTS = 31

#: With a ``progress`` callback, ``fi_curve`` runs its main batch in up to this many pieces
#: (so the callback is called during it, not only after it): 10 gives a reading every ~10 %,
#: and each piece is still at least FI_PROGRESS_MIN_NEURONS neurons (whole blocks of BLOCK
#: lanes), so the two cores stay busy; the curve is bitwise the same (§3: a neuron's result
#: does not depend on its batch).
FI_PROGRESS_PIECES = 10
FI_PROGRESS_MIN_NEURONS = 32

#: Default tolerance (µA/cm²) of band edges, onset and block refined by bisection.
FI_TOL = 1e-3

#: Time (ms) at the target current when locating the fold of limit cycles.  Below the fold
#: a neuron on the ghost of the cycle keeps firing for ~ C / sqrt(fold - I): measured 435 ms
#: at 1e-3 and 753 ms at ~5e-4 below it, so 2000 ms resolves the fold to ~1e-4 µA/cm².
FOLD_HOLD_MS = 2000.0

#: Time (ms) simulated after a stimulus's last edge by ``rheobase`` (a spike can come well
#: after a short pulse near threshold: latencies of ~10-20 ms are common at rheobase).
RHEOBASE_TAIL_MS = 50.0
#: Most grid points per store chunk of a sweep (``chunk_size="auto"``, which is otherwise
#: sized by work, ``SWEEP_BATCH_SECONDS``): the unit that is written, marked done and skipped
#: on resume.  The same as a batch: a batch's chunks are all written
#: when the batch finishes, so smaller chunks would not lose less work on a kill, while each
#: chunk write costs ~1.5 ms per variable in zarr (4096-point chunks made a 10^6-point sweep
#: 16 % slower than 32768-point ones).  32768 points are 256 KiB per float64 variable.
SWEEP_CHUNK_POINTS = 32768

#: Most grid points per kernel call of a sweep (``batch_size="auto"``, otherwise sized by
#: work), a whole number of store chunks: 32768 neurons are 2048 blocks of 16, enough to keep
#: every core busy, and their temporaries (~300 bytes per neuron) stay near 10 MiB whatever the grid size.
SWEEP_BATCH_POINTS = 32768

#: Compute per batch aimed at by ``chunk_size``/``batch_size="auto"`` (seconds): a kill loses
#: at most about this much and the progress bar moves at least this often, whatever dt and
#: t_stop; long enough that per-batch costs (a store write ~10 ms, a Dask task ~5 ms) stay < 0.1 %.
SWEEP_BATCH_SECONDS = 20.0

#: Estimated cost of one neuron-step per core (ns) by method, to size batches by work: from
#: the float64 kernel throughputs measured on the 2-core development machine (euler 5.5e8,
#: expeuler 3.2e8, rk4 1.3e8 neuron-steps/s, docs/performance.md) rounded up for
#: the metrics and store writes.  Methods not listed take the largest value.
SWEEP_CORE_NS_PER_NEURON_STEP = {"euler": 4.0, "expeuler": 7.0, "rk4": 16.0}

#: (channel-noise sweeps: each model's measured cost is its ChannelSpec.cost_ns)

#: Fewest points per work-sized batch: two blocks of 16 lanes per core of a 2-core machine,
#: so that even a very long run keeps the vectorised kernel and the threads busy.
SWEEP_MIN_BATCH_POINTS = 64

#: With a Dask client, ``batch_size="auto"`` also keeps at least this many tasks per worker,
#: so that the work balances across workers and a lost worker costs a small share of it.
SWEEP_TASKS_PER_WORKER = 4

#: Tasks of a sweep in flight per worker thread: enough to hide scheduling latency, few enough
#: that gathered results (no store) never pile up on the client.
SWEEP_INFLIGHT_PER_THREAD = 2

# -- sweep stores: lazy grids and checks (sweeps/grid.py, sweeps/store.py) ----------------------
#: Values of a grid axis checked, hashed or written to the store at a time (2^20 float64 =
#: 8 MiB): large enough that a 1e9-value axis takes ~1000 numpy calls per pass, small enough
#: that a sweep's memory before its first chunk stays at the size of a chunk, not of the grid.
SWEEP_AXIS_BLOCK = 2**20


# -- adaptive methods (kernels/dopri5.py) -------------------------------------------------------

#: Default relative tolerance of ``method="dopri5"`` (``atol`` defaults to ``rtol``): 1e-6
#: gives spike times within ~1e-4 ms of the reference on the gist (docs/guide/methods.md).
ADAPTIVE_RTOL = 1e-6

#: Smallest tolerance accepted: below ~1e-13 the error estimate is round-off of the state
#: (V ~ 100 mV in float64 carries ~1e-14 relative noise) and the step size would collapse.
ADAPTIVE_RTOL_MIN = 1e-13

#: A lane whose step is rejected down to below this times (|t| + 1) ms is frozen and reported
#: diverged: no finite trial exists at any representable step (a blow-up); legitimate HH
#: steps stay above 1e-6 ms even at rtol = 1e-13.
ADAPTIVE_HMIN_REL = 1e-12

#: Default cap on step attempts per neuron per call, so a pathological neuron is stopped and
#: reported (``SimResult.step_limited``) instead of looping for ever: 10^7 attempts is ~1000x
#: what 1000 ms of sustained firing needs at rtol = 1e-10.
ADAPTIVE_MAX_STEPS = 10_000_000


# -- first use (hhfast._firstuse) ----------------------------------------------------------------

#: Say on stderr, before a kernel compiles, that it compiles (first use on a machine takes
#: 6-17 s of silence otherwise).  ``HHFAST_QUIET_COMPILE=1`` or setting this to False silences it.
COMPILE_MESSAGE = os.environ.get("HHFAST_QUIET_COMPILE", "").strip().lower() in ("", "0", "false", "no")


# -- channel noise: the exact Markov-chain reference (hhfast.reference.markov) --------------------

#: Default voltage step (ms) of the Markov reference: channel transitions are exact (Gillespie)
#: between half steps of V, with rates frozen at each step's midpoint V.  Halving it from 0.01
#: to 0.005 ms, or doubling it to 0.02 and 0.04, moved the spontaneous rate and the gist's spike
#: times by less than their statistical error (docs/validation.md, "The exact
#: Markov reference"); 0.01 ms leaves margin and is simulate's usual dt.
MARKOV_DT = 0.01

#: Default patch area (µm²) and channel densities (channels per µm²) of channel noise, in
#: ``simulate(channel_noise=...)`` and the Markov reference: rho_Na = 60, rho_K = 18 as in
#: Goldwyn & Shea-Brown (2011), so N_Na = rho_Na * area, N_K = rho_K * area (whole channels
#: for the Markov chain); 100 µm² is small enough to fire spontaneously (~10 Hz at rest).
CHANNEL_DEFAULTS = {"area": 100.0, "rho_Na": 60.0, "rho_K": 18.0}


# -- the explorer (hhfast.explorer): bounded work per request -------------------------------------

#: Most neuron-steps one single-neuron run of the explorer may take (``ceil(t_stop / dt)`` for a
#: fixed-step method; dopri5 gets ``max_steps = 2/3`` of it, 6 derivative evaluations per attempt
#: against rk4's 4).  rk4, the slowest fixed-step method, ran one neuron at 1.1-1.3e6 steps/s on
#: the 2-core development machine (measured, issue 22), so a run at the budget takes < ~0.9 s;
#: the widgets' range (t_stop <= 2000 ms at dt = 0.01 ms: 2e5 steps) stays well inside it.
EXPLORER_RUN_BUDGET = 1_000_000

#: Most neuron-steps of one f–I curve of the explorer (``2 branches x fi_n x ceil(fi_t_stop /
#: dt)``, the bisection of the edges adding a few dozen neuron-runs).  It runs in a separate
#: worker process, never on the server's event loop: 201 currents x 2000 ms (8e7) took 7.3 s
#: there (measured, issue 22); a curve beyond 1e8 would hold that shared worker for minutes.
EXPLORER_FI_BUDGET = 100_000_000

# -- the explorer's noise controls (issue 20) ----------------------------------------------------

#: Most noisy trials one explorer run may have: the raster stays readable (a row per trial is
#: still ~2 px at 200 rows in the page's 400 px figure) and the spike times sent to the page
#: stay bounded (<= 200 x 2000); the work of the trials is bounded by EXPLORER_RUN_BUDGET too.
EXPLORER_MAX_TRIALS = 200

# -- bounded work of the Markov reference (hhfast.reference.markov) ------------------------------

#: Channel transitions per second of the Markov kernel on one core of the 2-core development
#: machine as shared today (load ~10): 74 ns of wall time per transition (1.35e7/s, best of 7
#: runs of the gist at 1e4 µm², one thread); 35 ns of CPU time (2.8e7/s) on an idle core and
#: 57 ns at load ~5 (benchmarks/results/markov_reference.json).  The budgets below use it.
MARKOV_EVENTS_PER_SECOND = 1.35e7

#: Cost of one voltage step of one neuron, in transitions: 111 ns of CPU time per step (V half
#: steps, rates, the discarded waiting time; patches of 3 Na + 1 K channels) = 3.2 transitions
#: of 35 ns (250 / 74 ns = 3.4 in wall time under load), rounded up.  Counted in
#: ``max_events`` so that many tiny patches over a long time are bounded too.
MARKOV_STEP_COST = 4

#: Time (s of one core) aimed at per piece of a run: Ctrl-C is raised between pieces, so it
#: acts within ~0.1 s, 10x inside the promised second (margin for a loaded machine), while
#: a piece's overhead (~50 µs + ~0.1 µs per neuron) stays below 1 %.
MARKOV_PIECE_SECONDS = 0.1

#: Fewest work units (transitions) per neuron per piece: with more neurons than
#: ``MARKOV_EVENTS_PER_SECOND * MARKOV_PIECE_SECONDS / 256`` (~5300) a piece takes a group of
#: them.  Measured on 1e5 patches of 4 channels (5 ms, one thread): 6.9 s CPU at 64, 6.7 s at
#: 256, 6.8 s at 1024; the neuron's load and store each piece are then ~2 % of its work.
MARKOV_MIN_PIECE_WORK = 256

#: Default ``max_events`` (transitions of one call, each voltage step counted as
#: ``MARKOV_STEP_COST``): 8e9 = 10 minutes of one core at ``MARKOV_EVENTS_PER_SECOND`` (about
#: 5 on an idle core or on two), beyond which a typo (area=1e12: 64 h for one step) is more
#: likely than a wish; the largest run of the benchmarks (the gist at 1e6 µm²: 6.7e9
#: measured, 4.3e9 estimated) still fits.
MARKOV_MAX_EVENTS = 8e9

#: Default ``max_step_events`` (transitions of one neuron in one voltage step): 1e7 = 0.75 s of
#: one core, ~1.2e7 µm² at rest at dt = 0.01 ms, 12x the largest area of the benchmarks
#: (1e6 µm²), where the open fractions' SDs are below 0.5 % of their resting values (the
#: deterministic limit, ``hh.simulate``); absurd rates (temperature=1000: φ = 2e47) are far
#: above it.
MARKOV_MAX_STEP_EVENTS = 1e7

#: Seconds a run lasts before the default (``progress=None``) bar appears: short runs stay
#: silent; 2 s is the first-use compile message's order of patience.
MARKOV_PROGRESS_DELAY = 2.0

# -- command line: sizes of the grids it builds (hhfast.cli) --------------------------------------

#: Most points of the current (``hhfast fi --num``) or pulse-width (``hhfast rheobase --num``)
#: grid the command builds in memory before checking anything else: 10^6 points is 8 MB and
#: far beyond any curve worth printing or plotting; above it (``--num 2**64``) NumPy would fail
#: with a MemoryError, not a one-line error.
CLI_MAX_POINTS = 10**6

# -- OU current noise: exact step means (hhfast.noise.coefficients) ------------------------------

#: Below x = dt/τ < this, the variance factor 2x − 4·tanh(x/2) of the OU step mean is summed
#: from its series x³/6 − x⁵/60 + ... (to x¹¹; truncation < 1.1e-5·x¹⁰ relative, 1e-15 at the
#: edge); the direct formula cancels 2x against 4·tanh(x/2) and loses ~12·eps/x² relative
#: (3e-13 at the edge), so 0.1 keeps either side below 3e-13.
OU_SERIES_CUTOFF = 0.1

# -- fitting and inference (hhfast.fitting, hhfast.inference) -------------------------------------

#: z-score charged for a feature that is undefined (NaN) in a simulation, e.g. a spike feature
#: of a neuron that did not spike: BluePyOpt's ``eFELFeature.max_score`` default (250), so
#: losses compare with BluePyOpt's; far above the z of any defined feature near a fit.
FIT_NAN_PENALTY = 250.0

#: CMA-ES initial step size in the unit cube the bounds map to: 0.3 reaches the whole box in
#: a few steps from any start (cma's advice: about a quarter to a third of the domain).
FIT_CMA_SIGMA0 = 0.3

#: Default CMA-ES population when ``popsize`` is not given: cma's own rule 4 + 3 ln d gives 8-10
#: for 5-10 parameters, too few to fill a batch; 32 is two blocks of 16 lanes (docs/architecture.md
#: §3) per protocol and still converges in few generations on the recovery problem.
FIT_CMA_POPSIZE = 32

#: Default differential-evolution population multiplier (scipy's ``popsize``; population =
#: popsize x number of parameters): scipy's default 15.
FIT_DE_POPSIZE = 15

#: SD given to a target feature extracted from a single recorded trace (no repetitions to
#: measure it): this fraction of |value| ...
FIT_TRACE_SD_REL = 0.05
#: ... but at least this (in the feature's units: 1e-3 keeps z finite for a zero-valued feature
#: while leaving it ~1000 times more weight than a relative SD would give it).
FIT_TRACE_SD_MIN = 1e-3

#: Value that ``hhfast.inference.simulator`` writes for an undefined (NaN) feature unless told
#: otherwise: neural density estimators need finite inputs, and a value no defined feature
#: takes tells "undefined" apart.  The features that can be undefined (spike times, rates,
#: ISIs, spike shapes) are >= 0 where defined, so -1 is outside their range; ``fill=`` sets
#: another value per feature where -1 is possible.
INFERENCE_FILL = -1.0

#: Parameter sets per batch of ``hhfast.inference.simulator``: 16384 x protocols neurons keep the
#: batch's O(N) outputs at a few MB while each chunk runs long enough (~0.1 s and up) that the
#: per-call overhead (plan checks, assembly) stays under 1 %.
INFERENCE_CHUNK = 16384

# -- electrophysiology features in the kernel (kernels/terms/features.py, engine) ---------------
# eFEL's defaults (efel.settings.Settings), so that a feature means what eFEL's does with
# Threshold set to the run's spike threshold (docs/architecture.md §3.2).

#: dV/dt (mV/ms) above which a sample is on the upstroke: eFEL's DerivativeThreshold default.
FEATURE_DERIVATIVE_THRESHOLD = 10.0
#: Samples the upstroke must stay at or above that slope for an AP begin: eFEL's
#: DerivativeWindow default.
FEATURE_DERIVATIVE_WINDOW = 3
#: Fraction of a window's spikes that adaptation_index skips at its start, and the most it
#: skips: eFEL's spike_skipf and max_spike_skip defaults.
FEATURE_SPIKE_SKIPF = 0.1
FEATURE_MAX_SPIKE_SKIP = 2
#: voltage_base averages V over [start_perc·t0, end_perc·t0] of a window starting at t0:
#: eFEL's voltage_base_start_perc / voltage_base_end_perc defaults.
FEATURE_VB_START_PERC = 0.9
FEATURE_VB_END_PERC = 1.0
#: steady_state_voltage_stimend averages V over the last this fraction of the window: eFEL's
#: fixed 0.1.
FEATURE_SS_FRACTION = 0.1
#: Time tolerance (ms) of voltage_base's window end: eFEL's precision_threshold default.
FEATURE_TIME_PRECISION = 1e-10
#: Samples of V each lane keeps (a ring, per block: 2048 × 16 lanes × 8 B = 256 KiB) for the
#: per-spike look-back of AP begin and the half-width's rising crossing.  The look-back spans
#: from the AP begin to the spike's fall below the threshold: ~2–4 ms for HH spikes at
#: 6.3 °C, so 2048 samples cover dt >= 0.002 ms; a spike whose look-back is older gets no
#: AP_amplitude / half-width (counted out of the mean, never a wrong value).
FEATURE_HISTORY = 2048

# -- the CUDA backend (hhfast.kernels.cuda, engine.backend.CUDABackend; docs/architecture.md §3.3)

#: Threads per CUDA block: 128 is a multiple of the warp (32) that lets an H100 SM hold 16
#: blocks (its 2048-thread limit) whatever the register count the compiler picks up to 128;
#: one neuron per thread, no shared memory, so larger blocks buy nothing.
CUDA_THREADS_PER_BLOCK = 128

#: Fraction of the card's free memory one chunk may take: the rest is headroom for the
#: context, the compiled module and another process's allocations made between the query and
#: the launch.
CUDA_MEMORY_FRACTION = 0.7

#: Most neurons packed and launched at once on the card: 2^22 keeps the host-side packing
#: temporaries of a chunk near 2 GB (about 500 bytes per neuron) and is ~15x the threads an
#: H100 holds at once (132 SMs x 2048), so the card is full at any chunk size this allows.
CUDA_CHUNK_MAX = 1 << 22

#: Philox calls per step the CUDA kernel's channel-noise buffer holds (4 normals a call):
#: the "channel" model's 14 sources need 4; a registered model that needs more is refused.
CUDA_CHANNEL_CALLS_MAX = 4

#: Points per batch of a sweep on ``backend="cuda"`` with ``batch_size="auto"``: 2^21 fills an
#: H100 (~270k resident threads) seven times over, so a launch is not dominated by its tail,
#: and keeps a batch's host arrays near 1 GB.
CUDA_SWEEP_BATCH_POINTS = 1 << 21

#: Registers per thread the CUDA kernels may use (None: the compiler's choice).  Fewer
#: registers let more threads share an SM (occupancy) at the risk of spills; the compiler
#: chose 164 (float64 rk4) and 99 (float32) for sm_90 (ptxas of numba-cuda's PTX, no spills),
#: the hand-written CUDA C rk4 80 and 51.  Left to the compiler until a card's timing says
#: otherwise (benchmarks/gpu.py measures a cap of 128 beside it).
CUDA_MAX_REGISTERS = None
