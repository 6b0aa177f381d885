"""Every GPU measurement of issue 19 in one call on a card, results as JSON.

    python benchmarks/gpu.py [--out DIR] [--quick] [--budget-s 420] [--T 200] [--dt 0.01]

On the lent card (docs/guide/gpu.md gives the exact command) it writes ``gpu.json`` (every
number, written again after each section, so a run cut short keeps what it measured),
``gpu.log`` and the raw ``ncu`` output into ``--out`` (default ``$OUT``, else
``hhfast-out/gpu``), and prints a table last.  Sections, most important first, each guarded
(a missing package, compiler or profiler is recorded, never fatal) and each skipped when the
budget cannot hold it:

1. ``env``: the card (name, compute capability, SMs, clock, memory), versions, and the float64
   and float32 peak rates computed from the SM count and clock.
2. ``agreement``: Philox normals on the card against ``hhfast.random.normals`` (bitwise), and
   the gist protocol (rk4, float64 and float32) on ``backend="cuda"`` against ``"cpu"``.
3. ``yardstick``: ``yardstick/hh_rk4.cu`` built with ``nvcc -O3 -arch=sm_<cc>`` and run on
   workload W (below), float64 and float32.
4. ``hhfast_cuda``: euler, rk4, expeuler x float64, float32 on workload W, N = 1e4 ... 1e7
   (a size whose predicted time exceeds ``--cap-s`` is skipped): end-to-end
   wall time of ``simulate`` and, from ``hhfast.kernels.cuda.TOTAL``, the kernel and the
   host<->device copies; the first call's compile time.
5. ``jax``: plain JAX, ``jax.jit(jax.vmap(one neuron's lax.scan))`` of the same rk4 (the
   textbook rates of the yardstick), with spike counting in the carry; float64 and float32.
6. ``ncu``: a profile of hhfast's rk4 float64 kernel and the yardstick's: executed fp64/fp32
   add, mul and fma instructions (flops per neuron-step = add + mul + 2 fma, counted on the
   hardware), achieved occupancy, registers, SM and memory throughput.
7. ``sweep``: a 1e7-point sweep (amplitude x gK) on ``backend="cuda"`` end to end into a Zarr
   store, timed (needs zarr: see docs/guide/gpu.md for the wheels).
8. ``cpu``: hhfast's CPU backend on the machine's cores (rk4, euler; float64, float32).
9. ``diffrax``: ``jax.vmap`` over ``diffeqsolve`` with fixed-step ``RK4``; final states
   compared with hhfast (diffrax counts no spikes without saving the path).
10. ``registers``: hhfast rk4 float64 at N = 1e6 with a register cap of 128 (occupancy
    against spills), to set ``config.CUDA_MAX_REGISTERS``.

Workload W (benchmarks/yardstick/run.py): a constant current ``linspace(0, 20, N)`` uA/cm^2
from t = 0, classic HH from rest, T = 200 ms, dt = 0.01 ms (2e4 steps), spike counting, no
traces.  Spike counts of every implementation are compared with hhfast CUDA float64 (neurons
whose count differs; the yardstick and JAX use the textbook rate functions, so counts may
differ at the few currents next to a bifurcation).

``--quick`` runs tiny sizes (N = 64, 256; T = 1 ms; a 1000-point sweep): with
``NUMBA_ENABLE_CUDASIM=1`` it exercises the hhfast parts on numba's simulator, and the JAX,
C and ncu parts skip cleanly where their tools are missing.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# JAX must not take 75 % of the card when imported: hhfast's sections after it size their
# chunks from the free memory
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import hhfast as hh  # noqa: E402
from hhfast.model import resting_state  # noqa: E402

CU = ROOT / "benchmarks" / "yardstick" / "hh_rk4.cu"
THR, REARM = 50.0, 10.0

RESULTS: dict = {"sections": {}}
OUT = Path(".")
T0 = time.perf_counter()
DEADLINE = math.inf


def log(*a) -> None:
    msg = " ".join(str(x) for x in a)
    print(msg, flush=True)
    with open(OUT / "gpu.log", "a") as f:
        f.write(msg + "\n")


def save() -> None:
    RESULTS["elapsed_s"] = time.perf_counter() - T0
    (OUT / "gpu.json").write_text(json.dumps(RESULTS, indent=1, default=_plain))


def _plain(x):
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)


def left() -> float:
    return DEADLINE - time.perf_counter()


def section(name: str, need_s: float):
    """Decorator: run a section if ``need_s`` seconds are left, record its result or error."""
    def wrap(fn):
        def run(*a, **k):
            if left() < need_s:
                RESULTS["sections"][name] = {"skipped": f"budget: {left():.0f} s left, "
                                                        f"needs ~{need_s:.0f} s"}
                log(f"[{name}] skipped (budget)")
                save()
                return None
            t = time.perf_counter()
            log(f"[{name}] start ({left():.0f} s left)")
            try:
                r = fn(*a, **k)
                RESULTS["sections"][name] = {"seconds": time.perf_counter() - t, **(r or {})}
            except Exception as e:  # a missing tool or a failure: recorded, the run goes on
                RESULTS["sections"][name] = {"error": f"{type(e).__name__}: {e}",
                                             "traceback": traceback.format_exc()[-3000:],
                                             "seconds": time.perf_counter() - t}
                log(f"[{name}] ERROR {type(e).__name__}: {e}")
            save()
            return RESULTS["sections"][name]
        return run
    return wrap


# -- workload W -----------------------------------------------------------------------------------
def workload(N: int):
    amp = np.linspace(0.0, 20.0, N)
    y0 = np.repeat(np.array(resting_state(hh.HHParams.classic()))[:, None], N, axis=1)
    return amp, np.ascontiguousarray(y0)


def mismatches(a, ref) -> int | None:
    if a is None or ref is None or len(a) != len(ref):
        return None
    return int(np.sum(np.asarray(a) != np.asarray(ref)))


REF_COUNTS: dict[int, np.ndarray] = {}  # N -> hhfast CUDA float64 rk4 counts


def sizes_for(args) -> list[int]:
    return [64, 256] if args.quick else [10**4, 10**5, 10**6, 10**7]


def scaled_run(label: str, sizes, run_one, cap_s: float) -> list[dict]:
    """Run ``run_one(N) -> dict(seconds=..., ...)`` for growing N while the time predicted
    from the last size (linear in N) stays under ``cap_s`` and the budget."""
    rows = []
    per_n = None
    for N in sizes:
        if per_n is not None:
            pred = per_n * N
            if pred > cap_s or pred > left() - 30:
                rows.append({"N": N, "skipped": f"predicted {pred:.1f} s > cap"})
                log(f"  {label} N={N}: skipped (predicted {pred:.1f} s)")
                continue
        r = run_one(N)
        r["N"] = N
        rows.append(r)
        per_n = r["seconds"] / N
        log(f"  {label} N={N}: {r['seconds']:.3f} s, "
            f"{r.get('neuron_steps_per_s', 0):.3g} neuron-steps/s")
    return rows


# -- sections -------------------------------------------------------------------------------------
def env_section(args):
    import numba
    from numba import cuda

    info = {"python": sys.version.split()[0], "numba": numba.__version__,
            "numpy": np.__version__, "hhfast": hh.__version__, "platform": platform.platform(),
            "cpu_count": os.cpu_count(), "simulator": bool(numba.config.ENABLE_CUDASIM),
            "cuda_target": getattr(cuda, "implementation", "?"),
            "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    for mod in ("numba_cuda", "jax", "jaxlib", "diffrax", "equinox", "zarr", "cupy"):
        try:
            info[mod] = __import__(mod).__version__
        except Exception as e:
            info[mod] = f"missing ({type(e).__name__})"
    info["backends"] = {k: (v.available, v.reason) for k, v in hh.backends().items()}
    if not info["simulator"]:
        dev = cuda.get_current_device()
        info["device"] = dev.name.decode() if isinstance(dev.name, bytes) else str(dev.name)
        cc = dev.compute_capability
        info["cc"] = list(cc)
        sms = dev.MULTIPROCESSOR_COUNT
        clock = dev.CLOCK_RATE * 1e3  # kHz -> Hz
        info.update(sms=sms, clock_hz=clock)
        info["memory_free_total"] = list(cuda.current_context().get_memory_info())
        # FP64 / FP32 FMA units per SM (CUDA programming guide, arithmetic instructions)
        fp64 = {(9, 0): 64, (8, 0): 32, (7, 0): 32}.get(tuple(cc))
        fp32 = {(9, 0): 128, (8, 0): 64, (7, 0): 64}.get(tuple(cc), 128)
        info["peak_fp64_flops"] = None if fp64 is None else 2 * fp64 * sms * clock
        info["peak_fp32_flops"] = 2 * fp32 * sms * clock
    for tool in ("nvcc", "ncu", "nvidia-smi"):
        info[tool] = shutil.which(tool)
    if shutil.which("nvidia-smi"):
        p = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,clocks.sm,"
                            "clocks.max.sm,power.limit", "--format=csv"],
                           capture_output=True, text=True)
        info["nvidia_smi"] = p.stdout.strip()
    if shutil.which("nvcc"):
        info["nvcc_version"] = subprocess.run(["nvcc", "--version"], capture_output=True,
                                              text=True).stdout.strip().splitlines()[-1]
    RESULTS["env"] = info
    log(json.dumps(info, default=str)[:2000])
    return {}


def agreement_section(args):
    from hhfast.kernels import cuda as K

    rng = np.random.default_rng(19)
    n = 64 if args.quick else 4096
    tr = rng.integers(0, 2**64 - 1, n, dtype=np.uint64)
    st = rng.integers(0, 2**32, n)
    sm = rng.choice([0, 1, 2, 3, 4, 5, 2**31], n)
    seed = 2**63 + 19
    g, c = K.normals(seed, tr, st, sm), hh.random.normals(seed, tr, st, sm)
    same = g.view(np.uint64) == c.view(np.uint64)
    out = {"philox_normals": int(g.size), "philox_bitwise_equal": int(same.sum()),
           "philox_max_abs_diff": float(np.max(np.abs(g - c)))}
    gist = hh.stimulus.gist()
    kw = dict(t_stop=50.0 if not args.quick else 2.0, dt=0.01, method="rk4",
              amplitude=np.linspace(0.2, 3.0, 32), record="V", record_every=10)
    for dt in ("float64", "float32"):
        a = hh.simulate(gist, backend="cpu", dtype=np.dtype(dt), **kw)
        t = time.perf_counter()
        b = hh.simulate(gist, backend="cuda", dtype=np.dtype(dt), **kw)
        first = time.perf_counter() - t
        ta, tb = a.spike_times.array, b.spike_times.array
        out[f"gist_{dt}"] = {
            "first_call_s (compile)": first,
            "counts_equal": bool((a.spike_count == b.spike_count).all()),
            "spikes": int(a.spike_count.sum()),
            "max_spike_time_diff_ms": float(np.nanmax(np.abs(ta - tb), initial=0.0)),
            "max_trace_diff_mV": float(np.nanmax(np.abs(a.traces["V"] - b.traces["V"]))),
        }
        log(f"  gist {dt}: {out[f'gist_{dt}']}")
    # white and OU current noise (the same normals on both backends)
    a, b = (hh.simulate(hh.stimulus.step(), t_stop=kw["t_stop"], dt=0.01, method="euler",
                        backend=x, seed=5, bias=7.0, noise_sigma=np.array([2.0, 3.0] * 16),
                        noise_tau=np.array([0.0, 2.0] * 16)) for x in ("cpu", "cuda"))
    out["noise_euler_float64"] = {
        "counts_equal": bool((a.spike_count == b.spike_count).all()),
        "spikes": int(a.spike_count.sum()),
        "max_spike_time_diff_ms": float(np.nanmax(np.abs(a.spike_times.array
                                                         - b.spike_times.array), initial=0))}
    log(f"  noise: {out['noise_euler_float64']}")
    return out


def build_yardstick(args, tmp: Path):
    if not shutil.which("nvcc"):
        raise RuntimeError("nvcc not found")
    cc = RESULTS.get("env", {}).get("cc", [9, 0])
    lib = tmp / "libhh_rk4.so"
    cmd = ["nvcc", "-O3", f"-arch=sm_{cc[0]}{cc[1]}", "-shared", "-Xcompiler", "-fPIC",
           "-Xptxas", "-v", "-o", str(lib), str(CU)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode:
        raise RuntimeError(f"nvcc failed: {p.stderr[-2000:]}")
    (OUT / "yardstick_ptxas.txt").write_text(p.stderr)
    return ctypes.CDLL(str(lib)), " ".join(cmd), p.stderr


def yardstick_section(args, tmp: Path):
    so, cmd, ptxas = build_yardstick(args, tmp)
    out = {"build": cmd, "ptxas": [s for s in ptxas.splitlines() if "registers" in s]}
    steps = int(round(args.T / args.dt))
    for dt in ("float64", "float32"):
        fn = getattr(so, f"hh_rk4_f{dt[-2:]}")
        fn.restype = ctypes.c_float
        fn.argtypes = [ctypes.c_int64, ctypes.c_double, ctypes.c_int64, ctypes.c_void_p,
                       ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]

        def one(N, fn=fn, dt=dt):
            amp, y0 = workload(N)
            count = np.zeros(N, dtype=np.int64)
            first = np.zeros(N)
            t = time.perf_counter()
            ms = fn(N, args.dt, steps, amp.ctypes.data, y0.ctypes.data, count.ctypes.data,
                    first.ctypes.data, 128)
            wall = time.perf_counter() - t
            if ms < 0:
                raise RuntimeError(f"CUDA error {-ms}")
            r = {"seconds": wall, "kernel_s": ms / 1e3,
                 "neuron_steps_per_s": N * steps / (ms / 1e3), "spikes": int(count.sum())}
            if dt == "float64":
                YARD_COUNTS[N] = count
            r["count_mismatch_vs_hhfast_cuda_f64"] = mismatches(count, REF_COUNTS.get(N))
            return r

        one(1024)  # warm-up (module load)
        out[dt] = scaled_run(f"yardstick {dt}", sizes_for(args), one, args.cap_s)
    return out


YARD_COUNTS: dict[int, np.ndarray] = {}


def hhfast_cuda_section(args, methods, dtypes, key="hhfast_cuda", max_registers=None,
                        sizes=None):
    from hhfast import config
    from hhfast.kernels import cuda as K

    out = {}
    steps = int(round(args.T / args.dt))
    for m in methods:
        for dt in dtypes:
            label = f"{m} {dt}" + (f" maxreg={max_registers}" if max_registers else "")
            old = config.CUDA_MAX_REGISTERS
            config.CUDA_MAX_REGISTERS = max_registers
            try:
                t = time.perf_counter()
                hh.simulate(hh.stimulus.step(), t_stop=args.dt, dt=args.dt, method=m,
                            dtype=np.dtype(dt), backend="cuda")
                compile_s = time.perf_counter() - t

                def one(N, m=m, dt=dt):
                    amp, _ = workload(N)
                    K.TOTAL.clear()
                    t = time.perf_counter()
                    res = hh.simulate(hh.stimulus.step(), t_stop=args.T, dt=args.dt, method=m,
                                      dtype=np.dtype(dt), backend="cuda", amplitude=amp,
                                      max_spikes=0)
                    wall = time.perf_counter() - t
                    tot = dict(K.TOTAL)
                    counts = res.spike_count.reshape(-1)
                    if m == "rk4" and dt == "float64" and max_registers is None:
                        REF_COUNTS[N] = counts
                    r = {"seconds": wall, "kernel_s": tot.get("kernel_s"),
                         "h2d_s": tot.get("h2d_s"), "d2h_s": tot.get("d2h_s"),
                         "launches": tot.get("launches"),
                         "neuron_steps_per_s": N * steps / tot.get("kernel_s", wall),
                         "end_to_end_neuron_steps_per_s": N * steps / wall,
                         "spikes": int(counts.sum()),
                         "count_mismatch_vs_rk4_f64": mismatches(counts, REF_COUNTS.get(N))}
                    return r

                rows = scaled_run(f"hhfast {label}", sizes or sizes_for(args), one, args.cap_s)
                out[label] = {"compile_s": compile_s, "rows": rows}
            finally:
                config.CUDA_MAX_REGISTERS = old
            save()
    return out


def _jax_rk4(dtype: str):
    """Plain JAX: one neuron's lax.scan of the yardstick's rk4 (textbook rates), vmapped."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    f = jnp.float64 if dtype == "float64" else jnp.float32

    def xexpm1(z):
        z2 = z * z
        s = 1 - z / 2 + z2 / 12 - z2 * z2 / 720
        safe = jnp.where(jnp.abs(z) < 1e-2, f(1.0), z)
        return jnp.where(jnp.abs(z) < 1e-2, s, safe / (jnp.exp(safe) - 1))

    def rhs(V, n, m, h, I):
        an = 0.1 * xexpm1((10 - V) / 10)
        bn = 0.125 * jnp.exp(-V / 80)
        am = xexpm1((25 - V) / 10)
        bm = 4 * jnp.exp(-V / 18)
        ah = 0.07 * jnp.exp(-V / 20)
        bh = 1 / (jnp.exp((30 - V) / 10) + 1)
        iion = 120 * m**3 * h * (V - 115) + 36 * n**4 * (V + 12) + 0.3 * (V - 10.613)
        return (I - iion, an * (1 - n) - bn * n, am * (1 - m) - bm * m,
                ah * (1 - h) - bh * h)

    def make(n_steps, dt):
        dt = f(dt)

        def one(I, y0):
            def step(c, _):
                y, armed, count = c
                k1 = rhs(*y, I)
                k2 = rhs(*(a + dt / 2 * b for a, b in zip(y, k1)), I)
                k3 = rhs(*(a + dt / 2 * b for a, b in zip(y, k2)), I)
                k4 = rhs(*(a + dt * b for a, b in zip(y, k3)), I)
                y1 = tuple(a + dt / 6 * (p + 2 * (q + r) + s)
                           for a, p, q, r, s in zip(y, k1, k2, k3, k4))
                cross = armed & (y1[0] >= THR)
                armed = jnp.where(cross, False, armed | (y1[0] < THR - REARM))
                return (y1, armed, count + cross.astype(jnp.int32)), None

            y = tuple(f(v) for v in y0)
            (y, _, count), _ = jax.lax.scan(step, (y, y[0] < THR, jnp.int32(0)), None,
                                            length=n_steps)
            return count, y[0]

        return jax.jit(jax.vmap(one, in_axes=(0, 1)))

    return make, f


