test_that("every supported column class round-trips exactly, NAs included", {
  df <- mixed_data()
  df$inf <- c(-Inf, Inf, rep(1.5, nrow(df) - 2))
  df$utc <- as.POSIXct(seq_len(nrow(df)), origin = "1970-01-01", tz = "UTC")
  df$no_tz <- as.POSIXct(seq_len(nrow(df)), origin = "1970-01-01")
  df$all_na <- NA_real_
  df$int_max <- c(.Machine$integer.max, -.Machine$integer.max, rep(0L, nrow(df) - 2))
  expect_identical(sygnet:::roundtrip_data(df), df)
})

test_that("tibbles stay tibbles, zero-row frames round-trip, row names are dropped", {
  skip_if_not_installed("tibble")
  tb <- tibble::as_tibble(mixed_data(5))
  expect_identical(sygnet:::roundtrip_data(tb), tb)
  expect_identical(sygnet:::roundtrip_data(mixed_data()[0, ]), mixed_data()[0, ])
  named <- data.frame(x = 1:2, row.names = c("a", "b"))
  expect_identical(sygnet:::roundtrip_data(named), data.frame(x = 1:2))
})

test_that("the caller's data frame is never modified", {
  df <- mixed_data()
  copy <- rlang::duplicate(df)
  sygnet:::roundtrip_data(df)
  fit(tiny_gan(epochs = 1), df)
  expect_identical(df, copy)
})

test_that("unsupported columns give a classed error naming the column", {
  bad <- list(
    lst = I(list(1, 2)),
    cpl = complex(real = 1:2, imaginary = 0),
    raw = as.raw(1:2),
    mat = I(matrix(1:4, 2)),
    dur = as.difftime(c(1, 2), units = "hours")
  )
  for (name in names(bad)) {
    df <- data.frame(ok = 1:2)
    df[[name]] <- bad[[name]]
    expect_error(sygnet:::roundtrip_data(df), class = "sygnet_error_input")
    expect_error(sygnet:::roundtrip_data(df), name, fixed = TRUE)
  }
  df <- data.frame(ok = 1:2)
  df$inner <- data.frame(a = 1:2)
  expect_error(sygnet:::roundtrip_data(df), "`inner`", class = "sygnet_error_input")
})

test_that("NaN, infinite values, empty data and huge factors are refused clearly", {
  expect_error(sygnet:::roundtrip_data(data.frame(x = c(1, NaN))), "`x`.*NaN",
               class = "sygnet_error_input")
  expect_error(fit(tiny_gan(), data.frame(y = c(1, Inf, 2))), "`y`.*infinite",
               class = "sygnet_error_input")
  expect_error(fit(tiny_gan(), data.frame(x = numeric())), "no rows", class = "sygnet_error_input")
  expect_error(fit(tiny_gan(), data.frame()), "no columns", class = "sygnet_error_input")
  ids <- data.frame(id = sprintf("person%04d", 1:1500))
  expect_error(fit(tiny_gan(), ids), "id.*mostly unique", class = "sygnet_error_input")
  expect_error(fit(tiny_gan(), list(a = 1)), "data frame", class = "sygnet_error_input")
})

test_that("synthetic data keeps columns, classes, levels and NA patterns", {
  df <- mixed_data(200)
  set.seed(1)
  model <- fit(tiny_gan(epochs = 3), df)
  syn <- synthesize(model, 150)
  expect_s3_class(syn, "data.frame")
  expect_identical(nrow(syn), 150L)
  expect_identical(shape_of(syn), shape_of(df))
  # Values stay inside the observed range and keep their precision.
  expect_true(all(syn$num >= min(df$num, na.rm = TRUE) & syn$num <= max(df$num, na.rm = TRUE), na.rm = TRUE))
  expect_equal(syn$num, round(syn$num, 2))
  expect_true(all(syn$int %in% c(df$int, NA)))
  expect_true(all(syn$chr %in% c("x", "y", NA)))
  expect_true(all(as.numeric(syn$date) == round(as.numeric(syn$date)), na.rm = TRUE))
})

test_that("a column that is entirely missing comes back entirely missing", {
  df <- data.frame(x = rnorm(100), gone = NA_character_, nothing = NA_integer_)
  model <- fit(tiny_gan(), df)
  syn <- synthesize(model, 40)
  expect_true(all(is.na(syn$gone)) && is.character(syn$gone))
  expect_true(all(is.na(syn$nothing)) && is.integer(syn$nothing))
})

test_that("tibbles in give tibbles out", {
  skip_if_not_installed("tibble")
  tb <- tibble::as_tibble(mixed_data(80))
  syn <- synthesize(fit(tiny_gan(), tb), 10)
  expect_s3_class(syn, "tbl_df")
  expect_identical(shape_of(syn), shape_of(tb))
})
