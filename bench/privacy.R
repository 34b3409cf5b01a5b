# The utility-privacy curve of private fits: sygnet's default private fit at several
# epsilons on the benchmark's data sets, beside two references on the same 80/20 split:
# the default non-private fit, and independent marginals (every column of the training
# rows resampled on its own: the right marginals and no relations between columns).
# Usage: Rscript bench/privacy.R [threads] [--epsilons=0.5,1,3,10]
#                                [--sets=PSID1976,SLID,penguins,Chile] [--plot=FILE]
#
# Bounds and levels come from public_codebook() (datasets.R). Columns: marginal mean
# marginal similarity, assoc mean |association difference|, ci_overlap mean
# confidence-interval overlap of the set's published regression, signs share of its
# coefficients whose sign agrees, collapsed columns named by the collapse check, mia
# membership-inference AUC against the holdout (0.5 is best), fit_s seconds to fit.
# With --plot, writes the curve (means over the sets) as a PNG.
args <- commandArgs(TRUE)
option <- function(name, default) {
  hit <- grep(paste0("^--", name, "="), args, value = TRUE)
  if (length(hit)) strsplit(sub(paste0("^--", name, "="), "", hit), ",")[[1]] else default
}
epsilons <- as.numeric(option("epsilons", c(0.5, 1, 3, 10)))
wanted <- option("sets", c("PSID1976", "SLID", "penguins", "Chile"))
plot_file <- option("plot", NULL)
positional <- args[!startsWith(args, "--")]
threads <- if (length(positional)) as.integer(positional[[1]]) else 2L

here <- dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)))
source(file.path(here, "datasets.R"))
suppressPackageStartupMessages(library(sygnet))

score <- function(method, epsilon, rows, train, holdout, set, seconds, collapsed) {
  u <- withr::with_seed(1, utility(rows, train, formula = set$formula, family = set$family,
                                   threads = threads))
  risk <- withr::with_seed(1, disclosure_risk(rows, train, holdout = holdout,
                                              threads = threads))
  data.frame(
    method = method, epsilon = epsilon, fit_s = round(seconds, 1),
    marginal = mean(u$marginals$similarity, na.rm = TRUE),
    assoc = mean(abs(u$associations$difference), na.rm = TRUE),
    ci_overlap = mean(u$regression$ci_overlap, na.rm = TRUE),
    signs = mean(u$regression$sign_agrees, na.rm = TRUE),
    collapsed = collapsed,
    mia = risk$measures$synthetic[risk$measures$measure == "membership_auc"]
  )
}

# Fits, draws as many rows as the training set and scores them; collapse warnings are
# counted, not shown.
run <- function(method, epsilon, spec, parts, set) {
  collapsed <- 0L
  started <- proc.time()[["elapsed"]]
  model <- withCallingHandlers(
    fit(spec, parts$train, threads = threads, verbose = FALSE),
    sygnet_warning_collapse = function(w) {
      collapsed <<- length(w$columns)
      invokeRestart("muffleWarning")
    }
  )
  seconds <- proc.time()[["elapsed"]] - started
  score(method, epsilon, synthesize(model), parts$train, parts$holdout, set, seconds,
        collapsed)
}

sets <- bench_datasets()[wanted]
rows <- list()
for (name in names(sets)) {
  set <- sets[[name]]
  real <- set$data()
  parts <- split_set(real)
  codebook <- public_codebook(real)
  set.seed(1)
  table <- do.call(rbind, lapply(epsilons, function(eps) {
    run("sygnet DP", eps, gan(privacy = dp(eps, bounds = codebook$bounds,
                                           levels = codebook$levels)), parts, set)
  }))
  set.seed(1)
  table <- rbind(table, run("sygnet, no DP", Inf, gan(), parts, set))
  independent <- withr::with_seed(1, as.data.frame(lapply(parts$train, function(x) {
    x[sample.int(length(x), replace = TRUE)]
  })))
  table <- rbind(table, score("independent marginals", NA, independent, parts$train,
                              parts$holdout, set, NA, 0L))
  rows[[name]] <- cbind(data = name, table)
  print(rows[[name]], row.names = FALSE, digits = 3)
}
all <- do.call(rbind, rows)
cat("\nsygnet", as.character(utils::packageVersion("sygnet")), "- default gan() and dp(),",
    "threads =", threads, "\n")
print(all, row.names = FALSE, digits = 3)
measures <- c("fit_s", "marginal", "assoc", "ci_overlap", "signs", "collapsed", "mia")
# (epsilon as text, so that the reference without one is kept)
means <- stats::aggregate(all[measures],
                          by = list(method = all$method, epsilon = format(all$epsilon)),
                          FUN = mean, na.rm = TRUE)
means$epsilon <- suppressWarnings(as.numeric(means$epsilon))
means <- rbind(means[means$method == "sygnet DP", ], means[means$method != "sygnet DP", ])
cat("\nMeans over", length(rows), "data sets:\n")
print(means, row.names = FALSE, digits = 3)

if (!is.null(plot_file)) {
  curve <- means[means$method == "sygnet DP", ]
  references <- means[means$method != "sygnet DP", ]
  long <- function(d) {
    data.frame(method = rep(d$method, 2), epsilon = rep(d$epsilon, 2),
               measure = rep(c("marginal similarity", "CI overlap"), each = nrow(d)),
               value = c(d$marginal, d$ci_overlap))
  }
  plot <- ggplot2::ggplot(long(curve), ggplot2::aes(.data$epsilon, .data$value)) +
    ggplot2::geom_hline(data = long(references),
                        ggplot2::aes(yintercept = .data$value, linetype = .data$method)) +
    ggplot2::geom_line(colour = "steelblue") +
    ggplot2::geom_point(colour = "steelblue") +
    ggplot2::scale_x_log10(breaks = epsilons) +
    ggplot2::facet_wrap(~measure, scales = "free_y") +
    ggplot2::labs(x = "epsilon (delta 1e-5)", y = paste("mean over", length(rows), "data sets"),
                  linetype = NULL) +
    ggplot2::theme_minimal() +
    ggplot2::theme(legend.position = "bottom")
  ggplot2::ggsave(plot_file, plot, width = 7, height = 3.5, dpi = 100, bg = "white")
  cat("Wrote", plot_file, "\n")
}