def jax_section(args):
    import jax

    make, _ = _jax_rk4("float64")
    out = {"jax": jax.__version__, "devices": [str(d) for d in jax.devices()]}
    steps = int(round(args.T / args.dt))
    for dt in ("float64", "float32"):
        make, f = _jax_rk4(dt)
        run = make(steps, args.dt)

        def one(N, run=run, f=f):
            amp, y0 = workload(N)
            I = jax.numpy.asarray(amp, dtype=f)
            Y = jax.numpy.asarray(y0, dtype=f)
            t = time.perf_counter()
            jax.block_until_ready(run(I, Y))  # compile for this shape (not timed below)
            compile_s = time.perf_counter() - t
            t = time.perf_counter()
            count, _ = jax.block_until_ready(run(I, Y))
            s = time.perf_counter() - t
            count = np.asarray(count)
            return {"seconds": s + compile_s, "run_s": s, "compile_s": compile_s,
                    "neuron_steps_per_s": N * steps / s, "spikes": int(count.sum()),
                    "count_mismatch_vs_hhfast_cuda_f64": mismatches(count, REF_COUNTS.get(N)),
                    "count_mismatch_vs_yardstick_f64": mismatches(count, YARD_COUNTS.get(N))}

        out[dt] = scaled_run(f"jax {dt}", sizes_for(args)[:3], one, args.cap_s)
        jax.clear_caches()
    return out


