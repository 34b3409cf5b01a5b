# Propensity scores: can a model tell real rows from synthetic ones? A random forest, a
# main-effects logistic model and a nearest-neighbour model, as pMSE and its ratio to
# the null, and AUC.

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

# Out-of-bag propensities of a probability forest (ranger), so that no row is scored by
# trees that saw it. The null pMSE is that of the same forest fitted to labels shuffled
# at random; seeded from R's generator.
propensity_forest <- function(frame, threads) {
  if (!requireNamespace("ranger", quietly = TRUE)) {
    return(c(pmse = NA_real_, null = NA_real_, auc = NA_real_))
  }
  x <- frame[setdiff(names(frame), ".synthetic")]
  label <- frame$.synthetic
  oob <- function(y) {
    forest <- ranger::ranger(x = x, y = factor(y, levels = 0:1), probability = TRUE,
                             num.trees = 200L, num.threads = threads,
                             seed = sample.int(.Machine$integer.max, 1L))
    forest$predictions[, "1"]
  }
  p <- oob(label)
  scored <- !is.na(p)
  shuffled <- sample(label)
  p_null <- oob(shuffled)
  c(pmse = pmse(p[scored], label[scored]),
    null = pmse(p_null[!is.na(p_null)], shuffled[!is.na(p_null)]),
    auc = auc(p[scored], label[scored]))
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
          neighbours = propensity_neighbours(data, s, neighbours, threads),
          forest = propensity_forest(frame, threads))
  })
  mean_scores <- Reduce(`+`, scores) / length(scores)
  data.frame(model = c("logistic", "neighbours", "forest"), pmse = mean_scores[, "pmse"],
             null_pmse = mean_scores[, "null"], ratio = mean_scores[, "pmse"] / mean_scores[, "null"],
             auc = mean_scores[, "auc"], row.names = NULL)
}
