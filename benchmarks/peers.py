"""Workload W in other simulators, against hhfast in the same run.

Peers (each in its own virtual environment, created on first use under ``--venvs``, default
``~/.cache/hhfast-peers``, because their pins clash with each other and with hhfast's numpy):

* ``jax64`` / ``jax32``: what a user would write instead of hhfast: the textbook HH
  right-hand side in ``jax.numpy``, a jitted ``lax.scan`` over the steps with spike counting
  and re-arming in the carry, the batch split over the cores with ``pmap``
  (``--xla_force_host_platform_device_count``), float64 and float32;
* ``brian2``: Brian2's C++ standalone mode (OpenMP threads) and its runtime mode,
  exponential Euler, ``threshold``/``refractory`` on 50 mV above rest (the re-arming rule);
* ``brainpy``: ``brainpy.dyn.HH`` with its default integrator, float32;
* ``neuron``: NEURON's built-in ``hh`` mechanism, fixed step (implicit Euler, cnexp),
  one single-compartment cell per neuron, 2 threads, APCount at 50 mV above rest;
* ``scipy``: ``scipy.integrate.odeint`` one neuron at a time, as the original gist did;
  timed on a few neurons and extrapolated to N (said so in the table).

Every peer gets N = 1000 neurons with step currents linspace(0, 20, N) µA/cm², T = 1000 ms,
dt = 0.01 ms, and reports its spike counts, compared with hhfast's (same method where the
peer has it; rk4 otherwise).  A peer that cannot be installed or run is skipped with the
reason.  Nothing is downloaded unless the venv is missing.

Usage::

    python benchmarks/peers.py                       # all peers, W
    python benchmarks/peers.py --peers jax64,scipy --T 200
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import hhfast as hh

PACKAGES = {
    "jax": ["jax"],
    "brian2": ["brian2", "numpy<2.3"],
    "brainpy": ["brainpy", "jax"],
    "neuron": ["neuron"],
}

# Each child prints one JSON line: {"seconds": ..., "counts": [...], "note": ...}
JAX_CHILD = r"""
import json, os, sys, time
N, T, dt, prec = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
method = sys.argv[5]
ncores = os.cpu_count() or 1
os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={ncores}"
import jax
jax.config.update("jax_enable_x64", prec == "float64")
import jax.numpy as jnp
import numpy as np
from jax import lax
f = jnp.float64 if prec == "float64" else jnp.float32

def xexpm1(z):  # z / (e^z - 1) with its removable singularity
    small = jnp.abs(z) < 1e-4
    zs = jnp.where(small, 1.0, z)
    return jnp.where(small, 1 - z / 2, zs / jnp.expm1(zs))

def rates(V):
    an = 0.1 * xexpm1((10 - V) / 10); bn = 0.125 * jnp.exp(-V / 80)
    am = xexpm1((25 - V) / 10); bm = 4 * jnp.exp(-V / 18)
    ah = 0.07 * jnp.exp(-V / 20); bh = 1 / (jnp.exp((30 - V) / 10) + 1)
    return an, bn, am, bm, ah, bh

def rhs(y, I):
    V, n, m, h = y
    an, bn, am, bm, ah, bh = rates(V)
    iion = 120 * m**3 * h * (V - 115) + 36 * n**4 * (V + 12) + 0.3 * (V - 10.613)
    return jnp.stack([I - iion, an * (1 - n) - bn * n, am * (1 - m) - bm * m,
                      ah * (1 - h) - bh * h])

def advance(y, I):
    if method == "euler":
        return y + dt * rhs(y, I)
    if method == "rk4":
        k1 = rhs(y, I); k2 = rhs(y + dt / 2 * k1, I); k3 = rhs(y + dt / 2 * k2, I)
        k4 = rhs(y + dt * k3, I)
        return y + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    V, n, m, h = y
    an, bn, am, bm, ah, bh = rates(V)
    gna = 120 * m**3 * h; gk = 36 * n**4; gt = gna + gk + 0.3
    vinf = (I + gna * 115 - gk * 12 + 0.3 * 10.613) / gt
    out = [vinf + (V - vinf) * jnp.exp(-dt * gt)]
    for x, a, b in ((n, an, bn), (m, am, bm), (h, ah, bh)):
        out.append(a / (a + b) + (x - a / (a + b)) * jnp.exp(-dt * (a + b)))
    return jnp.stack(out)

