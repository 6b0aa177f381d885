"""The package version, in a module of its own so that any layer can read it without importing
the package's ``__init__`` (docs/architecture.md §1); pyproject.toml reads it from here."""

__version__ = "0.1.0"