def diffrax_section(args):
    import diffrax
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    steps = int(round(args.T / args.dt))
    make, _ = _jax_rk4("float64")
    out = {"diffrax": diffrax.__version__}
    for dt in ("float64", "float32"):
        f = jnp.float64 if dt == "float64" else jnp.float32

        def vf(t, y, I, f=f):
            V, n, m, h = y[0], y[1], y[2], y[3]
            an = 0.1 * (10 - V) / 10 / (jnp.exp((10 - V) / 10) - 1)
            bn = 0.125 * jnp.exp(-V / 80)
            am = (25 - V) / 10 / (jnp.exp((25 - V) / 10) - 1)
            bm = 4 * jnp.exp(-V / 18)
            ah = 0.07 * jnp.exp(-V / 20)
            bh = 1 / (jnp.exp((30 - V) / 10) + 1)
            iion = 120 * m**3 * h * (V - 115) + 36 * n**4 * (V + 12) + 0.3 * (V - 10.613)
            return jnp.stack([I - iion, an * (1 - n) - bn * n, am * (1 - m) - bm * m,
                              ah * (1 - h) - bh * h]).astype(f)

        term = diffrax.ODETerm(vf)
        solver = _diffrax_rk4()

        def solve(I, y0, f=f, term=term, solver=solver):
            sol = diffrax.diffeqsolve(term, solver, t0=f(0.0), t1=f(args.T),
                                      dt0=f(args.dt), y0=y0, args=I,
                                      stepsize_controller=diffrax.ConstantStepSize(),
                                      saveat=diffrax.SaveAt(t1=True), max_steps=steps + 8)
            return sol.ys[-1]

        run = jax.jit(jax.vmap(solve, in_axes=(0, 1)))

        def one(N, run=run, f=f):
            amp, y0 = workload(N)
            I = jnp.asarray(amp, dtype=f)
            Y = jnp.asarray(y0, dtype=f)
            t = time.perf_counter()
            jax.block_until_ready(run(I, Y))
            compile_s = time.perf_counter() - t
            t = time.perf_counter()
            yT = np.asarray(jax.block_until_ready(run(I, Y)))
            s = time.perf_counter() - t
            return {"seconds": s + compile_s, "run_s": s, "compile_s": compile_s,
                    "neuron_steps_per_s": N * steps / s,
                    "final_V_range": [float(yT[:, 0].min()), float(yT[:, 0].max())]}

        out[dt] = scaled_run(f"diffrax {dt}", sizes_for(args)[:3], one, args.cap_s)
    return out


