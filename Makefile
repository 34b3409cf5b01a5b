# Developer and CI entry points; `make help` lists them.
SHELL := /bin/bash
R_HOME := $(shell R RHOME 2>/dev/null)
export R_HOME
export R_INCLUDE_DIR := $(shell Rscript -e 'cat(R.home("include"))' 2>/dev/null)
export PATH := $(PATH):$(HOME)/.cargo/bin
# Compiled crates are kept here between installs of different source trees.
export SYGNET_TARGET_DIR ?= $(CURDIR)/src/rust/target
VERSION := $(shell sed -n 's/^Version: //p' DESCRIPTION)
TARBALL := sygnet_$(VERSION).tar.gz
LIB := $(CURDIR)/.rlib
CARGO := cargo --locked
MANIFEST := --manifest-path src/rust/Cargo.toml

.PHONY: help setup install document lint test-rust cuda tarball install-tarball test-r check test demo bench clean

help:
	@echo "make setup      install R, R packages and tools (Debian/Ubuntu, apt)"
	@echo "make install    build and install the package into R's library"
	@echo "make test       the whole suite: lint, Rust tests, CUDA build, offline tarball build, R tests, R CMD check"
	@echo "make cuda       compile and test the engine with the cuda feature (where nvcc is installed)"
	@echo "make demo       fit a GAN to carData::SLID and write a comparison report to demo-report/"
	@echo "make bench      speed and quality benchmarks (prints tables)"
	@echo "make document   regenerate R/extendr-wrappers.R, NAMESPACE and man/"

setup:
	@bash tools/setup-debian.sh

# Runs the set-up script only when R or a needed R package is missing.
.setup-done: tools/setup-debian.sh
	@bash tools/setup-debian.sh
	@touch .setup-done

install: .setup-done
	R CMD INSTALL .

document: .setup-done
	Rscript tools/update-wrappers.R
	Rscript -e 'roxygen2::roxygenise(load_code = roxygen2::load_source)'

lint: .setup-done
	$(CARGO) fmt $(MANIFEST) --all -- --check
	$(CARGO) clippy $(MANIFEST) --workspace --all-targets -j 2 -- -D warnings

test-rust: .setup-done
	$(CARGO) test $(MANIFEST) -p sygnet-core --release -j 2

# The CUDA build needs the CUDA toolkit (nvcc) to compile, not a GPU; its tests run on
# whatever device is present. Skipped, with a message, where nvcc is missing.
cuda: .setup-done
	@if command -v nvcc >/dev/null 2>&1; then \
	  if [ -z "$${CUDA_COMPUTE_CAP:-}" ] && ! command -v nvidia-smi >/dev/null 2>&1; then \
	    echo "make cuda: no GPU to ask for its compute capability; compiling the kernels for 8.0 (set CUDA_COMPUTE_CAP to choose)"; \
	    export CUDA_COMPUTE_CAP=80; \
	  fi; \
	  $(CARGO) test $(MANIFEST) -p sygnet-core --release -j 2 --features cuda; \
	else \
	  echo "make cuda: skipped: nvcc (the CUDA toolkit) is not installed, so the cuda feature cannot be compiled here"; \
	fi

tarball: .setup-done
	bash tools/vendor-crates.sh
	R CMD build .
	rm -f src/rust/vendor.tar.xz

# Installs the built tarball with no registry access: no network at all where the
# machine allows it (unshare -n), an empty HOME (no cargo cache) and cargo forced
# offline, so only the vendored crates can be used. RUSTUP_HOME keeps rustup's
# toolchain reachable.
export RUSTUP_HOME ?= $(HOME)/.rustup
NO_NETWORK := $(shell unshare -n true 2>/dev/null && echo "unshare -n")
OFFLINE_ENV = HOME=$$(mktemp -d) RUSTUP_HOME=$(RUSTUP_HOME) CARGO_NET_OFFLINE=true
install-tarball: tarball
	rm -rf $(LIB) && mkdir -p $(LIB)
	@echo "offline install$(if $(NO_NETWORK), with networking disabled,) from $(TARBALL)"
	$(NO_NETWORK) env $(OFFLINE_ENV) R CMD INSTALL -l $(LIB) $(TARBALL)

test-r: install-tarball
	Rscript tools/run-tests.R $(LIB)

# R CMD check of the tarball, offline, building the crates from scratch.
check: tarball
	$(NO_NETWORK) env -u SYGNET_TARGET_DIR $(OFFLINE_ENV) _R_CHECK_FORCE_SUGGESTS_=false \
	  R CMD check --no-manual $(TARBALL)
	@Rscript tools/check-status.R sygnet.Rcheck

test: lint test-rust cuda test-r check
	@echo "make test: all stages passed"

demo: install
	Rscript inst/report/slid-demo.R demo-report

bench: install
	Rscript bench/quality.R

clean:
	rm -rf $(LIB) sygnet.Rcheck $(TARBALL) .setup-done src/rust/vendor src/rust/vendor.tar.xz
