#!/usr/bin/env bash
# Installs what building, testing and demonstrating sygnet needs on Debian/Ubuntu:
# R and the R packages (from apt, since CRAN may be unreachable), pandoc, xz.
# Idempotent: installs only what is missing and says what it installs.
# Rust (cargo, rustc >= 1.89) is checked, not installed: get it from https://rustup.rs.
set -euo pipefail

packages=(
  r-base-dev xz-utils pandoc devscripts
  r-cran-cli r-cran-generics r-cran-rlang r-cran-vctrs r-cran-withr
  r-cran-testthat r-cran-roxygen2 r-cran-knitr r-cran-rmarkdown r-cran-ggplot2
  r-cran-rpart r-cran-ranger r-cran-tibble r-cran-future r-cran-future.apply r-cran-progressr
  r-cran-cardata r-cran-aer r-cran-palmerpenguins r-cran-haven r-cran-survey
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: all Debian packages present"
fi

PATH="$PATH:$HOME/.cargo/bin"
if ! command -v cargo >/dev/null || ! command -v rustc >/dev/null; then
  echo "setup: cargo/rustc not found. Install Rust (>= 1.89) with rustup: https://rustup.rs" >&2
  exit 1
fi
echo "setup: $(cargo --version); $(rustc --version)"
for c in rustfmt clippy; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^$c"; then
    echo "setup: adding rustup component $c"
    rustup component add "$c" >/dev/null 2>&1 || echo "setup: could not add $c (needed only for lint checks)"
  fi
done