def _diffrax_rk4():
    """Classic RK4 as a diffrax solver (diffrax ships none): its Butcher tableau on
    ``AbstractERK``, used with a constant step."""
    from typing import ClassVar

    import diffrax

    if hasattr(diffrax, "RK4"):
        return diffrax.RK4()

    # built with real ClassVar annotations (this module's annotations are strings, which
    # dataclasses do not read as ClassVar outside the module namespace)
    tableau = diffrax.ButcherTableau(
        a_lower=(np.array([0.5]), np.array([0.0, 0.5]), np.array([0.0, 0.0, 1.0])),
        b_sol=np.array([1 / 6, 1 / 3, 1 / 3, 1 / 6]), b_error=np.zeros(4),
        c=np.array([0.5, 0.5, 1.0]))
    RK4 = type("RK4", (diffrax.AbstractERK,), {
        "__annotations__": {"tableau": ClassVar[diffrax.ButcherTableau],
                            "interpolation_cls": ClassVar[object]},
        "tableau": tableau,
        "interpolation_cls": diffrax.ThirdOrderHermitePolynomialInterpolation.from_k,
        "order": lambda self, terms: 4})
    return RK4()


def cpu_section(args):
    import numba

    out = {"threads": numba.get_num_threads()}
    steps = int(round(args.T / args.dt))
    sizes = [64, 256] if args.quick else [10**4, 10**5]
    for m, dt in (("rk4", "float64"), ("rk4", "float32"), ("euler", "float64")):
        t = time.perf_counter()
        hh.simulate(hh.stimulus.step(), t_stop=args.dt, dt=args.dt, method=m,
                    dtype=np.dtype(dt))
        compile_s = time.perf_counter() - t

        def one(N, m=m, dt=dt):
            amp, _ = workload(N)
            t = time.perf_counter()
            res = hh.simulate(hh.stimulus.step(), t_stop=args.T, dt=args.dt, method=m,
                              dtype=np.dtype(dt), amplitude=amp, max_spikes=0)
            s = time.perf_counter() - t
            counts = res.spike_count.reshape(-1)
            return {"seconds": s, "neuron_steps_per_s": N * steps / s,
                    "spikes": int(counts.sum()),
                    "count_mismatch_vs_hhfast_cuda_f64": mismatches(counts,
                                                                    REF_COUNTS.get(N))}

        out[f"{m} {dt}"] = {"compile_s": compile_s,
                            "rows": scaled_run(f"cpu {m} {dt}", sizes, one, args.cap_s)}
        save()
    return out


