library(testthat)
library(sygnet)

test_check("sygnet")
