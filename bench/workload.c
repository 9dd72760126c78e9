// SPDX-License-Identifier: MIT
/*
 * workload.c - metric family 5: whole kernels, virtualized vs host-native,
 *              each cold (first touch by the device: every page faults
 *              in) and warm (the same launch again, everything mapped).
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * The virtualized run is a guest process of a simulated VM: it builds its
 * data with the guest CPU in its own address space, then launches through
 * the guest shim and the ring (the guest simulator's defaults: 64 KiB fault
 * window, populated).  The host-native run builds the same data in host
 * memory and launches on the same device through proxy/native.c (2 MiB
 * window, the proxy's own minor-fault window) with 4 KiB leaves only
 * (vp_native_config.small_pages), as the proxy must map guest RAM today
 * (the guest cannot get 2 MiB-aligned frame runs, and vsvm-proxy's mmap of
 * guest RAM is not 2 MiB aligned): the ratio is then the cost of the
 * forwarding, not of a page size the guest could not get.  Warm is the median of
 * WARM_RUNS launches.  Times are wall clock from
 * the launch call to its result, on both sides, so the virtualized figure
 * includes the LAUNCH round trip through the ring.  Which side goes first
 * alternates between repetitions, so a drift in machine load does not
 * favour one.  Both sides must compute the same result, or the metric
 * says so.  Oversubscription runs on a proxy of its own: see oversub_run().
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "guest_proc.h"
#include "native.h"
#include "vsvmg.h"
#include "workloads.h"

#define PAGE 4096ull
/* Warm time: the median of this many launches after the cold one. */
#define WARM_RUNS 7

enum { WL_TRIAD, WL_GATHER, WL_CHASE, NR_WL };

/* One workload's input, built once in host memory, placed at a base VA. */
struct wl_data {
	const char *name;
	const char *title;
	uint32_t kernel;
	uint64_t bytes;		/* whole footprint, page multiple */
	uint8_t *img;		/* the bytes as they must be at base 0 */
	/* Chase: next pointers are VAs, so rebuilt for each base. */
	uint64_t nodes;
	uint32_t *perm;
	uint64_t n, m;
};

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

static uint64_t round_page(uint64_t x)
{
	return (x + PAGE - 1) & ~(PAGE - 1);
}

static void wl_build(struct wl_data *w, int which, int quick)
{
	uint64_t seed = 0x5eed + which, i;

	memset(w, 0, sizeof(*w));
	switch (which) {
	case WL_TRIAD:
		w->name = "triad";
		w->title = "stream triad";
		w->kernel = VSVM_KERNEL_TRIAD;
		w->n = quick ? 1024 * 1024 : 2 * 1024 * 1024;
		w->bytes = round_page(3 * w->n * 8);
		w->img = calloc(1, w->bytes);
		for (i = 0; i < 2 * w->n; i++)
			((double *)w->img)[w->n + i] = (double)(rnd(&seed) % 1000);
		break;
	case WL_GATHER:
		w->name = "gather";
		w->title = "random gather";
		w->kernel = VSVM_KERNEL_GATHER;
		w->n = quick ? 512 * 1024 : 1024 * 1024;
		w->m = 2 * w->n;
		w->bytes = round_page(w->n * 8 + w->m * 8 + w->n * 4);
		w->img = calloc(1, w->bytes);
		for (i = 0; i < w->m; i++)
			((uint64_t *)(w->img + w->n * 8))[i] = rnd(&seed);
		for (i = 0; i < w->n; i++)
			((uint32_t *)(w->img + w->n * 8 + w->m * 8))[i] =
				(uint32_t)rnd(&seed);
		break;
	default:
		w->name = "chase";
		w->title = "pointer chase";
		w->kernel = VSVM_KERNEL_CHASE;
		w->nodes = quick ? 128 * 1024 : 256 * 1024;
		w->bytes = round_page(w->nodes * 16);
		w->img = calloc(1, w->bytes);
		w->perm = malloc(w->nodes * sizeof(*w->perm));
		for (i = 0; i < w->nodes; i++)
			w->perm[i] = (uint32_t)i;
		for (i = w->nodes; i > 1; i--) {
			uint64_t j = rnd(&seed) % i;
			uint32_t t = w->perm[i - 1];

			w->perm[i - 1] = w->perm[j];
			w->perm[j] = t;
		}
		break;
	}
}

/* The image at base: chase nodes linked in perm order, by VA. */
static void wl_place(const struct wl_data *w, uint8_t *dst, uint64_t base)
{
	uint64_t i;

	memcpy(dst, w->img, w->bytes);
	if (!w->perm)
		return;
	for (i = 0; i < w->nodes; i++) {
		uint64_t *node = (uint64_t *)(dst + (uint64_t)w->perm[i] * 16);

		node[0] = i + 1 < w->nodes ?
				  base + (uint64_t)w->perm[i + 1] * 16 :
				  0;
		node[1] = i;
	}
}

