#' Differential privacy for a GAN fit
#'
#' Asks [fit()][fit.sygnet_spec] to train with a formal (epsilon, delta)
#' differential-privacy guarantee: whatever the synthetic data and the fitted model
#' reveal, they would have been almost as likely had any one person's row been left out
#' of the data. Use it as `gan(privacy = dp(epsilon = 1, bounds = ...))`.
#'
#' @section Mechanism:
#' Before training, a share `marginal_share` of the budget releases every column's
#' histogram (over its declared levels, or over bins between its declared bounds, each
#' with a count of missing values) by the Gaussian mechanism: a row adds one to one bin
#' of each column, so the histograms together have L2 sensitivity `sqrt(columns)`, and
#' the noise is set so that this release alone would spend `marginal_share * epsilon`.
#' Numbers are then encoded by their position in their column's released distribution,
#' and the generator starts out drawing the released marginals; after training, its
#' output is calibrated to them (category shares by shifting its output biases, numbers
#' by rank), which is post-processing of released values and costs nothing more.
#'
#' After training, a share `moment_share` of the budget releases the means of simple
#' features of a row (each number's place in its released distribution and its square,
#' indicators of categories and of missing values) and of products of pairs of them
#' from different columns: the moments that linear relations between columns are
#' computed from. Which
#' features, and a bound on the length (L2 norm) of a row's features, follow from the
#' schema, the released histograms and the number of rows alone; each row's features
#' are scaled down to that length before they are summed, so the sums have that
#' sensitivity, and Gaussian noise is set so that this release alone would spend
#' `moment_share * epsilon`. Products are released in order of use to a regression
#' (pairs of numbers first) while the noise on a mean stays below 0.05; when not even
#' the single features fit under it (few rows for the budget), nothing is released and
#' the share goes to training. Synthesis then tilts the generator's draws towards the
#' released means (exponential tilting with a ridge penalty for the noise, by rejection
#' sampling; see `rejection` in [gan_control()] for the non-private counterpart),
#' starting from the generator's own relations or from none at all (every column drawn
#' independently of the others), whichever the tilt brings closer to the released
#' means: post-processing again. `synthesize(rejection = FALSE)` draws from the generator without the tilt.
#'
#' The rest of the budget goes to training the critic.
#'
#' Only the critic sees real rows during training. Each critic update draws every real
#' row independently with probability `q = batch_size / n` (Poisson sampling), computes
#' each row's gradient, scales it down to norm at most `max_grad_norm`, sums, and adds
#' Gaussian noise with standard deviation `noise_multiplier * max_grad_norm` (DP-SGD,
#' Abadi et al. 2016).
#' The generator learns only from the critic, so it and everything it generates are
#' post-processing and cost no further privacy. The privacy loss of all critic updates is
#' tracked, together with the two releases, by a Rényi-DP accountant for the
#' Poisson-subsampled Gaussian mechanism (Mironov, Talwar & Zhang 2019) and converted
#' to (epsilon, delta) with the conversion of Balle et al. (2020). Before training, the
#' noise is calibrated so that the releases and the requested epochs together spend at
#' most `epsilon`; training never takes a step beyond it, and the fit reports the epsilon
#' actually spent (less if training was interrupted).
#'
#' Settings left unset in [gan()] are chosen for a private fit: 50 epochs, batch size
#' 300, a 64 x 64 critic updated once per generator update, learning rate 2e-4 (every
#' update spends budget, and a small critic gives the noise fewer coordinates to swamp).
#' The fit says what it chose; settings you give are kept.
#'
#' What changes in private training: rows are judged one at a time (`pac = 1`); the
#' gradient penalty is taken between pairs of generated rows, so it never touches a real
#' row; conditioning columns (`gan(condition_on =)`) are not allowed (they sample rows by
#' their categories); critic losses on real rows are not reported (the training history
#' shows the generator loss only); the post-fit quality check on the real data is
#' skipped; and a private fit cannot be trained further.
#'
#' @section The guarantee:
#' For any two data sets that differ by adding or removing one row, and that share
#' the public inputs below, the distribution of the fitted model (and so of everything
#' drawn from it) changes by at most a factor `exp(epsilon)`, except with probability
#' `delta`. The fit uses the data only through the histogram release, the critic's
#' DP-SGD updates and the release of feature means.
#'
#' @section What counts as public:
#' The following is treated as public, known before seeing the data, and must be
#' something you are willing to publish:
#' * **the schema**: column names and classes (numeric, integer, logical, factor,
#'   ordered factor, character, Date, POSIXct).
#' * **`levels`** for every factor and character column, from a codebook, never from
#'   the data: a column without declared levels is an error. Values outside the
#'   declared levels are treated as missing; levels nobody in the data has are kept.
#'   The synthetic column has exactly the declared levels. Logical columns have levels
#'   `FALSE`/`TRUE`.
#' * **`bounds`** for every numeric, integer, Date and date-time column: values outside
#'   are clipped to the bounds, and synthetic values stay inside them. Choose them from
#'   domain knowledge (e.g. age 16 to 99), never from the data. Numbers are placed by
#'   their column's released histogram between the bounds (scaled linearly between them
#'   with `marginal_share = 0`; no mode normalisation either way) and doubles are not
#'   rounded to the data's decimal places; integers stay whole. `NaN` and infinite
#'   values are treated as missing (they are errors in non-private fits).
#' * **the number of rows**: `rows` if declared, else the data's row count `n`. It sets
#'   the sampling rate (`batch_size / rows`), the length of an epoch and the default
#'   number of synthetic rows, and the fitted object records it. Without `rows`, `n` is
#'   published as it is; declare `rows` (e.g. the size of the sampling frame) when the
#'   count itself must stay private.
#' Every column gets a missing-value slot, so whether a column has missing values is
#' learned privately rather than read from the data. The number of bins of a numeric
#' column comes from public inputs only (the row count and the noise: about four noise
#' standard deviations of rows per bin, 8 to 32 bins; whole-number columns with fewer
#' values get one bin per value), and bounds that contain zero add a bin of width zero
#' at zero, so exact zeros keep their share. Columns declared in `gan(ids =)` are left
#' out of the model; they are only checked to be complete and unique, and their fresh
#' values read nothing of the data. Nothing else reads the data: the post-fit quality
#' check and the critic's losses on real rows are not computed.
#'
#' @section Randomness:
#' Which rows join an update and the Gaussian noise are drawn from ChaCha20 keyed by the
#' operating system's cryptographic generator, each normal draw the sum of four halved
#' (which hides the gaps floating-point samplers leave; Holohan and Braghin 2021, as in
#' opacus' secure mode). The other draws of a private fit (initial weights, the
#' generator's inputs, dropout) come from the operating system too. So a private fit
#' does **not** depend on [set.seed()]: two fits of the same data differ, and the fitted
#' object holds no seed or anything else that replays training. What stays reproducible
#' is drawing from a fitted model: `synthesize()` and `simulate()` follow `set.seed()`.
#' Nothing here defends against timing or other side channels.
#'
#' @section Several fits on the same data:
#' Every private fit spends privacy, and fits of the same data add up. Give each fit the
#' same [dp_budget()] ledger (`dp(budget =)`): it adds up their Rényi-DP order by order
#' and refuses, before training, a fit that would take the total past the ledger's
#' epsilon. Choosing among private fits by scoring them on the real data is a further
#' use of the data that no ledger sees; choose settings beforehand, or on public or
#' synthetic data.
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
#' @param levels A named list of character vectors: the levels of every factor and
#'   character column, in order.
#' @param rows `NULL`, or the public number of rows that sets the sampling rate and
#'   the epoch length instead of the data's row count (see "What counts as public").
#' @param budget `NULL`, or a [dp_budget()] ledger that this fit is charged to.
#' @param marginal_share Share of `epsilon` spent on releasing the columns' histograms
#'   before training (see "Mechanism"); 0 releases none, and numbers are then scaled
#'   linearly between their bounds.
#' @param moment_share Share of `epsilon` spent on releasing feature means after
#'   training, which synthesis tilts its draws towards (see "Mechanism"); 0 releases
#'   none. Only with a histogram release; the two shares must add up to less than 1.
#' @return An object of class `sygnet_dp`.
#' @references Abadi, M. et al. (2016). Deep learning with differential privacy. *CCS*.
#'
#'   Mironov, I., Talwar, K. & Zhang, L. (2019). Rényi differential privacy of the
#'   sampled Gaussian mechanism. arXiv:1908.10530.
#'
#'   Balle, B., Barthe, G., Gaboardi, M., Hsu, J. & Sato, T. (2020). Hypothesis testing
#'   interpretations and Rényi differential privacy. *AISTATS*.
#'
#'   Holohan, N. & Braghin, S. (2021). Secure random sampling in differential privacy.
#'   *ESORICS*.
#' @seealso [dp_budget()], [dp_epsilon()], [dp_noise_multiplier()], `vignette("privacy")`
#' @examples
#' spec <- gan(epochs = 50, privacy = dp(
#'   epsilon = 1,
#'   bounds = list(Sepal.Length = c(0, 10), Sepal.Width = c(0, 10),
#'                 Petal.Length = c(0, 10), Petal.Width = c(0, 5)),
#'   levels = list(Species = c("setosa", "versicolor", "virginica"))
#' ))
#' spec
#' @export
dp <- function(epsilon, delta = NULL, max_grad_norm = 1, noise_multiplier = NULL,
               bounds = NULL, levels = NULL, rows = NULL, budget = NULL,
               marginal_share = 0.5, moment_share = 0.4) {
  check_positive(epsilon)
  if (!is.null(delta)) {
    if (!is.numeric(delta) || length(delta) != 1L || is.na(delta) || delta <= 0 || delta >= 1) {
      sygnet_abort("{.arg delta} must be a number between 0 and 1.", class = "sygnet_error_input")
    }
  }
  check_positive(max_grad_norm)
  if (!is.null(noise_multiplier)) check_positive(noise_multiplier)
  bounds <- check_bounds(bounds)
  levels <- check_levels(levels)
  if (!is.null(rows)) check_count(rows)
  for (share in c("marginal_share", "moment_share")) {
    value <- get(share)
    if (!is.numeric(value) || length(value) != 1L || is.na(value) || value < 0 || value >= 1) {
      sygnet_abort("{.arg {share}} must be a number at least 0 and below 1.",
                   class = "sygnet_error_input")
    }
  }
  if (marginal_share + moment_share >= 1) {
    sygnet_abort("{.arg marginal_share} and {.arg moment_share} must add up to less than 1: training needs the rest.",
                 class = "sygnet_error_input")
  }
  if (!is.null(budget) && !inherits(budget, "sygnet_dp_budget")) {
    sygnet_abort("{.arg budget} must be a ledger from {.fn dp_budget}.", class = "sygnet_error_input")
  }
  structure(
    list(epsilon = epsilon, delta = delta, max_grad_norm = max_grad_norm,
         noise_multiplier = noise_multiplier, bounds = bounds, levels = levels,
         rows = rows, budget = budget, marginal_share = marginal_share,
         moment_share = moment_share),
    class = "sygnet_dp"
  )
}

