# Do pool_synthetic()'s 95% intervals cover? A simulation with a known population.
# Usage: Rscript bench/pooling.R [replicates_gan] [threads]      # defaults: 30 1
#
# Population: x ~ N(0, 1); g a two-level factor with P(g = "b") = plogis(-0.2 + 0.8 x);
# y = 1 + 0.5 x + 0.8 [g = "b"] + N(0, 1); w = exp(0.5 + 0.3 x + N(0, 0.5^2)), skewed,
# rounded to cents; count ~ Poisson(exp(0.2 + 0.3 x)), an integer. The analysis is
# glm(y ~ x + g), whose population coefficients are (1, 0.5, 0.8) by construction.
#
# Each replicate draws a "real" sample of N_REAL rows, makes M = 5 synthetic data sets
# of the same size and pools y ~ x + g with pool_synthetic(). An interval counts as
# covering when it contains the target:
#   observed   - the estimate from the real sample (inference = "observed");
#   population - the true coefficient (inference = "population").
# Rules: "simple", "proper" and "fully" as in pool_synthetic() ("fully" has no observed
# version); "rubin": Rubin's rules for multiple imputation (population only), which
# pool_synthetic() does not offer; and "naive": the first synthetic set analysed as if
# it were real data (estimate +- 1.96 se from glm()).
#
# Synthesizers:
#   parametric simple - sequential regressions fitted to the real sample (g: its share;
#     x | g, y | x, g and log w | x, g, y: normal linear models; count | x, g, y, log w:
#     Poisson) and rows drawn from the fitted models at their point estimates, as
#     synthpop's default (non-proper) synthesis does. The model for y is the analysis
#     model, so this is the case the simple rule is derived for: it checks the
#     combining rules themselves. R_PARAMETRIC replicates.
#   parametric proper - the same models refitted to a bootstrap sample of the real rows
#     for each synthetic set (parameters drawn from an approximate posterior), the case
#     the proper rule is derived for. R_PARAMETRIC replicates.
#   sygnet GAN - fit(GAN_SPEC) on the real sample and simulate(nsim = 5). The first
#     `replicates_gan` real samples are the parametric replicates' first samples.
#
# Output: a coverage table (coverage, its Monte Carlo standard error sqrt(p (1 - p) / R),
# mean and median interval width; the "fully" rule's t intervals can have very few
# degrees of freedom, which makes its mean width useless) and a bias table: the mean
# real-data estimate, the mean pooled synthetic estimate, their mean difference and its
# standard deviation over replicates, the standard deviation of the pooled estimate over
# replicates, the mean standard error the simple rule reports for population inference,
# and their ratio sd_over_se (about 1 when the rule describes the synthesizer; more when
# the fitted generator varies from sample to sample more than the real estimate does).
# The intercept is left out of both tables.
args <- commandArgs(trailingOnly = TRUE)
r_gan <- if (length(args) >= 1) as.integer(args[1]) else 30L
threads <- if (length(args) >= 2) as.integer(args[2]) else 1L
library(sygnet)
options(width = 120)

R_PARAMETRIC <- 500L
N_REAL <- 1000L
M <- 5L
TRUTH <- c("(Intercept)" = 1, x = 0.5, gb = 0.8)
FORMULA <- y ~ x + g
GAN_SPEC <- gan(epochs = 300, batch_size = 100, generator = c(64, 64), critic = c(64, 64))

population <- function(n) {
  x <- rnorm(n)
  g <- factor(ifelse(runif(n) < plogis(-0.2 + 0.8 * x), "b", "a"), levels = c("a", "b"))
  y <- TRUTH[[1]] + TRUTH[[2]] * x + TRUTH[[3]] * (g == "b") + rnorm(n)
  data.frame(x = round(x, 3), g = g, y = round(y, 3),
             w = round(exp(0.5 + 0.3 * x + rnorm(n, sd = 0.5)), 2),
             count = as.integer(rpois(n, exp(0.2 + 0.3 * x))))
}

