# A catalogue of bad and unusual inputs across the package's functions. Each case
# must end in an error of the stated class whose message names the argument or column
# (`names`), or in a correct result (`check`); no case may modify the objects it was
# given, and none may reach R as an internal (Rust) error.

catalogue_objects <- function() {
  withr::with_seed(1, {
    data <- data.frame(
      age = sample(18:80, 60, TRUE),
      income = round(stats::rlnorm(60, 10, 1)),
      region = factor(sample(c("north", "south", "east"), 60, TRUE)),
      employed = stats::runif(60) < 0.5,
      day = as.Date("2020-01-01") + sample(0:300, 60, TRUE)
    )
    data$income[c(3, 9)] <- NA
    model <- suppressWarnings(fit(tiny_gan(epochs = 1L), data, verbose = FALSE),
                              classes = "sygnet_warning_collapse")
    synthetic <- synthesize(model, 60)
  })
  list(data = data, model = model, synthetic = synthetic,
       bounds = list(age = c(16, 99), income = c(0, 1e6),
                     day = as.Date(c("2019-01-01", "2021-12-31"))),
       levels = list(region = c("north", "south", "east")))
}

# `expr` is evaluated with the objects in scope. With `class`, it must fail with that
# class and a message matching `names`; with `check`, its value must pass `check`.
catalogue_case <- function(label, expr, class = "sygnet_error_input", names = NULL,
                           check = NULL) {
  list(label = label, expr = rlang::enexpr(expr), class = class, names = names, check = check)
}

