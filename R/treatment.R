#' Plant a known treatment effect in a data set
#'
#' For simulation studies: adds a randomly assigned binary treatment column and shifts
#' a numeric outcome by a known effect for the treated rows, so that an estimator can
#' be checked against the true value. Applied to data sets drawn from a fitted GAN
#' (see [simulate()][simulate.sygnet_fit]), it gives realistic covariates with an
#' effect whose size is known exactly.
#'
#' Each row is treated independently with its probability from `assignment`. With a
#' constant probability the treatment is randomised; with a probability that depends
#' on covariates it is confounded by them, and a comparison of means is biased unless
#' the estimator adjusts for those covariates. Treated rows have `outcome` increased by
#' their effect; untreated rows are unchanged, so the effect of row \eqn{i} is
#' \eqn{Y_i(1) - Y_i(0)}.
#'
#' @param data A data frame.
#' @param outcome Name of a numeric column of `data` to shift. Integer columns become
#'   double. Missing values stay missing.
#' @param effect The treatment effect: a number (the same for every row), or a
#'   heterogeneous effect as a one-sided formula evaluated on `data`, e.g.
#'   `~ 0.5 + 0.2 * (age - 40)`, or a function of `data`, returning one value or one
#'   per row.
#' @param assignment Probability that a row is treated: a number in \[0, 1\], or a
#'   formula or function of `data` giving one probability per row, e.g.
#'   `~ plogis(-1 + 0.05 * age)`, for assignment confounded by covariates.
#' @param name Name of the new treatment column; it must not exist in `data`.
#' @return `data` with the treatment column added (integer, 1 = treated, 0 = not) and
#'   `outcome` shifted for treated rows. Attribute `"treatment"` records the truth: a
#'   list with `treatment` and `outcome` (the column names), `ate` (the average of the
#'   per-row effects over all rows: the sample average treatment effect, equal to
#'   `effect` when it is a number), `att` (their average over the treated rows) and
#'   `treated` (the number of treated rows). Most data-frame operations drop
#'   attributes, so read it before transforming the result.
#' @examples
#' set.seed(1)
#' trial <- add_treatment(mtcars, "mpg", effect = 2)
#' attr(trial, "treatment")$ate
#' coef(lm(mpg ~ treatment + wt, data = trial))[["treatment"]]
#'
#' # A heterogeneous effect and treatment more likely for heavier cars.
#' observational <- add_treatment(mtcars, "mpg", effect = ~ 1 + (wt - 3),
#'                                assignment = ~ plogis(wt - 3))
#' attr(observational, "treatment")
#' @export
add_treatment <- function(data, outcome, effect, assignment = 0.5, name = "treatment") {
  if (!is.data.frame(data)) {
    sygnet_abort("{.arg data} must be a data frame.", class = "sygnet_error_input")
  }
  if (!rlang::is_string(outcome)) {
    sygnet_abort("{.arg outcome} must be the name of a column of {.arg data}.",
                 class = "sygnet_error_input")
  }
  if (!outcome %in% names(data)) {
    sygnet_abort("Outcome column {.field {outcome}} is not in {.arg data}.",
                 class = "sygnet_error_input")
  }
  y <- data[[outcome]]
  if (!is.numeric(y) || is.object(y)) {
    sygnet_abort("Outcome column {.field {outcome}} must be numeric, not {.cls {class(y)}}.",
                 class = "sygnet_error_input")
  }
  if (!rlang::is_string(name) || !nzchar(name)) {
    sygnet_abort("{.arg name} must be a column name.", class = "sygnet_error_input")
  }
  if (name %in% names(data)) {
    sygnet_abort("{.arg data} already has a column {.field {name}}; choose another {.arg name}.",
                 class = "sygnet_error_input")
  }
  n <- nrow(data)
  effects <- per_row(effect, data, "effect")
  probability <- per_row(assignment, data, "assignment")
  if (any(probability < 0 | probability > 1)) {
    sygnet_abort("{.arg assignment} must give probabilities between 0 and 1.",
                 class = "sygnet_error_input")
  }
  treated <- stats::rbinom(n, 1L, probability)
  data[[name]] <- treated
  data[[outcome]] <- y + treated * effects
  attr(data, "treatment") <- list(
    treatment = name,
    outcome = outcome,
    ate = mean(effects),
    att = if (any(treated == 1L)) mean(effects[treated == 1L]) else NA_real_,
    treated = sum(treated)
  )
  data
}

# A number, a one-sided formula evaluated on `data`, or a function of `data` -> one
# finite value per row.
per_row <- function(spec, data, arg, call = rlang::caller_env()) {
  n <- nrow(data)
  value <- if (rlang::is_formula(spec, lhs = FALSE)) {
    tryCatch(rlang::eval_tidy(rlang::f_rhs(spec), data, env = rlang::f_env(spec)),
             error = function(e) {
               sygnet_abort("Could not evaluate {.arg {arg}} on {.arg data}.", parent = e,
                            class = "sygnet_error_input", call = call)
             })
  } else if (is.function(spec)) {
    spec(data)
  } else {
    spec
  }
  if (!is.numeric(value) || !length(value) %in% c(1L, n)) {
    sygnet_abort(c("{.arg {arg}} must be a number, or a formula or function giving one number per row of {.arg data}.",
                   "i" = "It gave {.obj_type_friendly {value}} of length {length(value)}; {.arg data} has {n} row{?s}."),
                 class = "sygnet_error_input", call = call)
  }
  if (any(!is.finite(value))) {
    sygnet_abort("{.arg {arg}} is missing or infinite for {sum(!is.finite(value))} row{?s}.",
                 class = "sygnet_error_input", call = call)
  }
  rep_len(as.double(value), n)
}
