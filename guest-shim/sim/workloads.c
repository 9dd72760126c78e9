// SPDX-License-Identifier: MIT
/*
 * workloads.c - the guest simulator's verified workloads.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * Each workload maps fresh memory at a fixed VA, builds its input with the
 * guest CPU (through the process's page table, faulting pages in), runs
 * one kernel, and compares the output with what the CPU computes.  A
 * workload unmaps what it mapped, so each starts from a clean slate and
 * every run also exercises invalidation.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "workloads.h"

#define PAGE 4096ull

/* xorshift64*: deterministic data from the seed. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

static int fail(struct gsim_wl_result *res, const char *fmt, uint64_t a,
		uint64_t b)
{
	res->ok = 0;
	snprintf(res->why, sizeof(res->why), fmt, (unsigned long long)a,
		 (unsigned long long)b);
	return -1;
}

static int map(struct gsim_proc *p, uint64_t va, uint64_t len)
{
	return gsim_proc_mmap_fixed(p, va, (len + PAGE - 1) & ~(PAGE - 1));
}

static void unmap(struct gsim_proc *p, uint64_t va, uint64_t len)
{
	gsim_mm_munmap(p->mm, va, (len + PAGE - 1) & ~(PAGE - 1));
}

static int put(struct gsim_proc *p, uint64_t va, const void *buf, size_t len)
{
	return gsim_mm_write(p->mm, va, buf, len);
}

static int get(struct gsim_proc *p, uint64_t va, void *buf, size_t len)
{
	return gsim_mm_read(p->mm, va, buf, len);
}

/* What the context holds on each device while its data is mapped. */
static void record_device_memory(struct gsim_proc *p,
				 struct gsim_wl_result *res)
{
	struct vsvm_device_val dv[VSVM_MAX_DEVICES];
	uint32_t i, n;

	if (vsvmg_ctx_query(p->ctx, dv, VSVM_MAX_DEVICES, &n))
		return;
	for (i = 0; i < n && i < GSIM_WL_MAX_DEVICES; i++)
		res->dev_mem[i] = dv[i].mem_used;
}

static int launch(struct gsim_proc *p, uint32_t kernel, uint32_t device,
		  const uint64_t *args, struct gsim_wl_result *res,
		  uint64_t *result)
{
	struct vsvmg_launch_result lr;
	int ret;

	ret = vsvmg_ctx_launch(p->ctx, kernel, device, (const __u64 *)args,
			       vsvm_kernel_nr_args(kernel), &lr);
	if (ret)
		return fail(res, "launch failed: errno %llu%.0llu",
			    (uint64_t)-ret, 0);
	res->status = lr.status;
	res->faults = lr.faults;
	res->elapsed_ns = lr.elapsed_ns;
	if (lr.status != VSVM_OK)
		return fail(res, "kernel failed: status %llu at va 0x%llx",
			    lr.status, lr.fault_va);
	*result = lr.result;
	record_device_memory(p, res);
	return 0;
}

int gsim_wl_fill(struct gsim_proc *p, uint32_t device, uint64_t seed,
		 struct gsim_wl_result *res)
{
	const uint64_t n = 64 * 1024, va = GSIM_WL_BASE;
	uint32_t tag = gsim_wl_tag(p->pid), *buf;
	uint64_t args[3] = { va, n, tag }, out, i;
	int ret = -1;

	(void)seed;
	res->name = "fill";
	buf = malloc(n * 4);
	if (!buf || map(p, va, n * 4))
		goto out;
	if (launch(p, VSVM_KERNEL_FILL, device, args, res, &out))
		goto out_unmap;
	if (get(p, va, buf, n * 4)) {
		fail(res, "CPU read failed%.0llu%.0llu", 0, 0);
		goto out_unmap;
	}
	for (i = 0; i < n; i++) {
		if (buf[i] != tag) {
			/* Another process's tag here would be an isolation bug. */
			fail(res, "word %llu is 0x%llx", i, buf[i]);
			goto out_unmap;
		}
	}
	ret = out == n ? 0 : fail(res, "result %llu, want %llu", out, n);
out_unmap:
	unmap(p, va, n * 4);
out:
	free(buf);
	res->ok = !ret;
	return ret;
}

