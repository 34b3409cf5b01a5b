#' Specify a GAN for tabular data
#'
#' `gan()` describes the model and how to train it; nothing is computed until
#' [fit()][fit.sygnet_spec] is called with data. The architecture follows CTGAN (Xu et al. 2019) with
#' SyGNet's options added: a Wasserstein critic with gradient penalty over packed rows,
#' a residual generator with layer normalisation, mode-specific normalisation of
#' numeric columns and Gumbel-softmax outputs for categories. The defaults were tuned
#' on social-science survey data (see `bench/quality.R` in the sources): smaller
#' batches, a higher learning rate, less critic dropout and three critic updates per
#' generator update (CTGAN uses one), which learned relationships between columns
#' markedly better for the same training time.
#'
#' @param epochs Passes over the training data. The default, `NULL`, means 300 epochs,
#'   or more on small data sets so that training takes at least 3,000 steps (on 344
#'   rows, 300 epochs are only 600 steps, and the fit is visibly under-trained).
#' @param batch_size Rows per training step (rounded down to a multiple of
#'   `gan_control()$pac`, and at most the number of rows).
#' @param generator,critic Widths of the hidden layers, e.g. `c(256, 256)`.
#' @param attention If `TRUE`, each generator block adds multi-head self-attention
#'   across feature tokens of a row (SyGNet's idea, but rows never attend to each
#'   other, so generated rows are independent). See `gan_control()`.
#' @param dropout Dropout rate in the generator blocks during training.
#' @param learning_rate Adam learning rate for both networks.
#' @param loss `"wgan-gp"` (Wasserstein loss with gradient penalty) or `"gan"` (the
#'   standard, non-saturating loss).
#' @param condition_on Names of factor, character or logical columns to condition on
#'   (CTGAN's conditional vector with training-by-sampling, so rare levels are
#'   learned). Their values can then be fixed in [synthesize()].
#' @param privacy `NULL`, or [dp()] to train with differential privacy.
#' @param control Rarely changed settings, from [gan_control()].
#' @return An object of class `sygnet_spec`.
#' @seealso [fit()][fit.sygnet_spec], [gan_control()]
#' @examples
#' gan(epochs = 100, generator = c(128, 128))
#' @export
gan <- function(epochs = NULL,
                batch_size = 200L,
                generator = c(256L, 256L),
                critic = c(256L, 256L),
                attention = FALSE,
                dropout = 0,
                learning_rate = 1e-3,
                loss = c("wgan-gp", "gan"),
                condition_on = NULL,
                privacy = NULL,
                control = gan_control()) {
  loss <- rlang::arg_match(loss)
  if (!is.null(epochs)) check_count(epochs)
  check_count(batch_size)
  check_widths(generator)
  check_widths(critic)
  check_flag(attention)
  check_rate(dropout)
  check_positive(learning_rate)
  if (!is.null(condition_on) && (!is.character(condition_on) || anyNA(condition_on))) {
    sygnet_abort("{.arg condition_on} must be a character vector of column names or NULL.",
                 class = "sygnet_error_input")
  }
  if (!is.null(privacy) && !inherits(privacy, "sygnet_dp")) {
    sygnet_abort("{.arg privacy} must be made by {.fn dp}.", class = "sygnet_error_input")
  }
  if (!is.null(privacy) && length(condition_on) > 0L) {
    sygnet_abort(c("{.arg condition_on} cannot be used with differential privacy.",
                   "i" = "Conditioning samples rows by their categories, which the privacy accountant cannot cover."),
                 class = "sygnet_error_input")
  }
  if (!inherits(control, "sygnet_control")) {
    sygnet_abort("{.arg control} must be made by {.fn gan_control}.", class = "sygnet_error_input")
  }
  structure(
    list(
      epochs = if (is.null(epochs)) NULL else as.integer(epochs),
      batch_size = as.integer(batch_size),
      generator = as.integer(generator),
      critic = as.integer(critic),
      attention = attention,
      dropout = dropout,
      learning_rate = learning_rate,
      loss = loss,
      condition_on = unique(condition_on),
      privacy = privacy,
      control = control
    ),
    class = "sygnet_spec"
  )
}

#' Rarely changed GAN settings
#'
#' @param noise_dim Length of the generator's noise input.
#' @param pac Rows the critic judges together (PacGAN); counters mode collapse.
#' @param critic_steps Critic updates per generator update.
#' @param gradient_penalty Weight of the gradient penalty (WGAN-GP).
#' @param critic_dropout Dropout rate in the critic.
#' @param tau Temperature of the Gumbel-softmax outputs.
#' @param beta1,beta2,weight_decay Adam settings.
#' @param numeric_encoding `"modes"`: mode-specific normalisation, a Gaussian mixture
#'   per numeric column whose number of modes is chosen by BIC (CTGAN); `"minmax"`:
#'   scaling to \[-1, 1\] (SyGNet).
#' @param max_modes Largest number of mixture modes per numeric column.
#' @param max_levels Factor and character columns with more levels are refused
#'   (one-hot outputs grow with the number of levels).
#' @param attention_tokens,attention_heads Tokens each hidden vector is cut into, and
#'   attention heads, when `gan(attention = TRUE)`. Widths must divide evenly.
#' @return An object of class `sygnet_control`.
#' @export
gan_control <- function(noise_dim = 128L,
                        pac = 10L,
                        critic_steps = 3L,
                        gradient_penalty = 10,
                        critic_dropout = 0.2,
                        tau = 0.2,
                        beta1 = 0.5,
                        beta2 = 0.9,
                        weight_decay = 1e-6,
                        numeric_encoding = c("modes", "minmax"),
                        max_modes = 10L,
                        max_levels = 1000L,
                        attention_tokens = 8L,
                        attention_heads = 4L) {
  numeric_encoding <- rlang::arg_match(numeric_encoding)
  for (arg in c("noise_dim", "pac", "critic_steps", "max_modes", "max_levels",
                "attention_tokens", "attention_heads")) {
    check_count(get(arg), arg = arg)
  }
  check_positive(gradient_penalty, zero_ok = TRUE)
  check_rate(critic_dropout)
  check_positive(tau)
  check_rate(beta1)
  check_rate(beta2)
  check_positive(weight_decay, zero_ok = TRUE)
  structure(
    list(
      noise_dim = as.integer(noise_dim), pac = as.integer(pac),
      critic_steps = as.integer(critic_steps), gradient_penalty = gradient_penalty,
      critic_dropout = critic_dropout, tau = tau, beta1 = beta1, beta2 = beta2,
      weight_decay = weight_decay, numeric_encoding = numeric_encoding,
      max_modes = as.integer(max_modes), max_levels = as.integer(max_levels),
      attention_tokens = as.integer(attention_tokens),
      attention_heads = as.integer(attention_heads)
    ),
    class = "sygnet_control"
  )
}

