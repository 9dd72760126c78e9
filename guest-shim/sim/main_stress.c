// SPDX-License-Identifier: MIT
/*
 * main_stress.c - vsvm-stress: a simulated VM that connects to vsvm-proxy
 *                 and runs the coherency and isolation stress engine.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Overview
 *
 * Guest RAM, the vhost-user connection and the guest shim's device are
 * set up as vsvm-guest-sim does; then gsim_stress_run() (stress.h) runs
 * for --seconds or --iterations with --processes guest processes, all of
 * them using the same VAs.  A failure names the seed to replay it with.
 * Exit status: 0 PASS, 1 FAIL, 2 usage or setup error, 3 a hang (the
 * engine exits by itself then).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_transport.h"
#include "guest_ram.h"
#include "stress.h"
#include "vsvmg.h"

struct options {
	const char *socket_path;
	struct gsim_stress_config cfg;
	uint64_t ram_mib;
	uint32_t fault_window;
	uint32_t populate;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vsvm-stress --socket PATH [options]\n"
		"  -s, --socket PATH     vsvm-proxy's vhost-user socket\n"
		"      --seed N          decisions' seed (default 1)\n"
		"  -t, --seconds N       run time (default 20)\n"
		"  -n, --iterations N    actions per process instead of a time\n"
		"  -p, --processes N     guest processes (default 4, max %d)\n"
		"  -m, --ram MIB         guest RAM (default 64; small RAM "
		"reuses freed frames sooner)\n"
		"      --fault-window N  bytes mirrored around a fault "
		"(default 65536)\n"
		"      --no-populate     mirror only the faulting page\n"
		"      --stall N         seconds without progress that fail "
		"the run (default 60)\n"
		"  -q, --quiet           no progress lines\n",
		GSIM_STRESS_MAX_PROCS);
}

static int parse_num(const char *arg, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(arg, &end, 0);
	if (errno || *end || end == arg || v < min || v > max) {
		fprintf(stderr,
			"vsvm-stress: '%s' is not a number in "
			"[%" PRIu64 ", %" PRIu64 "]\n",
			arg, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
	enum { OPT_SEED = 256, OPT_WINDOW, OPT_NO_POPULATE, OPT_STALL };
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "seed", required_argument, NULL, OPT_SEED },
		{ "seconds", required_argument, NULL, 't' },
		{ "iterations", required_argument, NULL, 'n' },
		{ "processes", required_argument, NULL, 'p' },
		{ "ram", required_argument, NULL, 'm' },
		{ "fault-window", required_argument, NULL, OPT_WINDOW },
		{ "no-populate", no_argument, NULL, OPT_NO_POPULATE },
		{ "stall", required_argument, NULL, OPT_STALL },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int c;

	while ((c = getopt_long(argc, argv, "s:t:n:p:m:qh", longopts, NULL)) !=
	       -1) {
		switch (c) {
		case 's':
			o->socket_path = optarg;
			break;
		case OPT_SEED:
			if (parse_num(optarg, 0, UINT64_MAX, &o->cfg.seed))
				return -1;
			break;
		case 't':
			if (parse_num(optarg, 1, 86400, &v))
				return -1;
			o->cfg.seconds = (uint32_t)v;
			break;
		case 'n':
			if (parse_num(optarg, 1, UINT64_MAX,
				      &o->cfg.iterations))
				return -1;
			break;
		case 'p':
			if (parse_num(optarg, 1, GSIM_STRESS_MAX_PROCS, &v))
				return -1;
			o->cfg.processes = (uint32_t)v;
			break;
		case 'm':
			if (parse_num(optarg, 8, 65536, &o->ram_mib) ||
			    o->ram_mib % 2) {
				fprintf(stderr, "vsvm-stress: --ram must be "
						"even\n");
				return -1;
			}
			break;
		case OPT_WINDOW:
			if (parse_num(optarg, 4096, 1u << 21, &v) ||
			    (v & (v - 1))) {
				fprintf(stderr,
					"vsvm-stress: --fault-window: a "
					"power of two\n");
				return -1;
			}
			o->fault_window = (uint32_t)v;
			break;
		case OPT_NO_POPULATE:
			o->populate = 0;
			break;
		case OPT_STALL:
			if (parse_num(optarg, 1, 86400, &v))
				return -1;
			o->cfg.stall_seconds = (uint32_t)v;
			break;
		case 'q':
			o->cfg.quiet = 1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (!o->socket_path || optind != argc) {
		usage(stderr);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct options o = {
		.cfg = { .seed = 1, .seconds = 20, .processes = 4 },
		.ram_mib = 64,
		.fault_window = 64 << 10,
		.populate = 1,
	};
	struct vsvmg_config dcfg;
	struct gsim_stress_stats st;
	struct gsim_gpu *gpu = NULL;
	struct vsvmg_dev *dev;
	struct gsim_ram *ram;
	uint64_t baseline;
	int ret;

	if (parse_args(argc, argv, &o))
		return 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	dcfg = (struct vsvmg_config){ .fault_window = o.fault_window,
				      .populate = o.populate };
	ram = gsim_ram_create(o.ram_mib << 20);
	if (!ram) {
		fprintf(stderr, "vsvm-stress: cannot create guest RAM\n");
		return 2;
	}
	baseline = gsim_ram_pages_used(ram);
	ret = gsim_gpu_connect(ram, o.socket_path, NULL, &gpu);
	if (ret) {
		fprintf(stderr, "vsvm-stress: connecting to %s: %s\n",
			o.socket_path, strerror(-ret));
		gsim_ram_destroy(ram);
		return 2;
	}
	dev = vsvmg_dev_create(&gsim_gpu_transport_ops, gpu, &dcfg);
	if (!dev) {
		fprintf(stderr, "vsvm-stress: no svm capset on %s\n",
			o.socket_path);
		gsim_gpu_disconnect(gpu);
		gsim_ram_destroy(ram);
		return 2;
	}
	ret = gsim_stress_run(dev, ram, &o.cfg, &st);
	vsvmg_dev_destroy(dev);
	gsim_gpu_disconnect(gpu);
	/* The rings and the device's buffers are guest RAM too. */
	if (gsim_ram_pages_used(ram) != baseline) {
		printf("vsvm-stress: FAIL: %" PRIu64 " guest RAM pages still "
		       "allocated after disconnecting\n",
		       gsim_ram_pages_used(ram) - baseline);
		ret = -1;
	}
	if (gsim_ram_poison_scan(ram) || gsim_ram_poison_violations(ram)) {
		printf("vsvm-stress: FAIL: freed frames written (poison)\n");
		ret = -1;
	}
	gsim_ram_destroy(ram);
	return ret ? 1 : 0;
}
