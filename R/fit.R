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
#' @param object A [gan()] specification, a data frame (shorthand, see above) or a
#'   fitted `sygnet_fit` to continue training.
#' @param data A data frame or tibble.
#' @param ... For `fit.data.frame()`, arguments to [gan()]. Otherwise unused.
#' @param epochs For continued training: how many more epochs.
#' @param threads Number of CPU threads for this fit (`getOption("sygnet.threads")`, by
#'   default 1). On the CPU each training step runs as two shards of the batch, so
#'   training uses at most two threads; generation and the closing check use them all.
#' @param device `"auto"` (a CUDA GPU when the package was built with CUDA support and
#'   one is present, otherwise the CPU), `"cpu"` or `"cuda"`.
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
                            threads = getOption("sygnet.threads", 1L),
                            device = c("auto", "cpu", "cuda"),
                            verbose = NULL) {
  rlang::check_dots_empty()
  check_data(data)
  device <- rlang::arg_match(device)
  threads <- check_threads(threads)
  verbose <- resolve_verbose(verbose)
  missing_cols <- setdiff(object$condition_on, names(data))
  if (length(missing_cols)) {
    sygnet_abort("{.arg condition_on} names {.field {missing_cols}}, not in {.arg data}.",
                 class = "sygnet_error_input")
  }
  withr::local_envvar(RAYON_NUM_THREADS = threads)
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
  run_training(session, object, data, epochs, previous = NULL, seed = seed,
               threads = threads, verbose = verbose)
}

#' @rdname fit.sygnet_spec
#' @export
fit.data.frame <- function(object, ...,
                           threads = getOption("sygnet.threads", 1L),
                           device = c("auto", "cpu", "cuda"),
                           verbose = NULL) {
  fit.sygnet_spec(gan(...), object, threads = threads, device = device, verbose = verbose)
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
  check_count(epochs)
  device <- rlang::arg_match(device)
  threads <- check_threads(threads)
  verbose <- resolve_verbose(verbose)
  seed <- native_seed()
  withr::local_envvar(RAYON_NUM_THREADS = threads)
  session <- native(rs_session_new(as_columns(data), nrow(data), engine_config(object$spec),
                                   object$model, seed, threads, device))
  run_training(session, object$spec, data, epochs, previous = object, seed = seed,
               threads = threads, verbose = verbose)
}

# A quick quality check after training: the AUC of a logistic regression on the
# encoded columns telling real rows from synthetic ones (0.5 = indistinguishable).
check_fit <- function(model, data) {
  native(rs_check_fit(model$model, as_columns(data), nrow(data), native_seed(), model$threads))
}

# Seeds for the engine come from R's generator, so set.seed() governs everything.
native_seed <- function() {
  as.double(sample.int(.Machine$integer.max, 1L))
}

check_threads <- function(threads, call = rlang::caller_env()) {
  if (!is.numeric(threads) || length(threads) != 1L || is.na(threads) || threads < 1 ||
      threads != round(threads)) {
    sygnet_abort("{.arg threads} must be a whole number of at least 1.",
                 class = "sygnet_error_input", call = call)
  }
  as.integer(threads)
}

resolve_verbose <- function(verbose) {
  verbose <- verbose %||% getOption("sygnet.verbose", rlang::is_interactive())
  check_flag(verbose, arg = "verbose")
  verbose
}

`%||%` <- function(x, y) if (is.null(x)) y else x

# Steps the engine until `epochs` are done, a few steps per call so that the progress
# bar moves and Ctrl-C is noticed within a fraction of a second.
run_training <- function(session, spec, data, epochs, previous, seed, threads, verbose,
                         call = rlang::caller_env()) {
  info <- native(rs_session_info(session), call = call)
  per_epoch <- as.integer(info$steps_per_epoch)
  epochs <- resolve_epochs(epochs, per_epoch)
  total <- epochs * per_epoch
  losses <- matrix(NA_real_, total, 3L)
  done <- 0L
  chunk <- 1L
  if (verbose) {
    epoch <- 0L
    critic_loss <- generator_loss <- NA_real_
    cli::cli_progress_bar(
      total = total,
      format = paste("Training {cli::pb_bar} epoch {epoch}/{epochs}",
                     "| critic {format(critic_loss, digits = 3)}",
                     "| generator {format(generator_loss, digits = 3)} | ETA {cli::pb_eta}"),
      clear = FALSE
    )
  }
  outcome <- tryCatch(
    {
      while (done < total) {
        steps <- min(chunk, total - done)
        started <- proc.time()[["elapsed"]]
        losses[done + seq_len(steps), ] <- native(rs_session_train(session, steps), call = call)
        done <- done + steps
        elapsed <- proc.time()[["elapsed"]] - started
        chunk <- as.integer(max(1, min(per_epoch, steps * 0.2 / max(elapsed, 1e-3))))
        if (verbose) {
          epoch <- done %/% per_epoch
          critic_loss <- losses[done, 1L]
          generator_loss <- losses[done, 2L]
          cli::cli_progress_update(set = done)
        }
      }
      "complete"
    },
    interrupt = function(e) "interrupted",
    sygnet_error_diverged = function(e) e
  )
  if (verbose) cli::cli_progress_done()
  result <- new_sygnet_fit(session, spec, data, losses[seq_len(done), , drop = FALSE],
                           per_epoch, previous, seed, threads, info$device)
  if (done > 0L && !inherits(outcome, "sygnet_error_diverged") && is.null(spec$privacy)) {
    result$check <- list(propensity_auc = check_fit(result, data))
  }
  if (inherits(outcome, "sygnet_error_diverged")) {
    sygnet_abort(c(conditionMessage(outcome),
                   "i" = "The model as it was before the failing steps is in the error's {.field fit} field."),
                 class = "sygnet_error_diverged", fit = result, call = call)
  }
  if (identical(outcome, "interrupted")) {
    cli::cli_warn(c("Training was interrupted after {done} of {total} step{?s}.",
                    "i" = "The model trained so far is returned."),
                  class = "sygnet_warning_interrupted")
    result$interrupted <- TRUE
  }
  result
}

new_sygnet_fit <- function(session, spec, data, losses, per_epoch, previous, seed,
                           threads, device) {
  model <- native(rs_session_model(session))
  private <- !is.null(spec$privacy)
  offset <- if (is.null(previous)) 0L else nrow(previous$history)
  epoch <- if (nrow(losses)) (seq_len(nrow(losses)) - 1L) %/% per_epoch + 1L else integer()
  history <- data.frame(
    epoch = offset + sort(unique(epoch)),
    critic_loss = as.numeric(tapply(losses[, 1L], epoch, mean)),
    generator_loss = as.numeric(tapply(losses[, 2L], epoch, mean)),
    score_gap = as.numeric(tapply(losses[, 3L], epoch, mean))
  )
  if (!is.null(previous)) history <- rbind(previous$history, history)
  spec$epochs <- nrow(history)
  structure(
    list(
      spec = spec,
      model = model,
      template = if (private) private_template(data, spec$privacy) else data[0L, , drop = FALSE],
      n = if (private) public_rows(spec$privacy, data) else nrow(data),
      history = history,
      seeds = c(previous$seeds, seed),
      threads = threads,
      device = device,
      interrupted = FALSE,
      check = NULL,
      privacy = rs_model_info(model)$privacy,
      versions = list(sygnet = as.character(utils::packageVersion("sygnet")), format = 1L)
    ),
    class = "sygnet_fit"
  )
}
