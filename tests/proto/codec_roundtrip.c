// SPDX-License-Identifier: MIT
/*
 * codec_roundtrip.c - every command, reply, event and the capset survive
 * encode + decode field for field; the wire layout is pinned byte for byte.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * Each encoding goes into a heap buffer of exactly its expected size and is
 * decoded with exactly that many bytes available, so ASan reports any read
 * or write outside the message.  Expected lengths are computed here from
 * the protocol sizes, not taken from the codec.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vsvm/vsvm_codec.h"
#include "vsvm_test_le.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Wire sizes, written out so that a drift in the header is caught. */
#define HDR_SZ		8u
#define INIT_SZ		24u
#define MAP_SZ		40u
#define RUN_SZ		16u
#define UNMAP_SZ	32u
#define WAIT_SZ		16u
#define FREPLY_SZ	16u
#define RES_SZ		8u
#define ATTR_CMD_SZ	32u
#define ATTR_SZ		16u
#define PREFETCH_SZ	32u
#define MIGRATE_SZ	40u
#define LAUNCH_SZ	88u
#define R_INIT_SZ	32u
#define DEV_SZ		32u
#define R_WAIT_SZ	16u
#define EVENT_SZ	32u
#define R_FREPLY_SZ	16u
#define R_GATTR_SZ	16u
#define R_PREFETCH_SZ	24u
#define R_MIGRATE_SZ	16u
#define R_LAUNCH_SZ	40u
#define CAPSET_SZ	64u

static uint8_t *xmalloc(size_t n)
{
	uint8_t *p = malloc(n ? n : 1);

	assert_non_null(p);
	return p;
}

/* ------------------------------------------------------------------ */
/* Round-trip helpers                                                  */

/*
 * Encode @in into a fresh buffer of exactly @expect_len bytes, decode it
 * back into @out and return the buffer (which @out's array pointers point
 * into; the caller frees it).
 */
static uint8_t *rt_request(const struct vsvm_request *in, uint32_t expect_len,
			   struct vsvm_request *out)
{
	struct vsvm_writer w;
	uint8_t *buf = xmalloc(expect_len);
	int ret;

	vsvm_writer_init(&w, buf, expect_len);
	ret = vsvm_encode_request(&w, in);
	assert_int_equal(ret, expect_len);
	assert_int_equal(w.off, expect_len);
	assert_int_equal(le_get16(buf), in->op);
	assert_int_equal(le_get16(buf + 2), 0);
	assert_int_equal(le_get32(buf + 4), expect_len);

	memset(out, 0xa5, sizeof(*out));
	ret = vsvm_decode_request(buf, expect_len, out);
	assert_int_equal(ret, expect_len);
	assert_int_equal(out->op, in->op);
	assert_int_equal(out->len, expect_len);
	return buf;
}

static uint8_t *rt_response(const struct vsvm_response *in,
			    uint32_t expect_len, struct vsvm_response *out)
{
	struct vsvm_writer w;
	uint8_t *buf = xmalloc(expect_len);
	int ret;

	vsvm_writer_init(&w, buf, expect_len);
	ret = vsvm_encode_response(&w, in);
	assert_int_equal(ret, expect_len);
	assert_int_equal(w.off, expect_len);
	assert_int_equal(le_get16(buf), in->op);
	assert_int_equal(le_get16(buf + 2), in->status);
	assert_int_equal(le_get32(buf + 4), expect_len);

	memset(out, 0xa5, sizeof(*out));
	ret = vsvm_decode_response(buf, expect_len, out);
	assert_int_equal(ret, expect_len);
	assert_int_equal(out->op, in->op);
	assert_int_equal(out->status, in->status);
	assert_int_equal(out->len, expect_len);
	return buf;
}

static void assert_runs(const struct vsvm_request *dec,
			const struct vsvm_run *runs, uint32_t nr)
{
	uint32_t i;

	for (i = 0; i < nr; i++) {
		struct vsvm_run r;

		memset(&r, 0xa5, sizeof(r));
		vsvm_request_run(dec, i, &r);
		assert_int_equal(r.gpa, runs[i].gpa);
		assert_int_equal(r.len, runs[i].len);
	}
}

/* Fill runs[0..nr) with distinct, page-aligned runs; return their total. */
static uint64_t make_runs(struct vsvm_run *runs, uint32_t nr)
{
	uint64_t total = 0;
	uint32_t i;

	for (i = 0; i < nr; i++) {
		runs[i].gpa = 0x100000000ull + (uint64_t)i * 0x10000000ull +
			      (uint64_t)(i % 7) * VSVM_PAGE_SIZE;
		runs[i].len = (uint64_t)(1 + i % 5) * VSVM_PAGE_SIZE;
		total += runs[i].len;
	}
	return total;
}

/* ------------------------------------------------------------------ */
/* Commands                                                            */

static void test_init_fields_survive(void **state)
{
	static const struct {
		uint16_t major, minor;
		uint32_t va_bits;
	} cases[] = {
		{ 1, 0, 0 },	/* va_bits 0: the host's */
		{ 1, 0, VSVM_VA_BITS_MIN },
		{ 1, 7, 48 },
		{ 0xffff, 0xffff, VSVM_VA_BITS_MAX },
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct vsvm_request in = { .op = VSVM_CMD_INIT }, out;
		uint8_t *buf;

		in.u.init.major = cases[i].major;
		in.u.init.minor = cases[i].minor;
		in.u.init.va_bits = cases[i].va_bits;
		buf = rt_request(&in, INIT_SZ, &out);
		assert_int_equal(out.u.init.major, cases[i].major);
		assert_int_equal(out.u.init.minor, cases[i].minor);
		assert_int_equal(out.u.init.va_bits, cases[i].va_bits);
		free(buf);
	}
}

static void check_map(uint32_t nr, uint32_t prot, uint64_t va,
		      uint64_t inval_seq)
{
	static struct vsvm_run runs[VSVM_MAX_MAP_RUNS];
	struct vsvm_request in = { .op = VSVM_CMD_MAP }, out;
	uint8_t *buf;

	in.u.map.va = va;
	in.u.map.len = make_runs(runs, nr);
	in.u.map.inval_seq = inval_seq;
	in.u.map.prot = prot;
	in.u.map.nr_runs = nr;
	in.u.map.runs = runs;
	buf = rt_request(&in, MAP_SZ + nr * RUN_SZ, &out);
	assert_int_equal(out.u.map.va, va);
	assert_int_equal(out.u.map.len, in.u.map.len);
	assert_int_equal(out.u.map.inval_seq, inval_seq);
	assert_int_equal(out.u.map.prot, prot);
	assert_int_equal(out.u.map.nr_runs, nr);
	assert_ptr_equal(out.u.map.runs_wire, buf + MAP_SZ);
	assert_runs(&out, runs, nr);
	free(buf);
}

static void test_map_one_run_fields_survive(void **state)
{
	(void)state;
	check_map(1, VSVM_PROT_READ | VSVM_PROT_WRITE, 0x7f0000000000ull, 0);
	check_map(1, VSVM_PROT_READ, 0x1000, ~0ull);
}

static void test_map_many_runs_fields_survive(void **state)
{
	(void)state;
	check_map(2, VSVM_PROT_ALL, 0x200000, 42);
	check_map(37, VSVM_PROT_READ | VSVM_PROT_WRITE, 0x40000000, 43);
}

static void test_map_max_runs_fields_survive(void **state)
{
	(void)state;
	check_map(VSVM_MAX_MAP_RUNS, VSVM_PROT_ALL, 0x10000000000ull,
		  0x0123456789abcdefull);
}

static void test_map_every_valid_prot_survives(void **state)
{
	static const uint32_t prots[] = {
		VSVM_PROT_READ,
		VSVM_PROT_READ | VSVM_PROT_WRITE,
		VSVM_PROT_READ | VSVM_PROT_WRITE | VSVM_PROT_ATOMIC,
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(prots); i++)
		check_map(3, prots[i], 0x1000000, i + 1);
}

static void test_map_range_ending_at_va_limit_survives(void **state)
{
	struct vsvm_run run = { 0x80000000ull, 0x200000 };
	struct vsvm_request in = { .op = VSVM_CMD_MAP }, out;
	uint8_t *buf;

	(void)state;
	in.u.map.va = (1ull << VSVM_VA_BITS_MAX) - 0x200000;
	in.u.map.len = 0x200000;
	in.u.map.prot = VSVM_PROT_READ;
	in.u.map.nr_runs = 1;
	in.u.map.runs = &run;
	buf = rt_request(&in, MAP_SZ + RUN_SZ, &out);
	assert_int_equal(out.u.map.va, in.u.map.va);
	assert_int_equal(out.u.map.len, 0x200000);
	assert_runs(&out, &run, 1);
	free(buf);
}

static void test_unmap_fields_survive(void **state)
{
	static const struct {
		uint64_t va, len, seq;
	} cases[] = {
		{ 0, 0x1000, 1 },
		{ 0x7fffffe00000ull, 0x200000, 0x0102030405060708ull },
		{ (1ull << VSVM_VA_BITS_MAX) - 0x1000, 0x1000, ~0ull },
		{ 0, 1ull << VSVM_VA_BITS_MAX, 2 },	/* the whole space */
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct vsvm_request in = { .op = VSVM_CMD_UNMAP }, out;
		uint8_t *buf;

		in.u.unmap.va = cases[i].va;
		in.u.unmap.len = cases[i].len;
		in.u.unmap.seq = cases[i].seq;
		buf = rt_request(&in, UNMAP_SZ, &out);
		assert_int_equal(out.u.unmap.va, cases[i].va);
		assert_int_equal(out.u.unmap.len, cases[i].len);
		assert_int_equal(out.u.unmap.seq, cases[i].seq);
		free(buf);
	}
}

