# The training session: the progress loop that steps the engine, seeds and verbosity,
# and the quick quality check after a fit.

# Steps the engine until `epochs` are done, a few steps per call so that the progress
# bar moves and Ctrl-C is noticed within a fraction of a second.
# `weights`: the weight column's name, and `row_weights` its values, or NULL: training
# draws rows in proportion to them.
run_training <- function(session, spec, data, epochs, previous, seed, threads, verbose,
                         ids = previous$ids, columns = previous$columns,
                         weights = NULL, row_weights = NULL, call = rlang::caller_env()) {
  if (!is.null(row_weights)) native(rs_session_weight_rows(session, row_weights), call = call)
  info <- native(rs_session_info(session), call = call)
  per_epoch <- as.integer(info$steps_per_epoch)
  epochs <- resolve_epochs(epochs, per_epoch, max_steps = 10000L)
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
  if (!is.null(spec$privacy)) native(rs_session_calibrate(session), call = call)
  if (identical(outcome, "complete") && done > 0L &&
      uses_rejection(spec)) {
    if (verbose) cli::cli_progress_step("Fitting the rejection sampler")
    native(rs_session_fit_rejection(session), call = call)
    if (verbose) cli::cli_progress_done()
  }
  result <- new_sygnet_fit(session, spec, data, losses[seq_len(done), , drop = FALSE],
                           per_epoch, previous, seed, threads, info$device)
  result$ids <- ids
  result$columns <- columns
  result$weights <- weights
  if (!is.null(row_weights)) result$effective_rows <- kish_size(row_weights)
  if (done > 0L && !inherits(outcome, "sygnet_error_diverged")) {
    # The propensity check compares with the rows as sampled, which a weighted fit
    # does not reproduce.
    if (is.null(spec$privacy) && is.null(row_weights)) {
      result$check <- list(propensity_auc = check_fit(result, data))
    }
    check_collapse(result, data, weights = row_weights, call = call)
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

# A quick quality check after training: the AUC of a logistic regression on the
# encoded columns telling real rows from synthetic ones (0.5 = indistinguishable).
check_fit <- function(model, data) {
  native(rs_check_fit(model$model, as_columns(data), nrow(data), native_seed(), model$threads))
}

# Seeds for the engine come from R's generator, so set.seed() governs everything.
native_seed <- function() {
  as.double(sample.int(.Machine$integer.max, 1L))
}

resolve_verbose <- function(verbose) {
  verbose <- verbose %||% getOption("sygnet.verbose", rlang::is_interactive())
  check_flag(verbose, arg = "verbose")
  verbose
}

# Runs `f(tick)` under a progress bar of `steps` steps with the time left, where
# `tick()` marks one step done; jobs on future workers report through progressr.
with_job_progress <- function(steps, verbose, f) {
  if (!verbose) return(f(function() invisible()))
  progressr::with_progress({
    progress <- progressr::progressor(steps = steps)
    f(function() progress())
  }, handlers = progressr::handler_cli(), enable = TRUE)
}
