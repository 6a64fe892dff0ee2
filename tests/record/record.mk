# Helpers of tests/t_record.sh: a getppid() loop, a minimal KVM VM that
# halts N times, and a libtracecmd event counter.
RECORD_TOOLS := getppid-loop kvm-hlt rec-count
RECORD_BINS  := $(RECORD_TOOLS:%=$(B)/tests/record/%)
TEST_BINS    += $(RECORD_BINS)

$(B)/tests/record/getppid-loop: tests/record/getppid-loop.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $<

$(B)/tests/record/kvm-hlt: tests/record/kvm-hlt.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< -lpthread

$(B)/tests/record/rec-count: tests/record/rec-count.c $(B)/libvmwait.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(B)/libvmwait.a $(LDLIBS)
