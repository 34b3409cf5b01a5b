# Fails when R CMD check reported an ERROR or a WARNING; lists the NOTEs.
log <- readLines(file.path(commandArgs(TRUE)[[1]], "00check.log"))
status <- grep("^Status:", log, value = TRUE)
cat("R CMD check:", if (length(status)) status else "no status line", "\n")
notes <- grep("\\.\\.\\. NOTE$", log, value = TRUE)
if (length(notes)) cat("NOTEs (see cran-comments.md):", sub(" \\.\\.\\. NOTE$", "", notes), sep = "\n  ")
if (any(grepl("(ERROR|WARNING)", status)) || !length(status)) quit(status = 1L)
