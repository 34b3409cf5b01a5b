test_that("a fit gets a rejection sampler unless asked not to or private", {
  d <- mixed_data(80)
  set.seed(1)
  m <- fit(tiny_gan(), d)
  acceptance <- sygnet:::model_info(m)$rejection_acceptance
  expect_true(is.numeric(acceptance) && acceptance > 0 && acceptance <= 1)
  expect_output(print(m), "rejection sampling keeps about")

  set.seed(1)
  spec <- tiny_gan()
  spec$control <- gan_control(noise_dim = 16L, pac = 5L, rejection = FALSE)
  off <- fit(spec, d)
  expect_null(sygnet:::model_info(off)$rejection_acceptance)
  expect_output(print(off), "no rejection sampling")

  expect_error(gan_control(rejection = NA), class = "sygnet_error_input")
  expect_error(synthesize(m, 5, rejection = "yes"), class = "sygnet_error_input")
})

test_that("rows are drawn with or without the rejection sampler, reproducibly", {
  d <- mixed_data(80)
  set.seed(2)
  m <- fit(tiny_gan(), d)
  set.seed(3)
  screened <- synthesize(m, 300)
  set.seed(3)
  expect_identical(synthesize(m, 300), screened)
  set.seed(3)
  plain <- synthesize(m, 300, rejection = FALSE)
  expect_identical(shape_of(plain), shape_of(screened))
  expect_false(identical(plain, screened))
})

test_that("balanced draws keep a regression near the training rows' one", {
  set.seed(4)
  n <- 600
  x <- rnorm(n)
  g <- factor(sample(c("a", "b", "c"), n, replace = TRUE))
  d <- data.frame(x = x, g = g, y = 0.6 * x + 0.5 * (g == "b") + rnorm(n, sd = 0.8))
  m <- fit(tiny_gan(epochs = 5L), d)
  real <- stats::lm(y ~ x + g, d)
  # Mean |synthetic - training coefficient| over four draws, in standard errors.
  gap <- function(balance) {
    set.seed(5)
    mean(replicate(4, {
      rows <- synthesize(m, n, balance = balance)
      abs(stats::coef(stats::lm(y ~ x + g, rows)) - stats::coef(real)) /
        sqrt(diag(stats::vcov(real)))
    }))
  }
  balanced <- gap(TRUE)
  independent <- gap(FALSE)
  expect_lt(balanced, 0.6 * independent)
  set.seed(6)
  expect_identical(synthesize(m, 700), { set.seed(6); synthesize(m, 700) })
  expect_error(synthesize(m, 5, balance = NA), class = "sygnet_error_input")
})
