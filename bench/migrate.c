// SPDX-License-Identifier: MIT
/*
 * migrate.c - metric family 4: migration bandwidth system -> device,
 *             device -> system and device -> device, as a fraction of
 *             memcpy on the same machine in the same repetition.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * Migration is guest-driven (docs/protocol.md 10.4): a guest process's
 * range moves with vsvmg_ctx_migrate() / vsvmg_ctx_migrate_to_ram(), which
 * runs the migrate_vma pattern in the guest mm, sends MIGRATE through the
 * ring, and the proxy copies with the device's copy engine and remaps.
 * That whole round trip is what is timed here, for a range already in
 * guest RAM and mirrored nowhere.  Beside it, the copy engine alone (the
 * device op the proxy calls, no guest, no page tables) is measured on the
 * same sizes: the floor migration can approach.  The baseline of both is
 * one single-threaded memcpy of the same size between resident buffers.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "dev_sim.h"
#include "guest_proc.h"
#include "vsvmg.h"
#include "workloads.h"

#define SZ_2M (2ull << 20)

enum { SYS_TO_DEV, DEV_TO_SYS, DEV_TO_DEV, NR_DIRS };

static const char *const dir_id[NR_DIRS] = { "sys_to_dev", "dev_to_sys",
					     "dev_to_dev" };
static const char *const dir_title[NR_DIRS] = {
	"system -> device",
	"device -> system",
	"device 0 -> device 1",
};

struct mig_results {
	double mig[NR_DIRS][BENCH_MAX_REPS];	/* GB/s */
	double eng[NR_DIRS][BENCH_MAX_REPS];	/* GB/s */
	double mc[BENCH_MAX_REPS];		/* GB/s */
	int mig_ok;
	int eng_ok;
	char why[160];
};

static double gbps(uint64_t bytes, uint64_t t0)
{
	return (double)bytes / (double)(bench_now_ns() - t0);
}

/* The device copy engine alone, as the proxy calls it. */
static int engine_rep(struct mig_results *mr, int r, uint8_t *sys,
		      uint8_t *d0, uint8_t *d1, uint64_t bytes)
{
	struct vp_device *dev0 = bench_host.sim[0];
	uint64_t t0;

	if (dev0->ops->copy(dev0, d0, sys, bytes))	/* untimed: warm */
		return -EIO;
	t0 = bench_now_ns();
	if (dev0->ops->copy(dev0, d0, sys, bytes))
		return -EIO;
	mr->eng[SYS_TO_DEV][r] = gbps(bytes, t0);
	t0 = bench_now_ns();
	if (dev0->ops->copy(dev0, sys, d0, bytes))
		return -EIO;
	mr->eng[DEV_TO_SYS][r] = gbps(bytes, t0);
	t0 = bench_now_ns();
	if (dev0->ops->copy(dev0, d1, d0, bytes))
		return -EIO;
	mr->eng[DEV_TO_DEV][r] = gbps(bytes, t0);
	return 0;
}

/* Guest-driven migration of one range: there, across, and back. */
static int migrate_rep(struct mig_results *mr, int r, struct gsim_proc *p,
		       uint64_t va, uint64_t bytes)
{
	uint64_t t0;
	__u64 moved;
	int ret;

	t0 = bench_now_ns();
	ret = vsvmg_ctx_migrate(p->ctx, va, bytes, 0, &moved);
	if (ret || moved != bytes)
		return ret ? ret : -EAGAIN;
	mr->mig[SYS_TO_DEV][r] = gbps(bytes, t0);
	t0 = bench_now_ns();
	ret = vsvmg_ctx_migrate(p->ctx, va, bytes, 1, &moved);
	if (ret || moved != bytes)
		return ret ? ret : -EAGAIN;
	mr->mig[DEV_TO_DEV][r] = gbps(bytes, t0);
	t0 = bench_now_ns();
	ret = vsvmg_ctx_migrate_to_ram(p->ctx, va, bytes);
	if (ret)
		return ret;
	mr->mig[DEV_TO_SYS][r] = gbps(bytes, t0);
	return 0;
}

