# Survey files: labelled columns, missing-value codes and variable labels.

survey_file <- function(n = 600) {
  withr::with_seed(11, {
    d <- data.frame(
      id = seq_len(n),
      sex = haven::labelled(sample(c(1, 2), n, TRUE), c(male = 1, female = 2),
                            label = "Sex of respondent"),
      income = haven::labelled(round(exp(rnorm(n, 7, 0.6))),
                               c("don't know" = -8, refused = -9), label = "Monthly income"),
      happy = haven::labelled_spss(
        sample(c(1:4, 8, 9), n, TRUE, prob = c(.2, .3, .3, .1, .05, .05)),
        c(very = 1, fairly = 2, not_very = 3, not = 4, dk = 8, na = 9),
        na_values = c(8, 9), label = "Happiness"),
      hours = haven::labelled_spss(c(round(runif(n - 60, 10, 60)), rep(-1, 60)),
                                   c(inapplicable = -1), na_range = c(-9, -1),
                                   label = "Hours worked"),
      wt = runif(n, 0.5, 2)
    )
    d$income[sample(n, 30)] <- -8
    d$income[sample(n, 12)] <- -9
    score <- c(rnorm(n - 50), rep(NA, 50))
    score[1:40] <- haven::tagged_na("a")
    score[41:50] <- haven::tagged_na("b")
    d$score <- haven::labelled(score, c("not asked" = haven::tagged_na("a")), label = "Score")
    attr(d$wt, "label") <- "Design weight"
    attr(d$id, "label") <- "Person number"
    d
  })
}

test_that("labelled columns and variable labels come back as they were, through a .dta file", {
  skip_if_not_installed("haven")
  d <- survey_file()
  before <- d
  set.seed(1)
  model <- fit(d, epochs = 30, ids = "id", missing_codes = list(income = c(-8, -9)),
               weights = "wt", verbose = FALSE)
  expect_identical(d, before)
  model <- unserialize(serialize(model, NULL))
  s <- synthesize(model)
  expect_identical(names(s), names(d))
  for (v in setdiff(names(d), "id")) {
    expect_identical(attributes(s[[v]]), attributes(d[[v]]), label = v)
    expect_identical(typeof(s[[v]]), typeof(d[[v]]), label = v)
  }
  expect_identical(attr(s$id, "label"), "Person number")
  expect_false(any(s$id %in% d$id))
  # Every value of an all-labelled column is one of its labels.
  expect_true(all(s$sex %in% c(1, 2)))
  expect_true(all(s$happy %in% c(1:4, 8, 9)))
  # Tagged missing values keep their tags; plain numbers stay numbers.
  tags <- haven::na_tag(s$score)
  expect_setequal(unique(tags[!is.na(tags)]), c("a", "b"))
  expect_gt(sum(!is.na(s$score)), 400)

  # utility() reads an all-labelled column as categories and the others as numbers.
  u <- utility(s[-1], d[-1], formula = income ~ sex + hours)
  expect_setequal(u$marginals$column, setdiff(names(d), "id"))
  expect_true(is.factor(u$data$sex) && is.numeric(u$data$income))
  expect_identical(levels(u$synthetic$happy), as.character(c(1:4, 8, 9)))
  expect_equal(nrow(u$regression), 3L)

  dta_real <- tempfile(fileext = ".dta")
  dta_synthetic <- tempfile(fileext = ".dta")
  haven::write_dta(d, dta_real)
  haven::write_dta(s, dta_synthetic)
  real <- haven::read_dta(dta_real)
  synthetic <- haven::read_dta(dta_synthetic)
  expect_identical(lapply(synthetic, class), lapply(real, class))
  expect_identical(lapply(synthetic, attr, "labels"), lapply(real, attr, "labels"))
  expect_identical(lapply(synthetic, attr, "label"), lapply(real, attr, "label"))
  expect_identical(lapply(synthetic, typeof), lapply(real, typeof))
})

test_that("declared codes come back at their values and rates, apart from the continuous part", {
  n <- 2000
  d <- withr::with_seed(3, {
    income <- round(exp(rnorm(n, 8, 0.5)))
    code <- sample(c(NA, -8, -9), n, TRUE, prob = c(0.94, 0.04, 0.02))
    age <- round(runif(n, 20, 65))
    data.frame(age = age, income = ifelse(is.na(code), income, code))
  })
  low <- min(d$income[d$income > 0])
  set.seed(2)
  coded <- fit(d, epochs = 40, missing_codes = list(income = c(-8, -9)), verbose = FALSE)
  set.seed(2)
  plain <- fit(d, epochs = 40, verbose = FALSE)
  s <- synthesize(coded, n = 20000)
  expect_equal(mean(s$income == -8), mean(d$income == -8), tolerance = 0.02 / 0.04)
  expect_equal(mean(s$income == -9), mean(d$income == -9), tolerance = 0.015 / 0.02)
  # Nothing between the codes and the lowest real income: the codes are not smeared.
  expect_false(any(s$income > -8 & s$income < low))
  expect_gte(min(s$income[s$income > 0]), low)
  # Undeclared, the codes are part of the range, and draws fall in between.
  p <- synthesize(plain, n = 20000)
  expect_gt(mean(p$income > -8 & p$income < low), 0.001)
})

test_that("SPSS user-missing values are learned as codes", {
  skip_if_not_installed("haven")
  d <- survey_file(800)[c("hours", "happy", "wt")]
  set.seed(4)
  model <- fit(d, epochs = 30, verbose = FALSE)
  s <- synthesize(model, n = 4000)
  hours <- unclass(s$hours)
  attributes(hours) <- NULL
  # The code -1 (in na_range) is an exact value at about its rate; no value lies between
  # it and the lowest real number of hours.
  expect_equal(mean(hours == -1), mean(d$hours == -1), tolerance = 0.05 / 0.075)
  expect_false(any(hours > -1 & hours < 10))
})

test_that("bad missing-value codes are classed errors naming the column", {
  d <- data.frame(income = c(1:50, -8, -8), grp = factor(rep(c("a", "b"), 26)))
  expect_error(fit(d, epochs = 1, missing_codes = list(wage = -8), verbose = FALSE),
               class = "sygnet_error_input", regexp = "wage")
  expect_error(fit(d, epochs = 1, missing_codes = list(income = c(-8, -9)), verbose = FALSE),
               class = "sygnet_error_input", regexp = "income.*-9")
  expect_error(fit(d, epochs = 1, missing_codes = list(grp = 1), verbose = FALSE),
               class = "sygnet_error_input", regexp = "grp")
  expect_error(gan(missing_codes = list(income = NA)), class = "sygnet_error_input",
               regexp = "income")
  expect_error(gan(missing_codes = c(income = -8)), class = "sygnet_error_input",
               regexp = "missing_codes")
  expect_error(gan(missing_codes = list(income = -8), privacy = dp(1, bounds = list(income = c(-9, 60)))),
               class = "sygnet_error_input", regexp = "privacy")
})

test_that("private fits refuse labelled columns and say how to convert them", {
  skip_if_not_installed("haven")
  d <- survey_file(200)[c("sex", "wt")]
  expect_error(fit(d, privacy = dp(1, bounds = list(wt = c(0, 3)),
                                   levels = list(sex = c("1", "2"))), verbose = FALSE),
               class = "sygnet_error_input", regexp = "as_factor")
})
