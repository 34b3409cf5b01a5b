#' How useful is a synthetic data set?
#'
#' Compares synthetic data with the real data it imitates, from single columns up to the
#' analyses a user will run:
#'
#' * **marginals**: per column, `1 - KS` (numbers, dates) or `1 - total variation distance`
#'   (categories) on the observed values, and the difference in the share of missing
#'   values; 1 and 0 are perfect.
#' * **associations**: for every pair of columns, Pearson's r (two numeric columns),
#'   Cramér's V (two categorical ones) or the correlation ratio (one of each), on real and
#'   synthetic data, and their difference.
#' * **propensity**: how well a model tells real from synthetic rows (Snoke et al. 2018).
#'   `pmse` is the mean squared difference between the fitted propensities and the share
#'   of synthetic rows; `ratio` divides it by its expected value had both come from the
#'   same distribution (about 1 is ideal; large values mean the rows are
#'   distinguishable, values well below 1 that synthetic rows sit on real ones). Two
#'   models: main-effects logistic regression (null expectation `(k - 1)(1 - c)^2 c / N`
#'   for `k` parameters, as in synthpop's `utility.gen()`), and the `neighbours` nearest
#'   neighbours of each row by Gower distance (the share of synthetic rows among them,
#'   with an exact null expectation from the hypergeometric distribution), which sees
#'   broken associations that main effects cannot. (A classification tree, synthpop's
#'   other choice, misses them when the marginals agree: no single split then separates
#'   the rows, and trees grow one greedy split at a time.) `auc` is the logistic model's
#'   in-sample area under the ROC curve (0.5: indistinguishable).
#' * **regression** (with `formula`): the model fitted by [stats::glm()] to real and to
#'   synthetic data side by side: coefficients, standard errors, 95% Wald confidence
#'   interval overlap (Karr et al. 2006; 1 for identical intervals, 0 for disjoint ones),
#'   standardised difference `(synthetic - real) / se(real)`, and whether signs and
#'   significance at 5% agree. With several synthetic data sets the estimate is their
#'   mean and its standard error `sqrt(mean variance * k / n)`, the standard error the
#'   real data would give (see [pool_synthetic()]).
#' * **prediction** (with `target`): a tree predicting `target` from the other columns,
#'   trained on synthetic data and on real data, both tested on real rows (accuracy for
#'   categories, R-squared for numbers).
#'
#' @param synthetic A data frame, or a list of them as returned by
#'   [simulate()][simulate.sygnet_fit]. Measures are averaged over the list.
#' @param data The real data frame.
#' @param formula A model formula for the regression comparison, or `NULL`.
#' @param family A [stats::family()] object or function for `formula`.
#' @param target Name of a column to predict, or `NULL`.
#' @param test Real rows not used to fit the generator, to test predictions on. By
#'   default 30% of `data` is held out at random; the generator has seen those rows, so
#'   the synthetic model is then judged on rows it may have learnt from.
#' @param neighbours Neighbours per row in the nearest-neighbour propensity model.
#' @param max_levels Categorical columns keep their most frequent `max_levels` levels in
#'   the logistic propensity model; the rest are pooled.
#' @param threads Number of CPU threads for the nearest-neighbour search.
#' @return An object of class `sygnet_utility`: a list with data frames `marginals`,
#'   `associations`, `propensity`, `regression` and `prediction` (the last two `NULL`
#'   unless asked for), with `print()`, `summary()` and `plot()` methods.
#' @references Snoke, J., Raab, G. M., Nowok, B., Dibben, C. & Slavkovic, A. (2018).
#'   General and specific utility measures for synthetic data. *JRSS A* 181, 663-688.
#'
#'   Karr, A. F., Kohnen, C. N., Oganian, A., Reiter, J. P. & Sanil, A. P. (2006). A
#'   framework for evaluating the utility of data altered to protect confidentiality.
#'   *The American Statistician* 60, 224-232.
#' @seealso [disclosure_risk()], [pool_synthetic()]
#' @examples
#' \donttest{
#' set.seed(1)
#' fitted <- fit(gan(epochs = 50), iris)
#' u <- utility(synthesize(fitted), iris, formula = Sepal.Length ~ Petal.Length + Species)
#' u
#' }
#' @export
utility <- function(synthetic, data, formula = NULL, family = stats::gaussian(), target = NULL,
                    test = NULL, neighbours = 10L, max_levels = 20L,
                    threads = getOption("sygnet.threads", 1L)) {
  check_data(data)
  data <- as.data.frame(data)
  kinds <- column_kinds(data)
  sets <- synthetic_sets(synthetic, data)
  check_formula(formula)
  check_columns_in(target, data, "target")
  if (length(target) > 1L) {
    sygnet_abort("{.arg target} must name one column.", class = "sygnet_error_input")
  }
  if (!is.null(test)) test <- matching_frame(test, data, "test")
  check_count(neighbours)
  check_count(max_levels)
  threads <- check_threads(threads)
  family <- check_family(family)

  structure(
    list(
      marginals = marginal_table(data, sets, kinds),
      associations = association_table(data, sets, kinds),
      propensity = propensity_table(data, sets, kinds, neighbours, max_levels, threads),
      regression = if (!is.null(formula)) regression_table(data, sets, formula, family),
      prediction = if (!is.null(target)) prediction_table(data, sets, target, kinds[[target]], test),
      formula = formula,
      n = nrow(data),
      k = nrow(sets[[1]]),
      m = length(sets),
      data = data,
      synthetic = sets[[1]]
    ),
    class = "sygnet_utility"
  )
}

