"""Replicating a SAS PROC MCMC analysis of a partially clustered trial in PyMC.

Stages, one module each, in the order data flows:
``data`` (load + validate → Design) → ``model`` (PyMC models) → ``fit`` (sampling, summary, run
record) → ``exact`` / ``reml`` / ``sas`` / ``references`` → ``compare`` → ``study`` → ``report``.
"""

__version__ = "0.1.0"
