#' Draw a synthetic data frame from a fitted GAN
#'
#' Returns `n` new rows with the training data's columns, classes, factor levels and
#' missing-value patterns. Rows are generated in chunks of fixed size, so any `n` can be
#' drawn; with `balance = FALSE`, independently of each other. The draw is reproducible
#' after `set.seed()`.
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
#'   [gan_control()]; a private fit's tilts towards released feature means, see
#'   [dp()]), if it has one. `FALSE` draws straight from the generator: faster, further
#'   from the real data.
#' @param balance Balance the draw (with the rejection sampler, when no row is
#'   conditioned): each chunk of 512 rows is chosen from half as many more drawn rows so
#'   that its means, variances and covariances of the sampler's features come close to
#'   the training rows' ones. Regressions on the rows then land near those on the
#'   training rows instead of moving by a sample's worth of sampling error. `FALSE` draws
#'   every row independently of the others, as a Monte Carlo study needs.
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
                                  device = c("cpu", "auto", "cuda"), rejection = TRUE,
                                  balance = TRUE) {
  rlang::check_dots_empty()
  check_fitted(object)
  device <- rlang::arg_match(device)
  threads <- check_threads(threads)
  check_flag(rejection)
  check_flag(balance)
  request <- check_request(object, n, conditions)
  draw(object, request$n, request$conditions, native_seed(), threads, device, rejection,
       balance)
}

# Draws in pieces, so that Ctrl-C is noticed between them; the pieces are the rows one
# call would draw (conditions, which the user already holds in memory, go in one call).
draw <- function(object, n, conditions, seed, threads, device, rejection = TRUE,
                 balance = TRUE, call = rlang::caller_env()) {
  check_memory(object$template, n, call = call)
  cond <- if (is.null(conditions)) NULL else as_columns(conditions)
  piece <- if (is.null(cond)) 256 * native(rs_chunk_rows()) else max(n, 1)
  parts <- lapply(seq(0, max(n - 1, 0), by = piece), function(start) {
    draw_columns(object, n, start, min(n, start + piece), cond, seed, threads, device,
                 rejection, balance, call)
  })
  columns <- if (length(parts) == 1L) parts[[1L]] else join_pieces(parts)
  finish_rows(columns, object, rows = n, first = 1, total = n)
}

# Rows `start + 1` to `end` of the `n` rows the engine draws for `seed`, as columns.
draw_columns <- function(object, n, start, end, cond, seed, threads, device, rejection,
                         balance, call) {
  withr::local_envvar(RAYON_NUM_THREADS = threads)
  model <- if (identical(device, "cpu")) loaded_model(object$model, call) else object$model
  native(rs_synthesize(model, n, start, end, cond, seed, threads, device, rejection, balance),
         call = call)
}

# The model last drawn from on the CPU, parsed, with its bytes: many small draws from
# one model (simulate(), loops of synthesize()) parse it once. Forked workers inherit
# it; other workers start empty.
model_cache <- new.env(parent = emptyenv())

loaded_model <- function(bytes, call) {
  if (!identical(model_cache$bytes, bytes)) {
    model_cache$model <- native(rs_model_load(bytes), call = call)
    model_cache$bytes <- bytes
  }
  model_cache$model
}

# `rows` engine rows as the user's data frame: template classes, fresh IDs (numbered
# from row `first` of `total`), survey attributes.
finish_rows <- function(columns, object, rows, first, total) {
  frame <- with_fresh_ids(as_frame(columns, object$template, rows), object$ids,
                          object$columns %||% names(object$template), first = first,
                          total = total)
  restore_survey_columns(frame, object$survey)
}

