test_that("a Rust panic becomes a classed R error, not a crash", {
  expect_error(sygnet:::native(sygnet:::rs_panic_probe()), "deliberate panic",
               class = "sygnet_error_internal")
  # R keeps working afterwards.
  expect_identical(sygnet:::roundtrip_data(data.frame(x = 1)), data.frame(x = 1))
})

test_that("engine errors carry the sygnet_error class and a clean message", {
  err <- tryCatch(sygnet:::roundtrip_data(data.frame(x = NaN)), error = identity)
  expect_s3_class(err, "sygnet_error_input")
  expect_s3_class(err, "sygnet_error")
  expect_false(grepl("sygnet:input", conditionMessage(err), fixed = TRUE))
})

test_that("specifications are checked when made", {
  expect_error(gan(epochs = 0), "epochs", class = "sygnet_error_input")
  expect_error(gan(generator = c(256, -1)), "generator", class = "sygnet_error_input")
  expect_error(gan(dropout = 1), "dropout", class = "sygnet_error_input")
  expect_error(gan(loss = "mse"), "loss")
  expect_error(gan(control = list()), "gan_control", class = "sygnet_error_input")
  expect_error(gan_control(tau = -1), "tau", class = "sygnet_error_input")
  expect_error(gan(attention = TRUE, generator = c(30L)), "attention",
               class = "sygnet_error_input")
  # every setting is checked once, in the engine, and named as the argument is
  expect_error(gan(generator = 2.5), "generator", class = "sygnet_error_input")
  expect_error(gan(batch_size = "a"), "batch_size", class = "sygnet_error_input")
  expect_error(gan(learning_rate = 0), "learning_rate", class = "sygnet_error_input")
  expect_error(gan_control(beta1 = 1), "beta1", class = "sygnet_error_input")
  expect_error(gan_control(weight_decay = -1), "weight_decay", class = "sygnet_error_input")
  expect_error(gan_control(gradient_penalty = Inf), "gradient_penalty",
               class = "sygnet_error_input")
  expect_error(gan_control(max_modes = 0), "max_modes", class = "sygnet_error_input")
  expect_error(gan_control(attention_tokens = 0), "attention_tokens",
               class = "sygnet_error_input")
})

test_that("infinite and huge counts are refused before any work", {
  df <- data.frame(x = rnorm(20))
  expect_error(gan(epochs = Inf), "epochs", class = "sygnet_error_input")
  expect_error(fit(tiny_gan(), df, threads = Inf), "threads", class = "sygnet_error_input")
  model <- fit(tiny_gan(epochs = 1L), df, verbose = FALSE)
  expect_error(synthesize(model, n = Inf), "`n`", class = "sygnet_error_input")
  expect_error(synthesize(model, n = 1e15), "`n`", class = "sygnet_error_input")
  expect_error(simulate(model, nsim = Inf), "nsim", class = "sygnet_error_input")
  expect_equal(nrow(synthesize(model, n = 0)), 0L)
})

test_that("data that cannot be trained on is refused before training", {
  expect_error(fit(tiny_gan(), data.frame(x = 1), verbose = FALSE), "at least 2",
               class = "sygnet_error_input")
  expect_error(fit(tiny_gan(), data.frame(x = c(NA_real_, NA)), verbose = FALSE),
               "entirely missing", class = "sygnet_error_input")
  unnamed <- data.frame(1:3, 4:6)
  names(unnamed) <- c("a", NA)
  expect_error(fit(tiny_gan(), unnamed, verbose = FALSE), "Column 2.*no name",
               class = "sygnet_error_input")
})

test_that("the defaults come from the engine", {
  defaults <- gan_defaults()
  spec <- gan()
  expect_identical(spec$batch_size, defaults$batch_size)
  expect_identical(spec$generator, defaults$generator)
  expect_identical(spec$control$pac, defaults$pac)
  expect_identical(spec$control$numeric_encoding, defaults$numeric_encoding)
  expect_identical(spec$loss, defaults$loss)
})

test_that("fit() checks its arguments", {
  df <- data.frame(x = rnorm(20), g = factor(rep(c("a", "b"), 10)))
  expect_error(fit(tiny_gan(condition_on = "nope"), df), "nope", class = "sygnet_error_input")
  expect_error(fit(tiny_gan(condition_on = "x"), df), "`x`.*factor", class = "sygnet_error_input")
  expect_error(fit(tiny_gan(), df, threads = 0), "threads", class = "sygnet_error_input")
  expect_error(fit(tiny_gan(), df, device = "tpu"), "device")
  expect_error(fit(tiny_gan(), df, unknown = 1), class = "rlib_error_dots_nonempty")
})

test_that("asking for CUDA without CUDA support explains how to get it", {
  skip_if(sygnet:::rs_cuda_compiled())
  expect_error(fit(tiny_gan(), data.frame(x = rnorm(20)), device = "cuda"),
               "SYGNET_CARGO_FEATURES=cuda", class = "sygnet_error_device")
})

test_that("the default number of epochs gives small data at least 3,000 steps and large data at most 10,000", {
  expect_null(gan()$epochs)
  expect_identical(sygnet:::resolve_epochs(NULL, 2L), 1500L)
  expect_identical(sygnet:::resolve_epochs(NULL, 38L), 300L)
  expect_identical(sygnet:::resolve_epochs(5L, 2L), 5L)
  expect_identical(sygnet:::resolve_epochs(NULL, 125L, max_steps = 10000L), 80L)
  expect_identical(sygnet:::resolve_epochs(NULL, 30L, max_steps = 10000L), 300L)
  expect_output(print(gan()), "at least 3,000 and at most 10,000 steps")
})

test_that("a damaged model is refused with a model error, not used", {
  set.seed(1)
  model <- fit(tiny_gan(epochs = 1L), data.frame(x = rnorm(40), g = gl(2, 20)), verbose = FALSE)
  expect_equal(model$versions$format, 2L)
  damaged <- model
  last <- length(damaged$model)
  damaged$model[last - 10:1] <- as.raw(bitwXor(as.integer(damaged$model[last - 10:1]), 0x40L))
  expect_error(synthesize(damaged, 5), "damaged", class = "sygnet_error_model")
  expect_error(print(damaged), "damaged", class = "sygnet_error_model")
  expect_equal(nrow(synthesize(model, 5)), 5L)
})
