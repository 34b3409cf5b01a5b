test_that("an interrupt (Ctrl-C) stops training and returns the model so far", {
  skip_on_os("windows")
  skip_on_cran()
  script <- withr::local_tempfile(fileext = ".R")
  writeLines(c(
    sprintf(".libPaths(%s)", paste(deparse(.libPaths()), collapse = "")),
    "library(sygnet)",
    "df <- data.frame(x = rnorm(2000), g = sample(letters[1:3], 2000, TRUE))",
    "system(sprintf('(sleep 3; kill -INT %d) >/dev/null 2>&1 &', Sys.getpid()))",
    "model <- withCallingHandlers(",
    "  fit(gan(epochs = 1e6, batch_size = 100), df),",
    "  sygnet_warning_interrupted = function(w) {",
    "    cat('WARNED\\n'); invokeRestart('muffleWarning')",
    "  })",
    "cat('EPOCHS', nrow(model$history), 'INTERRUPTED', model$interrupted, '\\n')",
    "cat('ROWS', nrow(synthesize(model, 7)), '\\n')"
  ), script)
  started <- Sys.time()
  out <- system2(file.path(R.home("bin"), "Rscript"), script, stdout = TRUE, stderr = TRUE)
  expect_lt(as.numeric(difftime(Sys.time(), started, units = "secs")), 60)
  expect_true("WARNED" %in% out)
  status <- grep("^EPOCHS", out, value = TRUE)
  expect_match(status, "INTERRUPTED TRUE")
  epochs <- as.numeric(strsplit(status, " ")[[1]][2])
  expect_gt(epochs, 0)
  expect_lt(epochs, 1e6)
  expect_true("ROWS 7 " %in% out)
})
