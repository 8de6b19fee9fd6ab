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


def test_import_nutpie_without_plots_and_the_real_arviz_for_other_names():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO_ROOT / "src"), os.environ.get("PYTHONPATH", ""))
                                                       if p)}
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {"plots": False, "pyplot": False, "arviz_in_modules": False, "same_functions": True,
                    "other_name_is_real": True}