# Checks a private spec against the data's schema (never its values) and gives the
# engine's privacy settings, delta filled in.
resolve_privacy <- function(privacy, data, epochs, call = rlang::caller_env()) {
  for (arg in c("bounds", "levels")) {
    unknown <- setdiff(names(privacy[[arg]]), names(data))
    if (length(unknown) > 0L) {
      sygnet_abort("{.arg {arg}} names column{?s} {.field {unknown}}, not in {.arg data}.",
                   class = "sygnet_error_input", call = call)
    }
  }
  categorical <- names(data)[vapply(data, function(x) is.factor(x) || is.character(x), logical(1))]
  undeclared <- setdiff(categorical, names(privacy$levels))
  if (length(undeclared) > 0L) {
    example <- paste0(undeclared[[1]], ' = c("...", "...")')
    sygnet_abort(c(
      "With differential privacy, the levels of {.field {undeclared}} must be declared.",
      "i" = "Levels read from the data would publish values that a single person may hold.",
      "i" = "Declare them from your codebook: {.code dp(levels = list({example}))}."
    ), class = "sygnet_error_input", call = call)
  }
  not_categorical <- setdiff(names(privacy$levels), categorical)
  if (length(not_categorical) > 0L) {
    sygnet_abort("{.arg levels} names {.field {not_categorical}}, not a factor or character column.",
                 class = "sygnet_error_input", call = call)
  }
  list(
    epsilon = privacy$epsilon,
    delta = privacy$delta %||% min(1e-5, 0.1 / public_rows(privacy, data)),
    max_grad_norm = privacy$max_grad_norm,
    noise_multiplier = privacy$noise_multiplier,
    epochs = epochs,
    bounds = privacy$bounds,
    levels = privacy$levels,
    rows = privacy$rows,
    marginal_share = privacy$marginal_share %||% 0,
    moment_share = privacy$moment_share %||% 0
  )
}

