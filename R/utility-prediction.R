# Train on synthetic, test on real: predicting one column from the others.

# `weights`: NULL, or the name of the real rows' weight column; real training rows
# are weighted in the tree and real test rows in the score.
prediction_table <- function(data, sets, target, kind, test, weights) {
  if (is.null(test)) {
    held <- sample(nrow(data), max(1L, round(0.3 * nrow(data))))
    train <- data[-held, , drop = FALSE]
    test <- data[held, , drop = FALSE]
  } else {
    train <- data
  }
  test <- test[!is.na(test[[target]]), , drop = FALSE]
  test_weights <- if (is.null(weights)) rep(1, nrow(test)) else test[[weights]]
  score <- function(training, training_weights) {
    observed <- !is.na(training[[target]])
    training <- training[observed, , drop = FALSE]
    training_weights <- training_weights[observed]
    formula <- stats::reformulate(".", response = as.name(target))
    if (kind == "categorical") {
      training[[target]] <- factor(training[[target]])
      fit <- rpart::rpart(formula, data = training, weights = training_weights, method = "class")
      predicted <- as.character(stats::predict(fit, newdata = test, type = "class"))
      return(stats::weighted.mean(predicted == as.character(test[[target]]), test_weights))
    }
    y <- as.double(unclass(test[[target]]))
    training[[target]] <- as.double(unclass(training[[target]]))
    fit <- rpart::rpart(formula, data = training, weights = training_weights, method = "anova")
    predicted <- stats::predict(fit, newdata = test)
    1 - sum(test_weights * (y - predicted)^2) /
      sum(test_weights * (y - stats::weighted.mean(y, test_weights))^2)
  }
  on_real <- score(train, if (is.null(weights)) rep(1, nrow(train)) else train[[weights]])
  on_synthetic <- mean(vapply(seq_along(sets), function(i) {
    tryCatch(score(sets[[i]], rep(1, nrow(sets[[i]]))), error = function(e) {
      cli::cli_warn(c("Predicting {.field {target}} could not be learned from synthetic data set {i}; its score is missing.",
                      "x" = conditionMessage(e)), class = "sygnet_warning_model")
      NA_real_
    })
  }, numeric(1)))
  data.frame(target = target, metric = if (kind == "categorical") "accuracy" else "r_squared",
             train_real = on_real, train_synthetic = on_synthetic,
             ratio = on_synthetic / on_real)
}
