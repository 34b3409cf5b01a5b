# The collapse check after a fit: a generator whose numbers pile up at one end of their
# range, or whose categories shrink to a few levels, warns instead of passing silently.

# Rows drawn for the check, at most.
collapse_rows <- 2000L

# Warns (class `sygnet_warning_collapse`) when the fitted model's draws (`rows`) have
# collapsed columns. A private fit is judged against its public inputs only (declared
# levels), so the check reads nothing of the protected data. A private fit that
# released its columns' histograms is not judged: its draws are calibrated to them, so
# a pile-up or a missing level there is one the released data has.
check_collapse <- function(model, data, rows = synthesize(model, min(model$n, collapse_rows)),
                           weights = NULL, call = rlang::caller_env()) {
  if (!is.na(model$privacy$marginal_noise %||% NA_real_)) return(invisible(character()))
  found <- if (is.null(model$privacy)) {
    collapsed_columns(rows, reference = data, weights = weights)
  } else {
    collapsed_columns(rows, levels = model$spec$privacy$levels)
  }
  if (length(found)) {
    cli::cli_warn(c("The synthetic data has collapsed in {length(found)} column{?s}:",
                    stats::setNames(found, rep("x", length(found))),
                    "i" = "Train longer or with a smaller {.arg learning_rate}; under {.fn dp}, a larger {.arg epsilon}, fewer epochs or wider data help."),
                  class = "sygnet_warning_collapse", columns = names(found), call = call)
  }
  invisible(found)
}

# Named descriptions of the collapsed columns of `synthetic`: a numeric column with more
# than half of its values at its smallest or largest value, more than 25 points above
# the reference's share of that value (if a reference is given); a categorical column
# using at most half of the levels the reference uses (or of the declared `levels`),
# when that is two or more. With survey `weights`, the reference's shares are weighted.
collapsed_columns <- function(synthetic, reference = NULL, levels = NULL, weights = NULL) {
  found <- character()
  # Column names go into cli messages, where braces would be read as code.
  shown <- function(name) gsub("}", "}}", gsub("{", "{{", name, fixed = TRUE), fixed = TRUE)
  for (name in names(synthetic)) {
    x <- synthetic[[name]]
    if (is.factor(x) || is.character(x) || is.logical(x)) {
      wanted <- if (!is.null(reference)) {
        unique(as.character(reference[[name]][!is.na(reference[[name]])]))
      } else if (is.logical(x)) c("FALSE", "TRUE") else levels[[name]]
      used <- intersect(unique(as.character(x[!is.na(x)])), wanted)
      if (length(wanted) >= 2L && length(used) <= length(wanted) / 2) {
        found[[name]] <- sprintf("{.field %s} uses %d of %d level%s", shown(name), length(used),
                                 length(wanted), if (length(wanted) == 1L) "" else "s")
      }
    } else if (is.numeric(x) || inherits(x, c("Date", "POSIXct"))) {
      x <- as.double(unclass(x))
      x <- x[!is.na(x)]
      if (length(x) < 2L) next
      ends <- range(x)
      share <- max(mean(x == ends[1]), mean(x == ends[2]))
      end <- if (mean(x == ends[1]) >= mean(x == ends[2])) ends[1] else ends[2]
      real_share <- if (is.null(reference)) 0 else {
        r <- as.double(unclass(reference[[name]]))
        w <- weights %||% rep(1, length(r))
        stats::weighted.mean(r[!is.na(r)] == end, w[!is.na(r)])
      }
      if (share > 0.5 && ends[1] < ends[2] && share > real_share + 0.25) {
        found[[name]] <- sprintf("{.field %s} has %d%% of its values at %s",
                                 shown(name), round(100 * share), format(end, digits = 4))
      } else if (share > 0.5 && ends[1] == ends[2] && real_share < 0.75) {
        found[[name]] <- sprintf("{.field %s} has a single value, %s", shown(name),
                                 format(end, digits = 4))
      }
    }
  }
  found
}