# The row count a private fit treats as public.
public_rows <- function(privacy, data) privacy$rows %||% nrow(data)

# A zero-row frame of the data as a private fit declares it: factors with their
# declared levels.
private_template <- function(data, privacy) {
  template <- data[0L, , drop = FALSE]
  for (v in names(privacy$levels)) {
    if (is.factor(template[[v]])) {
      template[[v]] <- factor(character(), levels = privacy$levels[[v]],
                              ordered = is.ordered(template[[v]]))
    }
  }
  template
}

#' @export
print.sygnet_dp <- function(x, ...) {
  say("{.strong Differential privacy} ({.cls sygnet_dp}): epsilon {x$epsilon}, delta {if (is.null(x$delta)) 'chosen at fit' else x$delta}, max_grad_norm {x$max_grad_norm}")
  if (length(x$bounds)) say("Bounds for {.field {names(x$bounds)}}")
  if (length(x$levels)) say("Levels declared for {.field {names(x$levels)}}")
  if (!is.null(x$rows)) say("Public number of rows: {x$rows}")
  if (!is.null(x$budget)) say("Charged to a budget of epsilon {x$budget$epsilon}")
  invisible(x)
}

#' A privacy budget shared by several fits
#'
#' Fits of the same data add up: two fits at epsilon 1 together reveal more than one.
#' A ledger made by `dp_budget()` and given to each private fit (`dp(budget =)`) keeps
#' the total in check: every fit charged to it records its noise multiplier, sampling
#' rate and critic updates; the ledger adds their Rényi-DP order by order (tighter
#' than adding epsilons) and converts the sum at the ledger's `delta`. A fit that would
#' take the total past `epsilon` is refused before it touches the data. The full
#' planned number of updates is charged, also when a fit is interrupted or fails.
#'
#' The ledger is an environment: every copy refers to the same record. Save it with
#' [saveRDS()] to carry it between sessions.
#'
#' @param epsilon The total budget for every fit charged to the ledger.
#' @param delta The delta of the total guarantee.
#' @return `dp_budget()`: an object of class `sygnet_dp_budget`. `dp_budget_spent()`:
#'   the epsilon spent so far.
#' @seealso [dp()]
#' @examples
#' budget <- dp_budget(epsilon = 2)
#' budget
#' dp_budget_spent(budget)
#' @export
dp_budget <- function(epsilon, delta = 1e-5) {
  check_positive(epsilon)
  if (!is.numeric(delta) || length(delta) != 1L || is.na(delta) || delta <= 0 || delta >= 1) {
    sygnet_abort("{.arg delta} must be a number between 0 and 1.", class = "sygnet_error_input")
  }
  ledger <- new.env(parent = emptyenv())
  ledger$epsilon <- epsilon
  ledger$delta <- delta
  ledger$uses <- data.frame(fit = integer(), noise_multiplier = numeric(),
                            sample_rate = numeric(), critic_updates = numeric())
  class(ledger) <- "sygnet_dp_budget"
  ledger
}

