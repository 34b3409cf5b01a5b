# Train on synthetic, test on real: predicting one column from the others.

prediction_table <- function(data, sets, target, kind, test) {
  if (is.null(test)) {
    held <- sample(nrow(data), max(1L, round(0.3 * nrow(data))))
    train <- data[-held, , drop = FALSE]
    test <- data[held, , drop = FALSE]
  } else {
    train <- data
  }
  score <- function(training) {
    training <- training[!is.na(training[[target]]), , drop = FALSE]
    tested <- test[!is.na(test[[target]]), , drop = FALSE]
    formula <- stats::reformulate(".", response = as.name(target))
    if (kind == "categorical") {
      training[[target]] <- factor(training[[target]])
      fit <- rpart::rpart(formula, data = training, method = "class")
      predicted <- as.character(stats::predict(fit, newdata = tested, type = "class"))
      return(mean(predicted == as.character(tested[[target]])))
    }
    y <- as.double(unclass(tested[[target]]))
    training[[target]] <- as.double(unclass(training[[target]]))
    fit <- rpart::rpart(formula, data = training, method = "anova")
    predicted <- stats::predict(fit, newdata = tested)
    1 - sum((y - predicted)^2) / sum((y - mean(y))^2)
  }
  on_real <- score(train)
  on_synthetic <- mean(vapply(seq_along(sets), function(i) {
    tryCatch(score(sets[[i]]), error = function(e) {
      cli::cli_warn(c("Predicting {.field {target}} could not be learned from synthetic data set {i}; its score is missing.",
                      "x" = conditionMessage(e)), class = "sygnet_warning_model")
      NA_real_
    })
  }, numeric(1)))
  data.frame(target = target, metric = if (kind == "categorical") "accuracy" else "r_squared",
             train_real = on_real, train_synthetic = on_synthetic,
             ratio = on_synthetic / on_real)
}
