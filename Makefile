# snakepit: `make` builds build/snakepit, `make run` serves the game,
# `make test` runs every test (also under ASan+UBSan), `make bench` measures,
# `make install` installs (PREFIX, DESTDIR), `make deb` builds a package.
CC       ?= cc
BUILD    ?= build
SAN      ?=
# Parallel compile jobs for the three builds of `make test`.
JOBS     ?= $(shell nproc 2>/dev/null || echo 2)
PKGS      = libuv libcrypto jansson sqlite3 hiredis
CPPFLAGS += -Isrc -I$(BUILD)/gen -D_GNU_SOURCE $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -fno-strict-aliasing -pthread
LDLIBS   += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lhttp_parser -lwslay -lpthread -lm
ifeq ($(SAN),1)
CFLAGS   += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -O1
LDFLAGS  += -fsanitize=address,undefined
endif
ifeq ($(SAN),thread)
CFLAGS   += -fsanitize=thread -fno-omit-frame-pointer -O1
LDFLAGS  += -fsanitize=thread
endif

SRC      := $(wildcard src/*/*.c)
OBJ      := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(SRC)) $(BUILD)/obj/gen/web_assets.o
LIBOBJ   := $(filter-out $(BUILD)/obj/app/main.o,$(OBJ))
WEB      := $(sort $(wildcard web/*))
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
# The stand-in for the core that the cluster tests drive (tests/cluster).
CLUSTER_NODE := $(BUILD)/tests/cluster_node

# Where `make install` puts things; DESTDIR is prepended to each (staging).
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
DATADIR    ?= $(PREFIX)/share
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
UNITDIR    ?= $(PREFIX)/lib/systemd/system

.PHONY: all run test test-unit test-integration test-browser deps bench fuzz format clean install uninstall deb cluster test-cluster
all: $(BUILD)/snakepit

$(BUILD)/snakepit: $(OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(CFLAGS)

$(BUILD)/obj/%.o: src/%.c $(wildcard src/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -c -o $@ $<

# The web client is compiled into the binary so that `make run` needs no files.
$(BUILD)/tools/embed: tools/embed.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O1 -Wall -Wextra -Werror -o $@ $<
$(BUILD)/gen/web_assets.c: $(BUILD)/tools/embed $(WEB)
	@mkdir -p $(dir $@)
	$(BUILD)/tools/embed $@ $(WEB)
$(BUILD)/obj/gen/web_assets.o: $(BUILD)/gen/web_assets.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c tests/unit/test.h $(LIBOBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $< $(LIBOBJ) $(LDLIBS)

$(CLUSTER_NODE): tests/cluster/node.c $(LIBOBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBOBJ) $(LDLIBS)

deps:
	@scripts/deps.sh build

run: deps
	@$(MAKE) --no-print-directory all
	$(BUILD)/snakepit --data ./data

units: $(UNIT_BIN) $(CLUSTER_NODE)

# Redis, 3 nodes and HAProxy on 127.0.0.1 (deploy/), the game at
# http://localhost:8080 until Ctrl-C; scripts/cluster.sh is the tool.
CLUSTER_DIR ?= ./cluster-data
cluster: deps
	@scripts/deps.sh cluster
	@$(MAKE) --no-print-directory all
	@scripts/cluster.sh run --nodes 3 --port 8080 --dir $(CLUSTER_DIR)

# Only the cluster suite (plain and ASan builds).
test-cluster:
	@scripts/deps.sh test
	@$(MAKE) --no-print-directory all units
	@$(MAKE) --no-print-directory BUILD=build/asan SAN=1 all units
	@$(MAKE) --no-print-directory BUILD=build/tsan SAN=thread all build/tsan/tests/cluster_node
	@SUITES=cluster tests/run.sh

# The whole suite: unit + integration + browser, then unit + integration
# again under AddressSanitizer and UndefinedBehaviorSanitizer, and the
# integration and the concurrency unit tests under ThreadSanitizer.
test:
	@scripts/deps.sh test
	@$(MAKE) --no-print-directory -j$(JOBS) all units
	@$(MAKE) --no-print-directory -j$(JOBS) BUILD=build/asan SAN=1 all units
	@$(MAKE) --no-print-directory -j$(JOBS) BUILD=build/tsan SAN=thread all units
	@tests/run.sh

# Each libFuzzer target for FUZZ_SECONDS on a copy of its corpus.
FUZZ_SECONDS ?= 60
fuzz:
	@scripts/deps.sh fuzz
	@$(MAKE) --no-print-directory -C tests/fuzz run SECONDS=$(FUZZ_SECONDS)

# The standard workloads of bench/run.sh (about 37 minutes); writes
# bench/results/latest.{json,md}. BENCH_QUICK=1 for a short smoke run.
bench:
	@scripts/deps.sh bench
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory -C bench run

# The binary, its manual page, the systemd units (with this PREFIX's paths),
# the configuration file (an existing one is kept), and every other file of
# deploy/ (the cluster configurations) under DATADIR/snakepit.
install: all
	install -D -m 0755 $(BUILD)/snakepit $(DESTDIR)$(BINDIR)/snakepit
	install -D -m 0644 docs/snakepit.1 $(DESTDIR)$(MANDIR)/man1/snakepit.1
	install -d $(DESTDIR)$(UNITDIR)
	for u in deploy/systemd/*.in; do \
	  sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' $$u \
	    >$(DESTDIR)$(UNITDIR)/$$(basename $$u .in) && \
	  chmod 0644 $(DESTDIR)$(UNITDIR)/$$(basename $$u .in) || exit 1; \
	done
	[ -e $(DESTDIR)$(SYSCONFDIR)/snakepit/snakepit.conf ] || \
	  install -D -m 0644 deploy/snakepit.conf $(DESTDIR)$(SYSCONFDIR)/snakepit/snakepit.conf
	cd deploy && find . -type f ! -path './systemd/*' | while read -r f; do \
	  install -D -m 0644 "$$f" "$(DESTDIR)$(DATADIR)/snakepit/$${f#./}" || exit 1; \
	done

# Removes what install put, except the configuration file and the scores.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/snakepit $(DESTDIR)$(MANDIR)/man1/snakepit.1
	for u in deploy/systemd/*.in; do rm -f $(DESTDIR)$(UNITDIR)/$$(basename $$u .in); done
	rm -rf $(DESTDIR)$(DATADIR)/snakepit

# build/snakepit_VERSION-1_ARCH.deb (scripts/mkdeb.sh, dpkg-deb).
deb: all
	@scripts/deps.sh deb
	@BUILD=$(BUILD) scripts/mkdeb.sh

format:
	clang-format -i src/*/*.c src/*/*.h tests/unit/*.c tests/unit/*.h tests/cluster/*.c tools/*.c

clean:
	rm -rf build

-include $(OBJ:.o=.d)
