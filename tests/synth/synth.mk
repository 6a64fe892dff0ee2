# tests/synth: the synthetic trace generator (vmwait-synth) and its page unit test.
SYNTH_SRCS := tests/synth/fmt.c tests/synth/enc.c tests/synth/decode.c tests/synth/truth.c tests/synth/truth_thr.c \
              tests/synth/truth_kvm.c tests/synth/truth_wake.c tests/synth/truth_end.c tests/synth/facts.c \
              tests/synth/scn.c tests/synth/guest.c tests/synth/guest_out.c \
              tests/synth/sim.c
SYNTH_HDRS := tests/synth/synth.h tests/synth/sim.h tests/synth/truth_int.h tests/synth/guest.h
SYNTH_BIN  := $(B)/tests/synth/vmwait-synth
TEST_BINS  += $(SYNTH_BIN)

$(SYNTH_BIN): tests/synth/main.c $(SYNTH_SRCS) $(SYNTH_HDRS) $(B)/libvmwait.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ tests/synth/main.c $(SYNTH_SRCS) $(B)/libvmwait.a $(LDLIBS)

SYNTH_CHECK := $(B)/tests/synth/synth-check
TEST_BINS   += $(SYNTH_CHECK)

$(SYNTH_CHECK): tests/synth/check.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(LDLIBS)
