# Argument checks: each gives an error of class "sygnet_error_input" that names the
# argument (or column) and what is wrong with it. Settings of the model itself are
# checked by the engine (see check_settings() in spec.R).

# A whole number from `least` up to R's largest integer (finite, so Inf is refused).
is_count <- function(x, least = 1) {
  is.numeric(x) && length(x) == 1L && !is.na(x) && x >= least &&
    x <= .Machine$integer.max && x == round(x)
}

check_count <- function(x, arg = rlang::caller_arg(x), call = rlang::caller_env()) {
  if (!is_count(x)) {
    most <- .Machine$integer.max
    sygnet_abort("{.arg {arg}} must be a whole number from 1 to {most}.",
                 class = "sygnet_error_input", call = call)
  }
}

check_flag <- function(x, arg = rlang::caller_arg(x), call = rlang::caller_env()) {
  if (!rlang::is_bool(x)) {
    sygnet_abort("{.arg {arg}} must be TRUE or FALSE.", class = "sygnet_error_input", call = call)
  }
}

check_positive <- function(x, arg = rlang::caller_arg(x), call = rlang::caller_env()) {
  if (!is.numeric(x) || length(x) != 1L || !is.finite(x) || x <= 0) {
    sygnet_abort("{.arg {arg}} must be a positive number.", class = "sygnet_error_input", call = call)
  }
}

check_threads <- function(threads, call = rlang::caller_env()) {
  if (!is_count(threads)) {
    sygnet_abort("{.arg threads} must be a whole number of at least 1.",
                 class = "sygnet_error_input", call = call)
  }
  as.integer(threads)
}

check_data <- function(data, arg = rlang::caller_arg(data), call = rlang::caller_env()) {
  if (!is.data.frame(data)) {
    sygnet_abort("{.arg {arg}} must be a data frame, not {.obj_type_friendly {data}}.",
                 class = "sygnet_error_input", call = call)
  }
  if (ncol(data) == 0L) {
    sygnet_abort("{.arg {arg}} has no columns.", class = "sygnet_error_input", call = call)
  }
  if (nrow(data) == 0L) {
    sygnet_abort("{.arg {arg}} has no rows.", class = "sygnet_error_input", call = call)
  }
  unnamed <- which(is.na(names(data)) | names(data) == "")
  if (length(unnamed) > 0L) {
    sygnet_abort("{cli::qty(length(unnamed))}Column{?s} {unnamed} of {.arg {arg}} {?has/have} no name.",
                 class = "sygnet_error_input", call = call)
  }
  repeated <- unique(names(data)[duplicated(names(data))])
  if (length(repeated) > 0L) {
    sygnet_abort("{.arg {arg}} has more than one column named {.field {repeated}}.",
                 class = "sygnet_error_input", call = call)
  }
  invisible(data)
}

check_levels <- function(levels, call = rlang::caller_env()) {
  if (is.null(levels)) return(list())
  if (!is.list(levels) || is.null(names(levels)) || any(names(levels) == "") ||
      anyDuplicated(names(levels))) {
    sygnet_abort("{.arg levels} must be a list named by column, e.g. {.code list(sex = c(\"female\", \"male\"))}.",
                 class = "sygnet_error_input", call = call)
  }
  for (v in names(levels)) {
    l <- levels[[v]]
    if (!is.character(l) || length(l) == 0L || anyNA(l) || anyDuplicated(l)) {
      sygnet_abort("Levels of column {.field {v}} must be distinct strings, at least one and no {.code NA}.",
                   class = "sygnet_error_input", call = call)
    }
  }
  levels
}

check_bounds <- function(bounds, call = rlang::caller_env()) {
  if (is.null(bounds)) return(list())
  if (!is.list(bounds) || is.null(names(bounds)) || any(names(bounds) == "") ||
      anyDuplicated(names(bounds))) {
    sygnet_abort("{.arg bounds} must be a list named by column, e.g. {.code list(age = c(16, 99))}.",
                 class = "sygnet_error_input", call = call)
  }
  lapply(stats::setNames(names(bounds), names(bounds)), function(v) {
    b <- bounds[[v]]
    numeric_bound <- as.double(unclass(b))
    if (length(numeric_bound) != 2L || anyNA(numeric_bound) || any(!is.finite(numeric_bound)) ||
        numeric_bound[1] >= numeric_bound[2] || !(is.numeric(b) || inherits(b, c("Date", "POSIXct")))) {
      sygnet_abort("Bounds of column {.field {v}} must be two finite numbers (or dates), lower first.",
                   class = "sygnet_error_input", call = call)
    }
    numeric_bound
  })
}

check_accountant_args <- function(..., call = rlang::caller_env()) {
  args <- list(...)
  for (name in names(args)) {
    x <- args[[name]]
    if (!is.numeric(x) || length(x) != 1L || is.na(x) || x < 0) {
      sygnet_abort("{.arg {name}} must be a single non-negative number.",
                   class = "sygnet_error_input", call = call)
    }
  }
  if (args$steps != round(args$steps)) {
    sygnet_abort("{.arg steps} must be a whole number.", class = "sygnet_error_input", call = call)
  }
}

check_family <- function(family, call = rlang::caller_env()) {
  if (is.function(family)) family <- family()
  if (!inherits(family, "family")) {
    sygnet_abort("{.arg family} must be a family such as {.code binomial()}.",
                 class = "sygnet_error_input", call = call)
  }
  family
}

