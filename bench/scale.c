// SPDX-License-Identifier: MIT
/*
 * scale.c - metric family 6: how many contexts one proxy holds, what an
 *           empty one costs, page-table bytes per mapped byte, and
 *           per-process tables against one partitioned VA space.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * Contexts are created through the SVM core's own interface (svm.h):
 * CTX_CREATE and INIT, exactly what the transport calls for a guest's
 * command, with 128 contexts per simulated VM connection.  Not through
 * guest rings: a guest keeps one EVENT_WAIT parked per context, and a
 * 256-entry ring bounds a VM to about 127 live contexts, so 4096 contexts
 * through the rings would need 33 simulated VMs and measure the guest
 * simulator as much as the proxy.  Memory is glibc's heap in use
 * (mallinfo2) and the process's resident set, before and after; every
 * context has a GPU VA space on both devices.
 *
 * Page tables are measured on the simulated device's own counters
 * (vm_stats: table pages in its memory pool vs bytes with a PTE).  The
 * partitioned scheme is proxy/partition.c on the same device.
 */
#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/virtio_gpu.h>

#include "bench.h"
#include "memtable.h"
#include "native.h"
#include "partition.h"
#include "svm.h"
#include "vsvm/vsvm_codec.h"

#define PAGE	      4096ull
#define SZ_2M	      (2ull << 20)
#define CTX_PER_VM    128
#define CTX_TARGET    4096
#define CURVE_STEP    256

/* ---- contexts --------------------------------------------------------- */

struct sync_sub {
	struct vp_submit s;
	uint8_t cmds[128];
	uint8_t reply[256];
	int done;	/* INIT completes inside vp_svm_submit() */
};

static void sync_complete(struct vp_submit *s)
{
	((struct sync_sub *)s)->done = 1;
}

static int ctx_init(struct vp_svm *svm, uint32_t id)
{
	struct vsvm_request req = { .op = VSVM_CMD_INIT };
	struct sync_sub t = { 0 };
	struct vsvm_response rsp;
	struct vsvm_writer w;

	req.u.init.major = VSVM_PROTO_MAJOR;
	vsvm_writer_init(&w, t.cmds, sizeof(t.cmds));
	if (vsvm_encode_request(&w, &req) <= 0)
		return -EINVAL;
	t.s.ctx_id = id;
	t.s.cmds = t.cmds;
	t.s.cmds_len = w.off;
	t.s.stream_len = w.off;
	t.s.reply = t.reply;
	t.s.reply_cap = sizeof(t.reply);
	t.s.complete = sync_complete;
	vp_svm_submit(svm, &t.s);
	if (!t.done || vsvm_decode_response(t.reply, t.s.reply_len, &rsp) <= 0)
		return -EIO;
	return rsp.status == VSVM_OK ? 0 : -EIO;
}