PROFILE_METRICS = ",".join(
    f"smsp__sass_thread_inst_executed_op_{op}_pred_on.sum"
    for op in ("dadd", "dmul", "dfma", "fadd", "fmul", "ffma"))


def ncu_section(args, tmp: Path):
    ncu = shutil.which("ncu")
    if not ncu:
        raise RuntimeError("ncu not found")
    out = {}
    N, T = 1 << 15, 20.0
    steps = int(round(T / args.dt))
    for who, kern in (("hhfast", "regex:drive"), ("yardstick", "regex:rk4")):
        if who == "yardstick" and not shutil.which("nvcc"):
            continue
        child = [sys.executable, str(Path(__file__).resolve()), "--profile-child", who,
                 "--N", str(N), "--T", str(T), "--dt", str(args.dt), "--out", str(tmp)]
        rec = {}
        # one profiled run: the flop counters and the speed-of-light, occupancy and launch
        # sections together (each pass re-runs the kernel; the child compiles once)
        opts = ["--metrics", PROFILE_METRICS, "--section", "SpeedOfLight", "--section",
                "Occupancy", "--section", "LaunchStats"]
        cmd = [ncu, "--target-processes", "all", "-k", kern, "-c", "1", "--csv", *opts,
               *child]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=max(60, left()))
        (OUT / f"ncu_{who}.csv").write_text(p.stdout + "\n# stderr\n" + p.stderr[-20000:])
        rec["metrics"] = _ncu_values(p.stdout)
        rec["rc"] = p.returncode
        fl = rec["metrics"]
        d = {k: fl.get(f"smsp__sass_thread_inst_executed_op_{k}_pred_on.sum") for k in
             ("dadd", "dmul", "dfma", "fadd", "fmul", "ffma")}
        if all(v is not None for v in d.values()):
            rec["fp64_flops_per_neuron_step"] = (d["dadd"] + d["dmul"] + 2 * d["dfma"]) / (
                N * steps)
            rec["fp32_flops_per_neuron_step"] = (d["fadd"] + d["fmul"] + 2 * d["ffma"]) / (
                N * steps)
        out[who] = rec
        log(f"  ncu {who}: {json.dumps({k: v for k, v in rec.items() if 'per' in k})}")
    return out


