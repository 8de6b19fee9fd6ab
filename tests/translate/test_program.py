"""Reading PROC MCMC programs: macros, comments, steps, statements, and every refused construct naming its line."""

from __future__ import annotations

import re
import textwrap

import pytest

from partclust.errors import SpecError
from partclust.layout import REPO_ROOT
from partclust.models import Flat, Gamma, InverseGamma, Normal, Reciprocal, Uniform
from partclust.translate.macros import evaluate_condition
from partclust.translate.program import If, RefusedError, parse_program_text, read_program

SAS_PROGRAM = REPO_ROOT / "sas_reference" / "partially_clustered.sas"

BASIC = """\
proc mcmc data=trial nmc=1000 seed=3;
   parms b0 0 b1 0 s2u 1 s2e 1;
   prior b0 b1 ~ normal(0, var=10000);
   prior s2u ~ gamma(shape=1, iscale=1);
   prior s2e ~ uniform(0, 100);
   random u ~ normal(0, var=s2u) subject=coach;
   mu = b0 + b1*tx + u*tx;
   model y ~ normal(mu, var=s2e);
run;
"""


def program(text: str, step=None):
    return parse_program_text(textwrap.dedent(text), step, path="test.sas")


def test_the_project_program_has_two_steps_made_by_its_macro():
    with pytest.raises(SpecError) as err:
        read_program(SAS_PROGRAM)
    msg = str(err.value)
    assert "2 PROC MCMC steps" in msg and "--step" in msg
    assert "step 1 (line 98, in %partclust(model=single) at line 171)" in msg
    assert "parameters b0 b1 s2u s2e_control s2e_treated" in msg
    single, per = read_program(SAS_PROGRAM, 1), read_program(SAS_PROGRAM, 2)
    assert single.parameters == ("b0", "b1", "s2u", "s2e")
    assert per.parameters == ("b0", "b1", "s2u", "s2e_control", "s2e_treated")
    assert [b.names for b in per.blocks] == [("b0", "b1"), ("s2u",), ("s2e_control", "s2e_treated")]
    assert per.priors == {"b0": Normal(0, 10000), "b1": Normal(0, 10000), "s2u": Gamma(1, 1),
                          "s2e_control": Uniform(0, 100), "s2e_treated": Uniform(0, 100)}
    assert per.options["nmc"] == 200000 and per.options["nbi"] == 5000 and per.options["thin"] == 10
    assert per.options["seed"] == 20110 and per.options["data"] == "work.run1"
    assert per.options["monitor"] == ["b0", "b1", "s2u", "s2e_control", "s2e_treated"]
    assert [(r.name, r.subject, r.line) for r in per.randoms] == [("u", "j", 135)]
    assert per.model.line == 144 and isinstance(per.body[1], If) and per.body[1].line == 142
    with pytest.raises(SpecError, match="--step 3: .* has 2 PROC MCMC step"):
        read_program(SAS_PROGRAM, 3)


def test_case_comments_aliases_and_statement_order():
    p = program("""\
        /* a comment; with a semicolon */
        PROC MCMC DATA=lib.trial OUTPOST=post NBI=10 NMC=100 THIN=2 SEED=9 NTU=50 STATISTICS(ALPHA=0.1)=SUMMARY
                  DIAGNOSTICS=(ESS MCSE) PLOTS=NONE MONITOR=(_PARMS_ diff);
           * statement comment with = and ~ ;
           MODEL Y ~ N(Mu, V=S2);            /* the likelihood first */
           ods select PostSumInt;
           RANDOM u ~ Gaussian(M=0, PREC=tau) SUBJECT=Coach MONITOR=(u) NOOUTPOST;
           diff = B1 - B0;
           MU = B0 + B1*tx + U;
           HYPERPRIOR tau ~ gamma(sp=2, is=1);
           PRIOR b: ~ normal(0, sd=100);
           PRIOR s2 ~ igamma(shape=0.01, s=0.01);
           PARM b0 b1=0 / slice;
           PARMS tau 1 s2 .5;
        RUN;
        """)
    assert p.parameters == ("b0", "b1", "tau", "s2")
    assert [b.options for b in p.blocks] == [("slice",), ()]
    assert p.blocks[1].initial == (1.0, 0.5)
    assert p.priors == {"b0": Normal(0, 10000), "b1": Normal(0, 10000), "tau": Gamma(2, 1),
                        "s2": InverseGamma(0.01, 0.01)}
    assert p.prior_statements[1].targets == ("b:",) and p.prior_statements[1].names == ("b0", "b1")
    assert p.randoms[0].dist.key == "prec" and p.randoms[0].options == {"monitor": ["u"], "nooutpost": True}
    assert p.derived == ("diff",)
    assert p.options["statistics"] == {"options": [{"ALPHA": 0.1}], "value": "SUMMARY"}
    assert any("ODS" in n for n in p.notes)