def run(y, I, armed, count):
    def step(c, _):
        y, armed, count = c
        y = advance(y, I)
        up = armed & (y[0] >= 50)
        return (y, jnp.where(up, False, armed | (y[0] < 50)), count + up), None
    (y, armed, count), _ = lax.scan(step, (y, armed, count), None,
                                    length=int(round(T / dt)))
    return count

amp = np.linspace(0, 20, N)
y0 = np.array(json.loads(sys.argv[6]))
nd = jax.local_device_count()
per = -(-N // nd)
ampp = np.concatenate([amp, np.full(per * nd - N, amp[-1])]).reshape(nd, per)
Y = np.broadcast_to(y0[None, :, None], (nd, 4, per)).copy()
prun = jax.pmap(run)
args = (jnp.asarray(Y, f), jnp.asarray(ampp, f), jnp.ones((nd, per), bool),
        jnp.zeros((nd, per), jnp.int32))
t = time.perf_counter(); prun(*args).block_until_ready(); compile_s = time.perf_counter() - t
times = []
for _ in range(int(sys.argv[7])):
    t = time.perf_counter()
    c = prun(*args).block_until_ready()
    times.append(time.perf_counter() - t)
print(json.dumps(dict(seconds=times, counts=np.asarray(c).reshape(-1)[:N].tolist(),
                      note=f"{nd} devices, first call {compile_s:.1f} s")))
"""

BRIAN_CHILD = r"""
import json, sys, tempfile, time
N, T, dt = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
mode, threads = sys.argv[4], int(sys.argv[5])
from brian2 import (NeuronGroup, SpikeMonitor, defaultclock, ms, mV, run, set_device, prefs,
                    device)
import numpy as np
workdir = tempfile.mkdtemp(prefix="hhfast-brian2-")
if mode == "standalone":
    set_device("cpp_standalone", directory=workdir, build_on_run=False)
    prefs.devices.cpp_standalone.openmp_threads = threads
defaultclock.dt = dt * ms
eqs = '''
dv/dt = (I - 120*m**3*h*(v - 115*mV) - 36*n**4*(v + 12*mV) - 0.3*(v - 10.613*mV)) / ms : volt
dn/dt = an*(1 - n) - bn*n : 1
dm/dt = am*(1 - m) - bm*m : 1
dh/dt = ah*(1 - h) - bh*h : 1
an = 0.1/exprel((10*mV - v)/(10*mV))/ms : Hz
bn = 0.125*exp(-v/(80*mV))/ms : Hz
am = 1/exprel((25*mV - v)/(10*mV))/ms : Hz
bm = 4*exp(-v/(18*mV))/ms : Hz
ah = 0.07*exp(-v/(20*mV))/ms : Hz
bh = 1/(exp((30*mV - v)/(10*mV)) + 1)/ms : Hz
I : volt
'''
G = NeuronGroup(N, eqs, threshold="v >= 50*mV", refractory="v >= 50*mV",
                method="exponential_euler")
y0 = json.loads(sys.argv[6])
G.v = y0[0] * mV; G.n = y0[1]; G.m = y0[2]; G.h = y0[3]
G.I = np.linspace(0, 20, N) * mV
S = SpikeMonitor(G, record=False)
t = time.perf_counter()
run(T * ms)
if mode == "standalone":
    t_build = time.perf_counter()
    device.build(directory=workdir, run=False)  # (its default directory is ./output)
    t = time.perf_counter()
    device.run()
elapsed = time.perf_counter() - t
print(json.dumps(dict(seconds=[elapsed], counts=np.asarray(S.count[:]).tolist(),
                      note=mode + (" (compile excluded)" if mode == "standalone" else ""))))
"""

NEURON_CHILD = r"""
import json, sys, time
N, T, dt, threads = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
from neuron import h
import numpy as np
h.load_file("stdrun.hoc")
h.celsius = 6.3
amp = np.linspace(0, 20, N)
cells, stims, apcs = [], [], []
for i in range(N):
    s = h.Section(name=f"c{i}")
    s.L = 100.0; s.diam = 100.0 / np.pi          # area 1e-4 cm2: 1 uA/cm2 = 0.1 nA
    s.insert("hh"); s.cm = 1.0
    for seg in s:
        seg.hh.gnabar, seg.hh.gkbar, seg.hh.gl, seg.hh.el = 0.12, 0.036, 0.0003, -54.387
    st = h.IClamp(s(0.5)); st.delay = 0; st.dur = 1e9; st.amp = 0.1 * amp[i]
    ap = h.APCount(s(0.5)); ap.thresh = -15.0
    cells.append(s); stims.append(st); apcs.append(ap)
pc = h.ParallelContext(); pc.nthread(threads)
h.dt = dt; h.steps_per_ms = 1.0 / dt; h.secondorder = 0
h.finitialize(-65.0)
t = time.perf_counter(); h.continuerun(T); elapsed = time.perf_counter() - t
print(json.dumps(dict(seconds=[elapsed], counts=[int(a.n) for a in apcs],
                      note=f"{threads} threads, secondorder=0")))
"""

BRAINPY_CHILD = r"""
import json, sys, time
N, T, dt = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
import brainpy as bp, brainpy.math as bm
import numpy as np
bm.set_dt(dt)
# the others' parameters and resting start (BrainPy's defaults: gL = 0.03, V_th = 20 mV,
# V drawn uniformly from [-70, -60] mV); gates start at their steady state at V
neu = bp.dyn.HH(N, ENa=50., EK=-77., EL=-54.387, gNa=120., gK=36., gL=0.3, V_th=-15.,
                V_initializer=bp.init.Constant(-65.0))
amp = bm.asarray(np.linspace(0, 20, N), dtype=bm.float32)
count = bm.Variable(bm.zeros(N, dtype=bm.int32))
n_steps = int(round(T / dt))

def one(i):  # a constant input per step (DSRunner's ``inputs`` array is read as a time series)
    bp.share.save(i=i, t=i * dt)
    neu.update(amp)
    count.value += neu.spike.value

def run(n):
    neu.reset_state()
    count.value = bm.zeros(N, dtype=bm.int32)
    bm.for_loop(one, np.arange(n), progress_bar=False)
    return np.asarray(count.value)

t = time.perf_counter(); run(10); first = time.perf_counter() - t
t = time.perf_counter(); c = run(n_steps); elapsed = time.perf_counter() - t
print(json.dumps(dict(seconds=[elapsed], counts=c.astype(int).tolist(),
                      note=f"default integrator (exp_auto), first call {first:.1f} s")))
"""

SCIPY_CHILD = r"""
import json, sys, time
import numpy as np
from scipy.integrate import odeint
N, T, dt, k = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])

