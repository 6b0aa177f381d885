"""Notebooks the CI's ``--nbmake`` run leaves out.

08_inference.ipynb trains a neural posterior with ``sbi`` (PyTorch, a heavy install, minutes of
training): it is run by hand in its own environment and stored with its outputs; the simulator
it uses is tested in CI by tests/test_inference.py.  Run it in Jupyter, or with
``jupyter nbconvert --to notebook --execute --inplace notebooks/08_inference.ipynb``, in an
environment with ``pip install sbi`` (CPU PyTorch).
"""

collect_ignore = ["08_inference.ipynb"]
