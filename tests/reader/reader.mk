# tests/reader: the equivalence check of vmwait's trace.dat reader with libtracecmd.
TIN_CMP := $(B)/tests/reader/tin-cmp
TEST_BINS += $(TIN_CMP)

$(TIN_CMP): tests/reader/tin-cmp.c $(B)/libvmwait.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(B)/libvmwait.a $(LDLIBS)

# kvm-facts: a trace's kvm_entry/kvm_exit facts per thread through libtracecmd (t_real)
KVM_FACTS := $(B)/tests/reader/kvm-facts
TEST_BINS += $(KVM_FACTS)

$(KVM_FACTS): tests/reader/kvm-facts.c $(B)/libvmwait.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(B)/libvmwait.a $(LDLIBS)
