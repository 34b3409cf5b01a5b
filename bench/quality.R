# Quality of sygnet's default GAN against a sequential CART synthesiser and against real
# rows, on the benchmark's data sets (datasets.R), in one run.
# Usage: Rscript bench/quality.R [epochs|default] [threads] [data sets...] [--epsilon=E]
#                                [--seed=S] [--draws=D] [--no-rejection]
#
# --seed=S seeds both generators with S instead of 1 (the split stays the same), for a
# second run that shows the run-to-run spread; --no-rejection fits sygnet without its
# rejection sampler (gan_control(rejection = FALSE)), for the ablation. --draws=D
# (default 3): ci_overlap and signs are averaged over D synthetic data sets drawn from
# the one fitted model (CART: D draws from its one set of trees), since a single draw's
# regression moves by up to 0.3 in overlap; the other measures score the first draw.
#
# With --epsilon=E, sygnet fits with differential privacy at that epsilon (the CART
# baseline and the holdout stay as they are). A private fit needs a public codebook:
# these data sets are public, so the factor levels are taken from the whole data set
# and the numeric bounds from its range widened by a tenth on each side; for protected
# data both must come from elsewhere (see ?dp).
#
# Each data set is split 80/20 at random; both generators see only the 80% ("train")
# and draw as many rows. Every method's rows are scored against train by utility() and
# disclosure_risk(); the 20% holdout is scored the same way as a yardstick (real rows of
# the same population, four times fewer, so its confidence intervals are wider).
# Columns: fit_s seconds to fit; marginal mean marginal similarity (1 is best);
# assoc mean |association difference| (0 is best); rf_auc and logit_auc propensity AUC
# of the random forest and the main-effects logistic model (0.5 is best); ci_overlap
# mean confidence-interval overlap of the published regression and signs the share of
# its coefficients whose sign agrees (1 is best); tstr R^2 or accuracy of predicting the
# regression's response on the holdout, trained on the method's rows, over the same
# trained on train; copies share of rows identical to a train row (holdout: its own
# rate); dcr_ratio median distance to the closest train row over the holdout's (1 is
# ideal, small means copying); mia membership-inference AUC (0.5 is best). A forest AUC
# well below 0.5 also means copying: out-of-bag trees that saw a train row score its
# synthetic copy as real.
args <- commandArgs(TRUE)
epsilon_arg <- grep("^--epsilon=", args, value = TRUE)
epsilon <- if (length(epsilon_arg)) as.numeric(sub("^--epsilon=", "", epsilon_arg)) else NULL
seed_arg <- grep("^--seed=", args, value = TRUE)
seed <- if (length(seed_arg)) as.integer(sub("^--seed=", "", seed_arg)) else 1L
draws_arg <- grep("^--draws=", args, value = TRUE)
draws <- if (length(draws_arg)) as.integer(sub("^--draws=", "", draws_arg)) else 3L
rejection <- !"--no-rejection" %in% args
args <- setdiff(args, c(epsilon_arg, seed_arg, draws_arg, "--no-rejection"))
epochs <- if (length(args) >= 1 && args[[1]] != "default") as.integer(args[[1]]) else NULL
threads <- if (length(args) >= 2) as.integer(args[[2]]) else 2L
wanted <- if (length(args) >= 3) args[-(1:2)] else NULL

here <- dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)))
source(file.path(here, "datasets.R"))
source(file.path(here, "cart.R"))
suppressPackageStartupMessages(library(sygnet))