int gsim_wl_copy(struct gsim_proc *p, uint32_t device, uint64_t seed,
		 struct gsim_wl_result *res)
{
	const uint64_t bytes = 300 * 1024 + 123;	/* not page sized */
	const uint64_t src = GSIM_WL_BASE, dst = GSIM_WL_BASE + (1 << 20) + 7;
	uint64_t args[3] = { dst, src, bytes }, out, i;
	uint8_t *in = malloc(bytes), *back = malloc(bytes);
	int ret = -1;

	res->name = "copy";
	if (!in || !back || map(p, src, bytes) || map(p, dst & ~(PAGE - 1),
						      bytes + PAGE))
		goto out;
	for (i = 0; i < bytes; i++)
		in[i] = (uint8_t)rnd(&seed);
	if (put(p, src, in, bytes))
		goto out_unmap;
	if (launch(p, VSVM_KERNEL_COPY, device, args, res, &out))
		goto out_unmap;
	get(p, dst, back, bytes);
	if (memcmp(in, back, bytes))
		fail(res, "copy differs%.0llu%.0llu", 0, 0);
	else
		ret = 0;
out_unmap:
	unmap(p, src, bytes);
	unmap(p, dst & ~(PAGE - 1), bytes + PAGE);
out:
	free(in);
	free(back);
	res->ok = !ret;
	return ret;
}

int gsim_wl_triad(struct gsim_proc *p, uint32_t device, uint64_t seed,
		  struct gsim_wl_result *res)
{
	const uint64_t n = 32 * 1024, sz = n * 8;
	const uint64_t a = GSIM_WL_BASE, b = a + sz, c = b + sz;
	double *vb = malloc(sz), *vc = malloc(sz), *va = malloc(sz);
	double scalar = 1.5 + (double)(p->pid % 7);
	uint64_t bits, args[5], out, i;
	int ret = -1;

	res->name = "triad";
	memcpy(&bits, &scalar, 8);
	args[0] = a;
	args[1] = b;
	args[2] = c;
	args[3] = n;
	args[4] = bits;
	if (!vb || !vc || !va || map(p, a, 3 * sz))
		goto out;
	for (i = 0; i < n; i++) {
		vb[i] = (double)(rnd(&seed) % 100000) / 7.0;
		vc[i] = (double)(rnd(&seed) % 100000) / 13.0;
	}
	if (put(p, b, vb, sz) || put(p, c, vc, sz))
		goto out_unmap;
	if (launch(p, VSVM_KERNEL_TRIAD, device, args, res, &out))
		goto out_unmap;
	if (get(p, a, va, sz)) {
		fail(res, "CPU read failed%.0llu%.0llu", 0, 0);
		goto out_unmap;
	}
	for (i = 0; i < n; i++) {
		volatile double want = vb[i] + scalar * vc[i];

		if (va[i] != want) {
			fail(res, "a[%llu] wrong%.0llu", i, 0);
			goto out_unmap;
		}
	}
	ret = 0;
out_unmap:
	unmap(p, a, 3 * sz);
out:
	free(va);
	free(vb);
	free(vc);
	res->ok = !ret;
	return ret;
}

int gsim_wl_gather(struct gsim_proc *p, uint32_t device, uint64_t seed,
		   struct gsim_wl_result *res)
{
	const uint64_t n = 16 * 1024, m = 40000;
	const uint64_t dst = GSIM_WL_BASE, src = dst + n * 8;
	const uint64_t idx = src + m * 8;
	uint64_t *vsrc = malloc(m * 8), *vdst = malloc(n * 8);
	uint32_t *vidx = malloc(n * 4);
	uint64_t args[5] = { dst, src, idx, n, m }, out, sum = 0, i;
	int ret = -1;

