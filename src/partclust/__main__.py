"""``python -m partclust``: the command line (see :mod:`partclust.runner.cli`)."""

from partclust.runner.cli import run

run()