static void test_event_wait_fields_survive(void **state)
{
	static const struct {
		uint32_t max, flags;
	} cases[] = {
		{ 1, 0 },
		{ 16, VSVM_WAIT_F_NONBLOCK },
		{ VSVM_MAX_FAULT_BATCH, 0 },
		{ VSVM_MAX_FAULT_BATCH, VSVM_WAIT_F_NONBLOCK },
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct vsvm_request in = { .op = VSVM_CMD_EVENT_WAIT }, out;
		uint8_t *buf;

		in.u.wait.max_events = cases[i].max;
		in.u.wait.flags = cases[i].flags;
		buf = rt_request(&in, WAIT_SZ, &out);
		assert_int_equal(out.u.wait.max_events, cases[i].max);
		assert_int_equal(out.u.wait.flags, cases[i].flags);
		free(buf);
	}
}

static void check_fault_reply(uint32_t nr)
{
	static struct vsvm_resolution res[VSVM_MAX_FAULT_BATCH];
	struct vsvm_request in = { .op = VSVM_CMD_FAULT_REPLY }, out;
	uint8_t *buf;
	uint32_t i;

	for (i = 0; i < nr; i++) {
		res[i].id = 0xdead0000u + i * 0x10001u;
		res[i].status = i % VSVM_STATUS_NR;	/* every status */
	}
	in.u.fault_reply.nr = nr;
	in.u.fault_reply.res = res;
	buf = rt_request(&in, FREPLY_SZ + nr * RES_SZ, &out);
	assert_int_equal(out.u.fault_reply.nr, nr);
	assert_ptr_equal(out.u.fault_reply.res_wire, buf + FREPLY_SZ);
	for (i = 0; i < nr; i++) {
		struct vsvm_resolution r;

		memset(&r, 0xa5, sizeof(r));
		vsvm_request_resolution(&out, i, &r);
		assert_int_equal(r.id, res[i].id);
		assert_int_equal(r.status, res[i].status);
	}
	free(buf);
}

static void test_fault_reply_one_resolution_survives(void **state)
{
	(void)state;
	check_fault_reply(1);
}

static void test_fault_reply_max_batch_survives(void **state)
{
	(void)state;
	check_fault_reply(VSVM_MAX_FAULT_BATCH);
}

static void check_attr(uint16_t op, const struct vsvm_attr_val *attrs,
		       uint32_t nr, uint64_t va, uint64_t len)
{
	struct vsvm_request in = { .op = op }, out;
	uint8_t *buf;
	uint32_t i;

	in.u.attr.va = va;
	in.u.attr.len = len;
	in.u.attr.nr_attrs = nr;
	in.u.attr.attrs = attrs;
	buf = rt_request(&in, ATTR_CMD_SZ + nr * ATTR_SZ, &out);
	assert_int_equal(out.u.attr.va, va);
	assert_int_equal(out.u.attr.len, len);
	assert_int_equal(out.u.attr.nr_attrs, nr);
	assert_ptr_equal(out.u.attr.attrs_wire, buf + ATTR_CMD_SZ);
	for (i = 0; i < nr; i++) {
		struct vsvm_attr_val a;

		memset(&a, 0xa5, sizeof(a));
		vsvm_request_attr(&out, i, &a);
		assert_int_equal(a.type, attrs[i].type);
		assert_int_equal(a.flags, 0);
		assert_int_equal(a.value, attrs[i].value);
	}
	free(buf);
}

static void test_set_attr_all_five_types_survive(void **state)
{
	/* Not in type order: the order on the wire is the caller's. */
	static const struct vsvm_attr_val attrs[] = {
		{ VSVM_ATTR_GRANULARITY, 0, 21 },
		{ VSVM_ATTR_PREFERRED_LOC, 0, 3 },
		{ VSVM_ATTR_DEVICE_ACCESS, 0, VSVM_DEVICE_ACCESS_RO },
		{ VSVM_ATTR_ACCESSED_BY, 0, 0x8000000000000005ull },
		{ VSVM_ATTR_READ_MOSTLY, 0, 1 },
	};

	(void)state;
	check_attr(VSVM_CMD_SET_ATTR, attrs, ARRAY_SIZE(attrs),
		   0x7fff00000000ull, 0x40000000);
}

static void test_set_attr_boundary_values_survive(void **state)
{
	static const struct vsvm_attr_val ok[] = {
		{ VSVM_ATTR_PREFERRED_LOC, 0, 0 },
		{ VSVM_ATTR_PREFERRED_LOC, 0, VSVM_MAX_DEVICES - 1 },
		{ VSVM_ATTR_PREFERRED_LOC, 0, VSVM_LOC_SYSTEM },
		{ VSVM_ATTR_PREFERRED_LOC, 0, VSVM_LOC_UNSET },
		{ VSVM_ATTR_ACCESSED_BY, 0, 0 },
		{ VSVM_ATTR_ACCESSED_BY, 0, ~0ull },
		{ VSVM_ATTR_READ_MOSTLY, 0, 0 },
		{ VSVM_ATTR_READ_MOSTLY, 0, 1 },
		{ VSVM_ATTR_GRANULARITY, 0, VSVM_GRANULARITY_MIN },
		{ VSVM_ATTR_GRANULARITY, 0, VSVM_GRANULARITY_MAX },
		{ VSVM_ATTR_DEVICE_ACCESS, 0, VSVM_DEVICE_ACCESS_RW },
		{ VSVM_ATTR_DEVICE_ACCESS, 0, VSVM_DEVICE_ACCESS_NONE },
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(ok); i++)
		check_attr(VSVM_CMD_SET_ATTR, &ok[i], 1, 0x1000, 0x1000);
}

static void test_get_attr_fields_survive(void **state)
{
	static const struct vsvm_attr_val attrs[] = {
		{ VSVM_ATTR_READ_MOSTLY, 0, 0 },
		{ VSVM_ATTR_PREFERRED_LOC, 0, 0 },
		{ VSVM_ATTR_ACCESSED_BY, 0, 0 },
		{ VSVM_ATTR_GRANULARITY, 0, 0 },
		{ VSVM_ATTR_DEVICE_ACCESS, 0, 0 },
	};

	(void)state;
	check_attr(VSVM_CMD_GET_ATTR, attrs, ARRAY_SIZE(attrs), 0x5000,
		   0x3000);
	check_attr(VSVM_CMD_GET_ATTR, attrs + 3, 1, 0x5000, 0x1000);
}

static void test_prefetch_sync_and_async_survive(void **state)
{
	static const struct {
		uint32_t location, flags;
	} cases[] = {
		{ 0, 0 },
		{ VSVM_MAX_DEVICES - 1, VSVM_PREFETCH_F_ASYNC },
		{ VSVM_LOC_SYSTEM, 0 },
		{ VSVM_LOC_SYSTEM, VSVM_PREFETCH_F_ASYNC },
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct vsvm_request in = { .op = VSVM_CMD_PREFETCH }, out;
		uint8_t *buf;

		in.u.prefetch.va = 0x123456000ull;
		in.u.prefetch.len = 0x10000 * (i + 1);
		in.u.prefetch.location = cases[i].location;
		in.u.prefetch.flags = cases[i].flags;
		buf = rt_request(&in, PREFETCH_SZ, &out);
		assert_int_equal(out.u.prefetch.va, 0x123456000ull);
		assert_int_equal(out.u.prefetch.len, 0x10000 * (i + 1));
		assert_int_equal(out.u.prefetch.location, cases[i].location);
		assert_int_equal(out.u.prefetch.flags, cases[i].flags);
		free(buf);
	}
}

static void check_migrate(uint32_t location, uint32_t request_id,
			  uint32_t nr, uint64_t len)
{
	static struct vsvm_run runs[VSVM_MAX_MAP_RUNS];
	struct vsvm_request in = { .op = VSVM_CMD_MIGRATE }, out;
	uint8_t *buf;

	in.u.migrate.va = 0x600000000ull;
	in.u.migrate.len = nr ? make_runs(runs, nr) : len;
	in.u.migrate.location = location;
	in.u.migrate.request_id = request_id;
	in.u.migrate.nr_runs = nr;
	in.u.migrate.runs = nr ? runs : NULL;
	buf = rt_request(&in, MIGRATE_SZ + nr * RUN_SZ, &out);
	assert_int_equal(out.u.migrate.va, 0x600000000ull);
	assert_int_equal(out.u.migrate.len, in.u.migrate.len);
	assert_int_equal(out.u.migrate.location, location);
	assert_int_equal(out.u.migrate.request_id, request_id);
	assert_int_equal(out.u.migrate.nr_runs, nr);
	assert_ptr_equal(out.u.migrate.runs_wire, buf + MIGRATE_SZ);
	assert_runs(&out, runs, nr);
	free(buf);
}

static void test_migrate_to_device_with_runs_survives(void **state)
{
	(void)state;
	check_migrate(0, 0, 1, 0);
	check_migrate(5, 0x77, 9, 0);
	check_migrate(VSVM_MAX_DEVICES - 1, 1, VSVM_MAX_MAP_RUNS, 0);
}

static void test_migrate_device_to_device_without_runs_survives(void **state)
{
	(void)state;
	check_migrate(1, 0, 0, 0x200000);
	check_migrate(VSVM_MAX_DEVICES - 1, 0xffffffffu, 0, 0x1000);
}

static void test_migrate_to_system_with_runs_survives(void **state)
{
	(void)state;
	check_migrate(VSVM_LOC_SYSTEM, 0, 1, 0);
	check_migrate(VSVM_LOC_SYSTEM, 12, 64, 0);
}

