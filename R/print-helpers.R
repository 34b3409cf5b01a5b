# Print methods write to standard output (like print.default), styled with cli.

say <- function(..., .envir = parent.frame()) {
  cli::cat_line(cli::format_inline(..., .envir = .envir))
}

say_bullets <- function(lines, .envir = parent.frame()) {
  lines <- lines[nzchar(lines)]
  for (line in lines) {
    cli::cat_line(cli::symbol$bullet, " ", cli::format_inline(line, .envir = .envir))
  }
}

`%||%` <- function(x, y) if (is.null(x)) y else x