# Sequential parametric synthesis of k rows from models fitted to `d`.
parametric_draw <- function(d, k) {
  draw_normal <- function(fit, newdata) {
    stats::predict(fit, newdata = newdata) + rnorm(k, sd = summary(fit)$sigma)
  }
  fit_x <- lm(x ~ g, d)
  fit_y <- lm(y ~ x + g, d)
  fit_w <- lm(log(w) ~ x + g + y, d)
  fit_count <- glm(count ~ x + g + y + log(w), family = poisson(), data = d)
  s <- data.frame(g = factor(ifelse(runif(k) < mean(d$g == "b"), "b", "a"), levels = levels(d$g)))
  s$x <- round(draw_normal(fit_x, s), 3)
  s$y <- round(draw_normal(fit_y, s), 3)
  s$w <- round(exp(draw_normal(fit_w, s)), 2)
  s$count <- as.integer(rpois(k, stats::predict(fit_count, newdata = s, type = "response")))
  s[names(d)]
}

synthesize_parametric <- function(d, proper) {
  lapply(seq_len(M), function(i) {
    source_rows <- if (proper) d[sample(nrow(d), replace = TRUE), ] else d
    parametric_draw(source_rows, nrow(d))
  })
}

synthesize_gan <- function(d) {
  fitted <- fit(GAN_SPEC, d, verbose = FALSE, threads = threads)
  simulate(fitted, nsim = M, threads = threads)
}

# One replicate: coverage records for every rule, target and term, and the estimates.
evaluate <- function(sets, real_fit, synthesizer) {
  real_est <- coef(real_fit)
  terms <- names(TRUTH)
  targets <- list(observed = real_est[terms], population = TRUTH)
  rows <- list()
  add <- function(target, rule, lower, upper) {
    goal <- targets[[target]]
    rows[[length(rows) + 1L]] <<- data.frame(
      synthesizer = synthesizer, target = target, rule = rule, term = terms,
      covered = lower <= goal & goal <= upper, width = upper - lower
    )
  }
  for (target in names(targets)) {
    for (rule in c("simple", "proper", "fully")) {
      if (rule == "fully" && target == "observed") next
      p <- pool_synthetic(sets, FORMULA, n = N_REAL, rule = rule, inference = target)
      per_set <- attr(p, "estimates")[terms, , drop = FALSE]
      p <- p[match(terms, p$term), ]
      add(target, rule, p$lower, p$upper)
      if (rule == "simple" && target == "population") {
        pooled <- p
        # Rubin's rules for multiple imputation, for comparison: the mean within variance
        # (recovered from the simple rule's variance v (k/n + 1/m), here k = n) plus
        # (1 + 1/m) times the between-set variance, on Rubin's degrees of freedom.
        within <- p$se^2 / (1 + 1 / M)
        between <- apply(per_set, 1L, var)
        total <- within + (1 + 1 / M) * between
        df <- (M - 1) * (1 + within / ((1 + 1 / M) * between))^2
        half <- qt(0.975, df) * sqrt(total)
        add(target, "rubin", p$estimate - half, p$estimate + half)
      }
    }
    one <- summary(glm(FORMULA, data = sets[[1]]))$coefficients[terms, , drop = FALSE]
    add(target, "naive", one[, 1] - qnorm(0.975) * one[, 2], one[, 1] + qnorm(0.975) * one[, 2])
  }
  list(coverage = do.call(rbind, rows),
       estimates = data.frame(synthesizer = synthesizer, term = terms, real = real_est[terms],
                              synthetic = pooled$estimate, se_simple = pooled$se))
}

run <- function(replicates, synthesizer, make_sets) {
  out <- vector("list", replicates)
  for (r in seq_len(replicates)) {
    set.seed(r)
    d <- population(N_REAL)
    real_fit <- glm(FORMULA, data = d)
    set.seed(100000L + r)
    out[[r]] <- evaluate(make_sets(d), real_fit, synthesizer)
  }
  list(coverage = do.call(rbind, lapply(out, `[[`, "coverage")),
       estimates = do.call(rbind, lapply(out, `[[`, "estimates")))
}

