# Helpers of tests/t_writer.sh: the trace.dat writer's unit test (plain and
# ASan+UBSan), a packer of raw tracefs pages, a trace_pipe_raw reader and a
# libtracecmd reader.
WRITER_TOOLS := tdat-unit tdat-pack tdat-rawcat tdat-read
WRITER_BINS  := $(WRITER_TOOLS:%=$(B)/tests/writer/%) $(B)/tests/writer/tdat-unit-asan
TEST_BINS    += $(WRITER_BINS)

$(B)/tests/writer/%: tests/writer/%.c tests/unit/unit.h $(B)/libvmwait.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(B)/libvmwait.a $(LDLIBS)

$(B)/tests/writer/tdat-unit-asan: tests/writer/tdat-unit.c tests/unit/unit.h $(B)/libvmwait-asan.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -O1 $(SANFLAGS) -o $@ $< $(B)/libvmwait-asan.a $(LDLIBS)
