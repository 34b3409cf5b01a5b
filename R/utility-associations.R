# Pairwise associations (Pearson r, Cramér's V, correlation ratio), real against
# synthetic, and their plot.

# `w`: row weights (survey weights of real rows; all 1 by default).
association <- function(x, y, kind_x, kind_y, w = rep(1, length(x))) {
  ok <- !is.na(x) & !is.na(y)
  w <- w[ok]
  x <- x[ok]
  y <- y[ok]
  if (length(x) < 3L || sum(w) <= 0) return(NA_real_)
  if (kind_x == "numeric" && kind_y == "numeric") {
    moments <- stats::cov.wt(cbind(as.double(x), as.double(y)), wt = w / sum(w))$cov
    if (moments[1, 1] <= 0 || moments[2, 2] <= 0) return(NA_real_)
    return(moments[1, 2] / sqrt(moments[1, 1] * moments[2, 2]))
  }
  if (kind_x == "categorical" && kind_y == "categorical") {
    tab <- tapply(w, list(as.character(x), as.character(y)), sum, default = 0)
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
  centre <- stats::weighted.mean(x, w)
  total <- sum(w * (x - centre)^2)
  if (total == 0) return(NA_real_)
  group <- as.character(y)
  group_weight <- tapply(w, group, sum)
  means <- tapply(w * x, group, sum) / group_weight
  present <- group_weight > 0
  sqrt(sum(group_weight[present] * (means[present] - centre)^2) / total)
}

association_table <- function(data, sets, kinds, w) {
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
    real <- association(data[[p[1]]], data[[p[2]]], kx, ky, w)
    syn <- vapply(sets, function(s) association(s[[p[1]]], s[[p[2]]], kx, ky), numeric(1))
    data.frame(column_1 = p[1], column_2 = p[2], measure = measure, real = real,
               synthetic = mean(syn))
  })
  out <- do.call(rbind, rows)
  out$difference <- out$synthetic - out$real
  out
}

plot_associations <- function(associations) {
  ggplot2::ggplot(associations, ggplot2::aes(.data$real, .data$synthetic, colour = .data$measure)) +
    ggplot2::geom_abline(linetype = "dashed", colour = "grey50") +
    ggplot2::geom_point() +
    ggplot2::labs(x = "association in real data", y = "association in synthetic data", colour = NULL) +
    ggplot2::theme_minimal()
}
