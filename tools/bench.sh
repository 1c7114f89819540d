#!/usr/bin/env bash
# make bench: every benchmark against a baseline measured in the same run, as a table in
# build/bench.md (figure | metrod | baseline | ratio | target).  The benchmarks are defined by
# the drivers, engine, publisher and store issues and are added here as those land.
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/bench.md
mkdir -p build
{
	echo "| figure | metrod | baseline | ratio | target |"
	echo "|---|---|---|---|---|"
} >"$out"
echo "make bench: no benchmark is implemented yet (they arrive with the drivers, the engine,"
echo "the publisher and the store); wrote the empty table to $out"
