# Identifier columns (`gan(ids =)`): left out of the model and written afresh in every
# synthetic data set, so that no real identifier is ever copied into one.

# Shares and counts above which a character column counts as mostly unique (an
# identifier, a name or free text) and is refused unless declared in `ids`.
unique_share_limit <- 0.5
unique_count_limit <- 20L

# Checks the declared ID columns of `data` and returns what synthesis needs to write
# fresh ones: per column its name, class and the form of its fresh values. A private
# fit reads nothing of them: fresh numbers count down from -1 and fresh text has a
# fixed prefix.
id_columns <- function(data, ids, private, call = rlang::caller_env()) {
  check_columns_in(ids, data, "ids", call = call)
  lapply(ids, function(name) {
    x <- data[[name]]
    if (!is.numeric(x) && !is.character(x) && !is.factor(x)) {
      sygnet_abort("ID column {.field {name}} must hold numbers, text or a factor, not {.obj_type_friendly {x}}.",
                   class = "sygnet_error_input", call = call)
    }
    if (anyNA(x) || anyDuplicated(x) > 0L) {
      sygnet_abort(c("ID column {.field {name}} must identify every row: it has missing or repeated values.",
                     "i" = "Drop it, or leave it out of {.arg ids} if it is not an identifier."),
                   class = "sygnet_error_input", call = call)
    }
    id <- list(name = name, class = class(x)[[1L]])
    if (is.numeric(x)) {
      # Above every real value, by a random margin that hides the largest one.
      id$start <- if (private) -1 else floor(max(x)) + 1 + sample.int(1000L, 1L)
    } else {
      id$prefix <- fresh_prefix(if (private) character() else as.character(x))
    }
    id
  })
}

# "syn-", or "syn-x-", "syn-x-x-", ... until no value in `used` starts with it.
fresh_prefix <- function(used) {
  prefix <- "syn-"
  while (any(startsWith(used, prefix))) prefix <- paste0(prefix, "x-")
  prefix
}

# `data` without its ID columns.
without_ids <- function(data, ids) {
  data[setdiff(names(data), vapply(ids, `[[`, "", "name"))]
}

# Fresh values for the rows of `frame`, rows `first` onwards of a draw of `total`, of
# each ID column, inserted at their places in `columns`.
with_fresh_ids <- function(frame, ids, columns, first = 1, total = nrow(frame)) {
  if (length(ids) == 0L) return(frame)
  number <- first - 1 + seq_len(nrow(frame))
  for (id in ids) {
    frame[[id$name]] <- if (!is.null(id$start)) {
      values <- if (id$start < 0) -number else id$start + number - 1
      if (identical(id$class, "integer") && all(abs(values) <= .Machine$integer.max)) {
        as.integer(values)
      } else {
        as.double(values)
      }
    } else {
      values <- paste0(id$prefix, formatC(number, width = nchar(total), flag = "0"))
      if (identical(id$class, "factor")) factor(values, levels = values) else values
    }
  }
  frame[columns]
}

# Refuses character columns that are mostly unique, unless they are declared IDs: they
# are identifiers, names or free text, which a model would copy rather than learn.
check_mostly_unique <- function(data, ids, call = rlang::caller_env()) {
  for (name in setdiff(names(data), ids)) {
    x <- data[[name]]
    if (!is.character(x)) next
    observed <- x[!is.na(x)]
    distinct <- length(unique(observed))
    if (distinct >= unique_count_limit && distinct > unique_share_limit * length(observed)) {
      sygnet_abort(c(
        "Column {.field {name}} is text with mostly unique values ({distinct} of {length(observed)}): an identifier, a name or free text.",
        "i" = "Declare it an identifier with {.code gan(ids = \"{name}\")} to get fresh values, or drop it."
      ), class = "sygnet_error_input", call = call)
    }
  }
}