static uint32_t wl_args(const struct wl_data *w, uint64_t base,
			uint64_t *args)
{
	double s = 3.0;

	switch (w->kernel) {
	case VSVM_KERNEL_TRIAD:
		args[0] = base;
		args[1] = base + w->n * 8;
		args[2] = base + 2 * w->n * 8;
		args[3] = w->n;
		memcpy(&args[4], &s, 8);
		return 5;
	case VSVM_KERNEL_GATHER:
		args[0] = base;
		args[1] = base + w->n * 8;
		args[2] = base + w->n * 8 + w->m * 8;
		args[3] = w->n;
		args[4] = w->m;
		return 5;
	default:
		args[0] = base + (uint64_t)w->perm[0] * 16;
		args[1] = w->nodes + 1;
		return 2;
	}
}

struct wl_time {
	double cold, warm;	/* seconds */
	uint64_t result;
	int ok;
};

static void wl_native_on(struct bench_host *h, const struct wl_data *w,
			 struct wl_time *t)
{
	struct vp_native_config cfg = { .devices = h->dev,
					.num_devices = h->nr_devs,
					.va_bits = 48,
					.small_pages = 1 };
	struct vp_native *nc = vp_native_create(&cfg);
	uint8_t *buf = bench_host_alloc(w->bytes, 0);
	struct vp_launch l = { .kernel = w->kernel };
	uint64_t base = (uint64_t)(uintptr_t)buf, t0;
	double warm[WARM_RUNS];
	int i;

	t->ok = 0;
	if (!nc || !buf)
		goto out;
	wl_place(w, buf, base);
	if (vp_native_register(nc, buf, w->bytes, VSVM_PROT_ALL))
		goto out;
	l.nr_args = wl_args(w, base, l.args);
	t0 = bench_now_ns();
	if (vp_native_launch(nc, BENCH_DEV_MAIN, &l) || l.status)
		goto out;
	t->cold = (double)(bench_now_ns() - t0) / 1e9;
	for (i = 0; i < WARM_RUNS; i++) {
		t0 = bench_now_ns();
		if (vp_native_launch(nc, BENCH_DEV_MAIN, &l) || l.status)
			goto out;
		warm[i] = (double)(bench_now_ns() - t0) / 1e9;
	}
	t->warm = bench_median(warm, WARM_RUNS);
	t->result = l.result;
	t->ok = 1;
out:
	vp_native_destroy(nc);
	bench_host_free(buf, w->bytes, 0);
}

/* In process p, with an attribute on the range if attr is not NULL. */
static void wl_guest_proc(struct gsim_proc *p, const struct wl_data *w,
			  const struct vsvm_attr_val *attr, struct wl_time *t)
{
	const uint64_t base = GSIM_WL_BASE;
	struct vsvmg_launch_result lr;
	uint8_t *img = malloc(w->bytes);
	uint64_t args[VSVM_MAX_KERNEL_ARGS] = { 0 }, t0;
	double warm[WARM_RUNS];
	uint32_t nr;
	int i;

	t->ok = 0;
	if (!img)
		return;
	wl_place(w, img, base);
	if (gsim_proc_mmap_fixed(p, base, w->bytes) ||
	    gsim_mm_write(p->mm, base, img, w->bytes) ||
	    (attr && vsvmg_ctx_set_attr(p->ctx, base, w->bytes, attr, 1)))
		goto out_unmap;
	nr = wl_args(w, base, args);
	t0 = bench_now_ns();
	if (vsvmg_ctx_launch(p->ctx, w->kernel, BENCH_DEV_MAIN,
			     (const __u64 *)args, nr, &lr) ||
	    lr.status != VSVM_OK)
		goto out_unmap;
	t->cold = (double)(bench_now_ns() - t0) / 1e9;
	for (i = 0; i < WARM_RUNS; i++) {
		t0 = bench_now_ns();
		if (vsvmg_ctx_launch(p->ctx, w->kernel, BENCH_DEV_MAIN,
				     (const __u64 *)args, nr, &lr) ||
		    lr.status != VSVM_OK)
			goto out_unmap;
		warm[i] = (double)(bench_now_ns() - t0) / 1e9;
	}
	t->warm = bench_median(warm, WARM_RUNS);
	t->result = lr.result;
	t->ok = 1;
out_unmap:
	gsim_mm_munmap(p->mm, base, w->bytes);
	free(img);
}