check_request <- function(object, n, conditions, call = rlang::caller_env()) {
  if (!is.null(conditions)) {
    conditions <- check_conditions(object, conditions, call = call)
    n <- n %||% nrow(conditions)
    if (n != nrow(conditions)) {
      sygnet_abort("{.arg n} ({n}) must equal the rows of {.arg conditions} ({nrow(conditions)}).",
                   class = "sygnet_error_input", call = call)
    }
  }
  n <- n %||% object$n
  if (!is_count(n, least = 0)) {
    most <- .Machine$integer.max
    sygnet_abort("{.arg n} must be a whole number of rows, from 0 to {most}.",
                 class = "sygnet_error_input", call = call)
  }
  list(n = n, conditions = conditions)
}

check_conditions <- function(object, conditions, call = rlang::caller_env()) {
  if (!is.data.frame(conditions)) {
    sygnet_abort("{.arg conditions} must be a data frame.", class = "sygnet_error_input", call = call)
  }
  allowed <- object$spec$condition_on
  unknown <- setdiff(names(conditions), allowed)
  if (length(unknown)) {
    sygnet_abort(c(
      "Cannot condition on {.field {unknown}}.",
      "i" = if (length(allowed)) "This model can condition on {.field {allowed}}."
            else "This model was fitted without {.arg condition_on}."
    ), class = "sygnet_error_input", call = call)
  }
  for (name in names(conditions)) {
    value <- conditions[[name]]
    template <- object$template[[name]]
    if (is.logical(template)) {
      if (!is.logical(value)) {
        sygnet_abort("Column {.field {name}} of {.arg conditions} must be logical.",
                     class = "sygnet_error_input", call = call)
      }
      next
    }
    value <- as.character(value)
    levels <- if (is.factor(template)) levels(template) else NULL
    bad <- if (is.null(levels)) character() else setdiff(unique(value[!is.na(value)]), levels)
    if (length(bad)) {
      sygnet_abort("Column {.field {name}} of {.arg conditions} has value{?s} {.val {bad}}, not among its levels.",
                   class = "sygnet_error_input", call = call)
    }
    conditions[[name]] <- value
  }
  conditions
}

# A model formula (or NULL) whose variables are columns of `data` (or, as in glm(),
# objects its environment holds).
check_formula <- function(formula, data = NULL, call = rlang::caller_env()) {
  if (!is.null(formula) && !inherits(formula, "formula")) {
    sygnet_abort("{.arg formula} must be a model formula such as {.code y ~ x}.",
                 class = "sygnet_error_input", call = call)
  }
  if (is.null(formula) || is.null(data)) return(invisible())
  unknown <- setdiff(all.vars(formula), names(data))
  env <- environment(formula) %||% emptyenv()
  unknown <- unknown[!vapply(unknown, exists, logical(1), envir = env)]
  if (length(unknown) > 0L) {
    sygnet_abort("{.arg formula} names {.field {unknown}}, not {?a column/columns} of the data.",
                 class = "sygnet_error_input", call = call)
  }
}

# The survey weights named by `weights` (a column of `data`, kept in the model as an
# ordinary column), checked; NULL without weights.
check_weights <- function(weights, data, spec, call = rlang::caller_env()) {
  w <- real_weights(weights, data, call = call)
  if (!is.null(w) && (!is.null(spec$privacy) || length(spec$condition_on) > 0L)) {
    sygnet_abort(c("{.arg weights} cannot be used with differential privacy or conditioning columns.",
                   "i" = "Private training samples every row alike; conditioning samples rows by category."),
                 class = "sygnet_error_input", call = call)
  }
  w
}

# A fitted model as fit() makes it: its engine model and template are there.
check_fitted <- function(object, call = rlang::caller_env()) {
  if (!is.raw(object$model) || !is.data.frame(object$template) || is.null(object$n)) {
    sygnet_abort(c("{.arg object} is not a complete fitted model.",
                   "i" = "Use the object {.fn fit} returned, or one read back with {.fn readRDS}."),
                 class = "sygnet_error_model", call = call)
  }
}

check_columns_in <- function(columns, data, arg, call = rlang::caller_env()) {
  if (is.null(columns)) return(invisible())
  if (!is.character(columns) || anyNA(columns)) {
    sygnet_abort("{.arg {arg}} must name columns of {.arg data}.", class = "sygnet_error_input", call = call)
  }
  unknown <- setdiff(columns, names(data))
  if (length(unknown) > 0L) {
    sygnet_abort("{.arg {arg}} names column{?s} {.field {unknown}} that {?is/are} not in {.arg data}.",
                 class = "sygnet_error_input", call = call)
  }
}

# Refuses a draw whose data frame (twice over: the pieces and the joined frame) would not
# fit in the memory the system has available now; no check where that is unknown.
check_memory <- function(template, n, call = rlang::caller_env()) {
  available <- available_memory()
  if (is.na(available)) return(invisible())
  per_row <- sum(vapply(template, function(x) if (is.double(x) || is.character(x)) 8 else 4,
                        numeric(1)))
  needed <- 2 * n * per_row
  if (needed > available) {
    gb <- function(bytes) format(bytes / 2^30, digits = 2, nsmall = 1)
    sygnet_abort(c(
      "Drawing {n} rows needs about {gb(needed)} GB of memory; {gb(available)} GB is available.",
      "i" = "Draw fewer rows at a time: several calls of {.fn synthesize} with a smaller {.arg n}."
    ), class = "sygnet_error_input", call = call)
  }
}

available_memory <- function() {
  lines <- tryCatch(readLines("/proc/meminfo", warn = FALSE), error = function(e) character())
  line <- grep("^MemAvailable:", lines, value = TRUE)
  if (length(line) == 0L) return(NA_real_)
  as.numeric(gsub("[^0-9]", "", line)) * 1024
}
