/*============================================================================================
  partially_clustered.sas -- PROC MCMC fits of the partially clustered trial (run1.csv)

  y = b0 + b1*treat + u_j*treat + e,   u_j ~ N(0, s2u),   e ~ N(0, s2e)  (or s2e per arm)

  Two models, one macro call each:
    single         one residual variance s2e
    per_condition  s2e_control for treat = 0, s2e_treated for treat = 1

  The priors are those of the original 2011 SAS analysis (sas_reference/README.md). Each
  statement carries its PyMC equivalent (src/partclust/model.py) in a comment.

  Output (read by src/partclust/sas.py; see sas_reference/README.md):
    sas_reference/output/<model>/outpost.csv        OUTPOST= posterior sample (the primary input)
    sas_reference/output/<model>/postsumint.csv     ODS PostSumInt
    sas_reference/output/<model>/postintervals.csv  ODS PostIntervals
    sas_reference/output/<model>/mcse.csv           ODS MCSE
    sas_reference/output/<model>/ess.csv            ODS ESS
    sas_reference/output/<model>/autocorr.csv       ODS AutoCorr
    sas_reference/output/<model>/run_info.csv       SAS version, seed and sampling settings
  A further chain (chain=2, 3, ... with its own seed) writes the same names with _chain<k> added.

  Run from the repository root (so that ./data and ./sas_reference resolve), e.g.
      sas sas_reference/partially_clustered.sas -log sas_reference/partially_clustered.log
  or set ROOT below to the repository's absolute path (SAS Studio / Viya: a path on the server).
============================================================================================*/

%let root = .;                                  /* repository root                           */
%let datafile = &root/data/run1.csv;            /* the dataset (see data/README.md)          */
%let outroot  = &root/sas_reference/output;     /* real SAS output only                      */

/* Sampling settings (assumed: the original program's are unknown; see README.md).
   NBI=5000 burn-in iterations after PROC MCMC's own tuning phase; NMC=200000 iterations kept
   before thinning; THIN=10 keeps every 10th, i.e. 20,000 draws per chain. The default
   random-walk Metropolis updates s2u slowly when 100 of its 110 effects see no data, so the
   chain is long enough for bulk and tail ESS well above the study's gate of 400 for every
   parameter; thinning does not improve the estimates, it only keeps OUTPOST (115 columns) at a
   few tens of MB.                                                                           */
%let nbi  = 5000;
%let nmc  = 200000;
%let thin = 10;
%let seed = 20110;                              /* fixed: the run is reproducible            */

options dlcreatedir;                            /* LIBNAME creates missing output folders    */
ods graphics off;

/*--- data: old-Mac line ends (CR only), hence TERMSTR=CR -----------------------------------*/
filename run1 "&datafile" termstr=cr;           /* PyMC: partclust.data.load_design          */

proc import datafile=run1 out=work.run1 dbms=csv replace;
    getnames=yes;                               /* columns i, j, treat, y                    */
    guessingrows=max;                           /* j numeric: u_1 ... u_110 in OUTPOST       */
run;

/*--- export one data set to CSV with full precision (no rounding by display formats) -----*/
%macro export(ds, file);
    %if %sysfunc(exist(&ds)) %then %do;
        data work._export;
            set &ds;
            format _numeric_ best32.;
        run;
        proc export data=work._export outfile="&file" dbms=csv replace;
        run;
    %end;
    %else %put WARNING: data set &ds was not produced, so &file was not written.;
%mend export;