time <- function(expr) unname(system.time(expr)[["elapsed"]])
results <- list()
t_simple <- time(results$simple <- run(R_PARAMETRIC, "parametric simple",
                                       function(d) synthesize_parametric(d, proper = FALSE)))
t_proper <- time(results$proper <- run(R_PARAMETRIC, "parametric proper",
                                       function(d) synthesize_parametric(d, proper = TRUE)))
t_gan <- if (r_gan > 0L) time(results$gan <- run(r_gan, "sygnet GAN", synthesize_gan))

coverage <- do.call(rbind, lapply(results, `[[`, "coverage"))
estimates <- do.call(rbind, lapply(results, `[[`, "estimates"))
coverage <- coverage[coverage$term != "(Intercept)", ]
estimates <- estimates[estimates$term != "(Intercept)", ]

group <- interaction(coverage$synthesizer, coverage$target, coverage$rule, coverage$term,
                     drop = TRUE, lex.order = TRUE)
table_cov <- do.call(rbind, lapply(split(coverage, group), function(s) {
  p <- mean(s$covered)
  data.frame(synthesizer = s$synthesizer[1], target = s$target[1], rule = s$rule[1],
             term = s$term[1], replicates = nrow(s), coverage = round(p, 3),
             mc_se = round(sqrt(p * (1 - p) / nrow(s)), 3),
             mean_width = signif(mean(s$width), 3), median_width = signif(median(s$width), 3))
}))
rule_order <- c("simple", "proper", "fully", "rubin", "naive")
synth_order <- c("parametric simple", "parametric proper", "sygnet GAN")
table_cov <- table_cov[order(match(table_cov$synthesizer, synth_order), table_cov$target,
                             table_cov$term, match(table_cov$rule, rule_order)), ]

group <- interaction(estimates$synthesizer, estimates$term, drop = TRUE, lex.order = TRUE)
table_bias <- do.call(rbind, lapply(split(estimates, group), function(s) {
  diff <- s$synthetic - s$real
  data.frame(synthesizer = s$synthesizer[1], term = s$term[1], truth = TRUTH[[s$term[1]]],
             real_mean = mean(s$real), synthetic_mean = mean(s$synthetic),
             diff_mean = mean(diff), diff_sd = sd(diff),
             synthetic_sd = sd(s$synthetic), se_simple_mean = mean(s$se_simple),
             sd_over_se = sd(s$synthetic) / mean(s$se_simple))
}))
table_bias <- table_bias[order(match(table_bias$synthesizer, synth_order), table_bias$term), ]
table_bias[-(1:2)] <- lapply(table_bias[-(1:2)], round, digits = 3)

cat(sprintf("Population y = 1 + 0.5 x + 0.8 g + e; real samples of %d rows; m = %d synthetic sets of %d rows\n",
            N_REAL, M, N_REAL))
cat(sprintf("Replicates: parametric %d each (%.0f s and %.0f s); sygnet GAN %d (%s, %d thread(s))\n",
            R_PARAMETRIC, t_simple, t_proper, r_gan,
            if (r_gan > 0L) sprintf("%.0f s, %.1f s per replicate", t_gan, t_gan / r_gan) else "skipped",
            threads))
cat(sprintf("GAN: %d epochs, batch %d, generator %s, critic %s\n\n", GAN_SPEC$epochs,
            GAN_SPEC$batch_size, paste(GAN_SPEC$generator, collapse = "x"),
            paste(GAN_SPEC$critic, collapse = "x")))
cat("Coverage of 95% intervals (target: observed = real-sample estimate, population = true coefficient)\n")
table_cov[c("mean_width", "median_width")] <- lapply(table_cov[c("mean_width", "median_width")], formatC,
                                                     digits = 3, format = "g")
print(table_cov, row.names = FALSE)
cat("\nPooled estimates (simple rule) against the real-sample estimates\n")
print(table_bias, row.names = FALSE)