def rhs(y, t, I):  # the gist's way: scalar Python right-hand side
    V, n, m, h = y
    an = 0.01 * (10 - V) / (np.exp((10 - V) / 10) - 1); bn = 0.125 * np.exp(-V / 80)
    am = 0.1 * (25 - V) / (np.exp((25 - V) / 10) - 1); bm = 4 * np.exp(-V / 18)
    ah = 0.07 * np.exp(-V / 20); bh = 1 / (np.exp((30 - V) / 10) + 1)
    return [I - 120 * m**3 * h * (V - 115) - 36 * n**4 * (V + 12) - 0.3 * (V - 10.613),
            an * (1 - n) - bn * n, am * (1 - m) - bm * m, ah * (1 - h) - bh * h]

amp = np.linspace(0, 20, N)
pick = np.linspace(0, N - 1, k).round().astype(int)
y0 = json.loads(sys.argv[5])
t_grid = np.arange(0, T + dt / 2, dt)
counts, spent = {}, 0.0
for i in pick:
    t = time.perf_counter()
    V = odeint(rhs, y0, t_grid, args=(amp[i],))[:, 0]
    spent += time.perf_counter() - t
    above = V >= 50
    counts[int(i)] = int(np.count_nonzero(above[1:] & ~above[:-1]))
print(json.dumps(dict(seconds=[spent / k * N], counts_at=counts,
                      note=f"timed on {k} neurons, extrapolated to {N}")))
"""


def venv_python(root: Path, peer: str) -> Path | str:
    """The python of the peer's venv, created and installed on first use; or why not."""
    env = root / peer
    py = env / "bin" / "python"
    stamp = env / ".installed"
    if stamp.exists():
        return py
    try:
        subprocess.run([sys.executable, "-m", "venv", str(env)], check=True,
                       capture_output=True, text=True)
        proc = subprocess.run([str(py), "-m", "pip", "install", "-q", *PACKAGES[peer]],
                              capture_output=True, text=True, timeout=1800)
    except (subprocess.SubprocessError, OSError) as e:
        return f"could not create the venv: {e}"
    if proc.returncode != 0:
        return f"pip install {' '.join(PACKAGES[peer])} failed: {proc.stderr.strip()[-400:]}"
    stamp.write_text(" ".join(PACKAGES[peer]))
    return py


