# The main job: fit a GAN to the Survey of Labour and Income Dynamics (carData::SLID,
# Ontario 1994), draw a synthetic copy and write a report comparing the two, with
# utility and disclosure-risk measures (a random 20% of people are held out of
# training as the reference for the risk measures).
# Usage: Rscript slid-demo.R [output directory]
args <- commandArgs(TRUE)
out_dir <- if (length(args)) args[[1]] else "demo-report"
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
out_dir <- normalizePath(out_dir)

library(sygnet)
data("SLID", package = "carData")

set.seed(2024)
held_out <- sample(nrow(SLID), round(0.2 * nrow(SLID)))
train <- SLID[-held_out, ]
holdout <- SLID[held_out, ]
started <- proc.time()[["elapsed"]]
model <- fit(gan(), train, threads = 2, verbose = TRUE)
fit_seconds <- proc.time()[["elapsed"]] - started
print(model)
saveRDS(model, file.path(out_dir, "slid-gan.rds"))

synthetic <- synthesize(model)
utils::write.csv(synthetic, file.path(out_dir, "slid-synthetic.csv"), row.names = FALSE)

report <- system.file("report", "report.Rmd", package = "sygnet")
rmarkdown::render(report, output_dir = out_dir, intermediates_dir = tempdir(),
                  knit_root_dir = out_dir, quiet = TRUE,
                  params = list(real = train, holdout = holdout, synthetic = synthetic, model = model,
                                fit_seconds = fit_seconds, figures = out_dir,
                                formula = log(wages) ~ sex + age + I(age^2) + education))
message("Report: ", file.path(out_dir, "report.html"))
