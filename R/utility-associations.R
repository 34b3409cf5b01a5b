# Pairwise associations (Pearson r, Cramér's V, correlation ratio), real against
# synthetic, and their plot.

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

plot_associations <- function(associations) {
  ggplot2::ggplot(associations, ggplot2::aes(.data$real, .data$synthetic, colour = .data$measure)) +
    ggplot2::geom_abline(linetype = "dashed", colour = "grey50") +
    ggplot2::geom_point() +
    ggplot2::labs(x = "association in real data", y = "association in synthetic data", colour = NULL) +
    ggplot2::theme_minimal()
}