static void test_launch_every_kernel_with_its_arg_count_survives(void **state)
{
	uint32_t k;

	(void)state;
	for (k = 1; k < VSVM_KERNEL_NR; k++) {
		struct vsvm_request in = { .op = VSVM_CMD_LAUNCH }, out;
		uint32_t nr = vsvm_kernel_nr_args(k), i;
		uint8_t *buf;

		assert_in_range(nr, 1, VSVM_MAX_KERNEL_ARGS);
		in.u.launch.kernel = k;
		in.u.launch.device = k == 1 ? VSVM_MAX_DEVICES - 1 : k;
		in.u.launch.nr_args = nr;
		for (i = 0; i < nr; i++)
			in.u.launch.args[i] = 0x1111111111111111ull * (i + 1) +
					      k;
		buf = rt_request(&in, LAUNCH_SZ, &out);
		assert_int_equal(out.u.launch.kernel, k);
		assert_int_equal(out.u.launch.device, in.u.launch.device);
		assert_int_equal(out.u.launch.nr_args, nr);
		for (i = 0; i < VSVM_MAX_KERNEL_ARGS; i++)
			assert_int_equal(out.u.launch.args[i],
					 i < nr ? in.u.launch.args[i] : 0);
		free(buf);
	}
}

static void test_kernel_arg_counts_are_the_documented_ones(void **state)
{
	(void)state;
	assert_int_equal(vsvm_kernel_nr_args(VSVM_KERNEL_FILL), 3);
	assert_int_equal(vsvm_kernel_nr_args(VSVM_KERNEL_COPY), 3);
	assert_int_equal(vsvm_kernel_nr_args(VSVM_KERNEL_TRIAD), 5);
	assert_int_equal(vsvm_kernel_nr_args(VSVM_KERNEL_GATHER), 5);
	assert_int_equal(vsvm_kernel_nr_args(VSVM_KERNEL_HISTOGRAM), 4);
	assert_int_equal(vsvm_kernel_nr_args(VSVM_KERNEL_CHASE), 2);
	assert_int_equal(vsvm_kernel_nr_args(0), 0);
	assert_int_equal(vsvm_kernel_nr_args(VSVM_KERNEL_NR), 0);
	assert_int_equal(vsvm_kernel_nr_args(0xffffffffu), 0);
}

static void test_destroy_and_query_are_header_only(void **state)
{
	static const uint16_t ops[] = { VSVM_CMD_DESTROY, VSVM_CMD_QUERY };
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(ops); i++) {
		struct vsvm_request in = { .op = ops[i] }, out;
		uint8_t *buf = rt_request(&in, HDR_SZ, &out);

		free(buf);
	}
}

/* ------------------------------------------------------------------ */
/* Replies                                                             */

static void check_init_reply(uint16_t op, uint32_t ndev)
{
	static struct vsvm_device_val devs[VSVM_MAX_DEVICES];
	struct vsvm_response in = { .op = op, .status = VSVM_OK }, out;
	uint8_t *buf;
	uint32_t i;

	for (i = 0; i < ndev; i++) {
		devs[i].mem_size = (16ull << 30) + i * 0x1000;
		devs[i].mem_used = i * 0x200000ull;
		devs[i].exec_units = 1000 + i;
	}
	in.u.init.major = 1;
	in.u.init.minor = 3;
	in.u.init.features = VSVM_F_ALL;
	in.u.init.va_bits = 48;
	in.u.init.num_devices = ndev;
	in.u.init.page_sizes = (1ull << 12) | (1ull << 21) | (1ull << 30);
	in.u.init.devices = devs;
	buf = rt_response(&in, R_INIT_SZ + ndev * DEV_SZ, &out);
	assert_int_equal(out.u.init.major, 1);
	assert_int_equal(out.u.init.minor, 3);
	assert_int_equal(out.u.init.features, VSVM_F_ALL);
	assert_int_equal(out.u.init.va_bits, 48);
	assert_int_equal(out.u.init.num_devices, ndev);
	assert_int_equal(out.u.init.page_sizes, in.u.init.page_sizes);
	assert_ptr_equal(out.u.init.devices_wire, buf + R_INIT_SZ);
	for (i = 0; i < ndev; i++) {
		struct vsvm_device_val d;

		memset(&d, 0xa5, sizeof(d));
		vsvm_response_device(&out, i, &d);
		assert_int_equal(d.mem_size, devs[i].mem_size);
		assert_int_equal(d.mem_used, devs[i].mem_used);
		assert_int_equal(d.exec_units, devs[i].exec_units);
	}
	free(buf);
}

static void test_init_and_query_replies_with_devices_survive(void **state)
{
	(void)state;
	check_init_reply(VSVM_CMD_INIT, 1);
	check_init_reply(VSVM_CMD_INIT, 3);
	check_init_reply(VSVM_CMD_QUERY, 2);
	check_init_reply(VSVM_CMD_QUERY, VSVM_MAX_DEVICES);
}

static const struct vsvm_event_val sample_events[] = {
	{ VSVM_EVENT_FAULT, 1, 0x7f0000001000ull, VSVM_PAGE_SIZE, 0,
	  VSVM_ACCESS_READ },
	{ VSVM_EVENT_FAULT, 2, 0x2000, VSVM_PAGE_SIZE, VSVM_MAX_DEVICES - 1,
	  VSVM_ACCESS_WRITE },
	{ VSVM_EVENT_FAULT, 0xffffffffu, (1ull << VSVM_VA_BITS_MAX) - 0x1000,
	  VSVM_PAGE_SIZE, 7, VSVM_ACCESS_ATOMIC },
	{ VSVM_EVENT_MIGRATE_REQ, 9, 0x40000000, 0x200000, 3, 0 },
	{ VSVM_EVENT_MIGRATE_REQ, 10, 0x40000000, 0x200000, VSVM_LOC_SYSTEM,
	  0 },
	{ VSVM_EVENT_PREFETCH_DONE, 77, 0x100000, 0x100000, 0, VSVM_OK },
	{ VSVM_EVENT_PREFETCH_DONE, 78, 0x100000, 0x100000, VSVM_LOC_SYSTEM,
	  VSVM_ERR_NOSPC },
	{ VSVM_EVENT_PREFETCH_DONE, 79, 0, 1ull << VSVM_VA_BITS_MAX, 1,
	  VSVM_STATUS_NR - 1 },
};

static void assert_event_eq(const struct vsvm_event_val *a,
			    const struct vsvm_event_val *b)
{
	assert_int_equal(a->type, b->type);
	assert_int_equal(a->id, b->id);
	assert_int_equal(a->va, b->va);
	assert_int_equal(a->len, b->len);
	assert_int_equal(a->device, b->device);
	assert_int_equal(a->arg, b->arg);
}

static void test_event_wait_reply_with_events_of_every_type_survives(
	void **state)
{
	static struct vsvm_event_val evs[VSVM_MAX_FAULT_BATCH];
	static const uint32_t counts[] = { 0, 1, ARRAY_SIZE(sample_events),
					   VSVM_MAX_FAULT_BATCH };
	size_t c;

	(void)state;
	for (c = 0; c < ARRAY_SIZE(counts); c++) {
		struct vsvm_response in = { .op = VSVM_CMD_EVENT_WAIT }, out;
		uint32_t nr = counts[c], i;
		uint8_t *buf;

		for (i = 0; i < nr; i++) {
			evs[i] = sample_events[i % ARRAY_SIZE(sample_events)];
			evs[i].id += i << 8;
		}
		in.u.wait.nr_events = nr;
		in.u.wait.pending = 1000 + (uint32_t)c;
		in.u.wait.events = evs;
		buf = rt_response(&in, R_WAIT_SZ + nr * EVENT_SZ, &out);
		assert_int_equal(out.u.wait.nr_events, nr);
		assert_int_equal(out.u.wait.pending, 1000 + c);
		assert_ptr_equal(out.u.wait.events_wire, buf + R_WAIT_SZ);
		for (i = 0; i < nr; i++) {
			struct vsvm_event_val ev;

			memset(&ev, 0xa5, sizeof(ev));
			vsvm_response_event(&out, i, &ev);
			assert_event_eq(&ev, &evs[i]);
		}
		free(buf);
	}
}

static void test_fault_reply_reply_survives(void **state)
{
	struct vsvm_response in = { .op = VSVM_CMD_FAULT_REPLY }, out;
	uint8_t *buf;

	(void)state;
	in.u.fault_reply.resolved = 250;
	in.u.fault_reply.unknown = 6;
	buf = rt_response(&in, R_FREPLY_SZ, &out);
	assert_int_equal(out.u.fault_reply.resolved, 250);
	assert_int_equal(out.u.fault_reply.unknown, 6);
	free(buf);
}

static void test_get_attr_reply_with_mixed_flag_survives(void **state)
{
	static const struct vsvm_attr_val attrs[] = {
		{ VSVM_ATTR_PREFERRED_LOC, VSVM_ATTR_F_MIXED, VSVM_LOC_UNSET },
		{ VSVM_ATTR_ACCESSED_BY, 0, 0x3 },
		{ VSVM_ATTR_READ_MOSTLY, VSVM_ATTR_F_MIXED, 1 },
		{ VSVM_ATTR_GRANULARITY, 0, 21 },
		{ VSVM_ATTR_DEVICE_ACCESS, 0, VSVM_DEVICE_ACCESS_NONE },
	};
	struct vsvm_response in = { .op = VSVM_CMD_GET_ATTR }, out;
	uint8_t *buf;
	uint32_t i;

	(void)state;
	in.u.get_attr.nr_attrs = ARRAY_SIZE(attrs);
	in.u.get_attr.attrs = attrs;
	buf = rt_response(&in, R_GATTR_SZ + ARRAY_SIZE(attrs) * ATTR_SZ, &out);
	assert_int_equal(out.u.get_attr.nr_attrs, ARRAY_SIZE(attrs));
	assert_ptr_equal(out.u.get_attr.attrs_wire, buf + R_GATTR_SZ);
	for (i = 0; i < ARRAY_SIZE(attrs); i++) {
		struct vsvm_attr_val a;

		memset(&a, 0xa5, sizeof(a));
		vsvm_response_attr(&out, i, &a);
		assert_int_equal(a.type, attrs[i].type);
		assert_int_equal(a.flags, attrs[i].flags);
		assert_int_equal(a.value, attrs[i].value);
	}
	free(buf);
}

