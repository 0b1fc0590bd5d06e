# fuzz.mk - libFuzzer targets (included by the top Makefile's fuzz rules)
#
# Everything is rebuilt by clang with coverage instrumentation and
# ASan/UBSan into build-fuzz/, so fuzzing never mixes with normal objects.
# `fuzz-smoke` replays each target's seed corpus (tests/fuzz/corpus/NAME/)
# plus a bounded number of fresh inputs: a target that crashes on its own
# seeds fails `make check`. `fuzz` runs each target for FUZZ_SECONDS.

FB      ?= build-fuzz
FCC     := clang
FUZZ_SECONDS ?= 60
PKGS    := openssl libsasl2 libcares lmdb
FFLAGS  := -std=c11 -O1 -g -D_GNU_SOURCE -I. $(shell pkg-config --cflags $(PKGS)) \
           -DPOSTHORN_DAEMON_DIR='"/nonexistent"' -DPOSTHORN_CONFIG_DIR='"/nonexistent"' \
           -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined \
           -Wall -Wextra -Werror -Wno-unused-command-line-argument
FLIBS   := $(shell pkg-config --libs $(PKGS))

DAEMON_NAMES := master smtpd qmgr local smtp pop3d imapd
DAEMONS := $(foreach d,$(DAEMON_NAMES),$(if $(wildcard $(d)/$(d).c),$(d)))
TOOL_MAINS := tools/posthorn.c tools/sendmail.c
LIB_SRC := $(wildcard common/*.c) \
           $(foreach d,$(DAEMONS),$(filter-out $(d)/$(d).c,$(wildcard $(d)/*.c))) \
           $(filter-out $(TOOL_MAINS),$(wildcard tools/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(FB)/obj/%.o)
TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
BINS    := $(TARGETS:%=$(FB)/fuzz_%)

.PHONY: fuzz fuzz-smoke
$(FB)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(FCC) $(FFLAGS) -c $< -o $@

$(FB)/libfuzzall.a: $(LIB_OBJ)
	@rm -f $@ && ar rcs $@ $^

$(FB)/fuzz_%: tests/fuzz/fuzz_%.c $(FB)/libfuzzall.a
	@$(FCC) $(FFLAGS) -fsanitize=fuzzer $< $(FB)/libfuzzall.a $(FLIBS) -o $@

fuzz-smoke: $(BINS)
	@set -e; for t in $(TARGETS); do \
	    tmp=$$(mktemp -d); \
	    $(FB)/fuzz_$$t -runs=20000 -max_total_time=10 -max_len=65536 \
	        $$tmp tests/fuzz/corpus/$$t >$(FB)/fuzz_$$t.log 2>&1 || \
	        { tail -40 $(FB)/fuzz_$$t.log; echo "FAIL: fuzz_$$t"; rm -rf $$tmp; exit 1; }; \
	    rm -rf $$tmp; done; echo "fuzz-smoke: $(words $(TARGETS)) targets ok"

fuzz: $(BINS)
	@for t in $(TARGETS); do mkdir -p $(FB)/corpus/$$t; \
	    $(FB)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) $(FB)/corpus/$$t \
	        tests/fuzz/corpus/$$t || exit 1; done
