#' Differential privacy for a GAN fit
#'
#' Asks [fit()][fit.sygnet_spec] to train with a formal (epsilon, delta)
#' differential-privacy guarantee: whatever the synthetic data and the fitted model
#' reveal, they would have been almost as likely had any one person's row been left out
#' of the data. Use it as `gan(privacy = dp(epsilon = 1, bounds = ...))`.
#'
#' @section Mechanism:
#' Only the critic sees real rows. Each critic update draws every real row independently
#' with probability `q = batch_size / n` (Poisson sampling), computes each row's gradient,
#' scales it down to norm at most `max_grad_norm`, sums, and adds Gaussian noise with
#' standard deviation `noise_multiplier * max_grad_norm` (DP-SGD, Abadi et al. 2016).
#' The generator learns only from the critic, so it and everything it generates are
#' post-processing and cost no further privacy. The privacy loss of all critic updates is
#' tracked by a Rényi-DP accountant for the Poisson-subsampled Gaussian mechanism
#' (Mironov, Talwar & Zhang 2019) and converted to (epsilon, delta) with the conversion
#' of Balle et al. (2020). Before training, the noise is calibrated so that the requested
#' epochs spend at most `epsilon`; training never takes a step beyond it, and the fit
#' reports the epsilon actually spent (less if training was interrupted).
#'
#' What changes in private training: rows are judged one at a time (`pac = 1`); the
#' gradient penalty is taken between pairs of generated rows, so it never touches a real
#' row; conditioning columns (`gan(condition_on =)`) are not allowed (they sample rows by
#' their categories); critic losses on real rows are not reported (the training history
#' shows the generator loss only); the post-fit quality check on the real data is
#' skipped; and a private fit cannot be trained further.
#'
#' @section What counts as public:
#' Differential privacy covers what training learns from the rows. The following is
#' treated as public, known before seeing the data, and must be something you are
#' willing to publish:
#' * **the schema**: column names and classes, and each factor's declared levels (a
#'   codebook; levels come from `levels()`, so declare them with `factor(x, levels =)`,
#'   including levels nobody in the data has). Character columns are refused: their
#'   levels would come from the data. Logical columns have levels `FALSE`/`TRUE`.
#' * **`bounds`** for every numeric, integer, Date and date-time column: values outside
#'   are clipped to the bounds before training, and synthetic values stay inside them.
#'   Choose them from domain knowledge (e.g. age 16 to 99), never from the data. Numbers
#'   are scaled linearly between the bounds (no data-dependent mode normalisation) and
#'   doubles are not rounded to the data's decimal places; integers stay whole.
#' * **the number of rows** `n`, which sets the sampling rate and the default number of
#'   synthetic rows (as in most DP-SGD software).
#' Every column gets a missing-value slot, so whether a column has missing values is
#' learned privately rather than read from the data.
#'
#' Noise is drawn with ordinary floating-point samplers, which are known to leak a little
#' in theory (Mironov 2012); nothing here defends against side channels.
#'
#' @param epsilon The privacy budget: larger means less noise and less privacy. Values
#'   between 0.1 and 10 are common; 1 is a strong guarantee.
#' @param delta The probability with which the guarantee may fail. `NULL` picks
#'   `min(1e-5, 0.1 / n)`, well below `1 / n`, at fit time; the fit reports it.
#' @param max_grad_norm The per-row gradient norm bound C.
#' @param noise_multiplier Noise standard deviation over C. `NULL` (the default)
#'   calibrates it to spend `epsilon` over the requested epochs; a given value is used as
#'   is, and the fit fails if it would spend more than `epsilon`.
#' @param bounds A named list of `c(lower, upper)` for every numeric column (numbers,
#'   Dates or date-times).
#' @return An object of class `sygnet_dp`.
#' @references Abadi, M. et al. (2016). Deep learning with differential privacy. *CCS*.
#'
#'   Mironov, I., Talwar, K. & Zhang, L. (2019). Rényi differential privacy of the
#'   sampled Gaussian mechanism. arXiv:1908.10530.
#'
#'   Balle, B., Barthe, G., Gaboardi, M., Hsu, J. & Sato, T. (2020). Hypothesis testing
#'   interpretations and Rényi differential privacy. *AISTATS*.
#' @seealso [dp_epsilon()], [dp_noise_multiplier()], `vignette("privacy")`
#' @examples
#' spec <- gan(epochs = 50, privacy = dp(epsilon = 1, bounds = list(
#'   Sepal.Length = c(0, 10), Sepal.Width = c(0, 10),
#'   Petal.Length = c(0, 10), Petal.Width = c(0, 5)
#' )))
#' spec
#' @export
dp <- function(epsilon, delta = NULL, max_grad_norm = 1, noise_multiplier = NULL,
               bounds = NULL) {
  check_positive(epsilon)
  if (!is.null(delta)) {
    if (!is.numeric(delta) || length(delta) != 1L || is.na(delta) || delta <= 0 || delta >= 1) {
      sygnet_abort("{.arg delta} must be a number between 0 and 1.", class = "sygnet_error_input")
    }
  }
  check_positive(max_grad_norm)
  if (!is.null(noise_multiplier)) check_positive(noise_multiplier)
  bounds <- check_bounds(bounds)
  structure(
    list(epsilon = epsilon, delta = delta, max_grad_norm = max_grad_norm,
         noise_multiplier = noise_multiplier, bounds = bounds),
    class = "sygnet_dp"
  )
}

