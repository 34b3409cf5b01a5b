# Generation speed of a default model: rows/s of synthesize() straight from the generator,
# through the rejection sampler, and balanced (the default), from a default gan() fit of
# the CPS1988 sample (80%, 22,524 x 7).
# Usage: Rscript bench/generation.R [threads] [reps] [--model=FILE]   # defaults: 2 3
# With --model, the fit is read from FILE if it exists and saved there otherwise, so that
# two versions of the package can be timed on the same model.
args <- commandArgs(TRUE)
model_file <- sub("^--model=", "", grep("^--model=", args, value = TRUE))
args <- grep("^--", args, value = TRUE, invert = TRUE)
threads <- if (length(args) >= 1) as.integer(args[[1]]) else 2L
reps <- if (length(args) >= 2) as.integer(args[[2]]) else 3L
script <- normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)))
source(file.path(dirname(script), "helpers.R"))
suppressPackageStartupMessages(library(sygnet))
if (!requireNamespace("AER", quietly = TRUE)) stop("bench/generation.R needs the AER package")

if (length(model_file) == 1 && file.exists(model_file)) {
  model <- readRDS(model_file)
} else {
  set.seed(1)
  fit_s <- system.time(model <- fit(cps1988(), threads = threads, verbose = FALSE))[["elapsed"]]
  cat(sprintf("fit: %.0f s on %d threads\n", fit_s, threads))
  if (length(model_file) == 1) saveRDS(model, model_file)
}

ways <- list(
  generator = list(n = 1e6, args = list(rejection = FALSE)),
  screened = list(n = 1e5, args = list(balance = FALSE)),
  balanced = list(n = 1e5, args = list())
)
seconds <- matrix(NA_real_, reps, length(ways), dimnames = list(NULL, names(ways)))
for (r in seq_len(reps)) {
  for (w in names(ways)) {
    call_args <- c(list(model, ways[[w]]$n, threads = threads), ways[[w]]$args)
    set.seed(r)
    seconds[r, w] <- system.time(do.call(synthesize, call_args))[["elapsed"]]
  }
}
n <- vapply(ways, `[[`, numeric(1), "n")
cat(sprintf("sygnet %s, %d threads, %d reps\n", utils::packageVersion("sygnet"), threads, reps))
print(data.frame(draw = names(ways), rows = n,
                 median_s = round(apply(seconds, 2, stats::median), 2),
                 range_s = apply(seconds, 2, function(s) sprintf("%.2f-%.2f", min(s), max(s))),
                 rows_per_s = round(n / apply(seconds, 2, stats::median))),
      row.names = FALSE)
