# Fit time and quality of sygnet's default GAN on four social-science data sets.
# Usage: Rscript bench/quality.R [epochs|default] [threads] [data sets...]
# Prints one row per data set: seconds to fit, mean marginal similarity (1-KS / 1-TVD),
# mean pairwise association difference, propensity AUC (0.5 is best) and the mean
# confidence-interval overlap of the published regression (1 is best).
args <- commandArgs(TRUE)
epochs <- if (length(args) >= 1 && args[[1]] != "default") as.integer(args[[1]]) else NULL
threads <- if (length(args) >= 2) as.integer(args[[2]]) else 2L
wanted <- if (length(args) >= 3) args[-(1:2)] else NULL

here <- dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)))
source(file.path(here, "metrics.R"))
suppressPackageStartupMessages(library(sygnet))

sets <- bench_datasets()
if (!is.null(wanted)) sets <- sets[wanted]
rows <- list()
for (name in names(sets)) {
  real <- sets[[name]]$data()
  set.seed(1)
  started <- proc.time()[["elapsed"]]
  model <- fit(gan(epochs = epochs), real, threads = threads)
  seconds <- proc.time()[["elapsed"]] - started
  syn <- synthesize(model)
  rows[[name]] <- data.frame(
    data = name, rows = nrow(real), cols = ncol(real), epochs = nrow(model$history),
    fit_s = round(seconds, 1),
    marginal = round(mean(similarity_marginal(real, syn)), 3),
    assoc_diff = round(association_difference(real, syn), 3),
    prop_auc = round(propensity_auc(real, syn), 3),
    ci_overlap = round(ci_overlap(sets[[name]]$model, real, syn), 3)
  )
  print(rows[[name]], row.names = FALSE)
}
cat("\nsygnet", as.character(utils::packageVersion("sygnet")), "- default gan(), threads =", threads, "\n")
print(do.call(rbind, rows), row.names = FALSE)
