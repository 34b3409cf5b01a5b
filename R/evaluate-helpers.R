# Shared by utility() and disclosure_risk(): checking the data frames they compare and
# describing columns as numeric or categorical.

# One data frame or a list of them (as from simulate()) -> a list of data frames with the
# columns of `data`, in its order.
synthetic_sets <- function(synthetic, data, call = rlang::caller_env()) {
  sets <- if (is.data.frame(synthetic)) list(synthetic) else synthetic
  if (!is.list(sets) || length(sets) == 0L || !all(vapply(sets, is.data.frame, logical(1)))) {
    sygnet_abort("{.arg synthetic} must be a data frame or a list of data frames (as from {.fn simulate}).",
                 class = "sygnet_error_input", call = call)
  }
  lapply(unname(sets), function(set) matching_frame(set, data, "synthetic", call))
}

# `other` with the columns of `data`, each of the same kind (numeric or categorical) and
# in the same units: a date-time column compared with a Date column is converted to
# dates (in its own time zone) and a Date column compared with a date-time one to
# midnight UTC; dates against plain numbers are an error, since no unit is known.
matching_frame <- function(other, data, arg, call = rlang::caller_env()) {
  check_data(other, arg = arg, call = call)
  missing <- setdiff(names(data), names(other))
  if (length(missing) > 0L) {
    sygnet_abort("{.arg {arg}} lacks column{?s} {.field {missing}} of {.arg data}.",
                 class = "sygnet_error_input", call = call)
  }
  other <- as.data.frame(other)[names(data)]
  for (v in names(data)) {
    if (column_kind(data[[v]], v, call) != column_kind(other[[v]], v, call)) {
      sygnet_abort("Column {.field {v}} is {column_kind(data[[v]], v)} in {.arg data} but not in {.arg {arg}}.",
                   class = "sygnet_error_input", call = call)
    }
    other[[v]] <- same_units(other[[v]], data[[v]], v, arg, call)
  }
  other
}

time_class <- function(x) {
  if (inherits(x, "Date")) "Date" else if (inherits(x, "POSIXct")) "POSIXct" else "none"
}

same_units <- function(x, reference, name, arg, call) {
  from <- time_class(x)
  to <- time_class(reference)
  if (from == to) return(x)
  if (from == "POSIXct" && to == "Date") return(as.Date(x, tz = attr(x, "tzone") %||% ""))
  if (from == "Date" && to == "POSIXct") return(as.POSIXct(format(x), tz = "UTC"))
  what <- function(class) if (class == "none") "numbers" else paste0("a ", class)
  sygnet_abort(c("Column {.field {name}} is {what(to)} in {.arg data} but {what(from)} in {.arg {arg}}.",
                 "i" = "Convert one of them, so that both are measured in the same unit."),
               class = "sygnet_error_input", call = call)
}

column_kind <- function(x, name, call = rlang::caller_env()) {
  if (is.factor(x) || is.character(x) || is.logical(x)) return("categorical")
  if (is.numeric(x) || inherits(x, c("Date", "POSIXct", "difftime"))) return("numeric")
  sygnet_abort("Column {.field {name}} has unsupported class {.cls {class(x)}}.",
               class = "sygnet_error_input", call = call)
}

column_kinds <- function(data, call = rlang::caller_env()) {
  vapply(names(data), function(v) column_kind(data[[v]], v, call), character(1))
}

# Categorical columns as factors on the union of levels seen in `frames`; numeric
# columns as plain doubles. Returns the list of converted frames.
harmonise <- function(frames) {
  kinds <- column_kinds(frames[[1]])
  for (v in names(kinds)) {
    if (kinds[[v]] == "categorical") {
      lev <- unique(unlist(lapply(frames, function(f) {
        x <- f[[v]]
        if (is.factor(x)) levels(x) else sort(unique(as.character(x[!is.na(x)])))
      })))
      frames <- lapply(frames, function(f) {
        f[[v]] <- factor(as.character(f[[v]]), levels = lev)
        f
      })
    } else {
      frames <- lapply(frames, function(f) {
        f[[v]] <- as.double(unclass(f[[v]]))
        f
      })
    }
  }
  frames
}

# Area under the ROC curve of `score` for telling `label == 1` from `label == 0`.
auc <- function(score, label) {
  r <- rank(score)
  n1 <- sum(label == 1)
  n0 <- sum(label == 0)
  (sum(r[label == 1]) - n1 * (n1 + 1) / 2) / (n1 * n0)
}

# Numeric columns' ranges; NA marks categorical (and constant) columns.
gower_ranges <- function(real) {
  vapply(real, function(x) {
    if (is.factor(x)) return(NA_real_)
    r <- suppressWarnings(range(x, na.rm = TRUE))
    width <- r[2] - r[1]
    if (is.finite(width) && width > 0) width else NA_real_
  }, numeric(1), USE.NAMES = FALSE)
}

gower_columns <- function(frame) {
  lapply(unname(as.list(frame)), function(x) as.double(if (is.factor(x)) as.integer(x) else x))
}

# The k nearest rows of `reference` for each row of `query` (harmonised frames).
gower_neighbours <- function(reference, query, ranges, k, exclude_self, threads) {
  native(rs_nearest(gower_columns(reference), gower_columns(query), ranges, as.integer(k),
                    exclude_self, threads))
}
