# Training and generation speed, and peak memory, of sygnet on simulated mixed data.
# Usage: Rscript bench/speed.R [quick|full] [threads]
#   quick: n = 1e3, 1e4, 1e5 rows, at most 60 timed steps, 200,000 generated rows,
#          1,000,000 rows streamed by synthesize_chunks()
#   full:  n = 1e3 ... 1e6 rows, at most 200 timed steps, 1,000,000 generated rows,
#          10,000,000 rows streamed
# Every configuration runs in its own Rscript process, so that the peak resident
# memory (VmHWM from /proc/self/status, Linux only) belongs to that configuration.
# Training is timed through the package's internal session functions (see
# time_training() in helpers.R).

args <- commandArgs(TRUE)
script <- normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)))
source(file.path(dirname(script), "helpers.R"))

BATCH <- 500L
CRITIC_STEPS <- 1L
WARMUP_STEPS <- 3L

# Child tasks ------------------------------------------------------------------------

# Only loads sygnet: the memory floor of any R process that uses it.
child_baseline <- function() {
  suppressPackageStartupMessages(loadNamespace("sygnet"))
  list(peak_mib = memory_mib())
}

# Times training steps on n x p simulated rows; records memory.
child_train <- function(n, p, threads, max_steps, min_steps) {
  suppressPackageStartupMessages(loadNamespace("sygnet"))
  data <- sim_data(n, p)
  data_mib <- as.numeric(utils::object.size(data)) / 2^20
  baseline_mib <- memory_mib()
  set.seed(2)
  t <- time_training(data, bench_spec(BATCH, CRITIC_STEPS), threads, min_steps, max_steps,
                     WARMUP_STEPS)
  ns <- asNamespace("sygnet")
  # fit() ends with this check; it is part of a fit's memory.
  check <- elapsed(ns$rs_check_fit(t$model, ns$as_columns(data), nrow(data), 1, threads))
  list(n = n, p = p, width = t$width, batch = t$batch, per_epoch = t$per_epoch,
       steps = t$steps, wall = t$wall, cpu = t$cpu,
       setup_s = t$setup_s, check_s = check[["wall"]], model_bytes = length(t$model),
       data_mib = data_mib, baseline_mib = baseline_mib, peak_mib = memory_mib())
}

# Fits one epoch on 10,000 rows (the public fit()), then times synthesize() straight from
# the generator and with the rejection sampler.
child_generate <- function(p, n_gen, threads) {
  suppressPackageStartupMessages(loadNamespace("sygnet"))
  data <- sim_data(10000L, p)
  set.seed(3)
  # One epoch: the closing check may find collapsed columns, which is beside the point.
  fitting <- elapsed(model <- suppressWarnings(
    sygnet::fit(bench_spec(BATCH, CRITIC_STEPS), data, threads = threads, verbose = FALSE),
    classes = "sygnet_warning_collapse"
  ))
  invisible(sygnet::synthesize(model, n = 1000L, threads = threads))
  before_mib <- memory_mib()
  timed <- elapsed(syn <- sygnet::synthesize(model, n = n_gen, threads = threads,
                                             rejection = FALSE))
  stopifnot(nrow(syn) == n_gen, ncol(syn) == p)
  screened <- elapsed(sygnet::synthesize(model, n = n_gen, threads = threads))
  list(p = p, n_gen = n_gen, width = summary(model)$encoded_width, wall = timed[["wall"]],
       screened_wall = screened[["wall"]],
       cpu = timed[["cpu"]], fit_s = fitting[["wall"]], fit_steps = nrow(model$history) *
         ceiling(10000 / BATCH), before_mib = before_mib, peak_mib = memory_mib(),
       out_mib = as.numeric(utils::object.size(syn)) / 2^20)
}

# Fits one epoch on 10,000 rows (no rejection sampler, whose fitting would set the
# process's memory peak), then streams n_stream rows through synthesize_chunks()
# (straight from the generator) to a writer that only counts them: the memory of a draw
# too large to hold.
child_stream <- function(p, n_stream, threads) {
  suppressPackageStartupMessages(loadNamespace("sygnet"))
  data <- sim_data(10000L, p)
  set.seed(3)
  model <- suppressWarnings(
    sygnet::fit(bench_spec(BATCH, CRITIC_STEPS, rejection = FALSE), data, threads = threads,
                verbose = FALSE),
    classes = "sygnet_warning_collapse"
  )
  before_mib <- memory_mib()
  written <- 0
  timed <- elapsed(sygnet::synthesize_chunks(model, n_stream, function(rows) {
    written <<- written + nrow(rows)
  }, threads = threads, rejection = FALSE))
  stopifnot(written == n_stream)
  list(p = p, n_stream = n_stream, wall = timed[["wall"]], before_mib = before_mib,
       peak_mib = memory_mib(), whole_mib = n_stream * as.numeric(utils::object.size(data)) /
         nrow(data) / 2^20)
}

