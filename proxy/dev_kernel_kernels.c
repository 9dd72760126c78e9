// SPDX-License-Identifier: MIT
/*
 * dev_kernel_kernels.c - the built-in kernels as the vsvm_host.ko
 *                        backend's execution units run them.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Kernels
 *
 * The same six kernels, arguments, results and checks as docs/protocol.md
 * section 9 and dev_sim_kernels.c.  The difference is how memory is
 * reached: an EU of this backend has no pointer into VM memory, only
 * VSVMH_IOCTL_ACCESS, which costs a system call.  So each kernel moves
 * whole runs at a time:
 *
 *   FILL, COPY, TRIAD  chunks of up to DK_CHUNK_BYTES per array: READ the
 *                      inputs into the EU's buffers, compute, WRITE the
 *                      output (partial progress before a fault is kept:
 *                      these writes are idempotent, so a replay from the
 *                      faulting page is exact)
 *   GATHER             READ a chunk of idx, gather src through the EU's
 *                      page cache (a page READ whole, once per chunk),
 *                      WRITE the chunk of dst
 *   HISTOGRAM          READ a chunk of data, count the bins it hits, one
 *                      ATOMIC_ADD per distinct bin with that count (the
 *                      same sums as one add per element: adds commute)
 *   CHASE              nodes through the page cache
 *
 * Checks follow docs/protocol.md 9.1 to the letter: for each array in
 * argument order, alignment then range; then VALUE for m or k of 0.
 * At run time CHASE fails a misaligned next with VSVM_ERR_ALIGN and one
 * past 2^va_bits with VSVM_ERR_RANGE (9.2), fault_va = that pointer.
 *
 * The element order inside a chunk differs from dev_sim (loads of a chunk
 * before its stores), which protocol section 9 leaves unspecified; for
 * arrays that do not overlap the results are the same bit for bit (TRIAD
 * is the same C expression, compiled alike).
 */
#include <stdlib.h>
#include <string.h>

#include "dev_kernel_priv.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "kernel data is little-endian and accessed natively");

/* Elements of a random-access kernel per chunk (idx/data run length). */
#define DK_CHUNK_ELEMS 4096
/* Steps of a pointer chase per chunk. */
#define DK_CHUNK_STEPS 4096

