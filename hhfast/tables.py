"""Plain-text tables of results (CSV), for the command line and for users' spreadsheets."""

from __future__ import annotations

import io

import numpy as np

from .errors import InputValueError
from .result import SimResult

__all__ = ["trace_csv"]


def trace_csv(res: SimResult, neuron: int = 0, path=None) -> str:
    """CSV of one recorded neuron (position ``neuron`` in ``res.recorded``): columns
    ``t_ms, I_uA_cm2`` and the recorded state variables (``V_mV, n, m, h``), preceded by ``#``
    lines with the method, dt and spike times.  Returns the text; writes it to ``path`` if given.
    """
    if not res.traces:
        raise InputValueError("trace_csv needs a run with record='V' (or 'V,n,m,h')")
    if not -len(res.recorded) <= neuron < len(res.recorded):
        raise InputValueError(f"neuron must index res.recorded (length {len(res.recorded)}), "
                         f"got {neuron!r}")
    flat = int(res.recorded[neuron])
    stims = res.stimulus
    stim = np.ravel(stims)[flat] if isinstance(stims, (list, tuple, np.ndarray)) else stims
    amp = float(np.ravel(res.params.get("amplitude", np.ones(1)))[flat])
    bias = float(np.ravel(res.params.get("bias", np.zeros(1)))[flat])
    cols = {"t_ms": res.t, "I_uA_cm2": bias + amp * stim(res.t)}
    for name, arr in res.traces.items():
        cols["V_mV" if name == "V" else name] = arr[neuron]
    buf = io.StringIO()
    buf.write(f"# hhfast run: method={res.method}, dt={res.dt} ms, neuron {flat}\n")
    times = ", ".join(f"{t:.6f}" for t in res.spike_times[flat])
    buf.write(f"# spikes: {int(res.spike_count.reshape(-1)[flat])} at [{times}] ms\n")
    buf.write(",".join(cols) + "\n")
    np.savetxt(buf, np.column_stack(list(cols.values())), delimiter=",", fmt="%.10g")
    text = buf.getvalue()
    if path is not None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    return text