	res->name = "gather";
	if (!vsrc || !vdst || !vidx || map(p, dst, n * 8 + m * 8 + n * 4))
		goto out;
	for (i = 0; i < m; i++)
		vsrc[i] = rnd(&seed);
	for (i = 0; i < n; i++)
		vidx[i] = (uint32_t)rnd(&seed);
	if (put(p, src, vsrc, m * 8) || put(p, idx, vidx, n * 4))
		goto out_unmap;
	if (launch(p, VSVM_KERNEL_GATHER, device, args, res, &out))
		goto out_unmap;
	get(p, dst, vdst, n * 8);
	for (i = 0; i < n; i++) {
		if (vdst[i] != vsrc[vidx[i] % m]) {
			fail(res, "dst[%llu] wrong%.0llu", i, 0);
			goto out_unmap;
		}
		sum += vdst[i];
	}
	ret = out == sum ? 0 : fail(res, "sum 0x%llx, want 0x%llx", out, sum);
out_unmap:
	unmap(p, dst, n * 8 + m * 8 + n * 4);
out:
	free(vsrc);
	free(vdst);
	free(vidx);
	res->ok = !ret;
	return ret;
}

int gsim_wl_histogram(struct gsim_proc *p, uint32_t device, uint64_t seed,
		      struct gsim_wl_result *res)
{
	const uint64_t n = 64 * 1024, k = 61;
	const uint64_t bins = GSIM_WL_BASE, data = bins + PAGE;
	uint32_t *vdata = malloc(n * 4);
	uint64_t want[61] = { 0 }, got[61];
	uint64_t args[4] = { bins, data, n, k }, out, i;
	int ret = -1;

	res->name = "histogram";
	if (!vdata || map(p, bins, PAGE + n * 4))
		goto out;
	for (i = 0; i < n; i++) {
		vdata[i] = (uint32_t)rnd(&seed);
		want[vdata[i] % k]++;
	}
	if (put(p, data, vdata, n * 4))
		goto out_unmap;
	if (launch(p, VSVM_KERNEL_HISTOGRAM, device, args, res, &out))
		goto out_unmap;
	get(p, bins, got, sizeof(got));
	for (i = 0; i < k; i++) {
		if (got[i] != want[i]) {
			fail(res, "bin %llu holds %llu", i, got[i]);
			goto out_unmap;
		}
	}
	ret = out == n ? 0 : fail(res, "result %llu, want %llu", out, n);
out_unmap:
	unmap(p, bins, PAGE + n * 4);
out:
	free(vdata);
	res->ok = !ret;
	return ret;
}

/*
 * A linked list the guest CPU builds in its own memory, nodes in a random
 * order across pages: the device can only follow it if its VAs are the
 * process's VAs.
 */
int gsim_wl_chase(struct gsim_proc *p, uint32_t device, uint64_t seed,
		  struct gsim_wl_result *res)
{
	const uint64_t nodes = 8192, base = GSIM_WL_BASE;
	uint32_t *perm = malloc(nodes * 4);
	uint64_t args[2], out, sum = 0, i;
	int ret = -1;

	res->name = "pointer chase";
	if (!perm || map(p, base, nodes * 16))
		goto out;
	for (i = 0; i < nodes; i++)
		perm[i] = (uint32_t)i;
	for (i = nodes - 1; i > 0; i--) {
		uint64_t j = rnd(&seed) % (i + 1);
		uint32_t t = perm[i];

		perm[i] = perm[j];
		perm[j] = t;
	}
	for (i = 0; i < nodes; i++) {
		uint64_t node[2];

		node[0] = i + 1 < nodes ? base + perm[i + 1] * 16ull : 0;
		node[1] = rnd(&seed) >> 8;
		sum += node[1];
		if (put(p, base + perm[i] * 16ull, node, sizeof(node)))
			goto out_unmap;
	}
	args[0] = base + perm[0] * 16ull;
	args[1] = nodes + 1;
	if (launch(p, VSVM_KERNEL_CHASE, device, args, res, &out))
		goto out_unmap;
	ret = out == sum ? 0 : fail(res, "sum 0x%llx, want 0x%llx", out, sum);
out_unmap:
	unmap(p, base, nodes * 16);
out:
	free(perm);
	res->ok = !ret;
	return ret;
}

