# Fit time and quality of sygnet's default GAN on four social-science data sets.
# Usage: Rscript bench/quality.R [epochs|default] [threads] [data sets...]
# Prints one row per data set, from utility(): seconds to fit, mean marginal similarity
# (1-KS / 1-TVD), mean absolute pairwise association difference, propensity AUC of a
# main-effects logistic model (0.5 is best) and the mean confidence-interval overlap of
# the published regression (1 is best). (Chile's published model uses only Y/N votes;
# here all rows enter, with abstentions and undecided counted as not Y.)
args <- commandArgs(TRUE)
epochs <- if (length(args) >= 1 && args[[1]] != "default") as.integer(args[[1]]) else NULL
threads <- if (length(args) >= 2) as.integer(args[[2]]) else 2L
wanted <- if (length(args) >= 3) args[-(1:2)] else NULL

here <- dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)))
source(file.path(here, "datasets.R"))
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
  u <- utility(synthesize(model), real, formula = sets[[name]]$formula,
               family = sets[[name]]$family, threads = threads)
  rows[[name]] <- data.frame(
    data = name, rows = nrow(real), cols = ncol(real), epochs = nrow(model$history),
    fit_s = round(seconds, 1),
    marginal = round(mean(u$marginals$similarity, na.rm = TRUE), 3),
    assoc_diff = round(mean(abs(u$associations$difference), na.rm = TRUE), 3),
    prop_auc = round(u$propensity$auc[1], 3),
    ci_overlap = round(mean(u$regression$ci_overlap), 3)
  )
  print(rows[[name]], row.names = FALSE)
}
cat("\nsygnet", as.character(utils::packageVersion("sygnet")), "- default gan(), threads =", threads, "\n")
print(do.call(rbind, rows), row.names = FALSE)
