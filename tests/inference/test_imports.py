"""nutpie imported with arviz_base's data functions only: no plotting package, the real arviz for anyone else."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from partclust.layout import REPO_ROOT

PROBE = """
import json, sys
from partclust.inference.imports import import_nutpie
nutpie = import_nutpie()
import arviz_base
ns = sys.modules["nutpie.sample"]
seen = {"plots": "arviz_plots" in sys.modules, "pyplot": "matplotlib.pyplot" in sys.modules,
        "arviz_in_modules": "arviz" in sys.modules,
        "same_functions": ns.arviz.from_dict is arviz_base.from_dict and ns.arviz.dict_to_dataset is arviz_base.dict_to_dataset}
ess = ns.arviz.ess  # any other name: the real arviz is loaded and answers
import arviz
seen["other_name_is_real"] = ess is arviz.ess and "arviz_plots" in sys.modules
print(json.dumps(seen))
"""


def _fresh_process(code: str) -> dict:
    """Run ``code`` in a fresh interpreter with this checkout's package; its last line of output, as JSON."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO_ROOT / "src"), os.environ.get("PYTHONPATH", ""))
                                                       if p)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_import_nutpie_without_plots_and_the_real_arviz_for_other_names():
    seen = _fresh_process(PROBE)
    assert seen == {"plots": False, "pyplot": False, "arviz_in_modules": False, "same_functions": True,
                    "other_name_is_real": True}


WARM = """
import json, sys
from partclust.inference.imports import warm_up
warm_up()
print(json.dumps({m: m in sys.modules for m in ("nutpie", "pymc", "arviz_stats", "netCDF4", "arviz_plots")}))
"""


def test_warm_up_loads_what_a_first_fit_needs_and_no_plotting_package():
    assert _fresh_process(WARM) == {"nutpie": True, "pymc": True, "arviz_stats": True, "netCDF4": True,
                                    "arviz_plots": False}
