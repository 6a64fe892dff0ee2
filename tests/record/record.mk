# Helpers of tests/t_record.sh and tests/t_recfault.sh: a getppid() loop, a
# minimal KVM VM that halts N times, a libtracecmd event counter, a marker
# loop, and the trace.dat writer driven with known pages.
RECORD_TOOLS := getppid-loop kvm-hlt rec-count mark-loop rec-wtest
RECORD_BINS  := $(RECORD_TOOLS:%=$(B)/tests/record/%)
TEST_BINS    += $(RECORD_BINS)

$(B)/tests/record/getppid-loop: tests/record/getppid-loop.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $<

$(B)/tests/record/mark-loop: tests/record/mark-loop.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $<

$(B)/tests/record/kvm-hlt: tests/record/kvm-hlt.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< -lpthread

$(B)/tests/record/rec-count: tests/record/rec-count.c $(B)/libvmwait.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(B)/libvmwait.a $(LDLIBS)

$(B)/tests/record/rec-wtest: tests/record/rec-wtest.c $(B)/libvmwait.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(B)/libvmwait.a $(LDLIBS)