if (length(args) && args[[1]] == "--child") {
  task <- args[[2]]
  out <- args[[length(args)]]
  a <- as.numeric(args[-c(1, 2, length(args))])
  result <- switch(task,
    baseline = child_baseline(),
    train = child_train(as.integer(a[1]), as.integer(a[2]), as.integer(a[3]), as.integer(a[4]), as.integer(a[5])),
    generate = child_generate(as.integer(a[1]), as.integer(a[2]), as.integer(a[3])),
    stream = child_stream(as.integer(a[1]), a[2], as.integer(a[3]))
  )
  saveRDS(result, out)
  quit(save = "no")
}

# Parent ------------------------------------------------------------------------------

mode <- if (length(args) >= 1) match.arg(args[[1]], c("quick", "full")) else "quick"
threads <- if (length(args) >= 2) as.integer(args[[2]]) else 1L
sizes <- if (mode == "full") c(1e3, 1e4, 1e5, 1e6) else c(1e3, 1e4, 1e5)
widths <- c(10L, 50L)
max_steps <- if (mode == "full") 200L else 60L
min_steps <- if (mode == "full") 100L else 30L
n_gen <- if (mode == "full") 1e6 else 2e5
n_stream <- if (mode == "full") 1e7 else 1e6

run_child <- function(task, ...) {
  out <- tempfile(fileext = ".rds")
  on.exit(unlink(out))
  status <- system2(file.path(R.home("bin"), "Rscript"),
                    c(shQuote(script), "--child", task, vapply(c(...), format, "", scientific = FALSE), shQuote(out)),
                    env = paste0("R_LIBS=", shQuote(paste(.libPaths(), collapse = .Platform$path.sep))))
  if (status != 0 || !file.exists(out)) stop("benchmark child '", task, "' failed (status ", status, ")")
  readRDS(out)
}

fmt <- function(x, digits = 3) formatC(x, digits = digits, format = "fg", big.mark = ",")
say <- function(...) cat(..., "\n", sep = "")

say("sygnet ", as.character(utils::packageVersion("sygnet")), " speed benchmark (", mode, " mode), ",
    threads, " thread", if (threads > 1) "s", ", ", format(Sys.time(), "%Y-%m-%d %H:%M"))
say("Model: generator 256 x 256, critic 256 x 256, no attention, no generator dropout, ",
    "batch ", BATCH, ", WGAN-GP, critic_steps = ", CRITIC_STEPS,
    " (one critic update per generator update, as in SyGNet-py; sygnet's default is 3), ",
    "other gan_control() settings at their defaults (pac 10).")
say("Data: simulated, mixed numeric / integer / factor / logical columns with NA (sim_data() in bench/helpers.R).")
say("Timings are wall-clock and depend on what else the machine is doing.\n")

base <- run_child("baseline")
train <- list()
for (n in sizes) for (p in widths) {
  message("training: n = ", format(n, big.mark = ",", scientific = FALSE), ", ", p, " columns")
  train[[length(train) + 1]] <- run_child("train", n, p, threads, max_steps, min_steps)
}
train <- do.call(rbind, lapply(train, as.data.frame))
train$step_ms <- 1000 * train$wall / train$steps
train$epoch_s <- train$wall / train$steps * train$per_epoch
train$cpu_epoch_s <- train$cpu / train$steps * train$per_epoch
train$rows_s <- train$n / train$epoch_s
train$timed <- ifelse(train$steps >= train$per_epoch,
                      sprintf("%d epoch%s", train$steps %/% train$per_epoch,
                              ifelse(train$steps %/% train$per_epoch > 1, "s", "")),
                      sprintf("%d steps, scaled", train$steps))

say("Training time (steps timed after ", WARMUP_STEPS, " warm-up steps; for large n a fixed number of steps ",
    "is timed and scaled to steps/epoch: 'scaled'):")
print(data.frame(
  rows = format(train$n, big.mark = ",", scientific = FALSE), cols = train$p,
  encoded_width = train$width, steps_per_epoch = train$per_epoch, timed = train$timed,
  ms_per_step = fmt(train$step_ms), s_per_epoch = fmt(train$epoch_s),
  cpu_s_per_epoch = fmt(train$cpu_epoch_s),
  rows_per_s = format(round(train$rows_s), big.mark = ","),
  setup_s = fmt(train$setup_s, 2)
), row.names = FALSE, right = TRUE)
say("setup_s: encoding the data and building the networks (before the first step), not per epoch.\n")

