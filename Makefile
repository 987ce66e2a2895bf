# kvstripe - one non-recursive Makefile.
#
#   make            build build/kvstripe
#   make deps       install the Debian packages the build and tests need
#   make test       deps, build, Criterion unit tests, integration tests
#   make check      layering check, then test under ASan+UBSan with -Werror
#   make demo       mount over two directories in ./var and show placement
#   make bench      native vs mount throughput table (docs/performance.md)
#   make install    PREFIX=/usr/local DESTDIR=
#   V=1             show the commands

CC ?= cc
CFLAGS ?= -O2 -g
PREFIX ?= /usr/local
BUILD ?= build

override CFLAGS += -std=gnu11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 \
	-Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wwrite-strings -Wpointer-arith -Wformat=2 -Wvla -Wundef \
	-Wimplicit-fallthrough -fno-common -pthread -MMD -MP

ifdef SAN
override CFLAGS += -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer -Werror
override LDFLAGS += -fsanitize=address,undefined
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

PC_CORE = liburing libxxhash
PC_ALL = fuse3 $(PC_CORE) inih

# core/ never sees FUSE's include path; fs/ and mount/ do.
CORE_CFLAGS = $(shell pkg-config --cflags $(PC_CORE) 2>/dev/null)
FUSE_CFLAGS = $(shell pkg-config --cflags $(PC_ALL) 2>/dev/null) \
	-DFUSE_USE_VERSION=314 -Ifs -Icore
LIBS = $(shell pkg-config --libs $(PC_ALL) 2>/dev/null)
UNIT_CFLAGS = $(shell pkg-config --cflags criterion inih 2>/dev/null) -Icore -Ifs -Imount -Itests/unit
UNIT_LIBS = $(shell pkg-config --libs $(PC_CORE) inih criterion 2>/dev/null)

CORE_SRC = $(sort $(wildcard core/*.c))
FS_SRC = $(sort $(wildcard fs/*.c fs/transport/*.c))
MOUNT_SRC = $(sort $(wildcard mount/*.c))
UNIT_SRC = $(sort $(wildcard tests/unit/test_*.c))

CORE_OBJ = $(CORE_SRC:%.c=$(BUILD)/%.o)
FS_OBJ = $(FS_SRC:%.c=$(BUILD)/%.o)
MOUNT_OBJ = $(MOUNT_SRC:%.c=$(BUILD)/%.o)
# The unit tests link core/, the FUSE-free config parser and FUSE-free
# fs/ objects only, so any FUSE dependency creeping into them fails to link.
UNIT_FS_OBJ = $(BUILD)/fs/dirsnap.o
UNIT_DEPS = $(CORE_OBJ) $(BUILD)/mount/config.o $(BUILD)/mount/config_ini.o \
	$(UNIT_FS_OBJ)
UNIT_BIN = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

all: $(BUILD)/kvstripe

$(BUILD)/kvstripe: $(CORE_OBJ) $(FS_OBJ) $(MOUNT_OBJ)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/core/%.o: core/%.c
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) $(CORE_CFLAGS) -Icore -c -o $@ $<

$(BUILD)/fs/%.o: fs/%.c
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) $(FUSE_CFLAGS) -c -o $@ $<

$(BUILD)/mount/%.o: mount/%.c
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) $(FUSE_CFLAGS) -Imount -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(UNIT_DEPS)
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) $(UNIT_CFLAGS) $(LDFLAGS) -o $@ $< $(UNIT_DEPS) $(UNIT_LIBS)

deps:
	@missing=; \
	for p in $(DEB_BUILD) $(DEB_RUN); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends $$missing; \
	fi

unit: $(UNIT_BIN)
	@rc=0; for t in $(UNIT_BIN); do \
		echo "== $$t"; $$t --jobs 1 || rc=1; \
	done; exit $$rc

integration: $(BUILD)/kvstripe
	KVSTRIPE=$(abspath $(BUILD)/kvstripe) bash tests/integration/run.sh

test: deps
	$(MAKE) all $(BUILD)/kvstripe $(UNIT_BIN)
	$(MAKE) unit
	$(MAKE) integration

# core's dfile module calls one way (core/dfile_i.h): read from the objects.
layering: $(CORE_OBJ)
	@bash tests/unit/check-dfile-calls.sh $(BUILD)
	@bad=$$(grep -lE '#include *[<"](fuse|fuse_lowlevel|fuse3/)' core/*.[ch]); \
	if [ -n "$$bad" ]; then echo "core/ includes FUSE: $$bad"; exit 1; fi
	@bad=$$(grep -lE '#include *[<"]liburing' fs/*.[ch]); \
	if [ -n "$$bad" ]; then echo "fs/ includes liburing: $$bad"; exit 1; fi
	@echo "layering ok"

check: deps layering
	$(MAKE) BUILD=build/san SAN=1 test

# Never part of test: numbers, not verdicts (see docs/performance.md).
bench: deps all
	KVSTRIPE=$(abspath $(BUILD)/kvstripe) bash tests/bench/run.sh

demo: deps all
	bash tests/demo.sh $(abspath $(BUILD)/kvstripe)

install: all
	install -D -m 0755 $(BUILD)/kvstripe $(DESTDIR)$(PREFIX)/bin/kvstripe
	install -D -m 0644 docs/kvstripe.1 $(DESTDIR)$(PREFIX)/share/man/man1/kvstripe.1

clean:
	rm -rf build

.PHONY: all deps unit integration test layering check bench demo install clean

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
