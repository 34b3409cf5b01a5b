# A sequential CART synthesiser, the baseline of the quality benchmark (the method of
# synthpop's default `syn()`, written here with rpart because synthpop is not
# installable from Debian). Columns are synthesised in order: the first by sampling its
# observed values, each next one from a regression or classification tree fitted to the
# real data on the columns before it. A synthetic row is dropped into that tree and its
# value drawn from the real values in the same leaf (with their missing values, so
# missingness is synthesised with the rest). Leaves hold at least 5 rows (synthpop's
# minbucket); no smoothing.

cart_synthesize <- function(data, n = nrow(data), seed = 1) {
  withr::with_seed(seed, {
    data <- as.data.frame(data)
    out <- data[sample(nrow(data), n, replace = TRUE), 1L, drop = FALSE]
    for (j in seq_along(data)[-1L]) {
      y <- data[[j]]
      x_real <- as_predictors(data[seq_len(j - 1L)])
      x_syn <- as_predictors(out)
      leaves_real <- leaf_of(y, x_real, x_syn)
      out[[names(data)[j]]] <- y[draw_from_leaves(leaves_real$real, leaves_real$synthetic)]
    }
    rownames(out) <- NULL
    out
  })
}

# Columns as rpart predictors: dates as numbers, characters and logicals as factors.
as_predictors <- function(frame) {
  as.data.frame(lapply(frame, function(x) {
    if (inherits(x, c("Date", "POSIXct"))) return(as.double(unclass(x)))
    if (is.character(x) || is.logical(x)) return(factor(x))
    x
  }), optional = TRUE)
}

# Leaf numbers of real and synthetic rows in a tree for `y` (missing values a category
# of their own when y is categorical; for a number the tree is fitted to the rows where
# it is observed, and rows with missing y join the leaves the tree sends them to).
leaf_of <- function(y, x_real, x_syn) {
  target <- if (is.numeric(y) || inherits(y, c("Date", "POSIXct"))) {
    as.double(unclass(y))
  } else {
    z <- as.character(y)
    z[is.na(z)] <- "(missing)"
    factor(z)
  }
  frame <- cbind(x_real, .y = target)
  method <- if (is.factor(target)) "class" else "anova"
  fit <- rpart::rpart(.y ~ ., data = frame[!is.na(target), , drop = FALSE], method = method,
                      control = rpart::rpart.control(minbucket = 5, cp = 1e-8, xval = 0))
  terms <- stats::delete.response(fit$terms)
  # The leaf each row falls in, as predict.rpart finds it internally.
  leaves <- function(x) {
    frame <- stats::model.frame(terms, x, na.action = stats::na.pass,
                                xlev = attr(fit, "xlevels"))
    as.integer(rpart:::pred.rpart(fit, rpart:::rpart.matrix(frame)))
  }
  list(real = leaves(x_real), synthetic = leaves(x_syn))
}

# For each synthetic row, the index of a real row drawn at random from its leaf.
draw_from_leaves <- function(real, synthetic) {
  by_leaf <- split(seq_along(real), real)
  vapply(synthetic, function(l) {
    rows <- by_leaf[[as.character(l)]]
    # A node no real row reaches (a synthetic row whose predictors the real rows never
    # combined; seed 1004 on SLID sends one row there): any real row.
    if (is.null(rows)) rows <- seq_along(real)
    rows[sample.int(length(rows), 1L)]
  }, integer(1))
}