static void wl_guest(struct bench_vm *vm, const struct wl_data *w,
		     uint32_t pid, struct wl_time *t)
{
	struct gsim_proc *p = NULL;

	t->ok = 0;
	if (gsim_proc_create(vm->dev, vm->ram, pid, &p))
		return;
	wl_guest_proc(p, w, NULL, t);
	gsim_proc_exit(p);
}

static void wl_native(const struct wl_data *w, struct wl_time *t)
{
	wl_native_on(&bench_host, w, t);
}

/*
 * Oversubscription: a stream triad whose three arrays add up to 150% of
 * the device's memory, with PREFERRED_LOC on that device, on a host of its
 * own (one small device, the default policy).  Faults place granules in
 * device memory (MIGRATE_REQs the guest serves), and once it is full the
 * least recently used are asked back to guest RAM while the device maps
 * the rest remotely.  The host-native run is the same triad on the same
 * device with the data in host memory (native.c has no device memory):
 * the ratio is what the VM pays to run a working set larger than the
 * device, against a host process that never moved its data.
 */
static void oversub_run(const char *fam)
{
	static const uint32_t eus[1] = { 4 };
	const uint64_t dev_mem = (bench_opts.quick ? 16ull : 64ull) << 20;
	struct vsvm_attr_val loc = { .type = VSVM_ATTR_PREFERRED_LOC,
				     .value = 0 };
	double vc[BENCH_MAX_REPS], vw[BENCH_MAX_REPS], nc[BENCH_MAX_REPS];
	double nw[BENCH_MAX_REPS], ratio[BENCH_MAX_REPS], ms[BENCH_MAX_REPS];
	struct vsvmg_ctx_stats st = { 0 };
	struct bench_host h2;
	struct bench_vm vm = { 0 };
	struct wl_data w;
	const char *why = NULL;
	struct bench_metric *m;
	int r, temp;

	memset(&w, 0, sizeof(w));
	if (bench_host_up_with(&h2, 1, eus, dev_mem, NULL)) {
		why = "a second proxy server could not start";
		goto out;
	}
	if (bench_vm_up_on(&h2, &vm, 256ull << 20, 64 << 10, 1)) {
		why = "a simulated VM could not connect";
		goto out_host;
	}
	wl_build(&w, WL_TRIAD, 1);
	free(w.img);
	w.n = dev_mem * 3 / 2 / 24;
	w.bytes = round_page(3 * w.n * 8);
	w.img = calloc(1, w.bytes);
	if (!w.img) {
		why = "out of memory";
		goto out_vm;
	}
	for (r = 0; r < bench_opts.reps && !why; r++) {
		struct wl_time tv = { 0 }, tn = { 0 };
		struct gsim_proc *p = NULL;

		bench_progress("workload: oversubscription, %llu MiB on a %llu "
			       "MiB device, repetition %d/%d",
			       (unsigned long long)(w.bytes >> 20),
			       (unsigned long long)(dev_mem >> 20), r + 1,
			       bench_opts.reps);
		wl_native_on(&h2, &w, &tn);
		if (gsim_proc_create(vm.dev, vm.ram, 9000 + r, &p)) {
			why = "a guest process could not be created";
			break;
		}
		if (!(vsvmg_ctx_features(p->ctx) & VSVM_F_DEVICE_MEMORY))
			why = "the proxy does not offer VSVM_F_DEVICE_MEMORY";
		else
			wl_guest_proc(p, &w, &loc, &tv);
		vsvmg_ctx_stats(p->ctx, &st);
		gsim_proc_exit(p);
		if (!why && (!tv.ok || !tn.ok))
			why = "a launch failed";
		vc[r] = tv.cold;
		vw[r] = tv.warm;
		nc[r] = tn.cold;
		nw[r] = tn.warm;
	}
out_vm:
	bench_vm_down(&vm);
out_host:
	bench_host_down(&h2);
out:
	free(w.img);
	for (temp = 0; temp < 2; temp++) {
		char id[64], title[128];

		snprintf(id, sizeof(id), "workload.oversub.%s",
			 temp ? "warm" : "cold");
		snprintf(title, sizeof(title),
			 "triad at 150%% of device memory, %s, virtualized",
			 temp ? "warm" : "cold");
		if (why) {
			bench_not_measured(id, fam, title, "", why);
			continue;
		}
		for (r = 0; r < bench_opts.reps; r++) {
			ratio[r] = (temp ? vw[r] : vc[r]) /
				   (temp ? nw[r] : nc[r]);
			ms[r] = (temp ? vw[r] : vc[r]) * 1e3;
		}
		m = bench_metric(id, fam, title, "ms");
		bench_metric_values(m, ms, bench_opts.reps);
		bench_metric_ratio(m, "host-native, data in host memory", ratio,
				   bench_opts.reps);
		bench_metric_note(m, "%llu MiB device, PREFERRED_LOC=0; last "
				  "repetition: %llu pages to the device, %llu "
				  "back, %llu MIGRATE_REQs served",
				  (unsigned long long)(dev_mem >> 20),
				  (unsigned long long)st.migrated_to_device,
				  (unsigned long long)st.migrated_to_system,
				  (unsigned long long)st.migrate_reqs);
	}
}