static void test_prefetch_reply_survives(void **state)
{
	struct vsvm_response in = { .op = VSVM_CMD_PREFETCH }, out;
	uint8_t *buf;

	(void)state;
	in.u.prefetch.token = 0xfeedbeefu;
	in.u.prefetch.bytes = 0x123456789000ull;
	buf = rt_response(&in, R_PREFETCH_SZ, &out);
	assert_int_equal(out.u.prefetch.token, 0xfeedbeefu);
	assert_int_equal(out.u.prefetch.bytes, 0x123456789000ull);
	free(buf);
}

static void test_migrate_reply_survives(void **state)
{
	struct vsvm_response in = { .op = VSVM_CMD_MIGRATE }, out;
	uint8_t *buf;

	(void)state;
	in.u.migrate.bytes = 0xffffffffffffffffull;
	buf = rt_response(&in, R_MIGRATE_SZ, &out);
	assert_int_equal(out.u.migrate.bytes, 0xffffffffffffffffull);
	free(buf);
}

static void test_launch_reply_survives(void **state)
{
	struct vsvm_response in = { .op = VSVM_CMD_LAUNCH }, out;
	uint8_t *buf;

	(void)state;
	in.u.launch.result = 0x0102030405060708ull;
	in.u.launch.fault_va = 0;
	in.u.launch.faults = 17;
	in.u.launch.elapsed_ns = 123456789;
	buf = rt_response(&in, R_LAUNCH_SZ, &out);
	assert_int_equal(out.u.launch.result, 0x0102030405060708ull);
	assert_int_equal(out.u.launch.fault_va, 0);
	assert_int_equal(out.u.launch.faults, 17);
	assert_int_equal(out.u.launch.elapsed_ns, 123456789);
	free(buf);
}

static void test_bodiless_ok_replies_are_header_only(void **state)
{
	static const uint16_t ops[] = { VSVM_CMD_MAP, VSVM_CMD_UNMAP,
					VSVM_CMD_SET_ATTR, VSVM_CMD_DESTROY };
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(ops); i++) {
		struct vsvm_response in = { .op = ops[i] }, out;

		free(rt_response(&in, HDR_SZ, &out));
	}
}

static void test_error_replies_are_header_only(void **state)
{
	uint16_t op, status;

	(void)state;
	for (op = 1; op < VSVM_CMD_NR; op++) {
		if (op == VSVM_CMD_LAUNCH)
			continue;
		for (status = 1; status < VSVM_STATUS_NR; status++) {
			struct vsvm_response in = { .op = op,
						    .status = status }, out;

			/* A body in the struct must not reach the wire. */
			in.u.init.num_devices = 5;
			in.u.wait.nr_events = 3;
			in.u.get_attr.nr_attrs = 2;
			free(rt_response(&in, HDR_SZ, &out));
		}
	}
}

static void test_launch_error_reply_keeps_its_body(void **state)
{
	uint16_t status;

	(void)state;
	for (status = 1; status < VSVM_STATUS_NR; status++) {
		struct vsvm_response in = { .op = VSVM_CMD_LAUNCH,
					    .status = status }, out;
		uint8_t *buf;

		in.u.launch.result = status;
		in.u.launch.fault_va = 0x7f0000003000ull;
		in.u.launch.faults = 3;
		in.u.launch.elapsed_ns = 999;
		buf = rt_response(&in, R_LAUNCH_SZ, &out);
		assert_int_equal(out.u.launch.result, status);
		assert_int_equal(out.u.launch.fault_va, 0x7f0000003000ull);
		assert_int_equal(out.u.launch.faults, 3);
		assert_int_equal(out.u.launch.elapsed_ns, 999);
		free(buf);
	}
}

/* ------------------------------------------------------------------ */
/* Events and capset                                                   */

static void test_events_of_every_type_survive(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(sample_events); i++) {
		struct vsvm_event_val out;
		struct vsvm_writer w;
		uint8_t *buf = xmalloc(EVENT_SZ);

		vsvm_writer_init(&w, buf, EVENT_SZ);
		assert_int_equal(vsvm_encode_event(&w, &sample_events[i]),
				 EVENT_SZ);
		assert_int_equal(w.off, EVENT_SZ);
		memset(&out, 0xa5, sizeof(out));
		assert_int_equal(vsvm_decode_event(buf, EVENT_SZ, &out),
				 EVENT_SZ);
		assert_event_eq(&out, &sample_events[i]);
		free(buf);
	}
}

static const struct vsvm_caps sample_caps = {
	.major = 1,
	.minor = 2,
	.features = VSVM_F_HUGE_2M | VSVM_F_PEER_MIGRATION,
	.num_devices = 4,
	.va_bits = 48,
	.page_sizes = (1ull << 12) | (1ull << 21),
	.max_contexts = 16,
	.max_submit_bytes = 65536,
	.max_cmds = 256,
	.max_fault_batch = 64,
	.max_map_runs = 128,
	.max_launches = 8,
	.max_ranges = 4096,
};

static void assert_caps_eq(const struct vsvm_caps *a,
			   const struct vsvm_caps *b)
{
	assert_int_equal(a->major, b->major);
	assert_int_equal(a->minor, b->minor);
	assert_int_equal(a->features, b->features);
	assert_int_equal(a->num_devices, b->num_devices);
	assert_int_equal(a->va_bits, b->va_bits);
	assert_int_equal(a->page_sizes, b->page_sizes);
	assert_int_equal(a->max_contexts, b->max_contexts);
	assert_int_equal(a->max_submit_bytes, b->max_submit_bytes);
	assert_int_equal(a->max_cmds, b->max_cmds);
	assert_int_equal(a->max_fault_batch, b->max_fault_batch);
	assert_int_equal(a->max_map_runs, b->max_map_runs);
	assert_int_equal(a->max_launches, b->max_launches);
	assert_int_equal(a->max_ranges, b->max_ranges);
}

static void test_capset_fields_survive(void **state)
{
	struct vsvm_caps maxed = {
		.major = 0xffff, .minor = 0xffff, .features = VSVM_F_ALL,
		.num_devices = VSVM_MAX_DEVICES, .va_bits = VSVM_VA_BITS_MAX,
		.page_sizes = ~0ull << 12, .max_contexts = ~0u,
		.max_submit_bytes = VSVM_MAX_SUBMIT_BYTES,
		.max_cmds = VSVM_MAX_CMDS,
		.max_fault_batch = VSVM_MAX_FAULT_BATCH,
		.max_map_runs = VSVM_MAX_MAP_RUNS, .max_launches = ~0u,
		.max_ranges = ~0u,
	};
	struct vsvm_caps minimal = {
		.major = 1, .num_devices = 1, .va_bits = VSVM_VA_BITS_MIN,
		.page_sizes = VSVM_PAGE_SIZE, .max_contexts = 1,
		.max_submit_bytes = LAUNCH_SZ, .max_cmds = 1,
		.max_fault_batch = 1, .max_map_runs = 1, .max_launches = 1,
		.max_ranges = 1,
	};
	const struct vsvm_caps *all[] = { &sample_caps, &maxed, &minimal };
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(all); i++) {
		struct vsvm_caps out;
		struct vsvm_writer w;
		uint8_t *buf = xmalloc(CAPSET_SZ);

		vsvm_writer_init(&w, buf, CAPSET_SZ);
		assert_int_equal(vsvm_encode_capset(&w, all[i]), CAPSET_SZ);
		assert_int_equal(w.off, CAPSET_SZ);
		assert_int_equal(le_get32(buf), VSVM_CAPSET_MAGIC);
		assert_int_equal(le_get32(buf + 8), CAPSET_SZ);
		memset(&out, 0xa5, sizeof(out));
		assert_int_equal(vsvm_decode_capset(buf, CAPSET_SZ, &out),
				 CAPSET_SZ);
		assert_caps_eq(&out, all[i]);
		free(buf);
	}
}

static void test_capset_larger_than_struct_is_accepted(void **state)
{
	/* A newer minor may append fields: size 80, its tail ignored. */
	struct vsvm_caps out;
	struct vsvm_writer w;
	uint8_t *buf = xmalloc(CAPSET_SZ + 16);

	(void)state;
	vsvm_writer_init(&w, buf, CAPSET_SZ + 16);
	assert_int_equal(vsvm_encode_capset(&w, &sample_caps), CAPSET_SZ);
	memset(buf + CAPSET_SZ, 0xee, 16);
	le_put32(buf + 8, CAPSET_SZ + 16);
	assert_int_equal(vsvm_decode_capset(buf, CAPSET_SZ + 16, &out),
			 CAPSET_SZ + 16);
	assert_caps_eq(&out, &sample_caps);
	free(buf);
}

/* ------------------------------------------------------------------ */
/* Streams                                                             */