def test_macros_resolve_with_lines_of_the_definition():
    p = program("""\
        %let n = 2000;   /* burn-in follows */
        %let prior_b = normal(0, var=1e4);
        %macro fit(resid=one, seed=1);
          proc mcmc data=d nmc=&n seed=&seed;
            parms b0 0 s2 1;
            %if &resid = one %then %do;
              prior b0 ~ &prior_b;
            %end;
            %else prior b0 ~ general(0);
            prior s2 ~ general(-log(s2), lower=0);
            model y ~ normal(b0, var=s2);
          run;
        %mend fit;
        %fit(seed=5)
        %fit(resid=two)
        """, step=2)
    assert p.options == {"data": "d", "nmc": 2000, "seed": 1}
    assert p.priors == {"b0": Flat(), "s2": Reciprocal()}
    assert p.call == "%fit(resid=two) at line 15" and p.line == 4 and p.n_steps == 2
    first = program(BASIC.replace("nmc=1000", "nmc=&nmc") .replace("proc mcmc", "%let nmc=7;\nproc mcmc"))
    assert first.options["nmc"] == 7


@pytest.mark.parametrize("cond,truth", [
    ("single ne single and single ne per_condition", "0"), ("per_condition = per_condition", "1"),
    ("3 + 4 > 6", "1"), ("10 < 9", "0"), ("abc < abd", "1"), (" = ", "1"), ("0", "0"), ("not (2 = 3)", "1"),
    ("5 eq 5 or x", "1"),
])
def test_macro_conditions_evaluate_as_eval(cond, truth):
    assert evaluate_condition(cond) == truth


def test_a_condition_the_translator_cannot_evaluate_is_skipped_only_without_a_step():
    text = """\
        %macro out(ds);
          %if %sysfunc(exist(&ds)) %then %do; proc print data=&ds; run; %end;
        %mend;
        %out(work.a)
        """ + BASIC
    assert program(text).parameters == ("b0", "b1", "s2u", "s2e")
    bad = """\
        %macro m;
          %if %sysfunc(exist(a)) %then %do;
        """ + BASIC + """\
          %end;
        %mend;
        %m
        """
    with pytest.raises(SpecError, match=r"line 2 \(in %m at line 14\): the %IF condition uses %SYSFUNC"):
        program(bad)


def test_the_block_structure_of_if_else_and_do():
    p = program("""\
        proc mcmc data=two;
          parms mu1 0 mu2 0 v1 1 v2 1;
          prior mu: ~ general(0);
          prior v1 ~ general(-log(v1), lower=0);
          prior v2 ~ general(-log(v2), lower=0);
          if g = 1 then do;
            mu = mu1;
            s2 = v1;
          end;
          else do;
            mu = mu2;
            s2 = v2;
          end;
          do;
            k = 1;
          end;
          if g = 'x' then k = 2;
          model y ~ normal(mu, var=s2);
        run;
        """)
    first, group, second = p.body[0], p.body[1], p.body[2]
    assert isinstance(first, If) and first.line == 6 and first.else_line == 10
    assert [a.target for a in first.then] == ["mu", "s2"] and [a.target for a in first.orelse] == ["mu", "s2"]
    assert group.target == "k" and group.line == 15
    assert isinstance(second, If) and second.orelse == ()
    kinds = [r.kind for r in p.rows]
    assert kinds.count("do") == 1 and kinds.count("end") == 3 and kinds.count("else") == 1


