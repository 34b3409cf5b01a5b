# The data sets of the quality benchmark and their published models.
bench_datasets <- function() {
  list(
    SLID = list(
      data = function() { utils::data("SLID", package = "carData", envir = environment()); SLID },
      formula = log(wages) ~ sex + age + I(age^2) + education,
      family = stats::gaussian()
    ),
    PSID1976 = list(
      data = function() { utils::data("PSID1976", package = "AER", envir = environment()); PSID1976 },
      formula = participation ~ age + I(age^2) + I(fincome / 10000) + education + youngkids,
      family = stats::binomial(link = "probit")
    ),
    Chile = list(
      data = function() { utils::data("Chile", package = "carData", envir = environment()); Chile },
      formula = I(vote == "Y") ~ statusquo + age + sex + education,
      family = stats::binomial()
    ),
    penguins = list(
      data = function() as.data.frame(palmerpenguins::penguins),
      formula = body_mass_g ~ flipper_length_mm + species + sex,
      family = stats::gaussian()
    )
  )
}
