# Quality measures shared by the benchmark scripts: how close a synthetic data frame is
# to the real one. (Benchmarks only; the package's own measures come with utility().)

similarity_marginal <- function(real, syn) {
  vapply(names(real), function(v) {
    a <- real[[v]]; b <- syn[[v]]
    if (is.numeric(a) || inherits(a, c("Date", "POSIXct"))) {
      a <- as.numeric(a[!is.na(a)]); b <- as.numeric(b[!is.na(b)])
      unname(1 - suppressWarnings(stats::ks.test(a, b)$statistic))
    } else {
      l <- union(levels(factor(a)), levels(factor(b)))
      pa <- prop.table(table(factor(a, l))); pb <- prop.table(table(factor(b, l)))
      1 - 0.5 * sum(abs(pa - pb))
    }
  }, numeric(1))
}

# Mean absolute difference of pairwise associations: Pearson r between numerics,
# Cramer's V between categoricals, the correlation ratio between the two kinds.
association_difference <- function(real, syn) {
  assoc <- function(d, a, b) {
    x <- d[[a]]; y <- d[[b]]; ok <- !is.na(x) & !is.na(y)
    x <- x[ok]; y <- y[ok]
    num_x <- is.numeric(x); num_y <- is.numeric(y)
    if (num_x && num_y) return(suppressWarnings(stats::cor(x, y)))
    if (!num_x && !num_y) {
      tab <- table(x, y)
      chi <- suppressWarnings(stats::chisq.test(tab, correct = FALSE)$statistic)
      return(unname(sqrt(chi / (sum(tab) * (min(dim(tab)) - 1)))))
    }
    if (!num_x) { tmp <- x; x <- y; y <- tmp }
    means <- tapply(x, y, mean)
    counts <- tapply(x, y, length)
    sqrt(sum(counts * (means - mean(x))^2, na.rm = TRUE) / sum((x - mean(x))^2))
  }
  cols <- names(real)
  pairs <- utils::combn(cols, 2, simplify = FALSE)
  diffs <- vapply(pairs, function(p) abs(assoc(real, p[1], p[2]) - assoc(syn, p[1], p[2])), numeric(1))
  mean(diffs, na.rm = TRUE)
}

# Area under the ROC curve of a main-effects logistic model telling real from
# synthetic rows (0.5: indistinguishable). Missing values become indicators.
propensity_auc <- function(real, syn) {
  prep <- function(d) {
    for (v in names(d)) {
      if (is.numeric(d[[v]])) {
        d[[paste0(v, "_missing")]] <- is.na(d[[v]])
        d[[v]][is.na(d[[v]])] <- 0
      } else {
        d[[v]] <- addNA(factor(d[[v]]), ifany = TRUE)
      }
    }
    d
  }
  both <- rbind(prep(real), prep(syn))
  y <- rep(0:1, c(nrow(real), nrow(syn)))
  p <- suppressWarnings(stats::fitted(stats::glm(y ~ ., data = both, family = stats::binomial)))
  r <- rank(p)
  n1 <- sum(y == 1); n0 <- sum(y == 0)
  (sum(r[y == 1]) - n1 * (n1 + 1) / 2) / (n1 * n0)
}

# Mean confidence-interval overlap (Karr et al. 2006) of a model fitted on both.
ci_overlap <- function(fit_fun, real, syn) {
  ci_r <- stats::confint.default(fit_fun(real))
  ci_s <- stats::confint.default(fit_fun(syn))
  terms <- intersect(rownames(ci_r), rownames(ci_s))
  mean(vapply(terms, function(k) {
    lo <- max(ci_r[k, 1], ci_s[k, 1]); hi <- min(ci_r[k, 2], ci_s[k, 2])
    if (hi < lo) 0 else 0.5 * ((hi - lo) / diff(ci_r[k, ]) + (hi - lo) / diff(ci_s[k, ]))
  }, numeric(1)))
}

# The data sets and their published models.
bench_datasets <- function() {
  list(
    SLID = list(
      data = function() { utils::data("SLID", package = "carData", envir = environment()); SLID },
      model = function(d) stats::lm(log(wages) ~ sex + age + I(age^2) + education, data = d)
    ),
    PSID1976 = list(
      data = function() { utils::data("PSID1976", package = "AER", envir = environment()); PSID1976 },
      model = function(d) stats::glm(participation ~ age + I(age^2) + I(fincome / 10000) + education + youngkids,
                                     family = stats::binomial(link = "probit"), data = d)
    ),
    Chile = list(
      data = function() { utils::data("Chile", package = "carData", envir = environment()); Chile },
      model = function(d) {
        d <- d[d$vote %in% c("Y", "N"), ]
        stats::glm(I(vote == "Y") ~ statusquo + age + sex + education, family = stats::binomial, data = d)
      }
    ),
    penguins = list(
      data = function() as.data.frame(palmerpenguins::penguins),
      model = function(d) stats::lm(body_mass_g ~ flipper_length_mm + species + sex, data = d)
    )
  )
}