REFUSED = [
    ("array b[3] b1-b3;", "ARRAY statements"),
    ("begincnst; c = 1; endcnst;", "BEGINCNST/ENDCNST"),
    ("beginnodata; c = 1; endnodata;", "BEGINNODATA/ENDNODATA"),
    ("preddist outpred=pred;", "PREDDIST"),
    ("random v ~ mvn(mu, cov) subject=coach;", "mvn() in RANDOM is not supported"),
    ("random v ~ gamma(2, iscale=1) subject=coach;", "gamma() in RANDOM is not supported"),
    ("random v ~ normal(0, var=s2u) subject=_obs_;", "SUBJECT=_OBS_"),
    ("random v ~ normal(0, var=s2u) subject=coach zero=first;", "RANDOM option ZERO"),
    ("random v ~ normal(0, var=s2u);", "RANDOM needs SUBJECT="),
    ("do i = 1 to 3; end;", "iterative DO loops"),
    ("if tx;", "subsetting IF"),
    ("if tx = 1 then model y ~ normal(mu, var=s2e);", "MODEL after THEN/ELSE"),
    ("if tx = 1 then do; prior s2u ~ gamma(1, iscale=1); end;", "inside IF/DO"),
    ("model y ~ normal(mu, var=s2e);", "a second MODEL statement"),
    ("z = lgamma(s2u);", "the function lgamma() is not supported"),
    ("z = log(s2u, 2);", "log() takes one argument"),
    ("else z = 1;", "ELSE without an IF"),
    ("end;", "END without DO"),
    ("put mu=;", "PUT statements"),
    ("s2u = 3;", "assign to s2u, which is a parameter"),
    ("u = 3;", "assign to u, which is a random effect"),
    ("parms s2e 2;", "parameter s2e is declared twice"),
    ("parms extra 0;", "extra has no PRIOR"),
    ("prior zz ~ normal(0, var=1);", "PRIOR names zz, which no PARMS"),
    ("prior q: ~ normal(0, var=1);", "wildcard q: matches no parameter"),
    ("prior b1 ~ normal(0, var=1);", "b1 already has a prior"),
    ("prior b1 ~ beta(1, 1);", "unknown distribution beta()"),
    ("prior b1 ~ t(0, 1, 3);", "unknown distribution t()"),
    ("prior b1 ~ normal(b0, var=1);", "hierarchical priors"),
    ("prior b1 ~ general(log(b1));", "general() supports a constant"),
    ("y2 = b0 * &undefined;", "macro variable &undefined is not defined"),
    ("by site;", "BY statements"),
]


@pytest.mark.parametrize("statement,reason", REFUSED, ids=[r[1][:30] for r in REFUSED])
def test_every_refused_construct_names_its_line_and_statement(statement, reason):
    lines = BASIC.splitlines()
    lines.insert(7, "   " + statement)  # line 8, before the MODEL statement
    text = "\n".join(lines) + "\n"
    if statement.startswith("prior b1"):  # the statement clashes with line 3's prior only where intended
        text = text.replace("prior b0 b1 ~ normal(0, var=10000);", "prior b0 ~ normal(0, var=10000);") \
            if "already" not in reason else text
    with pytest.raises(RefusedError) as err:
        program(text)
    msg = str(err.value)
    assert "\n" not in msg
    assert reason in msg
    m = re.match(r"test\.sas, line (\d+): ", msg)
    assert m, msg
    line = int(m.group(1))
    assert 2 <= line <= 10
    if "no PRIOR" not in reason:
        first_word = statement.split()[0].rstrip(";")
        assert first_word.lower() in msg.lower()


def test_refused_options_and_other_programs():
    with pytest.raises(RefusedError, match=r"line 1: the PROC MCMC option JOINTMODEL is not supported"):
        program(BASIC.replace("seed=3", "seed=3 jointmodel"))
    with pytest.raises(RefusedError, match=r"line 1: the PROC MCMC option FROBNICATE is not known"):
        program(BASIC.replace("seed=3", "seed=3 frobnicate=2"))
    with pytest.raises(RefusedError, match="line 8: the MODEL option"):
        program(BASIC.replace("var=s2e);", "var=s2e) icount=3;"))
    with pytest.raises(RefusedError, match=r"line 8: the distribution t\(\) in MODEL"):
        program(BASIC.replace("model y ~ normal(mu, var=s2e)", "model y ~ t(mu, sd=s2e, 3)"))
    with pytest.raises(RefusedError, match="line 8: .*exactly one of var=, sd= and prec="):
        program(BASIC.replace("normal(mu, var=s2e)", "normal(mu, var=s2e, sd=s2e)"))
    with pytest.raises(RefusedError, match="line 1: the step has no MODEL"):
        program(BASIC.replace("   model y ~ normal(mu, var=s2e);\n", ""))
    with pytest.raises(RefusedError, match=r"line 9: mu is assigned both before and after the MODEL statement \(line 8\)"):
        program(BASIC.replace("run;", "mu = b0;\nrun;"))
    with pytest.raises(RefusedError, match="line 10: RUN before the END of the DO group opened at line 9"):
        program(BASIC.replace("run;", "do; z = 1;\nrun;"))


def test_macro_refusals_name_their_line():
    with pytest.raises(SpecError, match=r"line 1: %INCLUDE"):
        program("%include 'other.sas';\n" + BASIC)
    with pytest.raises(SpecError, match=r"line 2 \(in %m at line 4\): iterative %DO"):
        program("%macro m;\n%if 1 %then %do i = 1 %to 3; %end;\n%mend;\n%m\n" + BASIC)
    with pytest.raises(SpecError, match=r"line 1: indirect macro references"):
        program("%let a = &&b;\n" + BASIC)
    with pytest.raises(SpecError, match="line 1: a /\\* comment is never closed"):
        program("/* open\n" + BASIC)
    with pytest.raises(SpecError, match="has no PROC MCMC step"):
        program("data a; x = 1; run;\n")
