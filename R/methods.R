#' Print, summarise and plot a fitted GAN
#'
#' `print()` gives a one-screen overview, `summary()` adds the encoding of every column,
#' and `plot()` draws the training losses per epoch (with ggplot2 when it is installed,
#' base graphics otherwise).
#'
#' @param x,object A `sygnet_fit`.
#' @param ... Unused.
#' @return `print()` and `plot()` return `x` invisibly (`plot()` returns the ggplot
#'   object when ggplot2 is used); `summary()` returns a `summary.sygnet_fit` list.
#' @name sygnet_fit-methods
NULL

model_info <- function(x) native(rs_model_info(x$model))

#' @rdname sygnet_fit-methods
#' @export
print.sygnet_fit <- function(x, ...) {
  info <- model_info(x)
  last <- x$history[nrow(x$history), , drop = FALSE]
  say("{.strong GAN fitted to {x$n} row{?s} x {length(info$columns$name)} column{?s}} ({.cls sygnet_fit})")
  say_bullets(c(
    "{nrow(x$history)} epoch{?s}, {info$steps} step{?s} on {x$device}, {x$threads} thread{?s}{if (isTRUE(x$interrupted)) ' (interrupted)' else ''}",
    "loss {x$spec$loss}; generator {paste(x$spec$generator, collapse = ' x ')} ({format(info$generator_parameters, big.mark = ',')} parameters), critic {paste(x$spec$critic, collapse = ' x ')}",
    if (nrow(last)) "last epoch: critic loss {signif(last$critic_loss, 3)}, generator loss {signif(last$generator_loss, 3)}" else "not trained",
    if (length(info$condition_on)) "conditioned on {.field {info$condition_on}}" else "no conditioning columns",
    if (length(x$ids)) "ID columns {.field {vapply(x$ids, `[[`, '', 'name')}} left out, written afresh",
    if (is.null(info$rejection_acceptance)) "no rejection sampling"
    else if (!is.null(x$privacy)) "draws tilted towards the released feature means (rejection sampling keeps about {round(100 * info$rejection_acceptance)}%)"
    else "rejection sampling keeps about {round(100 * info$rejection_acceptance)}% of generated rows",
    if (!is.null(x$check)) "quality check: propensity AUC {round(x$check$propensity_auc, 3)} (0.5 = synthetic rows indistinguishable from real ones)" else "",
    if (!is.null(x$privacy)) privacy_line(x$privacy)
  ))
  invisible(x)
}

privacy_line <- function(p) {
  sprintf("differential privacy: epsilon %.3g spent of %.3g, delta %.2g; noise multiplier %.3g, clipping norm %.3g, sampling rate %.3g, %d critic updates",
          p$epsilon_spent, p$epsilon, p$delta, p$noise_multiplier, p$max_grad_norm,
          p$sample_rate, as.integer(p$critic_updates)) |>
    paste0(if (!is.na(p$marginal_noise %||% NA_real_))
      sprintf("; column histograms released with noise multiplier %.3g", p$marginal_noise)) |>
    paste0(if (!is.na(p$moment_noise %||% NA_real_))
      sprintf("; feature means released with noise multiplier %.3g", p$moment_noise))
}

#' @rdname sygnet_fit-methods
#' @export
summary.sygnet_fit <- function(object, ...) {
  info <- model_info(object)
  columns <- as.data.frame(info$columns)
  structure(
    list(
      n = object$n, epochs = nrow(object$history), steps = info$steps,
      columns = columns, encoded_width = info$encoded_width,
      generator_parameters = info$generator_parameters,
      spec = object$spec, history = object$history, seeds = object$seeds,
      privacy = object$privacy,
      versions = object$versions
    ),
    class = "summary.sygnet_fit"
  )
}

#' @export
print.summary.sygnet_fit <- function(x, ...) {
  say("{.strong GAN fitted to {x$n} rows}: {x$epochs} epoch{?s}, {x$steps} step{?s}, encoded width {x$encoded_width}")
  say("Columns and their encoding:")
  print(x$columns, row.names = FALSE)
  say("Training history (last epochs):")
  print(utils::tail(x$history, 5L), row.names = FALSE)
  if (!is.null(x$privacy)) say(privacy_line(x$privacy))
  say("sygnet {x$versions$sygnet}, model format {x$versions$format}{if (length(x$seeds)) paste0('; seeds ', paste(x$seeds, collapse = ' ')) else ''}")
  invisible(x)
}

#' @rdname sygnet_fit-methods
#' @export
plot.sygnet_fit <- function(x, ...) {
  h <- x$history
  long <- data.frame(
    epoch = rep(h$epoch, 2L),
    loss = c(h$critic_loss, h$generator_loss),
    network = rep(c("critic", "generator"), each = nrow(h))
  )
  if (requireNamespace("ggplot2", quietly = TRUE)) {
    p <- ggplot2::ggplot(long, ggplot2::aes(.data$epoch, .data$loss, colour = .data$network)) +
      ggplot2::geom_line() +
      ggplot2::labs(x = "epoch", y = "mean loss", colour = NULL,
                    title = "GAN training losses") +
      ggplot2::theme_minimal()
    print(p)
    return(invisible(p))
  }
  graphics::matplot(h$epoch, cbind(h$critic_loss, h$generator_loss), type = "l", lty = 1,
                    col = c("black", "red"), xlab = "epoch", ylab = "mean loss",
                    main = "GAN training losses")
  graphics::legend("topright", c("critic", "generator"), lty = 1, col = c("black", "red"), bty = "n")
  invisible(x)
}
