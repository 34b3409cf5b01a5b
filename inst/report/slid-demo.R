# The main job: fit a GAN to the Survey of Labour and Income Dynamics (carData::SLID,
# Ontario 1994), draw a synthetic copy and write a report comparing the two.
# Usage: Rscript slid-demo.R [output directory]
args <- commandArgs(TRUE)
out_dir <- if (length(args)) args[[1]] else "demo-report"
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
out_dir <- normalizePath(out_dir)

library(sygnet)
data("SLID", package = "carData")

set.seed(2024)
started <- proc.time()[["elapsed"]]
model <- fit(gan(), SLID, threads = 2, verbose = TRUE)
fit_seconds <- proc.time()[["elapsed"]] - started
print(model)
saveRDS(model, file.path(out_dir, "slid-gan.rds"))

synthetic <- synthesize(model)
utils::write.csv(synthetic, file.path(out_dir, "slid-synthetic.csv"), row.names = FALSE)

report <- system.file("report", "report.Rmd", package = "sygnet")
rmarkdown::render(report, output_dir = out_dir, intermediates_dir = tempdir(),
                  knit_root_dir = out_dir, quiet = TRUE,
                  params = list(real = SLID, synthetic = synthetic, model = model,
                                fit_seconds = fit_seconds, figures = out_dir,
                                formula = log(wages) ~ sex + age + I(age^2) + education))
message("Report: ", file.path(out_dir, "report.html"))
