#' Hand synthetic data to synthpop
#'
#' Wraps sygnet output as a `synds` object of the synthpop package, so that synthpop's
#' `compare()`, `utility.gen()`, `lm.synds()`, `glm.synds()` and `summary()` of their
#' fits work on it. Every column is marked as synthesised by method `"sygnet"`; the
#' synthesis counts as non-proper (`proper = FALSE`), which is what a single fitted
#' generator gives (see [pool_synthetic()]).
#'
#' @param synthetic A data frame or a list of them (from [simulate()][simulate.sygnet_fit]).
#' @param data The real data frame.
#' @return An object of class `synds`.
#' @examples
#' \donttest{
#' if (requireNamespace("synthpop", quietly = TRUE)) {
#'   set.seed(1)
#' fitted <- fit(gan(epochs = 50), mtcars)
#'   sds <- as_synds(simulate(fitted, nsim = 3, seed = 2), mtcars)
#'   summary(synthpop::lm.synds(mpg ~ wt, data = sds))
#' }
#' }
#' @export
as_synds <- function(synthetic, data) {
  check_data(data)
  data <- as.data.frame(data)
  sets <- synthetic_sets(synthetic, data)
  vars <- names(data)
  p <- length(vars)
  structure(
    list(
      call = match.call(),
      m = length(sets),
      syn = if (length(sets) == 1L) sets[[1]] else sets,
      method = stats::setNames(rep("sygnet", p), vars),
      visit.sequence = stats::setNames(seq_len(p), vars),
      predictor.matrix = matrix(0L, p, p, dimnames = list(vars, vars)),
      smoothing = stats::setNames(rep("", p), vars),
      event = stats::setNames(rep(0L, p), vars),
      denom = stats::setNames(rep(0L, p), vars),
      proper = FALSE,
      n = nrow(data),
      k = nrow(sets[[1]]),
      rules = stats::setNames(as.list(rep("", p)), vars),
      rvalues = stats::setNames(as.list(rep(NA, p)), vars),
      cont.na = stats::setNames(as.list(rep(NA, p)), vars),
      semicont = stats::setNames(as.list(rep(NA, p)), vars),
      drop.not.used = FALSE,
      drop.pred.only = FALSE,
      models = NULL,
      seed = NA,
      var.lab = NULL,
      val.lab = NULL,
      obs.vars = vars,
      numtocat = NULL,
      catgroups = NULL
    ),
    class = "synds"
  )
}