struct bg_launch {
	struct gsim_proc *p;
	uint32_t device;
	uint64_t args[3];
	volatile int stop;
	uint32_t launches;
	uint64_t faults;
	int ret;
	uint32_t status;
};

/* Fill kernels back to back until told to stop. */
static void *bg_fill(void *arg)
{
	struct bg_launch *b = arg;
	struct vsvmg_launch_result lr;

	do {
		b->ret = vsvmg_ctx_launch(b->p->ctx, VSVM_KERNEL_FILL,
					  b->device, (const __u64 *)b->args, 3,
					  &lr);
		b->status = lr.status;
		b->faults += lr.faults;
		b->launches++;
	} while (!b->stop && !b->ret && lr.status == VSVM_OK);
	return NULL;
}

/*
 * Fill kernels run back to back over 4 MiB while the guest replaces the
 * middle 1 MiB with fresh memory (mmap MAP_FIXED), again and again.  Outside the
 * middle every word must hold the value; inside, a word holds the value
 * (written after the last remap) or 0 (a new page the kernels did not
 * reach again): never anything else.  The old pages are freed, poisoned
 * and reused by other workloads and processes, which would see any stale
 * device write.  A last fill over the middle must fault the new pages in.
 */
int gsim_wl_remap_during_kernel(struct gsim_proc *p, uint32_t device,
				uint64_t seed, struct gsim_wl_result *res)
{
	const uint64_t len = 4 << 20, mid = GSIM_WL_BASE + (1 << 20);
	const uint64_t n = len / 4, mlen = 1 << 20;
	struct bg_launch b = { .p = p, .device = device };
	uint32_t tag = gsim_wl_tag(p->pid) ^ 0xff, *buf = malloc(len);
	pthread_t t;
	uint64_t i, out;
	int ret = -1, cycle;

	(void)seed;
	res->name = "remap during kernel";
	b.args[0] = GSIM_WL_BASE;
	b.args[1] = n;
	b.args[2] = tag;
	if (!buf || map(p, GSIM_WL_BASE, len))
		goto out;
	if (pthread_create(&t, NULL, bg_fill, &b))
		goto out_unmap;
	for (cycle = 0; cycle < 16; cycle++) {
		usleep(300);
		/*
		 * MAP_FIXED replaces in one step (munmap's invalidation, then
		 * fresh pages): a separate munmap would leave a window in
		 * which a device access rightly fails with an unmapped VA.
		 */
		map(p, mid, mlen);
	}
	b.stop = 1;
	pthread_join(t, NULL);
	if (b.ret || b.status != VSVM_OK) {
		fail(res, "kernel failed: %llu/%llu", (uint64_t)-b.ret,
		     b.status);
		goto out_unmap;
	}
	get(p, GSIM_WL_BASE, buf, len);
	for (i = 0; i < n; i++) {
		uint64_t va = GSIM_WL_BASE + i * 4;
		int inside = va >= mid && va < mid + mlen;

		if (buf[i] != tag && !(inside && buf[i] == 0)) {
			fail(res, "word at 0x%llx is 0x%llx", va, buf[i]);
			goto out_unmap;
		}
	}
	b.args[0] = mid;
	b.args[1] = mlen / 4;
	if (launch(p, VSVM_KERNEL_FILL, device, b.args, res, &out))
		goto out_unmap;
	res->faults += b.faults;
	get(p, mid, buf, mlen);
	for (i = 0; i < mlen / 4; i++)
		if (buf[i] != tag) {
			fail(res, "refill word %llu is 0x%llx", i, buf[i]);
			goto out_unmap;
		}
	snprintf(res->why, sizeof(res->why), "%u kernel(s) ran across 16 remaps",
		 b.launches);
	ret = 0;
out_unmap:
	unmap(p, GSIM_WL_BASE, len);
out:
	free(buf);
	res->ok = !ret;
	return ret;
}

/* Pages moved by MIGRATE commands of the context so far. */
static uint64_t migrated_pages(struct gsim_proc *p)
{
	struct vsvmg_ctx_stats st;

	vsvmg_ctx_stats(p->ctx, &st);
	return st.migrated_to_device + st.migrated_to_system + st.migrated_peer;
}

