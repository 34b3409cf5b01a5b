#!/usr/bin/env bash
# Puts every crate the Rust code needs into src/rust/vendor.tar.xz, so the tarball made
# by R CMD build compiles with no network, and regenerates inst/AUTHORS from them.
set -euo pipefail
cd "$(dirname "$0")/../src/rust"
PATH="$PATH:$HOME/.cargo/bin"
rm -rf vendor vendor.tar.xz
cargo vendor --locked --versioned-dirs --quiet vendor > /dev/null
# Fixed order, owner and times, so the same crates give the same archive.
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime='2026-01-01 00:00Z' \
  -cf - vendor | xz -6 -T2 > vendor.tar.xz
cd ../..
Rscript tools/update-authors.R src/rust/vendor
rm -rf src/rust/vendor
echo "vendor: $(du -h src/rust/vendor.tar.xz | cut -f1) in src/rust/vendor.tar.xz"
