# The user's regression on real and synthetic data side by side, and its plot.

coefficient_table <- function(formula, family, frame) {
  fit <- stats::glm(formula, family = family, data = frame)
  s <- summary(fit)$coefficients
  data.frame(term = rownames(s), estimate = s[, 1], se = s[, 2], row.names = NULL)
}

# Share of two intervals that overlap, averaged over both (Karr et al. 2006); 0 when
# they are disjoint.
ci_overlap <- function(lower_1, upper_1, lower_2, upper_2) {
  overlap <- pmax(0, pmin(upper_1, upper_2) - pmax(lower_1, lower_2))
  0.5 * (overlap / (upper_1 - lower_1) + overlap / (upper_2 - lower_2))
}

# `w`: NULL, or the real rows' survey weights: the real model is then the weighted fit
# with design-based standard errors, and the synthetic standard errors are scaled to
# the real rows' effective size.
regression_table <- function(data, sets, formula, family, w) {
  real <- if (is.null(w)) coefficient_table(formula, family, data) else
    design_coefficient_table(formula, family, data, w)
  tables <- lapply(seq_along(sets), function(i) {
    tryCatch(coefficient_table(formula, family, sets[[i]]), error = function(e) {
      cli::cli_warn(c("The model could not be fitted to synthetic data set {i}; its estimates are missing.",
                      "x" = conditionMessage(e)), class = "sygnet_warning_model")
      data.frame(term = real$term, estimate = NA_real_, se = NA_real_)
    })
  })
  pooled <- pool_estimates(tables)
  k <- nrow(sets[[1]])
  real_rows <- if (is.null(w)) nrow(data) else kish_size(w)
  syn_se <- sqrt(pooled$within * k / real_rows)
  out <- merge(real, data.frame(term = pooled$term, synthetic = pooled$estimate, synthetic_se = syn_se),
               by = "term", all.x = TRUE, sort = FALSE)
  out <- out[match(real$term, out$term), ]
  names(out)[2:3] <- c("real", "real_se")
  z <- stats::qnorm(0.975)
  out$ci_overlap <- ci_overlap(out$real - z * out$real_se, out$real + z * out$real_se,
                               out$synthetic - z * out$synthetic_se, out$synthetic + z * out$synthetic_se)
  out$std_difference <- (out$synthetic - out$real) / out$real_se
  out$sign_agrees <- sign(out$synthetic) == sign(out$real)
  out$significance_agrees <- (abs(out$real / out$real_se) > z) == (abs(out$synthetic / out$synthetic_se) > z)
  rownames(out) <- NULL
  out
}

plot_coefficients <- function(regression) {
  if (is.null(regression)) {
    sygnet_abort("No regression to plot: call {.fn utility} with {.arg formula}.",
                 class = "sygnet_error_input")
  }
  z <- stats::qnorm(0.975)
  d <- data.frame(
    term = rep(regression$term, 2L),
    source = rep(c("real", "synthetic"), each = nrow(regression)),
    estimate = c(regression$real, regression$synthetic),
    se = c(regression$real_se, regression$synthetic_se)
  )
  ggplot2::ggplot(d, ggplot2::aes(.data$estimate, .data$term, colour = .data$source)) +
    ggplot2::geom_pointrange(ggplot2::aes(xmin = .data$estimate - z * .data$se,
                                          xmax = .data$estimate + z * .data$se),
                             position = ggplot2::position_dodge(width = 0.5)) +
    ggplot2::labs(x = "estimate with 95% interval", y = NULL, colour = NULL) +
    ggplot2::theme_minimal()
}
