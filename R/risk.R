#' How much does a synthetic data set disclose about the real people in it?
#'
#' Measures how close synthetic rows come to real ones, each shown next to a reference
#' that says what "close" means for these data:
#'
#' * **copies**: the share of synthetic rows identical to some real row, next to the
#'   share of real rows that have an identical twin in the real data (and, with a
#'   `holdout`, the share of holdout rows identical to a real row: what a newly sampled
#'   person would give).
#' * **distance to closest record (DCR)**: Gower's distance (numbers scaled by their real
#'   range, categories matched, missing values matched to each other) from each synthetic
#'   row to its nearest real row. Reference: the same distance for holdout rows (people
#'   the generator never saw) or, without a holdout, each real row's distance to its
#'   nearest other real row. Reported: medians, and the share of synthetic rows at most
#'   as far as the 5% quantile of the reference (about the reference's own share, 0.05
#'   or a little more with ties, when the generator does not copy).
#' * **nearest-neighbour distance ratio (NNDR)**: nearest over second-nearest real
#'   distance; values near 0 mean a synthetic row sits on one real person.
#' * **membership inference** (with `holdout`): the area under the ROC curve of an
#'   attacker who guesses that a record was in the training data when a synthetic row lies
#'   close to it (Gower distance to the nearest synthetic row), on training rows versus
#'   holdout rows; 0.5 means no information.
#' * **attribute disclosure** (with `keys` and `target`): an attacker who knows a real
#'   person's `keys` looks them up in the synthetic data; where all synthetic rows with
#'   those keys share one `target` value, the attacker claims it (TCAP, Taub et al.
#'   2018). Reported: the share of real rows whose keys meet such a synthetic group
#'   (`matched`), the share of those claims that are right (`tcap`), and the share of all
#'   real rows disclosed correctly (`disclosed`); reference: the same attack with the real
#'   data as the attacker's table (the most it can learn), and the chance of guessing
#'   right from the target's real distribution (`baseline`). Numeric keys and targets are
#'   cut at the real data's quintiles; missing values count as a value.
#'
#' Nearest neighbours are found exactly by the compiled engine, in parallel.
#'
#' @param synthetic A data frame or a list of them (from [simulate()][simulate.sygnet_fit]);
#'   measures are averaged over the list.
#' @param data The real data frame the generator was fitted to.
#' @param holdout Optional real rows from the same population that were *not* used to fit
#'   the generator.
#' @param keys,target Column names for the attribute-disclosure measure.
#' @param threads Number of CPU threads for the nearest-neighbour search.
#' @return An object of class `sygnet_risk`: a list with data frame `measures` (measure,
#'   synthetic value, reference value, what the reference is) and the distances behind
#'   them, with `print()` and `plot()` methods.
#' @references Taub, J., Elliot, M., Pampaka, M. & Smith, D. (2018). Differential
#'   correct attribution probability for synthetic data: an exploration. *Privacy in
#'   Statistical Databases*, LNCS 11126, 122-137.
#' @seealso [utility()]
#' @examples
#' \donttest{
#' train <- iris[seq(1, 150, 2), ]
#' holdout <- iris[seq(2, 150, 2), ]
#' set.seed(1)
#' fitted <- fit(gan(epochs = 50), train)
#' disclosure_risk(synthesize(fitted), train, holdout = holdout)
#' }
#' @export
disclosure_risk <- function(synthetic, data, holdout = NULL, keys = NULL, target = NULL,
                            threads = getOption("sygnet.threads", 1L)) {
  check_data(data)
  data <- as.data.frame(data)
  sets <- synthetic_sets(synthetic, data)
  if (!is.null(holdout)) holdout <- matching_frame(holdout, data, "holdout")
  check_columns_in(keys, data, "keys")
  check_columns_in(target, data, "target")
  if (xor(is.null(keys), is.null(target)) || length(target) > 1L) {
    sygnet_abort("Give both {.arg keys} and one {.arg target} column, or neither.",
                 class = "sygnet_error_input")
  }
  if (!is.null(target) && target %in% keys) {
    sygnet_abort("{.arg target} must not be one of the {.arg keys}.", class = "sygnet_error_input")
  }
  threads <- check_threads(threads)

  frames <- harmonise(c(list(data), sets, if (!is.null(holdout)) list(holdout)))
  real <- frames[[1]]
  syn <- frames[seq_along(sets) + 1L]
  hold <- if (!is.null(holdout)) frames[[length(frames)]]
  ranges <- gower_ranges(real)
  cols <- function(frame) gower_columns(frame)
  real_cols <- cols(real)

  nearest <- function(reference, query, exclude_self = FALSE) {
    found <- native(rs_nearest(reference, query, ranges, 2L, exclude_self, threads))
    list(nearest = found$distance[, 1], second = found$distance[, 2])
  }
  to_real <- lapply(syn, function(s) nearest(real_cols, cols(s)))
  reference <- if (!is.null(hold)) nearest(real_cols, cols(hold)) else nearest(real_cols, real_cols, TRUE)
  reference_label <- if (!is.null(hold)) "holdout rows" else "real rows (leave-one-out)"

  dcr <- to_real[[1]]$nearest
  cutoff <- stats::quantile(reference$nearest, 0.05, names = FALSE)
  mean_over <- function(f) mean(vapply(to_real, f, numeric(1)))

  real_keys <- row_keys(real)
  measures <- rbind(
    risk_row("copies", mean(vapply(syn, function(s) mean(row_keys(s) %in% real_keys), numeric(1))),
             if (!is.null(hold)) mean(row_keys(hold) %in% real_keys) else
               mean(duplicated(real_keys) | duplicated(real_keys, fromLast = TRUE)),
             if (!is.null(hold)) "holdout rows identical to a real row" else "real rows with an identical twin"),
    risk_row("dcr_median", mean_over(function(r) stats::median(r$nearest)),
             stats::median(reference$nearest), reference_label),
    risk_row("dcr_below_5pct", mean_over(function(r) mean(r$nearest <= cutoff)),
             mean(reference$nearest <= cutoff), reference_label),
    risk_row("nndr_median", mean_over(function(r) stats::median(nndr(r))),
             stats::median(nndr(reference)), reference_label)
  )
  if (!is.null(hold)) {
    members <- real[sample(nrow(real), min(nrow(real), nrow(hold))), , drop = FALSE]
    mia <- vapply(syn, function(s) {
      s_cols <- cols(s)
      d_in <- nearest(s_cols, cols(members))$nearest
      d_out <- nearest(s_cols, cols(hold))$nearest
      auc(-c(d_in, d_out), rep(1:0, c(length(d_in), length(d_out))))
    }, numeric(1))
    measures <- rbind(measures, risk_row("membership_auc", mean(mia), 0.5, "no information"))
  }
  if (!is.null(keys)) {
    attack <- function(table) attribute_disclosure(real, table, keys, target)
    on_syn <- Reduce(`+`, lapply(syn, attack)) / length(syn)
    on_real <- attack(real)
    baseline <- sum(prop.table(table(binned(real, real, target), useNA = "ifany"))^2)
    measures <- rbind(
      measures,
      risk_row("attribute_matched", on_syn[["matched"]], on_real[["matched"]], "attack with the real data"),
      risk_row("attribute_tcap", on_syn[["tcap"]], on_real[["tcap"]], "attack with the real data"),
      risk_row("attribute_disclosed", on_syn[["disclosed"]], on_real[["disclosed"]], "attack with the real data"),
      risk_row("attribute_baseline", baseline, baseline, "guessing from the target's distribution")
    )
  }
  rownames(measures) <- NULL
  structure(
    list(measures = measures, dcr = dcr, reference_dcr = reference$nearest,
         reference = reference_label, nndr = nndr(to_real[[1]]),
         n = nrow(data), k = nrow(sets[[1]]), m = length(sets), keys = keys, target = target),
    class = "sygnet_risk"
  )
}

