#' Draw a synthetic data frame from a fitted GAN
#'
#' Returns `n` new rows with the training data's columns, classes, factor levels and
#' missing-value patterns. Rows are generated independently of each other, in chunks of
#' fixed size, so any `n` can be drawn. The draw is reproducible after `set.seed()`.
#'
#' @param object A `sygnet_fit` from [fit()][fit.sygnet_spec].
#' @param n Number of rows. Defaults to the number of training rows, or to the rows of
#'   `conditions` when given.
#' @param conditions A data frame of values to fix, one row per synthetic row, with
#'   columns the model was fitted with in `gan(condition_on =)`. Factor columns may be
#'   given as character vectors of level names; a column may be `NA` to leave it free.
#'   For example `data.frame(sex = rep("Female", 50))` asks for 50 women.
#' @param ... Unused.
#' @param threads Number of CPU threads.
#' @param device `"cpu"`, `"cuda"` or `"auto"`.
#' @param rejection Use the model's rejection sampler (see `rejection` in
#'   [gan_control()]), if it has one. `FALSE` draws straight from the generator: faster,
#'   further from the real data.
#' @return A data frame (a tibble if the training data was one).
#' @seealso [simulate.sygnet_fit()] for several synthetic data sets.
#' @export
synthesize <- function(object, ...) {
  UseMethod("synthesize")
}

#' @rdname synthesize
#' @export
synthesize.sygnet_fit <- function(object, n = NULL, conditions = NULL, ...,
                                  threads = getOption("sygnet.threads", 1L),
                                  device = c("cpu", "auto", "cuda"), rejection = TRUE) {
  rlang::check_dots_empty()
  check_fitted(object)
  device <- rlang::arg_match(device)
  threads <- check_threads(threads)
  check_flag(rejection)
  request <- check_request(object, n, conditions)
  draw(object, request$n, request$conditions, native_seed(), threads, device, rejection)
}

# Draws in pieces, so that Ctrl-C is noticed between them; the pieces are the rows one
# call would draw (conditions, which the user already holds in memory, go in one call).
draw <- function(object, n, conditions, seed, threads, device, rejection = TRUE,
                 call = rlang::caller_env()) {
  withr::local_envvar(RAYON_NUM_THREADS = threads)
  check_memory(object$template, n, call = call)
  cond <- if (is.null(conditions)) NULL else as_columns(conditions)
  piece <- if (is.null(cond)) native(rs_synthesize_piece()) else max(n, 1)
  parts <- lapply(seq(0, max(n - 1, 0), by = piece), function(start) {
    native(rs_synthesize(object$model, n, start, min(n, start + piece), cond, seed, threads,
                         device, rejection), call = call)
  })
  columns <- if (length(parts) == 1L) parts[[1L]] else join_pieces(parts)
  frame <- with_fresh_ids(as_frame(columns, object$template, n), object$ids,
                          object$columns %||% names(object$template))
  restore_survey_columns(frame, object$survey)
}

# Pieces of one draw joined column by column (they share every attribute).
join_pieces <- function(parts) {
  columns <- lapply(seq_along(parts[[1L]]), function(j) {
    x <- unlist(lapply(parts, function(p) unclass(p[[j]])), use.names = FALSE)
    attributes(x) <- attributes(parts[[1L]][[j]])
    x
  })
  names(columns) <- names(parts[[1L]])
  columns
}

#' Draw several synthetic data sets
#'
#' Multiple synthesis: `nsim` independent synthetic data frames from one fitted model,
#' as needed for the combining rules of synthetic-data inference or for Monte Carlo
#' studies. Follows [stats::simulate()]: with `seed`, R's random number state is set
#' for the call and restored afterwards, and the result records it in attribute
#' `"seed"`.
#'
#' @section Parallel draws: the data sets are drawn through
#'   [future.apply::future_lapply()], so they are spread over whatever
#'   [future::plan()] is set, e.g. `future::plan(future::multisession, workers = 4)`
#'   locally or a cluster backend; the default sequential plan draws them one after
#'   another. One engine seed per data set is taken from R's random number generator
#'   before any are drawn, so the result is the same under every plan. Each worker
#'   uses `threads` threads.
#'
#' @param object A `sygnet_fit`.
#' @param nsim Number of data sets.
#' @param seed `NULL` or an integer passed to [set.seed()].
#' @param n Rows per data set (default: the training rows).
#' @param conditions As in [synthesize()].
#' @param ... Unused.
#' @param threads Number of CPU threads.
#' @return A list of `nsim` data frames, of class `sygnet_synthetic`, with attributes
#'   `"seed"`, `"training_rows"` (the rows the model was fitted to) and, for a model
#'   fitted with survey weights, `"effective_rows"` (their Kish effective size), which
#'   [pool_synthetic()] uses.
#' @export
simulate.sygnet_fit <- function(object, nsim = 1, seed = NULL, n = NULL, conditions = NULL,
                                ..., threads = getOption("sygnet.threads", 1L)) {
  rlang::check_dots_empty()
  check_fitted(object)
  check_count(nsim)
  if (!exists(".Random.seed", envir = globalenv(), inherits = FALSE)) stats::runif(1)
  if (is.null(seed)) {
    rng_state <- get(".Random.seed", envir = globalenv())
  } else {
    saved <- get(".Random.seed", envir = globalenv())
    on.exit(assign(".Random.seed", saved, envir = globalenv()))
    set.seed(seed)
    rng_state <- structure(seed, kind = as.list(RNGkind()))
  }
  threads <- check_threads(threads)
  request <- check_request(object, n, conditions)
  seeds <- vapply(seq_len(nsim), function(i) native_seed(), numeric(1))
  out <- future.apply::future_lapply(seeds, function(s) {
    draw(object, request$n, request$conditions, s, threads, "cpu")
  }, future.seed = FALSE)
  structure(out, seed = rng_state, training_rows = object$n, effective_rows = object$effective_rows,
            class = c("sygnet_synthetic", "list"))
}

#' @export
print.sygnet_synthetic <- function(x, ...) {
  n <- vapply(x, nrow, integer(1))
  say("{length(x)} synthetic data set{?s} of {paste(unique(n), collapse = '/')} {cli::qty(max(n))}row{?s} and {ncol(x[[1]])} column{?s} ({.cls sygnet_synthetic})")
  invisible(x)
}
