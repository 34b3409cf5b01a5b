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
private_levels <- list(sex = c("female", "male", "other"))
private_dp <- function(epsilon = 1, ...) {
  dp(epsilon, bounds = private_bounds, levels = private_levels, ...)
}

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
  expect_s3_class(private_dp(), "sygnet_dp")
  expect_error(dp(1, levels = list(sex = c("a", "a"))), "sex", class = "sygnet_error_input")
  expect_error(dp(1, levels = list(sex = factor("a"))), "sex", class = "sygnet_error_input")
  expect_error(dp(1, levels = list(c("a", "b"))), class = "sygnet_error_input")
  expect_error(dp(1, rows = 0), class = "sygnet_error_input")
  expect_error(dp(1, budget = 3), "dp_budget", class = "sygnet_error_input")
  expect_error(dp(0), class = "sygnet_error_input")
  expect_error(dp(1, delta = 1), class = "sygnet_error_input")
  expect_error(dp(1, bounds = list(age = c(99, 16))), "age", class = "sygnet_error_input")
  expect_error(dp(1, bounds = list(c(0, 1))), class = "sygnet_error_input")
  expect_error(dp(1, moment_share = -0.1), "moment_share", class = "sygnet_error_input")
  expect_error(dp(1, marginal_share = 0.6, moment_share = 0.4), "add up",
               class = "sygnet_error_input")
  expect_error(gan(privacy = dp(1), condition_on = "sex"), class = "sygnet_error_input")
  expect_error(gan(privacy = list(epsilon = 1)), class = "sygnet_error_input")
  expect_error(tune(private_data(), grid = data.frame(learning_rate = 1e-3),
                    privacy = private_dp()),
               "differentially private", class = "sygnet_error_input")
})

test_that("private fits choose unset settings for the budget and start from released marginals", {
  data <- private_data(600)
  set.seed(2)
  expect_message(fitted <- fit(gan(privacy = private_dp(1)), data, verbose = TRUE),
                 "Private fit: 50 epochs, batch size 300")
  expect_equal(fitted$spec[c("epochs", "batch_size", "critic", "learning_rate")],
               list(epochs = 50L, batch_size = 300L, critic = c(64L, 64L), learning_rate = 2e-4))
  expect_equal(fitted$spec$control$critic_steps, 1L)
  kept <- fit(gan(epochs = 2, batch_size = 50, learning_rate = 1e-3, privacy = private_dp(1),
                  control = gan_control(critic_steps = 2)), data, verbose = FALSE)
  expect_equal(kept$spec[c("epochs", "batch_size", "critic", "learning_rate")],
               list(epochs = 2L, batch_size = 50L, critic = c(64L, 64L), learning_rate = 1e-3))
  expect_equal(kept$spec$control$critic_steps, 2L)
  # Without the release (min-max scaling from the bounds, the old behaviour), the same
  # budget gives far worse marginals.
  similarity <- function(model) {
    syn <- withr::with_seed(1, synthesize(model, 2000))
    mean(mapply(sygnet:::marginal_similarity, data, syn,
                ifelse(vapply(data, is.numeric, logical(1)), "numeric", "categorical")))
  }
  unreleased <- suppressWarnings(fit(gan(privacy = private_dp(1, marginal_share = 0)), data,
                                     verbose = FALSE), classes = "sygnet_warning_collapse")
  expect_gt(similarity(fitted), 0.8)
  expect_gt(similarity(fitted), similarity(unreleased) + 0.1)
})

test_that("released feature means carry the relations between columns into private draws", {
  skip_on_cran()
  data <- private_data(6000, seed = 3)
  truth <- stats::cor(data$age, data$income)
  fitted <- fit(gan(privacy = private_dp(3)), data, verbose = FALSE)
  p <- fitted$privacy
  expect_false(is.na(p$moment_noise))
  expect_equal(dp_epsilon(p$moment_noise, 1, 1, p$delta), 0.4 * 3, tolerance = 1e-4)
  uses <- data.frame(noise_multiplier = c(p$marginal_noise, p$moment_noise, p$noise_multiplier),
                     sample_rate = c(1, 1, p$sample_rate),
                     critic_updates = c(1, 1, p$critic_updates))
  expect_equal(sygnet:::composed_epsilon(uses, p$delta), p$epsilon_spent)
  expect_lte(p$epsilon_spent, 3)
  syn <- withr::with_seed(1, synthesize(fitted, 6000))
  expect_lt(abs(stats::cor(syn$age, syn$income, use = "complete.obs") - truth), 0.1)
  # The same marginals without the relations fail the same check.
  shuffled <- withr::with_seed(1, as.data.frame(lapply(syn, function(x) x[sample.int(length(x))])))
  expect_gt(abs(stats::cor(shuffled$age, shuffled$income, use = "complete.obs") - truth), 0.1)
  # Too few rows for any mean to be worth its noise: nothing is released or charged.
  small <- fit(gan(epochs = 2, privacy = private_dp(1)), private_data(100), verbose = FALSE)
  expect_true(is.na(small$privacy$moment_noise))
  expect_null(sygnet:::model_info(small)$rejection_acceptance)
})

