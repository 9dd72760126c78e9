// SPDX-License-Identifier: MIT
/*
 * migrate.c - metric family 4: bandwidth between host (system) memory
 *             and device memory, as a fraction of memcpy.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * Migration proper (the MIGRATE command, a copy engine, device-resident
 * pages: issue 5) has not landed when this was written.  What exists is
 * the simulated device's memory pool (dev_sim_mem_alloc()) and its COPY
 * kernel, which is what a migration would run on this device: so the
 * figures here are the COPY kernel, on device 0's four execution units,
 * between a resident host buffer and buffers in the pools of device 0 and
 * device 1, all mapped in one host-native context (GPU VA == host VA) and
 * populated first, so that only the copy is timed.  The baseline is one
 * memcpy of the same size on the same buffers, in the same repetition.
 * When MIGRATE lands, this file should time it instead and keep the same
 * metric ids.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "dev_sim.h"
#include "native.h"

#define SZ_2M (2ull << 20)

enum { SYS_TO_DEV, DEV_TO_SYS, DEV_TO_DEV, NR_DIRS };

static const char *const dir_id[NR_DIRS] = { "sys_to_dev", "dev_to_sys",
					     "dev_to_dev" };
static const char *const dir_title[NR_DIRS] = {
	"system -> device copy bandwidth",
	"device -> system copy bandwidth",
	"device 0 -> device 1 copy bandwidth",
};

static double copy_bps(struct vp_native *nc, void *dst, void *src,
		       uint64_t bytes)
{
	struct vp_launch l = { .kernel = VSVM_KERNEL_COPY, .nr_args = 3,
			       .args = { (uint64_t)(uintptr_t)dst,
					 (uint64_t)(uintptr_t)src, bytes } };
	uint64_t t0 = bench_now_ns();

	if (vp_native_launch(nc, BENCH_DEV_MAIN, &l) || l.status)
		return NAN;
	return (double)bytes / ((double)(bench_now_ns() - t0) / 1e9);
}

void bench_migrate_run(void)
{
	const char *fam = "4 migration bandwidth";
	const uint64_t bytes = (bench_opts.quick ? 16ull : 64ull) << 20;
	struct vp_native_config cfg = { .devices = bench_host.dev,
					.num_devices = bench_host.nr_devs,
					.va_bits = 48 };
	double bw[NR_DIRS][BENCH_MAX_REPS], mc[NR_DIRS][BENCH_MAX_REPS];
	double ratio[BENCH_MAX_REPS];
	struct vp_native *nc = vp_native_create(&cfg);
	uint8_t *sys = bench_host_alloc(bytes, 0);
	uint8_t *d0 = dev_sim_mem_alloc(bench_host.sim[0], bytes, SZ_2M);
	uint8_t *d1 = dev_sim_mem_alloc(bench_host.sim[1], bytes, SZ_2M);
	struct bench_metric *m;
	int r, d;

	if (!nc || !sys || !d0 || !d1 ||
	    vp_native_register(nc, sys, bytes, VSVM_PROT_ALL) ||
	    vp_native_register(nc, d0, bytes, VSVM_PROT_ALL) ||
	    vp_native_register(nc, d1, bytes, VSVM_PROT_ALL) ||
	    vp_native_populate(nc, BENCH_DEV_MAIN, sys, bytes) ||
	    vp_native_populate(nc, BENCH_DEV_MAIN, d0, bytes) ||
	    vp_native_populate(nc, BENCH_DEV_MAIN, d1, bytes)) {
		bench_not_measured("migrate", fam, "copy bandwidth",
				   ">= 0.8x memcpy",
				   "device memory could not be set up");
		goto out;
	}
	/* Make the pools' pages resident, as the host buffer already is. */
	memset(d0, 1, bytes);
	memset(d1, 2, bytes);
	for (r = 0; r < bench_opts.reps; r++) {
		bench_progress("migrate: %llu MiB each way, repetition %d/%d",
			       (unsigned long long)(bytes >> 20), r + 1,
			       bench_opts.reps);
		/* Untimed first copy: TLBs and caches as in the timed one. */
		copy_bps(nc, d0, sys, bytes);
		bw[SYS_TO_DEV][r] = copy_bps(nc, d0, sys, bytes);
		mc[SYS_TO_DEV][r] = bench_memcpy_bps(d0, sys, bytes);
		bw[DEV_TO_SYS][r] = copy_bps(nc, sys, d0, bytes);
		mc[DEV_TO_SYS][r] = bench_memcpy_bps(sys, d0, bytes);
		bw[DEV_TO_DEV][r] = copy_bps(nc, d1, d0, bytes);
		mc[DEV_TO_DEV][r] = bench_memcpy_bps(d1, d0, bytes);
	}
	for (d = 0; d < NR_DIRS; d++) {
		char id[64];

		for (r = 0; r < bench_opts.reps; r++) {
			ratio[r] = bw[d][r] / mc[d][r];
			bw[d][r] /= 1e9;
		}
		snprintf(id, sizeof(id), "migrate.%s", dir_id[d]);
		m = bench_metric(id, fam, dir_title[d], "GB/s");
		bench_metric_values(m, bw[d], bench_opts.reps);
		bench_metric_ratio(m, "memcpy, same buffers", ratio,
				   bench_opts.reps);
		bench_metric_target(m, BENCH_GE, 0.8, BENCH_ON_RATIO,
				    ">= 0.8x memcpy");
		bench_metric_note(m, "COPY kernel on device 0 (4 EUs), %llu "
				  "MiB, PTEs populated; the MIGRATE command "
				  "(issue 5) has not landed, so this is the "
				  "simulated device's copy between its memory "
				  "pool and host memory, not a migration",
				  (unsigned long long)(bytes >> 20));
	}
out:
	vp_native_destroy(nc);
	if (d0)
		dev_sim_mem_free(bench_host.sim[0], d0, bytes);
	if (d1)
		dev_sim_mem_free(bench_host.sim[1], d1, bytes);
	bench_host_free(sys, bytes, 0);
}
