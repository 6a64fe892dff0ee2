# tests/fuzz: libFuzzer harnesses over `vmwait analyze` (tests/fuzz/README.md).
#
# vmwait's own objects are rebuilt with clang and the fuzzer's coverage plus
# ASan+UBSan (build/fuzz/), linked with Debian's libFuzzer (libclang-rt-14-dev).
# Without clang's libFuzzer the harnesses are not built and tests/t_fuzz.sh skips.
#
#   make fuzz                      long run of both harnesses (FUZZ_TIME s, FUZZ_JOBS jobs),
#                                  corpora kept in build/fuzz/run/ from run to run
#   make fuzz FUZZ_TIME=3600 FUZZ_JOBS=2 FUZZ_TARGET=options
#   make fuzz-campaign             the mutation campaign (tests/fuzz/mutate.py, FUZZ_FILES files)

FUZZ_CC     ?= clang
FUZZ_RTDIR  := $(shell $(FUZZ_CC) -print-resource-dir 2>/dev/null)/lib/linux
FUZZ_OK     := $(wildcard $(FUZZ_RTDIR)/libclang_rt.fuzzer-x86_64.a)
FUZZ_FLAGS  := -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
               -fno-sanitize-recover=all
FUZZ_OBJS   := $(LIBSRCS:%.c=$(B)/fuzz/%.o)
FUZZ_BINS   := $(B)/tests/fuzz/fuzz-analyze $(B)/tests/fuzz/fuzz-options \
               $(B)/tests/fuzz/fuzz-pages $(B)/tests/fuzz/pages-template.dat
FUZZ_TIME   ?= 600
FUZZ_JOBS   ?= 2
FUZZ_TARGET ?= analyze options pages
FUZZ_FILES  ?= 30000
# synth.mk is included after this file: its SYNTH_BIN is not set yet where
# prerequisites are expanded, so the generator is named here
FUZZ_SYNTH  := $(B)/tests/synth/vmwait-synth

ifneq ($(FUZZ_OK),)
TEST_BINS   += $(FUZZ_BINS)
endif

$(B)/fuzz/%.o: %.c $(wildcard common/*.h analyzer/*.h recorder/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) -std=gnu11 $(WFLAGS) $(FUZZ_FLAGS) -c -o $@ $<

$(B)/fuzz/libvmwait-fuzz.a: $(FUZZ_OBJS)
	$(AR) rcs $@ $^

$(B)/tests/fuzz/fuzz-analyze: tests/fuzz/harness.c $(B)/fuzz/libvmwait-fuzz.a
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) -std=gnu11 $(WFLAGS) $(subst fuzzer-no-link,fuzzer,$(FUZZ_FLAGS)) \
		-o $@ $< $(B)/fuzz/libvmwait-fuzz.a $(LDLIBS)

$(B)/tests/fuzz/fuzz-options: tests/fuzz/harness.c $(B)/fuzz/libvmwait-fuzz.a
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) -std=gnu11 $(WFLAGS) $(subst fuzzer-no-link,fuzzer,$(FUZZ_FLAGS)) \
		-DFUZZ_OPTIONS -o $@ $< $(B)/fuzz/libvmwait-fuzz.a $(LDLIBS)

$(B)/tests/fuzz/fuzz-pages: tests/fuzz/harness.c $(B)/fuzz/libvmwait-fuzz.a
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) -std=gnu11 $(WFLAGS) $(subst fuzzer-no-link,fuzzer,$(FUZZ_FLAGS)) \
		-DFUZZ_PAGES -o $@ $< $(B)/fuzz/libvmwait-fuzz.a $(LDLIBS)

# fuzz-pages' fixed metadata: a random trace of the 6.18 layout (9 CPUs)
$(B)/tests/fuzz/pages-template.dat: tests/fuzz/pages.py $(FUZZ_SYNTH)
	@mkdir -p $(dir $@)
	$(FUZZ_SYNTH) --random 1 -k 6.18 --events 3000 -o $@.tmp -t /dev/null
	tests/fuzz/pages.py template $@.tmp $@ && rm -f $@.tmp

fuzz: $(FUZZ_BINS) $(FUZZ_SYNTH)
	@tests/fuzz/run-fuzz.py --time $(FUZZ_TIME) --jobs $(FUZZ_JOBS) $(FUZZ_TARGET)

fuzz-campaign: vmwait $(B)/vmwait-asan $(FUZZ_SYNTH)
	@tests/fuzz/mutate.py -n $(FUZZ_FILES) -j $(FUZZ_JOBS)

.PHONY: fuzz fuzz-campaign