# `sets`: the method's data sets (the holdout: one); the first is scored on every
# measure, each of them on the regression.
score <- function(method, sets, train, holdout, set, seconds) {
  target <- all.vars(set$formula[[2]])[1]
  rows <- sets[[1]]
  u <- withr::with_seed(1, utility(rows, train, formula = set$formula, family = set$family,
                                   target = target, test = holdout, threads = threads))
  risk <- if (method == "holdout") NULL else
    withr::with_seed(1, disclosure_risk(rows, train, holdout = holdout, threads = threads))
  measure <- function(name, column) {
    if (is.null(risk)) return(NA_real_)
    risk$measures[[column]][risk$measures$measure == name]
  }
  regressions <- c(list(u$regression), lapply(sets[-1], function(rows) {
    sygnet:::regression_table(train, list(rows), set$formula, set$family, NULL)
  }))
  per_draw <- function(column) mean(vapply(regressions, function(r) mean(r[[column]], na.rm = TRUE), 1))
  data.frame(
    method = method, fit_s = round(seconds, 1),
    marginal = mean(u$marginals$similarity, na.rm = TRUE),
    assoc = mean(abs(u$associations$difference), na.rm = TRUE),
    rf_auc = u$propensity$auc[u$propensity$model == "forest"],
    logit_auc = u$propensity$auc[u$propensity$model == "logistic"],
    ci_overlap = per_draw("ci_overlap"),
    signs = per_draw("sign_agrees"),
    tstr = if (method == "holdout") NA_real_ else u$prediction$ratio,
    copies = if (is.null(risk)) measure_holdout_copies(holdout, train) else measure("copies", "synthetic"),
    dcr_ratio = measure("dcr_median", "synthetic") / measure("dcr_median", "reference"),
    mia = measure("membership_auc", "synthetic")
  )
}

# Share of holdout rows identical to a train row: the copy rate real data has anyway.
measure_holdout_copies <- function(holdout, train) {
  key <- function(d) do.call(paste, c(lapply(d, as.character), sep = "\r"))
  mean(key(holdout) %in% key(train))
}

sets <- bench_datasets()
if (!is.null(wanted)) sets <- sets[wanted]
rows <- list()
for (name in names(sets)) {
  set <- sets[[name]]
  real <- set$data()
  parts <- split_set(real)
  train <- parts$train
  holdout <- parts$holdout
  set.seed(seed)
  started <- proc.time()[["elapsed"]]
  privacy <- if (!is.null(epsilon)) {
    codebook <- public_codebook(real)
    dp(epsilon, bounds = codebook$bounds, levels = codebook$levels)
  }
  spec <- gan(epochs = epochs, privacy = privacy, control = gan_control(rejection = rejection))
  model <- fit(spec, train, threads = threads)
  gan_s <- proc.time()[["elapsed"]] - started
  gan_sets <- replicate(draws, synthesize(model), simplify = FALSE)
  started <- proc.time()[["elapsed"]]
  cart_sets <- lapply(seq_len(draws) - 1L, function(i) cart_synthesize(train, seed = seed + 1000L * i))
  cart_s <- (proc.time()[["elapsed"]] - started) / draws
  table <- rbind(
    score("sygnet", gan_sets, train, holdout, set, gan_s),
    score("cart", cart_sets, train, holdout, set, cart_s),
    score("holdout", list(holdout), train, holdout, set, NA_real_)
  )
  rows[[name]] <- cbind(data = name, rows = nrow(train), cols = ncol(train), table)
  print(rows[[name]], row.names = FALSE, digits = 3)
}
all <- do.call(rbind, rows)
cat("\nsygnet", as.character(utils::packageVersion("sygnet")), "- default gan(),",
    if (is.null(epsilon)) "no DP," else paste0("DP at epsilon ", epsilon, ","),
    if (rejection) "rejection sampling," else "no rejection sampling,", "seed", seed, ",",
    "regressions over", draws, "draws,",
    "threads =", threads, "\n")
print(all, row.names = FALSE, digits = 3)
measures <- c("fit_s", "marginal", "assoc", "rf_auc", "logit_auc", "ci_overlap", "signs",
              "tstr", "copies", "dcr_ratio", "mia")
means <- stats::aggregate(all[measures], by = list(method = all$method), FUN = mean,
                          na.rm = TRUE)
cat("\nMeans over", length(rows), "data sets:\n")
print(means[match(c("sygnet", "cart", "holdout"), means$method), ], row.names = FALSE,
      digits = 3)
