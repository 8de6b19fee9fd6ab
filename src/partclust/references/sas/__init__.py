"""Read the output of ``sas_reference/partially_clustered.sas``.

Nobody here can run SAS, so this module only *reads* what a SAS user produced; it never makes SAS
numbers up. The primary input is PROC MCMC's OUTPOST sample (one file per chain; CSV from PROC
EXPORT, or the ``.sas7bdat`` data set itself). Our own code computes every summary from those draws
(:func:`partclust.inference.summarize`); the ODS tables SAS printed (PostSumInt, PostIntervals, MCSE, ESS,
AutoCorr) are read when present and used only to cross-check that the draws are the ones SAS
summarized.

Layout (``<model>`` is ``single`` or ``per_condition``)::

    sas_reference/output/<model>/outpost.csv          chain 1 (the program's default call)
    sas_reference/output/<model>/outpost_chain2.csv   further chains, one file each (optional)
    sas_reference/output/<model>/postsumint.csv       ODS tables of the run that wrote outpost.csv;
    …/postintervals.csv, mcse.csv, ess.csv, autocorr.csv   ``postsumint_chain2.csv`` etc. likewise
    sas_reference/output/<model>/run_info.csv         SAS version, seed, NBI/NMC/THIN (optional)

OUTPOST columns: ``Iteration``, the parameters (``b0 b1 s2u s2e`` or ``… s2e_control s2e_treated``),
one column ``u_<j>`` per value of the SUBJECT= variable ``j`` (the treated clusters and the controls'
singletons), and PROC MCMC's bookkeeping ``Log…`` columns. Column names are matched without regard
to case. Files named otherwise (e.g. ``outpost_synthetic.csv``) are read only when given explicitly,
so a synthetic test fixture can never be taken for real SAS output.

Every problem raises :class:`SasOutputError`, whose message names the file, the column (and rows)
at fault and says what to do.
"""

from partclust.errors import SasOutputError
from partclust.references.sas.files import EXTENSIONS, OUTPOST, RUN_INFO, TABLES, available, find_outpost, model_dir
from partclust.references.sas.ods import DEFAULT_MCSE_UNITS, SasOutput, cross_check_status, read_sas_output
from partclust.references.sas.outpost import MIN_DRAWS_PER_CHAIN, RANDOM_EFFECT, SasPosterior, read_outpost

__all__ = [
    "DEFAULT_MCSE_UNITS", "EXTENSIONS", "MIN_DRAWS_PER_CHAIN", "OUTPOST", "RANDOM_EFFECT", "RUN_INFO", "TABLES",
    "SasOutput", "SasOutputError", "SasPosterior", "available", "cross_check_status", "find_outpost", "model_dir",
    "read_outpost", "read_sas_output",
]
