"""``python -m partclust``: the command line (see :mod:`partclust.runner.cli`)."""

import sys

from partclust.runner.cli import main

sys.exit(main())
