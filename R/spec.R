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
#'   rows, 300 epochs are only 600 steps, and the fit is visibly under-trained), and
#'   fewer on large ones so that it takes at most 10,000 steps (25,000 rows: 80 epochs).
#'   Differentially private fits choose their epochs as in [dp()].
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
#' @param ids Names of identifier columns (person or household IDs): they are left out
#'   of the model, and every synthetic data set gets fresh, unique values of the same
#'   class instead (numbers above the largest real one, by a random margin; text as
#'   `"syn-0001"`, ...), so that no real identifier is copied. Text columns with mostly
#'   unique values must be declared here or dropped. In a private fit the fresh
#'   values read nothing of the data: numbers count down from -1, text has the prefix
#'   `"syn-"`.
#' @param missing_codes `NULL`, or a list naming, per numeric column, values that are
#'   codes rather than measurements, e.g. `list(income = c(-8, -9))` for "don't know"
#'   and "refused" (synthpop's `cont.na`). Each code is learned as a category of its
#'   own beside the column's continuous part, so it comes back at its exact value and
#'   rate, and the continuous part's range and shape are learned without it. Every
#'   code must occur in the data. SPSS user-defined missing values of labelled columns
#'   (see *Survey files* in [fit()][fit.sygnet_spec]) are added to them. Values that many
#'   rows share (zero incomes, top-codes) get the same treatment without declaring
#'   them. Not with differential privacy.
#' @param privacy `NULL`, or [dp()] to train with differential privacy.
#' @param control Rarely changed settings, from [gan_control()].
#' @return An object of class `sygnet_spec`.
#' @seealso [fit()][fit.sygnet_spec], [gan_control()]
#' @examples
#' gan(epochs = 100, generator = c(128, 128))
#' @export
gan <- function(epochs = NULL,
                batch_size = gan_defaults()$batch_size,
                generator = gan_defaults()$generator,
                critic = gan_defaults()$critic,
                attention = FALSE,
                dropout = gan_defaults()$dropout,
                learning_rate = gan_defaults()$learning_rate,
                loss = gan_defaults()$loss,
                condition_on = NULL,
                ids = NULL,
                missing_codes = NULL,
                privacy = NULL,
                control = gan_control()) {
  loss <- rlang::arg_match(loss, c("wgan-gp", "gan"))
  if (!is.null(epochs)) check_count(epochs)
  check_flag(attention)
  if (!is.null(condition_on) && (!is.character(condition_on) || anyNA(condition_on))) {
    sygnet_abort("{.arg condition_on} must be a character vector of column names or NULL.",
                 class = "sygnet_error_input")
  }
  if (!is.null(ids) && (!is.character(ids) || anyNA(ids))) {
    sygnet_abort("{.arg ids} must be a character vector of column names or NULL.",
                 class = "sygnet_error_input")
  }
  if (length(intersect(ids, condition_on))) {
    sygnet_abort("{.field {intersect(ids, condition_on)}} cannot be both an ID and a conditioning column.",
                 class = "sygnet_error_input")
  }
  missing_codes <- check_missing_codes(missing_codes)
  if (length(intersect(names(missing_codes), c(ids, condition_on)))) {
    sygnet_abort("{.field {intersect(names(missing_codes), c(ids, condition_on))}} cannot have missing-value codes: {?it is/they are} an ID or conditioning column.",
                 class = "sygnet_error_input")
  }
  if (!is.null(privacy) && !is.null(missing_codes)) {
    sygnet_abort(c("{.arg missing_codes} cannot be used with differential privacy yet.",
                   "i" = "Recode the codes to {.code NA}, or move them to a factor column with declared levels."),
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
  # Arguments the user set (epochs = NULL means the default).
  given <- setdiff(names(match.call())[-1L], if (is.null(epochs)) "epochs")
  spec <- structure(
    list(
      epochs = if (is.null(epochs)) NULL else as.integer(epochs),
      batch_size = batch_size,
      generator = generator,
      critic = critic,
      attention = attention,
      dropout = dropout,
      learning_rate = learning_rate,
      loss = loss,
      condition_on = unique(condition_on),
      ids = unique(ids),
      missing_codes = missing_codes,
      privacy = privacy,
      control = control,
      defaulted = setdiff(private_default_args, given)
    ),
    class = "sygnet_spec"
  )
  check_settings(spec)
  for (field in c("batch_size", "generator", "critic")) spec[[field]] <- as.integer(spec[[field]])
  spec
}

#' Default settings of a GAN
#'
#' The defaults of [gan()] and [gan_control()] are kept in the engine, in one place
#' with the checks of every setting; `gan_defaults()` lists them by argument name.
#'
#' @return A named list.
#' @examples
#' str(gan_defaults())
#' @export
gan_defaults <- function() {
  the$defaults <- the$defaults %||% native(rs_gan_defaults())
  the$defaults
}

the <- new.env(parent = emptyenv())

# Checks every setting of `spec` in the engine; a bad one is an input error naming it.
check_settings <- function(spec, call = rlang::caller_env()) {
  tryCatch(
    native(rs_check_settings(engine_config(spec))),
    sygnet_error_config = function(e) {
      sygnet_abort(conditionMessage(e), class = "sygnet_error_input", call = call)
    }
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
#' @param rejection After training, fit a small classifier that tells training rows from
#'   generated ones, and let [synthesize()] keep each generated row with a probability
#'   from the classifier's estimate of how much likelier such a row is in the real data
#'   (discriminator rejection sampling). This corrects joint and conditional structure
#'   the generator misses, at the price of generating several rows per row kept. The
#'   classifier stops learning when it no longer improves on held-out rows, or once it
#'   is certain (to single precision) of a row's class. The kept
#'   draws are also tilted to the training rows' means, variances and covariances of
#'   simple features of the columns (exponential tilting with a ridge penalty), so
#'   that linear regressions among the columns come out as on the real data, and
#'   [synthesize()] keeps, of half as many more draws, the rows whose means of those
#'   features are closest to the training rows' (`balance`). The fitted model holds
#'   those training means. Not used for differentially private fits: it would read the
#'   training rows outside the budget (they tilt towards released feature means
#'   instead; see `moment_share` in [dp()]).
#' @return An object of class `sygnet_control`.
#' @export
gan_control <- function(noise_dim = gan_defaults()$noise_dim,
                        pac = gan_defaults()$pac,
                        critic_steps = gan_defaults()$critic_steps,
                        gradient_penalty = gan_defaults()$gradient_penalty,
                        critic_dropout = gan_defaults()$critic_dropout,
                        tau = gan_defaults()$tau,
                        beta1 = gan_defaults()$beta1,
                        beta2 = gan_defaults()$beta2,
                        weight_decay = gan_defaults()$weight_decay,
                        numeric_encoding = gan_defaults()$numeric_encoding,
                        max_modes = gan_defaults()$max_modes,
                        max_levels = gan_defaults()$max_levels,
                        attention_tokens = gan_defaults()$attention_tokens,
                        attention_heads = gan_defaults()$attention_heads,
                        rejection = gan_defaults()$rejection) {
  numeric_encoding <- rlang::arg_match(numeric_encoding, c("modes", "minmax"))
  check_flag(rejection)
  control <- structure(
    list(
      noise_dim = noise_dim, pac = pac, critic_steps = critic_steps,
      gradient_penalty = gradient_penalty, critic_dropout = critic_dropout, tau = tau,
      beta1 = beta1, beta2 = beta2, weight_decay = weight_decay,
      numeric_encoding = numeric_encoding, max_modes = max_modes, max_levels = max_levels,
      attention_tokens = attention_tokens, attention_heads = attention_heads,
      rejection = rejection,
      defaulted = if (missing(critic_steps)) "critic_steps" else character()
    ),
    class = "sygnet_control"
  )
  defaults <- gan_defaults()
  check_settings(structure(
    list(batch_size = defaults$batch_size, generator = defaults$generator,
         critic = defaults$critic, attention = FALSE, dropout = defaults$dropout,
         learning_rate = defaults$learning_rate, loss = defaults$loss, control = control),
    class = "sygnet_spec"
  ))
  integers <- c("noise_dim", "pac", "critic_steps", "max_modes", "max_levels",
                "attention_tokens", "attention_heads")
  control[integers] <- lapply(control[integers], as.integer)
  control
}

# The settings of gan() that private fits choose for themselves when left unset.
private_default_args <- c("epochs", "batch_size", "critic", "learning_rate")

# A private fit's settings where the user left them unset: large batches and few
# steps (every step spends budget), a small critic (fewer coordinates for the noise to
# swamp) updated once per generator update, and a lower learning rate. The released
# marginals carry each column's distribution; training learns how columns relate.
# Returns the spec and a description of what was chosen.
private_settings <- function(spec) {
  chosen <- list(epochs = 50L, batch_size = 300L, critic = c(64L, 64L),
                 learning_rate = 2e-4)
  args <- intersect(names(chosen), spec$defaulted)
  spec[args] <- chosen[args]
  said <- c(epochs = paste(spec$epochs, "epochs"),
            batch_size = paste("batch size", spec$batch_size),
            critic = paste("critic", paste(spec$critic, collapse = " x ")),
            learning_rate = paste("learning rate", format(spec$learning_rate)))[args]
  if ("critic_steps" %in% spec$control$defaulted) {
    spec$control$critic_steps <- 1L
    said <- c(said, "1 critic update per generator update")
  }
  spec$defaulted <- character()
  list(spec = spec, said = unname(said))
}

# Epochs to train: as specified, or by default 300, at least `min_steps` steps and at
# most `max_steps` (rounded up to whole epochs).
resolve_epochs <- function(epochs, steps_per_epoch, min_steps = 3000L, max_steps = Inf) {
  epochs %||% as.integer(ceiling(max(min(300 * steps_per_epoch, max_steps), min_steps) /
                                   steps_per_epoch))
}

# The flat list of settings the engine reads; `privacy` from resolve_privacy().
engine_config <- function(spec, privacy = NULL) {
  ctl <- spec$control
  list(
    batch_size = spec$batch_size, noise_dim = ctl$noise_dim,
    generator = spec$generator, critic = spec$critic,
    attention = spec$attention, attention_tokens = ctl$attention_tokens,
    attention_heads = ctl$attention_heads,
    generator_dropout = spec$dropout, critic_dropout = ctl$critic_dropout,
    learning_rate = spec$learning_rate, beta1 = ctl$beta1, beta2 = ctl$beta2,
    weight_decay = ctl$weight_decay, loss = spec$loss,
    pac = if (is.null(privacy)) ctl$pac else 1L,
    critic_steps = ctl$critic_steps, gradient_penalty = ctl$gradient_penalty,
    tau = ctl$tau, condition_on = spec$condition_on,
    numeric_encoding = ctl$numeric_encoding, max_modes = ctl$max_modes,
    max_levels = ctl$max_levels, missing_codes = spec$missing_codes,
    privacy = privacy,
    rejection = uses_rejection(spec, privacy)
  )
}

# Whether a fit gets a rejection sampler: asked for (specs from before the setting
# existed: yes) and not private.
uses_rejection <- function(spec, privacy = spec$privacy) {
  isTRUE(spec$control$rejection %||% TRUE) && is.null(privacy)
}

#' @export
print.sygnet_spec <- function(x, ...) {
  say("{.strong GAN specification} ({.cls sygnet_spec})")
  say_bullets(c(
    if (!is.null(x$privacy) && length(x$defaulted)) "loss: {x$loss}; {.field {x$defaulted}} chosen for privacy at fit"
    else if (is.null(x$epochs)) "loss: {x$loss}; 300 epochs, at least 3,000 and at most 10,000 steps, batch size {x$batch_size}" else "loss: {x$loss}; {x$epochs} epoch{?s}, batch size {x$batch_size}",
    "generator: {paste(x$generator, collapse = ' x ')}{if (x$attention) ' with feature attention' else ''}, dropout {x$dropout}",
    "critic: {paste(x$critic, collapse = ' x ')}, pac {x$control$pac}, dropout {x$control$critic_dropout}",
    "learning rate {x$learning_rate}; numeric encoding: {x$control$numeric_encoding}",
    if (length(x$condition_on)) "conditioned on {.field {x$condition_on}}" else "no conditioning columns",
    if (length(x$ids)) "ID columns {.field {x$ids}}, written afresh",
    if (length(x$missing_codes)) "missing-value codes in {.field {names(x$missing_codes)}}",
    if (!is.null(x$privacy)) "differential privacy: epsilon {x$privacy$epsilon}"
  ))
  invisible(x)
}

#' @export
print.sygnet_control <- function(x, ...) {
  say("{.cls sygnet_control}")
  shown <- x[setdiff(names(x), "defaulted")]
  say_bullets(paste0(names(shown), ": ", vapply(shown, format, "")))
  invisible(x)
}
