# Survey files read with haven: labelled columns, missing-value codes, variable labels
# and formats. Labelled columns reach the engine as factors (every value labelled) or as
# numbers whose codes are declared, and come back exactly as they were: type, value
# labels, variable label, user-defined missing values and tagged missing values.

# Columns of `data` as the engine takes them, the missing-value codes the engine must
# keep apart (the declared ones, plus SPSS user-missing values and stand-ins for tagged
# missing values that occur) and what restores the columns after synthesis.
survey_columns <- function(data, codes, call = rlang::caller_env()) {
  codes <- codes %||% list()
  labelled <- labelled_columns(data)
  if (length(labelled) && !requireNamespace("haven", quietly = TRUE)) {
    sygnet_abort("Column{?s} {.field {labelled}} {?is/are} labelled: install the {.pkg haven} package to fit {?it/them}.",
                 class = "sygnet_error_input", call = call)
  }
  extra <- Filter(length, lapply(data, extra_attributes))
  restore <- list()
  for (name in labelled) {
    x <- data[[name]]
    if (is.character(x)) {
      data[[name]] <- as.character(unclass(x))
      restore[[name]] <- list(route = "text", attributes = attributes(x))
      next
    }
    tagged <- haven::na_tag(x)
    tags <- sort(unique(tagged[!is.na(tagged)]))
    values <- unclass(x)
    attributes(values) <- NULL
    observed <- unique(values[!is.na(values)])
    labels <- unclass(attr(x, "labels", exact = TRUE))
    if (length(labels) && all(observed %in% labels[!is.na(labels)])) {
      levels_at <- sort(unique(c(labels[!is.na(labels)], observed)))
      key <- c(as.character(levels_at), if (length(tags)) paste0("NA(", tags, ")"))
      code <- match(values, levels_at)
      code[!is.na(tagged)] <- length(levels_at) + match(tagged[!is.na(tagged)], tags)
      data[[name]] <- factor(key[code], levels = key)
      restore[[name]] <- list(route = "factor", attributes = attributes(x),
                              integer = is.integer(x),
                              values = c(levels_at, haven::tagged_na(tags)))
      next
    }
    declared <- user_missing(x, observed)
    stand_ins <- numeric()
    if (length(tags)) {
      stand_ins <- floor(min(c(observed, declared, codes[[name]], 0))) - seq_along(tags)
      names(stand_ins) <- tags
      values[!is.na(tagged)] <- stand_ins[tagged[!is.na(tagged)]]
    }
    if (is.integer(x)) values <- as.integer(values)
    data[[name]] <- values
    codes[[name]] <- sort(unique(c(codes[[name]], declared, stand_ins)))
    restore[[name]] <- list(route = "number", attributes = attributes(x),
                            integer = is.integer(x), stand_ins = stand_ins)
  }
  for (name in setdiff(names(extra), labelled)) {
    attributes(data[[name]])[names(extra[[name]])] <- NULL
  }
  list(data = data, codes = if (length(codes)) codes else NULL, restore = restore,
       attributes = extra)
}

# Attributes of a column that describe it without changing its values: a variable
# label, formats and widths written by haven (`format.stata`, `display_width`), ...
extra_attributes <- function(x) {
  a <- attributes(x)
  a[setdiff(names(a), c("class", "levels", "tzone", "names", "dim", "dimnames"))]
}

# SPSS user-defined missing values (`na_values`, `na_range`) among the observed values.
user_missing <- function(x, observed) {
  na_values <- attr(x, "na_values", exact = TRUE)
  na_range <- attr(x, "na_range", exact = TRUE)
  in_range <- if (length(na_range) == 2L) {
    observed[observed >= na_range[[1L]] & observed <= na_range[[2L]]]
  }
  sort(unique(c(intersect(observed, unclass(na_values)), in_range)))
}

# Descriptive attributes of the ID columns (their values are written afresh).
id_attributes <- function(data, ids) {
  a <- lapply(data[vapply(ids, `[[`, "", "name")], function(x) {
    a <- extra_attributes(x)
    a[setdiff(names(a), c("labels", "na_values", "na_range"))]
  })
  Filter(length, a)
}

