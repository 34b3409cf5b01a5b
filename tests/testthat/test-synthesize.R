test_that("synthesize() draws any number of rows, in chunks, independently", {
  df <- mixed_data(60)
  model <- fit(tiny_gan(), df)
  expect_identical(nrow(synthesize(model)), 60L)
  expect_identical(nrow(synthesize(model, 0)), 0L)
  big <- synthesize(model, 25000)
  expect_identical(nrow(big), 25000L)
  expect_identical(shape_of(big), shape_of(df))
  expect_error(synthesize(model, -1), "whole number", class = "sygnet_error_input")
})

test_that("each draw uses its own model, whichever was drawn from before", {
  df <- mixed_data(60)
  set.seed(1)
  a <- fit(tiny_gan(), df)
  set.seed(2)
  b <- fit(tiny_gan(), df)
  draw_from <- function(model) {
    set.seed(5)
    synthesize(model, 30)
  }
  from_a <- draw_from(a)
  from_b <- draw_from(b)
  expect_false(identical(from_a, from_b))
  expect_identical(draw_from(a), from_a)
  expect_identical(draw_from(b), from_b)
  path <- withr::local_tempfile(fileext = ".rds")
  saveRDS(a, path)
  expect_identical(draw_from(readRDS(path)), from_a)
})

test_that("simulate() gives nsim data sets with stats::simulate's seed semantics", {
  model <- fit(tiny_gan(), mixed_data(60))
  set.seed(11)
  before <- .Random.seed
  sims <- simulate(model, nsim = 3, seed = 99, n = 20)
  expect_identical(.Random.seed, before)
  expect_s3_class(sims, "sygnet_synthetic")
  expect_length(sims, 3L)
  expect_identical(attr(sims, "seed")[[1]], 99)
  expect_false(identical(sims[[1]], sims[[2]]))
  expect_identical(simulate(model, nsim = 3, seed = 99, n = 20), sims)
  expect_output(print(sims), "3 synthetic data sets")
})

test_that("conditions fix the values of conditioning columns", {
  set.seed(2)
  df <- data.frame(
    sex = factor(sample(c("Female", "Male"), 300, TRUE)),
    region = sample(c("north", "south", "east", "west"), 300, TRUE),
    income = rlnorm(300)
  )
  model <- fit(tiny_gan(condition_on = c("sex", "region")), df)
  syn <- synthesize(model, conditions = data.frame(sex = rep("Female", 50)))
  expect_identical(nrow(syn), 50L)
  expect_true(all(syn$sex == "Female"))
  expect_identical(levels(syn$sex), levels(df$sex))
  both <- synthesize(model, conditions = data.frame(sex = c("Male", "Female"),
                                                    region = c("east", NA)))
  expect_identical(as.character(both$sex), c("Male", "Female"))
  expect_identical(both$region[1], "east")
  expect_error(synthesize(model, conditions = data.frame(sex = "Other")), "Other",
               class = "sygnet_error_input")
  expect_error(synthesize(model, conditions = data.frame(income = 1)), "income",
               class = "sygnet_error_input")
  expect_error(synthesize(model, conditions = data.frame(region = "mars")), "mars",
               class = "sygnet_error_input")
})

test_that("long draws come in pieces that join into the rows of one draw", {
  set.seed(1)
  model <- fit(tiny_gan(epochs = 1L), mixed_data(), verbose = FALSE)
  n <- 140000
  set.seed(5)
  joined <- synthesize(model, n)
  expect_equal(nrow(joined), n)
  expect_identical(shape_of(joined), shape_of(mixed_data()))
  # the same rows as one call to the engine with the same seed
  set.seed(5)
  seed <- sygnet:::native_seed()
  at_once <- sygnet:::rs_synthesize(model$model, n, 0, n, NULL, seed, 1L, "cpu", TRUE,
                                     TRUE)
  expect_identical(joined, sygnet:::as_frame(at_once, model$template, n))
})

test_that("a draw that cannot fit in memory is refused before it starts", {
  available <- sygnet:::available_memory()
  skip_if(is.na(available))
  set.seed(1)
  model <- fit(tiny_gan(epochs = 1L), mixed_data(), verbose = FALSE)
  skip_if(available > 2 * .Machine$integer.max * 40)
  expect_error(synthesize(model, .Machine$integer.max), "memory", class = "sygnet_error_input")
})

test_that("chunks bound together are synthesize()'s rows, with IDs numbered across chunks", {
  data <- mixed_data(300L)
  data$person <- sample(1e5, 300L)
  data$household <- paste0("h", sample(1e5, 300L))
  set.seed(4)
  model <- suppressWarnings(fit(tiny_gan(ids = c("person", "household")), data, verbose = FALSE),
                            classes = "sygnet_warning_collapse")
  set.seed(5)
  whole <- synthesize(model, 1500L)
  chunks <- list()
  set.seed(5)
  written <- synthesize_chunks(model, 1500L, function(rows) chunks[[length(chunks) + 1L]] <<- rows,
                               chunk_rows = 600L)
  expect_identical(written, 1500L)
  # 600 rows are rounded up to the engine's 1,024
  expect_identical(vapply(chunks, nrow, integer(1)), c(1024L, 476L))
  bound <- do.call(rbind, chunks)
  expect_identical(lapply(bound, attributes), lapply(whole, attributes))
  expect_identical(as.list(bound), as.list(whole))
  expect_false(anyDuplicated(bound$household) > 0L)
  expect_error(synthesize_chunks(model, 10L, "not a function"), "write",
               class = "sygnet_error_input")
  expect_error(synthesize_chunks(model, 0L, identity), "n", class = "sygnet_error_input")
})

test_that("simulate() with a progress bar draws the same data sets", {
  set.seed(6)
  model <- suppressWarnings(fit(tiny_gan(), mixed_data(100L), verbose = FALSE),
                            classes = "sygnet_warning_collapse")
  quiet <- simulate(model, nsim = 3, seed = 1, n = 20, verbose = FALSE)
  shown <- simulate(model, nsim = 3, seed = 1, n = 20, verbose = TRUE)
  expect_identical(shown, quiet)
  expect_error(simulate(model, nsim = 2, verbose = "yes"), "verbose",
               class = "sygnet_error_input")
})
