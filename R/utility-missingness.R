# Conditional missingness: for each column with missing values, its missing share within
# bands of every other column (quartiles of numbers, levels of categories), real against
# synthetic. Missingness that depends on other columns (wages missing for the retired)
# is what a reader checks first, and what marginal missing shares hide.

missingness_table <- function(data, sets, kinds, max_levels, w) {
  with_missing <- names(data)[vapply(data, anyNA, logical(1))]
  out <- list()
  for (v in with_missing) {
    for (by in setdiff(names(data), v)) {
      band <- banding(data[[by]], kinds[[by]], max_levels)
      real_band <- band(data[[by]])
      real <- tapply(w * is.na(data[[v]]), real_band, sum) / tapply(w, real_band, sum)
      synthetic <- Reduce(`+`, lapply(sets, function(s) {
        tapply(is.na(s[[v]]), band(s[[by]]), mean)
      })) / length(sets)
      rows <- as.vector(table(real_band))
      out[[length(out) + 1L]] <- data.frame(
        column = v, by = by, band = levels(real_band), real_rows = rows,
        real = as.vector(real), synthetic = as.vector(synthetic),
        difference = as.vector(synthetic - real)
      )[rows > 0L, , drop = FALSE]
    }
  }
  if (length(out) == 0L) {
    return(data.frame(column = character(), by = character(), band = character(),
                      real_rows = integer(), real = numeric(), synthetic = numeric(),
                      difference = numeric()))
  }
  table <- do.call(rbind, out)
  rownames(table) <- NULL
  table
}

# A function that cuts a column into bands defined on the real column `reference`:
# quartiles for numbers (fewer when values repeat), the `max_levels` most frequent
# levels for categories (the rest pooled), and a band for missing values.
banding <- function(reference, kind, max_levels) {
  if (kind == "numeric") {
    ref <- as.double(unclass(reference))
    inner <- if (all(is.na(ref))) numeric() else
      unique(stats::quantile(ref, 1:3 / 4, na.rm = TRUE, names = FALSE))
    breaks <- c(-Inf, inner, Inf)
    labels <- levels(cut(0, breaks, dig.lab = 4))
    cut_x <- function(x) as.character(cut(as.double(unclass(x)), breaks, dig.lab = 4))
  } else {
    counts <- sort(table(as.character(reference)), decreasing = TRUE)
    keep <- names(counts)[seq_len(min(length(counts), max_levels))]
    labels <- if (length(counts) > length(keep)) c(keep, "(other)") else keep
    cut_x <- function(x) {
      b <- as.character(x)
      b[!is.na(b) & !b %in% keep] <- "(other)"
      b
    }
  }
  labels <- c(labels, "(missing)")
  function(x) {
    b <- cut_x(x)
    b[is.na(b)] <- "(missing)"
    factor(b, levels = labels)
  }
}
