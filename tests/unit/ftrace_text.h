/*
 * Texts of a 6.18 kernel's tracefs that test tools write into a trace.dat by
 * hand: header_page, header_event, the common fields that open every event
 * format, and the "tick" test event (tests/data/formats/6.18 holds the
 * headers as files, for the generator).
 */
#ifndef VMWAIT_TEST_FTRACE_TEXT_H
#define VMWAIT_TEST_FTRACE_TEXT_H

#define FT_HEADER_PAGE \
	"\tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;\n" \
	"\tfield: local_t commit;\toffset:8;\tsize:8;\tsigned:1;\n" \
	"\tfield: int overwrite;\toffset:8;\tsize:1;\tsigned:1;\n" \
	"\tfield: char data;\toffset:16;\tsize:4080;\tsigned:0;\n"

#define FT_HEADER_EVENT \
	"# compressed entry header\n" \
	"\ttype_len    :    5 bits\n" \
	"\ttime_delta  :   27 bits\n" \
	"\tarray       :   32 bits\n\n" \
	"\tpadding     : type == 29\n" \
	"\ttime_extend : type == 30\n" \
	"\ttime_stamp : type == 31\n" \
	"\tdata max type_len  == 28\n"

/* the common fields and the blank line after them */
#define FT_COMMON_FIELDS \
	"\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n" \
	"\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n" \
	"\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;\n" \
	"\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n"

/* "tick", ID 900: a numbered event of 28 bytes (seq, cpu, noise) */
#define FT_TICK_FORMAT \
	"name: tick\nID: 900\nformat:\n" \
	FT_COMMON_FIELDS \
	"\tfield:u64 seq;\toffset:8;\tsize:8;\tsigned:0;\n" \
	"\tfield:unsigned int cpu;\toffset:16;\tsize:4;\tsigned:0;\n" \
	"\tfield:u64 noise;\toffset:20;\tsize:8;\tsigned:0;\n\n" \
	"print fmt: \"seq=%llu cpu=%u noise=%llx\", REC->seq, REC->cpu, REC->noise\n"

#endif