say("Scaling of epoch time:")
for (p in widths) {
  d <- train[train$p == p, ]
  r <- d$epoch_s[-1] / d$epoch_s[-nrow(d)]
  say("  ", p, " columns, per 10x rows: ", paste(sprintf("%s->%s: x%.1f",
      format(d$n[-nrow(d)], scientific = TRUE), format(d$n[-1], scientific = TRUE), r), collapse = ", "))
}
for (n in sizes) {
  d <- train[train$n == n, ]
  say("  ", format(n, big.mark = ",", scientific = FALSE), " rows, 50 vs 10 columns: x",
      sprintf("%.2f", d$epoch_s[d$p == 50] / d$epoch_s[d$p == 10]),
      " (encoded width ", d$width[d$p == 50], " vs ", d$width[d$p == 10], ")")
}

say("\nPeak memory (VmHWM, MiB) of each training process, covering data set-up, encoding, ",
    "the timed steps and fit()'s closing check. R floor (Rscript that only loads sygnet): ",
    fmt(base$peak_mib, 3), " MiB.")
say("baseline = VmHWM after loading sygnet and simulating the data, before training. ",
    "encoded = rows x encoded width x 4 bytes (exact width from the model). model = bytes of fit$model.")
enc_mib <- train$n * train$width * 4 / 2^20
model_mib <- train$model_bytes / 2^20
print(data.frame(
  rows = format(train$n, big.mark = ",", scientific = FALSE), cols = train$p,
  R_data = fmt(train$data_mib), baseline = fmt(train$baseline_mib), peak = fmt(train$peak_mib),
  increment = fmt(train$peak_mib - train$baseline_mib), encoded = fmt(enc_mib),
  model = fmt(model_mib),
  peak_ratio = sprintf("%.1f", train$peak_mib / (enc_mib + model_mib)),
  increment_ratio = sprintf("%.2f", (train$peak_mib - train$baseline_mib) / (enc_mib + model_mib))
), row.names = FALSE, right = TRUE)
say("peak_ratio = peak / (encoded + model); increment_ratio = (peak - baseline) / (encoded + model).\n")

gen <- list()
for (p in c(10L, 20L, 50L)) {
  message("generation: ", p, " columns")
  gen[[length(gen) + 1]] <- run_child("generate", p, n_gen, threads)
}
gen <- do.call(rbind, lapply(gen, as.data.frame))
say("Generation: synthesize() of ", format(n_gen, big.mark = ",", scientific = FALSE),
    " rows into a data frame, from a model fitted for one epoch on 10,000 simulated rows:")
print(data.frame(
  cols = gen$p, encoded_width = gen$width, seconds = fmt(gen$wall),
  rows_per_s = format(round(gen$n_gen / gen$wall), big.mark = ","),
  screened_rows_per_s = format(round(gen$n_gen / gen$screened_wall), big.mark = ","),
  cpu_s = fmt(gen$cpu), output_MiB = fmt(gen$out_mib),
  peak_MiB = fmt(gen$peak_mib), increment_MiB = fmt(gen$peak_mib - gen$before_mib),
  fit_1_epoch_s = fmt(gen$fit_s, 2)
), row.names = FALSE, right = TRUE)
g20 <- gen[gen$p == 20, ]
say("20 columns: ", format(round(g20$n_gen / g20$wall), big.mark = ","), " rows/s (target: >= 1,000,000 rows/s).")
say("rows_per_s: synthesize(rejection = FALSE), straight from the generator; screened_rows_per_s: ",
    "the default, with the rejection sampler (not in the memory figures). ",
    "increment_MiB: peak during synthesize() minus VmHWM before it (0 if the fit itself peaked higher). ",
    "fit_1_epoch_s: the public fit() for one epoch (20 steps), including encoding and its closing check.")

message("streaming")
st <- run_child("stream", 10L, n_stream, threads)
say("\nStreaming: synthesize_chunks() of ", format(n_stream, big.mark = ",", scientific = FALSE),
    " rows of 10 columns in chunks of 100,000 (straight from the generator): ",
    fmt(st$wall), " s (", format(round(n_stream / st$wall), big.mark = ","), " rows/s); ",
    "peak memory ", fmt(st$peak_mib), " MiB (", fmt(st$before_mib), " before the draw), ",
    "against about ", fmt(st$whole_mib), " MiB for the rows as one data frame.")

# The floor of a training step: its matrix products alone (the engine's step_time
# example records one step's products and runs them on one thread).
manifest <- file.path(dirname(dirname(script)), "src", "rust", "Cargo.toml")
if (nzchar(Sys.which("cargo")) && file.exists(manifest)) {
  message("gemm-only time")
  out <- system2("cargo", c("run", "--release", "--quiet", "--manifest-path", shQuote(manifest),
                            "-p", "sygnet-core", "--example", "step_time", "--", "7425", "100",
                            "500", threads), stdout = TRUE)
  say("\nA training step against its matrix products alone (default gan() settings, 7,425 ",
      "simulated rows, batch 500, ", threads, " thread(s)):")
  cat(out, sep = "\n")
} else {
  say("\n(gemm-only time skipped: it needs cargo and the package's source tree)")
}