static uint64_t heap_bytes(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

static uint64_t rss_bytes(void)
{
	unsigned long size = 0, res = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%lu %lu", &size, &res) != 2)
			res = 0;
		fclose(f);
	}
	return (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
}

struct ctx_result {
	uint32_t held;
	double heap_per_ctx;
	double rss_per_ctx;
	double us_per_ctx;
};

static void contexts_once(struct ctx_result *res, FILE *curve)
{
	const uint32_t nr_vms = CTX_TARGET / CTX_PER_VM;
	struct vp_svm_config cfg = {
		.devices = bench_host.sim,
		.num_devices = bench_host.nr_devs,
		.va_bits = 48,
		.max_contexts = CTX_PER_VM,
		.max_ranges = 1 << 16,
		.max_launches = 64,
		.max_fault_batch = VSVM_MAX_FAULT_BATCH,
		.max_submit_bytes = 256 << 10,
	};
	static const struct vp_memtable mt;	/* no guest RAM needed */
	struct vp_svm *svm[CTX_TARGET / CTX_PER_VM] = { NULL };
	uint64_t heap0, rss0, t0, heap1;
	uint32_t v, c, held = 0;

	malloc_trim(0);
	heap0 = heap_bytes();
	rss0 = rss_bytes();
	t0 = bench_now_ns();
	for (v = 0; v < nr_vms; v++) {
		svm[v] = vp_svm_create(&cfg, &mt);
		if (!svm[v])
			break;
		for (c = 1; c <= CTX_PER_VM; c++) {
			if (vp_svm_ctx_create(svm[v], c, VSVM_CAPSET_ID) !=
				    VIRTIO_GPU_RESP_OK_NODATA ||
			    ctx_init(svm[v], c))
				goto done;
			held++;
			if (curve && held % CURVE_STEP == 0)
				fprintf(curve, "%u %.6g %.6g\n", held,
					((double)heap_bytes() - (double)heap0) /
						(1 << 20),
					((double)rss_bytes() - (double)rss0) /
						(1 << 20));
		}
	}
done:
	res->us_per_ctx = (double)(bench_now_ns() - t0) / 1e3 / (held ? held : 1);
	heap1 = heap_bytes();
	res->held = held;
	res->heap_per_ctx = held ? ((double)heap1 - (double)heap0) / held : NAN;
	res->rss_per_ctx = held ? ((double)rss_bytes() - (double)rss0) / held :
				  NAN;
	for (v = 0; v < nr_vms; v++)
		if (svm[v])
			vp_svm_destroy(svm[v]);
}

/* ---- page tables -------------------------------------------------------- */

/*
 * Address space 2 MiB aligned + skew, never touched (vm_map() writes PTEs,
 * not the memory they map), trimmed to exactly [p, p + bytes).
 */
static void *reserve(uint64_t bytes, uint64_t skew)
{
	uint64_t len = bytes + SZ_2M + skew;
	uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uint8_t *a;

	if (p == MAP_FAILED)
		return NULL;
	a = (uint8_t *)(((uintptr_t)p + SZ_2M - 1) & ~(uintptr_t)(SZ_2M - 1)) +
	    skew;
	if (a > p)
		munmap(p, (size_t)(a - p));
	if (p + len > a + bytes)
		munmap(a + bytes, (size_t)(p + len - (a + bytes)));
	return a;
}

static void unreserve(void *p, uint64_t bytes, uint64_t skew)
{
	(void)skew;
	munmap(p, bytes);
}

/* Page-table bytes per mapped byte of one dense mapping, in percent. */
static double pt_dense(uint64_t bytes, int small_pages)
{
	struct vp_native_config cfg = { .devices = bench_host.sim,
					.num_devices = 1,
					.va_bits = 48,
					.small_pages = small_pages };
	struct vp_native *nc = vp_native_create(&cfg);
	void *p = reserve(bytes, 0);
	struct vp_vm_stats st = { 0 };
	double v = NAN;

	if (nc && p && !vp_native_register(nc, p, bytes, VSVM_PROT_ALL) &&
	    !vp_native_populate(nc, 0, p, bytes)) {
		bench_host.sim[0]->ops->vm_stats(vp_native_vm(nc, 0), &st);
		v = st.mapped_bytes ? 100.0 * st.pt_bytes / st.mapped_bytes :
				      NAN;
	}
	vp_native_destroy(nc);
	if (p)
		unreserve(p, bytes, 0);
	return v;
}

/* The worst case: one 4 KiB page in each 2 MiB, n of them. */
static double pt_sparse(uint32_t n)
{
	struct vp_native_config cfg = { .devices = bench_host.sim,
					.num_devices = 1,
					.va_bits = 48 };
	struct vp_native *nc = vp_native_create(&cfg);
	uint8_t *p = reserve((uint64_t)n * SZ_2M, 0);
	struct vp_vm_stats st = { 0 };
	double v = NAN;
	uint32_t i;

	if (!nc || !p || vp_native_register(nc, p, (uint64_t)n * SZ_2M,
					    VSVM_PROT_ALL))
		goto out;
	for (i = 0; i < n; i++)
		if (vp_native_populate(nc, 0, p + (uint64_t)i * SZ_2M, PAGE))
			goto out;
	bench_host.sim[0]->ops->vm_stats(vp_native_vm(nc, 0), &st);
	v = 100.0 * st.pt_bytes / st.mapped_bytes;
out:
	vp_native_destroy(nc);
	if (p)
		unreserve(p, (uint64_t)n * SZ_2M, 0);
	return v;
}

/* ---- per-process tables vs the partitioned space ------------------------ */

static int nop_fault(void *owner, struct vp_dev_vm *vm, uint64_t va,
		     enum vp_access access)
{
	(void)owner;
	(void)vm;
	(void)va;
	(void)access;
	return -VSVM_ERR_FAULT;
}

/*
 * nr processes each map bytes at the same address A of their own: page
 * table bytes of nr per-process VA spaces, and of one partitioned space.
 */
static int pt_compare(uint32_t nr, uint64_t bytes, double *per_proc,
		      double *part)
{
	const uint64_t a = 1ull << 30;
	struct vp_device *dev = bench_host.sim[0];
	struct vp_partition_config pc = { .device = dev, .va_bits = 48 };
	struct vp_dev_vm **vms = calloc(nr, sizeof(*vms));
	struct vp_partition *p = NULL;
	void *hva = reserve(bytes, PAGE);
	struct vp_vm_stats st;
	uint64_t sum = 0;
	uint32_t i, slot;
	int ret = -ENOMEM;

	if (!vms || !hva)
		goto out;
	for (i = 0; i < nr; i++) {
		if (dev->ops->vm_create(dev, 48, NULL, nop_fault, &vms[i]) ||
		    dev->ops->vm_map(vms[i], a, bytes, hva, VSVM_PROT_ALL))
			goto out;
		dev->ops->vm_stats(vms[i], &st);
		sum += st.pt_bytes;
	}
	*per_proc = (double)sum;
	/* Equal slices, as many as there are processes (a power of two). */
	pc.slice = (1ull << 48) / nr;
	p = vp_partition_create(&pc);
	if (!p)
		goto out;
	for (i = 0; i < nr; i++)
		if (vp_partition_attach(p, &slot) ||
		    vp_partition_register(p, slot, a, bytes, hva,
					  VSVM_PROT_ALL) ||
		    vp_partition_populate(p, slot, a, bytes))
			goto out;
	dev->ops->vm_stats(vp_partition_vm(p), &st);
	*part = (double)st.pt_bytes;
	ret = 0;
out:
	vp_partition_destroy(p);
	for (i = 0; vms && i < nr; i++)
		if (vms[i])
			dev->ops->vm_destroy(vms[i]);
	free(vms);
	if (hva)
		unreserve(hva, bytes, PAGE);
	return ret;
}

/* Processes that fit before the partitioned space runs out of slices. */
static uint32_t part_capacity(uint32_t va_bits, uint64_t slice)
{
	struct vp_partition_config pc = { .device = bench_host.sim[0],
					  .va_bits = va_bits,
					  .slice = slice };
	struct vp_partition *p = vp_partition_create(&pc);
	uint32_t n = 0, slot;

	while (p && !vp_partition_attach(p, &slot))
		n++;
	vp_partition_destroy(p);
	return n;
}

/* Single host-native fault latency, per-process table vs partitioned. */
static void part_fault(uint32_t n, double *per_proc_p50, double *part_p50)
{
	struct vp_device *dev = bench_host.dev[BENCH_DEV_MAIN];
	struct vp_native_config nc_cfg = { .devices = &dev, .num_devices = 1,
					   .va_bits = 48,
					   .fault_window = PAGE };
	struct vp_partition_config pc = { .device = dev, .va_bits = 48,
					  .slice = 1ull << 42,
					  .fault_window = PAGE };
	double *rec = malloc(2 * n * sizeof(*rec));
	uint8_t *buf = bench_host_alloc(n * PAGE, 0);
	struct vp_native *nc = vp_native_create(&nc_cfg);
	struct vp_partition *p = vp_partition_create(&pc);
	struct bench_samples s;
	uint32_t i, slot = 0, k;
	size_t got;

	*per_proc_p50 = *part_p50 = NAN;
	bench_samples_init(&s, 2 * n);
	if (!rec || !buf || !nc || !p ||
	    vp_native_register(nc, buf, n * PAGE, VSVM_PROT_ALL))
		goto out;
	/* Some neighbours in the partitioned space, as a VM would have. */
	for (k = 0; k < 8; k++)
		if (vp_partition_attach(p, &slot))
			goto out;
	if (vp_partition_register(p, slot, 1ull << 30, n * PAGE, buf,
				  VSVM_PROT_ALL))
		goto out;
	bench_timed_dev_record(dev, rec, 2 * n);
	for (i = 0; i < n; i++) {
		struct vp_launch l = {
			.kernel = VSVM_KERNEL_FILL, .nr_args = 3,
			.args = { (uint64_t)(uintptr_t)buf + i * PAGE, 1024, 1 }
		};

		vp_native_launch(nc, 0, &l);
	}
	got = bench_timed_dev_record(dev, rec, 2 * n);
	for (i = 0; i < got && i < 2 * n; i++)
		bench_samples_add(&s, rec[i]);
	*per_proc_p50 = bench_pct(&s, 50) / 1000;
	s.n = 0;
	for (i = 0; i < n; i++) {
		struct vp_launch l = {
			.kernel = VSVM_KERNEL_FILL, .nr_args = 3,
			.args = { vp_partition_gpu_va(p, slot, (1ull << 30) +
							       i * PAGE),
				  1024, 1 }
		};

		vp_partition_launch(p, &l);
	}
	got = bench_timed_dev_record(dev, NULL, 0);
	for (i = 0; i < got && i < 2 * n; i++)
		bench_samples_add(&s, rec[i]);
	*part_p50 = bench_pct(&s, 50) / 1000;
out:
	bench_timed_dev_record(dev, NULL, 0);
	vp_native_destroy(nc);
	vp_partition_destroy(p);
	bench_host_free(buf, n * PAGE, 0);
	bench_samples_free(&s);
	free(rec);
}

/* ---- the family ------------------------------------------------------ */

void bench_scale_run(void)
{
	static const struct bench_plot_series curve[] = {
		{ "contexts.dat", "heap in use", "1:2", "linespoints" },
		{ "contexts.dat", "resident set growth", "1:3", "linespoints" },
	};
	const char *fam = "6 scale";
	const int reps = bench_opts.reps;
	const uint64_t dense = (bench_opts.quick ? 256ull : 1024ull) << 20;
	const uint32_t procs = 64;
	const uint64_t per_proc_bytes = 16ull << 20;
	double held[BENCH_MAX_REPS], heap[BENCH_MAX_REPS], rss[BENCH_MAX_REPS];
	double us[BENCH_MAX_REPS], pt4k[BENCH_MAX_REPS], pt2m[BENCH_MAX_REPS];
	double sparse[BENCH_MAX_REPS], pp[BENCH_MAX_REPS], pa[BENCH_MAX_REPS];
	double fpp[BENCH_MAX_REPS], fpa[BENCH_MAX_REPS];
	double ratio[BENCH_MAX_REPS], cap48[1], cap57[1];
	struct bench_metric *m;
	int r;

	for (r = 0; r < reps; r++) {
		struct ctx_result cr;
		FILE *f = r == reps - 1 ?
				  fopen(bench_path("plots/contexts.dat"), "w") :
				  NULL;

		bench_progress("scale: %d contexts, page tables, partitioned "
			       "space, repetition %d/%d",
			       CTX_TARGET, r + 1, reps);
		contexts_once(&cr, f);
		if (f)
			fclose(f);
		held[r] = cr.held;
		heap[r] = cr.heap_per_ctx / 1024;
		rss[r] = cr.rss_per_ctx / 1024;
		us[r] = cr.us_per_ctx;
		pt4k[r] = pt_dense(dense, 1);
		pt2m[r] = pt_dense(dense, 0);
		sparse[r] = pt_sparse(512);
		pp[r] = pa[r] = NAN;
		pt_compare(procs, per_proc_bytes, &pp[r], &pa[r]);
		part_fault(bench_opts.quick ? 200 : 1000, &fpp[r], &fpa[r]);
	}

	m = bench_metric("scale.contexts", fam,
			 "contexts one proxy held (32 VMs x 128)", "contexts");
	bench_metric_values(m, held, reps);
	for (r = 0; r < reps; r++)
		ratio[r] = held[r] / CTX_TARGET;
	bench_metric_ratio(m, "target 4096", ratio, reps);
	bench_metric_target(m, BENCH_GE, CTX_TARGET, BENCH_ON_VALUE,
			    ">= 4096");
	bench_metric_note(m, "created through the SVM core (CTX_CREATE + "
			  "INIT), not guest rings: a 256-entry ring with one "
			  "parked EVENT_WAIT per context bounds a VM to ~127 "
			  "contexts; each context has a VA space on 2 devices");
	m = bench_metric("scale.ctx_memory", fam,
			 "host memory per empty context (heap)", "KiB");
	bench_metric_values(m, heap, reps);
	bench_metric_target(m, BENCH_LE, 64, BENCH_ON_VALUE, "<= 64 KiB");
	bench_metric_note(m, "glibc heap in use after - before, / contexts; "
			  "an empty VA space holds no table page, so device "
			  "memory per empty context is 0");
	m = bench_metric("scale.ctx_rss", fam,
			 "resident set growth per empty context", "KiB");
	bench_metric_values(m, rss, reps);
	m = bench_metric("scale.ctx_create", fam,
			 "time to create and INIT one context", "us");
	bench_metric_values(m, us, reps);

	m = bench_metric("scale.pt.4k", fam,
			 "page-table bytes per mapped byte, 4 KiB leaves", "%");
	bench_metric_values(m, pt4k, reps);
	bench_metric_target(m, BENCH_LE, 0.3, BENCH_ON_VALUE, "<= 0.3%");
	bench_metric_note(m, "one dense %llu MiB mapping; the floor is 8 "
			  "bytes per 4 KiB page = 0.195%%",
			  (unsigned long long)(dense >> 20));
	m = bench_metric("scale.pt.2m", fam,
			 "page-table bytes per mapped byte, 2 MiB leaves", "%");
	bench_metric_values(m, pt2m, reps);
	m = bench_metric("scale.pt.sparse", fam,
			 "page-table bytes per mapped byte, one 4 KiB page per "
			 "2 MiB",
			 "%");
	bench_metric_values(m, sparse, reps);
	bench_metric_note(m, "the worst case of lazy mirroring: a whole 4 KiB "
			  "table page for each scattered page");

	m = bench_metric("scale.partition.pt", fam,
			 "page tables, 64 processes x 16 MiB: partitioned",
			 "KiB");
	for (r = 0; r < reps; r++) {
		ratio[r] = pa[r] / pp[r];
		pa[r] /= 1024;
		pp[r] /= 1024;
	}
	bench_metric_values(m, pa, reps);
	bench_metric_ratio(m, "per-process tables", ratio, reps);
	m = bench_metric("scale.per_process.pt", fam,
			 "page tables, 64 processes x 16 MiB: per-process",
			 "KiB");
	bench_metric_values(m, pp, reps);
	bench_metric_note(m, "every process maps 16 MiB at the same address "
			  "with 4 KiB leaves; per-process tables repeat the "
			  "upper levels (a few pages) once per process");
	m = bench_metric("scale.partition.fault", fam,
			 "host-native fault p50, partitioned space", "us");
	for (r = 0; r < reps; r++)
		ratio[r] = fpa[r] / fpp[r];
	bench_metric_values(m, fpa, reps);
	bench_metric_ratio(m, "per-process table, same fault", ratio, reps);
	bench_metric_note(m, "single-threaded; in the partitioned space all "
			  "processes of a VM share one owner lock, so faults "
			  "of different processes serialise");
	cap48[0] = part_capacity(48, 1ull << 47);
	cap57[0] = part_capacity(57, 1ull << 47);
	m = bench_metric("scale.partition.capacity48", fam,
			 "processes a partitioned 48-bit GPU VA holds", "procs");
	bench_metric_values(m, cap48, 1);
	bench_metric_note(m, "each slice 2^47 bytes, what an x86-64 process's "
			  "user address space spans; with per-process tables "
			  "the bound is the context count above");
	m = bench_metric("scale.partition.capacity57", fam,
			 "processes a partitioned 57-bit GPU VA holds", "procs");
	bench_metric_values(m, cap57, 1);
	bench_plot("contexts", "Host memory by contexts held",
		   "contexts (empty, 2 devices each)", "MiB", 0, 0, curve, 2);
}
