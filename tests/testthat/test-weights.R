# A stratified sample: the rare stratum is oversampled, so unweighted means are far
# from the population's; weights undo that.
weighted_sample <- function(n = 1200) {
  withr::with_seed(5, {
    stratum <- rep(c("rare", "common"), c(n / 2, n / 2))
    income <- ifelse(stratum == "rare", stats::rnorm(n, 80, 10), stats::rnorm(n, 40, 10))
    data.frame(stratum = factor(stratum), income = round(income, 1),
               weight = ifelse(stratum == "rare", 1, 9))
  })
}

test_that("a weighted fit learns the weighted distribution", {
  data <- weighted_sample()
  original <- data
  weighted_mean <- stats::weighted.mean(data$income, data$weight)   # about 44
  set.seed(1)
  spec <- gan(epochs = 40, batch_size = 100, generator = c(64, 64), critic = c(64, 64))
  plain <- fit(spec, data, verbose = FALSE)
  weighted <- fit(spec, data, weights = "weight", verbose = FALSE)
  expect_identical(data, original)
  expect_identical(weighted$weights, "weight")
  syn_plain <- synthesize(plain, 4000)
  syn_weighted <- synthesize(weighted, 4000)
  # the unweighted fit follows the sample (mean about 60), the weighted one the population
  expect_lt(abs(mean(syn_weighted$income) - weighted_mean), 5)
  expect_gt(abs(mean(syn_plain$income) - weighted_mean), 10)
  expect_lt(abs(mean(syn_weighted$stratum == "rare") - 0.1), 0.07)
  expect_true("weight" %in% names(syn_weighted))
})

test_that("bad weights are classed errors naming the column", {
  data <- weighted_sample(200)
  expect_error(fit(tiny_gan(), data, weights = "nope", verbose = FALSE), "nope",
               class = "sygnet_error_input")
  expect_error(fit(tiny_gan(), transform(data, weight = -weight), weights = "weight",
                   verbose = FALSE), "weight", class = "sygnet_error_input")
  expect_error(fit(tiny_gan(), transform(data, weight = replace(weight, 3, NA)),
                   weights = "weight", verbose = FALSE), "weight", class = "sygnet_error_input")
  expect_error(fit(tiny_gan(), data, weights = "stratum", verbose = FALSE), "stratum",
               class = "sygnet_error_input")
  expect_error(fit(tiny_gan(), data, weights = c("weight", "income"), verbose = FALSE),
               "weights", class = "sygnet_error_input")
  expect_error(fit(tiny_gan(condition_on = "stratum"), data, weights = "weight",
                   verbose = FALSE), "conditioning", class = "sygnet_error_input")
  private <- dp(1, bounds = list(income = c(0, 200), weight = c(0, 10)),
                levels = list(stratum = c("common", "rare")))
  expect_error(fit(gan(privacy = private), data, weights = "weight", verbose = FALSE),
               "privacy", class = "sygnet_error_input")
})

test_that("a weighted fit of a stratified school survey reproduces its weighted means", {
  skip_if_not_installed("survey")
  # California schools (r-cran-survey): a sample stratified by school type, with
  # elementary schools undersampled, so unweighted means miss the population's.
  api <- new.env()
  utils::data("api", package = "survey", envir = api)
  schools <- api$apistrat[c("stype", "api00", "enroll", "meals", "ell", "pw")]
  design <- survey::svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc,
                              data = api$apistrat)
  columns <- c("api00", "enroll", "meals")
  estimate <- survey::svymean(stats::reformulate(columns), design)
  se <- survey::SE(estimate)
  # The test can fail: unweighted, enrolment is more than five standard errors off.
  expect_gt(abs(mean(schools$enroll) - estimate[["enroll"]]) / se[["enroll"]], 5)
  set.seed(3)
  model <- fit(schools, weights = "pw", verbose = FALSE)
  synthetic <- synthesize(model, 20000)
  z <- (colMeans(synthetic[columns]) - estimate[columns]) / se[columns]
  expect_true(all(abs(z) < 2), label = paste(names(z), round(z, 2), collapse = ", "))
  # utility() with the weights compares the synthetic rows with the population the
  # weights describe, which they match better than they match the sample
  drawn <- synthetic[seq_len(2000), ]
  enroll_similarity <- function(u) u$marginals$similarity[u$marginals$column == "enroll"]
  expect_gt(enroll_similarity(utility(drawn, schools, weights = "pw")),
            enroll_similarity(utility(drawn, schools)))
  sets <- simulate(model, nsim = 2, seed = 1, n = 100)
  expect_equal(attr(sets, "effective_rows"), sum(schools$pw)^2 / sum(schools$pw^2))
})

