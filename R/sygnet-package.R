#' @keywords internal
"_PACKAGE"

#' @importFrom generics fit
#' @export
generics::fit

#' @importFrom stats simulate
NULL

#' @importFrom rlang .data
NULL