catalogue <- list(
  # fit(): the data
  catalogue_case("a matrix instead of a data frame", fit(tiny_gan(), as.matrix(data)), names = "data"),
  catalogue_case("a list instead of a data frame", fit(tiny_gan(), as.list(data)), names = "data"),
  catalogue_case("no rows", fit(tiny_gan(), data[0, ], verbose = FALSE), names = "no rows"),
  catalogue_case("one row", fit(tiny_gan(), data[1, ], verbose = FALSE), names = "at least 2"),
  catalogue_case("no columns", fit(tiny_gan(), data[, 0], verbose = FALSE), names = "column"),
  catalogue_case("only an all-missing column", fit(tiny_gan(), data.frame(x = rep(NA_real_, 5)), verbose = FALSE),
                 names = "missing"),
  catalogue_case("NaN in a column", fit(tiny_gan(), transform(data, income = replace(income, 1, NaN)), verbose = FALSE),
                 names = "income"),
  catalogue_case("Inf in a column", fit(tiny_gan(), transform(data, age = replace(age, 1, Inf)), verbose = FALSE),
                 names = "age"),
  catalogue_case("a list column", {
    d <- data
    d$l <- as.list(seq_len(nrow(d)))
    fit(tiny_gan(), d, verbose = FALSE)
  }, names = "l"),
  catalogue_case("a complex column", fit(tiny_gan(), transform(data, z = complex(real = age)), verbose = FALSE),
                 names = "z"),
  catalogue_case("a column without a name", {
    d <- data
    names(d)[2] <- NA
    fit(tiny_gan(), d, verbose = FALSE)
  }, names = "name"),
  catalogue_case("a duplicated column name", {
    d <- data
    names(d)[2] <- "age"
    fit(tiny_gan(), d, verbose = FALSE)
  }, names = "age"),
  catalogue_case("a factor with more levels than max_levels",
                 fit(gan(epochs = 1, control = gan_control(max_levels = 2)), data, verbose = FALSE),
                 names = "region"),
  catalogue_case("conditioning on an unknown column", fit(tiny_gan(condition_on = "nope"), data, verbose = FALSE),
                 names = "nope"),
  catalogue_case("conditioning on a numeric column", fit(tiny_gan(condition_on = "age"), data, verbose = FALSE),
                 names = "age"),
  catalogue_case("conditioning on an entirely missing factor",
                 fit(tiny_gan(condition_on = "region"), transform(data, region = factor(NA, levels = "a")),
                     verbose = FALSE), names = "entirely missing"),
  catalogue_case("numbers near 1e-300 keep their spread", {
    m <- fit(tiny_gan(epochs = 1L), data.frame(x = exp(stats::rnorm(100)) * 1e-300), verbose = FALSE)
    synthesize(m, 100)
  }, class = NULL, check = function(s) length(unique(s$x)) > 50 && all(s$x > 0 & s$x < 1e-297)),
  catalogue_case("numbers near 1e300 train and keep their spread", {
    m <- fit(tiny_gan(epochs = 1L), data.frame(x = exp(stats::rnorm(100)) * 1e300), verbose = FALSE)
    synthesize(m, 100)
  }, class = NULL, check = function(s) length(unique(s$x)) > 50 && all(is.finite(s$x))),
  catalogue_case("a narrow range far from zero keeps its spread", {
    m <- fit(tiny_gan(epochs = 1L), data.frame(x = 1 + (1:100) * 1e-13), verbose = FALSE)
    synthesize(m, 100)
  }, class = NULL, check = function(s) length(unique(s$x)) > 20),
  # fit(): the settings
  catalogue_case("threads = 0", fit(tiny_gan(), data, threads = 0, verbose = FALSE), names = "threads"),
  catalogue_case("threads = NA", fit(tiny_gan(), data, threads = NA, verbose = FALSE), names = "threads"),
  catalogue_case("threads = 1.5", fit(tiny_gan(), data, threads = 1.5, verbose = FALSE), names = "threads"),
  catalogue_case("threads as text", fit(tiny_gan(), data, threads = "2", verbose = FALSE), names = "threads"),
  catalogue_case("an unknown device", fit(tiny_gan(), data, device = "tpu", verbose = FALSE),
                 class = "rlang_error", names = "device"),
  catalogue_case("verbose = NA", fit(tiny_gan(), data, verbose = NA), names = "verbose"),
  catalogue_case("epochs = -1", gan(epochs = -1), names = "epochs"),
  catalogue_case("epochs = 1.5", gan(epochs = 1.5), names = "epochs"),
  catalogue_case("epochs = NA", gan(epochs = NA), names = "epochs"),
  catalogue_case("batch_size = 0", gan(batch_size = 0), names = "batch_size"),
  catalogue_case("an empty generator", gan(generator = integer()), names = "generator"),
  catalogue_case("a generator of 1e12 units", gan(generator = 1e12), names = "generator"),
  catalogue_case("a missing critic width", gan(critic = c(64, NA)), names = "critic"),
  catalogue_case("privacy not from dp()", gan(privacy = list(epsilon = 1)), names = "privacy"),
  catalogue_case("conditioning with privacy", gan(condition_on = "region", privacy = dp(1)),
                 names = "condition_on"),
  catalogue_case("more epochs for a private fit",
                 fit(private_model, data, epochs = 1), names = "private"),
  # dp()
  catalogue_case("epsilon = 0", dp(0), names = "epsilon"),
  catalogue_case("epsilon = NA", dp(NA), names = "epsilon"),
  catalogue_case("delta = 0", dp(1, delta = 0), names = "delta"),
  catalogue_case("delta = 1", dp(1, delta = 1), names = "delta"),
  catalogue_case("max_grad_norm = 0", dp(1, max_grad_norm = 0), names = "max_grad_norm"),
  catalogue_case("a negative noise multiplier", dp(1, noise_multiplier = -1), names = "noise_multiplier"),
  catalogue_case("unnamed bounds", dp(1, bounds = list(c(0, 1))), names = "bounds"),
  catalogue_case("bounds lower above upper", dp(1, bounds = list(age = c(99, 16))), names = "age"),
  catalogue_case("bounds of three numbers", dp(1, bounds = list(age = c(1, 2, 3))), names = "age"),
  catalogue_case("levels that are not text", dp(1, levels = list(region = 1:3)), names = "region"),
  catalogue_case("rows = 0", dp(1, rows = 0), names = "rows"),
  catalogue_case("a budget that is not a ledger", dp(1, budget = 1), names = "budget"),
  catalogue_case("marginal_share = 1", dp(1, marginal_share = 1), names = "marginal_share"),
  catalogue_case("moment_share = NA", dp(1, moment_share = NA), names = "moment_share"),
  catalogue_case("shares that leave nothing to training",
                 dp(1, marginal_share = 0.5, moment_share = 0.5), names = "moment_share"),
  catalogue_case("a private fit without bounds for a number",
                 fit(gan(privacy = dp(1, levels = levels)), data, verbose = FALSE), names = "age"),
  catalogue_case("a private fit without levels for a factor",
                 fit(gan(privacy = dp(1, bounds = bounds)), data, verbose = FALSE), names = "region"),
  catalogue_case("bounds for a column not in the data",
                 fit(gan(privacy = dp(1, bounds = c(bounds, list(nope = c(0, 1))), levels = levels)),
                     data, verbose = FALSE), names = "nope"),
  catalogue_case("levels for a numeric column",
                 fit(gan(privacy = dp(1, bounds = bounds, levels = c(levels, list(age = "1")))),
                     data, verbose = FALSE), names = "age"),
  # synthesize() and simulate()
  catalogue_case("n = -1", synthesize(model, n = -1), names = "`n`"),
  catalogue_case("n = 1.5", synthesize(model, n = 1.5), names = "`n`"),
  catalogue_case("n = NA", synthesize(model, n = NA), names = "`n`"),
  catalogue_case("n as text", synthesize(model, n = "10"), names = "`n`"),
  catalogue_case("n = Inf", synthesize(model, n = Inf), names = "`n`"),
  catalogue_case("n = 1e15", synthesize(model, n = 1e15), names = "`n`"),
  catalogue_case("n = 0 gives the empty frame", synthesize(model, n = 0), class = NULL,
                 check = function(x) nrow(x) == 0L && identical(names(x), c("age", "income", "region", "employed", "day"))),
  catalogue_case("rejection = NA", synthesize(model, rejection = NA), names = "rejection"),
  catalogue_case("conditions on a model without conditioning columns",
                 synthesize(model, conditions = data.frame(region = "north")), names = "region"),
  catalogue_case("nsim = 0", simulate(model, nsim = 0), names = "nsim"),
  catalogue_case("nsim = Inf", simulate(model, nsim = Inf), names = "nsim"),
  catalogue_case("nsim = NA", simulate(model, nsim = NA), names = "nsim"),
  # utility() and disclosure_risk()
  catalogue_case("utility() of a matrix", utility(as.matrix(synthetic), data), names = "synthetic"),
  catalogue_case("utility() with a column missing", utility(synthetic[-1], data), names = "age"),
  catalogue_case("utility() with a factor against numbers",
                 utility(transform(synthetic, age = factor(age)), data), names = "age"),
  catalogue_case("utility() with a Date against numbers",
                 utility(transform(synthetic, age = as.Date(age, origin = "1970-01-01")), data),
                 names = "age"),
  catalogue_case("utility() with a formula naming an unknown column",
                 utility(synthetic, data, formula = income ~ nope), names = "nope"),
  catalogue_case("disclosure_risk() with a column missing", disclosure_risk(synthetic[-2], data),
                 names = "income"),
  catalogue_case("disclosure_risk() of a Date against numbers",
                 disclosure_risk(transform(synthetic, age = as.Date(age, origin = "1970-01-01")), data),
                 names = "age"),
  catalogue_case("disclosure_risk() of a POSIXct copy of a Date column counts it as a copy",
                 disclosure_risk(transform(data, day = as.POSIXct(day)), data), class = NULL,
                 check = function(r) r$measures$synthetic[r$measures$measure == "copies"] == 1),
  # pool_synthetic()
  catalogue_case("pool_synthetic() of a number", pool_synthetic(1, income ~ age), names = "synthetic"),
  catalogue_case("pool_synthetic() of an empty list", pool_synthetic(list(), income ~ age),
                 names = "synthetic"),
  catalogue_case("pool_synthetic() with an unknown rule", pool_synthetic(list(synthetic), income ~ age, rule = "x"),
                 class = "rlang_error", names = "rule"),
  # fitted models
  catalogue_case("a model with flipped weight bytes", {
    damaged <- model
    bytes <- damaged$model
    bytes[length(bytes) - 10L] <- as.raw(bitwXor(as.integer(bytes[length(bytes) - 10L]), 64L))
    damaged$model <- bytes
    synthesize(damaged, 5)
  }, class = "sygnet_error_model", names = "damaged"),
  catalogue_case("a truncated model", {
    damaged <- model
    damaged$model <- damaged$model[seq_len(length(damaged$model) %/% 2)]
    synthesize(damaged, 5)
  }, class = "sygnet_error_model", names = "damaged|safetensors"),
  catalogue_case("a model that is not a fit", synthesize(structure(list(), class = "sygnet_fit"), 5),
                 class = "sygnet_error_model", names = "fitted model")
)

