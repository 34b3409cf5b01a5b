# Writes inst/AUTHORS: name, version, authors and licence of every vendored crate.
# Usage: Rscript tools/update-authors.R <vendor directory>
vendor <- commandArgs(TRUE)[[1]]
manifests <- sort(Sys.glob(file.path(vendor, "*", "Cargo.toml")))
field <- function(lines, key) {
  hit <- grep(paste0("^", key, " *="), lines, value = TRUE)
  if (!length(hit)) return(NA_character_)
  gsub('^[^=]*= *"?|"? *$', "", hit[[1]])
}
authors <- function(lines) {
  start <- grep("^authors *= *\\[", lines)
  if (!length(start)) return("(not stated)")
  end <- start
  while (!grepl("\\]", lines[[end]])) end <- end + 1L
  text <- paste(lines[start:end], collapse = " ")
  people <- regmatches(text, gregexpr('"[^"]*"', text))[[1]]
  if (!length(people)) "(not stated)" else paste(gsub('"', "", people), collapse = ", ")
}
entries <- vapply(manifests, function(path) {
  lines <- readLines(path, warn = FALSE)
  start <- match("[package]", trimws(lines))
  sections <- grep("^\\[", lines)
  end <- c(sections[sections > start], length(lines) + 1L)[[1]] - 1L
  package <- lines[start:end]
  sprintf("%s %s\n  authors: %s\n  license: %s",
          field(package, "name"), field(package, "version"), authors(package),
          field(package, "license"))
}, character(1))
header <- c(
  "The sygnet package includes the source code of the following Rust crates",
  "(in src/rust/vendor.tar.xz), each under the licence stated.",
  ""
)
dir.create("inst", showWarnings = FALSE)
writeLines(c(header, unname(entries)), "inst/AUTHORS")
message("wrote inst/AUTHORS (", length(entries), " crates)")
