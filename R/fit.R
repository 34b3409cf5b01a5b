#' Fit a GAN to a data frame
#'
#' Trains the generator and critic described by a [gan()] specification on `data`.
#' `fit(data, ...)` is short for `fit(gan(...), data)`, and `fit(model, data, epochs =)`
#' continues training a fitted model.
#'
#' Training runs in the Rust engine a few steps at a time. Progress is shown with a
#' progress bar when `verbose` is `TRUE` (by default in interactive sessions). Pressing
#' Ctrl-C (Esc in RStudio) stops training and returns the model trained so far, with a
#' warning. If the losses become infinite or undefined, training stops with an error
#' of class `sygnet_error_diverged` whose `fit` field holds the model as it was before
#' the failing steps.
#'
#' After training, a rejection sampler is fitted (see `rejection` in [gan_control()]),
#' and a few rows are drawn for two checks: the propensity AUC in `print()` (not for
#' private fits) and a collapse check that warns, with class `sygnet_warning_collapse`
#' and the columns in the warning's `columns` field, when more than half of a numeric
#' column's draws sit at one end of its range (more than a quarter above the real
#' share there) or a categorical column uses at most half of its levels. A private fit
#' is checked against its declared levels only, never against the data.
#'
#' @section Reproducibility: all randomness (initial weights, noise, minibatches,
#'   dropout) comes from the engine's own generator, seeded from R's random number
#'   generator. After `set.seed()`, a fit is reproduced exactly on the same machine with
#'   the same package version, whatever the number of `threads`. Differentially private
#'   fits are the exception: their randomness comes from the operating system and is
#'   never stored, so that nothing replays their noise (see [dp()]).
#'
#' @section Data: columns may be numeric, integer, logical, factor, ordered factor,
#'   character, `Date` or `POSIXct`, with missing values anywhere; a column that is
#'   entirely missing is reproduced as such. Other column types (lists, matrices,
#'   complex, raw, other classes), `NaN` and infinite values are refused with an error
#'   naming the column. Row names are not kept. Numeric columns come back within their
#'   observed range, with the number of decimal places they had (integers as integers).
#'
#' @section Survey files: data read from Stata, SPSS or SAS files with \pkg{haven} keep
#'   their form. A labelled column (`haven_labelled`, `haven_labelled_spss`) whose
#'   values all carry a value label is learned as a factor; one with unlabelled values
#'   as a number, whose SPSS user-defined missing values (`na_values`, `na_range`) and
#'   tagged missing values (Stata's `.a`, `.b`, ...) are learned as missing-value codes
#'   (see `missing_codes` in [gan()]). Synthetic columns come back with the same type,
#'   value labels and missing-value definitions, and every column keeps descriptive
#'   attributes such as its variable label (`label`) and display format
#'   (`format.stata`), so `haven::write_dta()` writes a file the original do-file
#'   reads. Private fits refuse labelled columns: convert them first
#'   with `haven::as_factor()` or `haven::zap_labels()`.
#'
#' @param object A [gan()] specification, a data frame (shorthand, see above) or a
#'   fitted `sygnet_fit` to continue training.
#' @param data A data frame or tibble.
#' @param ... For `fit.data.frame()`, arguments to [gan()]. Otherwise unused.
#' @param epochs For continued training: how many more epochs.
#' @param threads Number of CPU threads for this fit (`getOption("sygnet.threads")`, by
#'   default 1). On the CPU each training step runs as up to four shards of the batch,
#'   with at least ten packs of rows each (two shards at the default batch size), so
#'   training uses at most that many threads; generation and the closing check use
#'   them all. While a step runs, a thread per shard beyond the first waits for work
#'   busily instead of sleeping, so give a fit no more threads than free cores. The fit
#'   is the same on any number of threads.
#' @param device `"auto"` (a CUDA GPU when the package was built with CUDA support and
#'   one is present, otherwise the CPU), `"cpu"` or `"cuda"`.
#' @param weights `NULL`, or the name of a column of survey weights: training draws
#'   rows with probability proportional to their weight, so the model learns the
#'   weighted (population) distribution and synthetic rows are unweighted draws from
#'   it. The weight column itself stays an ordinary column of the data. Not with
#'   [dp()] or conditioning columns; later `fit(model, data, epochs)` calls use the
#'   same column.
#' @param verbose Show progress? Defaults to `getOption("sygnet.verbose")`, else `TRUE`
#'   only in interactive sessions.
#' @return An object of class `sygnet_fit`: a list holding the specification, the model
#'   (weights and encoding as raw safetensors bytes), a zero-row template of the data,
#'   the number of training rows `n`, the per-epoch training `history`, the seeds used
#'   (none for a private fit) and package versions. It contains no pointers, so [saveRDS()] and [readRDS()] keep
#'   it intact.
#' @seealso [synthesize()], [simulate.sygnet_fit()]
#' @examples
#' \donttest{
#' set.seed(1)
#' model <- fit(gan(epochs = 5), iris)
#' model
#' head(synthesize(model, 10))
#' }
#' @name fit.sygnet_spec
#' @export
fit.sygnet_spec <- function(object, data, ...,
                            weights = NULL,
                            threads = getOption("sygnet.threads", 1L),
                            device = c("auto", "cpu", "cuda"),
                            verbose = NULL) {
  rlang::check_dots_empty()
  check_data(data)
  device <- rlang::arg_match(device)
  threads <- check_threads(threads)
  verbose <- resolve_verbose(verbose)
  columns <- names(data)
  ids <- id_columns(data, object$ids, private = !is.null(object$privacy))
  id_attributes <- id_attributes(data, ids)
  data <- without_ids(data, ids)
  check_data(data)
  check_codes_in(object$missing_codes, data)
  if (!is.null(object$privacy)) check_unlabelled(data)
  survey <- survey_columns(data, object$missing_codes)
  data <- survey$data
  object$missing_codes <- survey$codes
  if (is.null(object$privacy)) check_mostly_unique(data, object$ids)
  row_weights <- check_weights(weights, data, object)
  missing_cols <- setdiff(object$condition_on, names(data))
  if (length(missing_cols)) {
    sygnet_abort("{.arg condition_on} names {.field {missing_cols}}, not in {.arg data}.",
                 class = "sygnet_error_input")
  }
  withr::local_envvar(RAYON_NUM_THREADS = threads)
  if (!is.null(object$privacy)) {
    settings <- private_settings(object)
    object <- settings$spec
    if (verbose && length(settings$said)) {
      cli::cli_inform(c("i" = "Private fit: {settings$said}.",
                        " " = "Chosen for the privacy budget; set them in {.fn gan} or {.fn gan_control} to override."),
                      .envir = environment())
    }
  }
  epochs <- object$epochs
  privacy <- NULL
  seed <- NULL
  if (is.null(object$privacy)) {
    seed <- native_seed()
  } else {
    rows <- public_rows(object$privacy, data)
    epochs <- resolve_epochs(epochs, ceiling(rows / min(object$batch_size, rows)))
    privacy <- resolve_privacy(object$privacy, data, epochs)
  }
  session <- native(rs_session_new(as_columns(data), nrow(data), engine_config(object, privacy),
                                   NULL, seed, threads, device))
  if (!is.null(object$privacy$budget)) {
    charge_budget(object$privacy$budget, native(rs_session_info(session))$privacy)
    object$privacy$budget <- NULL
  }
  fitted <- run_training(session, object, data, epochs, previous = NULL, seed = seed,
                         threads = threads, verbose = verbose, ids = ids, columns = columns,
                         weights = weights, row_weights = row_weights)
  fitted$survey <- list(restore = survey$restore,
                        attributes = c(survey$attributes, id_attributes))
  fitted
}

