/* vmwait-synth: write a synthetic KVM host trace.dat and its ground truth. */
#include "tdat.h"
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "guest.h"
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

		"  -p, --profile NAME    record as a user would: full, exits (kvm_entry and\n"
		"                        kvm_exit only), nosched (no sched_*), noirq (no\n"
		"                        interrupt events), sched (no kvm_vcpu_wakeup), light\n"
		"  -e, --events-only L   record only the events of the comma-separated list\n"
		"  -d, --drop SHARE      leave out this share (0..1) of the records at random\n"
		"      --drop-seed N     the PRNG seed of --drop (default 1)\n"
		"      --drop-events L   --drop picks only records of these events\n"
		"      --no-losses       random: no lost events\n"
		"      --until D         random: stop at this simulated time (not --events)\n"
		"      --isa vmx|svm     random: both VMs of this isa\n"
		"      --facts FILE      the generator's account of the kvm_entry/kvm_exit\n"
		"                        records written, per thread (JSON)\n"
		"  -r, --random SEED     compose a random scenario (the seed also picks\n"
		"                        migration, losses, nested guests and guest timers)\n"
		"  -n, --events N        random: stop after N events (default 200000)\n"
		"      --guest PREFIX    also each VM's guest trace, PREFIX-<vm>.dat, and the\n"
		"                        guest tasks in the truth (tests/synth/guest.h)\n"
		"      --guest-form F    tracecmd (trace-cmd -A: ids, TIME_SHIFT; default),\n"
		"                        plain (the guest's own clock) or empty (plain, with\n"
		"                        the formats and no records: a bad input)\n"
		"      --guest-offset NS guest clock = host clock - NS - 1000003 * VM index\n"
		"                        (default 1234567890123)\n");
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
		{ "profile", required_argument, NULL, 'p' },
		{ "events-only", required_argument, NULL, 'e' },
		{ "drop", required_argument, NULL, 'd' },
		{ "drop-seed", required_argument, NULL, 'S' },
		{ "drop-events", required_argument, NULL, 'D' },
		{ "no-losses", no_argument, NULL, 'N' },
		{ "isa", required_argument, NULL, 'I' },
		{ "until", required_argument, NULL, 'U' },
		{ "facts", required_argument, NULL, 'f' },
		{ "random", required_argument, NULL, 'r' },
		{ "events", required_argument, NULL, 'n' },
		{ "guest", required_argument, NULL, 'G' },
		{ "guest-form", required_argument, NULL, 'H' },
		{ "guest-offset", required_argument, NULL, 'O' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sim_opts o = { .out = "trace.dat", .fmtroot = "tests/data/formats", .version = 6,
			      .drop_seed = 1 };
	struct sguest_opts go = { .tracecmd = true, .offset = 1234567890123LL };
	char *end;
	const char *kernel = NULL;
	uint64_t seed = 0, events = 0, until = 0;
	bool random = false;
	struct scn s;
	int c, ret;

	while ((c = getopt_long(argc, argv, "o:t:F:k:V:z:lp:e:d:r:n:h", lo, NULL)) != -1) {
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
		case 'p':
			o.profile = optarg;
			break;
		case 'e':
			o.events = optarg;
			break;
		case 'd':
			o.drop = strtod(optarg, &end);
			if (*end || end == optarg || o.drop < 0 || o.drop > 1)
				goto bad;
			break;
		case 'S':
			if (parse_u64(optarg, &o.drop_seed))
				goto bad;
			break;
		case 'D':
			o.drop_events = optarg;
			break;
		case 'N':
			o.no_losses = true;
			break;
		case 'I':
			o.isa = !strcmp(optarg, "vmx") ? 1 : !strcmp(optarg, "svm") ? 2 : 0;
			if (!o.isa)
				goto bad;
			break;
		case 'f':
			o.facts = optarg;
			break;
		case 'U':
			if (parse_duration_ns(optarg, &until))
				goto bad;
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
		case 'G':
			go.prefix = optarg;
			o.guest = &go;
			break;
		case 'H':
			go.tracecmd = !strcmp(optarg, "tracecmd");
			go.empty = !strcmp(optarg, "empty");
			if (!go.tracecmd && !go.empty && strcmp(optarg, "plain"))
				goto bad;
			break;
		case 'O':
			go.offset = strtoll(optarg, &end, 0);
			if (*end || end == optarg)
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
	if (o.no_losses)
		s.rnd.loss = 0;
	if (random && until) {
		s.end = until;
		s.max_events = 0;
	}
	for (int i = 0; random && o.isa && i < s.nr_vms; i++) {
		s.vms[i].isa = o.isa;
		s.vms[i].hvtimer = s.vms[i].hvtimer && o.isa == 1;	/* the VMX preemption timer */
	}
	go.version = o.version;
	go.compress = o.compress;
	ret = sim_run(&s, &o);
	scn_free(&s);
	return ret ? EXIT_RUNTIME : 0;
bad:
	usage(stderr);
	return EXIT_USAGE;
}
