# Reference values from R for the statistics engine (engine/survival.py, engine/rates.py,
# engine/meta.py). The tests read tests/fixtures/r_survival.json, so CI does not need R.
#
# Regenerate (Debian; R 4.2, survival 3.5, metafor 3.8, jsonlite 1.8 were used):
#   apt-get update && apt-get install -y r-base-core r-cran-survival r-cran-metafor
#   cd <repo root> && Rscript tests/r/make_fixtures.R
#
# Every input data set is built INSIDE this script (fixed seeds, or written out literally, or
# taken from the survival package: lung, aml, veteran) and stored in the JSON next to R's
# results, so the Python tests use exactly the data R saw. R's NA/NaN/Inf are written as null.

suppressPackageStartupMessages({
  library(survival)
  library(jsonlite)
  library(metafor)
})

CONF_TYPES <- c("log-log", "log", "plain")

# ---------------------------------------------------------------- data sets
datasets <- list()
add <- function(name, time, status, group = NULL, times = NULL, note = "") {
  d <- list(time = as.numeric(time), status = as.integer(status), note = note)
  if (!is.null(group)) d$group <- as.character(group)
  if (is.null(times)) {
    mx <- max(time)
    times <- sort(unique(c(0, 0.5, quantile(time, c(0.1, 0.25, 0.5, 0.75), type = 1),
                           mx / 3, mx, mx + 1)))
  }
  d$times <- as.numeric(times)
  datasets[[name]] <<- d
}

# times 1,2,3,4 all events: S = 0.5 exactly over [2, 3) -> R median = 2.5 (midpoint rule);
# S reaches 0 at t = 4 (undefined CI there).
add("half_exact", c(1, 2, 3, 4), c(1, 1, 1, 1), times = c(0, 1, 2, 2.5, 3, 4, 5))

# S = 0.5 exactly after t = 2 and stays there until the last (censored) time 4: median is the
# midpoint between 2 and the last follow-up time (R's 'lastpt' rule) = 3.
add("half_to_end", c(1, 2, 3, 4), c(1, 1, 0, 0), times = c(1, 2, 3, 4, 5))

# heavy ties, censoring at event times, two groups
set.seed(20240501)
n <- 60
tt <- sample(1:8, n, replace = TRUE)
ss <- rbinom(n, 1, 0.7)
gg <- rep(c("no", "yes"), length.out = n)
add("ties_two_groups", tt, ss, gg, times = c(0, 1, 2, 2.5, 5, 8, 9),
    note = "integer times 1..8: heavy ties; censorings at event times")

# very heavy ties (>16 events at one time: exercises the closed-form Efron sums)
set.seed(7)
n <- 400
tt <- sample(1:5, n, replace = TRUE)
gg <- sample(c("control", "treated"), n, replace = TRUE)
ss <- rbinom(n, 1, ifelse(gg == "treated", 0.55, 0.75))
add("heavy_ties", tt, ss, gg, times = c(1, 3, 5))

# censored observations before the first event and at time 0; events at time 0
add("zero_and_early_censor", c(0, 0, 0.5, 1, 1, 2, 3, 3, 4, 6, 7, 9),
    c(1, 0, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0), times = c(0, 0.25, 1, 3.5, 9, 10))

# median not reached (most patients censored)
set.seed(11)
n <- 40
tt <- round(rexp(n, 1 / 30), 1) + 0.1
ss <- rbinom(n, 1, 0.25)
add("median_not_reached", tt, ss)

# median reached but the upper confidence limit is not
set.seed(3)
n <- 30
tt <- round(rexp(n, 1 / 10), 2) + 0.01
ss <- as.integer(tt < 8 | runif(n) < 0.2)
tt[ss == 0] <- tt[ss == 0] + 10
add("upper_ci_not_reached", tt, ss)

# survival::lung (status 1 = censored, 2 = dead), groups by sex
lung2 <- survival::lung
add("lung_sex", lung2$time, lung2$status - 1, ifelse(lung2$sex == 1, "male", "female"),
    times = c(0, 100, 180, 365, 500, 730, 1022, 1100))
# three-group log-rank: lung by ph.ecog 0/1/2 (ph.ecog 3 and NA dropped)
lung3 <- lung2[!is.na(lung2$ph.ecog) & lung2$ph.ecog <= 2, ]
add("lung_ecog3", lung3$time, lung3$status - 1, paste0("ecog", lung3$ph.ecog),
    times = c(0, 180, 365, 730))
# survival::aml (Maintained / Nonmaintained)
add("aml", aml$time, aml$status, as.character(aml$x), times = c(0, 5, 12, 23, 48, 161, 200))
# survival::veteran, four cell types (4-group log-rank; continuous-ish times, few ties)
add("veteran_celltype", veteran$time, veteran$status, as.character(veteran$celltype),
    times = c(0, 30, 90, 180, 365))