check_family <- function(family, call = rlang::caller_env()) {
  if (is.function(family)) family <- family()
  if (!inherits(family, "family")) {
    sygnet_abort("{.arg family} must be a family such as {.code binomial()}.",
                 class = "sygnet_error_input", call = call)
  }
  family
}

# Marginals ----------------------------------------------------------------------------

marginal_similarity <- function(a, b, kind) {
  a <- a[!is.na(a)]
  b <- b[!is.na(b)]
  if (length(a) == 0L || length(b) == 0L) return(NA_real_)
  if (kind == "numeric") {
    stat <- suppressWarnings(stats::ks.test(as.double(a), as.double(b), exact = FALSE)$statistic)
    return(1 - unname(stat))
  }
  lev <- union(unique(as.character(a)), unique(as.character(b)))
  pa <- tabulate(match(as.character(a), lev), length(lev)) / length(a)
  pb <- tabulate(match(as.character(b), lev), length(lev)) / length(b)
  1 - 0.5 * sum(abs(pa - pb))
}

marginal_table <- function(data, sets, kinds) {
  rows <- lapply(names(data), function(v) {
    sim <- vapply(sets, function(s) marginal_similarity(data[[v]], s[[v]], kinds[[v]]), numeric(1))
    na_syn <- vapply(sets, function(s) mean(is.na(s[[v]])), numeric(1))
    data.frame(column = v, kind = kinds[[v]], similarity = mean(sim),
               missing_real = mean(is.na(data[[v]])), missing_synthetic = mean(na_syn))
  })
  out <- do.call(rbind, rows)
  out$missing_difference <- out$missing_synthetic - out$missing_real
  out
}

# Associations -------------------------------------------------------------------------

association <- function(x, y, kind_x, kind_y) {
  ok <- !is.na(x) & !is.na(y)
  x <- x[ok]
  y <- y[ok]
  if (length(x) < 3L) return(NA_real_)
  if (kind_x == "numeric" && kind_y == "numeric") {
    x <- as.double(x)
    y <- as.double(y)
    if (stats::sd(x) == 0 || stats::sd(y) == 0) return(NA_real_)
    return(stats::cor(x, y))
  }
  if (kind_x == "categorical" && kind_y == "categorical") {
    tab <- table(as.character(x), as.character(y))
    if (min(dim(tab)) < 2L) return(NA_real_)
    expected <- outer(rowSums(tab), colSums(tab)) / sum(tab)
    chi <- sum((tab - expected)^2 / expected)
    return(sqrt(chi / (sum(tab) * (min(dim(tab)) - 1))))
  }
  if (kind_x == "categorical") {
    tmp <- x
    x <- y
    y <- tmp
  }
  x <- as.double(x)
  total <- sum((x - mean(x))^2)
  if (total == 0) return(NA_real_)
  group <- as.character(y)
  means <- tapply(x, group, mean)
  counts <- tapply(x, group, length)
  sqrt(sum(counts * (means - mean(x))^2) / total)
}

