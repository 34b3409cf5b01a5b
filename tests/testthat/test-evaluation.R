# utility(), disclosure_risk(), pool_synthetic() and as_synds() on cases with known
# answers: the real data itself, data with independent columns, and a fitted model.

associated_data <- function(n = 1500, seed = 1) {
  withr::with_seed(seed, {
    x <- stats::rnorm(n)
    group <- factor(ifelse(x + stats::rnorm(n, sd = 0.5) > 0, "high", "low"))
    y <- 2 * x + stats::rnorm(n, sd = 0.5)
    income <- round(exp(1 + 0.5 * x + stats::rnorm(n, sd = 0.3)), 1)
    income[sample(n, n / 10)] <- NA
    data.frame(x = x, y = y, group = group, income = income,
               region = factor(sample(c("north", "south", "east"), n, TRUE)))
  })
}

shuffle_columns <- function(data, seed = 2) {
  withr::with_seed(seed, as.data.frame(lapply(data, function(v) v[sample(length(v))])))
}

test_that("the real data itself has perfect utility", {
  real <- associated_data()
  u <- withr::with_seed(1, utility(real, real, formula = y ~ x + group))
  expect_s3_class(u, "sygnet_utility")
  expect_equal(u$marginals$similarity, rep(1, 5))
  expect_equal(u$marginals$missing_difference, rep(0, 5))
  expect_equal(u$associations$difference, rep(0, nrow(u$associations)))
  expect_equal(nrow(u$associations), choose(5, 2))
  expect_lt(u$propensity$ratio[1], 1e-6)
  # synthetic rows sitting on real ones: fewer mixed neighbourhoods than chance
  expect_lt(u$propensity$ratio[2], 0.5)
  expect_equal(u$regression$ci_overlap, rep(1, 3))
  expect_equal(u$regression$std_difference, rep(0, 3))
  expect_true(all(u$regression$sign_agrees & u$regression$significance_agrees))
})

test_that("independent columns keep marginals but lose associations and the regression", {
  real <- associated_data()
  indep <- shuffle_columns(real)
  u <- withr::with_seed(1, utility(indep, real, formula = y ~ x, target = "y"))
  expect_equal(u$marginals$similarity, rep(1, 5))
  xy <- u$associations[u$associations$column_1 == "x" & u$associations$column_2 == "y", ]
  expect_equal(xy$measure, "pearson")
  expect_gt(xy$real, 0.9)
  expect_lt(abs(xy$synthetic), 0.1)
  slope <- u$regression[u$regression$term == "x", ]
  expect_equal(slope$ci_overlap, 0)
  expect_false(slope$significance_agrees)
  # main effects cannot see shuffled rows; nearest neighbours and the forest can
  expect_lt(u$propensity$ratio[1], 3)
  expect_gt(u$propensity$ratio[2], 3)
  skip_if_not_installed("ranger")
  expect_equal(u$propensity$model[3], "forest")
  expect_gt(u$propensity$auc[3], 0.7)
  expect_gt(u$propensity$ratio[3], 3)
  expect_equal(u$prediction$metric, "r_squared")
  expect_gt(u$prediction$train_real, 0.8)
  expect_lt(u$prediction$train_synthetic, 0.1)
})

test_that("conditional missingness shows who is missing, not only how many", {
  real <- associated_data(2000)
  # income is missing exactly when x is high; the synthetic copy keeps the share of
  # missing incomes but spreads them at random
  real$income <- ifelse(real$x > stats::quantile(real$x, 0.75), NA, round(exp(real$x), 1))
  synthetic <- real
  synthetic$income <- withr::with_seed(3, sample(real$income))
  u <- withr::with_seed(1, utility(synthetic, real))
  expect_equal(u$marginals$missing_difference[u$marginals$column == "income"], 0)
  by_x <- u$missingness[u$missingness$column == "income" & u$missingness$by == "x", ]
  expect_equal(nrow(by_x), 4L)
  expect_equal(by_x$real, c(0, 0, 0, 1))
  expect_true(all(abs(by_x$synthetic - 0.25) < 0.06))
  expect_output(print(u), "income.*missing when.*x")
  same <- withr::with_seed(1, utility(real, real))
  expect_equal(same$missingness$difference, rep(0, nrow(same$missingness)))
})