static int set_hints(struct gsim_proc *p, uint64_t va, uint64_t len,
		     uint32_t preferred, uint64_t accessed_by)
{
	struct vsvm_attr_val a[2] = {
		{ .type = VSVM_ATTR_PREFERRED_LOC, .value = preferred },
		{ .type = VSVM_ATTR_ACCESSED_BY, .value = accessed_by },
	};
	struct vsvm_attr_val g[2] = { { .type = VSVM_ATTR_PREFERRED_LOC },
				      { .type = VSVM_ATTR_ACCESSED_BY } };

	if (vsvmg_ctx_set_attr(p->ctx, va, len, a, 2) ||
	    vsvmg_ctx_get_attr(p->ctx, va, len, g, 2))
		return -1;
	/* What is in force must be exactly what was set, uniformly. */
	return g[0].value == preferred && g[1].value == accessed_by &&
			       !g[0].flags && !g[1].flags ?
		       0 :
		       -1;
}

int gsim_wl_hinted(struct gsim_proc *p, uint32_t device, uint64_t seed,
		   struct gsim_wl_result *res)
{
	const uint64_t n = 32 * 1024, sz = n * 8;
	const uint64_t a = GSIM_WL_BASE, b = a + sz, c = b + sz;
	uint32_t nd = vsvmg_ctx_num_devices(p->ctx);
	uint32_t other = (device + 1) % nd;
	double *vb = malloc(sz), *vc = malloc(sz), *va = malloc(sz);
	double s1 = 2.0, s2 = 3.0 + (double)(p->pid % 5);
	uint64_t args[5], out, i, f1, before = migrated_pages(p);
	int ret = -1;

	res->name = "hinted triad";
	if (!vb || !vc || !va || map(p, a, 3 * sz))
		goto out;
	for (i = 0; i < n; i++) {
		vb[i] = (double)(rnd(&seed) % 100000) / 7.0;
		vc[i] = (double)(rnd(&seed) % 100000) / 13.0;
	}
	if (put(p, b, vb, sz) || put(p, c, vc, sz))
		goto out_unmap;
	if (set_hints(p, a, 3 * sz, device, nd >= 64 ? ~0ull : (1ull << nd) - 1)) {
		fail(res, "attributes not in force%.0llu%.0llu", 0, 0);
		goto out_unmap;
	}
	args[0] = a;
	args[1] = b;
	args[2] = c;
	args[3] = n;
	memcpy(&args[4], &s1, 8);
	if (launch(p, VSVM_KERNEL_TRIAD, device, args, res, &out))
		goto out_unmap;
	f1 = res->faults;
	/* Accessed by every device: the second device finds it mapped. */
	memcpy(&args[4], &s2, 8);
	if (launch(p, VSVM_KERNEL_TRIAD, other, args, res, &out))
		goto out_unmap;
	/*
	 * Then move it all to the other device explicitly (device to device
	 * where it is in device memory); the CPU read below brings it home.
	 */
	if (vsvmg_ctx_features(p->ctx) & VSVM_F_DEVICE_MEMORY) {
		int mr = vsvmg_ctx_migrate(p->ctx, a, 3 * sz, other, NULL);

		if (mr && mr != -ENOSPC) {
			fail(res, "migrate to the other device: errno %llu%.0llu",
			     (uint64_t)-mr, 0);
			goto out_unmap;
		}
	}
	if (get(p, a, va, sz)) {
		fail(res, "CPU read failed%.0llu%.0llu", 0, 0);
		goto out_unmap;
	}
	for (i = 0; i < n; i++) {
		volatile double want = vb[i] + s2 * vc[i];

		if (va[i] != want) {
			fail(res, "a[%llu] wrong%.0llu", i, 0);
			goto out_unmap;
		}
	}
	res->migrated = migrated_pages(p) - before;
	snprintf(res->note, sizeof(res->note),
		 "preferred dev %u, accessed by all: faults dev %u %llu, "
		 "dev %u %llu; %llu pages migrated (then all to dev %u)",
		 device, device, (unsigned long long)f1, other,
		 (unsigned long long)res->faults,
		 (unsigned long long)res->migrated, other);
	res->faults += f1;
	ret = 0;
out_unmap:
	unmap(p, a, 3 * sz);
out:
	free(va);
	free(vb);
	free(vc);
	res->ok = !ret;
	return ret;
}