static void test_stream_of_commands_iterates_and_validates(void **state)
{
	static const struct vsvm_run runs[] = { { 0x100000, 0x2000 },
						{ 0x300000, 0x1000 } };
	static const struct vsvm_resolution res[] = { { 5, VSVM_OK },
						      { 6, VSVM_ERR_FAULT } };
	static const struct vsvm_attr_val sattr[] = {
		{ VSVM_ATTR_PREFERRED_LOC, 0, 1 },
		{ VSVM_ATTR_READ_MOSTLY, 0, 1 } };
	static const struct vsvm_attr_val gattr[] = {
		{ VSVM_ATTR_PREFERRED_LOC, 0, 0 },
		{ VSVM_ATTR_ACCESSED_BY, 0, 0 },
		{ VSVM_ATTR_GRANULARITY, 0, 0 } };
	struct vsvm_request cmds[12];
	const uint32_t ndev = 3;
	uint32_t expect_reply = 0, expect_len = 0, nr_cmds, reply_bytes, bad;
	uint8_t buf[1024];
	struct vsvm_writer w;
	struct vsvm_stream s;
	struct vsvm_request r;
	size_t n = 0, i;
	int ret;

	(void)state;
	memset(cmds, 0, sizeof(cmds));
	cmds[n].op = VSVM_CMD_INIT;
	cmds[n].u.init.major = 1;
	n++;
	cmds[n].op = VSVM_CMD_QUERY;
	n++;
	cmds[n].op = VSVM_CMD_MAP;
	cmds[n].u.map.va = 0x10000;
	cmds[n].u.map.len = 0x3000;
	cmds[n].u.map.inval_seq = 1;
	cmds[n].u.map.prot = VSVM_PROT_READ;
	cmds[n].u.map.nr_runs = 2;
	cmds[n].u.map.runs = runs;
	n++;
	cmds[n].op = VSVM_CMD_UNMAP;
	cmds[n].u.unmap.va = 0x10000;
	cmds[n].u.unmap.len = 0x1000;
	cmds[n].u.unmap.seq = 2;
	n++;
	cmds[n].op = VSVM_CMD_FAULT_REPLY;
	cmds[n].u.fault_reply.nr = 2;
	cmds[n].u.fault_reply.res = res;
	n++;
	cmds[n].op = VSVM_CMD_SET_ATTR;
	cmds[n].u.attr.va = 0x10000;
	cmds[n].u.attr.len = 0x3000;
	cmds[n].u.attr.nr_attrs = 2;
	cmds[n].u.attr.attrs = sattr;
	n++;
	cmds[n].op = VSVM_CMD_GET_ATTR;
	cmds[n].u.attr.va = 0x10000;
	cmds[n].u.attr.len = 0x3000;
	cmds[n].u.attr.nr_attrs = 3;
	cmds[n].u.attr.attrs = gattr;
	n++;
	cmds[n].op = VSVM_CMD_PREFETCH;
	cmds[n].u.prefetch.va = 0x10000;
	cmds[n].u.prefetch.len = 0x3000;
	cmds[n].u.prefetch.location = 2;
	n++;
	cmds[n].op = VSVM_CMD_MIGRATE;
	cmds[n].u.migrate.va = 0x10000;
	cmds[n].u.migrate.len = 0x3000;
	cmds[n].u.migrate.location = VSVM_LOC_SYSTEM;
	cmds[n].u.migrate.nr_runs = 2;
	cmds[n].u.migrate.runs = runs;
	n++;
	cmds[n].op = VSVM_CMD_DESTROY;
	n++;
	cmds[n].op = VSVM_CMD_EVENT_WAIT;	/* parks: must be last */
	cmds[n].u.wait.max_events = 32;
	n++;
	assert_true(n <= ARRAY_SIZE(cmds));

	vsvm_writer_init(&w, buf, sizeof(buf));
	for (i = 0; i < n; i++) {
		ret = vsvm_encode_request(&w, &cmds[i]);
		assert_true(ret > 0);
		expect_len += (uint32_t)ret;
		assert_int_equal(w.off, expect_len);
		expect_reply += vsvm_reply_size(&cmds[i], ndev);
	}

	vsvm_stream_init(&s, buf, w.off);
	for (i = 0; i < n; i++) {
		memset(&r, 0xa5, sizeof(r));
		assert_int_equal(vsvm_stream_next(&s, &r), 1);
		assert_int_equal(r.op, cmds[i].op);
		assert_int_equal(s.index, i + 1);
	}
	assert_int_equal(s.off, w.off);
	assert_int_equal(vsvm_stream_next(&s, &r), 0);
	assert_int_equal(vsvm_stream_next(&s, &r), 0);	/* stays at end */

	ret = vsvm_stream_validate(buf, w.off, ndev, &nr_cmds, &reply_bytes,
				   &bad);
	assert_int_equal(ret, 0);
	assert_int_equal(nr_cmds, n);
	assert_int_equal(reply_bytes, expect_reply);
	/* Computed by hand: init+query 2*(32+3*32), fault_reply 16,
	 * get_attr 16+3*16, prefetch 24, migrate 16, wait 16+32*32,
	 * map/unmap/set_attr/destroy 8 each. */
	assert_int_equal(reply_bytes, 2 * (32 + 3 * 32) + 16 + 64 + 24 + 16 +
				      (16 + 32 * 32) + 4 * 8);
}

static void test_stream_ending_in_launch_validates(void **state)
{
	struct vsvm_request q = { .op = VSVM_CMD_QUERY };
	struct vsvm_request l = { .op = VSVM_CMD_LAUNCH };
	uint32_t nr_cmds, reply_bytes, bad;
	uint8_t buf[256];
	struct vsvm_writer w;

	(void)state;
	l.u.launch.kernel = VSVM_KERNEL_CHASE;
	l.u.launch.nr_args = 2;
	l.u.launch.args[0] = 0x1000;
	l.u.launch.args[1] = 100;
	vsvm_writer_init(&w, buf, sizeof(buf));
	assert_int_equal(vsvm_encode_request(&w, &q), HDR_SZ);
	assert_int_equal(vsvm_encode_request(&w, &l), LAUNCH_SZ);
	assert_int_equal(vsvm_stream_validate(buf, w.off, 1, &nr_cmds,
					      &reply_bytes, &bad), 0);
	assert_int_equal(nr_cmds, 2);
	assert_int_equal(reply_bytes, R_INIT_SZ + DEV_SZ + R_LAUNCH_SZ);
}

static void test_empty_stream_is_valid(void **state)
{
	uint32_t nr_cmds = 99, reply_bytes = 99, bad = 99;
	struct vsvm_stream s;
	struct vsvm_request r;
	uint8_t dummy = 0;

	(void)state;
	assert_int_equal(vsvm_stream_validate(&dummy, 0, 1, &nr_cmds,
					      &reply_bytes, &bad), 0);
	assert_int_equal(nr_cmds, 0);
	assert_int_equal(reply_bytes, 0);
	assert_int_equal(bad, 0);
	vsvm_stream_init(&s, &dummy, 0);
	assert_int_equal(vsvm_stream_next(&s, &r), 0);
}

/* The reply a host sizes with vsvm_reply_size() is what it will encode. */
static void test_reply_size_matches_encoded_success_reply(void **state)
{
	static struct vsvm_device_val devs[VSVM_MAX_DEVICES];
	static struct vsvm_event_val evs[VSVM_MAX_FAULT_BATCH];
	static const struct vsvm_attr_val attrs[VSVM_MAX_ATTRS] = {
		{ VSVM_ATTR_PREFERRED_LOC, 0, 0 },
		{ VSVM_ATTR_ACCESSED_BY, 0, 0 },
		{ VSVM_ATTR_READ_MOSTLY, 0, 0 },
		{ VSVM_ATTR_GRANULARITY, 0, 12 },
		{ VSVM_ATTR_DEVICE_ACCESS, 0, 0 },
	};
	static uint8_t buf[R_WAIT_SZ + VSVM_MAX_FAULT_BATCH * EVENT_SZ];
	uint16_t op;
	uint32_t i;

	(void)state;
	for (i = 0; i < VSVM_MAX_FAULT_BATCH; i++)
		evs[i] = sample_events[i % ARRAY_SIZE(sample_events)];
	for (op = 1; op < VSVM_CMD_NR; op++) {
		struct vsvm_request req = { .op = op };
		struct vsvm_response rsp = { .op = op };
		struct vsvm_writer w;
		uint32_t ndev = op == VSVM_CMD_QUERY ? VSVM_MAX_DEVICES : 2;

		req.u.wait.max_events = VSVM_MAX_FAULT_BATCH;
		if (op == VSVM_CMD_GET_ATTR)
			req.u.attr.nr_attrs = 5;
		switch (op) {
		case VSVM_CMD_INIT:
		case VSVM_CMD_QUERY:
			rsp.u.init.major = 1;
			rsp.u.init.va_bits = 48;
			rsp.u.init.num_devices = ndev;
			rsp.u.init.page_sizes = VSVM_PAGE_SIZE;
			rsp.u.init.devices = devs;
			break;
		case VSVM_CMD_EVENT_WAIT:
			rsp.u.wait.nr_events = VSVM_MAX_FAULT_BATCH;
			rsp.u.wait.events = evs;
			break;
		case VSVM_CMD_GET_ATTR:
			rsp.u.get_attr.nr_attrs = 5;
			rsp.u.get_attr.attrs = attrs;
			break;
		}
		vsvm_writer_init(&w, buf, sizeof(buf));
		assert_int_equal(vsvm_encode_response(&w, &rsp),
				 vsvm_reply_size(&req, ndev));
	}
}

/* ------------------------------------------------------------------ */
/* Byte-exact wire layout                                              */

static void assert_request_bytes(const struct vsvm_request *req,
				 const uint8_t *expect, uint32_t len)
{
	struct vsvm_request out;
	struct vsvm_writer w;
	uint8_t *buf = xmalloc(len);

	vsvm_writer_init(&w, buf, len);
	assert_int_equal(vsvm_encode_request(&w, req), len);
	assert_memory_equal(buf, expect, len);
	/* And the hand-written bytes decode on their own. */
	assert_int_equal(vsvm_decode_request(expect, len, &out), len);
	assert_int_equal(out.op, req->op);
	free(buf);
}

