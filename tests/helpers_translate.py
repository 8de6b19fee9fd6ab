"""Builders for the translator's tests: generated tables, PROC MCMC programs written for the tests, log densities."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from partclust.translate.program_data import ProgramData

HEIGHTS_PROGRAM = """\
proc mcmc data=heights outpost=postout nmc=50000 seed=7893;
   parms b0 0 b1 0 s2 1 s2g 1;
   prior b: ~ normal(0, var = 10000);
   prior s: ~ igamma(0.01, scale = 0.01);
   random gamma ~ normal(0, var = s2g) subject=family monitor=(gamma);
   mu = b0 + b1 * gf + gamma;
   model height ~ normal(mu, var = s2);
run;
"""
"""SAS's random-intercept example model, written for the tests: a random intercept per family,
igamma(0.01, scale=0.01) on both variances, normal(0, var=10000) on the fixed effects."""

FAST = "FAST_COMPILE"
"""PyTensor's mode without C compilation: a few evaluations per model cost less than compiling."""


def trial_table(seed: int = 3, sizes=(4, 7, 3, 6), n_control: int = 9, placeholder: str | None = "0") -> pd.DataFrame:
    """A generated partially nested trial: treated in clusters ``c1 …``, controls coded ``placeholder`` (or their
    own ids when ``None``), a covariate ``pre``, shuffled rows; every cell as text (as files are read)."""
    rng = np.random.default_rng(seed)
    rows = []
    for k, size in enumerate(sizes):
        u = rng.normal(0, 0.8)
        for _ in range(size):
            pre = rng.normal()
            rows.append((f"c{k + 1}", 1, pre, 0.3 + 0.5 + 0.4 * pre + u + rng.normal(0, 0.9)))
    for k in range(n_control):
        pre = rng.normal()
        rows.append((placeholder if placeholder is not None else f"k{k}", 0, pre, 0.3 + 0.4 * pre + rng.normal(0, 1.2)))
    df = pd.DataFrame(rows, columns=["coach", "tx", "pre", "y"])
    df = df.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    return df.map(lambda v: repr(float(v)) if isinstance(v, float) else str(v))


def intercept_table(seed: int = 5, sizes=(3, 5, 2, 4, 6)) -> pd.DataFrame:
    """A generated random-intercept table: column ``Fam`` (text labels), ``sex`` (``F``/``M``), outcome ``Ht``."""
    rng = np.random.default_rng(seed)
    rows = []
    for k, size in enumerate(sizes):
        u = rng.normal(0, 2.0)
        for _ in range(size):
            sex = "F" if rng.random() < 0.5 else "M"
            rows.append((f"fam{k}", sex, 65 + (3 if sex == "M" else 0) + u + rng.normal(0, 1.5)))
    df = pd.DataFrame(rows, columns=["Fam", "sex", "Ht"])
    return df.map(lambda v: repr(float(v)) if isinstance(v, float) else str(v))


def program_data(df: pd.DataFrame, source: str = "generated.csv") -> ProgramData:
    return ProgramData(df.astype(str), source, "0" * 64)