association_table <- function(data, sets, kinds) {
  if (ncol(data) < 2L) {
    return(data.frame(column_1 = character(), column_2 = character(), measure = character(),
                      real = numeric(), synthetic = numeric(), difference = numeric()))
  }
  pairs <- utils::combn(names(data), 2L, simplify = FALSE)
  rows <- lapply(pairs, function(p) {
    kx <- kinds[[p[1]]]
    ky <- kinds[[p[2]]]
    measure <- if (kx == "numeric" && ky == "numeric") "pearson" else
      if (kx == "categorical" && ky == "categorical") "cramer_v" else "correlation_ratio"
    real <- association(data[[p[1]]], data[[p[2]]], kx, ky)
    syn <- vapply(sets, function(s) association(s[[p[1]]], s[[p[2]]], kx, ky), numeric(1))
    data.frame(column_1 = p[1], column_2 = p[2], measure = measure, real = real,
               synthetic = mean(syn))
  })
  out <- do.call(rbind, rows)
  out$difference <- out$synthetic - out$real
  out
}

# Propensity scores ----------------------------------------------------------------------

# Stacks real and synthetic rows as predictors of `.synthetic`: numbers with missing
# values get an indicator (and 0 in place of NA), categories an explicit missing level,
# rare levels are pooled.
propensity_frame <- function(data, synthetic, kinds, max_levels) {
  both <- rbind(data, synthetic)
  out <- list()
  for (v in names(data)) {
    x <- both[[v]]
    name <- make.names(v)
    if (kinds[[v]] == "numeric") {
      x <- as.double(unclass(x))
      if (anyNA(x)) {
        out[[paste0(name, ".missing")]] <- is.na(x)
        x[is.na(x)] <- 0
      }
      out[[name]] <- x
    } else {
      x <- as.character(x)
      x[is.na(x)] <- "(missing)"
      counts <- sort(table(x[seq_len(nrow(data))]), decreasing = TRUE)
      keep <- names(counts)[seq_len(min(length(counts), max_levels))]
      x[!x %in% keep] <- "(other)"
      out[[name]] <- factor(x)
    }
  }
  out <- as.data.frame(out, optional = TRUE)
  names(out) <- make.unique(names(out))
  out$.synthetic <- rep(c(0L, 1L), c(nrow(data), nrow(synthetic)))
  out
}

pmse <- function(p, label) mean((p - mean(label))^2)

propensity_logit <- function(frame) {
  fit <- suppressWarnings(stats::glm(.synthetic ~ ., data = frame, family = stats::binomial()))
  p <- stats::fitted(fit)
  c_syn <- mean(frame$.synthetic)
  k <- sum(!is.na(stats::coef(fit)))
  null <- (k - 1) * (1 - c_syn)^2 * c_syn / nrow(frame)
  c(pmse = pmse(p, frame$.synthetic), null = null, auc = auc(p, frame$.synthetic))
}

# Share of synthetic rows among each row's nearest neighbours (rows shuffled first, so
# that ties are broken at random). Under the null, each row's neighbours are a random
# subset of the other rows, so the share is hypergeometric.
propensity_neighbours <- function(data, synthetic, k, threads) {
  frames <- harmonise(list(data, synthetic))
  both <- rbind(frames[[1]], frames[[2]])
  label <- rep(0:1, c(nrow(data), nrow(synthetic)))
  order <- sample(nrow(both))
  both <- both[order, , drop = FALSE]
  label <- label[order]
  n <- length(label)
  k <- min(k, n - 1L)
  found <- gower_neighbours(both, both, gower_ranges(both), k, TRUE, threads)
  share <- rowMeans(matrix(label[found$index], ncol = k))
  c_syn <- mean(label)
  expected <- function(own) {
    q <- (sum(label) - own) / (n - 1)
    q * (1 - q) * (n - 1 - k) / ((n - 2) * k) + (q - c_syn)^2
  }
  null <- (1 - c_syn) * expected(0) + c_syn * expected(1)
  c(pmse = pmse(share, label), null = null, auc = NA_real_)
}

propensity_table <- function(data, sets, kinds, neighbours, max_levels, threads) {
  scores <- lapply(sets, function(s) {
    frame <- propensity_frame(data, s, kinds, max_levels)
    rbind(logistic = propensity_logit(frame),
          neighbours = propensity_neighbours(data, s, neighbours, threads))
  })
  mean_scores <- Reduce(`+`, scores) / length(scores)
  data.frame(model = c("logistic", "neighbours"), pmse = mean_scores[, "pmse"],
             null_pmse = mean_scores[, "null"], ratio = mean_scores[, "pmse"] / mean_scores[, "null"],
             auc = mean_scores[, "auc"], row.names = NULL)
}

# Regression ----------------------------------------------------------------------------

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

