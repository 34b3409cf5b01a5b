# Classed conditions. Every error sygnet raises inherits from "sygnet_error"; input
# problems from "sygnet_error_input".

sygnet_abort <- function(message, class = NULL, ..., call = rlang::caller_env(),
                         .envir = parent.frame()) {
  cli::cli_abort(message, class = c(class, "sygnet_error"), ..., call = call, .envir = .envir)
}

# Evaluates a call into the Rust engine; its errors ("sygnet:<kind>:<message>") become
# conditions of class "sygnet_error_<kind>", other failures (panics) "sygnet_error_internal".
native <- function(expr, call = rlang::caller_env()) {
  tryCatch(expr, error = function(e) {
    msg <- conditionMessage(e)
    parts <- regmatches(msg, regexec("^sygnet:([a-z]+):(.*)$", msg))[[1]]
    if (length(parts) == 3L) {
      kind <- parts[[2]]
      text <- parts[[3]]
    } else {
      kind <- "internal"
      text <- paste("internal error in the sygnet engine:", msg)
    }
    sygnet_abort("{text}", class = paste0("sygnet_error_", kind), call = call)
  })
}
