# Unit tests: every tests/unit/*.c is one binary, built twice: plain, and
# with ASan+UBSan (the sanitizer build is part of make check).
UNIT_SRCS := $(wildcard tests/unit/*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(B)/tests/unit/%) \
             $(UNIT_SRCS:tests/unit/%.c=$(B)/tests/unit/%-asan)
TEST_BINS += $(UNIT_BINS)

$(B)/tests/unit/%: tests/unit/%.c tests/unit/unit.h $(B)/libvmwait.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(B)/libvmwait.a $(LDLIBS)

$(B)/tests/unit/%-asan: tests/unit/%.c tests/unit/unit.h $(B)/libvmwait-asan.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -O1 $(SANFLAGS) -o $@ $< $(B)/libvmwait-asan.a $(LDLIBS)
