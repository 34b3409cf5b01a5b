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
})
