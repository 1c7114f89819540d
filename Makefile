# metrod — GNU make build.  `make demo` and `make check` are the two commands a user types.
#
# Layout of outputs: build/ holds the release build (build/metrod, build/metroctl,
# build/metrosim); `make check` builds a second, sanitized tree in build/san/ and runs every
# test against it.  SANITIZE=1 selects AddressSanitizer + UndefinedBehaviorSanitizer for any
# target; COVERAGE=1 adds gcov instrumentation (see `make coverage`).

VERSION    := 0.1.0
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
DATADIR    ?= $(PREFIX)/share
sysconfdir ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
DESTDIR    ?=
SYSTEMDUNITDIR ?= $(shell pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || echo /lib/systemd/system)
SYSUSERSDIR    ?= $(shell pkg-config --variable=sysusersdir systemd 2>/dev/null || echo /usr/lib/sysusers.d)
TMPFILESDIR    ?= $(shell pkg-config --variable=tmpfilesdir systemd 2>/dev/null || echo /usr/lib/tmpfiles.d)

BUILD    ?= build
SANITIZE ?=
COVERAGE ?=
CC       ?= cc

# Debian packages the build, the tests, the demo and `make lint` need.  `make deps` installs
# the missing ones (as root) or prints the exact apt-get line.
DEB_BUILD := gcc make pkg-config libmodbus-dev libserialport-dev libzmq3-dev libyaml-dev \
             libcmocka-dev libsqlite3-dev libsodium-dev libsystemd-dev libjansson-dev \
             libcairo2-dev libpango1.0-dev libxlsxwriter-dev fonts-wqy-microhei
DEB_TEST  := python3 python3-zmq python3-openpyxl python3-cryptography poppler-utils python3-pymodbus python3-serial python3-serial-asyncio python3-jsonschema mbpoll socat sqlite3 faketime \
             systemd locales
DEB_LINT  := clang-format clang-tidy cppcheck clang libclang-rt-14-dev
DEB_ALL   := $(DEB_BUILD) $(DEB_TEST) $(DEB_LINT)

PKGS := libmodbus libserialport libzmq yaml-0.1 jansson libsodium libsystemd sqlite3
# Reports (metroctl only): PDF through cairo + pango, XLSX through libxlsxwriter.
REPORT_PKGS := cairo pangocairo fontconfig xlsxwriter

# Messages are built in fixed buffers and truncate by design (key paths through metro_ykey,
# which marks a cut with "..."), so -Wformat-truncation is off; every other format check stays on.
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
        -Wpointer-arith -Wvla -Wundef -Wnull-dereference -Wimplicit-fallthrough \
        -Wmissing-declarations -Wold-style-definition -Wredundant-decls \
        -Wno-format-truncation
