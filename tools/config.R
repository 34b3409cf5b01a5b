# Run by ./configure: find the Rust toolchain, report it, and write src/Makevars.

msrv <- local({
  req <- read.dcf("DESCRIPTION", fields = "SystemRequirements")[[1]]
  sub(".*rustc >= ([0-9.]+).*", "\\1", req)
})

find_tool <- function(tool) {
  path <- Sys.which(tool)
  if (!nzchar(path)) {
    home <- file.path(Sys.getenv("HOME"), ".cargo", "bin", tool)
    if (file.exists(home)) path <- home
  }
  unname(path)
}

cargo <- find_tool("cargo")
rustc <- find_tool("rustc")
if (!nzchar(cargo) || !nzchar(rustc)) {
  message(
    "------------------------------------------------------------------\n",
    "sygnet needs the Rust toolchain (cargo and rustc >= ", msrv, ") to build.\n",
    "Install it from https://rustup.rs (recommended) or with your system's\n",
    "package manager (e.g. 'apt install cargo' on Debian/Ubuntu), then retry.\n",
    "------------------------------------------------------------------"
  )
  quit(status = 1)
}

version_of <- function(tool) {
  out <- suppressWarnings(tryCatch(system2(tool, "--version", stdout = TRUE, stderr = FALSE),
                                   error = function(e) character()))
  if (!length(out) || !nzchar(out[[1]])) {
    message("sygnet: '", tool, " --version' failed. If Rust was installed with rustup, ",
            "run 'rustup default stable' (and check RUSTUP_HOME), then retry.")
    quit(status = 1)
  }
  out[[1]]
}
cargo_version <- version_of(cargo)
rustc_version <- version_of(rustc)
message("sygnet: using ", cargo_version, " (", cargo, ")")
message("sygnet: using ", rustc_version, " (", rustc, ")")
found <- sub("^rustc ([0-9.]+).*", "\\1", rustc_version)
if (utils::compareVersion(found, msrv) < 0) {
  message("sygnet needs rustc >= ", msrv, " but found ", found,
          "; update Rust (e.g. 'rustup update') and retry.")
  quit(status = 1)
}

features <- Sys.getenv("SYGNET_CARGO_FEATURES")
extra_libs <- ""
if (nzchar(features)) {
  message("sygnet: building with cargo features: ", features)
  if (grepl("cuda", features)) {
    cuda_home <- Sys.getenv("CUDA_HOME", "/usr/local/cuda")
    # A static Rust library cannot carry link flags, so they are added here: those
    # that candle's kernel crate asks for (its own static library of compiled
    # kernels, the CUDA runtime), read from its build script's output once cargo has
    # run, then the libraries candle's CUDA backend links dynamically.
    kernel_libs <- paste(
      "$(shell sed -n",
      "-e 's/^cargo:rustc-link-search=\\(native=\\)\\{0,1\\}/-L/p'",
      "-e 's/^cargo:rustc-link-lib=\\(static=\\|dylib=\\)\\{0,1\\}/-l/p'",
      "$(LIBDIR)/build/candle-kernels-*/output)"
    )
    extra_libs <- paste0(
      kernel_libs, " -L", file.path(cuda_home, "lib64"),
      " -lcuda -lcudart -lcublas -lcublasLt -lcurand -lnvrtc -lstdc++"
    )
  }
  features <- paste("--features", features)
}

# A shared target directory (developer and CI use only) keeps compiled crates across
# installs from different source trees; otherwise the build happens in src/rust/target
# and, for a vendored (CRAN-style) build, is removed after linking.
shared_target <- Sys.getenv("SYGNET_TARGET_DIR")
vendored <- file.exists("src/rust/vendor.tar.xz")
if (vendored) message("sygnet: building offline from the vendored crates")
target_dir <- if (nzchar(shared_target)) normalizePath(shared_target, mustWork = FALSE) else "./rust/target"
remove_target <- if (vendored && !nzchar(shared_target)) "yes" else "no"

makevars <- readLines("src/Makevars.in")
subst <- c(
  "@CARGO_DIR@" = dirname(cargo),
  "@FEATURES@" = features,
  "@TARGET_DIR@" = target_dir,
  "@REMOVE_TARGET@" = remove_target,
  "@EXTRA_LIBS@" = extra_libs
)
for (key in names(subst)) makevars <- gsub(key, subst[[key]], makevars, fixed = TRUE)
writeLines(makevars, "src/Makevars")