test_that("weighted utility measures equal those of rows repeated by their weight", {
  withr::local_seed(2)
  n <- 300
  data <- data.frame(x = stats::rnorm(n), g = factor(sample(c("a", "b", "c"), n, TRUE)),
                     w = sample(1:4, n, TRUE))
  data$y <- data$x + (data$g == "b") + stats::rnorm(n)
  data$y[sample(n, 40)] <- NA
  synthetic <- data[sample(n, 200), ]
  synthetic$x <- synthetic$x + 0.3
  repeated <- data[rep(seq_len(n), data$w), ]
  weighted <- utility(synthetic, data, formula = y ~ x + g, weights = "w")
  copies <- utility(synthetic, repeated, formula = y ~ x + g)
  expect_equal(weighted$marginals, copies$marginals)
  expect_equal(weighted$associations, copies$associations)
  by_g <- function(u) {
    rows <- u$missingness[u$missingness$by == "g", c("band", "real", "synthetic")]
    rows[order(rows$band), ]
  }
  expect_equal(by_g(weighted), by_g(copies), ignore_attr = TRUE)
  expect_equal(weighted$regression$real, copies$regression$real)
  # and they differ from the unweighted measures
  plain <- utility(synthetic, data, formula = y ~ x + g)
  expect_false(isTRUE(all.equal(plain$marginals$similarity, weighted$marginals$similarity)))
  expect_identical(weighted$weights, "w")
})

test_that("weighted regressions have the design-based standard errors of survey::svyglm", {
  skip_if_not_installed("survey")
  api <- new.env()
  utils::data("api", package = "survey", envir = api)
  schools <- api$apistrat
  design <- survey::svydesign(id = ~1, weights = ~pw, data = schools)
  check <- function(formula, family, survey_family) {
    expected <- summary(survey::svyglm(formula, design, family = survey_family))$coefficients
    ours <- design_coefficient_table(formula, family, schools, schools$pw)
    expect_equal(ours$term, rownames(expected))
    expect_equal(ours$estimate, unname(expected[, 1]), tolerance = 1e-8)
    expect_equal(ours$se, unname(expected[, 2]), tolerance = 1e-8)
  }
  check(api00 ~ ell + meals + stype, stats::gaussian(), stats::gaussian())
  check(I(sch.wide == "Yes") ~ ell + enroll, stats::binomial(), stats::quasibinomial())
})

test_that("pooled standard errors use the weighted rows' effective size", {
  withr::local_seed(4)
  sets <- lapply(1:3, function(i) data.frame(x = stats::rnorm(100), y = stats::rnorm(100)))
  w <- rep(c(1, 9), 50)
  by_weights <- pool_synthetic(sets, y ~ x, weights = w)
  effective <- sum(w)^2 / sum(w^2)
  expect_equal(attr(by_weights, "n"), effective)
  expect_equal(by_weights$se, pool_synthetic(sets, y ~ x, n = 200)$se * sqrt((100 / effective + 1 / 3) / (100 / 200 + 1 / 3)))
  expect_error(pool_synthetic(sets, y ~ x, n = 100, weights = w), "not both",
               class = "sygnet_error_input")
  expect_error(pool_synthetic(sets, y ~ x, weights = c(w[-1], -1)), "weights",
               class = "sygnet_error_input")
  expect_error(utility(sets[[1]], sets[[2]], weights = "nope"), "nope",
               class = "sygnet_error_input")
})

test_that("the weighted Kolmogorov-Smirnov statistic with equal weights is ks.test()'s", {
  withr::local_seed(1)
  x <- round(stats::rnorm(200), 1)
  y <- round(stats::rnorm(150, 0.2), 1)
  expected <- unname(suppressWarnings(stats::ks.test(x, y, exact = FALSE))$statistic)
  expect_equal(weighted_ks(x, rep(1, 200), y, rep(1, 150)), expected)
  expect_equal(weighted_ks(x, rep(2, 200), y, rep(1, 150)), expected)
})

test_that("the weights are not a predictor of a weighted regression on all columns", {
  withr::local_seed(3)
  data <- data.frame(x = stats::rnorm(100), w = sample(1:3, 100, TRUE))
  data$y <- data$x + stats::rnorm(100)
  table <- design_coefficient_table(y ~ ., stats::gaussian(), data, data$w)
  expect_identical(table$term, c("(Intercept)", "x", "w"))
})
