# The data contract on the R side: a data frame goes to the engine as a plain list of
# columns and comes back with the data frame class (data.frame or tibble) restored.
# Column classes, levels, time zones and missing values are handled by the engine.

as_columns <- function(data) {
  columns <- unclass(data)
  attr(columns, "row.names") <- NULL
  columns
}

# `template` is a zero-row slice of the training data.
as_frame <- function(columns, template, n) {
  attr(columns, "row.names") <- .set_row_names(n)
  class(columns) <- class(template)
  columns
}

# Sends `data` through the engine's column representation and back: the identity
# for every supported column class.
roundtrip_data <- function(data) {
  if (!is.data.frame(data)) {
    sygnet_abort("{.arg data} must be a data frame.", class = "sygnet_error_input")
  }
  n <- nrow(data)
  columns <- native(rs_roundtrip(as_columns(data), n))
  as_frame(columns, data[0L, , drop = FALSE], n)
}
