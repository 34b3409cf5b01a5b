# Marginal similarity of each column (1 - KS for numbers, 1 - total variation for
# categories) and its plot.

# `w`: the weights of `a`'s rows (survey weights of real rows; all 1 by default).
marginal_similarity <- function(a, b, kind, w = rep(1, length(a))) {
  w <- w[!is.na(a)]
  a <- a[!is.na(a)]
  b <- b[!is.na(b)]
  if (length(a) == 0L || length(b) == 0L || sum(w) <= 0) return(NA_real_)
  if (kind == "numeric") {
    b <- as.double(unclass(b))
    return(1 - weighted_ks(as.double(unclass(a)), w, b, rep(1, length(b))))
  }
  lev <- union(unique(as.character(a)), unique(as.character(b)))
  pa <- weighted_shares(as.character(a), w, lev)
  pb <- tabulate(match(as.character(b), lev), length(lev)) / length(b)
  1 - 0.5 * sum(abs(pa - pb))
}

marginal_table <- function(data, sets, kinds, w) {
  rows <- lapply(names(data), function(v) {
    sim <- vapply(sets, function(s) marginal_similarity(data[[v]], s[[v]], kinds[[v]], w), numeric(1))
    na_syn <- vapply(sets, function(s) mean(is.na(s[[v]])), numeric(1))
    data.frame(column = v, kind = kinds[[v]], similarity = mean(sim),
               missing_real = stats::weighted.mean(is.na(data[[v]]), w),
               missing_synthetic = mean(na_syn))
  })
  out <- do.call(rbind, rows)
  out$missing_difference <- out$missing_synthetic - out$missing_real
  out
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
