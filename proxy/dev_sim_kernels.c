// SPDX-License-Identifier: MIT
/*
 * dev_sim_kernels.c - the kernels the simulated GPU executes.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Kernels
 *
 * Arguments are GPU VAs and counts (enum vsvm_kernel):
 *
 *   FILL      (dst, count, value)        u32 dst[i] = (u32)value
 *   COPY      (dst, src, bytes)          u8 dst[i] = src[i]
 *   TRIAD     (a, b, c, n, scalar_bits)  f64 a[i] = b[i] + scalar * c[i]
 *   GATHER    (dst, src, idx, n, m)      u64 dst[i] = src[idx[i] % m]
 *   HISTOGRAM (bins, data, n, k)         atomic u64 bins[data[i] % k] += 1
 *   CHASE     (head, max_steps)          sum of node.value along node.next
 *
 * Results: FILL count, COPY bytes, TRIAD and HISTOGRAM n, GATHER the sum
 * of the gathered values and CHASE the sum of the values visited, both
 * mod 2^64.  Data is little-endian (so is every host this builds for).
 *
 * Checks, in this order, each failing the launch with its status:
 *  - a count (count, bytes, n, max_steps) of 0, or a CHASE head of 0: the
 *    launch succeeds at once with result 0, whatever the other arguments;
 *  - m or k of 0: VSVM_ERR_VALUE;
 *  - an array base not aligned to its element: VSVM_ERR_ALIGN (so no
 *    element straddles a page);
 *  - an array that does not fit below 2^va_bits: VSVM_ERR_RANGE (the
 *    arithmetic cannot overflow).
 * A CHASE pointer that is not 16-byte aligned fails the launch with
 * VSVM_ERR_ALIGN and fault_va = that pointer.
 *
 * DOC: Chunks and replay
 *
 * An EU runs a kernel one chunk at a time with the VM's access lock held
 * for read; a chunk is SIM_CHUNK_ELEMS elements of a random-access kernel
 * or SIM_CHUNK_BYTES per array of a streaming one.  Each element first
 * translates what it needs, and writes last: so when a translation misses,
 * the element has changed nothing and is replayed whole once the fault is
 * resolved (cur->pos stays on it).  Streaming kernels translate once per
 * page run: a translation is valid for the whole chunk, since the page
 * table cannot change while the access lock is held for read.
 */
#include <string.h>

#include "dev_sim_priv.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "kernel data is little-endian and accessed natively");

/*
 * Chunk sizes bound how long vm_unmap() waits for the chunks in flight.
 * Random-access kernels: elements per chunk.  At 64, a chunk of cache- and
 * TLB-missing gathers or chase steps (100-300 ns each) ends within ~20 us;
 * measured, vm_unmap() under a running GATHER waits p50 10 us instead of
 * 22 us at 256, for no loss of throughput (a lock round trip is ~50 ns).
 */
#define SIM_CHUNK_ELEMS 64
/* Streaming kernels: bytes of each array per chunk (a few us of copy). */
#define SIM_CHUNK_BYTES 16384