static void migrate_report(struct mig_results *mr, uint64_t bytes)
{
	const char *fam = "4 migration bandwidth";
	double ratio[BENCH_MAX_REPS];
	struct bench_metric *m;
	char id[64], title[128];
	int d, r, n = bench_opts.reps;

	m = bench_metric("migrate.memcpy", fam,
			 "memcpy, same size, one thread", "GB/s");
	bench_metric_values(m, mr->mc, n);
	for (d = 0; d < NR_DIRS; d++) {
		snprintf(id, sizeof(id), "migrate.%s", dir_id[d]);
		snprintf(title, sizeof(title), "MIGRATE %s, guest-driven",
			 dir_title[d]);
		if (!mr->mig_ok) {
			bench_not_measured(id, fam, title, ">= 0.8x memcpy",
					   mr->why);
		} else {
			for (r = 0; r < n; r++)
				ratio[r] = mr->mig[d][r] / mr->mc[r];
			m = bench_metric(id, fam, title, "GB/s");
			bench_metric_values(m, mr->mig[d], n);
			bench_metric_ratio(m, "memcpy, same size", ratio, n);
			bench_metric_target(m, BENCH_GE, 0.8, BENCH_ON_RATIO,
					    ">= 0.8x memcpy");
			bench_metric_note(m, "%llu MiB in one vsvmg_ctx_migrate"
					  "%s call: migrate_vma setup in the "
					  "guest mm, MIGRATE through the ring, "
					  "copy engine and remap in the proxy, "
					  "finalize",
					  (unsigned long long)(bytes >> 20),
					  d == DEV_TO_SYS ? "_to_ram" : "");
		}
		snprintf(id, sizeof(id), "migrate.engine.%s", dir_id[d]);
		snprintf(title, sizeof(title), "copy engine alone, %s",
			 dir_title[d]);
		if (!mr->eng_ok) {
			bench_not_measured(id, fam, title, "",
					   "the simulated device has no copy "
					   "engine or memory");
			continue;
		}
		for (r = 0; r < n; r++)
			ratio[r] = mr->eng[d][r] / mr->mc[r];
		m = bench_metric(id, fam, title, "GB/s");
		bench_metric_values(m, mr->eng[d], n);
		bench_metric_ratio(m, "memcpy, same size", ratio, n);
	}
}

void bench_migrate_run(void)
{
	const uint64_t bytes = (bench_opts.quick ? 16ull : 64ull) << 20;
	const uint64_t va = GSIM_WL_BASE + (8ull << 32);
	struct vp_device *dev0 = bench_host.sim[0], *dev1 = bench_host.sim[1];
	struct mig_results *mr = calloc(1, sizeof(*mr));
	uint8_t *sys = bench_host_alloc(bytes, 0), *d0 = NULL, *d1 = NULL;
	uint8_t *src = bench_host_alloc(bytes, 0), *fill = malloc(bytes);
	struct gsim_proc *p = NULL;
	struct bench_vm vm = { 0 };
	int r;

	if (!mr || !sys || !src || !fill)
		goto out;
	memset(fill, 0x3c, bytes);
	mr->eng_ok = dev0->ops->mem_alloc && dev0->ops->copy;
	if (mr->eng_ok) {
		d0 = dev0->ops->mem_alloc(dev0, bytes, SZ_2M);
		d1 = dev1->ops->mem_alloc(dev1, bytes, SZ_2M);
		mr->eng_ok = d0 && d1;
	}
	snprintf(mr->why, sizeof(mr->why), "a simulated VM could not connect");
	if (!bench_vm_up(&vm, (bench_opts.quick ? 128ull : 256ull) << 20,
			 64 << 10, 1) &&
	    !gsim_proc_create(vm.dev, vm.ram, 7000, &p)) {
		mr->mig_ok = !!(vsvmg_ctx_features(p->ctx) &
				VSVM_F_DEVICE_MEMORY);
		snprintf(mr->why, sizeof(mr->why),
			 "the proxy does not offer VSVM_F_DEVICE_MEMORY");
		if (mr->mig_ok && (gsim_proc_mmap_fixed(p, va, bytes) ||
				   gsim_mm_write(p->mm, va, fill, bytes)))
			mr->mig_ok = 0;
	}
	for (r = 0; r < bench_opts.reps; r++) {
		int ret;

		bench_progress("migrate: %llu MiB each way, repetition %d/%d",
			       (unsigned long long)(bytes >> 20), r + 1,
			       bench_opts.reps);
		mr->mc[r] = bench_memcpy_bps(sys, src, bytes) / 1e9;
		if (mr->eng_ok && engine_rep(mr, r, sys, d0, d1, bytes))
			mr->eng_ok = 0;
		if (!mr->mig_ok)
			continue;
		ret = migrate_rep(mr, r, p, va, bytes);
		if (ret) {
			mr->mig_ok = 0;
			snprintf(mr->why, sizeof(mr->why),
				 "a MIGRATE failed (%d) in repetition %d", ret,
				 r + 1);
		}
	}
	migrate_report(mr, bytes);
out:
	if (p) {
		gsim_mm_munmap(p->mm, va, bytes);
		gsim_proc_exit(p);
	}
	bench_vm_down(&vm);
	if (d0)
		dev0->ops->mem_free(dev0, d0, bytes);
	if (d1)
		dev1->ops->mem_free(dev1, d1, bytes);
	bench_host_free(sys, bytes, 0);
	bench_host_free(src, bytes, 0);
	free(fill);
	free(mr);
}
