# Statistics of real rows that carry survey weights, for utility() and
# pool_synthetic(). Synthetic rows from a weighted fit are unweighted draws from the
# weighted distribution, so only the real side is weighted.

# Kish's effective sample size: the rows of a simple random sample that estimate a
# mean as precisely as weighted rows do (weighting alone; no clusters or strata).
kish_size <- function(w) sum(w)^2 / sum(w^2)

# Weighted empirical distribution function of `x` evaluated at `at`.
weighted_ecdf <- function(x, w, at) {
  o <- order(x)
  cumulative <- c(0, cumsum(w[o])) / sum(w)
  cumulative[findInterval(at, x[o]) + 1L]
}

# Two-sample Kolmogorov-Smirnov statistic with weights on both samples.
weighted_ks <- function(x, wx, y, wy) {
  at <- unique(c(x, y))
  max(abs(weighted_ecdf(x, wx, at) - weighted_ecdf(y, wy, at)))
}

# Weighted shares of the values `levels` in `x`.
weighted_shares <- function(x, w, levels) {
  totals <- vapply(split(w, factor(x, levels = levels)), sum, numeric(1))
  totals / sum(totals)
}

# Real rows kept with probability proportional to their weight (w / max w): each kept
# row is a draw from the weighted distribution, and no row is repeated.
population_rows <- function(data, w) {
  keep <- stats::runif(length(w)) < w / max(w)
  data[keep, , drop = FALSE]
}

# glm() finds the weights by name, in an environment around the formula's.
utils::globalVariables(".sygnet_weight")

# The model fitted with survey weights: estimates of the weighted (pseudo-likelihood)
# fit and sandwich (linearisation) standard errors, as survey::svyglm() gives for a
# design with weights only.
design_coefficient_table <- function(formula, family, frame, w) {
  # Not a column of `frame`, where `y ~ .` would take it for a predictor.
  weighting <- new.env(parent = environment(formula) %||% globalenv())
  weighting$.sygnet_weight <- w / mean(w)
  environment(formula) <- weighting
  fit <- withCallingHandlers(
    stats::glm(formula, family = family, data = frame, weights = .sygnet_weight),
    warning = function(cnd) {
      # Binomial models with weights that are not whole numbers: the estimates are right.
      if (grepl("non-integer", conditionMessage(cnd))) rlang::cnd_muffle(cnd)
    }
  )
  estimated <- !is.na(stats::coef(fit))
  x <- stats::model.matrix(fit)[, estimated, drop = FALSE]
  scores <- x * (stats::residuals(fit, type = "working") * fit$weights)
  bread <- summary(fit)$cov.unscaled
  rows <- nrow(x)
  covariance <- bread %*% crossprod(scores) %*% bread * rows / (rows - 1)
  se <- rep(NA_real_, length(estimated))
  se[estimated] <- sqrt(diag(covariance))
  data.frame(term = names(stats::coef(fit)), estimate = unname(stats::coef(fit)), se = se,
             row.names = NULL)
}

# The weight column named by `weights` in real data, checked: NULL when unweighted.
real_weights <- function(weights, data, call = rlang::caller_env()) {
  if (is.null(weights)) return(NULL)
  if (!is.character(weights) || length(weights) != 1L || is.na(weights)) {
    sygnet_abort("{.arg weights} must name one column of {.arg data}.",
                 class = "sygnet_error_input", call = call)
  }
  check_columns_in(weights, data, "weights", call = call)
  check_weight_values(data[[weights]], weights, call = call)
}

# Weights as doubles: finite, not negative, some positive. `column`: the weight
# column's name, or NULL for a vector given as `weights`.
check_weight_values <- function(w, column = NULL, call = rlang::caller_env()) {
  if (!is.numeric(w) || anyNA(w) || any(!is.finite(w)) || any(w < 0) || sum(w) <= 0) {
    what <- if (is.null(column)) "{.arg weights}" else "Weight column {.field {column}}"
    sygnet_abort(paste(what, "must hold finite numbers, none missing or negative, some positive."),
                 class = "sygnet_error_input", call = call)
  }
  as.double(unclass(w))
}