# Synthetic columns put back in the form of the training data's (see survey_columns()).
restore_survey_columns <- function(frame, survey) {
  if (is.null(survey)) return(frame)
  for (name in intersect(names(survey$restore), names(frame))) {
    r <- survey$restore[[name]]
    x <- frame[[name]]
    x <- switch(r$route,
      text = as.character(x),
      factor = r$values[as.integer(x)],
      number = {
        for (tag in names(r$stand_ins)) x[!is.na(x) & x == r$stand_ins[[tag]]] <- haven::tagged_na(tag)
        x
      }
    )
    if (isTRUE(r$integer) && !is.integer(x)) x <- as.integer(x)
    attributes(x) <- r$attributes
    frame[[name]] <- x
  }
  for (name in setdiff(intersect(names(survey$attributes), names(frame)), names(survey$restore))) {
    attributes(frame[[name]])[names(survey$attributes[[name]])] <- survey$attributes[[name]]
  }
  frame
}

# Missing-value codes declared in gan(): numbers per column name.
check_missing_codes <- function(codes, call = rlang::caller_env()) {
  if (is.null(codes)) return(NULL)
  if (!is.list(codes) || length(codes) == 0L || is.null(names(codes)) ||
      any(names(codes) == "") || anyDuplicated(names(codes))) {
    sygnet_abort("{.arg missing_codes} must be a list named by column, e.g. {.code list(income = c(-8, -9))}.",
                 class = "sygnet_error_input", call = call)
  }
  for (name in names(codes)) {
    x <- codes[[name]]
    if (!is.numeric(x) || is.object(x) || length(x) == 0L || any(!is.finite(x))) {
      sygnet_abort("Missing-value codes of {.field {name}} must be finite numbers.",
                   class = "sygnet_error_input", call = call)
    }
  }
  lapply(codes, function(x) sort(unique(as.double(x))))
}

# Declared codes name numeric columns of `data` and occur in them.
check_codes_in <- function(codes, data, call = rlang::caller_env()) {
  check_columns_in(names(codes), data, "missing_codes", call = call)
  for (name in names(codes)) {
    x <- data[[name]]
    if (!is.numeric(x) || is.object(x) && !inherits(x, "haven_labelled")) {
      sygnet_abort("Missing-value codes are declared for {.field {name}}, which is not a numeric column.",
                   class = "sygnet_error_input", call = call)
    }
    absent <- setdiff(codes[[name]], unclass(x))
    if (length(absent)) {
      sygnet_abort("Column {.field {name}} has no value {.val {absent}}, declared as {cli::qty(length(absent))}{?a missing-value code/missing-value codes}.",
                   class = "sygnet_error_input", call = call)
    }
  }
}

# Private fits read nothing of the data to choose a column's form, so labelled columns
# must be converted by the user first.
check_unlabelled <- function(data, call = rlang::caller_env()) {
  labelled <- labelled_columns(data)
  if (length(labelled)) {
    sygnet_abort(c("Column{?s} {.field {labelled}} {?is/are} labelled, which a private fit cannot read without spending privacy.",
                   "i" = "Convert {cli::qty(length(labelled))}{?it/them} with {.code haven::as_factor()} or {.code haven::zap_labels()} first."),
                 class = "sygnet_error_input", call = call)
  }
}

# Labelled columns as utility() analyses them, for `data` and any frame compared with
# it: factors of the values where every real value is labelled, otherwise plain
# numbers or text (tagged missing values as NA, codes as the numbers they are).
plain_columns <- function(frame, data) {
  if (!is.data.frame(frame)) return(frame)
  for (name in intersect(labelled_columns(data), names(frame))) {
    values <- unclass(frame[[name]])
    attributes(values) <- NULL
    real <- unclass(data[[name]])
    labels <- unclass(attr(data[[name]], "labels", exact = TRUE))
    labels <- sort(unique(labels[!is.na(labels)]))
    all_labelled <- !is.character(values) && length(labels) &&
      all(real[!is.na(real)] %in% labels)
    frame[[name]] <- if (all_labelled) factor(values, levels = labels) else values
  }
  frame
}

# Names of the labelled (haven) columns of `data`.
labelled_columns <- function(data) {
  names(data)[vapply(data, inherits, logical(1), "haven_labelled")]
}
