# The libtraceevent plugin that makes "trace-cmd report" print guest vector names.
#
# Built by "make" as build/plugins/plugin_vmwait_vectors.so, self-contained
# (common/vectors.c is compiled in; libtraceevent's symbols come from the
# program that loads it, as with libtraceevent's own plugins). Use it from the
# build tree with TRACEEVENT_PLUGIN_DIR=build/plugins trace-cmd report ...
#
# "make install" puts it in PLUGIN_DIR, under DESTDIR as every installed
# file. PLUGIN_DIR defaults to libtraceevent's system plugin directory moved
# under PREFIX: its path relative to libtraceevent's prefix (pkg-config's
# plugin_dir if published, else <libdir>/traceevent/plugins, libtraceevent's
# own default), so $(PREFIX)/lib/x86_64-linux-gnu/traceevent/plugins on
# Debian; $(PREFIX)/lib/traceevent/plugins when that path is not under its
# prefix. libtraceevent loads system plugins from the one directory it was
# built with, so trace-cmd finds the plugin with PREFIX=/usr on Debian, or
# with PLUGIN_DIR set to that directory, or PLUGIN_DIR=$HOME/.local/lib/
# traceevent/plugins (searched per user); else TRACEEVENT_PLUGIN_DIR=PLUGIN_DIR.
PLUGIN_SO := $(B)/plugins/plugin_vmwait_vectors.so

TEP_PREFIX    := $(shell $(PKG_CONFIG) --variable=prefix libtraceevent 2>/dev/null)
TEP_SYSDIR    := $(shell $(PKG_CONFIG) --variable=plugin_dir libtraceevent 2>/dev/null)
ifeq ($(TEP_SYSDIR),)
TEP_LIBDIR    := $(shell $(PKG_CONFIG) --variable=libdir libtraceevent 2>/dev/null)
TEP_SYSDIR    := $(if $(TEP_LIBDIR),$(TEP_LIBDIR)/traceevent/plugins)
endif
PLUGIN_REL    := $(if $(TEP_PREFIX),$(patsubst $(TEP_PREFIX)/%,%,$(TEP_SYSDIR)))
# unknown, or not under libtraceevent's prefix (still absolute): the generic path
ifeq ($(filter-out /%,$(PLUGIN_REL)),)
PLUGIN_REL    := lib/traceevent/plugins
endif
PLUGIN_DIR    ?= $(PREFIX)/$(PLUGIN_REL)

$(PLUGIN_SO): analyzer/plugin/plugin_vmwait_vectors.c common/vectors.c common/vectors.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -fPIC -fvisibility=hidden -shared -o $@ \
		analyzer/plugin/plugin_vmwait_vectors.c common/vectors.c

all: $(PLUGIN_SO)
install: $(PLUGIN_SO)
TEST_BINS += $(PLUGIN_SO)
INSTALL_EXTRA += install -d $(DESTDIR)$(PLUGIN_DIR) && \
	install -m 644 $(PLUGIN_SO) $(DESTDIR)$(PLUGIN_DIR)/plugin_vmwait_vectors.so;
