# Helpers of tests/t_plugin.sh: a KVM guest raising chosen vectors, and a
# writer of fixed trace.dat files in current and old kvm event formats.
PLUGIN_TEST_BINS := $(B)/tests/plugin/kvm-vectors $(B)/tests/plugin/vecdat
TEST_BINS        += $(PLUGIN_TEST_BINS)

$(B)/tests/plugin/kvm-vectors: tests/plugin/kvm-vectors.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $<

$(B)/tests/plugin/vecdat: tests/plugin/vecdat.c $(B)/libvmwait.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(B)/libvmwait.a $(LDLIBS)
