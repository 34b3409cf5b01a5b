test_that("fit() returns a sygnet_fit with history and a model", {
  df <- mixed_data(100)
  model <- fit(tiny_gan(epochs = 3), df)
  expect_s3_class(model, "sygnet_fit")
  expect_identical(model$history$epoch, 1:3)
  expect_type(model$model, "raw")
  expect_identical(model$n, 100L)
  expect_output(print(model), "GAN fitted to 100 rows")
  expect_output(print(summary(model)), "one-hot")
})

test_that("fit(data, ...) is shorthand for fit(gan(...), data)", {
  df <- data.frame(x = rnorm(30))
  set.seed(3)
  a <- fit(df, epochs = 2, generator = c(8L), critic = c(8L))
  set.seed(3)
  b <- fit(gan(epochs = 2, generator = c(8L), critic = c(8L)), df)
  expect_identical(a$model, b$model)
})

test_that("set.seed() makes fits and samples reproducible", {
  df <- mixed_data(80)
  set.seed(42)
  a <- fit(tiny_gan(), df)
  sa <- synthesize(a, 30)
  set.seed(42)
  b <- fit(tiny_gan(), df)
  sb <- synthesize(b, 30)
  expect_identical(a$model, b$model)
  expect_identical(sa, sb)
  set.seed(43)
  c <- fit(tiny_gan(), df)
  expect_false(identical(a$model, c$model))
})

test_that("a fit survives saveRDS()/readRDS() and draws the identical sample", {
  df <- mixed_data(80)
  model <- fit(tiny_gan(), df)
  path <- withr::local_tempfile(fileext = ".rds")
  saveRDS(model, path)
  again <- readRDS(path)
  set.seed(7)
  a <- synthesize(model, 25)
  set.seed(7)
  b <- synthesize(again, 25)
  expect_identical(a, b)
})

test_that("training continues from a fitted model", {
  df <- mixed_data(80)
  model <- fit(tiny_gan(epochs = 2), df)
  more <- fit(model, df, epochs = 3)
  expect_identical(more$history$epoch, 1:5)
  expect_identical(more$history[1:2, ], model$history)
  expect_false(identical(more$model, model$model))
  expect_length(more$seeds, 2L)
  expect_error(fit(model, df[, 1:3], epochs = 1), class = "sygnet_error_input")
})

test_that("the standard GAN loss, attention, dropout and min-max encoding all train", {
  df <- mixed_data(100)
  specs <- list(
    tiny_gan(loss = "gan"),
    gan(epochs = 2, batch_size = 50, generator = c(32L, 32L), critic = c(16L),
        attention = TRUE, dropout = 0.2,
        control = gan_control(pac = 5L, attention_tokens = 4L, attention_heads = 2L,
                              numeric_encoding = "minmax"))
  )
  for (spec in specs) {
    model <- fit(spec, df)
    expect_true(all(is.finite(as.matrix(model$history))))
    expect_identical(shape_of(synthesize(model, 20)), shape_of(df))
  }
})

test_that("two threads give a working fit, identical to the one-thread fit", {
  df <- mixed_data(80)
  set.seed(3)
  model <- fit(tiny_gan(pac = 2L), df, threads = 2)
  expect_identical(model$threads, 2L)
  expect_identical(nrow(synthesize(model, 10, threads = 2)), 10L)
  set.seed(3)
  expect_identical(fit(tiny_gan(pac = 2L), df, threads = 1)$model, model$model)
  set.seed(3)
  other <- fit(tiny_gan(pac = 2L), df, threads = 1, verbose = FALSE)
  set.seed(4)
  expect_false(identical(fit(tiny_gan(pac = 2L), df, threads = 1)$model, other$model))
})

test_that("plot() draws the loss curves", {
  model <- fit(tiny_gan(epochs = 3), mixed_data(60))
  path <- withr::local_tempfile(fileext = ".png")
  grDevices::png(path)
  out <- plot(model)
  grDevices::dev.off()
  expect_true(file.size(path) > 0)
})

test_that("forked workers can fit after the parent has (no thread-pool deadlock)", {
  skip_on_os("windows")
  df <- mixed_data(80)
  parent <- fit(tiny_gan(pac = 2L), df, threads = 2)
  jobs <- lapply(1:2, function(i) parallel::mcparallel({
    set.seed(i)
    fit(tiny_gan(pac = 2L), df, threads = 2)$model
  }))
  pids <- as.character(vapply(jobs, `[[`, integer(1), "pid"))
  # A deadlocked child would never finish: wait a bounded time, then stop it and fail.
  done <- list()
  deadline <- Sys.time() + 120
  while (length(done) < length(pids) && Sys.time() < deadline) {
    waiting <- jobs[!pids %in% names(done)]
    done <- c(done, parallel::mccollect(waiting, wait = FALSE, timeout = 1))
  }
  hung <- setdiff(pids, names(done))
  if (length(hung) > 0) {
    tools::pskill(as.integer(hung))
    parallel::mccollect(jobs[pids %in% hung], wait = FALSE)
    fail(sprintf("%d of 2 forked fits did not finish in 120 s", length(hung)))
    return()
  }
  set.seed(1)
  here <- fit(tiny_gan(pac = 2L), df, threads = 2)$model
  expect_identical(done[[pids[[1]]]], here)
})

test_that("diverging losses stop with an error that carries the last finite model", {
  set.seed(3)
  df <- data.frame(x = rnorm(200), g = factor(sample(c("a", "b"), 200, TRUE)))
  err <- tryCatch(fit(tiny_gan(epochs = 50, learning_rate = 1e12), df), error = identity)
  expect_s3_class(err, "sygnet_error_diverged")
  expect_match(conditionMessage(err), "diverged")
  expect_s3_class(err$fit, "sygnet_fit")
  syn <- synthesize(err$fit, 20)
  expect_identical(nrow(syn), 20L)
})
