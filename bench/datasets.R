# The data sets of the quality benchmark and their published models: public social-
# science data from Debian's r-cran-* packages, with factors, skewed incomes and (SLID,
# Chile, penguins) missing values.
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
    ),
    # Berndt (1991): the wage equation of the May 1985 Current Population Survey.
    CPS1985 = list(
      data = function() aer("CPS1985"),
      formula = log(wage) ~ education + experience + I(experience^2) + gender + union,
      family = stats::gaussian()
    ),
    # Munnell et al. (1996), as in Stock and Watson: mortgage denial in Boston.
    HMDA = list(
      data = function() aer("HMDA"),
      formula = deny ~ pirat + hirat + lvrat + chist + mhist + phist + unemp + selfemp +
        insurance + condomin + afam + single + hschool,
      family = stats::binomial(link = "probit")
    ),
    # Gerfin (1996): labour force participation of Swiss women.
    SwissLabor = list(
      data = function() aer("SwissLabor"),
      formula = participation ~ income + age + I(age^2) + education + youngkids + oldkids +
        foreign,
      family = stats::binomial(link = "probit")
    ),
    # Fox and Weisberg: nine-month salaries of US college professors.
    Salaries = list(
      data = function() { utils::data("Salaries", package = "carData", envir = environment()); Salaries },
      formula = log(salary) ~ rank + discipline + yrs.since.phd + sex,
      family = stats::gaussian()
    ),
    # Fair (1978): extramarital affairs, as a logit of having had any.
    Affairs = list(
      data = function() aer("Affairs"),
      formula = I(affairs > 0) ~ age + yearsmarried + religiousness + occupation + rating,
      family = stats::binomial()
    )
  )
}

aer <- function(name) {
  env <- new.env()
  utils::data(list = name, package = "AER", envir = env)
  get(name, envir = env)
}
