"""The documentation site's own Sphinx extension: tables generated when the site is built, so
that they cannot drift from what they describe (the docs read the package, never the reverse),
and the resolution of hhfast's short cross-references.

Directives (usable from MyST pages as ```` ```{hhfast-methods} ```` etc.):

``hhfast-methods``
    The method registry ``hhfast.kernels.METHODS`` (what ``hh.methods()`` returns).
``hhfast-channel-models``
    The channel-noise registry ``hhfast.kernels.CHANNELS``.
``hhfast-benchmark FILE``
    A table of ``benchmarks/results/FILE`` (a JSON file written by a benchmark script), with
    the machine and date it was measured on, read from ``benchmarks/results/sources.toml``.
``hhfast-results``
    Every file of ``benchmarks/results`` with its script, machine and date.

Cross-references.  A docstring may name an hhfast object by its short name (``:func:`verify_sweep```
in ``hhfast.sweeps.store``) where the site documents it under its public name
(``hhfast.verify_sweep``).  A reference Sphinx cannot resolve is looked up among the documented
``hhfast`` objects whose name ends with it; exactly one match resolves it, none or several leave
it unresolved.  A reference to an object that exists in the package but has no entry of its
own (a kernel helper named in a module docstring, ``hhfast.kernels.cpu.drive``) links to the
page of the documented module that holds it.  Anything else (a name that does not exist, e.g.
after a rename) stays unresolved, which the nitpicky strict build reports.

Docstrings write absolute values as ``|x|``; reStructuredText would read those as
substitutions, so ``|`` outside literals is escaped before the docstring is parsed.

A results file without its entry in ``sources.toml`` (script, machine, date) is a build
warning, so the strict build (``-W``) fails rather than show a number of unknown origin.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from docutils import nodes
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - hhfast depends on tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
SOURCES = RESULTS / "sources.toml"
#: what a results file is (the benchmarks' caches, such as ``*_reference.npz``, are not)
RESULT_KINDS = (".json", ".jsonl", ".csv", ".md", ".png", ".log")

logger = logging.getLogger(__name__)


# -- building docutils tables -------------------------------------------------------------------
def _cell(value) -> nodes.entry:
    """One table cell; a value written as ``code`` (backticks) becomes a literal."""
    text = "" if value is None else str(value)
    para = nodes.paragraph()
    if len(text) > 1 and text.startswith("`") and text.endswith("`"):
        para += nodes.literal(text=text[1:-1])
    else:
        para += nodes.Text(text)
    entry = nodes.entry()
    entry += para
    return entry


def table(header: list[str], rows: list[list], title: str | None = None) -> nodes.table:
    """A docutils table of ``rows`` under ``header`` (strings or numbers already formatted)."""
    tab = nodes.table(classes=["hhfast-generated"])
    if title:
        tab += nodes.title(text=title)
    group = nodes.tgroup(cols=len(header))
    tab += group
    for _ in header:
        group += nodes.colspec(colwidth=1)
    head = nodes.thead()
    group += head
    hrow = nodes.row()
    for h in header:
        hrow += _cell(h)
    head += hrow
    body = nodes.tbody()
    group += body
    for r in rows:
        row = nodes.row()
        for v in r:
            row += _cell(v)
        body += row
    return tab


def _sig(x: float, digits: int = 3) -> str:
    """``x`` with ``digits`` significant digits, in e-notation when large or small."""
    if x is None:
        return "–"
    if x == 0:
        return "0"
    if abs(x) >= 1e4 or abs(x) < 1e-2:
        return f"{x:.{digits - 1}e}"
    return f"{x:.{digits}g}"


# -- the registries ---------------------------------------------------------------------------
class MethodsTable(SphinxDirective):
    """``hhfast.kernels.METHODS`` as a table (name, order, kind, noise, description, reference)."""

    def run(self):
        from hhfast.kernels import METHODS

        rows = [[f"`{s.name}`", s.order, s.kind, "yes" if s.noise else "no", s.description,
                 s.reference] for s in METHODS.values()]
        return [table(["method", "order", "kind", "current noise", "what it does", "reference"],
                      rows)]


class ChannelModelsTable(SphinxDirective):
    """``hhfast.kernels.CHANNELS`` as a table."""

    def run(self):
        from hhfast.kernels import CHANNELS

        rows = [[f"`{s.name}`", s.description, s.sources, s.state, s.scheme,
                 f"{s.cost_ns:g}", s.reference] for s in CHANNELS.values()]
        return [table(["channel_noise=", "model", "normals per step", "state", "scheme",
                       "sweep cost estimate (ns per neuron-step per core)", "reference"], rows)]


# -- benchmark results ------------------------------------------------------------------------
def sources() -> dict:
    """``benchmarks/results/sources.toml``: file name -> {script, machine, date, ...}."""
    with open(SOURCES, "rb") as f:
        return tomllib.load(f)


def _provenance(name: str, location) -> nodes.paragraph | None:
    """The line under a generated table: file, script, machine, date (a warning if missing)."""
    meta = sources().get(name)
    missing = [k for k in ("script", "machine", "date") if not (meta or {}).get(k)]
    if missing:
        logger.warning("benchmarks/results/%s: no %s in benchmarks/results/sources.toml", name,
                       ", ".join(missing), location=location)
        return None
    para = nodes.paragraph(classes=["hhfast-provenance"])
    para += nodes.emphasis(text="Generated from ")
    para += nodes.literal(text=f"benchmarks/results/{name}")
    para += nodes.emphasis(text=" (written by ")
    para += nodes.literal(text=meta["script"])
    para += nodes.emphasis(text=f"); machine: {meta['machine']}; measured {meta['date']}.")
    return para


def _yardstick(d: dict):
    head = ["method", "dtype", "hhfast (neuron-steps/s)", "C yardstick", "hhfast / C",
            "ratio of fastest runs", "spike counts differing"]
    rows = [[f"`{r['method']}`", r["dtype"], _sig(r["hhfast"]), _sig(r["C"]), f"{r['ratio']:.2f}",
             f"{r['ratio_best']:.2f}", r["count_mismatches"]] for r in d["rows"]]
    a = d["args"]
    return head, rows, (f"{a['N']} neurons × {a['T']:g} ms at dt = {a['dt']:g} ms, "
                        f"{a['threads']} threads, medians of {a['repeats']}")


def _channel_throughput(d: dict):
    head = ["row", "neuron-steps/s", "neuron-s per wall-s", "× deterministic euler"]
    rows = [[k, _sig(v.get("steps_per_s")), _sig(v["neuron_s_per_s"]), _sig(v["ratio"])]
            for k, v in d["rows"].items()]
    return head, rows, f"{d['workload']}; patch area {d['area']:g} µm²"


def _channel_sweep_cost(d: dict):
    head = ["kernel", "ns per neuron-step", "× euler"]
    base = d["ns_per_neuron_step"]["euler"]
    rows = [[k, f"{v:.1f}", f"{v / base:.1f}"] for k, v in d["ns_per_neuron_step"].items()]
    return head, rows, f"{d['neurons']} neurons × {d['steps']} steps, {d['threads']} thread(s)"


def _markov_speed(d: dict):
    head = ["area (µm²)", "neuron-seconds per wall second", "transitions per second",
            "ns per transition"]
    rows = [[f"{r['area']:g}", _sig(r["neuron_s_per_s"]), _sig(r["events_per_s"]),
             f"{r['ns_per_event']:.0f}"] for r in d["speed"]]
    return head, rows, "the exact Markov reference at I = 0, one thread"


def _ab(rows_in: list, workload: str):
    head = ["tree", "method", "noise", "neuron-steps/s", "× euler of that tree"]
    rows = [[r["tree"], f"`{r['method']}`", r["noise"], _sig(r["steps_per_s"]),
             f"{r['ratio_to_euler']:.2f}"] for r in rows_in]
    return head, rows, workload


def _compile(rows_in: list):
    head = ["tree", "method", "noise", "cold compile, CPU s", "wall s"]
    rows = [[r["tree"], f"`{r['method']}`", r["noise"], f"{r['cpu_s']:.1f}", f"{r['wall_s']:.0f}"]
            for r in rows_in]
    return head, rows, "cold compile of the kernel (empty Numba cache, one process each)"


RENDERERS = {
    "yardstick_all_methods.json": _yardstick,
    "channel_throughput.json": _channel_throughput,
    "channel_sweep_cost_1thread.json": _channel_sweep_cost,
    "channel_sweep_cost_2threads.json": _channel_sweep_cost,
    "markov_reference.json": _markov_speed,
    "rearm_cost.json": lambda d: [_ab(d["throughput"], d["workload"]), _compile(d["compile"])],
    "rearm_throughput_ab.json": lambda d: _ab(d["rows"], d["workload"]),
}


class BenchmarkTable(SphinxDirective):
    """A table of one results file, with its provenance."""

    required_arguments = 1

    def run(self):
        name = self.arguments[0]
        path = RESULTS / name
        if name not in RENDERERS or not path.exists():
            logger.warning("hhfast-benchmark: no table for %s (known: %s)", name,
                           ", ".join(sorted(RENDERERS)), location=self.get_location())
            return []
        self.env.note_dependency(str(path))
        self.env.note_dependency(str(SOURCES))
        made = RENDERERS[name](json.loads(path.read_text()))
        out = [table(head, rows, title=caption)
               for head, rows, caption in (made if isinstance(made, list) else [made])]
        prov = _provenance(name, self.get_location())
        if prov is not None:
            out.append(prov)
        return out


class ResultsIndex(SphinxDirective):
    """Every file of benchmarks/results with its script, machine and date."""

    def run(self):
        self.env.note_dependency(str(SOURCES))
        meta = sources()
        rows = []
        for p in sorted(RESULTS.iterdir()):
            if p.name == SOURCES.name or p.is_dir() or p.suffix not in RESULT_KINDS:
                continue  # caches (*_reference.npz, git-ignored) and dotfiles are no results
            m = meta.get(p.name)
            if not m or not all(m.get(k) for k in ("script", "machine", "date")):
                logger.warning("benchmarks/results/%s: no script, machine and date in "
                               "benchmarks/results/sources.toml", p.name, location=self.get_location())
                continue
            rows.append([f"`{p.name}`", f"`{m['script']}`", m["machine"], m["date"]])
        return [table(["file", "written by", "machine", "measured"], rows)]


# -- short references to hhfast's own objects -----------------------------------------------------
_ROLE_TYPES = {"func": ("function", "method"), "meth": ("method", "function"),
               "class": ("class", "exception"), "exc": ("exception", "class"),
               "data": ("data", "attribute"), "attr": ("attribute", "property", "data"),
               "obj": None, "mod": ("module",)}


def resolve_short(app, env, node, contnode):
    """``missing-reference``: resolve an hhfast name Sphinx did not find (module docstring)."""
    if node.get("refdomain") != "py" or node.get("reftype") not in _ROLE_TYPES:
        return None
    from sphinx.util.nodes import make_refnode

    target = node["reftarget"].lstrip("~.")
    objects = env.get_domain("py").objects
    found = _resolve(target, node.get("reftype"), node.get("py:module"), node.get("py:class"),
                     objects)
    if found is None:
        return None
    entry = objects[found]
    return make_refnode(app.builder, node["refdoc"], entry.docname, entry.node_id, contnode,
                        found)


_MISSING = object()


def _lookup(full: str):
    """The object named ``full`` (``hhfast....``), imported, or ``_MISSING``; a dataclass field
    or annotated attribute of a class counts as existing (its class is returned)."""
    import importlib

    parts = full.split(".")
    for i in range(len(parts), 0, -1):  # the longest importable module prefix
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for k, attr in enumerate(parts[i:]):
            if hasattr(obj, attr):
                obj = getattr(obj, attr)
            elif k == len(parts) - i - 1 and attr in getattr(obj, "__annotations__", {}):
                return obj
            else:
                return _MISSING
        return obj
    return _MISSING


def _one(names, objects) -> str | None:
    """The one documented name among ``names`` that all name the same object (its canonical
    name where documented, else the shortest); ``None`` if they name different objects."""
    names = sorted(set(names), key=lambda n: (len(n), n))
    if not names:
        return None
    objs = [_lookup(n) for n in names]
    if any(o is not objs[0] for o in objs[1:]):
        return None
    obj = objs[0]
    canonical = f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}"
    return canonical if canonical in names else names[0]


def _resolve(target: str, reftype: str, module: str | None, cls: str | None, objects):
    """The documented name a reference to ``target`` goes to, or ``None`` (reported)."""
    # 1. the name, relative to the current class, module and the module's parents
    candidates = [target]
    if module:
        parts = module.split(".")
        if cls:
            candidates.append(f"{module}.{cls}.{target}")
        candidates += [".".join(parts[:i] + [target]) for i in range(len(parts), 0, -1)]
    for full in candidates:
        if not full.startswith("hhfast.") or _lookup(full) is _MISSING:
            continue
        parts = full.split(".")
        for i in range(len(parts), 0, -1):  # itself if documented, else what holds it
            prefix = ".".join(parts[:i])
            if prefix in objects and (i == len(parts) or objects[prefix].objtype in
                                      ("module", "class", "exception")):
                return prefix
    # 2. a documented object whose name ends with the target (a re-exported name)
    types = _ROLE_TYPES[reftype]
    tail = target.split(".", 2)[2] if target.startswith("hhfast.") and target.count(".") > 1 \
        else target.removeprefix("hhfast.")
    hits = [name for name, e in objects.items() if name.startswith("hhfast.")
            and (name == "hhfast." + tail or name.endswith("." + tail))
            and (types is None or e.objtype in types)]
    if hits:
        return _one(hits, objects)
    # 3. a bare name held by documented modules (all the same object)
    if "." not in target:
        holders = [f"{name}.{target}" for name, e in objects.items()
                   if e.objtype == "module" and name.startswith("hhfast")
                   and _lookup(f"{name}.{target}") is not _MISSING]
        one = _one(holders, objects) if holders else None
        if one is not None:
            return one.rsplit(".", 1)[0] if one not in objects else one
    return None


def escape_bars(app, what, name, obj, options, lines):
    """``autodoc-process-docstring``: ``|x|`` (an absolute value) is text, not a substitution;
    literals (````...````) and table rows are left alone."""
    for k, line in enumerate(lines):
        s = line.strip()
        if "|" not in line or (s.startswith("|") and s.endswith("|")) or s.startswith(("+-", "+=")):
            continue
        parts = line.split("``")
        for j in range(0, len(parts), 2):  # outside double-backtick literals
            parts[j] = parts[j].replace("|", "\\|")
        lines[k] = "``".join(parts)


def setup(app):
    app.connect("missing-reference", resolve_short)
    app.connect("autodoc-process-docstring", escape_bars)
    app.add_directive("hhfast-methods", MethodsTable)
    app.add_directive("hhfast-channel-models", ChannelModelsTable)
    app.add_directive("hhfast-benchmark", BenchmarkTable)
    app.add_directive("hhfast-results", ResultsIndex)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
