test_that("tune() scores every candidate and picks the lowest propensity AUC", {
  set.seed(4)
  df <- mixed_data(150)
  grid <- data.frame(learning_rate = c(1e-4, 1e-3), generator = I(list(c(16L), c(32L, 32L))))
  tuned <- tune(df, grid, epochs = 2, batch_size = 50, critic = c(16L),
                control = gan_control(noise_dim = 8L, pac = 5L))
  expect_s3_class(tuned, "sygnet_tune")
  expect_identical(nrow(tuned$results), 2L)
  expect_true(all(tuned$results$propensity_auc >= 0 & tuned$results$propensity_auc <= 1))
  expect_identical(tuned$best_index, which.min(tuned$results$propensity_auc))
  expect_s3_class(tuned$best, "sygnet_spec")
  expect_identical(tuned$best$generator, grid$generator[[tuned$best_index]])
  expect_output(print(tuned), "Best: candidate")
  folds <- tune(df, grid[1, ], folds = 3, epochs = 1, batch_size = 50,
                control = gan_control(noise_dim = 8L, pac = 5L))
  expect_identical(dim(folds$scores), c(1L, 3L))
})

test_that("tune() refuses grids it cannot use", {
  df <- mixed_data(40)
  expect_error(tune(df, data.frame(colour = "red")), "colour", class = "sygnet_error_input")
  expect_error(tune(df, data.frame()), "one row per candidate", class = "sygnet_error_input")
  expect_error(tune(df, data.frame(epochs = 1), folds = 1), "folds", class = "sygnet_error_input")
})

test_that("fit() reports a propensity check that separates trained from bad data", {
  model <- fit(tiny_gan(epochs = 2), mixed_data(100))
  expect_true(model$check$propensity_auc >= 0 && model$check$propensity_auc <= 1)
  # The same check on the training data against itself is near 0.5.
  same <- sygnet:::check_fit(model, mixed_data(100))
  expect_true(is.finite(same))
})
