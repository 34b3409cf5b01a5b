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

# A codebook read off a public data set, as a private fit needs it: levels of every
# factor or character column, and numeric bounds around the observed range, widened by
# a tenth of it on each side. (Protected data must get both from elsewhere: see ?dp.)
public_codebook <- function(real) {
  categorical <- vapply(real, function(x) is.factor(x) || is.character(x), logical(1))
  levels <- lapply(real[categorical], function(x) {
    if (is.factor(x)) levels(x) else sort(unique(x[!is.na(x)]))
  })
  bounds <- lapply(real[!categorical & !vapply(real, is.logical, logical(1))], function(x) {
    r <- range(as.double(unclass(x)), na.rm = TRUE)
    pad <- max(diff(r), 1) / 10
    bound <- c(r[1] - pad, r[2] + pad)
    if (inherits(x, c("Date", "POSIXct"))) structure(bound, class = class(x)) else bound
  })
  list(levels = levels, bounds = bounds)
}

# The 80/20 split of the benchmarks (seed 42): list(train, holdout).
split_set <- function(real) {
  in_train <- withr::with_seed(42, sample(nrow(real)) <= round(0.8 * nrow(real)))
  list(train = real[in_train, , drop = FALSE], holdout = real[!in_train, , drop = FALSE])
}
