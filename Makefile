# kvstripe - one non-recursive Makefile.
#
#   make            build build/kvstripe
#   make deps       install the Debian packages the build and tests need
#   make test       deps, build, Criterion unit tests, integration tests
#   make check      layering, headers, fuzz (10 s each), then test under
#                   ASan+UBSan with -Werror in build/san; what CI runs
#   make soak       the long runs: t-kill with 100 kill rounds (not in test)
#   make test-scaleout  kvstripe over a GlusterFS of its own (not in test;
#                   installs glusterfs-server, docs/scale-out.md)
#   make headers    compile every core/, fs/, mount/ header on its own
#   make fuzz       libFuzzer targets of tests/fuzz/, 60 s each (build/fuzz)
#   make demo       mount over two directories in ./var and show placement
#   make bench      native vs mount throughput table (docs/performance.md)
#   make compile_commands.json   for clangd and clang-tidy (make tidy)
#   make install    PREFIX=/usr/local DESTDIR= (SBINDIR=/sbin for the
#                   mount helper, which mount(8) finds only there)
#   V=1             show the commands

CC ?= cc
CFLAGS ?= -O2 -g
PREFIX ?= /usr/local
BUILD ?= build

# make install: every path is $(DESTDIR) then the path the files are used
# from, which the mount helper, the unit and the man page name. mount(8)
# looks for mount.fuse.TYPE in /sbin alone (util-linux's FS_SEARCH_PATH,
# /sbin:/sbin/fs.d:/sbin/fs), whatever the PREFIX: the helper goes there.
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc/kvstripe
SBINDIR ?= /sbin
MOUNT_FUSE ?= /sbin/mount.fuse3

override CFLAGS += -std=gnu11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 \
	-Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wwrite-strings -Wpointer-arith -Wformat=2 -Wvla -Wundef \
	-Wimplicit-fallthrough -fno-common -pthread -MMD -MP

ifdef SAN
override CFLAGS += -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer -Werror
override LDFLAGS += -fsanitize=address,undefined
endif

# make fuzz builds core/ and mount/config.c again with clang into build/fuzz:
# libFuzzer's coverage hooks, ASan and UBSan; any UB aborts the run.
ifdef FUZZ
override CFLAGS += -fsanitize=fuzzer-no-link,address,undefined \
	-fno-sanitize-recover=all -fno-omit-frame-pointer
override LDFLAGS += -fsanitize=fuzzer,address,undefined
endif

ifeq ($(V),1)
Q =
else
Q = @
endif

# Debian packages: what pkg-config needs, what the tests run.
DEB_BUILD = gcc libc6-dev pkg-config libfuse3-dev liburing-dev libxxhash-dev \
	libinih-dev libcriterion-dev
DEB_RUN = fuse3 attr acl util-linux e2fsprogs diffutils python3
# Only make fuzz and make check need these (make deps-fuzz): clang for
# -fsanitize=fuzzer; libclang-rt-dev for the libFuzzer and sanitizer
# runtimes clang links (clang only recommends them, and we install with
# --no-install-recommends); llvm for llvm-symbolizer, without which the
# sanitizer reports of the fuzz runs show bare addresses. Unversioned
# names follow Debian's default clang (14 on bookworm).
DEB_FUZZ = clang libclang-rt-dev llvm
# Only make test-scaleout needs these: glusterd and the gluster CLI (server),
# mount.glusterfs and the FUSE client (client); Debian's own GlusterFS.
DEB_SCALEOUT = glusterfs-server glusterfs-client

# The version: git describe in a checkout, else (a release tarball, no .git)
# the constant. Only mount/main.o gets it; it is rebuilt when it changes.
KV_RELEASE = 0.1.0
KV_VERSION := $(shell (test -e .git && \
	git describe --tags --always --dirty || echo $(KV_RELEASE)) 2>/dev/null)