#' @rdname dp_budget
#' @param budget A `sygnet_dp_budget`.
#' @export
dp_budget_spent <- function(budget) {
  if (!inherits(budget, "sygnet_dp_budget")) {
    sygnet_abort("{.arg budget} must be a ledger from {.fn dp_budget}.", class = "sygnet_error_input")
  }
  composed_epsilon(budget$uses, budget$delta)
}

composed_epsilon <- function(uses, delta) {
  native(rs_dp_epsilon_composed(as.double(uses$noise_multiplier), as.double(uses$sample_rate),
                                as.double(uses$critic_updates), delta))
}

# Records a private fit's releases and planned critic updates in its ledger,
# or refuses the fit.
charge_budget <- function(budget, privacy, call = rlang::caller_env()) {
  recorded <- budget$uses
  if (is.null(recorded$fit)) recorded <- cbind(fit = seq_len(nrow(recorded)), recorded)
  fit <- ledger_fits(recorded) + 1L
  use <- data.frame(fit = fit, noise_multiplier = privacy$noise_multiplier,
                    sample_rate = privacy$sample_rate,
                    critic_updates = privacy$max_critic_updates)
  releases <- c(privacy$marginal_noise, privacy$moment_noise %||% NA_real_)
  releases <- releases[!is.na(releases)]
  if (length(releases)) {
    release <- data.frame(fit = fit, noise_multiplier = releases, sample_rate = 1,
                          critic_updates = 1)
    use <- rbind(release, use)
  }
  uses <- rbind(recorded, use)
  total <- composed_epsilon(uses, budget$delta)
  if (total > budget$epsilon) {
    sygnet_abort(c(
      "This fit would take the privacy budget past epsilon {budget$epsilon}.",
      "i" = "Spent so far: {signif(dp_budget_spent(budget), 3)}; with this fit: {signif(total, 3)} (at delta {budget$delta}).",
      "i" = "Give this fit a smaller epsilon, or leave the data alone."
    ), class = c("sygnet_error_budget", "sygnet_error_input"), call = call)
  }
  budget$uses <- uses
  invisible(total)
}

# Fits recorded in a ledger's uses (each fit is one to three uses: its histogram and
# feature-mean releases and its critic updates; ledgers from before the releases have
# one use per fit).
ledger_fits <- function(uses) {
  if (is.null(uses$fit)) nrow(uses) else length(unique(uses$fit))
}

#' @export
print.sygnet_dp_budget <- function(x, ...) {
  say("{.strong Privacy budget} ({.cls sygnet_dp_budget}): epsilon {signif(dp_budget_spent(x), 3)} spent of {x$epsilon} at delta {x$delta}, over {ledger_fits(x$uses)} fit{?s}")
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
#' `batch_size / n`, besides one unsampled release of the column histograms and at
#' most one of feature means (see [dp()]).
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

