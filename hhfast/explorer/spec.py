"""The explorer's settings: what the page, its address and :func:`hhfast.explore` can set, their
defaults, ranges and presets, and their translation into calls of the public API
(:func:`hhfast.simulate`, :func:`hhfast.fi_curve`, the stimulus protocols).

NumPy only, no Panel: the web page (:mod:`hhfast.explorer.app`) imports this module, and the
package :mod:`hhfast.explorer` re-exports it, so neither imports the other
(docs/architecture.md §1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import config
from ..kernels import CHANNELS, METHODS
from ..model import FIELDS, HHParams, equilibrium

__all__ = ["DEFAULTS", "LIMITS", "PRESETS",  # noqa: F822 - PRESETS: module __getattr__
           "SettingError", "run_settings",
           "fi_settings", "run_work", "fi_work"]

#: the stimulus protocols the page offers (value of the ``kind`` setting)
KINDS = ("pulses", "step", "train", "ramp")

#: the channel-noise choices of the page: "none" or a model of :data:`hhfast.kernels.CHANNELS`
CHANNEL_CHOICES = ("none", *CHANNELS)

#: every setting with its default (the gist: two pulses, 50 ms, rk4 at dt = 0.01 ms, classic HH
#: from rest, no noise).  Initial values left empty mean "the resting state"; ``atol`` left
#: empty means ``atol = rtol``.  The noise (``noise_sigma``, ``noise_tau``, ``seed``,
#: ``trials``, ``channel_noise``, ``area``) and dopri5's ``rtol``, ``atol`` are
#: :func:`hhfast.simulate`'s arguments of those names.
DEFAULTS: dict[str, object] = {
    "kind": "pulses",
    "p1_start": 0.0, "p1_stop": 1.0, "p1_amp": 150.0,
    "p2_start": 10.0, "p2_stop": 11.0, "p2_amp": 50.0,
    "s_start": 0.0, "s_stop": math.inf, "s_amp": 10.0,
    "tr_start": 0.0, "tr_width": 1.0, "tr_period": 10.0, "tr_count": 5, "tr_amp": 50.0,
    "r_start": 0.0, "r_stop": 100.0, "r_begin": 0.0, "r_end": 15.0, "r_hold": False,
    "t_stop": 50.0, "dt": 0.01, "method": "rk4",
    "rtol": config.ADAPTIVE_RTOL, "atol": "",
    "noise_sigma": 0.0, "noise_tau": 0.0, "seed": 0, "trials": 1,
    "channel_noise": "none", "area": config.CHANNEL_DEFAULTS["area"],
    "V0": "", "n0": "", "m0": "", "h0": "",
    **HHParams.classic().as_dict(),
    "fi_lo": 0.0, "fi_hi": 30.0, "fi_n": 61, "fi_t_stop": 500.0,
}

#: what each preset changes from :data:`DEFAULTS`; None: computed when :data:`PRESETS` is
#: first read (the bistable preset solves for an equilibrium: numerics that an import must not
#: run, docs/architecture.md §1)
_PRESETS: dict[str, dict[str, object] | None] = {
    "The gist (two pulses)": {},
    "Sustained firing under a step": {"kind": "step", "s_amp": 10.0, "t_stop": 200.0},
    "Bistable band (a kick starts lasting firing)": None,  # _bistable_preset()
    "Depolarisation block": {"kind": "step", "s_amp": 200.0, "t_stop": 100.0},
    "Temperature effect (18.5 °C)": {"kind": "step", "s_amp": 10.0, "t_stop": 100.0,
                                     "temperature": 18.5},
}


def _bistable_preset() -> dict[str, object]:
    # classic HH held at 8 µA/cm², inside the band (fold ~6.26, Hopf ~9.78) where rest and
    # firing coexist: started at the equilibrium of that current it stays quiet; a 2 ms,
    # 10 µA/cm² kick at 100 ms puts it on the firing cycle, where it stays after the kick ends
    V, n, m, h = equilibrium(8.0, HHParams.classic())
    return {"kind": "pulses", "p1_start": 0.0, "p1_stop": math.inf, "p1_amp": 8.0,
            "p2_start": 100.0, "p2_stop": 102.0, "p2_amp": 10.0, "t_stop": 300.0,
            "V0": f"{V:.6f}", "n0": f"{n:.6f}", "m0": f"{m:.6f}", "h0": f"{h:.6f}"}


def __getattr__(name: str):
    # PRESETS (what each preset changes from DEFAULTS), built on first use and then kept
    if name == "PRESETS":
        presets = {k: _bistable_preset() if v is None else v for k, v in _PRESETS.items()}
        globals()["PRESETS"] = presets
        return presets
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: settings that are integers / booleans / names (the rest are floats)
_INTS = {"tr_count", "fi_n", "seed", "trials"}
_BOOLS = {"r_hold"}
_NAMES = {"kind", "method", "channel_noise"}
_OPTIONAL = {"V0", "n0", "m0", "h0", "atol"}
_INITIAL = ("V0", "n0", "m0", "h0")
_STOPS = {"s_stop", "p1_stop", "p2_stop"}  # may be inf (never off)

#: the closed range of each setting that has one, enforced for every value whatever its source
#: (a control, the page's address, :func:`explore`'s arguments): the sliders' ends, and counts
#: bounded so that a value in the address cannot make the server allocate or run without end
LIMITS: dict[str, tuple[float, float]] = {
    "p1_amp": (-50.0, 300.0), "p2_amp": (-50.0, 300.0), "s_amp": (-20.0, 300.0),
    "tr_amp": (-50.0, 300.0), "r_end": (-20.0, 300.0),
    "t_stop": (1.0, 2000.0), "temperature": (0.0, 40.0),
    "tr_count": (1, 10_000), "fi_n": (2, 2001),
    "trials": (1, config.EXPLORER_MAX_TRIALS), "seed": (0, 2**64 - 1),
    "noise_sigma": (0.0, 100.0), "noise_tau": (0.0, 1000.0), "area": (0.1, 1e6),
    "rtol": (config.ADAPTIVE_RTOL_MIN, 0.1), "atol": (config.ADAPTIVE_RTOL_MIN, 0.1),
}

#: the words an hhfast error message starts with, per setting it points at
_BLAME = {
    "pulses": {"pulses[0].start": "p1_start", "pulses[0].stop": "p1_stop",
               "pulses[0].amplitude": "p1_amp", "pulses[1].start": "p2_start",
               "pulses[1].stop": "p2_stop", "pulses[1].amplitude": "p2_amp",
               "pulses[0]": "p1_stop", "pulses[1]": "p2_stop"},
    "step": {"pulses[0].start": "s_start", "pulses[0].stop": "s_stop",
             "pulses[0].amplitude": "s_amp", "pulses[0]": "s_stop"},
    "train": {"width": "tr_width", "period": "tr_period", "count": "tr_count",
              "start": "tr_start", "pulses[0].amplitude": "tr_amp"},
    "ramp": {"ramp stop": "r_stop", "start": "r_start", "stop": "r_stop", "begin": "r_begin",
             "end": "r_end"},
}


class SettingError(ValueError):
    """A setting the model refuses; ``field`` names the setting (None if no single one)."""

    def __init__(self, field: str | None, message: str):
        super().__init__(message)
        self.field = field

    def __reduce__(self):  # crosses to and from the f–I worker process intact
        return (SettingError, (self.field, str(self)))


def parse(name: str, raw) -> object:
    """One setting from its text (URL, text field) or value; raises :class:`SettingError`."""
    if name not in DEFAULTS:
        raise SettingError(None, f"unknown setting {name!r}")
    if name in _NAMES:
        allowed = {"kind": KINDS, "method": tuple(METHODS),
                   "channel_noise": CHANNEL_CHOICES}[name]
        if raw not in allowed:
            raise SettingError(name, f"{name} must be one of {list(allowed)}, got {raw!r}")
        return raw
    if name in _BOOLS:
        if isinstance(raw, str):
            if raw.strip().lower() not in ("true", "false", "1", "0", ""):
                raise SettingError(name, f"{name} must be true or false, got {raw!r}")
            return raw.strip().lower() in ("true", "1")
        return bool(raw)
    if name == "seed":  # every seed in [0, 2^64): exact, never through a float
        return _seed(raw)
    if isinstance(raw, str):
        text = raw.strip()
        if name in _OPTIONAL and text == "":
            return None
        try:
            value = float(text)
        except ValueError:
            raise SettingError(name, f"{name}: not a number: {raw!r}") from None
    else:
        if raw is None and name in _OPTIONAL:
            return None
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise SettingError(name, f"{name}: not a number: {raw!r}") from None
    if math.isnan(value) or (math.isinf(value) and name not in _STOPS):
        raise SettingError(name, f"{name} must be finite, got {raw!r}")
    if name in LIMITS:
        lo, hi = LIMITS[name]
        if not lo <= value <= hi:
            raise SettingError(name, f"{name} must be in [{lo:g}, {hi:g}], got {raw!r}")
    if name in _INTS:
        if value != int(value):
            raise SettingError(name, f"{name} must be a whole number, got {raw!r}")
        return int(value)
    return value


def _seed(raw) -> int:
    lo, hi = LIMITS["seed"]
    if isinstance(raw, bool):
        raise SettingError("seed", f"seed must be a whole number, got {raw!r}")
    try:
        value = int(raw.strip()) if isinstance(raw, str) else int(raw)
    except (TypeError, ValueError, OverflowError):
        raise SettingError("seed", f"seed must be a whole number, got {raw!r}") from None
    if not isinstance(raw, str) and value != raw:
        raise SettingError("seed", f"seed must be a whole number, got {raw!r}")
    if not lo <= value <= hi:
        raise SettingError("seed", f"seed must be in [0, 2^64 - 1], got {raw!r}")
    return value


def settings(**changes) -> dict[str, object]:
    """:data:`DEFAULTS` with ``changes`` applied, every value parsed (raises SettingError)."""
    out = {k: parse(k, v) for k, v in DEFAULTS.items()}
    for k, v in changes.items():
        out[k] = parse(k, v)
    return out


def stimulus_of(s: dict):
    """The :class:`hhfast.Stimulus` the settings describe (µA/cm², ``amplitude = 1``)."""
    from .. import stimulus as S

    kind = s["kind"]
    try:
        if kind == "pulses":
            return S.pulses([(s["p1_start"], s["p1_stop"], s["p1_amp"]),
                             (s["p2_start"], s["p2_stop"], s["p2_amp"])])
        if kind == "step":
            return S.step(s["s_start"], s["s_stop"], s["s_amp"])
        if kind == "train":
            return S.pulse_train(s["tr_start"], s["tr_width"], s["tr_period"], s["tr_count"],
                                 s["tr_amp"])
        return S.ramp(s["r_start"], s["r_stop"], s["r_begin"], s["r_end"], hold=s["r_hold"])
    except (ValueError, TypeError) as e:
        raise SettingError(_blame(kind, str(e)), str(e)) from None


def _blame(kind: str, message: str) -> str | None:
    for word, field in sorted(_BLAME.get(kind, {}).items(), key=lambda kv: -len(kv[0])):
        if message.startswith(word):
            return field
    return None


def _call_kwargs(s: dict) -> dict:
    kw = {name: s[name] for name in FIELDS}
    for name in _INITIAL:
        if s[name] is not None:
            kw[name] = s[name]
    return kw


def noisy(s: dict) -> bool:
    """Do the settings ask for noise (current noise or channel noise)?"""
    return s["noise_sigma"] > 0 or s["channel_noise"] != "none"


def trials_of(s: dict) -> int:
    """Neurons of the settings' run: ``trials`` with noise, else 1 (a deterministic run would
    repeat itself)."""
    return s["trials"] if noisy(s) else 1


def noise_kwargs(s: dict) -> dict:
    """The noise arguments of :func:`hhfast.simulate` for the settings (``{}`` without noise):
    ``noise_sigma``, ``noise_tau`` (current noise), ``channel_noise``, ``area``, ``seed`` and
    ``trial = arange(trials)`` (trial k of the page is the neuron with trial id k)."""
    if not noisy(s):
        return {}
    kw: dict = {"seed": s["seed"], "trial": np.arange(s["trials"])}
    if s["noise_sigma"] > 0:
        kw.update(noise_sigma=s["noise_sigma"], noise_tau=s["noise_tau"])
    if s["channel_noise"] != "none":
        kw.update(channel_noise=s["channel_noise"], area=s["area"])
    return kw


def tolerance_kwargs(s: dict) -> dict:
    """dopri5's ``rtol`` (and ``atol`` when given) for the settings; ``{}`` for a fixed-step
    method (the page shows the fields only with dopri5)."""
    if METHODS[s["method"]].kind != "adaptive":
        return {}
    return {"rtol": s["rtol"], **({"atol": s["atol"]} if s["atol"] is not None else {})}


#: most samples per trace sent to the page (the run is recorded every k steps to stay below)
MAX_SAMPLES = 2500


@dataclass
class Run:
    """One single-neuron run as the page shows it (with noise: ``trials`` trials of it, trial
    0 recorded)."""

    result: object  # SimResult
    stimulus: object  # Stimulus
    current: np.ndarray  # µA/cm² at the recorded times

    @property
    def channel(self) -> bool:
        """A channel-noise run: its state is V and the open fractions, not the gates."""
        return self.result.channel_noise is not None

    @property
    def trials(self) -> int:
        return int(self.result.size)


def _steps(t_stop: float, dt: float) -> int:
    return max(1, math.ceil(t_stop / dt)) if dt > 0 else 1


def _weight(s: dict) -> float:
    """Cost of a neuron-step of the settings' kernel relative to rk4's (channel noise: the
    model's measured ``ChannelSpec.cost_ns`` over rk4's ``SWEEP_CORE_NS_PER_NEURON_STEP``)."""
    if s["channel_noise"] == "none":
        return 1.0
    rk4 = config.SWEEP_CORE_NS_PER_NEURON_STEP["rk4"]
    return max(1.0, CHANNELS[s["channel_noise"]].cost_ns / rk4)


def run_work(s: dict) -> int:
    """Neuron-steps of the run the settings describe: ``trials x ceil(t_stop / dt)`` (one
    trial without noise), a channel-noise step counted at its cost relative to rk4's."""
    return math.ceil(trials_of(s) * _steps(s["t_stop"], s["dt"]) * _weight(s))