def transformed_point(model, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Constrained ``values`` (one per free variable) as the model's value variables (transformed)."""
    point = {}
    for rv in model.free_RVs:
        vv = model.rvs_to_values[rv]
        x = np.asarray(values[rv.name], dtype=float)
        tr = model.rvs_to_transforms.get(rv)
        point[vv.name] = np.asarray(tr.forward(x, *rv.owner.inputs).eval(mode=FAST)) if tr is not None else x
    return point


def logp_function(model, jacobian: bool = False):
    """``values → log density`` (constrained values; compiled once)."""
    fn = model.compile_logp(jacobian=jacobian, mode=FAST)
    return lambda values: float(fn(transformed_point(model, values)))


def logp(model, values: dict[str, np.ndarray], jacobian: bool = False) -> float:
    """The model's log density at constrained ``values`` (one per free variable)."""
    return logp_function(model, jacobian)(values)


def random_point(model, priors: dict, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Constrained values inside every prior's support: free scalars from their prior's support, vectors N(0, 1)."""
    out = {}
    for rv in model.free_RVs:
        shape = tuple(int(s) for s in rv.shape.eval())
        prior = priors.get(rv.name)
        if prior is None:
            out[rv.name] = rng.normal(0, 1, shape)
            continue
        lo, hi = prior.support
        if math.isfinite(lo) and math.isfinite(hi):
            out[rv.name] = rng.uniform(lo + 0.05 * (hi - lo), hi - 0.05 * (hi - lo), shape)
        elif math.isfinite(lo):
            out[rv.name] = lo + np.exp(rng.normal(-0.3, 0.5, shape))
        else:
            out[rv.name] = rng.normal(0, 1.5, shape)
    return out


# ---- PROC MCMC programs written for the tests, in varied styles -------------------------------------------
PROGRAM_A = """\
/* A partially nested trial written in a BUGS-like style:
   precisions, a prefix wildcard, IF/ELSE DO blocks, a derived quantity. */
PROC MCMC DATA=trial NBI=1000 NMC=20000 THIN=2 SEED=77 NTU=500 MONITOR=(_PARMS_ effect);
   PARMS b0 0 b1 0 bpre 0;          * fixed effects: one block;
   PARMS s2u 1 / SLICE;
   PARMS (s2c s2t) 1;
   PRIOR b: ~ NORMAL(0, PREC=1e-4);
   PRIOR s2u ~ IGAMMA(2, ISCALE=3);
   PRIOR s2c s2t ~ GAMMA(SHAPE=2, SCALE=0.5);
   RANDOM u ~ NORMAL(0, SD=SQRT(s2u)) SUBJECT=coach MONITOR=(u);
   effect = b1 / SQRT(s2t);
   IF tx = 1 THEN DO;
      tau = 1 / s2t;
      mu = b0 + b1 + bpre*pre + u;
   END;
   ELSE DO;
      tau = 1 / s2c;
      mu = b0 + bpre*pre;
   END;
   MODEL y ~ NORMAL(mu, PREC=tau);
RUN;
"""

PROGRAM_B = """\
proc mcmc data=heights seed=1 nmc=5000 outpost=post;
   model Ht ~ n(mu, v=s2);          /* the likelihood first */
   random f ~ normal(0, var=s2f) subject=Fam monitor=(f);
   male = (sex = 'M');
   mu = b0 + bm*male + f;
   prior s2f ~ expon(scale=4);
   prior s2 ~ uniform(0, 50);
   prior b0 bm ~ general(0);
   parms b0 60 bm 0;
   parms s2f 1 s2=2;
run;
"""

PROGRAM_C = """\
%let draws = 20000;
proc mcmc data=two nmc=&draws seed=11 monitor=(mu1 mu2 sig21 sig22 mudif);
   parms mu1 0 mu2 0 sig21 1 sig22 1;
   prior mu1 mu2 ~ general(0);
   prior sig21 ~ general(-log(sig21), lower=0);
   prior sig22 ~ general(-log(sig22), lower=0);
   if grp = 1 then mu = mu1; else mu = mu2;
   if grp = 1 then s2 = sig21;
   else s2 = sig22;
   mudif = mu1 - mu2;
   model y ~ normal(mu, sd=sqrt(s2));
run;
"""

PROGRAM_D = """\
proc mcmc data=d;
  parms b0 1 b1 0;
  parms s2 1;
  prior b0 ~ normal(0, sd=10);
  prior b1 ~ normal(0, var=4);
  prior s2 ~ igamma(shape=3, scale=2);
  mu = b0 * exp(b1 * pre);
  model y ~ normal(mu, var=s2);
run;
"""


def two_groups(seed: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.r_[np.ones(9), np.full(6, 2.0)]
    y = np.where(g == 1, rng.normal(120, 20, g.size), rng.normal(122, 6, g.size))
    return pd.DataFrame({"grp": g.astype(int).astype(str), "y": [repr(float(v)) for v in y]})
