# Training speed-up from threads, on the configuration of the SyGNet-py comparison:
# CPS1988 (80%, 22,524 x 7), batch 256, two hidden layers of 256, one critic update per
# generator update, PacGAN 10, no attention.
# Usage: Rscript bench/threads.R [rounds] [threads...]   # defaults: 5 rounds, 1 and 2
# Each round times three epochs on every thread count in turn, so that a slow spell on a
# shared machine hits all of them alike; prints each round, the medians and the speed-up
# over one thread. Fits are identical on any thread count, so only time differs.
args <- commandArgs(TRUE)
rounds <- if (length(args) >= 1) as.integer(args[[1]]) else 5L
counts <- if (length(args) >= 2) as.integer(args[-1]) else c(1L, 2L)
script <- normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)))
source(file.path(dirname(script), "helpers.R"))
invisible(suppressPackageStartupMessages(loadNamespace("sygnet")))
if (!requireNamespace("AER", quietly = TRUE)) stop("bench/threads.R needs the AER package")

data <- cps1988()
spec <- bench_spec(256L, critic_steps = 1L, pac = 10L)
ms <- matrix(NA_real_, rounds, length(counts), dimnames = list(NULL, paste0("threads_", counts)))
for (r in seq_len(rounds)) {
  for (k in seq_along(counts)) {
    set.seed(1)
    t <- time_training(data, spec, counts[[k]], epochs = 3L)
    ms[r, k] <- 1000 * t$wall / t$steps
  }
  cat(sprintf("round %d: %s ms/step\n", r, paste(sprintf("%.2f", ms[r, ]), collapse = " / ")))
}
med <- apply(ms, 2, stats::median)
cat("\nsygnet ", as.character(utils::packageVersion("sygnet")), ", CPS1988 22,524 x 7, batch 256, ",
    t$steps / 3, " steps per epoch\n", sep = "")
print(data.frame(threads = counts, median_ms_per_step = round(med, 2),
                 s_per_epoch = round(med * t$steps / 3 / 1000, 3),
                 speedup = round(med[[1]] / med, 2)), row.names = FALSE)