static void test_command_header_wire_bytes(void **state)
{
	static const uint8_t destroy[] = { 0x0b, 0x00, 0x00, 0x00,
					   0x08, 0x00, 0x00, 0x00 };
	static const uint8_t query[] = { 0x0c, 0x00, 0x00, 0x00,
					 0x08, 0x00, 0x00, 0x00 };
	struct vsvm_request d = { .op = VSVM_CMD_DESTROY };
	struct vsvm_request q = { .op = VSVM_CMD_QUERY };

	(void)state;
	assert_request_bytes(&d, destroy, sizeof(destroy));
	assert_request_bytes(&q, query, sizeof(query));
}

static void test_unmap_wire_bytes(void **state)
{
	static const uint8_t expect[] = {
		0x03, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00, /* hdr */
		0x00, 0x90, 0x78, 0x56, 0x34, 0x12, 0x00, 0x00, /* va */
		0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, /* len */
		0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, /* seq */
	};
	struct vsvm_request req = { .op = VSVM_CMD_UNMAP };

	(void)state;
	req.u.unmap.va = 0x123456789000ull;
	req.u.unmap.len = 0x200000;
	req.u.unmap.seq = 0x0102030405060708ull;
	assert_request_bytes(&req, expect, sizeof(expect));
}

static void test_init_wire_bytes(void **state)
{
	static const uint8_t expect[] = {
		0x01, 0x00, 0x00, 0x00, 0x18, 0x00, 0x00, 0x00, /* hdr */
		0x01, 0x00, 0x02, 0x00,				/* 1.2 */
		0x39, 0x00, 0x00, 0x00,				/* 57 */
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* flags, rsv */
	};
	struct vsvm_request req = { .op = VSVM_CMD_INIT };

	(void)state;
	req.u.init.major = 1;
	req.u.init.minor = 2;
	req.u.init.va_bits = 57;
	assert_request_bytes(&req, expect, sizeof(expect));
}

static void test_map_wire_bytes(void **state)
{
	static const uint8_t expect[] = {
		0x02, 0x00, 0x00, 0x00, 0x38, 0x00, 0x00, 0x00, /* hdr, 56 */
		0x00, 0x00, 0x00, 0x00, 0x00, 0x7f, 0x00, 0x00, /* va */
		0x00, 0x30, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* len */
		0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xa0, /* inval_seq */
		0x03, 0x00, 0x00, 0x00,				/* prot */
		0x01, 0x00, 0x00, 0x00,				/* nr_runs */
		0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, /* gpa */
		0x00, 0x30, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* len */
	};
	struct vsvm_run run = { 0x100000000ull, 0x3000 };
	struct vsvm_request req = { .op = VSVM_CMD_MAP };

	(void)state;
	req.u.map.va = 0x7f0000000000ull;
	req.u.map.len = 0x3000;
	req.u.map.inval_seq = 0xa000000000000005ull;
	req.u.map.prot = VSVM_PROT_READ | VSVM_PROT_WRITE;
	req.u.map.nr_runs = 1;
	req.u.map.runs = &run;
	assert_request_bytes(&req, expect, sizeof(expect));
}

static void test_launch_wire_bytes(void **state)
{
	uint8_t expect[88] = {
		0x0a, 0x00, 0x00, 0x00, 0x58, 0x00, 0x00, 0x00, /* hdr, 88 */
		0x01, 0x00, 0x00, 0x00,				/* FILL */
		0x02, 0x00, 0x00, 0x00,				/* device */
		0x00, 0x00, 0x00, 0x00,				/* flags */
		0x03, 0x00, 0x00, 0x00,				/* nr_args */
		0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* args[0] */
		0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* args[1] */
		0xef, 0xbe, 0xad, 0xde, 0x00, 0x00, 0x00, 0x00, /* args[2] */
		/* args[3..7] zero */
	};
	struct vsvm_request req = { .op = VSVM_CMD_LAUNCH };

	(void)state;
	req.u.launch.kernel = VSVM_KERNEL_FILL;
	req.u.launch.device = 2;
	req.u.launch.nr_args = 3;
	req.u.launch.args[0] = 0x1000;
	req.u.launch.args[1] = 0x400;
	req.u.launch.args[2] = 0xdeadbeef;
	assert_request_bytes(&req, expect, sizeof(expect));
}

static void test_reply_and_event_wire_bytes(void **state)
{
	static const uint8_t launch_err[] = {
		0x0a, 0x00, 0x11, 0x00, 0x28, 0x00, 0x00, 0x00, /* FAULT, 40 */
		0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* result */
		0x00, 0x30, 0x00, 0x00, 0x00, 0x7f, 0x00, 0x00, /* fault_va */
		0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* faults */
		0x00, 0xe1, 0xf5, 0x05, 0x00, 0x00, 0x00, 0x00, /* 1e8 ns */
	};
	static const uint8_t map_err[] = { 0x02, 0x00, 0x0f, 0x00,
					   0x08, 0x00, 0x00, 0x00 };
	static const uint8_t event[] = {
		0x01, 0x00, 0x00, 0x00, 0x44, 0x33, 0x22, 0x11, /* FAULT, id */
		0x00, 0x50, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* va */
		0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* len */
		0x02, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, /* dev, WRITE */
	};
	struct vsvm_response l = { .op = VSVM_CMD_LAUNCH,
				   .status = VSVM_ERR_FAULT };
	struct vsvm_response m = { .op = VSVM_CMD_MAP,
				   .status = VSVM_ERR_STALE };
	struct vsvm_event_val ev = { VSVM_EVENT_FAULT, 0x11223344, 0x5000,
				     0x1000, 2, VSVM_ACCESS_WRITE };
	uint8_t buf[64];
	struct vsvm_writer w;

	(void)state;
	l.u.launch.result = 1;
	l.u.launch.fault_va = 0x7f0000003000ull;
	l.u.launch.faults = 2;
	l.u.launch.elapsed_ns = 100000000;
	vsvm_writer_init(&w, buf, sizeof(buf));
	assert_int_equal(vsvm_encode_response(&w, &l), sizeof(launch_err));
	assert_memory_equal(buf, launch_err, sizeof(launch_err));

	vsvm_writer_init(&w, buf, sizeof(buf));
	assert_int_equal(vsvm_encode_response(&w, &m), sizeof(map_err));
	assert_memory_equal(buf, map_err, sizeof(map_err));

	vsvm_writer_init(&w, buf, sizeof(buf));
	assert_int_equal(vsvm_encode_event(&w, &ev), sizeof(event));
	assert_memory_equal(buf, event, sizeof(event));
}

static void test_capset_wire_bytes(void **state)
{
	static const uint8_t expect[64] = {
		0x56, 0x53, 0x56, 0x4d,	/* "VSVM" */
		0x01, 0x00, 0x02, 0x00,	/* 1.2 */
		0x40, 0x00, 0x00, 0x00,	/* size 64 */
		0x05, 0x00, 0x00, 0x00,	/* HUGE_2M | PEER_MIGRATION */
		0x04, 0x00, 0x00, 0x00,	/* num_devices */
		0x30, 0x00, 0x00, 0x00,	/* va_bits 48 */
		0x00, 0x10, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, /* 4K|2M */
		0x10, 0x00, 0x00, 0x00,	/* max_contexts 16 */
		0x00, 0x00, 0x01, 0x00,	/* max_submit_bytes 65536 */
		0x00, 0x01, 0x00, 0x00,	/* max_cmds 256 */
		0x40, 0x00, 0x00, 0x00,	/* max_fault_batch 64 */
		0x80, 0x00, 0x00, 0x00,	/* max_map_runs 128 */
		0x08, 0x00, 0x00, 0x00,	/* max_launches 8 */
		0x00, 0x10, 0x00, 0x00,	/* max_ranges 4096 */
		0x00, 0x00, 0x00, 0x00,	/* reserved */
	};
	uint8_t buf[64];
	struct vsvm_writer w;

	(void)state;
	vsvm_writer_init(&w, buf, sizeof(buf));
	assert_int_equal(vsvm_encode_capset(&w, &sample_caps), 64);
	assert_memory_equal(buf, expect, sizeof(expect));
}

/* ------------------------------------------------------------------ */
/* Alignment                                                           */

static void test_decode_from_misaligned_offsets(void **state)
{
	static struct vsvm_run runs[5];
	struct vsvm_request map = { .op = VSVM_CMD_MAP };
	struct vsvm_response wait = { .op = VSVM_CMD_EVENT_WAIT };
	uint32_t map_len = MAP_SZ + 5 * RUN_SZ;
	uint32_t wait_len = R_WAIT_SZ + 3 * EVENT_SZ;
	unsigned shift;

	(void)state;
	map.u.map.va = 0x300000;
	map.u.map.len = make_runs(runs, 5);
	map.u.map.prot = VSVM_PROT_READ;
	map.u.map.nr_runs = 5;
	map.u.map.runs = runs;
	wait.u.wait.nr_events = 3;
	wait.u.wait.events = sample_events;

	for (shift = 1; shift < 8; shift++) {
		uint32_t total = shift + map_len + wait_len + EVENT_SZ +
				 CAPSET_SZ;
		uint8_t *raw = xmalloc(total);
		uint8_t *p = raw + shift;	/* misaligned for any type */
		struct vsvm_request req;
		struct vsvm_response rsp;
		struct vsvm_event_val ev;
		struct vsvm_caps caps;
		struct vsvm_writer w;
		uint32_t i;

		vsvm_writer_init(&w, p, total - shift);
		assert_int_equal(vsvm_encode_request(&w, &map), map_len);
		assert_int_equal(vsvm_encode_response(&w, &wait), wait_len);
		assert_int_equal(vsvm_encode_event(&w, &sample_events[5]),
				 EVENT_SZ);
		assert_int_equal(vsvm_encode_capset(&w, &sample_caps),
				 CAPSET_SZ);
		assert_int_equal(w.off, total - shift);

		assert_int_equal(vsvm_decode_request(p, map_len, &req),
				 map_len);
		assert_int_equal(req.u.map.len, map.u.map.len);
		assert_runs(&req, runs, 5);
		p += map_len;
		assert_int_equal(vsvm_decode_response(p, wait_len, &rsp),
				 wait_len);
		for (i = 0; i < 3; i++) {
			vsvm_response_event(&rsp, i, &ev);
			assert_event_eq(&ev, &sample_events[i]);
		}
		p += wait_len;
		assert_int_equal(vsvm_decode_event(p, EVENT_SZ, &ev),
				 EVENT_SZ);
		assert_event_eq(&ev, &sample_events[5]);
		p += EVENT_SZ;
		assert_int_equal(vsvm_decode_capset(p, CAPSET_SZ, &caps),
				 CAPSET_SZ);
		assert_caps_eq(&caps, &sample_caps);
		free(raw);
	}
}