def child(py, code, *args, timeout=3600):
    proc = subprocess.run([str(py), "-c", code, *map(str, args)], capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip()[-600:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--peers", default="jax64,jax32,brian2,brainpy,neuron,scipy")
    ap.add_argument("--N", type=int, default=1000)
    ap.add_argument("--T", type=float, default=1000.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--venvs", default=str(Path.home() / ".cache" / "hhfast-peers"))
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args(argv)
    N, T, dt = args.N, args.T, 0.01
    steps = N * round(T / dt)
    root = Path(args.venvs)
    root.mkdir(parents=True, exist_ok=True)
    y0 = json.dumps(list(hh.model.resting_state()))
    amp = np.linspace(0.0, 20.0, N)

    hhres = {}

    def hhfast(method, dtype):
        key = (method, dtype)
        if key not in hhres:
            hh.simulate(hh.step(), t_stop=0.1, method=method, amplitude=amp[:16], dtype=dtype)
            ts, res = [], None
            for _ in range(args.repeats):
                t = time.perf_counter()
                res = hh.simulate(hh.step(), t_stop=T, dt=dt, method=method, amplitude=amp,
                                  num_threads=args.threads, dtype=dtype)
                ts.append(time.perf_counter() - t)
            hhres[key] = (steps / statistics.median(ts), res.spike_count)
        return hhres[key]

    plan = {
        "jax64": ("jax", [("euler", "float64"), ("expeuler", "float64"), ("rk4", "float64")]),
        "jax32": ("jax", [("euler", "float32"), ("expeuler", "float32"), ("rk4", "float32")]),
        "brian2": ("brian2", [("standalone", "float64"), ("runtime", "float64")]),
        "brainpy": ("brainpy", [("default", "float32")]),
        "neuron": ("neuron", [("fixed", "float64")]),
        "scipy": (None, [("odeint", "float64")]),
    }
    compare_method = {"standalone": "expeuler", "runtime": "expeuler", "default": "expeuler",
                      "fixed": "rk4", "odeint": "rk4"}
    rows = []
    for peer in args.peers.split(","):
        if peer not in plan:
            print(f"unknown peer {peer!r}; choose from {sorted(plan)}", file=sys.stderr)
            return 2
        pkg, variants = plan[peer]
        py = sys.executable if pkg is None else venv_python(root, pkg)
        if isinstance(py, str) and not Path(py).exists():
            print(f"SKIPPED {peer}: {py}", flush=True)
            continue
        for variant, prec in variants:
            try:
                if peer.startswith("jax"):
                    d = child(py, JAX_CHILD, N, T, dt, prec, variant, y0, args.repeats)
                elif peer == "brian2":
                    d = child(py, BRIAN_CHILD, N, T, dt, variant, args.threads, y0)
                elif peer == "brainpy":
                    d = child(py, BRAINPY_CHILD, N, T, dt)
                elif peer == "neuron":
                    d = child(py, NEURON_CHILD, N, T, dt, args.threads)
                else:
                    d = child(py, SCIPY_CHILD, N, T, dt, 4, y0)
            except (RuntimeError, subprocess.SubprocessError, ValueError) as e:
                print(f"SKIPPED {peer} {variant}: {e}", flush=True)
                continue
            method = variant if variant in ("euler", "expeuler", "rk4") else compare_method[
                variant]
            rate_hh, counts_hh = hhfast(method, np.float32 if prec == "float32" else np.float64)
            rate = steps / statistics.median(d["seconds"])
            if "counts" in d:
                diff = np.asarray(d["counts"]) - counts_hh
                agree = ("equal" if not diff.any() else
                         f"{np.count_nonzero(diff)} differ (max {np.abs(diff).max()})")
            else:
                idx = np.array(list(map(int, d["counts_at"])))
                diff = np.array(list(d["counts_at"].values())) - counts_hh[idx]
                agree = ("equal" if not diff.any() else
                         f"{np.count_nonzero(diff)}/{idx.size} differ")
            row = dict(peer=peer, variant=variant, dtype=prec, method=method, rate=rate,
                       hhfast=rate_hh, ratio=rate_hh / rate, counts=agree, note=d["note"])
            rows.append(row)
            print(f"{peer:8} {variant:10} {prec:8} {rate:10.3g} neuron-steps/s   hhfast "
                  f"{method}/{prec} {rate_hh:10.3g}  hhfast/peer {rate_hh / rate:7.2f}  "
                  f"spike counts vs hhfast: {agree}  ({d['note']})", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    sys.exit(main())
