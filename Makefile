# vmwait: one binary, built at the top of the tree.
# Sub-makefiles (tests/*/*.mk) add their own targets; nothing here needs
# editing when a file is added to common/, recorder/ or analyzer/.

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
CC         ?= gcc
PKG_CONFIG ?= pkg-config
PKGS       := libtracefs libtraceevent libtracecmd

# Fail early, with one clear line, when the build dependencies are missing.
ifeq ($(filter clean,$(MAKECMDGOALS)),)
ifneq ($(shell $(PKG_CONFIG) --exists $(PKGS) ncurses && echo ok),ok)
$(error missing build dependencies: run scripts/setup (apt-get install libtracefs-dev libtraceevent-dev libtracecmd-dev libzstd-dev zlib1g-dev libncurses-dev pkg-config))
endif
endif

VERSION    := 0.1.0
OPTFLAGS   ?= -O2 -g
WFLAGS     := -Wall -Wextra -Werror
CPPFLAGS   += -D_GNU_SOURCE -DVMWAIT_VERSION='"$(VERSION)"' -Icommon \
              $(shell $(PKG_CONFIG) --cflags $(PKGS))
CFLAGS     += -std=gnu11 $(OPTFLAGS) $(WFLAGS)
LDLIBS     += $(shell $(PKG_CONFIG) --libs $(PKGS)) -lzstd -lz -lm -lpthread \
              $(shell $(PKG_CONFIG) --libs ncurses)

B          := build
SRCS       := $(wildcard common/*.c recorder/*.c analyzer/*.c)
LIBSRCS    := $(filter-out common/main.c,$(SRCS))
OBJS       := $(LIBSRCS:%.c=$(B)/%.o)
ASAN_OBJS  := $(LIBSRCS:%.c=$(B)/asan/%.o)
SANFLAGS   := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

all: vmwait

$(B)/%.o: %.c $(wildcard common/*.h analyzer/*.h recorder/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(B)/asan/%.o: %.c $(wildcard common/*.h analyzer/*.h recorder/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -O1 $(SANFLAGS) -c -o $@ $<

# Rebuilt from scratch: objects of removed sources must not linger in it.
$(B)/libvmwait.a: $(OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(B)/libvmwait-asan.a: $(ASAN_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

vmwait: $(B)/common/main.o $(B)/libvmwait.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# The same binary built with ASan+UBSan, used by the bad-input tests.
$(B)/vmwait-asan: $(B)/asan/common/main.o $(B)/libvmwait-asan.a
	$(CC) $(CFLAGS) $(SANFLAGS) -o $@ $^ $(LDLIBS)

# Everything the test suite needs; sub-makefiles append to TEST_BINS.
TEST_BINS :=
-include $(wildcard tests/*/*.mk analyzer/*/*.mk recorder/*/*.mk common/*/*.mk)

tests: vmwait $(B)/vmwait-asan $(TEST_BINS)

check: tests
	@tests/run.sh

bench: vmwait $(TEST_BINS)
	@scripts/bench

demo: vmwait $(TEST_BINS)
	@scripts/demo

# Every file goes under $(DESTDIR)$(PREFIX): BINDIR, MANDIR, and PLUGIN_DIR
# (the trace-cmd plugin; see analyzer/plugin/plugin.mk for where trace-cmd
# looks for it). Nothing is written outside DESTDIR and these directories.
install: vmwait
	install -d $(DESTDIR)$(BINDIR)
	install -m 755 vmwait $(DESTDIR)$(BINDIR)/vmwait
	install -d $(DESTDIR)$(MANDIR)/man1
	install -m 644 common/vmwait.1 $(DESTDIR)$(MANDIR)/man1/vmwait.1
	$(INSTALL_EXTRA)

clean:
	rm -rf $(B) vmwait $(CLEAN_EXTRA)

.PHONY: all tests check bench demo install clean
