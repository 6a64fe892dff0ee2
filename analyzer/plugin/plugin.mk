# The libtraceevent plugin that makes "trace-cmd report" print guest vector names.
#
# Built by "make" as build/plugins/plugin_vmwait_vectors.so, self-contained
# (common/vectors.c is compiled in; libtraceevent's symbols come from the
# program that loads it, as with libtraceevent's own plugins). Use it from the
# build tree with TRACEEVENT_PLUGIN_DIR=build/plugins trace-cmd report ...
#
# "make install" puts it in libtraceevent's system plugin directory, the one
# libtraceevent was built to search. It belongs to libtraceevent, not to
# vmwait's PREFIX (a copy under /usr/local would never be loaded), so PREFIX
# does not move it; DESTDIR applies as usual. TEP_PLUGINDIR overrides it, e.g.
# TEP_PLUGINDIR=$HOME/.local/lib/traceevent/plugins for a per-user install.
# Its default: pkg-config's plugin_dir of libtraceevent if published, else
# <libtraceevent's libdir>/traceevent/plugins (libtraceevent's own default),
# else Debian's /usr/lib/x86_64-linux-gnu/traceevent/plugins.
PLUGIN_SO := $(B)/plugins/plugin_vmwait_vectors.so

ifeq ($(origin TEP_PLUGINDIR),undefined)
TEP_PLUGINDIR := $(shell $(PKG_CONFIG) --variable=plugin_dir libtraceevent 2>/dev/null)
ifeq ($(TEP_PLUGINDIR),)
TEP_LIBDIR    := $(shell $(PKG_CONFIG) --variable=libdir libtraceevent 2>/dev/null)
TEP_PLUGINDIR := $(if $(TEP_LIBDIR),$(TEP_LIBDIR)/traceevent/plugins,/usr/lib/x86_64-linux-gnu/traceevent/plugins)
endif
endif

$(PLUGIN_SO): analyzer/plugin/plugin_vmwait_vectors.c common/vectors.c common/vectors.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -fPIC -fvisibility=hidden -shared -o $@ \
		analyzer/plugin/plugin_vmwait_vectors.c common/vectors.c

all: $(PLUGIN_SO)
install: $(PLUGIN_SO)
TEST_BINS += $(PLUGIN_SO)
INSTALL_EXTRA += install -d $(DESTDIR)$(TEP_PLUGINDIR) && \
	install -m 644 $(PLUGIN_SO) $(DESTDIR)$(TEP_PLUGINDIR)/plugin_vmwait_vectors.so;
