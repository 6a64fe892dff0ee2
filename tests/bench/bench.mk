# The benchmark's baseline program (make bench).
BENCH_ITER := $(B)/tests/bench/bench-iterate
TEST_BINS  += $(BENCH_ITER)

$(BENCH_ITER): tests/bench/iterate.c $(B)/libvmwait.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(B)/libvmwait.a $(LDLIBS)
