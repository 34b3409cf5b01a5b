# Statistical checks: each compares a trained model with an untrained one on a
# property of the data that only training can give, so each can fail.

dependent_data <- function(n = 2000) {
  set.seed(10)
  x <- rnorm(n)
  y <- 2 * x + rnorm(n, sd = 0.2)
  # y is missing mostly when x is large: missingness that depends on another column.
  y[x > 0.5 & runif(n) < 0.8] <- NA
  data.frame(x = x, y = y, group = factor(ifelse(x > 0, "high", "low")))
}

quality <- function(syn, real) {
  ok <- !is.na(syn$y)
  c(
    correlation = cor(syn$x[ok], syn$y[ok]),
    na_rate_error = abs(mean(is.na(syn$y)) - mean(is.na(real$y))),
    na_depends_on_x = mean(syn$x[!ok]) - mean(syn$x[ok]),
    group_agreement = mean((syn$x > 0) == (syn$group == "high"))
  )
}

test_that("training reproduces dependence and missingness that an untrained model lacks", {
  skip_on_cran()
  real <- dependent_data()
  spec <- function(epochs) {
    gan(epochs = epochs, batch_size = 200, generator = c(64L, 64L), critic = c(64L, 64L),
        control = gan_control(noise_dim = 16L, pac = 5L))
  }
  set.seed(1)
  untrained <- quality(synthesize(fit(spec(1), real), 2000), real)
  set.seed(1)
  trained <- quality(synthesize(fit(spec(150), real), 2000), real)
  target <- quality(real, real)

  expect_gt(trained[["correlation"]], 0.8)
  expect_lt(untrained[["correlation"]], 0.5)
  expect_lt(trained[["na_rate_error"]], 0.05)
  expect_gt(trained[["na_depends_on_x"]], 0.5 * target[["na_depends_on_x"]])
  expect_lt(untrained[["na_depends_on_x"]], 0.5 * target[["na_depends_on_x"]])
  expect_gt(trained[["group_agreement"]], 0.8)
  expect_lt(untrained[["group_agreement"]], 0.7)
})
