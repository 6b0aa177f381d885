"""Sphinx configuration of the hhfast documentation site.

Build it (the ``docs`` extra holds what it needs) with::

    python -m sphinx -W --keep-going -n -b html docs docs/_build/html

``-W --keep-going -n``: every warning fails the build, after all are reported, and every
cross-reference to one of hhfast's own names must resolve (external names that cannot be
resolved offline are listed in ``nitpick_ignore_regex`` below; there is no intersphinx, since
CI has no internet).  The notebooks are shown from their stored outputs (they are executed by
the test suite, nbmake); the method, channel-model and benchmark tables are generated at build
time (``docs/_ext/hhfast_sphinx.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # the hhfast of this checkout, installed or not
sys.path.insert(0, str(HERE / "_ext"))

from hhfast._version import __version__  # noqa: E402

project = "hhfast"
author = "the hhfast developers"
copyright = "the hhfast developers"
version = release = __version__

extensions = [
    "myst_nb",  # MyST markdown pages and notebooks (includes myst_parser)
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx_copybutton",
    "hhfast_sphinx",
]

exclude_patterns = ["_build", "**/.ipynb_checkpoints", "notebooks/*.zarr", "Thumbs.db", ".DS_Store"]
suppress_warnings = []

# -- MyST and notebooks -------------------------------------------------------------------------
nb_execution_mode = "off"  # stored outputs; nbmake runs the notebooks in the test suite
myst_heading_anchors = 3   # [text](page.md#a-heading) links to headings down to ###
myst_enable_extensions = ["dollarmath", "colon_fence"]
nb_merge_streams = True
nb_output_stderr = "remove"  # compile notices, progress bars and warnings of the stored run

# -- API reference --------------------------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = False
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types and units
autodoc_member_order = "bysource"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()


def _write_unlisted_api() -> None:
    """``docs/generated/unlisted.md``: the public names (``hhfast.__all__``) and the modules of
    hhfast that ``docs/api.md`` does not list, so that a new public function or module is in the
    API reference (and cross-references to it resolve) from its first build; moving it into its
    section of ``api.md`` takes it off this page."""
    import importlib
    import pkgutil
    import re

    import hhfast

    listed = re.findall(r"^ {3}(hhfast[\w.]*)\s*$", (HERE / "api.md").read_text(), re.M)

    def get(name):
        try:
            mod, _, attr = name.rpartition(".")
            return getattr(importlib.import_module(mod), attr) if mod else None
        except (ImportError, AttributeError):
            return importlib.import_module(name)

    shown = {id(get(n)) for n in listed}
    names = [f"hhfast.{n}" for n in hhfast.__all__ if not n.startswith("_")
             and id(getattr(hhfast, n)) not in shown
             and not isinstance(getattr(hhfast, n), type(hhfast))]
    modules = [f"hhfast.{m.name}" for m in pkgutil.iter_modules(hhfast.__path__)
               if not m.name.startswith("_") and f"hhfast.{m.name}" not in listed]
    text = ["# Not yet sorted into the API reference", "",
            "Generated when the site is built: public names of `hhfast` and modules of the "
            "package that the [API reference](../api.md) does not list yet.", ""]
    for what, entries, template in (("Names", names, None),
                                     ("Modules", modules, "autosummary/module-docstring.rst")):
        if entries:
            text += [f"## {what}", "", "```{eval-rst}", ".. autosummary::", "   :toctree: .",
                     "   :nosignatures:"] + ([f"   :template: {template}"] if template else [])
            text += [""] + [f"   {e}" for e in entries] + ["```", ""]
    if not names and not modules:
        text += ["Every public name and module is listed there.", ""]
    out = HERE / "generated" / "unlisted.md"
    out.parent.mkdir(exist_ok=True)
    if not out.exists() or out.read_text() != "\n".join(text):
        out.write_text("\n".join(text))


_write_unlisted_api()

# -- strict cross-references -----------------------------------------------------------------------
nitpicky = True
_EXTERNAL = (r"(numpy|np|scipy|xarray|xr|zarr|dask|distributed|matplotlib|mpl|numba|panel|bokeh"
             r"|tqdm|pandas|pathlib|os|typing|collections|concurrent|threading|enum|dataclasses"
             r"|argparse|tomllib|fsspec|builtins)(\..*)?")
nitpick_ignore_regex = [
    (r"py:.*", _EXTERNAL),
    (r"py:.*", r"(int|float|str|bool|bytes|dict|list|tuple|set|callable|object|None|type"
               r"|Path|Callable|Iterable|Sequence|Mapping|Any|ndarray|array_like|Figure|Axes"
               r"|Dataset|Client)"),
    (r"py:exc", r"(ValueError|TypeError|RuntimeError|KeyboardInterrupt|OSError|FutureWarning"
                r"|DeprecationWarning|UserWarning|Warning)"),
]

# -- HTML ------------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"hhfast {release}"
html_static_path: list[str] = []
templates_path = ["_templates"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_show_sourcelink = False
