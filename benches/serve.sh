#!/usr/bin/env sh
# Benchmark of `registrar serve` on a release build: app creations per second and GETs per
# second of an expanded list of 1,000 apps. No tools beyond cargo are needed; the load loop
# is benches/serve.rs (tokio + reqwest).
#   FLAVOR=x|edge   CONCURRENCY=8   SECONDS=5   benches/serve.sh
set -eu
cd "$(dirname "$0")/.."
cargo bench --bench serve