test_that("the forest detector cannot tell fresh rows of the same population apart", {
  skip_if_not_installed("ranger")
  real <- associated_data(1500, seed = 1)
  fresh <- associated_data(1500, seed = 2)
  u <- withr::with_seed(1, utility(fresh, real))
  expect_lt(abs(u$propensity$auc[3] - 0.5), 0.05)
  expect_lt(u$propensity$ratio[3], 2)
})

test_that("a fitted generator keeps the strong association that shuffling destroys", {
  skip_on_cran()
  real <- associated_data(800)[c("x", "y", "group")]
  set.seed(3)
  fitted <- fit(gan(epochs = 150, generator = c(64L, 64L), critic = c(64L, 64L)), real, verbose = FALSE)
  sets <- simulate(fitted, nsim = 2, seed = 4)
  u_gan <- withr::with_seed(1, utility(sets, real, formula = y ~ x))
  u_ind <- withr::with_seed(1, utility(shuffle_columns(real), real, formula = y ~ x))
  xy <- function(u) abs(u$associations$difference[u$associations$column_2 == "y" & u$associations$column_1 == "x"])
  expect_lt(xy(u_gan), 0.3)
  expect_lt(xy(u_gan), xy(u_ind) / 2)
  expect_lt(abs(u_gan$regression$std_difference[2]), abs(u_ind$regression$std_difference[2]) / 2)
  expect_lt(u_gan$propensity$ratio[2], u_ind$propensity$ratio[2])
  expect_true(u_gan$regression$sign_agrees[2])
  expect_equal(u_gan$m, 2L)
})

test_that("a model that cannot be fitted to synthetic data gives a warning, not an error", {
  real <- associated_data(200)
  flat <- real
  flat$group <- factor(rep("high", 200), levels = levels(real$group))
  expect_warning(u <- withr::with_seed(1, utility(flat, real, formula = y ~ group)),
                 class = "sygnet_warning_model")
  expect_true(all(is.na(u$regression$synthetic)))
  expect_equal(u$regression$real, unname(stats::coef(stats::lm(y ~ group, real))))
})

test_that("confidence-interval overlap matches hand-computed values", {
  # [0, 2] and [1, 3]: overlap 1, half of each
  expect_equal(sygnet:::ci_overlap(0, 2, 1, 3), 0.5)
  # [0, 2] and [1, 5]: overlap 1, half of one and a quarter of the other
  expect_equal(sygnet:::ci_overlap(0, 2, 1, 5), 0.375)
  expect_equal(sygnet:::ci_overlap(0, 1, 2, 3), 0)
  expect_equal(sygnet:::ci_overlap(0, 4, 1, 2), 0.5 * (1 / 4 + 1))
})

test_that("pooled variances follow the synthetic-data combining rules", {
  sets <- lapply(1:3, function(i) associated_data(200, seed = 10 + i))
  fits <- lapply(sets, function(s) summary(stats::lm(y ~ x, data = s))$coefficients)
  q <- vapply(fits, function(f) f["x", 1], numeric(1))
  v <- vapply(fits, function(f) f["x", 2]^2, numeric(1))
  n <- 400
  k <- 200
  m <- 3
  simple <- pool_synthetic(sets, y ~ x, n = n)
  expect_s3_class(simple, "sygnet_pooled")
  expect_equal(simple$estimate[2], mean(q))
  expect_equal(simple$se[2], sqrt(mean(v) * (k / n + 1 / m)))
  observed <- pool_synthetic(sets, y ~ x, n = n, inference = "observed")
  expect_equal(observed$se[2], sqrt(mean(v) / m))
  proper <- pool_synthetic(sets, y ~ x, n = n, rule = "proper")
  expect_equal(proper$se[2], sqrt(mean(v) * (k / n + (1 + k / n) / m)))
  fully <- pool_synthetic(sets, y ~ x, n = n, rule = "fully")
  t_f <- (1 + 1 / m) * stats::var(q) - mean(v)
  expect_equal(fully$se[2], sqrt(if (t_f > 0) t_f else mean(v) * k / n))
  expect_equal(simple$lower[2], mean(q) - stats::qnorm(0.975) * simple$se[2])
  expect_output(print(simple), "simple synthesis")
})

