# contactd — plain Makefile.
#
#   make            release build of build/release/contactd
#   make test       sanitizer build (ASan+UBSan) and the whole test suite
#   make bench      release build and the benchmarks (figures on stdout)
#   make run        the demo: embedded broker, private redis-server, demo stream
#   make fuzz       the libFuzzer harnesses, each run for a while (docs/fuzzing.md)
#   make install    PREFIX/bin/contactd and PREFIX/share/contactd/rules
#                   (PREFIX=/usr/local; DESTDIR= for staging)
#   make MODE=asan  any target, built with sanitizers
#
# Layout of the build tree (never committed):
#   build/gen/                  protoc-c output, generated from proto/ at build time
#   build/$(MODE)/obj/...       objects and automatic dependency files (.d)
#   build/$(MODE)/contactd      the program
#   build/share/contactd/rules  a link to rules/: the binary finds its rules
#                               at ../share/contactd/rules, built or installed
#   build/$(MODE)/tests/...     one binary per tests/unit/test_*.c

.DEFAULT_GOAL := all
# gcc-ar: the archiver that understands link-time-optimised objects
AR      := gcc-ar
MODE    ?= release
BUILD   := build/$(MODE)
GEN     := build/gen
CC      ?= cc
PKGS    := librdkafka libhiredis libprotobuf-c libjansson libxxhash libmicrohttpd libsodium
PKGCONF := rdkafka hiredis libprotobuf-c jansson libxxhash libmicrohttpd libsodium

WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wpointer-arith -Wformat=2 -Wno-unused-parameter
CSTD    := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
INCS    := -I. -I$(GEN) $(shell pkg-config --cflags $(PKGCONF) 2>/dev/null)
LIBS    := $(shell pkg-config --libs $(PKGCONF) 2>/dev/null) -lm -lpthread

ifeq ($(MODE),asan)
  OPT   := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
           -fno-sanitize-recover=undefined
  LDOPT := -fsanitize=address,undefined
else ifeq ($(MODE),debug)
  OPT   := -O0 -g
else
  # Assertions stay on in release builds: they guard invariants, not debugging.
  # Link-time optimisation lets the engine's files (periods, conversations,
  # obligations) inline into each other as they did when they were one file.
  OPT   := -O2 -g -flto=auto
  LDOPT := -flto=auto
endif

CFLAGS  += $(CSTD) $(OPT) $(WARN) $(INCS) -MMD -MP
LDFLAGS += $(LDOPT)