# Layering, enforced by the compiler: each layer gets the include paths of
# its own libraries only, and a "poison" directory that comes before the
# system's, whose headers are each one #error. liburing.h and most FUSE
# headers sit in /usr/include, where no missing -I would hide them.
#   core/ (and unit tests, fuzz targets): liburing, xxhash; no FUSE header
#   fs/: fuse3, xxhash; no liburing.h, except fs/transport/ (the corner for
#        what libfuse 3.14 lacks, FUSE over io_uring among it)
#   mount/: fuse3, inih; fs/ and core/ headers; no liburing.h
# make layering greps for the same includes as a backstop.
POISON = $(BUILD)/poison
FUSE_HDRS = fuse.h fuse_common.h fuse_lowlevel.h fuse_opt.h fuse_log.h \
	cuse_lowlevel.h libfuse_config.h
POISON_FUSE = $(addprefix $(POISON)/nofuse/,$(FUSE_HDRS) \
	$(addprefix fuse3/,$(FUSE_HDRS)))
POISON_URING = $(addprefix $(POISON)/nouring/,liburing.h \
	liburing/barrier.h liburing/compat.h liburing/io_uring.h)

pkg_cflags = $(shell pkg-config --cflags $(1) 2>/dev/null)
pkg_libs = $(shell pkg-config --libs $(1) 2>/dev/null)

CORE_CFLAGS := -I$(POISON)/nofuse $(call pkg_cflags,liburing libxxhash) -Icore
FS_CFLAGS := -I$(POISON)/nouring $(call pkg_cflags,fuse3 libxxhash) \
	-DFUSE_USE_VERSION=314 -Ifs -Ifs/transport -Icore
TRANSPORT_CFLAGS := $(call pkg_cflags,fuse3 libxxhash liburing) \
	-DFUSE_USE_VERSION=314 -Ifs -Ifs/transport -Icore
MOUNT_CFLAGS := -I$(POISON)/nouring $(call pkg_cflags,fuse3 inih) \
	-DFUSE_USE_VERSION=314 -Imount -Ifs -Icore
LIBS := $(call pkg_libs,fuse3 liburing libxxhash inih)
# Unit tests and fuzz targets see core/, mount/config.h and FUSE-free fs/
# headers (e.g. fs/dirsnap.h), never a FUSE header.
TEST_CFLAGS := -I$(POISON)/nofuse $(call pkg_cflags,liburing libxxhash inih) \
	-Icore -Imount -Ifs
UNIT_CFLAGS := $(TEST_CFLAGS) $(call pkg_cflags,criterion) -Itests/unit
TEST_LIBS := $(call pkg_libs,liburing libxxhash inih)
UNIT_LIBS := $(TEST_LIBS) $(call pkg_libs,criterion)