risk_row <- function(measure, synthetic, reference, reference_is) {
  data.frame(measure = measure, synthetic = synthetic, reference = reference,
             reference_is = reference_is)
}

nndr <- function(found) {
  ratio <- found$nearest / found$second
  ratio[found$nearest == 0 & found$second == 0] <- 1
  ratio
}

# One string per row that is equal exactly when the rows are.
row_keys <- function(frame) {
  parts <- lapply(frame, function(x) {
    x <- if (is.double(x)) sprintf("%.17g", x) else as.character(x)
    x[is.na(x)] <- "\u2205"
    x
  })
  do.call(paste, c(unname(parts), sep = "\u001f"))
}

# Column `v` of `frame` as categories: numbers cut at the real data's quintiles, missing
# values as a category of their own.
binned <- function(frame, real, v) {
  x <- frame[[v]]
  if (!is.factor(x)) {
    breaks <- unique(stats::quantile(real[[v]], seq(0.2, 0.8, by = 0.2), na.rm = TRUE, names = FALSE))
    x <- findInterval(x, breaks)
  }
  x <- as.character(x)
  x[is.na(x)] <- "\u2205"
  x
}

attribute_disclosure <- function(real, table, keys, target) {
  key_of <- function(frame) do.call(paste, c(lapply(keys, function(v) binned(frame, real, v)), sep = "\u001f"))
  table_keys <- key_of(table)
  table_target <- binned(table, real, target)
  values_per_key <- tapply(table_target, table_keys, function(t) length(unique(t)))
  single <- names(values_per_key)[values_per_key == 1L]
  claimed <- table_target[match(single, table_keys)]
  real_keys <- key_of(real)
  hit <- match(real_keys, single)
  matched <- !is.na(hit)
  correct <- matched & claimed[hit] == binned(real, real, target)
  correct[is.na(correct)] <- FALSE
  c(matched = mean(matched),
    tcap = if (any(matched)) sum(correct) / sum(matched) else NA_real_,
    disclosed = mean(correct))
}

#' @export
print.sygnet_risk <- function(x, digits = 3, ...) {
  say("{.strong Disclosure risk of synthetic data} ({x$m} set{?s} of {x$k} row{?s}; real data {x$n} row{?s})")
  table <- x$measures
  table$synthetic <- round(table$synthetic, digits)
  table$reference <- round(table$reference, digits)
  print(table, row.names = FALSE)
  invisible(x)
}

#' Plot distances to the closest real record
#'
#' The distribution of Gower distances from synthetic rows to their nearest real row,
#' next to the reference distribution (holdout rows, or real rows' nearest other real
#' row). Synthetic rows piling up left of the reference mean the generator copies.
#'
#' @param x A `sygnet_risk`.
#' @param ... Unused.
#' @return The ggplot, invisibly.
#' @export
plot.sygnet_risk <- function(x, ...) {
  if (!requireNamespace("ggplot2", quietly = TRUE)) {
    sygnet_abort("Plotting needs the {.pkg ggplot2} package.", class = "sygnet_error_input")
  }
  d <- data.frame(
    distance = c(x$dcr, x$reference_dcr),
    rows = rep(c("synthetic rows", x$reference), c(length(x$dcr), length(x$reference_dcr)))
  )
  p <- ggplot2::ggplot(d, ggplot2::aes(.data$distance, colour = .data$rows)) +
    ggplot2::stat_ecdf() +
    ggplot2::labs(x = "Gower distance to the closest real row", y = "cumulative share",
                  colour = NULL) +
    ggplot2::theme_minimal()
  print(p)
  invisible(p)
}
