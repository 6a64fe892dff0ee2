# trace-cmd integration test helpers (tests/t_tracecmd.sh).
TC_REWRITE := $(B)/tests/tc/tdat-rewrite
TEST_BINS  += $(TC_REWRITE)

$(TC_REWRITE): tests/tc/tdat-rewrite.c $(B)/libvmwait.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(B)/libvmwait.a $(LDLIBS)
