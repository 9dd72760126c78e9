// SPDX-License-Identifier: MIT
/*
 * main.c - vsvm-bench: the cost of virtualizing GPU shared virtual memory,
 *          as ratios against baselines measured in the same run.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * Usage: vsvm-bench [--quick] [--reps N] [--out DIR] [--only FAMILY]
 *
 * Starts vsvm-proxy's server in this process with two simulated GPUs
 * (bench.h, env.c), runs every metric family and writes DIR/report.json,
 * DIR/report.md and PNG plots in DIR/plots.  Exit status 0 when the report was
 * written, whatever the figures; targets are recorded there, never
 * enforced here.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench.h"

struct bench_opts bench_opts = { .reps = 0, .out_dir = "build/bench" };

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vsvm-bench [--quick] [--reps N] [--out DIR] "
		"[--only FAMILY]\n"
		"  -q, --quick      CI smoke sizes (seconds, not minutes)\n"
		"  -r, --reps N     repetitions per metric (default 9; quick 3)\n"
		"  -o, --out DIR    where the report goes (default build/bench)\n"
		"      --only F     floor, fault, migrate, workload or scale\n");
}

static int mkdirs(const char *dir)
{
	char path[512];
	size_t i;

	snprintf(path, sizeof(path), "%s/plots", dir);
	for (i = 1; path[i]; i++) {
		if (path[i] != '/')
			continue;
		path[i] = 0;
		if (mkdir(path, 0755) && errno != EEXIST)
			return -1;
		path[i] = '/';
	}
	return mkdir(path, 0755) && errno != EEXIST ? -1 : 0;
}

static int wanted(const char *family)
{
	return !bench_opts.only || !strcmp(bench_opts.only, family);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "reps", required_argument, NULL, 'r' },
		{ "out", required_argument, NULL, 'o' },
		{ "only", required_argument, NULL, 'O' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t t0;
	int c;

	while ((c = getopt_long(argc, argv, "qr:o:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'q':
			bench_opts.quick = 1;
			break;
		case 'r':
			bench_opts.reps = atoi(optarg);
			if (bench_opts.reps < 1 ||
			    bench_opts.reps > BENCH_MAX_REPS) {
				fprintf(stderr, "vsvm-bench: --reps 1..%d\n",
					BENCH_MAX_REPS);
				return 2;
			}
			break;
		case 'o':
			bench_opts.out_dir = optarg;
			break;
		case 'O':
			bench_opts.only = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (!bench_opts.reps)
		bench_opts.reps = bench_opts.quick ? 3 : 9;
	if (mkdirs(bench_opts.out_dir)) {
		fprintf(stderr, "vsvm-bench: cannot create %s/plots\n",
			bench_opts.out_dir);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	t0 = bench_now_ns();
	bench_progress("vsvm-bench: %s mode, %d repetitions, report in %s",
		       bench_opts.quick ? "quick" : "full", bench_opts.reps,
		       bench_opts.out_dir);
	if (bench_host_up(&bench_host)) {
		fprintf(stderr, "vsvm-bench: cannot start the proxy server\n");
		return 1;
	}
	if (wanted("floor"))
		bench_floor_run();
	if (wanted("fault"))
		bench_fault_run();
	if (wanted("migrate"))
		bench_migrate_run();
	if (wanted("workload"))
		bench_workload_run();
	if (wanted("scale"))
		bench_scale_run();
	bench_host_down(&bench_host);
	if (bench_report_write((double)(bench_now_ns() - t0) / 1e9)) {
		fprintf(stderr, "vsvm-bench: writing the report failed\n");
		return 1;
	}
	bench_progress("report: %s/report.json, %s/report.md, %s/plots/",
		       bench_opts.out_dir, bench_opts.out_dir,
		       bench_opts.out_dir);
	return 0;
}