/* ------------------------------------------------------------------ */
/* Encoder refusals                                                    */

static void test_encoder_refuses_when_writer_full(void **state)
{
	struct vsvm_request u = { .op = VSVM_CMD_UNMAP };
	struct vsvm_response r = { .op = VSVM_CMD_MIGRATE };
	uint8_t buf[UNMAP_SZ + HDR_SZ];	/* room for one more header */
	uint8_t before[sizeof(buf)];
	struct vsvm_writer w;
	struct vsvm_caps c;
	uint32_t cap;

	(void)state;
	u.u.unmap.va = 0x1000;
	u.u.unmap.len = 0x1000;
	u.u.unmap.seq = 1;

	/* Every capacity short of the command: refused, nothing written. */
	for (cap = 0; cap < UNMAP_SZ; cap++) {
		memset(buf, 0xcc, sizeof(buf));
		vsvm_writer_init(&w, buf, cap);
		assert_int_equal(vsvm_encode_request(&w, &u),
				 -VSVM_ERR_LENGTH);
		assert_int_equal(w.off, 0);
		assert_int_equal(buf[0], 0xcc);
	}

	/* The second command does not fit behind the first. */
	memset(buf, 0xcc, sizeof(buf));
	vsvm_writer_init(&w, buf, sizeof(buf));
	assert_int_equal(vsvm_encode_request(&w, &u), UNMAP_SZ);
	memcpy(before, buf, sizeof(buf));
	assert_int_equal(vsvm_encode_request(&w, &u), -VSVM_ERR_LENGTH);
	assert_int_equal(w.off, UNMAP_SZ);
	assert_memory_equal(buf, before, sizeof(buf));
	assert_int_equal(vsvm_encode_response(&w, &r), -VSVM_ERR_LENGTH);
	assert_int_equal(w.off, UNMAP_SZ);
	assert_int_equal(vsvm_encode_event(&w, &sample_events[0]),
			 -VSVM_ERR_LENGTH);
	assert_int_equal(w.off, UNMAP_SZ);
	assert_memory_equal(buf, before, sizeof(buf));
	/* But a reply that fits exactly still goes in. */
	r.op = VSVM_CMD_UNMAP;
	assert_int_equal(vsvm_encode_response(&w, &r), HDR_SZ);
	assert_int_equal(w.off, UNMAP_SZ + HDR_SZ);

	c = sample_caps;
	vsvm_writer_init(&w, buf, CAPSET_SZ - 1);
	assert_int_equal(vsvm_encode_capset(&w, &c), -VSVM_ERR_LENGTH);
	assert_int_equal(w.off, 0);
}

static void test_encoder_fills_writer_exactly(void **state)
{
	struct vsvm_request d = { .op = VSVM_CMD_DESTROY };
	uint8_t buf[3 * HDR_SZ];
	struct vsvm_writer w;

	(void)state;
	vsvm_writer_init(&w, buf, sizeof(buf));
	assert_int_equal(vsvm_encode_request(&w, &d), HDR_SZ);
	assert_int_equal(vsvm_encode_request(&w, &d), HDR_SZ);
	assert_int_equal(vsvm_encode_request(&w, &d), HDR_SZ);
	assert_int_equal(w.off, sizeof(buf));
	assert_int_equal(vsvm_encode_request(&w, &d), -VSVM_ERR_LENGTH);
	assert_int_equal(w.off, sizeof(buf));
}

struct bad_request {
	const char *name;
	struct vsvm_request req;
	int expect;
};

static void test_encoder_refuses_invalid_commands(void **state)
{
	static const struct vsvm_run run = { 0x1000, 0x1000 };
	static const struct vsvm_attr_val dup[] = {
		{ VSVM_ATTR_READ_MOSTLY, 0, 1 },
		{ VSVM_ATTR_READ_MOSTLY, 0, 0 } };
	static const struct vsvm_attr_val flagged = { VSVM_ATTR_READ_MOSTLY,
						      1, 0 };
	static const struct vsvm_resolution badres = { 1, VSVM_STATUS_NR };
	static const struct bad_request cases[] = {
		{ "op 0", { .op = 0 }, -VSVM_ERR_OPCODE },
		{ "op NR", { .op = VSVM_CMD_NR }, -VSVM_ERR_OPCODE },
		{ "op 0xffff", { .op = 0xffff }, -VSVM_ERR_OPCODE },
		{ "init major 0", { .op = VSVM_CMD_INIT }, -VSVM_ERR_VALUE },
		{ "map nr_runs 0",
		  { .op = VSVM_CMD_MAP,
		    .u.map = { 0x1000, 0x1000, 0, VSVM_PROT_READ, 0, &run,
			       NULL } },
		  -VSVM_ERR_COUNT },
		{ "map nr_runs 513",
		  { .op = VSVM_CMD_MAP,
		    .u.map = { 0x1000, 0x1000, 0, VSVM_PROT_READ, 513, &run,
			       NULL } },
		  -VSVM_ERR_COUNT },
		{ "map prot 0",
		  { .op = VSVM_CMD_MAP,
		    .u.map = { 0x1000, 0x1000, 0, 0, 1, &run, NULL } },
		  -VSVM_ERR_VALUE },
		{ "map runs short of len",
		  { .op = VSVM_CMD_MAP,
		    .u.map = { 0x1000, 0x2000, 0, VSVM_PROT_READ, 1, &run,
			       NULL } },
		  -VSVM_ERR_COUNT },
		{ "unmap len 0",
		  { .op = VSVM_CMD_UNMAP, .u.unmap = { 0x1000, 0, 1 } },
		  -VSVM_ERR_RANGE },
		{ "unmap va unaligned",
		  { .op = VSVM_CMD_UNMAP, .u.unmap = { 0x1008, 0x1000, 1 } },
		  -VSVM_ERR_ALIGN },
		{ "unmap seq 0",
		  { .op = VSVM_CMD_UNMAP, .u.unmap = { 0x1000, 0x1000, 0 } },
		  -VSVM_ERR_VALUE },
		{ "wait max_events 0", { .op = VSVM_CMD_EVENT_WAIT },
		  -VSVM_ERR_COUNT },
		{ "wait unknown flag",
		  { .op = VSVM_CMD_EVENT_WAIT, .u.wait = { 1, 2 } },
		  -VSVM_ERR_RESERVED },
		{ "fault_reply nr 0", { .op = VSVM_CMD_FAULT_REPLY },
		  -VSVM_ERR_COUNT },
		{ "fault_reply nr 257",
		  { .op = VSVM_CMD_FAULT_REPLY,
		    .u.fault_reply = { 257, &badres, NULL } },
		  -VSVM_ERR_COUNT },
		{ "fault_reply bad status",
		  { .op = VSVM_CMD_FAULT_REPLY,
		    .u.fault_reply = { 1, &badres, NULL } },
		  -VSVM_ERR_VALUE },
		{ "set_attr nr 9",
		  { .op = VSVM_CMD_SET_ATTR,
		    .u.attr = { 0x1000, 0x1000, 9, dup, NULL } },
		  -VSVM_ERR_COUNT },
		{ "set_attr duplicate",
		  { .op = VSVM_CMD_SET_ATTR,
		    .u.attr = { 0x1000, 0x1000, 2, dup, NULL } },
		  -VSVM_ERR_VALUE },
		{ "set_attr flags",
		  { .op = VSVM_CMD_SET_ATTR,
		    .u.attr = { 0x1000, 0x1000, 1, &flagged, NULL } },
		  -VSVM_ERR_RESERVED },
		{ "get_attr value",
		  { .op = VSVM_CMD_GET_ATTR,
		    .u.attr = { 0x1000, 0x1000, 1, dup, NULL } },
		  -VSVM_ERR_RESERVED },
		{ "prefetch UNSET",
		  { .op = VSVM_CMD_PREFETCH,
		    .u.prefetch = { 0x1000, 0x1000, VSVM_LOC_UNSET, 0 } },
		  -VSVM_ERR_VALUE },
		{ "migrate to system without runs",
		  { .op = VSVM_CMD_MIGRATE,
		    .u.migrate = { 0x1000, 0x1000, VSVM_LOC_SYSTEM, 0, 0,
				   NULL, NULL } },
		  -VSVM_ERR_COUNT },
		{ "migrate nr_runs 513",
		  { .op = VSVM_CMD_MIGRATE,
		    .u.migrate = { 0x1000, 0x1000, 0, 0, 513, &run, NULL } },
		  -VSVM_ERR_COUNT },
		{ "launch kernel 0", { .op = VSVM_CMD_LAUNCH },
		  -VSVM_ERR_VALUE },
		{ "launch wrong nr_args",
		  { .op = VSVM_CMD_LAUNCH,
		    .u.launch = { VSVM_KERNEL_FILL, 0, 2, { 0 } } },
		  -VSVM_ERR_COUNT },
		{ "launch nr_args 9",
		  { .op = VSVM_CMD_LAUNCH,
		    .u.launch = { VSVM_KERNEL_FILL, 0, 9, { 0 } } },
		  -VSVM_ERR_COUNT },
		{ "launch arg past nr_args",
		  { .op = VSVM_CMD_LAUNCH,
		    .u.launch = { VSVM_KERNEL_CHASE, 0, 2,
				  { 1, 2, 3, 0, 0, 0, 0, 0 } } },
		  -VSVM_ERR_RESERVED },
	};
	static uint8_t buf[2048];
	size_t i;
	int failed = 0;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct vsvm_writer w;
		int ret;

		vsvm_writer_init(&w, buf, sizeof(buf));
		w.off = 8;	/* something already in the stream */
		ret = vsvm_encode_request(&w, &cases[i].req);
		if (ret != cases[i].expect || w.off != 8) {
			fprintf(stderr, "encoder row '%s': got %d (%s), off %u;"
				" want %d (%s)\n", cases[i].name, ret,
				vsvm_status_name((uint32_t)-ret), w.off,
				cases[i].expect,
				vsvm_status_name((uint32_t)-cases[i].expect));
			failed++;
		}
	}
	assert_int_equal(failed, 0);
}