# ---- generated code -------------------------------------------------------
PROTOS     := $(wildcard proto/contact/v1/*.proto)
GEN_C      := $(patsubst proto/%.proto,$(GEN)/%.pb-c.c,$(PROTOS)) \
              $(GEN)/google/protobuf/timestamp.pb-c.c
GEN_H      := $(GEN_C:.c=.h)
WKT_DIR    := /usr/include

$(GEN)/contact/v1/%.pb-c.c $(GEN)/contact/v1/%.pb-c.h: proto/contact/v1/%.proto
	@mkdir -p $(GEN)
	protoc-c --c_out=$(GEN) -Iproto -I$(WKT_DIR) $<

$(GEN)/google/protobuf/timestamp.pb-c.c $(GEN)/google/protobuf/timestamp.pb-c.h:
	@mkdir -p $(GEN)
	protoc-c --c_out=$(GEN) -I$(WKT_DIR) $(WKT_DIR)/google/protobuf/timestamp.proto

# ---- sources --------------------------------------------------------------
LIB_SRC  := $(wildcard util/*.c) $(wildcard proto/*.c) $(wildcard state/*.c) \
            $(wildcard consumer/*.c) $(filter-out cmd/main.c,$(wildcard cmd/*.c))
LIB_OBJ  := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRC)) \
            $(patsubst $(GEN)/%.c,$(BUILD)/obj/gen/%.o,$(GEN_C))
LIB_A    := $(BUILD)/libcontactd.a
BIN      := $(BUILD)/contactd

TEST_SRC := $(wildcard tests/unit/test_*.c)
TEST_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(TEST_SRC))
TEST_SUPPORT_SRC := $(wildcard tests/support/*.c)
TEST_SUPPORT_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(TEST_SUPPORT_SRC))

BENCH_SRC := $(wildcard ops/bench/*.c)
BENCH_BIN := $(patsubst ops/bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))

.PHONY: all test bench run run-replay clean deps tests install uninstall
# Keep intermediates (test objects, generated headers): make would delete them
# after each build, losing their dependency files and forcing rebuilds.
.SECONDARY:
all: $(BIN)

# Every object waits for the generated headers (order-only).
$(BUILD)/obj/%.o: %.c | $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/obj/gen/%.o: $(GEN)/%.c | $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(OPT) $(INCS) -w -MMD -MP -c -o $@ $<

$(LIB_A): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && $(AR) rcs $@ $^

$(BIN): $(BUILD)/obj/cmd/main.o $(LIB_A) | build/share/contactd/rules
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

build/share/contactd/rules:
	@mkdir -p $(dir $@)
	ln -sfn ../../../rules $@

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(TEST_SUPPORT_OBJ) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) -lcmocka

$(BUILD)/bench/%: $(BUILD)/obj/ops/bench/%.o $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

tests: $(TEST_BIN) $(BIN)

# The test suite runs under AddressSanitizer and UBSan. Like `run`, it first
# installs any missing Debian package (ops/install-deps.sh), so both work on a
# fresh machine; the sub-make re-reads pkg-config after that.
test:
	ops/install-deps.sh
	$(MAKE) MODE=asan tests
	MODE=asan tests/run.sh

bench:
	ops/install-deps.sh
	$(MAKE) MODE=release all $(patsubst build/$(MODE)/%,build/release/%,$(BENCH_BIN))
	ops/bench.sh

# The live pipeline on its embedded default (ops/demo-live.sh); `make run-replay`
# shows the same population through `contactd replay` alone.
run:
	ops/install-deps.sh
	$(MAKE) MODE=release all
	ops/demo-live.sh

run-replay:
	ops/install-deps.sh
	$(MAKE) MODE=release all
	ops/demo-replay.sh

# The release binary and the rule files, in the layout the binary searches
# (util/datadir.h): it then finds its rules from any directory.
PREFIX  ?= /usr/local
DESTDIR ?=
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/contactd/rules
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/contactd
	install -m 0644 rules/*.json $(DESTDIR)$(PREFIX)/share/contactd/rules/

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/contactd
	rm -rf $(DESTDIR)$(PREFIX)/share/contactd

# ---- fuzzing (docs/fuzzing.md) ---------------------------------------------
# libFuzzer harnesses (tests/fuzz/fuzz_*.c), built with clang into build/fuzz/
# whatever MODE is: the library is compiled again with coverage feedback and
# ASan/UBSan, and build/fuzz/contactd (the same sources) writes the seeds.
#   make fuzz                      every harness for FUZZ_SECONDS (default 180)
#   make fuzz FUZZ_SECONDS=N FUZZ_TARGETS="citizen outbox"
#   make fuzz-build                the harnesses and their seed corpora only
FUZZ_CC      := clang
FUZZ_DIR     := build/fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS  := $(CSTD) -O1 -g -fno-omit-frame-pointer $(FUZZ_SAN) -fsanitize=fuzzer-no-link \
                $(INCS) -MMD -MP
FUZZ_LIB_OBJ := $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(LIB_SRC)) \
                $(patsubst $(GEN)/%.c,$(FUZZ_DIR)/obj/gen/%.o,$(GEN_C))
FUZZ_SRC     := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_ALL     := $(patsubst tests/fuzz/fuzz_%.c,%,$(FUZZ_SRC))
FUZZ_TARGETS ?= $(FUZZ_ALL)
FUZZ_SECONDS ?= 180
FUZZ_BIN     := $(patsubst %,$(FUZZ_DIR)/fuzz_%,$(FUZZ_ALL))

.PHONY: fuzz fuzz-build

# -w: the library's warnings are the gcc builds' business; the harnesses keep theirs.
$(FUZZ_DIR)/obj/%.o: %.c | $(GEN_H)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -w -c -o $@ $<

$(FUZZ_DIR)/obj/tests/fuzz/%.o: tests/fuzz/%.c | $(GEN_H)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(WARN) -c -o $@ $<

$(FUZZ_DIR)/obj/gen/%.o: $(GEN)/%.c | $(GEN_H)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -w -c -o $@ $<

$(FUZZ_DIR)/libcontactd.a: $(FUZZ_LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(FUZZ_DIR)/contactd: $(FUZZ_DIR)/obj/cmd/main.o $(FUZZ_DIR)/libcontactd.a | build/share/contactd/rules
	$(FUZZ_CC) $(FUZZ_SAN) -o $@ $^ $(LIBS)

$(FUZZ_DIR)/mkseeds: $(FUZZ_DIR)/obj/tests/fuzz/mkseeds.o $(FUZZ_DIR)/libcontactd.a
	$(FUZZ_CC) $(FUZZ_SAN) -o $@ $^ $(LIBS)

$(FUZZ_DIR)/fuzz_%: $(FUZZ_DIR)/obj/tests/fuzz/fuzz_%.o $(FUZZ_DIR)/libcontactd.a
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(LIBS)

# The seed corpora: written by the project's own tools, never committed.
$(FUZZ_DIR)/seeds.stamp: tests/fuzz/seeds.sh $(FUZZ_DIR)/contactd $(FUZZ_DIR)/mkseeds $(wildcard rules/*.json)
	tests/fuzz/seeds.sh $(FUZZ_DIR)
	touch $@

fuzz-build: $(FUZZ_BIN) $(FUZZ_DIR)/seeds.stamp

fuzz:
	ops/install-deps.sh
	$(MAKE) fuzz-build
	tests/fuzz/run.sh $(FUZZ_DIR) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# Installs the Debian packages the build, tests and demo need (idempotent).
deps:
	ops/install-deps.sh

clean:
	rm -rf build

-include $(shell find build/$(MODE)/obj -name '*.d' 2>/dev/null)
-include $(shell find $(FUZZ_DIR)/obj -name '*.d' 2>/dev/null)
