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
#'   distinguishable, values well below 1 that synthetic rows sit on real ones). Three
#'   models: main-effects logistic regression (null expectation `(k - 1)(1 - c)^2 c / N`
#'   for `k` parameters, as in synthpop's `utility.gen()`), and the `neighbours` nearest
#'   neighbours of each row by Gower distance (the share of synthetic rows among them,
#'   with an exact null expectation from the hypergeometric distribution), which sees
#'   broken associations that main effects cannot. (A classification tree, synthpop's
#'   other choice, misses them when the marginals agree: no single split then separates
#'   the rows, and trees grow one greedy split at a time; a forest of deep trees does
#'   not), and a random forest (with the ranger package, otherwise `NA`; 200 trees,
#'   out-of-bag propensities, the null pMSE from the same forest on shuffled labels),
#'   the strongest detector of the three and the one to judge by. `auc` is the area under the ROC curve of the forest's out-of-bag and the
#'   logistic model's in-sample propensities (0.5: indistinguishable).
#' * **missingness**: for each column with missing values, its missing share within
#'   bands of every other column (quartiles of numbers, the `max_levels` most frequent
#'   levels of categories, and missing values), real and synthetic, and their
#'   difference: whether the synthetic data keeps who is missing, not only how many.
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
#' @param data The real data frame. Labelled columns (\pkg{haven}) are compared as
#'   factors of their values where every real value carries a label, otherwise as
#'   numbers (tagged missing values as `NA`).
#' @param formula A model formula for the regression comparison, or `NULL`.
#' @param family A [stats::family()] object or function for `formula`.
#' @param target Name of a column to predict, or `NULL`.
#' @param test Real rows not used to fit the generator, to test predictions on. By
#'   default 30% of `data` is held out at random; the generator has seen those rows, so
#'   the synthetic model is then judged on rows it may have learnt from.
#' @param weights `NULL`, or the name of a column of survey weights in `data` (and
#'   `test`), as given to [fit()][fit.sygnet_spec]: the real data then stand for the
#'   weighted population, which is what a weighted fit's synthetic rows are drawn from.
#'   Marginals, associations, missing shares and prediction scores of real rows are
#'   weighted; the regression is the weighted fit with design-based (sandwich)
#'   standard errors, as [survey::svyglm()] gives for a design with weights only (no
#'   strata or clusters), and synthetic standard errors are scaled to the real rows'
#'   effective size, Kish's `(sum w)^2 / sum(w^2)`; the propensity models compare the
#'   synthetic rows with real rows kept with probability `w / max(w)`, a sample of the
#'   weighted population (few rows when the weights are very unequal). Synthetic rows
#'   are never weighted.
#' @param neighbours Neighbours per row in the nearest-neighbour propensity model.
#' @param max_levels Categorical columns keep their most frequent `max_levels` levels in
#'   the logistic propensity model; the rest are pooled.
#' @param threads Number of CPU threads for the nearest-neighbour search.
#' @return An object of class `sygnet_utility`: a list with data frames `marginals`,
#'   `associations`, `missingness`, `propensity`, `regression` and `prediction` (the
#'   last two `NULL`
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
                    test = NULL, weights = NULL, neighbours = 10L, max_levels = 20L,
                    threads = getOption("sygnet.threads", 1L)) {
  check_data(data)
  data <- as.data.frame(data)
  labelled <- data
  data <- plain_columns(data, labelled)
  kinds <- column_kinds(data)
  synthetic <- if (is.data.frame(synthetic)) plain_columns(synthetic, labelled) else
    if (is.list(synthetic)) lapply(synthetic, plain_columns, labelled) else synthetic
  sets <- synthetic_sets(synthetic, data)
  check_formula(formula, data)
  check_columns_in(target, data, "target")
  if (length(target) > 1L) {
    sygnet_abort("{.arg target} must name one column.", class = "sygnet_error_input")
  }
  if (!is.null(test)) test <- matching_frame(plain_columns(test, labelled), data, "test")
  w <- real_weights(weights, data)
  if (!is.null(test)) real_weights(weights, test)
  row_weights <- w %||% rep(1, nrow(data))
  check_count(neighbours)
  check_count(max_levels)
  threads <- check_threads(threads)
  family <- check_family(family)

  structure(
    list(
      marginals = marginal_table(data, sets, kinds, row_weights),
      associations = association_table(data, sets, kinds, row_weights),
      missingness = missingness_table(data, sets, kinds, max_levels, row_weights),
      propensity = propensity_table(if (is.null(w)) data else population_rows(data, w), sets,
                                    kinds, neighbours, max_levels, threads),
      regression = if (!is.null(formula)) regression_table(data, sets, formula, family, w),
      prediction = if (!is.null(target)) {
        prediction_table(data, sets, target, kinds[[target]], test, weights)
      },
      formula = formula,
      weights = weights,
      n = nrow(data),
      k = nrow(sets[[1]]),
      m = length(sets),
      data = data,
      synthetic = sets[[1]]
    ),
    class = "sygnet_utility"
  )
}

#' @export
print.sygnet_utility <- function(x, ...) {
  m <- x$marginals
  say("{.strong Utility of synthetic data} ({x$m} set{?s} of {x$k} row{?s}; real data {x$n} row{?s}{if (!is.null(x$weights)) paste0(', weighted by ', x$weights) else ''})")
  worst <- m[order(m$similarity), ][seq_len(min(3L, nrow(m))), ]
  say("Marginals: mean similarity {fmt(mean(m$similarity, na.rm = TRUE))} (lowest: {paste0(worst$column, ' ', fmt(worst$similarity), collapse = ', ')}); largest missing-share difference {fmt(max(abs(m$missing_difference)))}")
  a <- x$associations
  if (nrow(a) > 0L) {
    top <- a[order(-abs(a$difference)), ][seq_len(min(3L, nrow(a))), ]
    say("Associations: mean |difference| {fmt(mean(abs(a$difference), na.rm = TRUE))} (largest: {paste0(top$column_1, '~', top$column_2, ' ', fmt(top$difference), collapse = ', ')})")
  }
  g <- x$missingness
  if (nrow(g) > 0L) {
    top <- g[which.max(abs(g$difference) * (g$real_rows >= 20L)), ]
    say("Conditional missingness: largest gap {.field {top$column}} missing when {.field {top$by}} is {top$band}: real {fmt(top$real)}, synthetic {fmt(top$synthetic)} ({top$real_rows} real rows)")
  }
  p <- x$propensity
  say("Propensity AUC (0.5 is ideal): random forest {fmt(p$auc[3])}, logistic {fmt(p$auc[1])}; pMSE ratio (1 is ideal): forest {fmt(p$ratio[3])}, logistic {fmt(p$ratio[1])}, nearest neighbours {fmt(p$ratio[2])}")
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
  structure(object[c("marginals", "associations", "missingness", "propensity", "regression",
                     "prediction",
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
  gaps <- x$missingness[order(-abs(x$missingness$difference)), , drop = FALSE]
  if (nrow(gaps) > 0L) show("Conditional missingness (largest gaps):", utils::head(gaps, 10L))
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