OPT  := -O2 -g
ifeq ($(SANITIZE),1)
OPT  := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDSAN := -fsanitize=address,undefined
endif
ifeq ($(FUZZ),1)
OPT  += -fsanitize=fuzzer-no-link -Wno-unknown-warning-option
endif
ifeq ($(COVERAGE),1)
OPT  := -O0 -g --coverage
LDSAN += --coverage
endif

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) $(REPORT_PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CPPFLAGS += -D_GNU_SOURCE -DMETRO_VERSION='"$(VERSION)"' \
            -DMETRO_DATADIR='"$(DATADIR)/metrod"' -DMETRO_SYSCONFDIR='"$(sysconfdir)/metrod"' \
            $(addprefix -I,$(SRC_DIRS))
CFLAGS   ?=
ALL_CFLAGS = -std=gnu11 $(OPT) $(WARN) -fPIC $(PKG_CFLAGS) $(CFLAGS)
LDLIBS   = $(PKG_LIBS) -lpthread -lm -ldl
LDFLAGS  += $(LDSAN) -rdynamic

# The rooms (docs/architecture.md): lib/ (base, metrology, procedure, records) depends on
# nothing else of ours, drivers/ on lib/ only, daemon/ on both; tools/ are programs on top.
# tools/scripts/check-layout.sh (test_layout.sh) checks those rules on every include.
# libmetro.a holds every room but the program entry points and the plugin drivers.
SRC_DIRS  := lib/base lib/metrology lib/procedure lib/records drivers drivers/modbus \
             drivers/serial daemon daemon/engine
LIB_SRC   := $(filter-out daemon/main.c,$(foreach d,$(SRC_DIRS),$(wildcard $(d)/*.c)))
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
LIB       := $(BUILD)/libmetro.a

METROD_SRC   := daemon/main.c
METROCTL_SRC := $(wildcard tools/metroctl/*.c)
METROSIM_SRC := $(wildcard tools/metrosim/*.c)

UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
INTEG_SRC := $(wildcard tests/integration/test_*.c)
INTEG_BIN := $(INTEG_SRC:tests/integration/%.c=$(BUILD)/tests/%)
FUZZ_SRC  := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN  := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)
TESTLIB_SRC := $(wildcard tests/lib/*.c)
TESTLIB_OBJ := $(TESTLIB_SRC:%.c=$(BUILD)/obj/%.o)

PROGRAMS := $(BUILD)/metrod $(BUILD)/metroctl $(BUILD)/metrosim
# Plugin drivers (drivers/plugins/*.c), built as shared objects; bad-abi.so is the example
# plugin built with a wrong ABI version, for the test that metrod refuses it.
PLUGIN_SO := $(patsubst drivers/plugins/%.c,$(BUILD)/plugins/%.so,$(wildcard drivers/plugins/*.c))
PLUGIN_SO := $(subst _,-,$(PLUGIN_SO)) $(BUILD)/plugins/bad-abi.so

# Quiet build lines unless V=1.
ifeq ($(V),1)
Q :=
say = @:
else
Q := @
say = @printf '  %-6s %s\n' $(1) $(2);
endif

.PHONY: all check demo bench lint install clean deps tests unit integration coverage fuzz help \
	campaign kill-campaign run-tests soak
.DEFAULT_GOAL := all

all: $(PROGRAMS) $(PLUGIN_SO)

# A plugin sees the driver ABI through the headers: a changed header rebuilds it.
PLUGIN_HDRS := $(wildcard drivers/*.h lib/base/*.h)
$(BUILD)/plugins/scpi-tcp.so: drivers/plugins/scpi_tcp.c $(PLUGIN_HDRS)
	@mkdir -p $(dir $@)
	$(call say,SO,$@)
	$(Q)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -shared $(LDSAN) -o $@ $<
$(BUILD)/plugins/bad-abi.so: drivers/plugins/scpi_tcp.c $(PLUGIN_HDRS)
	@mkdir -p $(dir $@)
	$(call say,SO,$@)
	$(Q)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -DMETRO_PLUGIN_BAD_ABI -shared $(LDSAN) -o $@ $<

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)
	$(Q)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(call say,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/metrod: $(METROD_SRC:%.c=$(BUILD)/obj/%.o) $(LIB)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/metroctl: $(METROCTL_SRC:%.c=$(BUILD)/obj/%.o) $(LIB)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs $(REPORT_PKGS) 2>/dev/null)
$(BUILD)/metrosim: $(METROSIM_SRC:%.c=$(BUILD)/obj/%.o) $(LIB)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(TESTLIB_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(call say,TEST,$@)
	$(Q)$(CC) $(CPPFLAGS) -Itests/lib $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka
$(BUILD)/tests/%: tests/integration/%.c $(TESTLIB_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(call say,TEST,$@)
	$(Q)$(CC) $(CPPFLAGS) -Itests/lib $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka
# The unit test of metroctl's report tables links those modules of metroctl (not its PDF
# module or main): the statistics table, the household rule, the summary, the MPE envelope.
REPORT_UNIT_OBJ := $(addprefix $(BUILD)/obj/tools/metroctl/metroctl_report_,stats.o household.o \
                   summary.o envelope.o)
$(BUILD)/tests/test_report_tables: tests/unit/test_report_tables.c $(REPORT_UNIT_OBJ) \
		$(TESTLIB_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(call say,TEST,$@)
	$(Q)$(CC) $(CPPFLAGS) -Itests/lib -Itools/metroctl $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ \
		$(LDLIBS) -lcmocka $(shell pkg-config --libs xlsxwriter 2>/dev/null)

tests: $(PROGRAMS) $(PLUGIN_SO) $(UNIT_BIN) $(INTEG_BIN) $(FUZZ_BIN)

# Fuzz harnesses (tests/fuzz/fuzz_*.c).  In a normal build each is linked with replay.c, which
# runs the seed corpus and the crash regressions once (test_fuzz_replay.sh, in `make check`);
# with FUZZ=1 (clang, `make fuzz`) they are linked with libFuzzer instead.
ifeq ($(FUZZ),1)
$(BUILD)/fuzz/%: tests/fuzz/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(call say,FUZZ,$@)
	$(Q)$(CC) $(CPPFLAGS) -Itests/fuzz $(ALL_CFLAGS) -fsanitize=fuzzer $(LDFLAGS) -o $@ $^ $(LDLIBS)
else
$(BUILD)/fuzz/%: tests/fuzz/%.c tests/fuzz/replay.c $(LIB)
	@mkdir -p $(dir $@)
	$(call say,FUZZ,$@)
	$(Q)$(CC) $(CPPFLAGS) -Itests/fuzz $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
endif

# Benchmarks (tests/bench/bench_*.c), run by `make bench` through tools/scripts/bench.sh.
BENCH_SRC := $(wildcard tests/bench/bench_*.c)
BENCH_BIN := $(BENCH_SRC:tests/bench/%.c=$(BUILD)/bench/%)
$(BUILD)/bench/%: tests/bench/%.c tests/bench/rounds.h $(LIB)
	@mkdir -p $(dir $@)
	$(call say,BENCH,$@)
	$(Q)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $(filter-out %.h,$^) $(LDLIBS)

# --- dependencies -------------------------------------------------------------------------
deps:
	@missing=""; for p in $(DEB_ALL); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then echo "deps: all Debian packages present"; exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "deps: installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	else \
	  echo "deps: missing Debian packages; run as root:"; \
	  echo "  apt-get update && apt-get install -y$$missing"; exit 1; \
	fi

# --- tests ----------------------------------------------------------------------------------
# `make check` = deps, the release build, then the sanitized tree and every test in it.
check: deps
	$(MAKE) all
	$(MAKE) BUILD=build/san SANITIZE=1 run-tests

# T="name ..." runs only the tests named (test_store, store, tamper, ...): `make check T=tamper`.
run-tests: tests
	@BUILD=$(BUILD) tests/run.sh all $(T)

coverage: deps
	$(MAKE) BUILD=build/cov COVERAGE=1 tests
	BUILD=build/cov tests/run.sh unit
	tools/scripts/coverage.sh build/cov

# Long campaigns, outside `make check`: the driver fault campaign at full size (100000 reads
# per transport with 1 % injected faults; about 15 minutes).
campaign: deps
	$(MAKE) all tests
	METRO_FAULT_N=$${METRO_FAULT_N:-100000} METRO_BUILD=$(BUILD) METRO_SRCDIR=$(CURDIR) \
	  $(BUILD)/tests/test_faults

# The kill -9 campaign at full size: 200 kills of metrod during simulated runs, half at random
# moments, half the moment a result is published (about 20 minutes); `make check` runs 6.
kill-campaign: deps
	$(MAKE) all
	KILLS=$${KILLS:-200} BUILD=$(BUILD) tools/scripts/soak.sh kill

# The soak: SOAK_MINUTES (default 30) of continuous batches with random faults; memory,
# descriptors and threads sampled (tools/scripts/soak.sh; figures in build/soak/report.md).
soak: deps
	$(MAKE) all
	SOAK_MINUTES=$${SOAK_MINUTES:-30} BUILD=$(BUILD) tools/scripts/soak.sh

# --- demo / bench / fuzz --------------------------------------------------------------------
demo: deps all
	tools/scripts/demo.sh

bench: deps
	$(MAKE) all $(BENCH_BIN)
	BUILD=$(BUILD) tools/scripts/bench.sh

# libFuzzer (clang) with ASan + UBSan: every harness for FUZZ_SECONDS, new inputs kept in
# build/fuzz/corpus/, crashes in build/fuzz/crashes/, figures in build/fuzz/report.md.
FUZZ_SECONDS ?= 60
fuzz: deps
	$(MAKE) BUILD=build/fuzz CC=clang SANITIZE=1 FUZZ=1 $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/fuzz/%)
	FUZZ_SECONDS=$(FUZZ_SECONDS) tools/scripts/fuzz.sh build/fuzz

# --- lint -----------------------------------------------------------------------------------
C_SOURCES = $(wildcard $(addsuffix /*.[ch],$(SRC_DIRS)) drivers/plugins/*.c tools/*/*.[ch] tests/unit/*.c tests/integration/*.c tests/lib/*.[ch] tests/fuzz/*.[ch])
lint: deps
	clang-format --dry-run --Werror $(C_SOURCES)
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	  --std=c11 --inline-suppr -D__GNUC__ -DMETRO_VERSION='"x"' $(addprefix -I,$(SRC_DIRS)) \
	  --suppress=missingIncludeSystem lib daemon drivers tools
	clang-tidy --quiet $(wildcard $(addsuffix /*.c,$(SRC_DIRS)) drivers/plugins/*.c tools/*/*.c) -- \
	  $(CPPFLAGS) -std=gnu11 $(PKG_CFLAGS)
	@mkdir -p $(BUILD)/lint
	sed -e 's|@BINDIR@|$(CURDIR)/$(BUILD)|g' -e 's|@SYSCONFDIR@|$(CURDIR)/config|g' \
	  systemd/metrod.service > $(BUILD)/lint/metrod.service
	$(MAKE) $(BUILD)/metrod
	systemd-analyze verify --man=no $(BUILD)/lint/metrod.service
	@echo "lint: clean"

# --- install --------------------------------------------------------------------------------
install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(sysconfdir)/metrod $(DESTDIR)$(DATADIR)/metrod/procedures \
	  $(DESTDIR)$(DATADIR)/metrod/profiles $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR)
	install -m 0755 $(PROGRAMS) $(DESTDIR)$(BINDIR)/
	install -m 0644 procedures/*.yaml $(DESTDIR)$(DATADIR)/metrod/procedures/ 2>/dev/null || true
	install -m 0644 config/profiles/*.yaml $(DESTDIR)$(DATADIR)/metrod/profiles/ 2>/dev/null || true
	install -d $(DESTDIR)$(DATADIR)/metrod/profiles/examples
	install -m 0644 config/profiles/examples/*.yaml $(DESTDIR)$(DATADIR)/metrod/profiles/examples/
	test -e $(DESTDIR)$(sysconfdir)/metrod/metrod.yaml || \
	  sed 's|/usr/local/share/metrod|$(DATADIR)/metrod|g' config/metrod.yaml > $(DESTDIR)$(sysconfdir)/metrod/metrod.yaml
	chmod 0640 $(DESTDIR)$(sysconfdir)/metrod/metrod.yaml
	install -d $(DESTDIR)$(PREFIX)/lib/metrod/plugins
	install -m 0755 $(BUILD)/plugins/scpi-tcp.so $(DESTDIR)$(PREFIX)/lib/metrod/plugins/
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(sysconfdir)|g' systemd/metrod.service \
	  > $(DESTDIR)$(SYSTEMDUNITDIR)/metrod.service
	install -m 0644 systemd/metrod.sysusers $(DESTDIR)$(SYSUSERSDIR)/metrod.conf
	install -m 0644 systemd/metrod.tmpfiles $(DESTDIR)$(TMPFILESDIR)/metrod.conf

clean:
	rm -rf build

help:
	@echo "targets: all check demo bench lint install clean deps coverage"

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
