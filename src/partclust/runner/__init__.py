"""Runner layer: executing notebooks (papermill), the Dask engine of the studies, and the command line.

``notebooks`` (execute a notebook, coerce papermill parameters) · ``cache`` (content-addressed reuse of
executed notebooks) · ``plan`` (which analysis notebooks a study runs, and when) · ``dask`` (workers,
kernel reuse, scheduling of a multi-seed study) · ``study`` (``partclust study`` from start to end) ·
``calibration`` (the replicate engine of the calibration studies) · ``calibrate`` (``partclust sbc`` and
``simulate``) · ``cli``.
"""

__all__ = ["main"]


def main(argv=None) -> int:
    """Run the ``partclust`` command line; returns its exit code (see :mod:`partclust.runner.cli`)."""
    from partclust.runner.cli import main as _main

    return _main(argv)
