test_that("collapsed columns are named, and a good copy passes", {
  set.seed(1)
  real <- data.frame(
    income = round(rlnorm(500, 10, 1)),
    hours = ifelse(runif(500) < 0.4, 0, round(runif(500, 10, 60))),
    region = factor(sample(c("north", "south", "east", "west"), 500, TRUE)),
    employed = runif(500) < 0.6
  )
  expect_length(sygnet:::collapsed_columns(real[sample(500), ], reference = real), 0L)

  collapsed <- real
  collapsed$income <- max(real$income)
  collapsed$income[1:100] <- min(real$income)
  collapsed$region <- factor("north", levels = levels(real$region))
  collapsed$employed <- TRUE
  found <- sygnet:::collapsed_columns(collapsed, reference = real)
  expect_named(found, c("income", "region", "employed"))
  expect_match(found[["income"]], "80%")
  expect_match(found[["region"]], "1 of 4 levels")

  # Zero hours are common in the real data (40%): about 52% zeros is no collapse, 97% is.
  zeros <- real
  zeros$hours[1:100] <- 0
  expect_length(sygnet:::collapsed_columns(zeros["hours"], reference = real), 0L)
  zeros$hours[1:475] <- 0
  expect_named(sygnet:::collapsed_columns(zeros["hours"], reference = real), "hours")

  # Without the real data (private fits): declared levels and the ends of the range.
  expect_named(sygnet:::collapsed_columns(collapsed, levels = list(region = levels(real$region))),
               c("income", "region", "employed"))
  expect_length(sygnet:::collapsed_columns(real, levels = list(region = levels(real$region))), 0L)
})

test_that("a fit whose draws collapsed warns, naming the columns", {
  d <- data.frame(x = c(rep(0, 5), seq(1, 100, length.out = 95)),
                  g = factor(rep(c("a", "b", "c", "d"), 25)))
  set.seed(1)
  m <- fit(tiny_gan(epochs = 20L), d)
  # the check of this model, given a collapsed set of draws and a good one
  collapsed <- d
  collapsed$x <- 100
  collapsed$g <- factor("a", levels = levels(d$g))
  expect_warning(sygnet:::check_collapse(m, d, rows = collapsed), "x.*g",
                 class = "sygnet_warning_collapse")
  w <- tryCatch(sygnet:::check_collapse(m, d, rows = collapsed),
                sygnet_warning_collapse = function(w) w)
  expect_identical(w$columns, c("x", "g"))
  expect_length(sygnet:::check_collapse(m, d, rows = d), 0L)
})

test_that("column names with braces are shown as they are", {
  real <- data.frame(`a{b}` = c(1, 2, 3, 4), check.names = FALSE)
  syn <- data.frame(`a{b}` = c(4, 4, 4, 1), check.names = FALSE)
  found <- sygnet:::collapsed_columns(syn, reference = real)
  expect_named(found, "a{b}")
  expect_warning(cli::cli_warn(found), "a\\{b\\} has 75%")
})