static inline uint64_t dk_min(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static inline uint64_t dk_chunk_end(const struct dk_cursor *cur, uint64_t max)
{
	return cur->end - cur->pos < max ? cur->end : cur->pos + max;
}

/* docs/protocol.md 9.1 for one array of c elements of e bytes at p. */
static int dk_check_array(const struct dk_vm *vm, uint64_t p, uint64_t c,
			  uint64_t e)
{
	uint64_t limit = 1ull << vm->va_bits;

	if (!c)
		return 0;
	if (p % e)
		return -VSVM_ERR_ALIGN;
	if (p >= limit || c > (limit - p) / e)
		return -VSVM_ERR_RANGE;
	return 0;
}

static int fill_check(const struct dk_vm *vm, const uint64_t *arg,
		      struct dk_plan *plan)
{
	uint64_t count = arg[1];
	int ret;

	if (!count)
		return 0;
	ret = dk_check_array(vm, arg[0], count, 4);
	if (ret)
		return ret;
	plan->elems = count;
	plan->granule = DK_PAGE_SIZE / 4;
	plan->result_is_count = true;
	return 0;
}

static int fill_chunk(struct dk_eu *eu, const struct dk_vm *vm,
		      const uint64_t *arg, struct dk_cursor *cur)
{
	uint64_t stop = dk_chunk_end(cur, DK_CHUNK_BYTES / 4), n, i;
	uint32_t *v = (uint32_t *)eu->buf[0];
	int ret;

	n = stop - cur->pos;
	for (i = 0; i < n; i++)
		v[i] = (uint32_t)arg[2];
	ret = dk_access(eu, vm, VSVMH_ACCESS_WRITE, arg[0] + cur->pos * 4, v,
			n * 4, &cur->fault_va);
	if (!ret)
		cur->pos = stop;
	return ret;
}

static int copy_check(const struct dk_vm *vm, const uint64_t *arg,
		      struct dk_plan *plan)
{
	uint64_t bytes = arg[2];
	int ret;

	if (!bytes)
		return 0;
	ret = dk_check_array(vm, arg[0], bytes, 1);
	if (!ret)
		ret = dk_check_array(vm, arg[1], bytes, 1);
	if (ret)
		return ret;
	plan->elems = bytes;
	plan->granule = DK_PAGE_SIZE;
	plan->result_is_count = true;
	return 0;
}

static int copy_chunk(struct dk_eu *eu, const struct dk_vm *vm,
		      const uint64_t *arg, struct dk_cursor *cur)
{
	uint64_t stop = dk_chunk_end(cur, DK_CHUNK_BYTES);
	uint64_t n = stop - cur->pos;
	int ret;

	ret = dk_access(eu, vm, VSVMH_ACCESS_READ, arg[1] + cur->pos,
			eu->buf[0], n, &cur->fault_va);
	if (!ret)
		ret = dk_access(eu, vm, VSVMH_ACCESS_WRITE, arg[0] + cur->pos,
				eu->buf[0], n, &cur->fault_va);
	if (!ret)
		cur->pos = stop;
	return ret;
}

static int triad_check(const struct dk_vm *vm, const uint64_t *arg,
		       struct dk_plan *plan)
{
	uint64_t n = arg[3];
	int ret = 0, i;

	if (!n)
		return 0;
	for (i = 0; i < 3 && !ret; i++)
		ret = dk_check_array(vm, arg[i], n, 8);
	if (ret)
		return ret;
	plan->elems = n;
	plan->granule = DK_PAGE_SIZE / 8;
	plan->result_is_count = true;
	return 0;
}

static int triad_chunk(struct dk_eu *eu, const struct dk_vm *vm,
		       const uint64_t *arg, struct dk_cursor *cur)
{
	uint64_t stop = dk_chunk_end(cur, DK_CHUNK_BYTES / 8);
	uint64_t n = stop - cur->pos, off = cur->pos * 8, i;
	double *a = (double *)eu->buf[0];
	const double *b = (const double *)eu->buf[1];
	const double *c = (const double *)eu->buf[2];
	double scalar;
	int ret;

	memcpy(&scalar, &arg[4], sizeof(scalar));
	ret = dk_access(eu, vm, VSVMH_ACCESS_READ, arg[1] + off, eu->buf[1],
			n * 8, &cur->fault_va);
	if (!ret)
		ret = dk_access(eu, vm, VSVMH_ACCESS_READ, arg[2] + off,
				eu->buf[2], n * 8, &cur->fault_va);
	if (ret)
		return ret;
	for (i = 0; i < n; i++)
		a[i] = b[i] + scalar * c[i];
	ret = dk_access(eu, vm, VSVMH_ACCESS_WRITE, arg[0] + off, a, n * 8,
			&cur->fault_va);
	if (!ret)
		cur->pos = stop;
	return ret;
}

static int gather_check(const struct dk_vm *vm, const uint64_t *arg,
			struct dk_plan *plan)
{
	uint64_t n = arg[3], m = arg[4];
	int ret;

	if (!n)
		return 0;
	ret = dk_check_array(vm, arg[0], n, 8);
	if (!ret)
		ret = dk_check_array(vm, arg[1], m, 8);
	if (!ret)
		ret = dk_check_array(vm, arg[2], n, 4);
	if (ret)
		return ret;
	if (!m)
		return -VSVM_ERR_VALUE;
	plan->elems = n;
	plan->granule = DK_PAGE_SIZE / 8;
	return 0;
}

static int gather_chunk(struct dk_eu *eu, const struct dk_vm *vm,
			const uint64_t *arg, struct dk_cursor *cur)
{
	uint64_t dst = arg[0], src = arg[1], idx = arg[2], m = arg[4];
	uint64_t stop = dk_chunk_end(cur, DK_CHUNK_ELEMS);
	uint64_t n = stop - cur->pos, acc = 0, i;
	const uint32_t *ix = (const uint32_t *)eu->buf[1];
	uint64_t *d = (uint64_t *)eu->buf[0];
	int ret;

	ret = dk_access(eu, vm, VSVMH_ACCESS_READ, idx + cur->pos * 4,
			eu->buf[1], n * 4, &cur->fault_va);
	if (ret)
		return ret;
	for (i = 0; i < n; i++) {
		ret = dk_read_cached(eu, vm, src + (ix[i] % m) * 8, &d[i], 8,
				     &cur->fault_va);
		if (ret)
			return ret;
		acc += d[i];
	}
	ret = dk_access(eu, vm, VSVMH_ACCESS_WRITE, dst + cur->pos * 8, d,
			n * 8, &cur->fault_va);
	if (ret)
		return ret;
	cur->acc += acc;
	cur->pos = stop;
	return 0;
}

static int histogram_check(const struct dk_vm *vm, const uint64_t *arg,
			   struct dk_plan *plan)
{
	uint64_t n = arg[2], k = arg[3];
	int ret;

	if (!n)
		return 0;
	ret = dk_check_array(vm, arg[0], k, 8);
	if (!ret)
		ret = dk_check_array(vm, arg[1], n, 4);
	if (ret)
		return ret;
	if (!k)
		return -VSVM_ERR_VALUE;
	plan->elems = n;
	plan->granule = DK_PAGE_SIZE / 4;
	plan->result_is_count = true;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * A chunk's adds are applied bin by bin.  A failure part way leaves some
 * bins added and the launch failed, as a failure part way through a
 * dev_sim chunk does; a fault that is answered replays only the add that
 * faulted, so no add is applied twice (cur->pos moves on only once the
 * whole chunk is in).  ATOMIC_ADD is all or nothing.
 */
static int histogram_chunk(struct dk_eu *eu, const struct dk_vm *vm,
			   const uint64_t *arg, struct dk_cursor *cur)
{
	uint64_t bins = arg[0], data = arg[1], k = arg[3];
	uint64_t stop = dk_chunk_end(cur, DK_CHUNK_ELEMS);
	uint64_t n = stop - cur->pos, i, j, add;
	const uint32_t *v = (const uint32_t *)eu->buf[1];
	uint64_t *key = eu->keys;
	int ret;

	ret = dk_access(eu, vm, VSVMH_ACCESS_READ, data + cur->pos * 4,
			eu->buf[1], n * 4, &cur->fault_va);
	if (ret)
		return ret;
	for (i = 0; i < n; i++)
		key[i] = v[i] % k;
	qsort(key, n, sizeof(key[0]), cmp_u64);
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && key[j] == key[i]; j++)
			;
		add = j - i;
		ret = dk_access(eu, vm, VSVMH_ACCESS_ATOMIC_ADD,
				bins + key[i] * 8, &add, 8, &cur->fault_va);
		if (ret)
			return ret;
	}
	cur->pos = stop;
	return 0;
}