test_that("a private fit spends at most its budget and reports it", {
  data <- private_data()
  set.seed(1)
  fitted <- fit(gan(epochs = 3, batch_size = 50, privacy = private_dp()), data, verbose = FALSE)
  p <- fitted$privacy
  expect_equal(p$epsilon, 1)
  expect_lte(p$epsilon_spent, 1)
  expect_gt(p$epsilon_spent, 0.99)
  expect_equal(p$delta, min(1e-5, 0.1 / 300))
  expect_equal(p$sample_rate, 50 / 300)
  # one critic update per generator update: the private default
  expect_equal(p$critic_updates, 3 * 6 * 1)
  expect_equal(p$critic_updates, p$max_critic_updates)
  # the histogram release and the critic updates together spend what the fit reports
  uses <- data.frame(noise_multiplier = c(p$marginal_noise, p$noise_multiplier),
                     sample_rate = c(1, p$sample_rate), critic_updates = c(1, p$critic_updates))
  expect_equal(sygnet:::composed_epsilon(uses, p$delta), p$epsilon_spent)
  expect_lt(dp_epsilon(p$noise_multiplier, p$sample_rate, p$critic_updates, p$delta), p$epsilon_spent)
  expect_equal(dp_epsilon(p$marginal_noise, 1, 1, p$delta), 0.5, tolerance = 1e-4)
  expect_null(fitted$check)
  # No rejection sampler: it would read the training rows outside the budget.
  expect_null(sygnet:::model_info(fitted)$rejection_acceptance)
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
              privacy = private_dp(0.5, noise_multiplier = 0.5))
  expect_error(fit(spec, data, verbose = FALSE), "budget", class = "sygnet_error_config")
})

test_that("private fits read nothing public from the data and say what is missing", {
  data <- private_data()
  spec <- function(bounds, levels = private_levels) {
    gan(epochs = 1, privacy = dp(1, bounds = bounds, levels = levels))
  }
  expect_error(fit(spec(list(age = c(16, 99))), data, verbose = FALSE), "income",
               class = "sygnet_error_input")
  expect_error(fit(spec(c(private_bounds, list(height = c(1, 2)))), data, verbose = FALSE),
               "height", class = "sygnet_error_input")
  # levels are never taken from a factor or from the data's strings
  expect_error(fit(spec(private_bounds, levels = NULL), data, verbose = FALSE),
               "sex.*declared", class = "sygnet_error_input")
  with_text <- data
  with_text$city <- sample(c("a", "b"), nrow(data), TRUE)
  expect_error(fit(spec(private_bounds), with_text, verbose = FALSE), "city",
               class = "sygnet_error_input")
  expect_error(fit(spec(private_bounds, levels = c(private_levels, list(age = "1"))), data,
                   verbose = FALSE), "age", class = "sygnet_error_input")
})

test_that("private fits handle any value by fixed rules and keep the declared schema", {
  data <- private_data(100)
  data$city <- sample(c("Oslo", "Bergen", "Tromsø"), nrow(data), TRUE)
  data$income[1:3] <- c(Inf, NaN, -Inf)
  data$sex[4] <- "other"
  original <- data
  levels <- list(sex = c("male", "female", "other", "diverse"), city = c("Oslo", "Bergen"))
  spec <- gan(epochs = 1, batch_size = 50,
              privacy = dp(2, bounds = private_bounds, levels = levels, rows = 120))
  fitted <- fit(spec, data, verbose = FALSE)
  expect_identical(data, original)
  expect_identical(levels(fitted$template$sex), levels$sex)
  expect_equal(fitted$n, 120)
  expect_equal(fitted$privacy$sample_rate, 50 / 120)
  syn <- synthesize(fitted)
  expect_equal(nrow(syn), 120)
  expect_identical(levels(syn$sex), levels$sex)
  expect_type(syn$city, "character")
  expect_true(all(syn$city %in% c(levels$city, NA)))
})

