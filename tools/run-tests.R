# Runs the testthat suite against the package installed in the library given as the
# first argument, and prints one summary line: "testthat: N passed, N failed, N skipped".
lib <- commandArgs(TRUE)[[1]]
Sys.setenv(NOT_CRAN = "true")
.libPaths(c(lib, .libPaths()))
library(testthat)
results <- test_dir("tests/testthat", package = "sygnet", load_package = "installed",
                    reporter = ProgressReporter$new(show_praise = FALSE),
                    stop_on_failure = FALSE)
df <- as.data.frame(results)
failed <- sum(df$failed) + sum(df$error)
skipped <- sum(df$skipped)
passed <- sum(df$nb) - sum(df$failed) - skipped
cat(sprintf("testthat: %d passed, %d failed, %d skipped\n", passed, failed, skipped))
quit(status = if (failed > 0) 1L else 0L)