test_that("the catalogue of bad and unusual inputs ends in classed errors or correct results", {
  objects <- catalogue_objects()
  objects$private_model <- suppressWarnings(
    fit(gan(epochs = 1, privacy = dp(1, bounds = objects$bounds, levels = objects$levels)),
        objects$data, verbose = FALSE),
    classes = "sygnet_warning_collapse")
  expect_gte(length(catalogue), 60L)
  before <- lapply(objects, function(x) if (inherits(x, "sygnet_fit")) x$model else x)
  for (case in catalogue) {
    env <- list2env(objects, parent = environment())
    outcome <- tryCatch(suppressWarnings(eval(case$expr, env)), error = identity)
    seen <- if (inherits(outcome, "condition")) {
      paste0(case$label, ": ", paste(class(outcome), collapse = "/"), ": ",
             conditionMessage(outcome))
    } else case$label
    if (is.null(case$class)) {
      expect_false(inherits(outcome, "error"), info = seen)
      if (!inherits(outcome, "error")) expect_true(case$check(outcome), info = seen)
    } else {
      expect_true(inherits(outcome, case$class), info = seen)
      expect_false(inherits(outcome, "sygnet_error_internal"), info = seen)
      if (inherits(outcome, "condition") && !is.null(case$names)) {
        expect_match(conditionMessage(outcome), case$names, info = seen)
      }
    }
    after <- lapply(objects, function(x) if (inherits(x, "sygnet_fit")) x$model else x)
    expect_identical(after, before, info = case$label)
  }
})