def _ncu_values(csv_text: str) -> dict:
    """Metric name -> value from ncu's --csv output (best effort)."""
    import csv
    import io

    vals = {}
    lines = [s for s in csv_text.splitlines() if s.startswith('"')]
    for row in csv.DictReader(io.StringIO("\n".join(lines))):
        name, v = row.get("Metric Name"), row.get("Metric Value")
        if name and v is not None:
            try:
                vals[name] = float(v.replace(",", ""))
            except ValueError:
                vals[name] = v
    return vals


def profile_child(args) -> int:
    """One kernel run for ncu: hhfast rk4 float64 or the yardstick, workload W."""
    amp, y0 = workload(args.N)
    if args.profile_child == "hhfast":
        hh.simulate(hh.stimulus.step(), t_stop=args.T, dt=args.dt, method="rk4",
                    backend="cuda", amplitude=amp, max_spikes=0)
    else:
        so, _, _ = build_yardstick(args, Path(args.out))
        fn = so.hh_rk4_f64
        fn.restype = ctypes.c_float
        fn.argtypes = [ctypes.c_int64, ctypes.c_double, ctypes.c_int64, ctypes.c_void_p,
                       ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
        count, first = np.zeros(args.N, dtype=np.int64), np.zeros(args.N)
        fn(args.N, args.dt, int(round(args.T / args.dt)), amp.ctypes.data, y0.ctypes.data,
           count.ctypes.data, first.ctypes.data, 128)
    return 0


def sweep_section(args, tmp: Path):
    import zarr  # noqa: F401 - the store needs it (docs/guide/gpu.md: carried wheels)

    if args.quick:
        amp, gk, T = np.linspace(0, 20, 40), np.linspace(30, 42, 25), 1.0
    else:
        amp, gk, T = np.linspace(0, 20, 10000), np.linspace(30, 42, 1000), args.sweep_T
    g = hh.grid(amplitude=amp, gK=gk)
    store = tmp / "sweep.zarr"
    t = time.perf_counter()
    ds = hh.sweep(g, hh.stimulus.step(), t_stop=T, dt=args.dt, method="rk4", store=str(store),
                  backend="cuda", progress=False)
    wall = time.perf_counter() - t
    done = bool(np.asarray(ds["done"]).all())
    size = sum(f.stat().st_size for f in store.rglob("*") if f.is_file())
    return {"points": int(g.size), "T_ms": T, "method": "rk4", "dtype": "float64",
            "seconds": wall, "all_done": done, "store_bytes": size,
            "neuron_steps_per_s": g.size * round(T / args.dt) / wall,
            "spikes": int(np.asarray(ds["spike_count"]).sum())}


def table() -> None:
    s = RESULTS["sections"]
    env = RESULTS.get("env", {})
    print("\n== hhfast GPU benchmark:", env.get("device", "simulator"), env.get("date"), "==")
    rows = []

    def add(name, recs):
        for r in recs or []:
            if "neuron_steps_per_s" in r:
                rows.append((name, r["N"], r["neuron_steps_per_s"], r.get("spikes")))

    for dt in ("float64", "float32"):
        add(f"CUDA C rk4 {dt}", (s.get("yardstick") or {}).get(dt))
    for key in ("hhfast_cuda", "hhfast_cuda_more", "registers"):
        for label, v in (s.get(key) or {}).items():
            if isinstance(v, dict):
                add(f"hhfast {label}", v.get("rows"))
    for dt in ("float64", "float32"):
        add(f"JAX vmap rk4 {dt}", (s.get("jax") or {}).get(dt))
        add(f"diffrax RK4 {dt}", (s.get("diffrax") or {}).get(dt))
    for label, v in (s.get("cpu") or {}).items():
        if isinstance(v, dict):
            add(f"hhfast CPU {label}", v.get("rows"))
    print(f"{'implementation':32s} {'N':>9s} {'neuron-steps/s':>15s} {'spikes':>10s}")
    for name, N, r, sp in rows:
        print(f"{name:32s} {N:9d} {r:15.4g} {sp if sp is not None else '-':>10}")
    for k, v in s.items():
        if isinstance(v, dict) and ("error" in v or "skipped" in v):
            print(f"[{k}] {v.get('error') or v.get('skipped')}")
    if "sweep" in s and "seconds" in (s["sweep"] or {}):
        print("sweep:", {k: s["sweep"].get(k) for k in ("points", "T_ms", "seconds",
                                                         "all_done")})


def main(argv=None) -> int:
    global OUT, DEADLINE
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.environ.get("OUT") or "hhfast-out/gpu")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (simulator, smoke test)")
    ap.add_argument("--budget-s", type=float, default=420.0,
                    help="stop starting sections after this many seconds (default 420)")
    ap.add_argument("--cap-s", type=float, default=30.0,
                    help="largest predicted run of one configuration and size (default 30 s)")
    ap.add_argument("--T", type=float, default=200.0, help="ms per run (default 200)")
    ap.add_argument("--dt", type=float, default=0.01, help="ms (default 0.01)")
    ap.add_argument("--sweep-T", type=float, default=100.0,
                    help="ms per point of the 1e7-point sweep (default 100)")
    ap.add_argument("--only", nargs="*", help="run only these sections")
    ap.add_argument("--profile-child", choices=["hhfast", "yardstick"], help=argparse.SUPPRESS)
    ap.add_argument("--N", type=int, default=1 << 15, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    OUT = Path(args.out)
    OUT.mkdir(parents=True, exist_ok=True)
    if args.profile_child:
        return profile_child(args)
    if args.quick:
        args.T = min(args.T, 1.0)
    DEADLINE = T0 + args.budget_s
    want = set(args.only or ["env", "agreement", "hhfast_cuda", "yardstick", "jax", "ncu",
                             "sweep", "cpu", "hhfast_cuda_more", "diffrax", "registers"])
    with tempfile.TemporaryDirectory() as tmpd:
        tmp = Path(tmpd)
        plan = [
            ("env", 5, lambda: env_section(args)),
            ("agreement", 60, lambda: agreement_section(args)),
            # the headline first: rk4 float64 / float32 (its counts are the reference)
            ("hhfast_cuda", 60, lambda: hhfast_cuda_section(args, ["rk4"],
                                                            ["float64", "float32"])),
            ("yardstick", 30, lambda: yardstick_section(args, tmp)),
            ("jax", 40, lambda: jax_section(args)),
            ("ncu", 60, lambda: ncu_section(args, tmp)),
            ("sweep", 60, lambda: sweep_section(args, tmp)),
            ("hhfast_cuda_more", 60, lambda: hhfast_cuda_section(
                args, ["euler", "expeuler"], ["float64", "float32"])),
            ("cpu", 40, lambda: cpu_section(args)),
            ("diffrax", 40, lambda: diffrax_section(args)),
            ("registers", 40, lambda: hhfast_cuda_section(
                args, ["rk4"], ["float64"], max_registers=128,
                sizes=[64] if args.quick else [10**6])
                if not RESULTS.get("env", {}).get("simulator") else {"skipped": "simulator"}),
        ]
        for name, need, fn in plan:
            if name in want:
                section(name, need)(fn)()
    save()
    table()
    return 0


if __name__ == "__main__":
    sys.exit(main())
