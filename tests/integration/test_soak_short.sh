#!/usr/bin/env bash
# The short version of the soak (tools/scripts/soak.sh, `make soak`) inside `make check`: 60 s of
# continuous batches on the three simulated rigs with random faults, sampled every 2 s.  It
# runs the release build (build/, which `make check` builds first): under AddressSanitizer
# the quarantine of freed memory makes resident memory grow by design, so growth could not
# be judged there.  Judged (tools/scripts/soak.sh says how): memory growth from the end of warm-up to
# the end against the bound measured for this 60-s run (SOAK_SHORT_RSS_PCT, default 40 %;
# memory still fills by design here, so only a leak of about 1.5 MB a minute or more shows),
# descriptors, threads, every run done or ended by a fault the injected faults explain,
# metrod's exit status on SIGTERM, and the integrity of the records.
set -u
if [ ! -x build/metrod ] || [ ! -x build/metroctl ] || [ ! -x build/metrosim ]; then
	echo "FAIL: the release build (build/) is missing; make check builds it first"
	exit 1
fi
BUILD=build SOAK_SECONDS=${SOAK_SECONDS:-60} SOAK_SAMPLE_S=2 SOAK_SEED=${SOAK_SEED:-7} tools/scripts/soak.sh
