/* vmwait-synth: write a synthetic KVM host trace.dat and its ground truth. */
#include "tdat.h"
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"
#include "util.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vmwait-synth [options] SCENARIO.scn\n"
		"       vmwait-synth [options] --random SEED [--events N]\n"
		"  -o, --output FILE     trace.dat to write (default trace.dat)\n"
		"  -t, --truth FILE      ground truth JSON ('-' for stdout)\n"
		"  -F, --formats DIR     event formats root (default tests/data/formats)\n"
		"  -k, --kernel VER      event layouts of this kernel (overrides the scenario)\n"
		"  -V, --file-version N  trace.dat version 6 or 7 (default 6)\n"
		"  -z, --compress ALG    none, zstd or zlib (v7 only; default none)\n"
		"  -l, --light           as vmwait record --light records it: no kvm_entry,\n"
		"                        kvm_exit, kvm_nested_vmexit, kvm_pio, kvm_mmio,\n"
		"                        kvm_fast_mmio, hrtimer_expire_exit\n"

		"  -r, --random SEED     compose a random scenario (the seed also picks\n"
		"                        migration, losses, nested guests and guest timers)\n"
		"  -n, --events N        random: stop after N events (default 200000)\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "truth", required_argument, NULL, 't' },
		{ "formats", required_argument, NULL, 'F' },
		{ "kernel", required_argument, NULL, 'k' },
		{ "file-version", required_argument, NULL, 'V' },
		{ "compress", required_argument, NULL, 'z' },
		{ "light", no_argument, NULL, 'l' },
		{ "random", required_argument, NULL, 'r' },
		{ "events", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sim_opts o = { .out = "trace.dat", .fmtroot = "tests/data/formats", .version = 6 };
	const char *kernel = NULL;
	uint64_t seed = 0, events = 0;
	bool random = false;
	struct scn s;
	int c, ret;

	while ((c = getopt_long(argc, argv, "o:t:F:k:V:z:lr:n:h", lo, NULL)) != -1) {
		switch (c) {
		case 'o': o.out = optarg; break;
		case 't': o.truth = optarg; break;
		case 'F': o.fmtroot = optarg; break;
		case 'k': kernel = optarg; break;
		case 'V': o.version = atoi(optarg); break;
		case 'z':
			if (tdat_parse_compress(optarg, &o.compress))
				goto bad;
			break;
		case 'l':
			o.light = true;
			break;
		case 'r':
			random = true;
			if (parse_u64(optarg, &seed))
				goto bad;
			break;
		case 'n':
			if (parse_u64(optarg, &events))
				goto bad;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			goto bad;
		}
	}
	if (random ? optind != argc : optind != argc - 1)
		goto bad;
	if (random)
		ret = scn_random(&s, seed, events, kernel);
	else
		ret = scn_parse(&s, argv[optind]);
	if (ret)
		return EXIT_USAGE;
	if (kernel)
		snprintf(s.kernel, sizeof(s.kernel), "%s", kernel);
	ret = sim_run(&s, &o);
	scn_free(&s);
	return ret ? EXIT_RUNTIME : 0;
bad:
	usage(stderr);
	return EXIT_USAGE;
}
