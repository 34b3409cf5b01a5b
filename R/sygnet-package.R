#' @keywords internal
"_PACKAGE"

#' @importFrom generics fit
#' @rdname fit
#' @export
generics::fit

#' @importFrom stats simulate
NULL

#' @importFrom rlang .data
NULL