check_bounds <- function(bounds, call = rlang::caller_env()) {
  if (is.null(bounds)) return(list())
  if (!is.list(bounds) || is.null(names(bounds)) || any(names(bounds) == "") ||
      anyDuplicated(names(bounds))) {
    sygnet_abort("{.arg bounds} must be a list named by column, e.g. {.code list(age = c(16, 99))}.",
                 class = "sygnet_error_input", call = call)
  }
  lapply(stats::setNames(names(bounds), names(bounds)), function(v) {
    b <- bounds[[v]]
    numeric_bound <- as.double(unclass(b))
    if (length(numeric_bound) != 2L || anyNA(numeric_bound) || any(!is.finite(numeric_bound)) ||
        numeric_bound[1] >= numeric_bound[2] || !(is.numeric(b) || inherits(b, c("Date", "POSIXct")))) {
      sygnet_abort("Bounds of column {.field {v}} must be two finite numbers (or dates), lower first.",
                   class = "sygnet_error_input", call = call)
    }
    numeric_bound
  })
}

# Checks a private spec against the data's schema (never its values) and fills in delta.
resolve_privacy <- function(privacy, data, epochs, call = rlang::caller_env()) {
  unknown <- setdiff(names(privacy$bounds), names(data))
  if (length(unknown) > 0L) {
    sygnet_abort("{.arg bounds} names column{?s} {.field {unknown}}, not in {.arg data}.",
                 class = "sygnet_error_input", call = call)
  }
  list(
    epsilon = privacy$epsilon,
    delta = privacy$delta %||% min(1e-5, 0.1 / nrow(data)),
    max_grad_norm = privacy$max_grad_norm,
    noise_multiplier = privacy$noise_multiplier,
    epochs = epochs,
    bounds = privacy$bounds
  )
}

#' @export
print.sygnet_dp <- function(x, ...) {
  say("{.strong Differential privacy} ({.cls sygnet_dp}): epsilon {x$epsilon}, delta {if (is.null(x$delta)) 'chosen at fit' else x$delta}, max_grad_norm {x$max_grad_norm}")
  if (length(x$bounds)) say("Bounds for {.field {names(x$bounds)}}")
  invisible(x)
}

#' The privacy accountant
#'
#' `dp_epsilon()` gives the epsilon spent by `steps` updates of the Poisson-subsampled
#' Gaussian mechanism (sampling rate `sample_rate`, noise `noise_multiplier`) at
#' `delta`; `dp_noise_multiplier()` the smallest noise multiplier that keeps `steps`
#' updates within `epsilon`. Both use Rényi differential privacy on orders 1.1 to 10.9
#' (step 0.1), 11 to 63, 128, 256, 512 and 1024, computed exactly also at fractional
#' orders, and the conversion to (epsilon, delta) of Balle et al. (2020). A private fit
#' makes `epochs * ceiling(n / batch_size) * critic_steps` updates at rate
#' `batch_size / n`.
#'
#' @param noise_multiplier Noise standard deviation over the clipping norm.
#' @param sample_rate Probability that a row joins an update.
#' @param steps Number of updates.
#' @param delta Target delta.
#' @param epsilon Target epsilon.
#' @return A number.
#' @seealso [dp()]
#' @examples
#' dp_epsilon(noise_multiplier = 1.1, sample_rate = 0.01, steps = 10000, delta = 1e-5)
#' dp_noise_multiplier(epsilon = 1, delta = 1e-5, sample_rate = 0.01, steps = 10000)
#' @export
dp_epsilon <- function(noise_multiplier, sample_rate, steps, delta) {
  check_accountant_args(noise_multiplier = noise_multiplier, sample_rate = sample_rate,
                        steps = steps, delta = delta)
  native(rs_dp_epsilon(noise_multiplier, sample_rate, steps, delta))
}

#' @rdname dp_epsilon
#' @export
dp_noise_multiplier <- function(epsilon, delta, sample_rate, steps) {
  check_accountant_args(epsilon = epsilon, sample_rate = sample_rate, steps = steps,
                        delta = delta)
  native(rs_dp_noise_multiplier(epsilon, delta, sample_rate, steps))
}

check_accountant_args <- function(..., call = rlang::caller_env()) {
  args <- list(...)
  for (name in names(args)) {
    x <- args[[name]]
    if (!is.numeric(x) || length(x) != 1L || is.na(x) || x < 0) {
      sygnet_abort("{.arg {name}} must be a single non-negative number.",
                   class = "sygnet_error_input", call = call)
    }
  }
  if (args$steps != round(args$steps)) {
    sygnet_abort("{.arg steps} must be a whole number.", class = "sygnet_error_input", call = call)
  }
}
