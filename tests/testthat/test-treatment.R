covariates <- function(n) {
  data.frame(age = round(stats::runif(n, 20, 60)), y = stats::rnorm(n),
             group = factor(sample(c("a", "b"), n, TRUE)))
}

test_that("add_treatment() plants a constant effect that a difference in means recovers", {
  set.seed(1)
  df <- covariates(20000)
  before <- df
  out <- add_treatment(df, "y", effect = 1.5, assignment = 0.3)
  expect_identical(df, before)
  expect_identical(out$treatment %in% c(0L, 1L), rep(TRUE, nrow(df)))
  expect_equal(mean(out$treatment), 0.3, tolerance = 0.05)
  truth <- attr(out, "treatment")
  expect_identical(truth$ate, 1.5)
  expect_identical(truth$att, 1.5)
  expect_identical(truth$treated, sum(out$treatment))
  expect_identical(out$y[out$treatment == 0L], df$y[out$treatment == 0L])
  expect_equal(out$y[out$treatment == 1L], df$y[out$treatment == 1L] + 1.5)
  estimate <- mean(out$y[out$treatment == 1L]) - mean(out$y[out$treatment == 0L])
  expect_equal(estimate, 1.5, tolerance = 0.05)
  set.seed(1)
  again <- add_treatment(covariates(20000), "y", effect = 1.5, assignment = 0.3)
  expect_identical(again, out)
})

test_that("heterogeneous effects are evaluated per row and averaged into the ATE", {
  set.seed(2)
  df <- covariates(5000)
  out <- add_treatment(df, "y", effect = ~ 0.5 + 0.2 * (age - 40))
  effects <- 0.5 + 0.2 * (df$age - 40)
  truth <- attr(out, "treatment")
  expect_equal(truth$ate, mean(effects))
  treated <- out$treatment == 1L
  expect_equal(truth$att, mean(effects[treated]))
  expect_equal(out$y - df$y, effects * out$treatment)
  as_function <- function(d) ifelse(d$group == "a", 1, 3)
  set.seed(3)
  out2 <- add_treatment(df, "y", effect = as_function, name = "w")
  expect_equal(attr(out2, "treatment")$ate, mean(as_function(df)))
  expect_identical(attr(out2, "treatment")$treatment, "w")
  expect_false("treatment" %in% names(out2))
  # The formula sees variables from where it was written.
  slope <- 0.1
  out3 <- add_treatment(df, "y", effect = ~ slope * age)
  expect_equal(attr(out3, "treatment")$ate, mean(0.1 * df$age))
})

test_that("confounded assignment follows the given probabilities", {
  set.seed(4)
  df <- covariates(20000)
  out <- add_treatment(df, "y", effect = 0, assignment = ~ ifelse(age < 40, 0.1, 0.9))
  expect_equal(mean(out$treatment[df$age < 40]), 0.1, tolerance = 0.1)
  expect_equal(mean(out$treatment[df$age >= 40]), 0.9, tolerance = 0.05)
  none <- add_treatment(df, "y", effect = 2, assignment = 0)
  expect_identical(sum(none$treatment), 0L)
  expect_identical(attr(none, "treatment")$att, NA_real_)
  expect_identical(none$y, df$y)
})

test_that("add_treatment() keeps missing outcomes missing and works on tibbles", {
  skip_if_not_installed("tibble")
  set.seed(5)
  df <- tibble::tibble(x = c(1L, NA, 3L, 4L), z = 1:4)
  out <- add_treatment(df, "x", effect = 0.5, assignment = 1)
  expect_s3_class(out, "tbl_df")
  expect_identical(out$x, c(1.5, NA, 3.5, 4.5))
})

test_that("add_treatment() refuses bad input with errors naming the problem", {
  df <- covariates(10)
  expect_error(add_treatment(df, "wage", 1), "wage", class = "sygnet_error_input")
  expect_error(add_treatment(df, "group", 1), "group.*numeric", class = "sygnet_error_input")
  expect_error(add_treatment(df, c("y", "age"), 1), "outcome", class = "sygnet_error_input")
  expect_error(add_treatment(list(y = 1), "y", 1), "data frame", class = "sygnet_error_input")
  expect_error(add_treatment(df, "y", 1, name = "age"), "age", class = "sygnet_error_input")
  expect_error(add_treatment(df, "y", 1, assignment = 1.2), "between 0 and 1",
               class = "sygnet_error_input")
  expect_error(add_treatment(df, "y", 1, assignment = ~ age / 10), "between 0 and 1",
               class = "sygnet_error_input")
  expect_error(add_treatment(df, "y", "big"), "effect", class = "sygnet_error_input")
  expect_error(add_treatment(df, "y", c(1, 2)), "length 2", class = "sygnet_error_input")
  expect_error(add_treatment(df, "y", ~ income), "Could not evaluate", class = "sygnet_error_input")
  df$age[3] <- NA
  expect_error(add_treatment(df, "y", ~ age), "missing or infinite for 1 row",
               class = "sygnet_error_input")
})