void bench_workload_run(void)
{
	const char *fam = "5 workloads";
	double vc[NR_WL][BENCH_MAX_REPS], vw[NR_WL][BENCH_MAX_REPS];
	double nc[NR_WL][BENCH_MAX_REPS], nw[NR_WL][BENCH_MAX_REPS];
	double ratio[BENCH_MAX_REPS], ms[BENCH_MAX_REPS];
	int mismatch[NR_WL] = { 0 }, failed[NR_WL] = { 0 }, r, i;
	struct wl_data w[NR_WL];
	struct bench_vm vm;
	uint32_t pid = 5000;

	if (bench_vm_up(&vm, (bench_opts.quick ? 128ull : 256ull) << 20,
			64 << 10, 1)) {
		bench_not_measured("workload", fam, "workloads", "<= 1.02",
				   "a simulated VM could not connect");
		return;
	}
	for (i = 0; i < NR_WL; i++)
		wl_build(&w[i], i, bench_opts.quick);
	for (r = 0; r < bench_opts.reps; r++) {
		for (i = 0; i < NR_WL; i++) {
			struct wl_time tv = { 0 }, tn = { 0 };

			bench_progress("workload: %s, %llu KiB, repetition "
				       "%d/%d",
				       w[i].name,
				       (unsigned long long)(w[i].bytes >> 10),
				       r + 1, bench_opts.reps);
			if (r % 2) {
				wl_native(&w[i], &tn);
				wl_guest(&vm, &w[i], pid++, &tv);
			} else {
				wl_guest(&vm, &w[i], pid++, &tv);
				wl_native(&w[i], &tn);
			}
			if (!tv.ok || !tn.ok)
				failed[i] = 1;
			else if (tv.result != tn.result)
				mismatch[i] = 1;
			vc[i][r] = tv.cold;
			vw[i][r] = tv.warm;
			nc[i][r] = tn.cold;
			nw[i][r] = tn.warm;
		}
	}
	bench_vm_down(&vm);
	for (i = 0; i < NR_WL; i++) {
		struct bench_metric *m;
		char id[64], title[128];
		int temp;

		for (temp = 0; temp < 2; temp++) {
			double *v = temp ? vw[i] : vc[i];
			double *n = temp ? nw[i] : nc[i];

			for (r = 0; r < bench_opts.reps; r++) {
				ratio[r] = v[r] / n[r];
				ms[r] = v[r] * 1e3;
			}
			snprintf(id, sizeof(id), "workload.%s.%s", w[i].name,
				 temp ? "warm" : "cold");
			snprintf(title, sizeof(title), "%s, %s, virtualized",
				 w[i].title, temp ? "warm" : "cold");
			if (failed[i]) {
				bench_not_measured(id, fam, title,
						   temp ? "<= 1.02" : "",
						   "a launch failed");
				continue;
			}
			m = bench_metric(id, fam, title, "ms");
			bench_metric_values(m, ms, bench_opts.reps);
			bench_metric_ratio(m, "host-native time", ratio,
					   bench_opts.reps);
			if (temp)
				bench_metric_target(m, BENCH_LE, 1.02,
						    BENCH_ON_RATIO, "<= 1.02");
			for (r = 0; r < bench_opts.reps; r++)
				ms[r] = n[r] * 1e3;
			snprintf(id, sizeof(id), "workload.%s.%s.native",
				 w[i].name, temp ? "warm" : "cold");
			snprintf(title, sizeof(title), "%s, %s, host-native",
				 w[i].title, temp ? "warm" : "cold");
			m = bench_metric(id, fam, title, "ms");
			bench_metric_values(m, ms, bench_opts.reps);
			bench_metric_note(m, "%llu KiB footprint%s",
					  (unsigned long long)(w[i].bytes >>
							       10),
					  mismatch[i] ?
						  "; RESULTS DIFFERED between "
						  "the two paths" :
						  "; both paths computed the "
						  "same result");
		}
		free(w[i].img);
		free(w[i].perm);
	}
	oversub_run(fam);
}