test_that("private Date and date-time columns come back as whole days and seconds", {
  data <- private_data(100)
  data$day <- as.Date("2020-01-01") + sample(0:365, 100, TRUE)
  data$time <- as.POSIXct("2020-01-01", tz = "UTC") + sample(0:86400, 100, TRUE)
  bounds <- c(private_bounds, list(day = as.Date(c("2019-01-01", "2021-12-31")),
                                   time = as.POSIXct(c("2019-01-01", "2021-01-01"), tz = "UTC")))
  spec <- gan(epochs = 1, batch_size = 50,
              privacy = dp(2, bounds = bounds, levels = private_levels))
  syn <- synthesize(fit(spec, data, verbose = FALSE), 200)
  expect_s3_class(syn$day, "Date")
  expect_true(all(unclass(syn$day) == round(unclass(syn$day)), na.rm = TRUE))
  expect_true(all(unclass(syn$time) == round(unclass(syn$time)), na.rm = TRUE))
  expect_true(all(syn$day >= bounds$day[1] & syn$day <= bounds$day[2], na.rm = TRUE))
})

test_that("replaying a released private fit cannot tell neighbouring data sets apart", {
  # The attacker holds the released fit and every row but one, and knows the script:
  # the data is `data` or its neighbour with one income changed. Replaying the fit after
  # the same set.seed() on both candidates and comparing model bytes identifies the
  # truth for an ordinary fit; for a private fit the release matches no replay.
  data <- private_data(60)
  neighbour <- data
  neighbour$income[1] <- 150000
  small <- function(privacy = NULL) {
    gan(epochs = 2, batch_size = 20, generator = c(16L, 16L), critic = c(16L, 16L),
        privacy = privacy, control = gan_control(pac = 1))
  }
  replay <- function(spec, d) {
    set.seed(1)
    fit(spec, d, verbose = FALSE)
  }
  plain <- replay(small(), data)
  expect_identical(replay(small(), data)$model, plain$model)
  expect_false(identical(replay(small(), neighbour)$model, plain$model))

  private <- replay(small(private_dp()), data)
  expect_false(identical(replay(small(private_dp()), data)$model, private$model))
  expect_false(identical(replay(small(private_dp()), neighbour)$model, private$model))
  # and nothing in the object or its printouts is a seed
  expect_null(private$seeds)
  expect_length(plain$seeds, 1L)
  printed <- c(capture.output(print(private)), capture.output(print(summary(private))))
  expect_false(any(grepl("seed", printed, ignore.case = TRUE)))
  expect_true(any(grepl("seed", capture.output(print(summary(plain))))))
})

test_that("a budget ledger adds up private fits and refuses one too many", {
  data <- private_data(100)
  budget <- dp_budget(epsilon = 1.2, delta = 1e-5)
  spec <- gan(epochs = 2, batch_size = 50,
              privacy = private_dp(1, delta = 1e-5, budget = budget))
  first <- fit(spec, data, verbose = FALSE)
  expect_equal(dp_budget_spent(budget), first$privacy$epsilon_spent, tolerance = 1e-9)
  expect_null(first$spec$privacy$budget)
  expect_output(print(budget), "1 fit")
  expect_error(fit(spec, data, verbose = FALSE), "budget", class = "sygnet_error_budget")
  expect_equal(sygnet:::ledger_fits(budget$uses), 1L)
  expect_equal(nrow(budget$uses), 2L) # the histogram release and the critic updates
  small <- gan(epochs = 2, batch_size = 50,
               privacy = private_dp(0.1, delta = 1e-5, budget = budget))
  second <- fit(small, data, verbose = FALSE)
  spent <- dp_budget_spent(budget)
  expect_gt(spent, first$privacy$epsilon_spent)
  expect_lt(spent, first$privacy$epsilon_spent + second$privacy$epsilon_spent)
  expect_lte(spent, 1.2)
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
    # the private fit's draws collapse; what matters here is that they copy nothing
    fitted <- suppressWarnings(fit(spec, train, verbose = FALSE, threads = 2),
                               classes = "sygnet_warning_collapse")
    risk <- withr::with_seed(1, disclosure_risk(simulate(fitted, nsim = 3, seed = 4), train,
                                                holdout = holdout))
    risk$measures$synthetic[risk$measures$measure == "membership_auc"]
  }
  expect_gt(membership(NULL), 0.65)
  # A private fit's noise is secret, not seeded: one fit's AUC moves by about 0.05 (its
  # standard error with 40 members), so three are averaged.
  private <- replicate(3, membership(dp(epsilon = 1, bounds = bounds,
                                        levels = list(g = c("x", "y")))))
  expect_lt(abs(mean(private) - 0.5), 0.1)
})

test_that("two private fits after the same seed differ, and draws from a fit replay", {
  spec <- gan(epochs = 1, batch_size = 50, privacy = private_dp())
  data <- private_data()
  set.seed(1)
  one <- fit(spec, data, verbose = FALSE)
  set.seed(1)
  two <- fit(spec, data, verbose = FALSE)
  expect_false(identical(one$model, two$model))
  set.seed(2)
  a <- synthesize(one, 20)
  set.seed(2)
  expect_identical(synthesize(one, 20), a)
})