regression_table <- function(data, sets, formula, family) {
  real <- coefficient_table(formula, family, data)
  tables <- lapply(seq_along(sets), function(i) {
    tryCatch(coefficient_table(formula, family, sets[[i]]), error = function(e) {
      cli::cli_warn(c("The model could not be fitted to synthetic data set {i}; its estimates are missing.",
                      "x" = conditionMessage(e)), class = "sygnet_warning_model")
      data.frame(term = real$term, estimate = NA_real_, se = NA_real_)
    })
  })
  pooled <- pool_estimates(tables)
  k <- nrow(sets[[1]])
  syn_se <- sqrt(pooled$within * k / nrow(data))
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

# Prediction ----------------------------------------------------------------------------

prediction_table <- function(data, sets, target, kind, test) {
  if (is.null(test)) {
    held <- sample(nrow(data), max(1L, round(0.3 * nrow(data))))
    train <- data[-held, , drop = FALSE]
    test <- data[held, , drop = FALSE]
  } else {
    train <- data
  }
  score <- function(training) {
    training <- training[!is.na(training[[target]]), , drop = FALSE]
    tested <- test[!is.na(test[[target]]), , drop = FALSE]
    formula <- stats::reformulate(".", response = as.name(target))
    if (kind == "categorical") {
      training[[target]] <- factor(training[[target]])
      fit <- rpart::rpart(formula, data = training, method = "class")
      predicted <- as.character(stats::predict(fit, newdata = tested, type = "class"))
      return(mean(predicted == as.character(tested[[target]])))
    }
    y <- as.double(unclass(tested[[target]]))
    training[[target]] <- as.double(unclass(training[[target]]))
    fit <- rpart::rpart(formula, data = training, method = "anova")
    predicted <- stats::predict(fit, newdata = tested)
    1 - sum((y - predicted)^2) / sum((y - mean(y))^2)
  }
  on_real <- score(train)
  on_synthetic <- mean(vapply(sets, score, numeric(1)))
  data.frame(target = target, metric = if (kind == "categorical") "accuracy" else "r_squared",
             train_real = on_real, train_synthetic = on_synthetic,
             ratio = on_synthetic / on_real)
}

# Methods -------------------------------------------------------------------------------

#' @export
print.sygnet_utility <- function(x, ...) {
  m <- x$marginals
  say("{.strong Utility of synthetic data} ({x$m} set{?s} of {x$k} row{?s}; real data {x$n} row{?s})")
  worst <- m[order(m$similarity), ][seq_len(min(3L, nrow(m))), ]
  say("Marginals: mean similarity {fmt(mean(m$similarity, na.rm = TRUE))} (lowest: {paste0(worst$column, ' ', fmt(worst$similarity), collapse = ', ')}); largest missing-share difference {fmt(max(abs(m$missing_difference)))}")
  a <- x$associations
  if (nrow(a) > 0L) {
    top <- a[order(-abs(a$difference)), ][seq_len(min(3L, nrow(a))), ]
    say("Associations: mean |difference| {fmt(mean(abs(a$difference), na.rm = TRUE))} (largest: {paste0(top$column_1, '~', top$column_2, ' ', fmt(top$difference), collapse = ', ')})")
  }
  p <- x$propensity
  say("Propensity pMSE ratio (1 is ideal): logistic {fmt(p$ratio[1])}, nearest neighbours {fmt(p$ratio[2])}; logistic AUC {fmt(p$auc[1])}")
  if (!is.null(x$regression)) {
    r <- x$regression
    say("Regression {.code {paste(deparse(x$formula, width.cutoff = 500L), collapse = ' ')}}: mean CI overlap {fmt(mean(r$ci_overlap, na.rm = TRUE))}, signs agree {sum(r$sign_agrees, na.rm = TRUE)}/{nrow(r)}, significance agrees {sum(r$significance_agrees, na.rm = TRUE)}/{nrow(r)}")
  }
  if (!is.null(x$prediction)) {
    q <- x$prediction
    say("Predicting {.field {q$target}} ({q$metric} on real rows): trained on real {fmt(q$train_real)}, on synthetic {fmt(q$train_synthetic)}")
  }
  invisible(x)
}

fmt <- function(x, digits = 3) formatC(x, digits = digits, format = "g")

#' @export
summary.sygnet_utility <- function(object, ...) {
  structure(object[c("marginals", "associations", "propensity", "regression", "prediction",
                     "n", "k", "m")],
            class = "summary.sygnet_utility")
}

#' @export
print.summary.sygnet_utility <- function(x, digits = 3, ...) {
  show <- function(title, table) {
    if (is.null(table)) return()
    say(title)
    numeric <- vapply(table, is.double, logical(1))
    table[numeric] <- lapply(table[numeric], round, digits = digits)
    print(table, row.names = FALSE)
  }
  say("{.strong Utility of synthetic data} ({x$m} set{?s} of {x$k} row{?s}; real data {x$n} row{?s})")
  show("Marginals:", x$marginals)
  show("Pairwise associations:", x$associations)
  show("Propensity models:", x$propensity)
  show("Regression:", x$regression)
  show("Prediction:", x$prediction)
  invisible(x)
}

#' Plot utility measures
#'
#' `"marginals"` overlays the real and synthetic distribution of each column (densities
#' for numbers, bars for categories); `"coefficients"` shows the regression estimates
#' with 95% intervals from real and synthetic data; `"associations"` plots each pair's
#' real against synthetic association. Uses ggplot2 when it is installed.
#'
#' @param x A `sygnet_utility`.
#' @param which Which plot.
#' @param columns Columns to show in the marginal plot (default: the first 12).
#' @param ... Unused.
#' @return The plot (a ggplot, or a list of two for mixed marginals), invisibly.
#' @export
plot.sygnet_utility <- function(x, which = c("marginals", "coefficients", "associations"),
                                columns = NULL, ...) {
  which <- rlang::arg_match(which)
  if (!requireNamespace("ggplot2", quietly = TRUE)) {
    sygnet_abort("Plotting needs the {.pkg ggplot2} package.", class = "sygnet_error_input")
  }
  plot <- switch(which,
    marginals = plot_marginals(x$data, x$synthetic, columns),
    coefficients = plot_coefficients(x$regression),
    associations = plot_associations(x$associations)
  )
  if (inherits(plot, "ggplot")) print(plot) else lapply(plot, print)
  invisible(plot)
}

plot_marginals <- function(data, synthetic, columns) {
  columns <- columns %||% utils::head(names(data), 12L)
  check_columns_in(columns, data, "columns")
  kinds <- column_kinds(data)[columns]
  long <- function(cols, convert) {
    do.call(rbind, lapply(cols, function(v) {
      data.frame(column = v,
                 value = c(convert(data[[v]]), convert(synthetic[[v]])),
                 source = rep(c("real", "synthetic"), c(nrow(data), nrow(synthetic))))
    }))
  }
  plots <- list()
  numeric_cols <- columns[kinds == "numeric"]
  if (length(numeric_cols) > 0L) {
    d <- long(numeric_cols, function(v) as.double(unclass(v)))
    d <- d[!is.na(d$value), ]
    plots$numeric <- ggplot2::ggplot(d, ggplot2::aes(.data$value, colour = .data$source)) +
      ggplot2::geom_density() +
      ggplot2::facet_wrap(~column, scales = "free") +
      ggplot2::labs(x = NULL, y = "density", colour = NULL) +
      ggplot2::theme_minimal()
  }
  categorical_cols <- columns[kinds == "categorical"]
  if (length(categorical_cols) > 0L) {
    d <- long(categorical_cols, function(v) {
      v <- as.character(v)
      v[is.na(v)] <- "(missing)"
      v
    })
    shares <- stats::aggregate(list(n = rep(1, nrow(d))), d[c("column", "value", "source")], sum)
    totals <- stats::ave(shares$n, shares$column, shares$source, FUN = sum)
    shares$share <- shares$n / totals
    plots$categorical <- ggplot2::ggplot(shares, ggplot2::aes(.data$value, .data$share, fill = .data$source)) +
      ggplot2::geom_col(position = "dodge") +
      ggplot2::facet_wrap(~column, scales = "free") +
      ggplot2::labs(x = NULL, y = "share", fill = NULL) +
      ggplot2::theme_minimal() +
      ggplot2::theme(axis.text.x = ggplot2::element_text(angle = 45, hjust = 1))
  }
  if (length(plots) == 1L) plots[[1]] else plots
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

plot_associations <- function(associations) {
  ggplot2::ggplot(associations, ggplot2::aes(.data$real, .data$synthetic, colour = .data$measure)) +
    ggplot2::geom_abline(linetype = "dashed", colour = "grey50") +
    ggplot2::geom_point() +
    ggplot2::labs(x = "association in real data", y = "association in synthetic data", colour = NULL) +
    ggplot2::theme_minimal()
}