def fi_work(s: dict) -> int:
    """Neuron-steps of the settings' f–I curve before the bisection of its edges: both
    branches, ``fi_n`` currents, ``ceil(fi_t_stop / dt)`` steps each."""
    return 2 * s["fi_n"] * _steps(s["fi_t_stop"], s["dt"])


def _over_budget(work: int, budget: int, knob: str, what: str) -> str | None:
    if work <= budget:
        return None
    return (f"{what} = {work:.3g} neuron-steps, above the explorer's budget of {budget:.3g} "
            f"(hhfast.config.{knob})")


def run_settings(s: dict) -> Run:
    """Run the single neuron the settings describe (raises :class:`SettingError`).

    Refused before anything runs when its work is above ``config.EXPLORER_RUN_BUDGET``
    neuron-steps (docs/architecture.md §8)."""
    from .. import config
    from ..engine import simulate

    stim = stimulus_of(s)
    adaptive = METHODS[s["method"]].kind == "adaptive"
    budget = config.EXPLORER_RUN_BUDGET
    trials = trials_of(s)
    if not adaptive:  # dopri5's steps are its own: bounded by max_steps below
        what = "trials x t_stop / dt" if trials > 1 else "t_stop / dt"
        why = _over_budget(run_work(s), budget, "EXPLORER_RUN_BUDGET", what)
        if why is not None:
            if trials > 1:
                raise SettingError("trials", f"{why}: fewer trials, a larger dt or a shorter "
                                             "run")
            raise SettingError("dt", f"{why}: raise dt or shorten the run")
    n_steps = _steps(s["t_stop"], s["dt"])
    every = max(1, -(-n_steps // MAX_SAMPLES))
    extra = {"max_steps": budget * 4 // 6} if adaptive else {}
    if trials > 1:
        extra["neurons"] = [0]  # the traces of trial 0; every trial's spikes
    try:
        res = simulate(stim, t_stop=s["t_stop"], dt=s["dt"], method=s["method"],
                       record=RECORDED_CHANNEL if s["channel_noise"] != "none" else RECORDED,
                       record_every=every, max_spikes=MAX_SPIKES, **extra,
                       **tolerance_kwargs(s), **noise_kwargs(s), **_call_kwargs(s))
    except (ValueError, TypeError) as e:
        msg = str(e)
        field = next((k for k in _BLAME_RUN if msg.startswith(k)), None)
        raise SettingError(field, msg) from None
    return Run(res, stim, np.asarray(stim(res.t), dtype=float))


#: what a run records: the state of the deterministic and current-noise kernels, and of the
#: channel-noise ones (V and the open fractions: their state has no gates)
RECORDED = "V,n,m,h"
RECORDED_CHANNEL = "V,K_open,Na_open"

#: spike times kept per trial (all are counted)
MAX_SPIKES = 2000

#: the settings an error message of simulate can start with (longest first, so "noise_tau"
#: is not taken for a prefix of another name)
_BLAME_RUN = sorted(("t_stop", "dt", "method", "rtol", "atol", "noise_sigma", "noise_tau",
                     "seed", "channel_noise", "area", *FIELDS, *_INITIAL), key=len, reverse=True)


def check_fi(s: dict) -> None:
    """Refuse an f–I request that is inconsistent or above ``config.EXPLORER_FI_BUDGET``
    (raises :class:`SettingError`; nothing is computed)."""
    from .. import config

    if not s["fi_hi"] > s["fi_lo"]:
        raise SettingError("fi_hi", f"fi_hi ({s['fi_hi']}) must be above fi_lo ({s['fi_lo']})")
    why = _over_budget(fi_work(s), config.EXPLORER_FI_BUDGET, "EXPLORER_FI_BUDGET",
                       "2 x fi_n x fi_t_stop / dt")
    if why is not None:
        raise SettingError("fi_t_stop", f"{why}: fewer currents, less time or a larger dt")


def fi_settings(s: dict, progress=None):
    """The f–I curve (both branches, the band) of the settings' parameters, without noise
    (the noise settings belong to the single-neuron view); ``progress(done, total)`` as in
    :func:`hhfast.fi_curve`."""
    from ..fi import fi_curve

    check_fi(s)
    currents = np.linspace(s["fi_lo"], s["fi_hi"], s["fi_n"])
    fields = {name: s[name] for name in FIELDS}
    try:
        return fi_curve(currents, t_stop=s["fi_t_stop"], dt=s["dt"], method=s["method"],
                        branch="both", tol=0.01, progress=progress, **tolerance_kwargs(s),
                        **fields)
    except (ValueError, TypeError) as e:
        raise SettingError(None, str(e)) from None


#: in the f–I worker process: the shared array ``(job, done, total)`` its curves report their
#: progress in (set by :func:`_fi_worker_init`), read by the server's waiting thread
_FI_PROGRESS = None


def _fi_worker_init(shared) -> None:
    """Initializer of the f–I worker process: keep the progress array, exit with the parent."""
    global _FI_PROGRESS
    _FI_PROGRESS = shared
    _exit_with_parent()


def fi_job(s: dict, job: int):
    """:func:`fi_settings` in the f–I worker process, reporting ``(job, done, total)`` to the
    shared progress array after each batched run."""
    shared = _FI_PROGRESS

    def report(done, total):
        if shared is not None:
            with shared.get_lock():
                shared[0], shared[1], shared[2] = job, done, total

    return fi_settings(s, progress=report)


def _exit_with_parent() -> None:
    """Initializer of the f–I worker process: exit when the process that started it is gone
    (killed without the chance to shut its pool down), instead of lingering idle."""
    import os
    import threading
    import time

    parent = os.getppid()

    def watch():
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch, daemon=True, name="hhfast-fi-parent-watch").start()