static inline uint64_t sim_min(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* Bytes from va to the end of its 4 KiB page. */
static inline uint64_t sim_page_left(uint64_t va)
{
	return SIM_PAGE_SIZE - (va & SIM_PAGE_OFF);
}

/* The end of the chunk that starts at cur->pos: at most max elements. */
static inline uint64_t sim_chunk_end(const struct sim_cursor *cur, uint64_t max)
{
	return cur->end - cur->pos < max ? cur->end : cur->pos + max;
}

static inline int sim_miss(struct sim_cursor *cur, uint64_t va, uint32_t need)
{
	cur->fault_va = va;
	cur->fault_need = need;
	return SIM_MISS;
}

/* n elements of size bytes at va lie below 2^va_bits (overflow-proof). */
static bool sim_array_ok(const struct sim_vm *vm, uint64_t va, uint64_t n,
			 uint64_t size)
{
	uint64_t limit = 1ull << vm->va_bits;

	return va < limit && n <= (limit - va) / size;
}

static int fill_check(const struct sim_vm *vm, const uint64_t *arg,
		      struct sim_plan *plan)
{
	uint64_t dst = arg[0], count = arg[1];

	if (!count)
		return 0;
	if (dst & 3)
		return -VSVM_ERR_ALIGN;
	if (!sim_array_ok(vm, dst, count, 4))
		return -VSVM_ERR_RANGE;
	plan->elems = count;
	plan->granule = SIM_PAGE_SIZE / 4;
	plan->result_is_count = true;
	return 0;
}

static int fill_chunk(struct sim_eu *eu, const struct sim_vm *vm,
		      const uint64_t *arg, struct sim_cursor *cur)
{
	uint64_t dst = arg[0];
	uint32_t value = (uint32_t)arg[2];
	uint64_t stop = sim_chunk_end(cur, SIM_CHUNK_BYTES / 4);

	while (cur->pos < stop) {
		uint64_t va = dst + cur->pos * 4, n, i;
		uint32_t *p = sim_translate(eu, vm, va, VSVM_PROT_WRITE);

		if (!p)
			return sim_miss(cur, va, VSVM_PROT_WRITE);
		n = sim_min(stop - cur->pos, sim_page_left(va) / 4);
		for (i = 0; i < n; i++)
			p[i] = value;
		cur->pos += n;
	}
	return 0;
}

static int copy_check(const struct sim_vm *vm, const uint64_t *arg,
		      struct sim_plan *plan)
{
	uint64_t dst = arg[0], src = arg[1], bytes = arg[2];

	if (!bytes)
		return 0;
	if (!sim_array_ok(vm, dst, bytes, 1) ||
	    !sim_array_ok(vm, src, bytes, 1))
		return -VSVM_ERR_RANGE;
	plan->elems = bytes;
	plan->granule = SIM_PAGE_SIZE;
	plan->result_is_count = true;
	return 0;
}

static int copy_chunk(struct sim_eu *eu, const struct sim_vm *vm,
		      const uint64_t *arg, struct sim_cursor *cur)
{
	uint64_t dst = arg[0], src = arg[1];
	uint64_t stop = sim_chunk_end(cur, SIM_CHUNK_BYTES);

	while (cur->pos < stop) {
		uint64_t s_va = src + cur->pos, d_va = dst + cur->pos, n;
		const void *s = sim_translate(eu, vm, s_va, VSVM_PROT_READ);
		void *d;

		if (!s)
			return sim_miss(cur, s_va, VSVM_PROT_READ);
		d = sim_translate(eu, vm, d_va, VSVM_PROT_WRITE);
		if (!d)
			return sim_miss(cur, d_va, VSVM_PROT_WRITE);
		n = sim_min(stop - cur->pos,
			    sim_min(sim_page_left(s_va), sim_page_left(d_va)));
		/* Two VAs may map one host page: overlap is allowed. */
		memmove(d, s, n);
		cur->pos += n;
	}
	return 0;
}

static int triad_check(const struct sim_vm *vm, const uint64_t *arg,
		       struct sim_plan *plan)
{
	uint64_t a = arg[0], b = arg[1], c = arg[2], n = arg[3];

	if (!n)
		return 0;
	if ((a | b | c) & 7)
		return -VSVM_ERR_ALIGN;
	if (!sim_array_ok(vm, a, n, 8) || !sim_array_ok(vm, b, n, 8) ||
	    !sim_array_ok(vm, c, n, 8))
		return -VSVM_ERR_RANGE;
	plan->elems = n;
	plan->granule = SIM_PAGE_SIZE / 8;
	plan->result_is_count = true;
	return 0;
}

static int triad_chunk(struct sim_eu *eu, const struct sim_vm *vm,
		       const uint64_t *arg, struct sim_cursor *cur)
{
	uint64_t stop = sim_chunk_end(cur, SIM_CHUNK_BYTES / 8);
	double scalar;

	memcpy(&scalar, &arg[4], sizeof(scalar));
	while (cur->pos < stop) {
		uint64_t a_va = arg[0] + cur->pos * 8;
		uint64_t b_va = arg[1] + cur->pos * 8;
		uint64_t c_va = arg[2] + cur->pos * 8;
		const double *b, *c;
		double *a;
		uint64_t n, i;

		b = sim_translate(eu, vm, b_va, VSVM_PROT_READ);
		if (!b)
			return sim_miss(cur, b_va, VSVM_PROT_READ);
		c = sim_translate(eu, vm, c_va, VSVM_PROT_READ);
		if (!c)
			return sim_miss(cur, c_va, VSVM_PROT_READ);
		a = sim_translate(eu, vm, a_va, VSVM_PROT_WRITE);
		if (!a)
			return sim_miss(cur, a_va, VSVM_PROT_WRITE);
		n = sim_min(sim_page_left(a_va),
			    sim_min(sim_page_left(b_va), sim_page_left(c_va)));
		n = sim_min(stop - cur->pos, n / 8);
		for (i = 0; i < n; i++)
			a[i] = b[i] + scalar * c[i];
		cur->pos += n;
	}
	return 0;
}

static int gather_check(const struct sim_vm *vm, const uint64_t *arg,
			struct sim_plan *plan)
{
	uint64_t dst = arg[0], src = arg[1], idx = arg[2], n = arg[3];
	uint64_t m = arg[4];

	if (!n)
		return 0;
	if (!m)
		return -VSVM_ERR_VALUE;
	if ((dst & 7) || (src & 7) || (idx & 3))
		return -VSVM_ERR_ALIGN;
	if (!sim_array_ok(vm, dst, n, 8) || !sim_array_ok(vm, idx, n, 4) ||
	    !sim_array_ok(vm, src, m, 8))
		return -VSVM_ERR_RANGE;
	plan->elems = n;
	plan->granule = SIM_PAGE_SIZE / 8;
	return 0;
}

static int gather_chunk(struct sim_eu *eu, const struct sim_vm *vm,
			const uint64_t *arg, struct sim_cursor *cur)
{
	uint64_t dst = arg[0], src = arg[1], idx = arg[2], m = arg[4];
	uint64_t stop = sim_chunk_end(cur, SIM_CHUNK_ELEMS);

	for (; cur->pos < stop; cur->pos++) {
		uint64_t i_va = idx + cur->pos * 4, d_va = dst + cur->pos * 8;
		uint64_t s_va, v;
		const uint32_t *i;
		const uint64_t *s;
		uint64_t *d;

		i = sim_translate(eu, vm, i_va, VSVM_PROT_READ);
		if (!i)
			return sim_miss(cur, i_va, VSVM_PROT_READ);
		s_va = src + (*i % m) * 8;
		s = sim_translate(eu, vm, s_va, VSVM_PROT_READ);
		if (!s)
			return sim_miss(cur, s_va, VSVM_PROT_READ);
		d = sim_translate(eu, vm, d_va, VSVM_PROT_WRITE);
		if (!d)
			return sim_miss(cur, d_va, VSVM_PROT_WRITE);
		v = *s;
		*d = v;
		cur->acc += v;
	}
	return 0;
}

static int histogram_check(const struct sim_vm *vm, const uint64_t *arg,
			   struct sim_plan *plan)
{
	uint64_t bins = arg[0], data = arg[1], n = arg[2], k = arg[3];

	if (!n)
		return 0;
	if (!k)
		return -VSVM_ERR_VALUE;
	if ((bins & 7) || (data & 3))
		return -VSVM_ERR_ALIGN;
	if (!sim_array_ok(vm, bins, k, 8) || !sim_array_ok(vm, data, n, 4))
		return -VSVM_ERR_RANGE;
	plan->elems = n;
	plan->granule = SIM_PAGE_SIZE / 4;
	plan->result_is_count = true;
	return 0;
}

static int histogram_chunk(struct sim_eu *eu, const struct sim_vm *vm,
			   const uint64_t *arg, struct sim_cursor *cur)
{
	uint64_t bins = arg[0], data = arg[1], k = arg[3];
	uint64_t stop = sim_chunk_end(cur, SIM_CHUNK_ELEMS);

	for (; cur->pos < stop; cur->pos++) {
		uint64_t d_va = data + cur->pos * 4, b_va;
		const uint32_t *d;
		uint64_t *b;

		d = sim_translate(eu, vm, d_va, VSVM_PROT_READ);
		if (!d)
			return sim_miss(cur, d_va, VSVM_PROT_READ);
		b_va = bins + (*d % k) * 8;
		b = sim_translate(eu, vm, b_va, VSVM_PROT_ATOMIC);
		if (!b)
			return sim_miss(cur, b_va, VSVM_PROT_ATOMIC);
		__atomic_fetch_add(b, 1, __ATOMIC_RELAXED);
	}
	return 0;
}

static int chase_check(const struct sim_vm *vm, const uint64_t *arg,
		       struct sim_plan *plan)
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
static int chase_chunk(struct sim_eu *eu, const struct sim_vm *vm,
		       const uint64_t *arg, struct sim_cursor *cur)
{
	uint64_t stop = sim_chunk_end(cur, SIM_CHUNK_ELEMS);

	(void)arg;
	while (cur->pos < stop) {
		const uint64_t *node;

		if (!cur->ptr) {
			cur->pos = cur->end;
			break;
		}
		if (cur->ptr & 15) {
			cur->fault_va = cur->ptr;
			return -VSVM_ERR_ALIGN;
		}
		node = sim_translate(eu, vm, cur->ptr, VSVM_PROT_READ);
		if (!node)
			return sim_miss(cur, cur->ptr, VSVM_PROT_READ);
		cur->acc += node[1];
		cur->ptr = node[0];
		cur->pos++;
	}
	return 0;
}

static const struct sim_kernel sim_kernels[VSVM_KERNEL_NR] = {
	[VSVM_KERNEL_FILL] = { "fill", fill_check, fill_chunk },
	[VSVM_KERNEL_COPY] = { "copy", copy_check, copy_chunk },
	[VSVM_KERNEL_TRIAD] = { "triad", triad_check, triad_chunk },
	[VSVM_KERNEL_GATHER] = { "gather", gather_check, gather_chunk },
	[VSVM_KERNEL_HISTOGRAM] = { "histogram", histogram_check,
				    histogram_chunk },
	[VSVM_KERNEL_CHASE] = { "chase", chase_check, chase_chunk },
};

const struct sim_kernel *sim_kernel_get(uint32_t kernel)
{
	if (kernel >= VSVM_KERNEL_NR || !sim_kernels[kernel].chunk)
		return NULL;
	return &sim_kernels[kernel];
}