int gsim_wl_prefetched(struct gsim_proc *p, uint32_t device, uint64_t seed,
		       struct gsim_wl_result *res)
{
	const uint64_t bytes = 512 * 1024;
	const uint64_t src = GSIM_WL_BASE, dst = GSIM_WL_BASE + (2 << 20);
	uint64_t args[3] = { dst, src, bytes }, out, i, before;
	uint8_t *in = malloc(bytes), *back = malloc(bytes);
	struct vsvmg_prefetch pf;
	int ret = -1, pr;

	res->name = "prefetched copy";
	if (!in || !back || map(p, src, bytes) || map(p, dst, bytes))
		goto out;
	for (i = 0; i < bytes; i++)
		in[i] = (uint8_t)rnd(&seed);
	if (put(p, src, in, bytes))
		goto out_unmap;
	before = migrated_pages(p);
	/* Asynchronous for the source, synchronous for the destination. */
	pr = vsvmg_ctx_prefetch_async(p->ctx, src, bytes, device, &pf);
	if (!pr)
		pr = vsvmg_ctx_prefetch_wait(p->ctx, &pf);
	if (pr && pr != -ENOSPC) {
		fail(res, "prefetch failed: errno %llu%.0llu", (uint64_t)-pr, 0);
		goto out_unmap;
	}
	if (vsvmg_ctx_prefetch(p->ctx, dst, bytes, device, NULL)) {
		fail(res, "prefetch failed%.0llu%.0llu", 0, 0);
		goto out_unmap;
	}
	if (launch(p, VSVM_KERNEL_COPY, device, args, res, &out))
		goto out_unmap;
	if (get(p, dst, back, bytes)) {
		fail(res, "CPU read failed%.0llu%.0llu", 0, 0);
		goto out_unmap;
	}
	for (i = 0; i < bytes; i++) {
		if (back[i] != in[i]) {
			fail(res, "byte %llu is 0x%llx", i, back[i]);
			goto out_unmap;
		}
	}
	/* The source, in device memory now, moves device to device. */
	if (vsvmg_ctx_features(p->ctx) & VSVM_F_DEVICE_MEMORY) {
		uint32_t other = (device + 1) % vsvmg_ctx_num_devices(p->ctx);

		pr = vsvmg_ctx_migrate(p->ctx, src, bytes, other, NULL);
		if (pr && pr != -ENOSPC) {
			fail(res, "migrate to the other device: errno %llu%.0llu",
			     (uint64_t)-pr, 0);
			goto out_unmap;
		}
		if (get(p, src, back, bytes) || memcmp(back, in, bytes)) {
			fail(res, "source changed by its moves%.0llu%.0llu", 0,
			     0);
			goto out_unmap;
		}
	}
	res->migrated = migrated_pages(p) - before;
	snprintf(res->note, sizeof(res->note),
		 "prefetched to dev %u (async + sync): faults %llu; %llu pages "
		 "migrated (source then to the other device and back)",
		 device, (unsigned long long)res->faults,
		 (unsigned long long)res->migrated);
	(void)out;
	ret = 0;
out_unmap:
	unmap(p, src, bytes);
	unmap(p, dst, bytes);
out:
	free(in);
	free(back);
	res->ok = !ret;
	return ret;
}

const struct gsim_wl gsim_workloads[] = {
	{ "fill", gsim_wl_fill },
	{ "copy", gsim_wl_copy },
	{ "triad", gsim_wl_triad },
	{ "gather", gsim_wl_gather },
	{ "histogram", gsim_wl_histogram },
	{ "pointer chase", gsim_wl_chase },
	{ "remap during kernel", gsim_wl_remap_during_kernel },
	{ "hinted triad", gsim_wl_hinted },
	{ "prefetched copy", gsim_wl_prefetched },
	{ NULL, NULL },
};