test_that("pool_synthetic takes the real row count from simulate()", {
  real <- associated_data(300)[c("x", "y")]
  set.seed(5)
  # two epochs: the draws may well collapse, which is beside the point here
  fitted <- suppressWarnings(fit(gan(epochs = 2), real, verbose = FALSE),
                             classes = "sygnet_warning_collapse")
  sets <- simulate(fitted, nsim = 2, seed = 1, n = 150)
  pooled <- pool_synthetic(sets, y ~ x)
  expect_equal(attr(pooled, "n"), 300)
  expect_equal(attr(pooled, "k"), 150)
  expect_error(pool_synthetic(unclass(sets)[1:2], y ~ x), class = "sygnet_error_input")
  expect_error(pool_synthetic(sets, y ~ x, rule = "fully", inference = "observed"),
               class = "sygnet_error_input")
})

test_that("the real data as its own synthetic copy is maximal risk", {
  data <- associated_data(1200)
  train <- data[1:800, ]
  holdout <- data[801:1200, ]
  risk <- withr::with_seed(1, disclosure_risk(train, train, holdout = holdout,
                                              keys = c("x", "region"), target = "group"))
  expect_s3_class(risk, "sygnet_risk")
  value <- function(r, m) r$measures$synthetic[r$measures$measure == m]
  reference <- function(r, m) r$measures$reference[r$measures$measure == m]
  expect_equal(value(risk, "copies"), 1)
  expect_equal(reference(risk, "copies"), 0)
  expect_equal(value(risk, "dcr_median"), 0)
  expect_gt(reference(risk, "dcr_median"), 0)
  expect_equal(value(risk, "dcr_below_5pct"), 1)
  expect_gt(value(risk, "membership_auc"), 0.95)
  expect_equal(value(risk, "attribute_tcap"), reference(risk, "attribute_tcap"))
})

test_that("independent columns copy no one and leak little", {
  data <- associated_data(1200)
  train <- data[1:800, ]
  holdout <- data[801:1200, ]
  risk <- withr::with_seed(1, disclosure_risk(shuffle_columns(train), train, holdout = holdout))
  value <- function(m) risk$measures$synthetic[risk$measures$measure == m]
  expect_equal(value("copies"), 0)
  expect_gt(value("dcr_median"), risk$measures$reference[risk$measures$measure == "dcr_median"])
  expect_lt(abs(value("membership_auc") - 0.5), 0.1)
})

test_that("attribute disclosure finds a target the keys determine", {
  withr::local_seed(1)
  n <- 600
  real <- data.frame(a = factor(sample(letters[1:6], n, TRUE)), b = factor(sample(1:5, n, TRUE)))
  real$secret <- factor(paste0(real$a, real$b))
  risk <- disclosure_risk(real, real, keys = c("a", "b"), target = "secret")
  value <- function(r, m) r$measures$synthetic[r$measures$measure == m]
  expect_equal(value(risk, "attribute_tcap"), 1)
  expect_equal(value(risk, "attribute_disclosed"), 1)
  expect_lt(value(risk, "attribute_baseline"), 0.1)
  shuffled <- real
  shuffled$secret <- sample(shuffled$secret)
  blurred <- disclosure_risk(shuffled, real, keys = c("a", "b"), target = "secret")
  expect_lt(value(blurred, "attribute_disclosed"), 0.3)
})

