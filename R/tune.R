#' Tune GAN settings on held-out data
#'
#' Fits one GAN per candidate setting on part of the data and scores each by how well
#' its synthetic rows can be told apart from the held-out real rows: the AUC of a
#' logistic regression on the encoded columns (0.5 = indistinguishable, lower is
#' better). With `folds`, every candidate is fitted `folds` times (k-fold
#' cross-validation) and the scores are averaged.
#'
#' @section Parallel tuning: each candidate-split pair is one independent fit, run
#'   through [future.apply::future_lapply()], so the fits are spread over whatever
#'   [future::plan()] is set, e.g. `future::plan(future::multisession, workers = 4)`
#'   locally or a cluster backend; the default sequential plan fits them one after
#'   another. The splits and one seed per fit are drawn from R's random number
#'   generator before any fit starts, so the result is the same under every plan. Each
#'   worker uses `threads` threads.
#'
#' @param data A data frame.
#' @param grid A data frame of candidate settings, one row per candidate, with columns
#'   named after [gan()] arguments (`learning_rate`, `dropout`, `epochs`, ...). Layer
#'   widths go in list columns, e.g. `generator = I(list(c(128, 128), c(256, 256)))`.
#'   The default tries two learning rates, two network sizes and two dropout rates.
#' @param ... Further [gan()] arguments shared by all candidates, e.g. `epochs` or
#'   `condition_on`.
#' @param validation Share of rows held out when `folds` is `NULL`.
#' @param folds `NULL` for one validation split, or the number of folds.
#' @param threads,verbose As in [fit()][fit.sygnet_spec].
#' @return An object of class `sygnet_tune`: `results` (the grid with the mean and
#'   standard deviation of the score), `best` (the [gan()] specification of the best
#'   candidate) and `best_index`. Fit the best with `fit(result$best, data)`.
#' @examples
#' \donttest{
#' grid <- data.frame(learning_rate = c(2e-4, 1e-3))
#' tuned <- tune(iris, grid, epochs = 5)
#' tuned
#' }
#' @export
tune <- function(data, grid = NULL, ..., validation = 0.25, folds = NULL,
                 threads = getOption("sygnet.threads", 1L), verbose = NULL) {
  check_data(data)
  threads <- check_threads(threads)
  verbose <- resolve_verbose(verbose)
  grid <- grid %||% default_tune_grid()
  if (!is.data.frame(grid) || nrow(grid) == 0L) {
    sygnet_abort("{.arg grid} must be a data frame with one row per candidate.",
                 class = "sygnet_error_input")
  }
  unknown <- setdiff(names(grid), names(formals(gan)))
  if (length(unknown)) {
    sygnet_abort("{.arg grid} has column{?s} {.field {unknown}}, which {?is/are} not {.fn gan} argument{?s}.",
                 class = "sygnet_error_input")
  }
  shared <- list(...)
  specs <- lapply(seq_len(nrow(grid)), function(i) {
    row <- lapply(grid, function(column) column[[i]])
    do.call(gan, utils::modifyList(shared, row))
  })
  if (any(vapply(specs, function(spec) !is.null(spec$privacy), logical(1)))) {
    sygnet_abort(c("{.fn tune} cannot tune differentially private fits.",
                   "i" = "Scoring candidates on held-out real rows uses the data outside the privacy budget; tune on public or already-private data instead."),
                 class = "sygnet_error_input")
  }
  splits <- make_splits(nrow(data), validation, folds)

  # One piece per candidate and split, candidates varying fastest.
  pieces <- expand.grid(candidate = seq_along(specs), split = seq_along(splits))
  seeds <- vapply(seq_len(nrow(pieces)), function(p) native_seed(), numeric(1))
  if (verbose) {
    say("Tuning: {nrow(pieces)} fit{?s} ({length(specs)} candidate{?s} x {length(splits)} split{?s})")
  }
  scored <- with_job_progress(nrow(pieces), verbose, function(tick) {
    future.apply::future_lapply(seq_len(nrow(pieces)), function(p) {
      held_out <- splits[[pieces$split[[p]]]]
      score <- withr::with_seed(seeds[[p]], .rng_kind = "default", .rng_normal_kind = "default",
                                .rng_sample_kind = "default", {
        model <- fit(specs[[pieces$candidate[[p]]]], data[-held_out, , drop = FALSE],
                     threads = threads, verbose = FALSE)
        check_fit(model, data[held_out, , drop = FALSE])
      })
      tick()
      score
    }, future.seed = FALSE)
  })
  scores <- matrix(unlist(scored), length(specs), length(splits))
  results <- grid
  results$propensity_auc <- rowMeans(scores)
  results$sd <- if (ncol(scores) > 1L) apply(scores, 1L, stats::sd) else NA_real_
  best <- which.min(results$propensity_auc)
  structure(list(results = results, best = specs[[best]], best_index = best,
                 scores = scores),
            class = "sygnet_tune")
}

default_tune_grid <- function() {
  grid <- expand.grid(learning_rate = c(2e-4, 1e-3), size = 1:2, dropout = c(0, 0.2))
  widths <- list(c(128L, 128L), c(256L, 256L))
  data.frame(learning_rate = grid$learning_rate,
             generator = I(widths[grid$size]), critic = I(widths[grid$size]),
             dropout = grid$dropout)
}

# Row indices held out in each split.
make_splits <- function(n, validation, folds, call = rlang::caller_env()) {
  if (is.null(folds)) {
    if (!is.numeric(validation) || length(validation) != 1L || validation <= 0 || validation >= 1) {
      sygnet_abort("{.arg validation} must be a share between 0 and 1.",
                   class = "sygnet_error_input", call = call)
    }
    return(list(sample.int(n, max(2L, round(validation * n)))))
  }
  check_count(folds, call = call)
  if (folds < 2L || folds > n) {
    sygnet_abort("{.arg folds} must be between 2 and the number of rows.",
                 class = "sygnet_error_input", call = call)
  }
  fold_of <- sample(rep_len(seq_len(folds), n))
  split(seq_len(n), fold_of)
}

#' @export
print.sygnet_tune <- function(x, ...) {
  say("{.strong GAN tuning}: {nrow(x$results)} candidate{?s}, {ncol(x$scores)} split{?s} ({.cls sygnet_tune})")
  shown <- x$results
  for (name in names(shown)) {
    if (is.list(shown[[name]])) {
      shown[[name]] <- vapply(shown[[name]], paste, character(1), collapse = "x")
    }
  }
  print(shown, row.names = FALSE, digits = 3)
  say("Best: candidate {x$best_index} (lowest propensity AUC); fit it with {.code fit(x$best, data)}.")
  invisible(x)
}