static void test_encoder_refuses_invalid_replies_events_capsets(void **state)
{
	static const struct vsvm_attr_val bad_attr = { VSVM_ATTR_GRANULARITY,
						       0, 31 };
	static const struct vsvm_event_val bad_ev = { VSVM_EVENT_FAULT, 1,
						      0x1000, 0x2000, 0, 1 };
	struct vsvm_response r;
	struct vsvm_event_val ev;
	struct vsvm_caps c;
	struct vsvm_writer w;
	uint8_t buf[512];

	(void)state;
	vsvm_writer_init(&w, buf, sizeof(buf));

	memset(&r, 0, sizeof(r));
	assert_int_equal(vsvm_encode_response(&w, &r), -VSVM_ERR_OPCODE);
	r.op = VSVM_CMD_NR;
	assert_int_equal(vsvm_encode_response(&w, &r), -VSVM_ERR_OPCODE);
	r.op = VSVM_CMD_MAP;
	r.status = VSVM_STATUS_NR;
	assert_int_equal(vsvm_encode_response(&w, &r), -VSVM_ERR_VALUE);
	r.op = VSVM_CMD_INIT;
	r.status = VSVM_OK;
	r.u.init.va_bits = 48;
	r.u.init.num_devices = 0;
	assert_int_equal(vsvm_encode_response(&w, &r), -VSVM_ERR_COUNT);
	r.u.init.num_devices = VSVM_MAX_DEVICES + 1;
	assert_int_equal(vsvm_encode_response(&w, &r), -VSVM_ERR_COUNT);
	memset(&r, 0, sizeof(r));
	r.op = VSVM_CMD_EVENT_WAIT;
	r.u.wait.nr_events = VSVM_MAX_FAULT_BATCH + 1;
	assert_int_equal(vsvm_encode_response(&w, &r), -VSVM_ERR_COUNT);
	r.u.wait.nr_events = 1;
	r.u.wait.events = &bad_ev;
	assert_int_equal(vsvm_encode_response(&w, &r), -VSVM_ERR_RANGE);
	memset(&r, 0, sizeof(r));
	r.op = VSVM_CMD_GET_ATTR;
	assert_int_equal(vsvm_encode_response(&w, &r), -VSVM_ERR_COUNT);
	r.u.get_attr.nr_attrs = VSVM_MAX_ATTRS + 1;
	assert_int_equal(vsvm_encode_response(&w, &r), -VSVM_ERR_COUNT);
	r.u.get_attr.nr_attrs = 1;
	r.u.get_attr.attrs = &bad_attr;
	assert_int_equal(vsvm_encode_response(&w, &r), -VSVM_ERR_VALUE);
	assert_int_equal(w.off, 0);

	ev = sample_events[0];
	ev.type = 0;
	assert_int_equal(vsvm_encode_event(&w, &ev), -VSVM_ERR_VALUE);
	ev = sample_events[0];
	ev.arg = 4;
	assert_int_equal(vsvm_encode_event(&w, &ev), -VSVM_ERR_VALUE);
	assert_int_equal(vsvm_encode_event(&w, &bad_ev), -VSVM_ERR_RANGE);
	assert_int_equal(w.off, 0);

	c = sample_caps;
	c.major = 0;
	assert_int_equal(vsvm_encode_capset(&w, &c), -VSVM_ERR_VERSION);
	c = sample_caps;
	c.num_devices = 0;
	assert_int_equal(vsvm_encode_capset(&w, &c), -VSVM_ERR_COUNT);
	c = sample_caps;
	c.page_sizes = 1ull << 21;
	assert_int_equal(vsvm_encode_capset(&w, &c), -VSVM_ERR_VALUE);
	c = sample_caps;
	c.features = 1u << 3;
	assert_int_equal(vsvm_encode_capset(&w, &c), -VSVM_ERR_RESERVED);
	assert_int_equal(w.off, 0);
}

/* ------------------------------------------------------------------ */
/* Names and helpers                                                   */

static void test_names_and_parking_ops(void **state)
{
	uint32_t i;

	(void)state;
	assert_string_equal(vsvm_op_name(VSVM_CMD_MAP), "MAP");
	assert_string_equal(vsvm_op_name(VSVM_CMD_QUERY), "QUERY");
	assert_string_equal(vsvm_op_name(0), "UNKNOWN");
	assert_string_equal(vsvm_op_name(VSVM_CMD_NR), "UNKNOWN");
	assert_string_equal(vsvm_status_name(VSVM_OK), "OK");
	assert_string_equal(vsvm_status_name(VSVM_ERR_DEVICE_LOST),
			    "ERR_DEVICE_LOST");
	assert_string_equal(vsvm_status_name(VSVM_STATUS_NR), "UNKNOWN");
	assert_string_equal(vsvm_kernel_name(VSVM_KERNEL_TRIAD), "triad");
	assert_string_equal(vsvm_kernel_name(0), "unknown");
	assert_string_equal(vsvm_kernel_name(VSVM_KERNEL_NR), "unknown");
	for (i = 0; i < VSVM_STATUS_NR; i++)
		assert_non_null(vsvm_status_name(i));
	for (i = 0; i <= VSVM_CMD_NR; i++)
		assert_int_equal(vsvm_op_parks(i) != 0,
				 i == VSVM_CMD_EVENT_WAIT ||
				 i == VSVM_CMD_LAUNCH);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_fields_survive),
		cmocka_unit_test(test_map_one_run_fields_survive),
		cmocka_unit_test(test_map_many_runs_fields_survive),
		cmocka_unit_test(test_map_max_runs_fields_survive),
		cmocka_unit_test(test_map_every_valid_prot_survives),
		cmocka_unit_test(test_map_range_ending_at_va_limit_survives),
		cmocka_unit_test(test_unmap_fields_survive),
		cmocka_unit_test(test_event_wait_fields_survive),
		cmocka_unit_test(test_fault_reply_one_resolution_survives),
		cmocka_unit_test(test_fault_reply_max_batch_survives),
		cmocka_unit_test(test_set_attr_all_five_types_survive),
		cmocka_unit_test(test_set_attr_boundary_values_survive),
		cmocka_unit_test(test_get_attr_fields_survive),
		cmocka_unit_test(test_prefetch_sync_and_async_survive),
		cmocka_unit_test(test_migrate_to_device_with_runs_survives),
		cmocka_unit_test(
			test_migrate_device_to_device_without_runs_survives),
		cmocka_unit_test(test_migrate_to_system_with_runs_survives),
		cmocka_unit_test(
			test_launch_every_kernel_with_its_arg_count_survives),
		cmocka_unit_test(test_kernel_arg_counts_are_the_documented_ones),
		cmocka_unit_test(test_destroy_and_query_are_header_only),
		cmocka_unit_test(
			test_init_and_query_replies_with_devices_survive),
		cmocka_unit_test(
			test_event_wait_reply_with_events_of_every_type_survives),
		cmocka_unit_test(test_fault_reply_reply_survives),
		cmocka_unit_test(test_get_attr_reply_with_mixed_flag_survives),
		cmocka_unit_test(test_prefetch_reply_survives),
		cmocka_unit_test(test_migrate_reply_survives),
		cmocka_unit_test(test_launch_reply_survives),
		cmocka_unit_test(test_bodiless_ok_replies_are_header_only),
		cmocka_unit_test(test_error_replies_are_header_only),
		cmocka_unit_test(test_launch_error_reply_keeps_its_body),
		cmocka_unit_test(test_events_of_every_type_survive),
		cmocka_unit_test(test_capset_fields_survive),
		cmocka_unit_test(test_capset_larger_than_struct_is_accepted),
		cmocka_unit_test(test_stream_of_commands_iterates_and_validates),
		cmocka_unit_test(test_stream_ending_in_launch_validates),
		cmocka_unit_test(test_empty_stream_is_valid),
		cmocka_unit_test(test_reply_size_matches_encoded_success_reply),
		cmocka_unit_test(test_command_header_wire_bytes),
		cmocka_unit_test(test_unmap_wire_bytes),
		cmocka_unit_test(test_init_wire_bytes),
		cmocka_unit_test(test_map_wire_bytes),
		cmocka_unit_test(test_launch_wire_bytes),
		cmocka_unit_test(test_reply_and_event_wire_bytes),
		cmocka_unit_test(test_capset_wire_bytes),
		cmocka_unit_test(test_decode_from_misaligned_offsets),
		cmocka_unit_test(test_encoder_refuses_when_writer_full),
		cmocka_unit_test(test_encoder_fills_writer_exactly),
		cmocka_unit_test(test_encoder_refuses_invalid_commands),
		cmocka_unit_test(
			test_encoder_refuses_invalid_replies_events_capsets),
		cmocka_unit_test(test_names_and_parking_ops),
	};

	return cmocka_run_group_tests_name("codec_roundtrip", tests, NULL,
					   NULL);
}
