# Time utility() and disclosure_risk() on 30,000 x 15 mixed data (the target: seconds).
# Usage: Rscript bench/evaluation.R [rows] [threads]
args <- commandArgs(trailingOnly = TRUE)
n <- if (length(args) >= 1) as.integer(args[1]) else 30000L
threads <- if (length(args) >= 2) as.integer(args[2]) else 1L
library(sygnet)

mixed <- function(n, seed) {
  set.seed(seed)
  x <- rnorm(n)
  cols <- list()
  for (j in 1:5) cols[[paste0("num", j)]] <- round(x * j + rnorm(n), 2)
  for (j in 1:3) cols[[paste0("int", j)]] <- as.integer(rpois(n, 3 + j))
  for (j in 1:5) cols[[paste0("fac", j)]] <- factor(sample(letters[1:(2 + j)], n, TRUE))
  cols$skewed <- round(exp(rnorm(n)), 2)
  cols$flag <- x > 0
  d <- as.data.frame(cols)
  d$num1[sample(n, n / 20)] <- NA
  d
}
real <- mixed(n, 1)
synthetic <- mixed(n, 2)
holdout <- mixed(n, 3)
time <- function(expr) unname(system.time(expr)[["elapsed"]])
t_utility <- time(u <- utility(synthetic, real, formula = num2 ~ num1 + fac1, target = "flag",
                               threads = threads))
t_risk <- time(r <- disclosure_risk(synthetic, real, holdout = holdout, keys = c("fac1", "fac2", "int1"),
                                    target = "flag", threads = threads))
cat(sprintf("%d rows x %d columns, %d thread(s)\n", n, ncol(real), threads))
cat(sprintf("utility():         %6.1f s\n", t_utility))
cat(sprintf("disclosure_risk(): %6.1f s (4 nearest-neighbour searches of %d x %d rows)\n", t_risk, n, n))