#' @rdname fit.sygnet_spec
#' @export
fit.data.frame <- function(object, ...,
                           weights = NULL,
                           threads = getOption("sygnet.threads", 1L),
                           device = c("auto", "cpu", "cuda"),
                           verbose = NULL) {
  fit.sygnet_spec(gan(...), object, weights = weights, threads = threads, device = device,
                  verbose = verbose)
}

#' @rdname fit.sygnet_spec
#' @export
fit.sygnet_fit <- function(object, data, epochs, ...,
                           threads = object$threads,
                           device = c("auto", "cpu", "cuda"),
                           verbose = NULL) {
  rlang::check_dots_empty()
  if (!is.null(object$privacy)) {
    sygnet_abort(c("A differentially private fit cannot be trained further.",
                   "i" = "Its privacy budget was spent on the epochs it was fitted with; fit a new model instead."),
                 class = "sygnet_error_input")
  }
  check_data(data)
  data <- without_ids(data, object$ids)
  data <- survey_columns(data, object$spec$missing_codes)$data
  check_count(epochs)
  device <- rlang::arg_match(device)
  threads <- check_threads(threads)
  verbose <- resolve_verbose(verbose)
  seed <- native_seed()
  row_weights <- check_weights(object$weights, data, object$spec)
  withr::local_envvar(RAYON_NUM_THREADS = threads)
  session <- native(rs_session_new(as_columns(data), nrow(data), engine_config(object$spec),
                                   object$model, seed, threads, device))
  fitted <- run_training(session, object$spec, data, epochs, previous = object, seed = seed,
                         threads = threads, verbose = verbose, weights = object$weights,
                         row_weights = row_weights)
  fitted$survey <- object$survey
  fitted
}