#' Draw synthetic rows in chunks, without holding them all
#'
#' For draws larger than memory (a synthetic population, a file of ten million rows):
#' rows are made one chunk at a time and handed to `write`, then dropped, so memory
#' holds one chunk however large `n` is. Bound together, the chunks are the rows
#' [synthesize()] returns after the same [set.seed()]. Identifier columns are numbered
#' across chunks, so their values stay unique.
#'
#' @inheritParams synthesize
#' @param n Number of rows in all.
#' @param write A function called with each chunk, a data frame of the model's columns,
#'   in order; for example one that appends the rows to a file.
#' @param chunk_rows Rows per chunk, rounded up to a multiple of the engine's chunk of
#'   512 rows.
#' @return `n`, invisibly.
#' @seealso [synthesize()]
#' @examples
#' \donttest{
#' set.seed(1)
#' model <- fit(gan(epochs = 5), iris)
#' file <- tempfile(fileext = ".csv")
#' synthesize_chunks(model, 30000, function(rows) {
#'   utils::write.table(rows, file, sep = ",", row.names = FALSE,
#'                      append = file.exists(file), col.names = !file.exists(file))
#' }, chunk_rows = 10000)
#' nrow(utils::read.csv(file))
#' }
#' @export
synthesize_chunks <- function(object, n, write, chunk_rows = 100000, ...,
                              threads = getOption("sygnet.threads", 1L),
                              device = c("cpu", "auto", "cuda"), rejection = TRUE,
                              balance = TRUE) {
  rlang::check_dots_empty()
  check_fitted(object)
  check_count(n)
  check_count(chunk_rows)
  if (!is.function(write)) {
    sygnet_abort("{.arg write} must be a function of one data frame.", class = "sygnet_error_input")
  }
  device <- rlang::arg_match(device)
  threads <- check_threads(threads)
  check_flag(rejection)
  check_flag(balance)
  engine_chunk <- native(rs_chunk_rows())
  chunk_rows <- ceiling(chunk_rows / engine_chunk) * engine_chunk
  check_memory(object$template, min(n, chunk_rows))
  seed <- native_seed()
  for (start in seq(0, n - 1, by = chunk_rows)) {
    end <- min(n, start + chunk_rows)
    columns <- draw_columns(object, n, start, end, NULL, seed, threads, device, rejection,
                            balance, rlang::current_env())
    rows <- as.integer(end - start)
    write(finish_rows(columns, object, rows = rows, first = start + 1, total = n))
  }
  invisible(n)
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
#' @param balance As in [synthesize()]; `FALSE` by default, so that the data sets vary
#'   as independent samples from the model do, which Monte Carlo studies and the
#'   combining rules assume.
#' @param verbose Show a progress bar with the time left? Defaults to
#'   `getOption("sygnet.verbose")`, else `TRUE` only in interactive sessions.
#' @return A list of `nsim` data frames, of class `sygnet_synthetic`, with attributes
#'   `"seed"`, `"training_rows"` (the rows the model was fitted to) and, for a model
#'   fitted with survey weights, `"effective_rows"` (their Kish effective size), which
#'   [pool_synthetic()] uses.
#' @export
simulate.sygnet_fit <- function(object, nsim = 1, seed = NULL, n = NULL, conditions = NULL,
                                ..., threads = getOption("sygnet.threads", 1L),
                                balance = FALSE, verbose = NULL) {
  rlang::check_dots_empty()
  check_fitted(object)
  check_count(nsim)
  check_flag(balance)
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
  verbose <- resolve_verbose(verbose)
  seeds <- vapply(seq_len(nsim), function(i) native_seed(), numeric(1))
  out <- with_job_progress(nsim, verbose, function(tick) {
    future.apply::future_lapply(seeds, function(s) {
      rows <- draw(object, request$n, request$conditions, s, threads, "cpu",
                   balance = balance)
      tick()
      rows
    }, future.seed = FALSE)
  })
  structure(out, seed = rng_state, training_rows = object$n, effective_rows = object$effective_rows,
            class = c("sygnet_synthetic", "list"))
}

#' @export
print.sygnet_synthetic <- function(x, ...) {
  n <- vapply(x, nrow, integer(1))
  say("{length(x)} synthetic data set{?s} of {paste(unique(n), collapse = '/')} {cli::qty(max(n))}row{?s} and {ncol(x[[1]])} column{?s} ({.cls sygnet_synthetic})")
  invisible(x)
}