test_that("evaluation input errors name the problem", {
  real <- associated_data(100)
  expect_error(utility(real[-2], real), "y", class = "sygnet_error_input")
  bad <- real
  bad$group <- as.numeric(bad$group)
  expect_error(utility(bad, real), "group", class = "sygnet_error_input")
  expect_error(utility(list(real, 1), real), class = "sygnet_error_input")
  expect_error(utility(real, real, target = "nope"), "nope", class = "sygnet_error_input")
  expect_error(utility(real, real, formula = "y ~ x"), class = "sygnet_error_input")
  expect_error(disclosure_risk(real, real, keys = "x"), class = "sygnet_error_input")
  expect_error(disclosure_risk(real, real, holdout = real["x"]), "holdout", class = "sygnet_error_input")
})

test_that("evaluation leaves its inputs unmodified and accepts tibbles", {
  skip_if_not_installed("tibble")
  real <- associated_data(300)
  syn <- shuffle_columns(real)
  before <- list(real, syn)
  tib <- tibble::as_tibble(syn)
  withr::with_seed(1, utility(tib, real, formula = y ~ x))
  disclosure_risk(tib, real)
  expect_identical(list(real, syn), before)
})

test_that("print, summary and plot methods run", {
  skip_if_not_installed("ggplot2")
  real <- associated_data(300)
  u <- withr::with_seed(1, utility(shuffle_columns(real), real, formula = y ~ x, target = "y"))
  expect_output(print(u), "Propensity AUC.*random forest")
  expect_output(print(summary(u)), "Pairwise associations")
  withr::local_pdf(NULL)
  expect_length(plot(u), 2L)
  expect_s3_class(plot(u, "coefficients"), "ggplot")
  expect_s3_class(plot(u, "associations"), "ggplot")
  r <- disclosure_risk(shuffle_columns(real), real)
  expect_output(print(r), "dcr_median")
  expect_s3_class(plot(r), "ggplot")
})

test_that("as_synds builds an object synthpop can analyse", {
  real <- associated_data(200)
  sets <- list(shuffle_columns(real, 1), shuffle_columns(real, 2))
  sds <- as_synds(sets, real)
  expect_s3_class(sds, "synds")
  expect_equal(sds$m, 2L)
  expect_equal(sds$n, 200L)
  expect_false(sds$proper)
  skip_if_not_installed("synthpop")
  fit_syn <- synthpop::lm.synds(y ~ x, data = sds)
  expect_equal(unname(fit_syn$mcoefavg), pool_synthetic(sets, y ~ x, n = 200)$estimate)
})

test_that("dates and date-times are compared in the same unit, and dates never as numbers", {
  real <- data.frame(day = as.Date("2020-01-01") + 0:99, x = seq_len(100))
  as_times <- real
  as_times$day <- as.POSIXct(format(real$day), tz = "UTC")
  risk <- withr::with_seed(1, disclosure_risk(as_times, real))
  expect_equal(risk$measures$synthetic[risk$measures$measure == "copies"], 1)
  u <- withr::with_seed(1, utility(as_times, real))
  expect_equal(u$marginals$similarity[u$marginals$column == "day"], 1)
  as_numbers <- real
  as_numbers$day <- as.numeric(real$day)
  expect_error(utility(as_numbers, real), "day.*Date.*numbers", class = "sygnet_error_input")
  expect_error(disclosure_risk(as_numbers, real), "day.*Date", class = "sygnet_error_input")
})

test_that("a prediction that cannot be learned from synthetic data warns and leaves NA", {
  real <- associated_data(300)
  one_class <- real
  one_class$group <- factor("high", levels = levels(real$group))
  expect_warning(u <- withr::with_seed(1, utility(one_class, real, target = "group")),
                 "group", class = "sygnet_warning_model")
  expect_true(is.na(u$prediction$train_synthetic))
  expect_gt(u$prediction$train_real, 0.6)
})
