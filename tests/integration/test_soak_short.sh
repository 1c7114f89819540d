#!/usr/bin/env bash
# The short version of the soak (tools/scripts/soak.sh, `make soak`) inside `make check`: 60 s of
# continuous batches on the three simulated rigs with random faults, sampled every 2 s.  It
# runs the release build (build/, which `make check` builds first): under AddressSanitizer
# the quarantine of freed memory makes resident memory grow by design, so growth could not
# be judged there.  Sixty seconds cannot tell memory that fills by design (recent runs,
# SQLite's page cache) from a leak, so this run reports memory without judging it; it judges
# descriptors, threads, the accounting of every run and the integrity of the records.
set -u
if [ ! -x build/metrod ] || [ ! -x build/metroctl ] || [ ! -x build/metrosim ]; then
	echo "FAIL: the release build (build/) is missing; make check builds it first"
	exit 1
fi
BUILD=build SOAK_SECONDS=${SOAK_SECONDS:-60} SOAK_SAMPLE_S=2 SOAK_SEED=${SOAK_SEED:-7} \
	SOAK_RSS_PCT=${SOAK_RSS_PCT:-10} tools/scripts/soak.sh