/*--- one PROC MCMC run -------------------------------------------------------------------*/
%macro partclust(model=single, seed=&seed, chain=);
    %local outdir sfx chainno;
    %if &model ne single and &model ne per_condition %then %do;
        %put ERROR: model must be single or per_condition, not &model..;
        %return;
    %end;
    %let outdir = &outroot/&model;
    %if %length(&chain) %then %do;
        %let sfx = _chain&chain;
        %let chainno = &chain;
    %end;
    %else %do;
        %let sfx = ;
        %let chainno = 1;
    %end;
    libname _mkdir "&outdir";                   /* creates the folder (DLCREATEDIR)          */
    libname _mkdir clear;

    proc datasets lib=work nolist nowarn;
        delete outpost postsumint postintervals mcse ess autocorr;
    quit;

    ods exclude Corr Cov;                       /* 115 x 115 matrices: not worth printing      */
    ods output PostSumInt    = work.postsumint  /* posterior N, mean, SD, HPD interval       */
               PostIntervals = work.postintervals  /* equal-tail and HPD intervals           */
               MCSE          = work.mcse        /* Monte Carlo standard errors               */
               ESS           = work.ess         /* effective sample sizes                    */
               AutoCorr      = work.autocorr;   /* autocorrelations                          */

    proc mcmc data=work.run1
              outpost=work.outpost              /* PyMC: the trace's posterior group          */
              seed=&seed nbi=&nbi nmc=&nmc thin=&thin   /* PyMC: random_seed, tune, draws     */
              statistics=all                    /* PostSumInt, PostSummaries, PostIntervals   */
              diagnostics=(autocorr ess mcse)
              plots=none
              %if &model = single %then %do;
              monitor=(b0 b1 s2u s2e)
              %end;
              %else %do;
              monitor=(b0 b1 s2u s2e_control s2e_treated)
              %end;
              ;
        /* Initial values (assumed): b 0, variances 1. One PARMS statement = one sampling block. */
        parms b0 0 b1 0;                        /* PyMC: free RVs b0, b1                      */
        parms s2u 1;                            /* PyMC: free RV s2u                          */
        %if &model = single %then %do;
        parms s2e 1;                            /* PyMC: free RV s2e                          */
        %end;
        %else %do;
        parms s2e_control 1 s2e_treated 1;      /* PyMC: s2e_control, s2e_treated             */
        %end;

        prior b0 b1 ~ normal(0, var=10000);     /* pm.Normal("b0", mu=0, sigma=100): VAR=     */
                                                /* is a variance, PyMC's sigma an SD          */
        prior s2u ~ gamma(shape=1, iscale=1);   /* pm.Gamma("s2u", alpha=1, beta=1): ISCALE=  */
                                                /* is PyMC's rate beta                        */
        %if &model = single %then %do;
        prior s2e ~ uniform(0, 100);            /* pm.Uniform("s2e", 0, 100), on the variance */
        %end;
        %else %do;
        prior s2e_control s2e_treated ~ uniform(0, 100);  /* pm.Uniform(..., 0, 100) each     */
        %end;

        /* One effect per value of j: 10 treated clusters and the 100 controls' singletons
           (multiplied by treat = 0 below). MONITOR=(u) reports and saves u_1 ... u_110.
           PyMC: pm.Normal("u_sas", 0, sigma=sqrt(s2u), dims="sas_cluster") (sas_singletons). */
        random u ~ normal(0, var=s2u) subject=j monitor=(u);

        mu = b0 + b1*treat + u*treat;           /* PyMC: b0 + b1*treat + u[cluster]*treat     */
        %if &model = single %then %do;
        model y ~ normal(mu, var=s2e);          /* pm.Normal("y", mu, sigma=sqrt(s2e))        */
        %end;
        %else %do;
        if treat = 1 then s2 = s2e_treated;     /* pt.switch(treat == 1, s2e_t, s2e_c)        */
        else s2 = s2e_control;
        model y ~ normal(mu, var=s2);           /* pm.Normal("y", mu, sigma=sqrt(s2))         */
        %end;
    run;

    data work.run_info;                         /* what produced these files                  */
        length key $32 value $200;
        key = "model";     value = "&model";                output;
        key = "chain";     value = "&chainno";              output;
        key = "seed";      value = "&seed";                 output;
        key = "nbi";       value = "&nbi";                  output;
        key = "nmc";       value = "&nmc";                  output;
        key = "thin";      value = "&thin";                 output;
        key = "sysvlong";  value = "&sysvlong";             output;
        key = "sysscp";    value = "&sysscp";               output;
        key = "datafile";  value = "&datafile";             output;
        key = "run_date";  value = "&sysdate9 &systime";    output;
    run;

    %export(work.outpost,       &outdir/outpost&sfx..csv)
    %export(work.postsumint,    &outdir/postsumint&sfx..csv)
    %export(work.postintervals, &outdir/postintervals&sfx..csv)
    %export(work.mcse,          &outdir/mcse&sfx..csv)
    %export(work.ess,           &outdir/ess&sfx..csv)
    %export(work.autocorr,      &outdir/autocorr&sfx..csv)
    %export(work.run_info,      &outdir/run_info&sfx..csv)
%mend partclust;

%partclust(model=single)
%partclust(model=per_condition)

/* More chains for the study's R-hat (optional): same settings, another seed each, e.g.
   %partclust(model=single, seed=20111, chain=2)
   %partclust(model=per_condition, seed=20111, chain=2)                                       */
