# Small settings so that every test fit takes well under a second or two.
# `pac = 2L` makes 25 packs: two shards, so that two threads share the training steps.
tiny_gan <- function(epochs = 2L, ..., pac = 5L) {
  gan(epochs = epochs, batch_size = 50L, generator = c(32L, 32L), critic = c(32L, 32L),
      ..., control = gan_control(noise_dim = 16L, pac = pac))
}

# One column of every supported class, with missing values in each.
mixed_data <- function(n = 60L) {
  i <- seq_len(n)
  data.frame(
    num = ifelse(i %% 7 == 0, NA, round(sin(i) * 10, 2)),
    int = ifelse(i %% 5 == 0, NA, as.integer(i %% 13)),
    lgl = ifelse(i %% 6 == 0, NA, i %% 2 == 0),
    fct = factor(ifelse(i %% 8 == 0, NA, c("a", "b", "c")[i %% 3 + 1]),
                 levels = c("c", "b", "a", "unused")),
    ord = factor(ifelse(i %% 9 == 0, NA, c("low", "mid", "high")[i %% 3 + 1]),
                 levels = c("low", "mid", "high"), ordered = TRUE),
    chr = ifelse(i %% 10 == 0, NA, c("x", "y")[i %% 2 + 1]),
    date = as.Date("2020-01-01") + ifelse(i %% 11 == 0, NA, i),
    time = as.POSIXct("2021-06-01 12:00:00", tz = "America/New_York") +
      ifelse(i %% 12 == 0, NA, i * 3600),
    stringsAsFactors = FALSE
  )
}

# Classes, levels, time zones and names, without the values.
shape_of <- function(df) {
  lapply(df, function(x) list(class = class(x), levels = levels(x), tz = attr(x, "tzone"),
                              type = typeof(x)))
}
