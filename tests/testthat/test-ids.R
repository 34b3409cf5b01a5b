id_data <- function(n = 120) {
  withr::with_seed(3, data.frame(
    person = sample(1e6, n),
    household = sprintf("H%05d", sample(99999, n)),
    age = sample(18:80, n, TRUE),
    income = round(stats::rlnorm(n, 10, 1)),
    region = factor(sample(c("north", "south"), n, TRUE))
  ))
}

test_that("ID columns are left out of the model and written afresh, never copied", {
  data <- id_data()
  original <- data
  set.seed(1)
  fitted <- suppressWarnings(fit(tiny_gan(ids = c("person", "household")), data, verbose = FALSE),
                             classes = "sygnet_warning_collapse")
  expect_identical(data, original)
  expect_setequal(sygnet:::model_info(fitted)$columns$name, c("age", "income", "region"))
  syn <- synthesize(fitted, 300)
  expect_identical(names(syn), names(data))
  expect_type(syn$person, "integer")
  expect_type(syn$household, "character")
  expect_false(anyDuplicated(syn$person) > 0 || anyDuplicated(syn$household) > 0)
  expect_false(any(syn$person %in% data$person))
  expect_false(any(syn$household %in% data$household))
  expect_true(all(syn$person > max(data$person)))
  expect_match(syn$household, "^syn-[0-9]{3}$")
  # a saved model keeps its ID columns
  path <- withr::local_tempfile(fileext = ".rds")
  saveRDS(fitted, path)
  expect_identical(names(synthesize(readRDS(path), 5)), names(data))
  expect_output(print(fitted), "ID columns")
})

test_that("text with mostly unique values must be declared an ID or dropped", {
  data <- id_data()
  expect_error(fit(tiny_gan(), data, verbose = FALSE), "household.*gan\\(ids",
               class = "sygnet_error_input")
  # a fresh prefix avoids every real value
  data$household[1] <- "syn-001"
  fitted <- suppressWarnings(fit(tiny_gan(ids = "household"), data[-1], verbose = FALSE),
                             classes = "sygnet_warning_collapse")
  syn <- synthesize(fitted, 10)
  expect_match(syn$household, "^syn-x-[0-9]{2}$")
})

test_that("bad ID declarations are classed errors naming the column", {
  data <- id_data()
  expect_error(fit(tiny_gan(ids = "nope"), data, verbose = FALSE), "nope",
               class = "sygnet_error_input")
  repeated <- transform(data, person = 1L)
  expect_error(fit(tiny_gan(ids = c("person", "household")), repeated, verbose = FALSE),
               "person.*repeated", class = "sygnet_error_input")
  expect_error(fit(tiny_gan(ids = c("person", "household")),
                   transform(data, person = replace(person, 2, NA)), verbose = FALSE),
               "person", class = "sygnet_error_input")
  expect_error(gan(ids = 1), "ids", class = "sygnet_error_input")
  expect_error(gan(ids = "region", condition_on = "region"), "region",
               class = "sygnet_error_input")
})

test_that("a private fit writes IDs without reading them", {
  data <- id_data()
  spec <- gan(ids = c("person", "household"),
              privacy = dp(1, bounds = list(age = c(16, 99), income = c(0, 1e6)),
                           levels = list(region = c("north", "south"))))
  fitted <- fit(spec, data, verbose = FALSE)
  syn <- synthesize(fitted, 50)
  expect_identical(syn$person, -seq_len(50L))
  expect_identical(syn$household[1:2], c("syn-01", "syn-02"))
})