static int chase_check(const struct dk_vm *vm, const uint64_t *arg,
		       struct dk_plan *plan)
{
	uint64_t head = arg[0], max_steps = arg[1];

	(void)vm;
	if (!head || !max_steps)
		return 0;
	if (head & 15)
		return -VSVM_ERR_ALIGN;
	plan->elems = max_steps;
	plan->one_eu = true;
	return 0;
}

/* Node: { u64 next; u64 value; }, 16-byte aligned, so in one page. */
static int chase_chunk(struct dk_eu *eu, const struct dk_vm *vm,
		       const uint64_t *arg, struct dk_cursor *cur)
{
	uint64_t stop = dk_chunk_end(cur, DK_CHUNK_STEPS);
	uint64_t limit = 1ull << vm->va_bits;
	uint64_t node[2];
	int ret;

	(void)arg;
	while (cur->pos < stop) {
		if (!cur->ptr) {
			cur->pos = cur->end;
			break;
		}
		if (cur->ptr & 15) {
			cur->fault_va = cur->ptr;
			return -VSVM_ERR_ALIGN;
		}
		if (cur->ptr > limit - 16) {
			cur->fault_va = cur->ptr;
			return -VSVM_ERR_RANGE;
		}
		ret = dk_read_cached(eu, vm, cur->ptr, node, sizeof(node),
				     &cur->fault_va);
		if (ret)
			return ret;
		cur->acc += node[1];
		cur->ptr = node[0];
		cur->pos++;
	}
	return 0;
}

static const struct dk_kernel dk_kernels[VSVM_KERNEL_NR] = {
	[VSVM_KERNEL_FILL] = { "fill", fill_check, fill_chunk },
	[VSVM_KERNEL_COPY] = { "copy", copy_check, copy_chunk },
	[VSVM_KERNEL_TRIAD] = { "triad", triad_check, triad_chunk },
	[VSVM_KERNEL_GATHER] = { "gather", gather_check, gather_chunk },
	[VSVM_KERNEL_HISTOGRAM] = { "histogram", histogram_check,
				    histogram_chunk },
	[VSVM_KERNEL_CHASE] = { "chase", chase_check, chase_chunk },
};

const struct dk_kernel *dk_kernel_get(uint32_t kernel)
{
	if (kernel >= VSVM_KERNEL_NR || !dk_kernels[kernel].chunk)
		return NULL;
	return &dk_kernels[kernel];
}
