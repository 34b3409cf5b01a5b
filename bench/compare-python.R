# Seconds per training epoch: sygnet against SyGNet-py (PyPI sygnet 0.0.13), same
# data, batch size, epochs, thread count, hidden layers and one critic update per
# generator update.
# Usage: Rscript bench/compare-python.R [threads] [epochs] [batch]
# Needs the Python environment made by bench/sygnet-py/setup.sh: by default
# bench/sygnet-py/.venv, or the Python interpreter named in SYGNET_PY.
args <- commandArgs(TRUE)
threads <- if (length(args) >= 1) as.integer(args[[1]]) else 1L
epochs <- if (length(args) >= 2) as.integer(args[[2]]) else 3L
batch <- if (length(args) >= 3) as.integer(args[[3]]) else 500L

here <- dirname(normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))))
python <- Sys.getenv("SYGNET_PY", file.path(here, "sygnet-py", ".venv", "bin", "python"))
if (!file.exists(python)) {
  cat("SyGNet-py is not installed, so there is nothing to compare with. Create its environment with\n",
      "  bash bench/sygnet-py/setup.sh            # into bench/sygnet-py/.venv\n",
      "or, elsewhere, bash bench/sygnet-py/setup.sh DIR and then SYGNET_PY=DIR/bin/python.\n", sep = "")
  quit(save = "no", status = 0)
}
source(file.path(here, "helpers.R"))
invisible(suppressPackageStartupMessages(loadNamespace("sygnet")))

slid <- function() {
  utils::data("SLID", package = "carData", envir = environment())
  SLID
}
sets <- list(
  "CPS1988 (AER) 22,524 x 7" = cps1988,
  "simulated 10,000 x 10" = function() sim_data(1e4, 10),
  "simulated 10,000 x 50" = function() sim_data(1e4, 50),
  "SLID (carData) 7,425 x 5" = slid
)
if (!requireNamespace("carData", quietly = TRUE)) sets[["SLID (carData) 7,425 x 5"]] <- NULL
if (!requireNamespace("AER", quietly = TRUE)) sets[["CPS1988 (AER) 22,524 x 7"]] <- NULL

# sygnet variants: the benchmark model of speed.R (critic on packs of 10 rows), the
# critic on single rows like SyGNet-py's (pac 1), and that with SyGNet-py's min-max
# scaling of numeric columns instead of mixture modes (narrower encoding).
variants <- list(
  "sygnet, pac 10" = list(pac = 10L, numeric_encoding = "modes"),
  "sygnet, pac 1" = list(pac = 1L, numeric_encoding = "modes"),
  "sygnet, pac 1, min-max" = list(pac = 1L, numeric_encoding = "minmax")
)

py_epoch <- function(data) {
  csv <- tempfile(fileext = ".csv")
  on.exit(unlink(csv))
  utils::write.csv(data, csv, row.names = FALSE, na = "")
  out <- suppressWarnings(system2(
    python,
    c(shQuote(file.path(here, "sygnet-py", "epoch_time.py")), shQuote(csv),
      "--epochs", epochs, "--batch", batch, "--threads", threads),
    stdout = TRUE, env = "OMP_WAIT_POLICY=PASSIVE"))
  json <- grep("^\\{", out, value = TRUE)
  if (!length(json)) stop("SyGNet-py failed:\n", paste(out, collapse = "\n"))
  json <- json[[length(json)]]
  num <- function(key) as.numeric(sub(paste0('.*"', key, '": ([-0-9.e+]+).*'), "\\1", json))
  list(epoch_s = num("seconds_per_epoch"), cpu_epoch_s = num("cpu_seconds_per_epoch"),
       width = num("encoded_width"), per_epoch = num("steps_per_epoch"),
       torch = sub('.*"torch": "([^"]+)".*', "\\1", json))
}

cat("Seconds per training epoch, sygnet ", as.character(utils::packageVersion("sygnet")),
    " vs SyGNet-py 0.0.13, ", format(Sys.time(), "%Y-%m-%d %H:%M"), "\n",
    "Settings for both: ", threads, " thread", if (threads > 1) "s", ", batch ", batch,
    ", ", epochs, " timed epoch", if (epochs > 1) "s", " after warm-up, two hidden layers of 256 in ",
    "generator and critic, no attention, WGAN-GP, one critic update per generator update, ",
    "generator dropout 0, critic dropout 0.2, learning rate 1e-3.\n",
    "SyGNet-py runs with OMP_WAIT_POLICY=PASSIVE; its time counts its training function ",
    "(its per-row data loader included), not its preprocessing. Wall-clock timings on a ",
    "shared machine are noisy.\n\n", sep = "")

rows <- list()
for (name in names(sets)) {
  data <- sets[[name]]()
  message("SyGNet-py: ", name)
  py <- py_epoch(data)
  rows[[length(rows) + 1]] <- data.frame(
    data = name, engine = paste0("SyGNet-py (torch ", py$torch, ")"), width = py$width,
    steps_per_epoch = py$per_epoch, s_per_epoch = py$epoch_s, cpu_s_per_epoch = py$cpu_epoch_s,
    py_over_sygnet = NA_real_)
  for (v in names(variants)) {
    message(v, ": ", name)
    set.seed(1)
    spec <- bench_spec(batch, critic_steps = 1L, pac = variants[[v]]$pac,
                       numeric_encoding = variants[[v]]$numeric_encoding)
    t <- time_training(data, spec, threads, epochs = epochs)
    rows[[length(rows) + 1]] <- data.frame(
      data = name, engine = v, width = t$width, steps_per_epoch = t$per_epoch,
      s_per_epoch = t$epoch_s, cpu_s_per_epoch = t$cpu_epoch_s,
      py_over_sygnet = py$epoch_s / t$epoch_s)
  }
}
res <- do.call(rbind, rows)
res$s_per_epoch <- signif(res$s_per_epoch, 3)
res$cpu_s_per_epoch <- signif(res$cpu_s_per_epoch, 3)
res$py_over_sygnet <- ifelse(is.na(res$py_over_sygnet), "", sprintf("%.2f", res$py_over_sygnet))
print(res, row.names = FALSE, right = FALSE)
cat("\npy_over_sygnet: SyGNet-py's seconds per epoch divided by sygnet's (above 1: sygnet is faster;",
    "the target is 5). width: encoded columns each engine trains on.\n")
