# Posthorn - plain make, no autotools.
#
#   make                 build everything into build/
#   make check           install missing deps, build, lint, unit + fuzz smoke + e2e
#   make check SANITIZE=1   the same under ASan+UBSan (objects in build-san/)
#   make demo            build, init ./demo once, run it in the foreground
#   make install PREFIX=/usr/local DESTDIR=
#   make clean
#
# Every program and test is found by file name, so adding a module means
# adding a file, not editing this Makefile: a daemon D is D/D.c (main) plus
# D/D_*.c; tools/posthorn.c and tools/sendmail.c are mains sharing the other
# tools/*.c; tests/unit/test_*.c and tests/fuzz/fuzz_*.c are one program each.

PREFIX     ?= /usr/local
SBINDIR    ?= $(PREFIX)/sbin
LIBEXECDIR ?= $(PREFIX)/libexec/posthorn
SYSCONFDIR ?= /etc/posthorn
DESTDIR    ?=

ifeq ($(SANITIZE),1)
B        ?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer \
            -fno-sanitize-recover=undefined
else
B        ?= build
SANFLAGS :=
endif

PKGS    := openssl libsasl2 libcares lmdb
PYTHON  ?= /usr/bin/python3
CC      ?= cc
OPT     ?= -O2 -g
WARN    := -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wstrict-prototypes
DEFS    := -D_GNU_SOURCE -DPOSTHORN_DAEMON_DIR='"$(LIBEXECDIR)"' \
           -DPOSTHORN_CONFIG_DIR='"$(SYSCONFDIR)"'
# Lazily expanded: pkg-config may only exist after tools/deps.sh has run.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   = $(shell pkg-config --libs $(PKGS))
ALL_CFLAGS  = -std=c11 $(OPT) $(WARN) $(DEFS) -I. $(PKG_CFLAGS) $(SANFLAGS) \
              -MMD -MP $(CFLAGS)
ALL_LDFLAGS = $(SANFLAGS) $(LDFLAGS)
LIBS        = $(PKG_LIBS)

DAEMON_NAMES := master smtpd qmgr local smtp pop3d imapd
DAEMONS      := $(foreach d,$(DAEMON_NAMES),$(if $(wildcard $(d)/$(d).c),$(d)))
TOOL_MAINS   := posthorn sendmail
TOOLS        := $(foreach t,$(TOOL_MAINS),$(if $(wildcard tools/$(t).c),$(t)))

COMMON_SRC := $(wildcard common/*.c)
COMMON_LIB := $(B)/lib/libcommon.a
TOOLS_SRC  := $(filter-out $(TOOL_MAINS:%=tools/%.c),$(wildcard tools/*.c))
TOOLS_LIB  := $(B)/lib/libtools.a

# lib<daemon>.a holds a daemon's modules without its main(), so unit tests
# link the same objects the daemon runs.
daemon_src = $(filter-out $(1)/$(1).c,$(wildcard $(1)/*.c))
DAEMON_LIBS := $(DAEMONS:%=$(B)/lib/lib%.a)
DAEMON_BINS := $(DAEMONS:%=$(B)/libexec/posthorn/%)
TOOL_BINS   := $(TOOLS:%=$(B)/sbin/%)
TESTSVC_BIN := $(if $(wildcard tests/svc/echod.c),$(B)/libexec/posthorn/echod)

UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
LINK_LIBS  = $(DAEMON_LIBS) $(TOOLS_LIB) $(COMMON_LIB)

.PHONY: all build deps check unit lint e2e fuzz fuzz-smoke demo install \
        clean bench
.DEFAULT_GOAL := all
# Keep test objects: they are inputs of the test programs, not temporaries.
.SECONDARY:

all: deps
	@$(MAKE) --no-print-directory build

deps:
	@tools/deps.sh build

build: $(DAEMON_BINS) $(TOOL_BINS) $(TESTSVC_BIN) \
       $(if $(wildcard tools/sendmail.c),$(B)/sbin/mailq)

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(COMMON_LIB): $(COMMON_SRC:%.c=$(B)/obj/%.o)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(TOOLS_LIB): $(TOOLS_SRC:%.c=$(B)/obj/%.o) $(B)/obj/common/.keep.o
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

define daemon_rules
$(B)/lib/lib$(1).a: $(patsubst %.c,$(B)/obj/%.o,$(call daemon_src,$(1))) $(B)/obj/common/.keep.o
	@mkdir -p $$(dir $$@)
	rm -f $$@ && ar rcs $$@ $$^
$(B)/libexec/posthorn/$(1): $(B)/obj/$(1)/$(1).o $(B)/lib/lib$(1).a $(COMMON_LIB)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(ALL_LDFLAGS) -o $$@ $$^ $$(LIBS)
endef
$(foreach d,$(DAEMONS),$(eval $(call daemon_rules,$(d))))

# An archive may be empty while a daemon is one file; ar wants one member.
$(B)/obj/common/.keep.o:
	@mkdir -p $(dir $@)
	printf '' | $(CC) -x c -c - -o $@

$(B)/sbin/%: $(B)/obj/tools/%.o $(TOOLS_LIB) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(B)/sbin/mailq: $(B)/sbin/sendmail
	ln -sf sendmail $@

$(TESTSVC_BIN): $(B)/obj/tests/svc/echod.o $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(B)/tests/test_%: $(B)/obj/tests/unit/test_%.o $(LINK_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(LINK_LIBS) $(LIBS) -lcmocka

# ---- tests -----------------------------------------------------------

check: deps
	@tools/deps.sh test
	@$(MAKE) --no-print-directory build
	@$(MAKE) --no-print-directory lint unit
	@$(MAKE) --no-print-directory fuzz-smoke
	@$(MAKE) --no-print-directory e2e

lint:
	@tests/lint.sh

unit: $(UNIT_BINS)
	@tests/unit/run.sh $(UNIT_BINS)

e2e: build
	POSTHORN_BUILD=$(abspath $(B)) $(PYTHON) -m pytest -q -p no:cacheprovider \
	    $(PYTEST_ARGS) tests/e2e

# Fuzz targets are built by clang with libFuzzer into build-fuzz/; the
# smoke run replays each seed corpus and a bounded number of new inputs so
# a target that crashes on its own seeds fails the check.
fuzz fuzz-smoke:
	@$(MAKE) --no-print-directory -f tests/fuzz/fuzz.mk $@

demo: all
	@tools/demo.sh $(abspath $(B))

bench: all
	@bench/run.sh $(abspath $(B))

# ---- install ---------------------------------------------------------

install: build
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBEXECDIR)
	install -m 0755 $(TOOL_BINS) $(DESTDIR)$(SBINDIR)/
	ln -sf sendmail $(DESTDIR)$(SBINDIR)/mailq
	install -m 0755 $(DAEMON_BINS) $(DESTDIR)$(LIBEXECDIR)/
	install -d $(DESTDIR)$(PREFIX)/share/posthorn
	install -m 0644 conf/posthorn.service conf/main.cf.sample \
	    conf/master.cf.sample $(DESTDIR)$(PREFIX)/share/posthorn/

clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
