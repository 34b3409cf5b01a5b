# Differential privacy: the accountant, dp() and private fits.

private_data <- function(n = 300, seed = 1) {
  withr::with_seed(seed, {
    age <- sample(18:90, n, TRUE)
    data.frame(
      age = age,
      income = round(pmax(0, 20000 + 300 * age + stats::rnorm(n, sd = 8000))),
      sex = factor(sample(c("female", "male"), n, TRUE), levels = c("female", "male", "other")),
      employed = stats::runif(n) < 0.6
    )
  })
}

private_bounds <- list(age = c(16, 99), income = c(0, 2e5))

test_that("the accountant agrees with known values and inverts itself", {
  # Abadi et al. (2016) style setting: q = 0.01, sigma = 4, 10,000 steps, delta = 1e-5:
  # opacus's RDP accountant on the same orders gives about 1.26.
  eps <- dp_epsilon(noise_multiplier = 4, sample_rate = 0.01, steps = 10000, delta = 1e-5)
  expect_gt(eps, 1.0)
  expect_lt(eps, 1.5)
  sigma <- dp_noise_multiplier(epsilon = 1, delta = 1e-5, sample_rate = 0.01, steps = 1000)
  spent <- dp_epsilon(sigma, 0.01, 1000, 1e-5)
  expect_lte(spent, 1)
  expect_gt(spent, 0.999)
  expect_gt(dp_epsilon(sigma, 0.01, 2000, 1e-5), spent)
  expect_error(dp_epsilon(-1, 0.01, 10, 1e-5), class = "sygnet_error_input")
  expect_error(dp_noise_multiplier(1, 2, 0.01, 10), class = "sygnet_error")
})

test_that("dp() checks its arguments", {
  expect_s3_class(dp(1, bounds = private_bounds), "sygnet_dp")
  expect_error(dp(0), class = "sygnet_error_input")
  expect_error(dp(1, delta = 1), class = "sygnet_error_input")
  expect_error(dp(1, bounds = list(age = c(99, 16))), "age", class = "sygnet_error_input")
  expect_error(dp(1, bounds = list(c(0, 1))), class = "sygnet_error_input")
  expect_error(gan(privacy = dp(1), condition_on = "sex"), class = "sygnet_error_input")
  expect_error(gan(privacy = list(epsilon = 1)), class = "sygnet_error_input")
  expect_error(tune(private_data(), grid = data.frame(learning_rate = 1e-3),
                    privacy = dp(1, bounds = private_bounds)),
               "differentially private", class = "sygnet_error_input")
})

test_that("a private fit spends at most its budget and reports it", {
  data <- private_data()
  set.seed(1)
  fitted <- fit(gan(epochs = 3, batch_size = 50, privacy = dp(epsilon = 1, bounds = private_bounds)),
                data, verbose = FALSE)
  p <- fitted$privacy
  expect_equal(p$epsilon, 1)
  expect_lte(p$epsilon_spent, 1)
  expect_gt(p$epsilon_spent, 0.99)
  expect_equal(p$delta, min(1e-5, 0.1 / 300))
  expect_equal(p$sample_rate, 50 / 300)
  expect_equal(p$critic_updates, 3 * 6 * 3)
  expect_equal(p$critic_updates, p$max_critic_updates)
  expect_equal(dp_epsilon(p$noise_multiplier, p$sample_rate, p$critic_updates, p$delta), p$epsilon_spent)
  expect_null(fitted$check)
  expect_true(all(is.na(fitted$history$critic_loss)))
  syn <- synthesize(fitted, 500)
  expect_identical(lapply(syn, class), lapply(data, class))
  expect_identical(levels(syn$sex), levels(data$sex))
  expect_true(all(syn$age >= 16 & syn$age <= 99, na.rm = TRUE))
  expect_true(all(syn$income >= 0 & syn$income <= 2e5, na.rm = TRUE))
  expect_output(print(fitted), "epsilon")
  expect_error(fit(fitted, data, epochs = 1), "privacy", class = "sygnet_error_input")
  restored <- unserialize(serialize(fitted, NULL))
  expect_equal(restored$privacy, p)
})

test_that("a given noise multiplier must stay within the budget", {
  data <- private_data()
  spec <- gan(epochs = 5, batch_size = 50,
              privacy = dp(epsilon = 0.5, noise_multiplier = 0.5, bounds = private_bounds))
  expect_error(fit(spec, data, verbose = FALSE), "budget", class = "sygnet_error_config")
})

test_that("private fits read nothing public from the data and say what is missing", {
  data <- private_data()
  spec <- function(bounds) gan(epochs = 1, privacy = dp(1, bounds = bounds))
  expect_error(fit(spec(list(age = c(16, 99))), data, verbose = FALSE), "income",
               class = "sygnet_error_input")
  expect_error(fit(spec(c(private_bounds, list(height = c(1, 2)))), data, verbose = FALSE),
               "height", class = "sygnet_error_input")
  with_text <- data
  with_text$city <- sample(c("a", "b"), nrow(data), TRUE)
  expect_error(fit(spec(private_bounds), with_text, verbose = FALSE), "city",
               class = "sygnet_error_input")
})

test_that("the same seed gives the same private fit", {
  data <- private_data(120)
  spec <- gan(epochs = 2, batch_size = 40, generator = c(32L, 32L), critic = c(32L, 32L),
              privacy = dp(epsilon = 2, bounds = private_bounds))
  set.seed(9)
  a <- fit(spec, data, verbose = FALSE)
  set.seed(9)
  b <- fit(spec, data, verbose = FALSE)
  expect_identical(a$model, b$model)
})

test_that("differential privacy stops a generator from memorising its training rows", {
  skip_on_cran()
  # 40 training rows and a long fit without critic dropout: the generator puts synthetic
  # rows near its training rows, and an attacker who measures distances to synthetic rows
  # tells training rows from 400 fresh ones from the same population. With epsilon = 1
  # the same attack is close to guessing.
  population <- withr::with_seed(1, data.frame(
    a = stats::rnorm(440), b = stats::rnorm(440), c = stats::rexp(440), d = stats::runif(440),
    g = factor(sample(c("x", "y"), 440, TRUE), levels = c("x", "y"))
  ))
  train <- population[1:40, ]
  holdout <- population[41:440, ]
  bounds <- list(a = c(-5, 5), b = c(-5, 5), c = c(0, 10), d = c(0, 1))
  membership <- function(privacy) {
    spec <- gan(epochs = 2000, batch_size = 40, privacy = privacy,
                control = gan_control(critic_dropout = 0, pac = 1))
    set.seed(1)
    fitted <- fit(spec, train, verbose = FALSE, threads = 2)
    risk <- withr::with_seed(1, disclosure_risk(simulate(fitted, nsim = 3, seed = 4), train,
                                                holdout = holdout))
    risk$measures$synthetic[risk$measures$measure == "membership_auc"]
  }
  expect_gt(membership(NULL), 0.6)
  expect_lt(abs(membership(dp(epsilon = 1, bounds = bounds)) - 0.5), 0.08)
})

test_that("a private fit is identical on one and two threads", {
  spec <- gan(epochs = 2, batch_size = 50, privacy = dp(epsilon = 1, bounds = private_bounds))
  data <- private_data()
  set.seed(8)
  one <- fit(spec, data, threads = 1, verbose = FALSE)
  set.seed(8)
  two <- fit(spec, data, threads = 2, verbose = FALSE)
  expect_identical(one$model, two$model)
})
