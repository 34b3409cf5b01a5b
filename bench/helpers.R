# Shared by the speed benchmarks (speed.R, compare-python.R).

# Simulated mixed-type data: deterministic for a given seed; leaves the caller's
# random number state alone.
#
# Columns cycle through ten kinds, so every block of ten holds four numeric columns
# (skewed with NA, three-mode, normal with NA, zero-inflated), two integer columns,
# two factors (4 levels; 12 levels with NA) and two logicals (one with NA). A shared
# latent variable ties the columns together.
sim_data <- function(n, p, seed = 1L) {
  n <- as.integer(n)
  with_seed <- function(code) {
    if (exists(".Random.seed", globalenv())) {
      saved <- get(".Random.seed", globalenv())
      on.exit(assign(".Random.seed", saved, globalenv()))
    } else {
      on.exit(rm(".Random.seed", envir = globalenv()))
    }
    set.seed(seed)
    code
  }
  with_seed({
    z <- stats::rnorm(n)
    add_na <- function(x, rate) { x[stats::runif(n) < rate] <- NA; x }
    make <- function(kind) {
      switch(kind,
        add_na(round(exp(1 + 0.8 * z + stats::rnorm(n, sd = 0.6)), 2), 0.05),
        {
          mode <- sample.int(3L, n, replace = TRUE, prob = c(0.5, 0.3, 0.2))
          round(c(-4, 0, 5)[mode] + 0.5 * z + stats::rnorm(n, sd = c(0.5, 1, 0.7)[mode]), 3)
        },
        as.integer(stats::rpois(n, exp(0.5 + 0.4 * z))),
        factor(sample(c("a", "b", "c", "d"), n, replace = TRUE, prob = c(0.4, 0.3, 0.2, 0.1))),
        stats::runif(n) < stats::plogis(z),
        add_na(round(10 + 3 * z + stats::rnorm(n), 1), 0.10),
        as.integer(pmin(90, pmax(18, round(45 + 12 * z + stats::rnorm(n, sd = 8))))),
        add_na(factor(paste0("L", pmin(12L, pmax(1L, round(6.5 + 2 * z + stats::rnorm(n, sd = 2))))),
                      levels = paste0("L", 1:12)), 0.03),
        ifelse(stats::runif(n) < 0.3, 0, round(stats::rlnorm(n, 10 + 0.3 * z, 0.7))),
        add_na(stats::runif(n) < 0.2, 0.05)
      )
    }
    cols <- lapply(seq_len(p), function(j) make((j - 1L) %% 10L + 1L))
    names(cols) <- sprintf("x%02d", seq_len(p))
    as.data.frame(cols)
  })
}

# The benchmark model: two hidden layers of 256 in both networks, no attention, no
# generator dropout, WGAN-GP; other gan_control() settings at their defaults.
bench_spec <- function(batch = 500L, critic_steps = 1L, pac = 10L,
                       numeric_encoding = "modes", epochs = 1L, rejection = TRUE) {
  sygnet::gan(epochs = epochs, batch_size = batch, generator = c(256L, 256L),
              critic = c(256L, 256L), attention = FALSE, dropout = 0,
              learning_rate = 1e-3, loss = "wgan-gp",
              control = sygnet::gan_control(critic_steps = critic_steps, pac = pac,
                                            numeric_encoding = numeric_encoding,
                                            rejection = rejection))
}

# An 80% sample (seed 42) of AER's CPS1988, a 7-column wage survey: 22,524 rows.
cps1988 <- function() {
  utils::data("CPS1988", package = "AER", envir = environment())
  rows <- withr::with_seed(42, sample(nrow(CPS1988), round(0.8 * nrow(CPS1988))))
  CPS1988[sort(rows), ]
}

# Peak (VmHWM) or current (VmRSS) resident memory of this process in MiB (Linux).
memory_mib <- function(field = "VmHWM") {
  if (!file.exists("/proc/self/status")) return(NA_real_)
  line <- grep(paste0("^", field, ":"), readLines("/proc/self/status"), value = TRUE)
  as.numeric(gsub("[^0-9]", "", line)) / 1024
}

# Wall-clock and CPU (user + system, all threads) seconds of evaluating `expr`.
elapsed <- function(expr) {
  t0 <- proc.time()
  force(expr)
  t <- proc.time() - t0
  c(wall = t[["elapsed"]], cpu = t[["user.self"]] + t[["sys.self"]])
}

# Times training steps the way fit() runs them, through the package's internal
# session functions (they may change between versions), so that a fixed number of
# steps can be timed. After `warmup` steps, times `epochs` epochs if given; otherwise
# whole epochs (at least `min_steps` steps) when an epoch has at most `max_steps`
# steps, else `max_steps` steps. Returns the timings and the model's bytes.
time_training <- function(data, spec, threads, min_steps = 0L, max_steps = Inf,
                          warmup = 3L, epochs = NULL) {
  ns <- asNamespace("sygnet")
  old <- Sys.getenv("RAYON_NUM_THREADS", NA)
  Sys.setenv(RAYON_NUM_THREADS = threads)
  on.exit(if (is.na(old)) Sys.unsetenv("RAYON_NUM_THREADS") else Sys.setenv(RAYON_NUM_THREADS = old))
  setup <- elapsed(session <- ns$rs_session_new(
    ns$as_columns(data), nrow(data), ns$engine_config(spec), NULL, ns$native_seed(),
    threads, "cpu"))
  info <- ns$rs_session_info(session)
  per_epoch <- as.integer(info$steps_per_epoch)
  ns$rs_session_train(session, warmup)
  steps <- if (!is.null(epochs)) {
    per_epoch * epochs
  } else if (per_epoch <= max_steps) {
    per_epoch * max(1L, ceiling(min_steps / per_epoch))
  } else {
    max_steps
  }
  timed <- elapsed(losses <- ns$rs_session_train(session, steps))
  if (!all(is.finite(losses))) stop("training diverged during the benchmark")
  model <- ns$rs_session_model(session)
  list(per_epoch = per_epoch, batch = info$batch_size, steps = steps,
       wall = timed[["wall"]], cpu = timed[["cpu"]], setup_s = setup[["wall"]],
       epoch_s = timed[["wall"]] / steps * per_epoch,
       cpu_epoch_s = timed[["cpu"]] / steps * per_epoch,
       width = ns$rs_model_info(model)$encoded_width, model = model)
}