# ---------------------------------------------------------------- helpers
na_to_null <- function(x) { x <- as.numeric(x); x[!is.finite(x)] <- NA; x }

km_one <- function(time, status, times) {
  out <- list()
  for (ct in CONF_TYPES) {
    fit <- survfit(Surv(time, status) ~ 1, conf.type = ct, conf.int = 0.95)
    s <- summary(fit, censored = TRUE)
    q <- quantile(fit, probs = 0.5)
    at <- function(ext) {
      z <- summary(fit, times = times, extend = ext)
      list(time = z$time, n_risk = z$n.risk, n_event = z$n.event, n_censor = z$n.censor,
           surv = na_to_null(z$surv), std_err = na_to_null(z$std.err),
           lower = na_to_null(z$lower), upper = na_to_null(z$upper))
    }
    out[[ct]] <- list(
      table = list(time = s$time, n_risk = s$n.risk, n_event = s$n.event,
                   n_censor = s$n.censor, surv = na_to_null(s$surv),
                   std_err = na_to_null(s$std.err),
                   lower = na_to_null(s$lower), upper = na_to_null(s$upper)),
      median = na_to_null(unname(q$quantile)),
      median_lower = na_to_null(unname(q$lower)),
      median_upper = na_to_null(unname(q$upper)),
      at = at(FALSE), at_extend = at(TRUE))
  }
  # a 90% interval as well (conf_level is a parameter)
  fit90 <- survfit(Surv(time, status) ~ 1, conf.type = "log-log", conf.int = 0.90)
  s90 <- summary(fit90, censored = TRUE)
  q90 <- quantile(fit90, probs = 0.5)
  out[["log-log-90"]] <- list(lower = na_to_null(s90$lower), upper = na_to_null(s90$upper),
                              median_lower = na_to_null(unname(q90$lower)),
                              median_upper = na_to_null(unname(q90$upper)))
  out
}

results <- list()
for (name in names(datasets)) {
  d <- datasets[[name]]
  r <- list(km = km_one(d$time, d$status, d$times))
  if (!is.null(d$group)) {
    levs <- sort(unique(d$group))
    r$km_by_group <- list()
    for (lv in levs) {
      i <- d$group == lv
      r$km_by_group[[lv]] <- km_one(d$time[i], d$status[i], d$times)
    }
    g <- factor(d$group, levels = levs)
    sd <- survdiff(Surv(d$time, d$status) ~ g)
    df <- sum(sd$exp > 0) - 1
    r$logrank <- list(levels = levs, chisq = sd$chisq, df = df,
                      p = pchisq(sd$chisq, df, lower.tail = FALSE),
                      observed = as.numeric(sd$obs), expected = as.numeric(sd$exp),
                      var = as.numeric(sd$var))
    if (length(levs) == 2) {
      # HR of levs[2] versus reference levs[1]
      cf <- coxph(Surv(d$time, d$status) ~ g, ties = "efron")
      sm <- summary(cf)
      r$cox <- list(reference = levs[1], comparison = levs[2],
                    beta = unname(coef(cf)), se = unname(sqrt(diag(vcov(cf)))),
                    hr = unname(sm$conf.int[1, 1]), ci_low = unname(sm$conf.int[1, 3]),
                    ci_high = unname(sm$conf.int[1, 4]), p = unname(sm$coefficients[1, 5]),
                    loglik = cf$loglik[2], loglik_null = cf$loglik[1],
                    lr_p = unname(sm$logtest["pvalue"]), score_p = unname(sm$sctest["pvalue"]))
      # same model with the reference swapped
      g2 <- factor(d$group, levels = rev(levs))
      cf2 <- coxph(Surv(d$time, d$status) ~ g2, ties = "efron")
      r$cox_swapped <- list(reference = levs[2], hr = unname(exp(coef(cf2))))
    }
  }
  results[[name]] <- r
}