# Epochs to train: as specified, or by default 300 and at least `min_steps` steps.
resolve_epochs <- function(epochs, steps_per_epoch, min_steps = 3000L) {
  epochs %||% max(300L, as.integer(ceiling(min_steps / steps_per_epoch)))
}

# The flat list of settings the engine reads; `privacy` from resolve_privacy().
engine_config <- function(spec, privacy = NULL) {
  ctl <- spec$control
  list(
    batch_size = spec$batch_size, noise_dim = ctl$noise_dim,
    generator = spec$generator, critic = spec$critic,
    attention_tokens = if (spec$attention) ctl$attention_tokens else 0L,
    attention_heads = ctl$attention_heads,
    generator_dropout = spec$dropout, critic_dropout = ctl$critic_dropout,
    learning_rate = spec$learning_rate, beta1 = ctl$beta1, beta2 = ctl$beta2,
    weight_decay = ctl$weight_decay, loss = spec$loss,
    pac = if (is.null(privacy)) ctl$pac else 1L,
    critic_steps = ctl$critic_steps, gradient_penalty = ctl$gradient_penalty,
    tau = ctl$tau, condition_on = spec$condition_on,
    numeric_encoding = ctl$numeric_encoding, max_modes = ctl$max_modes,
    max_levels = ctl$max_levels,
    privacy = privacy
  )
}

#' @export
print.sygnet_spec <- function(x, ...) {
  say("{.strong GAN specification} ({.cls sygnet_spec})")
  say_bullets(c(
    if (is.null(x$epochs)) "loss: {x$loss}; 300 epochs or at least 3,000 steps, batch size {x$batch_size}" else "loss: {x$loss}; {x$epochs} epoch{?s}, batch size {x$batch_size}",
    "generator: {paste(x$generator, collapse = ' x ')}{if (x$attention) ' with feature attention' else ''}, dropout {x$dropout}",
    "critic: {paste(x$critic, collapse = ' x ')}, pac {x$control$pac}, dropout {x$control$critic_dropout}",
    "learning rate {x$learning_rate}; numeric encoding: {x$control$numeric_encoding}",
    if (length(x$condition_on)) "conditioned on {.field {x$condition_on}}" else "no conditioning columns",
    if (!is.null(x$privacy)) "differential privacy: epsilon {x$privacy$epsilon}"
  ))
  invisible(x)
}

#' @export
print.sygnet_control <- function(x, ...) {
  say("{.cls sygnet_control}")
  say_bullets(paste0(names(x), ": ", vapply(x, format, "")))
  invisible(x)
}

# Argument checks ---------------------------------------------------------------------

check_count <- function(x, arg = rlang::caller_arg(x), call = rlang::caller_env()) {
  if (!is.numeric(x) || length(x) != 1L || is.na(x) || x < 1 || x != round(x)) {
    sygnet_abort("{.arg {arg}} must be a whole number of at least 1.",
                 class = "sygnet_error_input", call = call)
  }
}

check_widths <- function(x, arg = rlang::caller_arg(x), call = rlang::caller_env()) {
  if (!is.numeric(x) || length(x) < 1L || anyNA(x) || any(x < 1) || any(x != round(x))) {
    sygnet_abort("{.arg {arg}} must be layer widths: whole numbers of at least 1, e.g. {.code c(256, 256)}.",
                 class = "sygnet_error_input", call = call)
  }
}

check_flag <- function(x, arg = rlang::caller_arg(x), call = rlang::caller_env()) {
  if (!rlang::is_bool(x)) {
    sygnet_abort("{.arg {arg}} must be TRUE or FALSE.", class = "sygnet_error_input", call = call)
  }
}

check_rate <- function(x, arg = rlang::caller_arg(x), call = rlang::caller_env()) {
  if (!is.numeric(x) || length(x) != 1L || is.na(x) || x < 0 || x >= 1) {
    sygnet_abort("{.arg {arg}} must be a number in [0, 1).", class = "sygnet_error_input", call = call)
  }
}

check_positive <- function(x, zero_ok = FALSE, arg = rlang::caller_arg(x), call = rlang::caller_env()) {
  if (!is.numeric(x) || length(x) != 1L || !is.finite(x) || x < 0 || (!zero_ok && x == 0)) {
    what <- if (zero_ok) "a non-negative number" else "a positive number"
    sygnet_abort("{.arg {arg}} must be {what}.", class = "sygnet_error_input", call = call)
  }
}