CORE_SRC = $(sort $(wildcard core/*.c))
FS_SRC = $(sort $(wildcard fs/*.c fs/transport/*.c))
MOUNT_SRC = $(sort $(wildcard mount/*.c))
UNIT_SRC = $(sort $(wildcard tests/unit/test_*.c))
FUZZ_SRC = $(sort $(wildcard tests/fuzz/fuzz_*.c))
HDRS = $(sort $(wildcard core/*.h fs/*.h fs/transport/*.h mount/*.h))

CORE_OBJ = $(CORE_SRC:%.c=$(BUILD)/%.o)
FS_OBJ = $(FS_SRC:%.c=$(BUILD)/%.o)
MOUNT_OBJ = $(MOUNT_SRC:%.c=$(BUILD)/%.o)
# The unit tests link core/, the FUSE-free config parser and FUSE-free
# fs/ objects only (no -lfuse3), so any FUSE dependency creeping into them
# fails to link.
UNIT_FS_OBJ = $(BUILD)/fs/dirsnap.o
UNIT_DEPS = $(CORE_OBJ) $(BUILD)/mount/config.o $(BUILD)/mount/config_ini.o \
	$(BUILD)/mount/config_help.o \
	$(BUILD)/mount/rootwait.o $(BUILD)/mount/statsfmt.o $(UNIT_FS_OBJ)
UNIT_BIN = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_BIN = $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/%)
HDR_OBJ = $(HDRS:%.h=$(BUILD)/headers/%.o)

all: $(BUILD)/kvstripe

$(BUILD)/kvstripe: $(CORE_OBJ) $(FS_OBJ) $(MOUNT_OBJ)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

# Made once; never removed as intermediate files.
.SECONDARY: $(POISON_FUSE) $(POISON_URING)

$(POISON)/nofuse/%:
	@mkdir -p $(@D)
	$(Q)echo '#error "layering: no FUSE header ($*) in core/ or tests"' >$@

$(POISON)/nouring/%:
	@mkdir -p $(@D)
	$(Q)echo '#error "layering: $* only in core/ and fs/transport/"' >$@

$(BUILD)/core/%.o: core/%.c | $(POISON_FUSE)
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) $(CORE_CFLAGS) -c -o $@ $<

$(BUILD)/fs/%.o: fs/%.c | $(POISON_URING)
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) $(FS_CFLAGS) -c -o $@ $<

$(BUILD)/fs/transport/%.o: fs/transport/%.c
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) $(TRANSPORT_CFLAGS) -c -o $@ $<

$(BUILD)/mount/%.o: mount/%.c | $(POISON_URING)
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) $(MOUNT_CFLAGS) $(VERSION_CFLAGS) -c -o $@ $<

# Rewritten only when the version changes, so main.o is rebuilt only then.
$(BUILD)/version: FORCE
	@mkdir -p $(@D)
	@echo '$(KV_VERSION)' | cmp -s - $@ || echo '$(KV_VERSION)' >$@

$(BUILD)/mount/main.o: $(BUILD)/version
$(BUILD)/mount/main.o: VERSION_CFLAGS = -DKVSTRIPE_VERSION='"$(KV_VERSION)"'

$(BUILD)/tests/%: tests/unit/%.c $(UNIT_DEPS) | $(POISON_FUSE)
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) $(UNIT_CFLAGS) $(LDFLAGS) -o $@ $< $(UNIT_DEPS) \
		$(UNIT_LIBS)

# A FUSE file server that fails on demand, for the fault tests' failing
# devices (tests/lib/faultdev.sh): a test tool, not part of kvstripe.
FAULTFS = $(BUILD)/tests/faultfs
$(FAULTFS): tests/faultfs/faultfs.c
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) $(call pkg_cflags,fuse3) $(LDFLAGS) -o $@ $< \
		$(call pkg_libs,fuse3)

# Each header compiled alone, as C, with its layer's flags.
$(BUILD)/headers/core/%.o: core/%.h | $(POISON_FUSE)
	@mkdir -p $(@D)
	@echo "  HDR     $<"
	$(Q)$(CC) $(CFLAGS) $(CORE_CFLAGS) -c -o $@ -x c $<

$(BUILD)/headers/fs/%.o: fs/%.h | $(POISON_URING)
	@mkdir -p $(@D)
	@echo "  HDR     $<"
	$(Q)$(CC) $(CFLAGS) $(FS_CFLAGS) -c -o $@ -x c $<

$(BUILD)/headers/fs/transport/%.o: fs/transport/%.h
	@mkdir -p $(@D)
	@echo "  HDR     $<"
	$(Q)$(CC) $(CFLAGS) $(TRANSPORT_CFLAGS) -c -o $@ -x c $<

$(BUILD)/headers/mount/%.o: mount/%.h | $(POISON_URING)
	@mkdir -p $(@D)
	@echo "  HDR     $<"
	$(Q)$(CC) $(CFLAGS) $(MOUNT_CFLAGS) -c -o $@ -x c $<

headers: $(HDR_OBJ)
	@echo "headers ok ($(words $(HDR_OBJ)) compiled alone)"

# Debian packages: install those of $(1) that are missing.
define deb_install
	@missing=; \
	for p in $(1); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

deps:
	$(call deb_install,$(DEB_BUILD) $(DEB_RUN))

deps-fuzz:
	$(call deb_install,$(DEB_BUILD) $(DEB_RUN) $(DEB_FUZZ))

# Criterion counts a crash in a suite's setup or teardown as a warning
# only, so a sanitizer report there would pass: such output fails too.
UNIT_BAD = ERROR: [A-Za-z]*Sanitizer|runtime error:|Warning! The test
unit: $(UNIT_BIN)
	@rc=0; for t in $(UNIT_BIN); do \
		echo "== $$t"; $$t --jobs 1 >$$t.out 2>&1 || rc=1; cat $$t.out; \
		if grep -qE '$(UNIT_BAD)' $$t.out; then rc=1; \
			echo "$$t: a sanitizer report or a crash outside a test"; fi; \
	done; exit $$rc

integration: $(BUILD)/kvstripe $(FAULTFS)
	KVSTRIPE=$(abspath $(BUILD)/kvstripe) bash tests/integration/run.sh

# The long runs, never part of test: KVSTRIPE_KILL_ROUNDS kills of the
# daemon mid-write (t-kill; 10 in make test), about 6 s each.
KVSTRIPE_KILL_ROUNDS ?= 100
soak: deps
	$(MAKE) all
	KVSTRIPE_KILL_ROUNDS=$(KVSTRIPE_KILL_ROUNDS) T_TIMEOUT=$$(( \
		$(KVSTRIPE_KILL_ROUNDS) * 30 + 300 )) \
		KVSTRIPE=$(abspath $(BUILD)/kvstripe) bash tests/integration/run.sh kill

# kvstripe over GlusterFS, never part of test: starts a glusterd of its
# own, makes two volumes, and removes all of it (docs/scale-out.md).
test-scaleout:
	$(call deb_install,$(DEB_BUILD) $(DEB_RUN) $(DEB_SCALEOUT))
	$(MAKE) all
	KVSTRIPE=$(abspath $(BUILD)/kvstripe) T_TIMEOUT=600 \
		timeout 600 bash tests/scaleout/t-gluster.sh

# The set-up targets install first, then build in a new make: its
# pkg-config flags are read once the packages are there.
test: deps
	$(MAKE) all $(UNIT_BIN) $(FAULTFS)
	$(MAKE) unit
	$(MAKE) integration

# core's dfile module calls one way (core/dfile_i.h): read from the objects.
layering: $(CORE_OBJ)
	@bash tests/unit/check-dfile-calls.sh $(BUILD)
	@bad=$$(grep -rlE --include='*.[ch]' \
		'^\s*#\s*include\s*[<"](fuse|cuse|fuse3/)' core); \
	if [ -n "$$bad" ]; then echo "core/ includes FUSE: $$bad"; exit 1; fi
	@bad=$$(grep -rlE --include='*.[ch]' '^\s*#\s*include\s*[<"]liburing' \
		fs mount | grep -v '^fs/transport/'); \
	if [ -n "$$bad" ]; then echo "liburing outside core/, fs/transport/: $$bad"; exit 1; fi
	@echo "layering ok"

# Fuzz targets: tests/fuzz/fuzz_NAME.c, linked with what unit tests link
# (UNIT_DEPS). Each run starts from tests/fuzz/corpus/NAME (read only)
# and build/fuzz/corpus/NAME (where it keeps what it finds); a crash leaves
# its input as build/fuzz/NAME-crash-* and fails the run.
FUZZ_TIME ?= 60
FUZZ_VARS = BUILD=build/fuzz CC=clang FUZZ=1 SAN=

$(BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(UNIT_DEPS) | $(POISON_FUSE)
	@echo "  FUZZ    $<"
	$(Q)$(CC) $(CFLAGS) $(TEST_CFLAGS) $(LDFLAGS) -o $@ $< \
		$(UNIT_DEPS) $(TEST_LIBS)

fuzz-run: $(FUZZ_BIN)
	@for f in $(FUZZ_BIN); do \
		n=$${f##*/fuzz_}; log=$(BUILD)/$$n.log; \
		seeds=$$(ls -d tests/fuzz/corpus/$$n 2>/dev/null); \
		mkdir -p $(BUILD)/corpus/$$n; \
		if $$f -max_total_time=$(FUZZ_TIME) -timeout=10 \
			-artifact_prefix=$(BUILD)/$$n- \
			$(BUILD)/corpus/$$n $$seeds >$$log 2>&1; \
		then echo "fuzz $$n: $$(grep -o 'Done [0-9]* runs' $$log)"; \
		else tail -n 60 $$log; echo "fuzz $$n: FAILED (log $$log)"; \
			exit 1; fi; \
	done

fuzz: deps-fuzz
	$(MAKE) $(FUZZ_VARS) fuzz-run

# layering reads core/ objects, so it runs after deps, in build/san.
check: deps-fuzz
	$(MAKE) BUILD=build/san SAN=1 layering headers
	$(MAKE) $(FUZZ_VARS) FUZZ_TIME=10 fuzz-run
	$(MAKE) BUILD=build/san SAN=1 test

# Never part of test: numbers, not verdicts (see docs/performance.md).
bench: deps
	$(MAKE) all
	KVSTRIPE=$(abspath $(BUILD)/kvstripe) bash tests/bench/run.sh

demo: deps
	$(MAKE) all
	bash tests/demo.sh $(abspath $(BUILD)/kvstripe)

# Every compile of the default build, from make -n, for clangd and
# clang-tidy; nothing is built.
compile_commands.json: FORCE
	$(Q)$(MAKE) -Bn V=1 all $(UNIT_BIN) headers 2>/dev/null | \
		python3 .ci/compile-commands $(CC) >$@.tmp && mv $@.tmp $@
	@echo "  GEN     $@"

# Not part of check: .clang-tidy says which checks and why.
tidy: compile_commands.json
	@clang-tidy-14 --quiet -p . $(CORE_SRC) $(FS_SRC) $(MOUNT_SRC) 2>&1 | \
		grep -v '^[0-9]* warnings\? generated\.$$' || true

# The binary; the mount helper for fstab and mount -t fuse.kvstripe, and
# the man page and the systemd unit naming where the binary and the
# examples are; the example INI and the unit under DOCDIR (copied to
# /etc by the operator: make install never enables a service).
INSTALL_SED = sed -e 's|@BINDIR@|$(BINDIR)|g' \
	-e 's|@MOUNT_FUSE@|$(MOUNT_FUSE)|g' \
	-e 's|/usr/local/share/doc/kvstripe|$(DOCDIR)|g' \
	-e 's|/usr/local/bin/kvstripe|$(BINDIR)/kvstripe|g'

install: all
	install -D -m 0755 $(BUILD)/kvstripe $(DESTDIR)$(BINDIR)/kvstripe
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(DOCDIR)
	$(INSTALL_SED) mount/mount.fuse.kvstripe.in \
		>$(DESTDIR)$(SBINDIR)/mount.fuse.kvstripe
	chmod 0755 $(DESTDIR)$(SBINDIR)/mount.fuse.kvstripe
	$(INSTALL_SED) docs/kvstripe.1 >$(DESTDIR)$(MANDIR)/man1/kvstripe.1
	chmod 0644 $(DESTDIR)$(MANDIR)/man1/kvstripe.1
	install -m 0644 docs/kvstripe.example.ini $(DESTDIR)$(DOCDIR)/
	$(INSTALL_SED) docs/kvstripe@.service.in >$(DESTDIR)$(DOCDIR)/kvstripe@.service
	chmod 0644 $(DESTDIR)$(DOCDIR)/kvstripe@.service

clean:
	rm -rf build compile_commands.json

FORCE:

.PHONY: all deps deps-fuzz unit integration test soak test-scaleout layering \
	headers check \
	fuzz fuzz-run bench demo tidy install clean FORCE

-include $(wildcard $(patsubst %.o,%.d,$(CORE_OBJ) $(FS_OBJ) $(MOUNT_OBJ) \
	$(HDR_OBJ)) $(UNIT_BIN:=.d) $(FUZZ_BIN:=.d))