# ---------------------------------------------------------------- rates
rates <- list(binom = list(), two = list())
for (xn in list(c(0, 10), c(3, 10), c(10, 10), c(17, 50), c(1, 1), c(45, 120))) {
  for (cl in c(0.95, 0.90)) {
    b <- binom.test(xn[1], xn[2], conf.level = cl)
    rates$binom[[length(rates$binom) + 1]] <- list(x = xn[1], n = xn[2], conf_level = cl,
      estimate = unname(b$estimate), lower = b$conf.int[1], upper = b$conf.int[2])
  }
}
for (tab in list(c(12, 40, 5, 38), c(30, 60, 18, 62), c(2, 9, 7, 10), c(0, 15, 6, 14),
                 c(20, 20, 13, 20), c(45, 130, 30, 128))) {
  x <- tab[c(1, 3)]; nn <- tab[c(2, 4)]
  pt <- suppressWarnings(prop.test(x, nn, correct = TRUE))
  ft <- fisher.test(matrix(c(x[1], nn[1] - x[1], x[2], nn[2] - x[2]), 2, byrow = TRUE))
  expct <- outer(nn, c(sum(x), sum(nn) - sum(x))) / sum(nn)
  rates$two[[length(rates$two) + 1]] <- list(x1 = x[1], n1 = nn[1], x2 = x[2], n2 = nn[2],
    chisq = unname(pt$statistic), chisq_p = unname(pt$p.value),
    diff_low = pt$conf.int[1], diff_high = pt$conf.int[2],
    fisher_p = ft$p.value, min_expected = min(expct))
}

# ---------------------------------------------------------------- meta-analysis (metafor)
# Proportions on the logit scale: escalc(measure = "PLO") adds 0.5 to both cells only for
# studies with 0 or n events (add = 1/2, to = "only0", metafor's default).
# The 95% prediction interval is computed here by hand from metafor's estimates with a t
# distribution on k - 2 df (Higgins et al. 2009, R meta's default); metafor 3.8's predict()
# uses the normal quantile instead.
# threshold: REML convergence; tol: uniroot tolerance of PM (metafor defaults 1e-5 and
# .Machine$double.eps^0.25 are too coarse for a 1e-6 comparison).
ctrl <- list(threshold = 1e-12, maxiter = 10000, tol = 1e-13)
meta_fit <- function(yi, vi) {
  out <- list()
  for (m in c("DL", "REML", "PM")) {
    f <- rma(yi = yi, vi = vi, method = m, control = ctrl)
    k <- length(yi)
    pi <- if (k >= 3) {
      h <- qt(0.975, k - 2) * sqrt(f$tau2 + f$se^2)
      c(f$beta[1] - h, f$beta[1] + h)
    } else c(NA, NA)
    w <- 1 / (vi + f$tau2)
    out[[m]] <- list(mu = f$beta[1], se = f$se, ci_low = f$ci.lb, ci_high = f$ci.ub,
                     tau2 = f$tau2, Q = f$QE, df = k - 1, Q_p = f$QEp,
                     I2_higgins = max(0, (f$QE - (k - 1)) / f$QE) * 100,
                     pi_low = na_to_null(pi[1]), pi_high = na_to_null(pi[2]),
                     weights = 100 * w / sum(w))
  }
  out
}
meta <- list()
prop_sets <- list(
  heterogeneous = list(events = c(12, 30, 5, 0, 22, 40), n = c(40, 60, 38, 15, 25, 41)),
  homogeneous = list(events = c(10, 11, 9, 12), n = c(40, 42, 38, 41)),
  two_studies = list(events = c(8, 20), n = c(30, 35)))
for (nm in names(prop_sets)) {
  s <- prop_sets[[nm]]
  es <- escalc(measure = "PLO", xi = s$events, ni = s$n)
  meta[[paste0("prop_", nm)]] <- c(list(kind = "proportion", events = s$events, n = s$n,
                                         yi = as.numeric(es$yi), vi = as.numeric(es$vi)),
                                    meta_fit(as.numeric(es$yi), as.numeric(es$vi)))
}
hr_sets <- list(
  hr_set = list(hr = c(0.55, 0.72, 0.48, 0.90, 0.61), lo = c(0.38, 0.50, 0.30, 0.62, 0.35),
                hi = c(0.80, 1.04, 0.77, 1.31, 1.06)),
  hr_hetero = list(hr = c(0.35, 1.10, 0.60, 0.95), lo = c(0.22, 0.85, 0.41, 0.70),
                   hi = c(0.56, 1.42, 0.88, 1.29)))
for (nm in names(hr_sets)) {
  s <- hr_sets[[nm]]
  yi <- log(s$hr); sei <- (log(s$hi) - log(s$lo)) / (2 * 1.959964)
  meta[[nm]] <- c(list(kind = "hr", hr = s$hr, ci_low = s$lo, ci_high = s$hi,
                       yi = yi, vi = sei^2), meta_fit(yi, sei^2))
}

out <- list(
  generated_by = "tests/r/make_fixtures.R",
  r_version = R.version.string,
  survival_version = as.character(packageVersion("survival")),
  metafor_version = as.character(packageVersion("metafor")),
  datasets = datasets, survival = results, rates = rates, meta = meta)
dir.create("tests/fixtures", showWarnings = FALSE, recursive = TRUE)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null", pretty = FALSE),
           "tests/fixtures/r_survival.json")
cat("wrote tests/fixtures/r_survival.json\n")
