// SPDX-License-Identifier: MIT
/*
 * codec_malformed.c - table-driven checks that every malformed command,
 * stream, reply, event and capset is refused with the right status.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * Each row starts from a valid message written with raw little-endian
 * stores (never through the encoder, which refuses bad input), corrupts it
 * with up to three field patches and/or changes the bytes available, and
 * names the negated enum vsvm_status the decoder must return.  The runner
 * first checks that the unpatched base decodes, so each row tests exactly
 * its own corruption.  Bytes are handed to the decoder in a heap buffer of
 * exactly `avail` bytes, so ASan catches any read beyond what it was given.
 *
 * Expected codes follow the codec's documented check order: header (op,
 * flags, length), element count, exact length, then fields in wire order
 * with the first failure returned.  Rows with two corruptions pin that
 * order.  Rows with expect 0 are positive controls at the boundaries.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "vsvm/vsvm_codec.h"
#include "vsvm_test_le.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Big enough for a stream one command past VSVM_MAX_SUBMIT_BYTES. */
#define SCRATCH_SZ (VSVM_MAX_SUBMIT_BYTES + 16384)
static uint8_t scratch[SCRATCH_SZ];

/* ------------------------------------------------------------------ */
/* Field offsets                                                       */

#define H_OP		0u
#define H_FLAGS		2u
#define H_LEN		4u
#define R_STATUS	2u

#define INIT(f)		WOFF(vsvm_cmd_init, f)
#define MAP(f)		WOFF(vsvm_cmd_map, f)
#define MAP_RUN(i, f)	(WSZ(vsvm_cmd_map) + (i) * WSZ(vsvm_gpa_run) + \
			 WOFF(vsvm_gpa_run, f))
#define UNMAP(f)	WOFF(vsvm_cmd_unmap, f)
#define WAIT(f)		WOFF(vsvm_cmd_event_wait, f)
#define FR(f)		WOFF(vsvm_cmd_fault_reply, f)
#define FR_RES(i, f)	(WSZ(vsvm_cmd_fault_reply) + \
			 (i) * WSZ(vsvm_fault_resolution) + \
			 WOFF(vsvm_fault_resolution, f))
#define ATTR(f)		WOFF(vsvm_cmd_attr, f)
#define ATTR_EL(i, f)	(WSZ(vsvm_cmd_attr) + (i) * WSZ(vsvm_attr) + \
			 WOFF(vsvm_attr, f))
#define PF(f)		WOFF(vsvm_cmd_prefetch, f)
#define MIG(f)		WOFF(vsvm_cmd_migrate, f)
#define MIG_RUN(i, f)	(WSZ(vsvm_cmd_migrate) + (i) * WSZ(vsvm_gpa_run) + \
			 WOFF(vsvm_gpa_run, f))
#define LAUNCH(f)	WOFF(vsvm_cmd_launch, f)
#define ARG(i)		(WOFF(vsvm_cmd_launch, args) + 8u * (i))

#define RINIT(f)	WOFF(vsvm_reply_init, f)
#define RDEV(i, f)	(WSZ(vsvm_reply_init) + (i) * WSZ(vsvm_device_info) + \
			 WOFF(vsvm_device_info, f))
#define RWAIT(f)	WOFF(vsvm_reply_event_wait, f)
#define REV(i, f)	(WSZ(vsvm_reply_event_wait) + (i) * WSZ(vsvm_event) + \
			 WOFF(vsvm_event, f))
#define RGA(f)		WOFF(vsvm_reply_get_attr, f)
#define RGA_EL(i, f)	(WSZ(vsvm_reply_get_attr) + (i) * WSZ(vsvm_attr) + \
			 WOFF(vsvm_attr, f))
#define RPF(f)		WOFF(vsvm_reply_prefetch, f)
#define EV(f)		WOFF(vsvm_event, f)
#define CAP(f)		WOFF(vsvm_capset, f)

#define VA_LIMIT	(1ull << VSVM_VA_BITS_MAX)

/* ------------------------------------------------------------------ */
/* Raw builders of valid messages (b is zeroed by the caller)          */

static uint32_t put_hdr(uint8_t *b, uint16_t op, uint32_t len)
{
	le_put16(b + H_OP, op);
	le_put16(b + H_FLAGS, 0);
	le_put32(b + H_LEN, len);
	return len;
}

static uint32_t put_rhdr(uint8_t *b, uint16_t op, uint16_t status,
			 uint32_t len)
{
	le_put16(b + H_OP, op);
	le_put16(b + R_STATUS, status);
	le_put32(b + H_LEN, len);
	return len;
}

static void put_run(uint8_t *e, uint64_t gpa, uint64_t len)
{
	le_put64(e + WOFF(vsvm_gpa_run, gpa), gpa);
	le_put64(e + WOFF(vsvm_gpa_run, len), len);
}

static void put_attr(uint8_t *e, uint32_t type, uint32_t flags,
		     uint64_t value)
{
	le_put32(e + WOFF(vsvm_attr, type), type);
	le_put32(e + WOFF(vsvm_attr, flags), flags);
	le_put64(e + WOFF(vsvm_attr, value), value);
}

static void put_event(uint8_t *e, uint16_t type, uint32_t id, uint64_t va,
		      uint64_t len, uint32_t device, uint32_t arg)
{
	le_put16(e + EV(type), type);
	le_put16(e + EV(flags), 0);
	le_put32(e + EV(id), id);
	le_put64(e + EV(va), va);
	le_put64(e + EV(len), len);
	le_put32(e + EV(device), device);
	le_put32(e + EV(arg), arg);
}

static uint32_t b_init(uint8_t *b)
{
	le_put16(b + INIT(major), 1);
	le_put16(b + INIT(minor), 0);
	le_put32(b + INIT(va_bits), 48);
	return put_hdr(b, VSVM_CMD_INIT, WSZ(vsvm_cmd_init));
}

/* MAP of n 4 KiB runs at 0x100000. */
static uint32_t map_n(uint8_t *b, uint32_t n)
{
	uint32_t i;

	le_put64(b + MAP(va), 0x100000);
	le_put64(b + MAP(len), (uint64_t)n * VSVM_PAGE_SIZE);
	le_put64(b + MAP(inval_seq), 9);
	le_put32(b + MAP(prot), VSVM_PROT_READ);
	le_put32(b + MAP(nr_runs), n);
	for (i = 0; i < n; i++)
		put_run(b + MAP_RUN(i, gpa), 0x40000000ull + 0x2000ull * i,
			VSVM_PAGE_SIZE);
	return put_hdr(b, VSVM_CMD_MAP,
		       WSZ(vsvm_cmd_map) + n * WSZ(vsvm_gpa_run));
}

static uint32_t b_map1(uint8_t *b)
{
	le_put64(b + MAP(va), 0x10000);
	le_put64(b + MAP(len), 0x3000);
	le_put64(b + MAP(inval_seq), 1);
	le_put32(b + MAP(prot), VSVM_PROT_READ | VSVM_PROT_WRITE);
	le_put32(b + MAP(nr_runs), 1);
	put_run(b + MAP_RUN(0, gpa), 0x200000, 0x3000);
	return put_hdr(b, VSVM_CMD_MAP, 56);
}

/* Runs of 0x1000, 0x1000 and 0x2000 bytes: len 0x4000. */
static uint32_t b_map3(uint8_t *b)
{
	le_put64(b + MAP(va), 0x100000);
	le_put64(b + MAP(len), 0x4000);
	le_put64(b + MAP(inval_seq), 2);
	le_put32(b + MAP(prot), VSVM_PROT_ALL);
	le_put32(b + MAP(nr_runs), 3);
	put_run(b + MAP_RUN(0, gpa), 0x1000, 0x1000);
	put_run(b + MAP_RUN(1, gpa), 0x5000, 0x1000);
	put_run(b + MAP_RUN(2, gpa), 0x9000, 0x2000);
	return put_hdr(b, VSVM_CMD_MAP, 88);
}

static uint32_t b_map512(uint8_t *b)
{
	return map_n(b, VSVM_MAX_MAP_RUNS);
}

/* Not valid: only used with a patch that makes the count field lie. */
static uint32_t b_map513(uint8_t *b)
{
	return map_n(b, VSVM_MAX_MAP_RUNS + 1);
}

static uint32_t b_unmap(uint8_t *b)
{
	le_put64(b + UNMAP(va), 0x40000000);
	le_put64(b + UNMAP(len), 0x200000);
	le_put64(b + UNMAP(seq), 7);
	return put_hdr(b, VSVM_CMD_UNMAP, WSZ(vsvm_cmd_unmap));
}

static uint32_t b_wait(uint8_t *b)
{
	le_put32(b + WAIT(max_events), 16);
	le_put32(b + WAIT(flags), 0);
	return put_hdr(b, VSVM_CMD_EVENT_WAIT, WSZ(vsvm_cmd_event_wait));
}

static uint32_t fault_reply_n(uint8_t *b, uint32_t n)
{
	uint32_t i;

	le_put32(b + FR(nr), n);
	for (i = 0; i < n; i++) {
		le_put32(b + FR_RES(i, id), 100 + i);
		le_put32(b + FR_RES(i, status),
			 i % 2 ? VSVM_ERR_FAULT : VSVM_OK);
	}
	return put_hdr(b, VSVM_CMD_FAULT_REPLY,
		       WSZ(vsvm_cmd_fault_reply) +
			       n * WSZ(vsvm_fault_resolution));
}

static uint32_t b_freply2(uint8_t *b)
{
	return fault_reply_n(b, 2);
}

static uint32_t b_freply256(uint8_t *b)
{
	return fault_reply_n(b, VSVM_MAX_FAULT_BATCH);
}

static uint32_t b_freply257(uint8_t *b)
{
	return fault_reply_n(b, VSVM_MAX_FAULT_BATCH + 1);
}

/* SET_ATTR of all five types, in type order, with valid values. */
static uint32_t b_set5(uint8_t *b)
{
	le_put64(b + ATTR(va), 0x200000);
	le_put64(b + ATTR(len), 0x200000);
	le_put32(b + ATTR(nr_attrs), 5);
	put_attr(b + ATTR_EL(0, type), VSVM_ATTR_PREFERRED_LOC, 0, 2);
	put_attr(b + ATTR_EL(1, type), VSVM_ATTR_ACCESSED_BY, 0, 0x5);
	put_attr(b + ATTR_EL(2, type), VSVM_ATTR_READ_MOSTLY, 0, 1);
	put_attr(b + ATTR_EL(3, type), VSVM_ATTR_GRANULARITY, 0, 21);
	put_attr(b + ATTR_EL(4, type), VSVM_ATTR_DEVICE_ACCESS, 0,
		 VSVM_DEVICE_ACCESS_RO);
	return put_hdr(b, VSVM_CMD_SET_ATTR, 32 + 5 * 16);
}

/* SET_ATTR of one attribute (patch its type and value). */
static uint32_t b_set1(uint8_t *b)
{
	le_put64(b + ATTR(va), 0x200000);
	le_put64(b + ATTR(len), 0x1000);
	le_put32(b + ATTR(nr_attrs), 1);
	put_attr(b + ATTR_EL(0, type), VSVM_ATTR_ACCESSED_BY, 0, 1);
	return put_hdr(b, VSVM_CMD_SET_ATTR, 32 + 16);
}

/* Nine attributes: one over VSVM_MAX_ATTRS, length consistent. */
static uint32_t b_set9(uint8_t *b)
{
	uint32_t i;

	b_set5(b);
	for (i = 5; i < 9; i++)
		put_attr(b + ATTR_EL(i, type), VSVM_ATTR_ACCESSED_BY, 0, i);
	le_put32(b + ATTR(nr_attrs), 9);
	return put_hdr(b, VSVM_CMD_SET_ATTR, 32 + 9 * 16);
}

static uint32_t b_get2(uint8_t *b)
{
	le_put64(b + ATTR(va), 0x7f0000000000ull);
	le_put64(b + ATTR(len), 0x10000);
	le_put32(b + ATTR(nr_attrs), 2);
	put_attr(b + ATTR_EL(0, type), VSVM_ATTR_PREFERRED_LOC, 0, 0);
	put_attr(b + ATTR_EL(1, type), VSVM_ATTR_GRANULARITY, 0, 0);
	return put_hdr(b, VSVM_CMD_GET_ATTR, 32 + 2 * 16);
}

static uint32_t b_prefetch(uint8_t *b)
{
	le_put64(b + PF(va), 0x10000);
	le_put64(b + PF(len), 0x10000);
	le_put32(b + PF(location), 1);
	le_put32(b + PF(flags), 0);
	return put_hdr(b, VSVM_CMD_PREFETCH, WSZ(vsvm_cmd_prefetch));
}

/* To device 2, two runs of 0x1000 and 0x2000. */
static uint32_t b_mig_dev(uint8_t *b)
{
	le_put64(b + MIG(va), 0x200000);
	le_put64(b + MIG(len), 0x3000);
	le_put32(b + MIG(location), 2);
	le_put32(b + MIG(request_id), 5);
	le_put32(b + MIG(nr_runs), 2);
	put_run(b + MIG_RUN(0, gpa), 0x10000, 0x1000);
	put_run(b + MIG_RUN(1, gpa), 0x30000, 0x2000);
	return put_hdr(b, VSVM_CMD_MIGRATE, 40 + 2 * 16);
}

static uint32_t b_mig_sys(uint8_t *b)
{
	le_put64(b + MIG(va), 0x200000);
	le_put64(b + MIG(len), 0x3000);
	le_put32(b + MIG(location), VSVM_LOC_SYSTEM);
	le_put32(b + MIG(nr_runs), 1);
	put_run(b + MIG_RUN(0, gpa), 0x80000, 0x3000);
	return put_hdr(b, VSVM_CMD_MIGRATE, 40 + 16);
}

/* Device to device: no runs. */
static uint32_t b_mig_d2d(uint8_t *b)
{
	le_put64(b + MIG(va), 0x200000);
	le_put64(b + MIG(len), 0x200000);
	le_put32(b + MIG(location), 3);
	le_put32(b + MIG(nr_runs), 0);
	return put_hdr(b, VSVM_CMD_MIGRATE, 40);
}

static uint32_t b_launch_fill(uint8_t *b)
{
	le_put32(b + LAUNCH(kernel), VSVM_KERNEL_FILL);
	le_put32(b + LAUNCH(device), 0);
	le_put32(b + LAUNCH(nr_args), 3);
	le_put64(b + ARG(0), 0x10000);
	le_put64(b + ARG(1), 0x400);
	le_put64(b + ARG(2), 0x5a);
	return put_hdr(b, VSVM_CMD_LAUNCH, WSZ(vsvm_cmd_launch));
}

static uint32_t b_launch_chase(uint8_t *b)
{
	le_put32(b + LAUNCH(kernel), VSVM_KERNEL_CHASE);
	le_put32(b + LAUNCH(device), 7);
	le_put32(b + LAUNCH(nr_args), 2);
	le_put64(b + ARG(0), 0x20000);
	le_put64(b + ARG(1), 1000);
	return put_hdr(b, VSVM_CMD_LAUNCH, WSZ(vsvm_cmd_launch));
}

static uint32_t b_destroy(uint8_t *b)
{
	return put_hdr(b, VSVM_CMD_DESTROY, 8);
}

static uint32_t b_query(uint8_t *b)
{
	return put_hdr(b, VSVM_CMD_QUERY, 8);
}

/* ------------------------------------------------------------------ */
/* Patches and the row runner                                          */

struct patch {
	uint32_t off;
	uint32_t width;	/* 0 ends the list */
	uint64_t val;
};

#define P8(o, v)	{ (o), 1, (v) }
#define P16(o, v)	{ (o), 2, (v) }
#define P32(o, v)	{ (o), 4, (v) }
#define P64(o, v)	{ (o), 8, (v) }
#define NOPATCH		{ { 0, 0, 0 } }

typedef uint32_t (*builder_fn)(uint8_t *b);

struct row {
	const char *name;
	builder_fn build;
	struct patch p[3];
	int32_t trunc;	/* avail = built length - trunc; < 0 appends zeros */
	int expect;	/* negated status, or 0: must decode */
};

enum kind { K_REQ, K_RSP, K_EVENT, K_CAPSET };

static int decode_kind(enum kind k, const uint8_t *buf, uint32_t avail)
{
	struct vsvm_request req;
	struct vsvm_response rsp;
	struct vsvm_event_val ev;
	struct vsvm_caps caps;

	switch (k) {
	case K_REQ:
		return vsvm_decode_request(buf, avail, &req);
	case K_RSP:
		return vsvm_decode_response(buf, avail, &rsp);
	case K_EVENT:
		return vsvm_decode_event(buf, avail, &ev);
	case K_CAPSET:
		return vsvm_decode_capset(buf, avail, &caps);
	}
	return 1;
}

static const char *status_str(int ret)
{
	return ret > 0 ? "length" : vsvm_status_name((uint32_t)-ret);
}

/*
 * Build, validate the base, patch, decode from an exact-size copy.
 * Returns 1 if the row holds; prints and returns 0 if not.
 */
static int run_row(enum kind k, const struct row *r)
{
	uint32_t len, avail, i;
	uint8_t *buf;
	int ret, ok = 1;

	memset(scratch, 0, SCRATCH_SZ);
	len = r->build(scratch);
	ret = decode_kind(k, scratch, len);
	/* b_map513 and b_freply257/b_set9 are malformed by construction. */
	if (ret != (int)len && r->build != b_map513 &&
	    r->build != b_freply257 && r->build != b_set9) {
		fprintf(stderr, "  row '%s': base does not decode (%d %s)\n",
			r->name, ret, status_str(ret));
		return 0;
	}
	for (i = 0; i < ARRAY_SIZE(r->p) && r->p[i].width; i++)
		le_put(scratch + r->p[i].off, r->p[i].width, r->p[i].val);
	avail = (uint32_t)((int64_t)len - r->trunc);
	assert_true(avail < SCRATCH_SZ);

	buf = malloc(avail ? avail : 1);
	assert_non_null(buf);
	memcpy(buf, scratch, avail);
	ret = decode_kind(k, buf, avail);
	if (r->expect == 0 ? ret <= 0 : ret != r->expect) {
		fprintf(stderr, "  row '%s': got %d (%s), want %d (%s)\n",
			r->name, ret, status_str(ret), r->expect,
			r->expect ? status_str(r->expect) : "success");
		ok = 0;
	}

	/*
	 * A command alone in a stream fails the same way, at index 0.  (No
	 * bytes at all are an empty stream, which is valid.)
	 */
	if (k == K_REQ && avail > 0) {
		uint32_t nr_cmds, reply_bytes, bad;
		int sret = vsvm_stream_validate(buf, avail, 2, &nr_cmds,
						&reply_bytes, &bad);

		if (sret != r->expect || bad != 0 ||
		    nr_cmds != (r->expect ? 0u : 1u)) {
			fprintf(stderr, "  row '%s': as a stream got %d (%s)"
				" nr_cmds %u bad_index %u\n", r->name, sret,
				status_str(sret), nr_cmds, bad);
			ok = 0;
		}
	}
	free(buf);
	return ok;
}

static void run_table(enum kind k, const struct row *rows, size_t n)
{
	size_t i, failed = 0;

	for (i = 0; i < n; i++)
		if (!run_row(k, &rows[i]))
			failed++;
	if (failed)
		fprintf(stderr, "  %zu of %zu rows failed\n", failed, n);
	assert_int_equal(failed, 0);
}

/* ------------------------------------------------------------------ */
/* Commands                                                            */

#define E(x) (-VSVM_ERR_##x)

static const struct row request_rows[] = {
	/* Header and length. */
	{ "hdr: 7 of 8 header bytes", b_destroy, NOPATCH, 1, E(LENGTH) },
	{ "hdr: empty buffer", b_destroy, NOPATCH, 8, E(LENGTH) },
	{ "hdr: MAP cut to 4 bytes", b_map1, NOPATCH, 52, E(LENGTH) },
	{ "len 52: not a multiple of 8", b_map1, { P32(H_LEN, 52) }, 0,
	  E(LENGTH) },
	{ "len 60: not a multiple of 8, within avail", b_map1,
	  { P32(H_LEN, 60) }, -8, E(LENGTH) },
	{ "len 60 and nr_runs 0: length first", b_map1,
	  { P32(H_LEN, 60), P32(MAP(nr_runs), 0) }, -8, E(LENGTH) },
	{ "len 32: below MAP's fixed 40", b_map1, { P32(H_LEN, 32) }, 0,
	  E(LENGTH) },
	{ "len 0", b_unmap, { P32(H_LEN, 0) }, 0, E(LENGTH) },
	{ "len 80: below LAUNCH's fixed 88", b_launch_fill,
	  { P32(H_LEN, 80) }, 0, E(LENGTH) },
	{ "len beyond avail: buffer cut by 8", b_map1, NOPATCH, 8,
	  E(LENGTH) },
	{ "len beyond avail: len 64 of 56", b_map1, { P32(H_LEN, 64) }, 0,
	  E(LENGTH) },
	{ "len beyond avail: last byte missing", b_launch_fill, NOPATCH, 1,
	  E(LENGTH) },
	{ "len 0xfffffff8", b_unmap, { P32(H_LEN, 0xfffffff8u) }, 0,
	  E(LENGTH) },
	{ "len 0x80000000", b_map1, { P32(H_LEN, 0x80000000u) }, 0,
	  E(LENGTH) },
	{ "map: len for 2 runs, nr_runs 1", b_map1, { P32(H_LEN, 72) }, -16,
	  E(LENGTH) },
	{ "map: nr_runs 2, len for 1", b_map1, { P32(MAP(nr_runs), 2) }, 0,
	  E(LENGTH) },
	{ "map: nr_runs 3, len for 2", b_map3, { P32(H_LEN, 72) }, 0,
	  E(LENGTH) },
	{ "unmap: len 40 != fixed 32", b_unmap, { P32(H_LEN, 40) }, -8,
	  E(LENGTH) },
	{ "wait: len 24 != fixed 16", b_wait, { P32(H_LEN, 24) }, -8,
	  E(LENGTH) },
	{ "destroy: len 16 != 8", b_destroy, { P32(H_LEN, 16) }, -8,
	  E(LENGTH) },
	{ "query: len 16 != 8", b_query, { P32(H_LEN, 16) }, -8, E(LENGTH) },
	{ "fault_reply: nr 1, len for 2", b_freply2, { P32(FR(nr), 1) }, 0,
	  E(LENGTH) },
	{ "set_attr: nr 4, len for 5", b_set5, { P32(ATTR(nr_attrs), 4) }, 0,
	  E(LENGTH) },
	{ "migrate: nr 1, len for 2", b_mig_dev, { P32(MIG(nr_runs), 1) }, 0,
	  E(LENGTH) },
	{ "migrate d2d: len for a run, nr 0", b_mig_d2d, { P32(H_LEN, 56) },
	  -16, E(LENGTH) },
	{ "launch: len 96 != 88", b_launch_fill, { P32(H_LEN, 96) }, -8,
	  E(LENGTH) },

	/* Opcode. */
	{ "op 0", b_destroy, { P16(H_OP, 0) }, 0, E(OPCODE) },
	{ "op VSVM_CMD_NR", b_destroy, { P16(H_OP, VSVM_CMD_NR) }, 0,
	  E(OPCODE) },
	{ "op 0xffff", b_unmap, { P16(H_OP, 0xffff) }, 0, E(OPCODE) },
	{ "op 0x0102: high byte set", b_map1, { P16(H_OP, 0x0102) }, 0,
	  E(OPCODE) },
	{ "op 0 and bad len: opcode first", b_map1,
	  { P16(H_OP, 0), P32(H_LEN, 3) }, 0, E(OPCODE) },

	/* Header flags. */
	{ "hdr.flags 1", b_map1, { P16(H_FLAGS, 1) }, 0, E(RESERVED) },
	{ "hdr.flags 0x8000", b_unmap, { P16(H_FLAGS, 0x8000) }, 0,
	  E(RESERVED) },
	{ "hdr.flags on DESTROY", b_destroy, { P16(H_FLAGS, 0x10) }, 0,
	  E(RESERVED) },
	{ "hdr.flags and bad len: flags first", b_unmap,
	  { P16(H_FLAGS, 1), P32(H_LEN, 3) }, 0, E(RESERVED) },

	/* INIT. */
	{ "init: major 0", b_init, { P16(INIT(major), 0) }, 0, E(VALUE) },
	{ "init: va_bits 46", b_init, { P32(INIT(va_bits), 46) }, 0,
	  E(VALUE) },
	{ "init: va_bits 58", b_init, { P32(INIT(va_bits), 58) }, 0,
	  E(VALUE) },
	{ "init: va_bits 1", b_init, { P32(INIT(va_bits), 1) }, 0, E(VALUE) },
	{ "init: va_bits 0xffffffff", b_init,
	  { P32(INIT(va_bits), 0xffffffffu) }, 0, E(VALUE) },
	{ "init: flags 1", b_init, { P32(INIT(flags), 1) }, 0, E(RESERVED) },
	{ "init: reserved 0x80000000", b_init,
	  { P32(INIT(reserved), 0x80000000u) }, 0, E(RESERVED) },
	{ "init: major 0 and reserved: major first", b_init,
	  { P16(INIT(major), 0), P32(INIT(reserved), 1) }, 0, E(VALUE) },
	{ "init ok: va_bits 0 (host's)", b_init, { P32(INIT(va_bits), 0) }, 0,
	  0 },
	{ "init ok: va_bits 47", b_init, { P32(INIT(va_bits), 47) }, 0, 0 },
	{ "init ok: va_bits 57", b_init, { P32(INIT(va_bits), 57) }, 0, 0 },
	{ "init ok: major 2 (host decides)", b_init, { P16(INIT(major), 2) },
	  0, 0 },

	/* MAP: range. */
	{ "map: va not page aligned", b_map1, { P64(MAP(va), 0x10008) }, 0,
	  E(ALIGN) },
	{ "map: len not page aligned", b_map1, { P64(MAP(len), 0x3008) }, 0,
	  E(ALIGN) },
	{ "map: len 0", b_map1, { P64(MAP(len), 0) }, 0, E(RANGE) },
	{ "map: va + len wraps 2^64", b_map1,
	  { P64(MAP(va), 0xfffffffffffff000ull) }, 0, E(RANGE) },
	{ "map: range ends past 2^57", b_map1,
	  { P64(MAP(va), VA_LIMIT - 0x2000) }, 0, E(RANGE) },
	{ "map ok: range ends at 2^57", b_map1,
	  { P64(MAP(va), VA_LIMIT - 0x3000) }, 0, 0 },

	/* MAP: prot. */
	{ "map: prot 0", b_map1, { P32(MAP(prot), 0) }, 0, E(VALUE) },
	{ "map: prot WRITE without READ", b_map1,
	  { P32(MAP(prot), VSVM_PROT_WRITE) }, 0, E(VALUE) },
	{ "map: prot ATOMIC without WRITE", b_map1,
	  { P32(MAP(prot), VSVM_PROT_READ | VSVM_PROT_ATOMIC) }, 0, E(VALUE) },
	{ "map: prot WRITE|ATOMIC without READ", b_map1,
	  { P32(MAP(prot), VSVM_PROT_WRITE | VSVM_PROT_ATOMIC) }, 0,
	  E(VALUE) },
	{ "map: prot unknown bit 3", b_map1,
	  { P32(MAP(prot), VSVM_PROT_READ | 8) }, 0, E(VALUE) },
	{ "map: prot unknown bit 31", b_map1,
	  { P32(MAP(prot), VSVM_PROT_ALL | 0x80000000u) }, 0, E(VALUE) },
	{ "map: misaligned va and prot 0: range first", b_map1,
	  { P64(MAP(va), 0x10800), P32(MAP(prot), 0) }, 0, E(ALIGN) },
	{ "map ok: prot READ", b_map1, { P32(MAP(prot), VSVM_PROT_READ) }, 0,
	  0 },

	/* MAP: runs. */
	{ "map: nr_runs 0", b_map1,
	  { P32(MAP(nr_runs), 0), P32(H_LEN, 40) }, 0, E(COUNT) },
	{ "map: nr_runs 0, len for 1: count first", b_map1,
	  { P32(MAP(nr_runs), 0) }, 0, E(COUNT) },
	{ "map: nr_runs 513 (count field only)", b_map1,
	  { P32(MAP(nr_runs), 513) }, 0, E(COUNT) },
	{ "map: nr_runs 513 with 513 runs", b_map513, NOPATCH, 0, E(COUNT) },
	{ "map: nr_runs 0xffffffff", b_map1,
	  { P32(MAP(nr_runs), 0xffffffffu) }, 0, E(COUNT) },
	{ "map ok: 512 runs", b_map512, NOPATCH, 0, 0 },
	{ "map: run[1].gpa misaligned", b_map3,
	  { P64(MAP_RUN(1, gpa), 0x5800) }, 0, E(ALIGN) },
	{ "map: run[2].len misaligned", b_map3,
	  { P64(MAP_RUN(2, len), 0x2010) }, 0, E(ALIGN) },
	{ "map: run[1].len 0", b_map3, { P64(MAP_RUN(1, len), 0) }, 0,
	  E(RANGE) },
	{ "map: run[0] ends at 2^64 (end not representable)", b_map3,
	  { P64(MAP_RUN(0, gpa), 0xfffffffffffff000ull) }, 0, E(RANGE) },
	{ "map: run[0] wraps 2^64 (large len)", b_map1,
	  { P64(MAP_RUN(0, gpa), 0x2000),
	    P64(MAP_RUN(0, len), 0xfffffffffffff000ull) }, 0, E(RANGE) },
	{ "map ok: run ends one page below 2^64", b_map3,
	  { P64(MAP_RUN(0, gpa), 0xffffffffffffe000ull) }, 0, 0 },
	{ "map: runs sum below len", b_map3,
	  { P64(MAP_RUN(2, len), 0x1000) }, 0, E(COUNT) },
	{ "map: runs sum above len", b_map3,
	  { P64(MAP_RUN(0, len), 0x2000) }, 0, E(COUNT) },
	{ "map: one run longer than len", b_map1,
	  { P64(MAP_RUN(0, len), 0x4000) }, 0, E(COUNT) },
	{ "map: len above runs' sum", b_map3, { P64(MAP(len), 0x5000) }, 0,
	  E(COUNT) },
	{ "map: prot 0 and misaligned run: prot first", b_map3,
	  { P32(MAP(prot), 0), P64(MAP_RUN(0, gpa), 0x1001) }, 0, E(VALUE) },
	{ "map: misaligned run[0] and short sum: run first", b_map3,
	  { P64(MAP_RUN(0, gpa), 0x1001), P64(MAP_RUN(2, len), 0x1000) }, 0,
	  E(ALIGN) },

	/* UNMAP. */
	{ "unmap: va not page aligned", b_unmap,
	  { P64(UNMAP(va), 0x40000800) }, 0, E(ALIGN) },
	{ "unmap: len not page aligned", b_unmap,
	  { P64(UNMAP(len), 0x1fff00) }, 0, E(ALIGN) },
	{ "unmap: len 0", b_unmap, { P64(UNMAP(len), 0) }, 0, E(RANGE) },
	{ "unmap: va + len wraps 2^64", b_unmap,
	  { P64(UNMAP(va), 0xfffffffffffff000ull), P64(UNMAP(len), 0x2000) },
	  0, E(RANGE) },
	{ "unmap: len wraps from a low va", b_unmap,
	  { P64(UNMAP(va), 0x1000),
	    P64(UNMAP(len), 0xfffffffffffff000ull) }, 0, E(RANGE) },
	{ "unmap: range ends past 2^57", b_unmap,
	  { P64(UNMAP(va), VA_LIMIT - 0x1000), P64(UNMAP(len), 0x2000) }, 0,
	  E(RANGE) },
	{ "unmap: va at 2^57", b_unmap,
	  { P64(UNMAP(va), VA_LIMIT), P64(UNMAP(len), 0x1000) }, 0,
	  E(RANGE) },
	{ "unmap: len 2^57 + 4K from 0", b_unmap,
	  { P64(UNMAP(va), 0), P64(UNMAP(len), VA_LIMIT + 0x1000) }, 0,
	  E(RANGE) },
	{ "unmap ok: whole 2^57 space", b_unmap,
	  { P64(UNMAP(va), 0), P64(UNMAP(len), VA_LIMIT) }, 0, 0 },
	{ "unmap: seq 0", b_unmap, { P64(UNMAP(seq), 0) }, 0, E(VALUE) },
	{ "unmap: misaligned va and seq 0: range first", b_unmap,
	  { P64(UNMAP(va), 0x40000008), P64(UNMAP(seq), 0) }, 0, E(ALIGN) },

	/* EVENT_WAIT. */
	{ "wait: max_events 0", b_wait, { P32(WAIT(max_events), 0) }, 0,
	  E(COUNT) },
	{ "wait: max_events 257", b_wait, { P32(WAIT(max_events), 257) }, 0,
	  E(COUNT) },
	{ "wait: max_events 0xffffffff", b_wait,
	  { P32(WAIT(max_events), 0xffffffffu) }, 0, E(COUNT) },
	{ "wait ok: max_events 256", b_wait, { P32(WAIT(max_events), 256) },
	  0, 0 },
	{ "wait: unknown flag bit 1", b_wait, { P32(WAIT(flags), 2) }, 0,
	  E(RESERVED) },
	{ "wait: unknown flag bit 31", b_wait,
	  { P32(WAIT(flags), 0x80000001u) }, 0, E(RESERVED) },
	{ "wait ok: NONBLOCK", b_wait,
	  { P32(WAIT(flags), VSVM_WAIT_F_NONBLOCK) }, 0, 0 },
	{ "wait: max_events 0 and bad flag: count first", b_wait,
	  { P32(WAIT(max_events), 0), P32(WAIT(flags), 2) }, 0, E(COUNT) },

	/* FAULT_REPLY. */
	{ "fault_reply: nr 0", b_freply2,
	  { P32(FR(nr), 0), P32(H_LEN, 16) }, 0, E(COUNT) },
	{ "fault_reply: nr 257 (count field only)", b_freply2,
	  { P32(FR(nr), 257) }, 0, E(COUNT) },
	{ "fault_reply: nr 257 with 257 entries", b_freply257, NOPATCH, 0,
	  E(COUNT) },
	{ "fault_reply ok: 256 entries", b_freply256, NOPATCH, 0, 0 },
	{ "fault_reply: status VSVM_STATUS_NR", b_freply2,
	  { P32(FR_RES(1, status), VSVM_STATUS_NR) }, 0, E(VALUE) },
	{ "fault_reply: status 0xffffffff", b_freply2,
	  { P32(FR_RES(0, status), 0xffffffffu) }, 0, E(VALUE) },
	{ "fault_reply: last of 256 has bad status", b_freply256,
	  { P32(FR_RES(255, status), 1000) }, 0, E(VALUE) },
	{ "fault_reply ok: status DEVICE_LOST", b_freply2,
	  { P32(FR_RES(0, status), VSVM_ERR_DEVICE_LOST) }, 0, 0 },
	{ "fault_reply: reserved 1", b_freply2, { P32(FR(reserved), 1) }, 0,
	  E(RESERVED) },
	{ "fault_reply: reserved and bad status: reserved first", b_freply2,
	  { P32(FR(reserved), 1), P32(FR_RES(0, status), 99) }, 0,
	  E(RESERVED) },

	/* SET_ATTR / GET_ATTR: structure. */
	{ "set_attr: nr_attrs 0", b_set5,
	  { P32(ATTR(nr_attrs), 0), P32(H_LEN, 32) }, 0, E(COUNT) },
	{ "set_attr: nr_attrs 9 with 9 entries", b_set9, NOPATCH, 0,
	  E(COUNT) },
	{ "get_attr: nr_attrs 9 (count field only)", b_get2,
	  { P32(ATTR(nr_attrs), 9) }, 0, E(COUNT) },
	{ "set_attr: va not page aligned", b_set5,
	  { P64(ATTR(va), 0x200010) }, 0, E(ALIGN) },
	{ "set_attr: len 0", b_set5, { P64(ATTR(len), 0) }, 0, E(RANGE) },
	{ "get_attr: range ends past 2^57", b_get2,
	  { P64(ATTR(va), VA_LIMIT - 0x1000) }, 0, E(RANGE) },
	{ "set_attr: reserved 1", b_set5, { P32(ATTR(reserved), 1) }, 0,
	  E(RESERVED) },
	{ "get_attr: reserved 0x100", b_get2, { P32(ATTR(reserved), 0x100) },
	  0, E(RESERVED) },
	{ "set_attr: attr type 0", b_set5, { P32(ATTR_EL(0, type), 0) }, 0,
	  E(VALUE) },
	{ "set_attr: attr type VSVM_ATTR_NR", b_set5,
	  { P32(ATTR_EL(2, type), VSVM_ATTR_NR) }, 0, E(VALUE) },
	{ "set_attr: attr type 0xffffffff", b_set5,
	  { P32(ATTR_EL(4, type), 0xffffffffu) }, 0, E(VALUE) },
	{ "get_attr: attr type 0", b_get2, { P32(ATTR_EL(1, type), 0) }, 0,
	  E(VALUE) },
	{ "set_attr: duplicated type", b_set5,
	  { P32(ATTR_EL(4, type), VSVM_ATTR_PREFERRED_LOC),
	    P64(ATTR_EL(4, value), 0) }, 0, E(VALUE) },
	{ "get_attr: duplicated type", b_get2,
	  { P32(ATTR_EL(1, type), VSVM_ATTR_PREFERRED_LOC) }, 0, E(VALUE) },
	{ "set_attr: attr flags 1", b_set5, { P32(ATTR_EL(1, flags), 1) }, 0,
	  E(RESERVED) },
	{ "set_attr: attr flags MIXED (replies only)", b_set5,
	  { P32(ATTR_EL(3, flags), VSVM_ATTR_F_MIXED) }, 0, E(RESERVED) },
	{ "get_attr: attr flags 0x80000000", b_get2,
	  { P32(ATTR_EL(0, flags), 0x80000000u) }, 0, E(RESERVED) },
	{ "set_attr: reserved and bad type: reserved first", b_set5,
	  { P32(ATTR(reserved), 1), P32(ATTR_EL(0, type), 0) }, 0,
	  E(RESERVED) },
	{ "set_attr: bad type and flags: type first", b_set5,
	  { P32(ATTR_EL(0, type), 9), P32(ATTR_EL(0, flags), 1) }, 0,
	  E(VALUE) },
	{ "set_attr: flags and bad value: flags first", b_set1,
	  { P32(ATTR_EL(0, type), VSVM_ATTR_READ_MOSTLY),
	    P32(ATTR_EL(0, flags), 1), P64(ATTR_EL(0, value), 2) }, 0,
	  E(RESERVED) },

	/* SET_ATTR: values. */
	{ "set_attr: PREFERRED_LOC 64", b_set5,
	  { P64(ATTR_EL(0, value), 64) }, 0, E(VALUE) },
	{ "set_attr: PREFERRED_LOC 0xfffffff1", b_set5,
	  { P64(ATTR_EL(0, value), 0xfffffff1u) }, 0, E(VALUE) },
	{ "set_attr: PREFERRED_LOC 0xfffffffe", b_set5,
	  { P64(ATTR_EL(0, value), 0xfffffffeu) }, 0, E(VALUE) },
	{ "set_attr: PREFERRED_LOC 2^32", b_set5,
	  { P64(ATTR_EL(0, value), 1ull << 32) }, 0, E(VALUE) },
	{ "set_attr: PREFERRED_LOC SYSTEM with high bits", b_set5,
	  { P64(ATTR_EL(0, value), 0x1fffffff0ull) }, 0, E(VALUE) },
	{ "set_attr ok: PREFERRED_LOC 63", b_set5,
	  { P64(ATTR_EL(0, value), 63) }, 0, 0 },
	{ "set_attr ok: PREFERRED_LOC SYSTEM", b_set5,
	  { P64(ATTR_EL(0, value), VSVM_LOC_SYSTEM) }, 0, 0 },
	{ "set_attr ok: PREFERRED_LOC UNSET", b_set5,
	  { P64(ATTR_EL(0, value), VSVM_LOC_UNSET) }, 0, 0 },
	{ "set_attr ok: ACCESSED_BY all 64 devices", b_set5,
	  { P64(ATTR_EL(1, value), ~0ull) }, 0, 0 },
	{ "set_attr: READ_MOSTLY 2", b_set5, { P64(ATTR_EL(2, value), 2) }, 0,
	  E(VALUE) },
	{ "set_attr: READ_MOSTLY 2^32 + 1", b_set5,
	  { P64(ATTR_EL(2, value), (1ull << 32) + 1) }, 0, E(VALUE) },
	{ "set_attr: GRANULARITY 11", b_set5, { P64(ATTR_EL(3, value), 11) },
	  0, E(VALUE) },
	{ "set_attr: GRANULARITY 31", b_set5, { P64(ATTR_EL(3, value), 31) },
	  0, E(VALUE) },
	{ "set_attr: GRANULARITY 0", b_set5, { P64(ATTR_EL(3, value), 0) },
	  0, E(VALUE) },
	{ "set_attr: GRANULARITY 2^32 + 12", b_set5,
	  { P64(ATTR_EL(3, value), (1ull << 32) + 12) }, 0, E(VALUE) },
	{ "set_attr ok: GRANULARITY 12", b_set5,
	  { P64(ATTR_EL(3, value), 12) }, 0, 0 },
	{ "set_attr ok: GRANULARITY 30", b_set5,
	  { P64(ATTR_EL(3, value), 30) }, 0, 0 },
	{ "set_attr: DEVICE_ACCESS 3", b_set5, { P64(ATTR_EL(4, value), 3) },
	  0, E(VALUE) },
	{ "set_attr ok: DEVICE_ACCESS NONE", b_set5,
	  { P64(ATTR_EL(4, value), VSVM_DEVICE_ACCESS_NONE) }, 0, 0 },
	{ "set_attr: single READ_MOSTLY 7", b_set1,
	  { P32(ATTR_EL(0, type), VSVM_ATTR_READ_MOSTLY),
	    P64(ATTR_EL(0, value), 7) }, 0, E(VALUE) },

	/* GET_ATTR: values must be zero. */
	{ "get_attr: value 1", b_get2, { P64(ATTR_EL(1, value), 1) }, 0,
	  E(RESERVED) },
	{ "get_attr: value with only the top bit", b_get2,
	  { P64(ATTR_EL(0, value), 1ull << 63) }, 0, E(RESERVED) },
	{ "get_attr: type 0 and a value: type first", b_get2,
	  { P32(ATTR_EL(0, type), 0), P64(ATTR_EL(0, value), 1) }, 0,
	  E(VALUE) },

	/* PREFETCH. */
	{ "prefetch: va not page aligned", b_prefetch,
	  { P64(PF(va), 0x10001) }, 0, E(ALIGN) },
	{ "prefetch: len 0", b_prefetch, { P64(PF(len), 0) }, 0, E(RANGE) },
	{ "prefetch: va + len wraps", b_prefetch,
	  { P64(PF(va), 0xffffffffffff0000ull) }, 0, E(RANGE) },
	{ "prefetch: location 64", b_prefetch, { P32(PF(location), 64) }, 0,
	  E(VALUE) },
	{ "prefetch: location UNSET not allowed", b_prefetch,
	  { P32(PF(location), VSVM_LOC_UNSET) }, 0, E(VALUE) },
	{ "prefetch: location 0xfffffff1", b_prefetch,
	  { P32(PF(location), 0xfffffff1u) }, 0, E(VALUE) },
	{ "prefetch ok: location SYSTEM", b_prefetch,
	  { P32(PF(location), VSVM_LOC_SYSTEM) }, 0, 0 },
	{ "prefetch ok: location 63, ASYNC", b_prefetch,
	  { P32(PF(location), 63), P32(PF(flags), VSVM_PREFETCH_F_ASYNC) }, 0,
	  0 },
	{ "prefetch: unknown flag bit 1", b_prefetch, { P32(PF(flags), 2) },
	  0, E(RESERVED) },
	{ "prefetch: unknown flag bit 31", b_prefetch,
	  { P32(PF(flags), 0x80000001u) }, 0, E(RESERVED) },
	{ "prefetch: location 64 and bad flag: location first", b_prefetch,
	  { P32(PF(location), 64), P32(PF(flags), 2) }, 0, E(VALUE) },

	/* MIGRATE. */
	{ "migrate: to SYSTEM with 0 runs", b_mig_sys,
	  { P32(MIG(nr_runs), 0), P32(H_LEN, 40) }, 0, E(COUNT) },
	{ "migrate ok: to device with 0 runs", b_mig_d2d, NOPATCH, 0, 0 },
	{ "migrate: va not page aligned", b_mig_dev,
	  { P64(MIG(va), 0x200200) }, 0, E(ALIGN) },
	{ "migrate: range ends past 2^57", b_mig_d2d,
	  { P64(MIG(va), VA_LIMIT - 0x100000) }, 0, E(RANGE) },
	{ "migrate: location 64", b_mig_dev, { P32(MIG(location), 64) }, 0,
	  E(VALUE) },
	{ "migrate: location UNSET", b_mig_d2d,
	  { P32(MIG(location), VSVM_LOC_UNSET) }, 0, E(VALUE) },
	{ "migrate: flags 1", b_mig_dev, { P32(MIG(flags), 1) }, 0,
	  E(RESERVED) },
	{ "migrate: flags 0x10000 with 0 runs", b_mig_d2d,
	  { P32(MIG(flags), 0x10000) }, 0, E(RESERVED) },
	{ "migrate: flags and SYSTEM without runs: flags first", b_mig_sys,
	  { P32(MIG(flags), 1), P32(MIG(nr_runs), 0), P32(H_LEN, 40) }, 0,
	  E(RESERVED) },
	{ "migrate: nr_runs 513", b_mig_dev, { P32(MIG(nr_runs), 513) }, 0,
	  E(COUNT) },
	{ "migrate: run misaligned", b_mig_dev,
	  { P64(MIG_RUN(1, gpa), 0x30010) }, 0, E(ALIGN) },
	{ "migrate: run len 0", b_mig_dev, { P64(MIG_RUN(0, len), 0) }, 0,
	  E(RANGE) },
	{ "migrate: runs sum below len", b_mig_dev,
	  { P64(MIG_RUN(1, len), 0x1000) }, 0, E(COUNT) },
	{ "migrate: to SYSTEM, runs sum above len", b_mig_sys,
	  { P64(MIG_RUN(0, len), 0x4000) }, 0, E(COUNT) },
	{ "migrate ok: request_id 0xffffffff", b_mig_sys,
	  { P32(MIG(request_id), 0xffffffffu) }, 0, 0 },

	/* LAUNCH. */
	{ "launch: kernel 0", b_launch_fill, { P32(LAUNCH(kernel), 0) }, 0,
	  E(VALUE) },
	{ "launch: kernel VSVM_KERNEL_NR", b_launch_fill,
	  { P32(LAUNCH(kernel), VSVM_KERNEL_NR) }, 0, E(VALUE) },
	{ "launch: kernel 0xffffffff", b_launch_chase,
	  { P32(LAUNCH(kernel), 0xffffffffu) }, 0, E(VALUE) },
	{ "launch: device 64", b_launch_fill, { P32(LAUNCH(device), 64) }, 0,
	  E(VALUE) },
	{ "launch: device SYSTEM is not a device", b_launch_fill,
	  { P32(LAUNCH(device), VSVM_LOC_SYSTEM) }, 0, E(VALUE) },
	{ "launch ok: device 63", b_launch_fill, { P32(LAUNCH(device), 63) },
	  0, 0 },
	{ "launch: flags 1", b_launch_fill, { P32(LAUNCH(flags), 1) }, 0,
	  E(RESERVED) },
	{ "launch: fill with nr_args 2", b_launch_fill,
	  { P32(LAUNCH(nr_args), 2), P64(ARG(2), 0) }, 0, E(COUNT) },
	{ "launch: fill with nr_args 4", b_launch_fill,
	  { P32(LAUNCH(nr_args), 4) }, 0, E(COUNT) },
	{ "launch: fill with nr_args 0", b_launch_fill,
	  { P32(LAUNCH(nr_args), 0) }, 0, E(COUNT) },
	{ "launch: nr_args 9", b_launch_fill, { P32(LAUNCH(nr_args), 9) }, 0,
	  E(COUNT) },
	{ "launch: nr_args 0xffffffff", b_launch_fill,
	  { P32(LAUNCH(nr_args), 0xffffffffu) }, 0, E(COUNT) },
	{ "launch: triad with fill's 3 args", b_launch_fill,
	  { P32(LAUNCH(kernel), VSVM_KERNEL_TRIAD) }, 0, E(COUNT) },
	{ "launch: chase with 3 args", b_launch_chase,
	  { P32(LAUNCH(nr_args), 3) }, 0, E(COUNT) },
	{ "launch: fill args[3] nonzero", b_launch_fill, { P64(ARG(3), 1) },
	  0, E(RESERVED) },
	{ "launch: fill args[7] top bit", b_launch_fill,
	  { P64(ARG(7), 1ull << 63) }, 0, E(RESERVED) },
	{ "launch: chase args[2] nonzero", b_launch_chase,
	  { P64(ARG(2), 0x100) }, 0, E(RESERVED) },
	{ "launch: kernel 0 and flags: kernel first", b_launch_fill,
	  { P32(LAUNCH(kernel), 0), P32(LAUNCH(flags), 1) }, 0, E(VALUE) },
	{ "launch: flags and wrong nr_args: flags first", b_launch_fill,
	  { P32(LAUNCH(flags), 1), P32(LAUNCH(nr_args), 1) }, 0,
	  E(RESERVED) },
	{ "launch: device 64 and flags: device first", b_launch_chase,
	  { P32(LAUNCH(device), 64), P32(LAUNCH(flags), 1) }, 0, E(VALUE) },
};

static void test_malformed_commands_are_refused(void **state)
{
	(void)state;
	run_table(K_REQ, request_rows, ARRAY_SIZE(request_rows));
}

/*
 * Generic header corruptions, applied to every command type: the header
 * checks are the table's, so each must hold for every opcode.
 */
static const builder_fn every_command[] = {
	b_init, b_map1, b_map3, b_unmap, b_wait, b_freply2, b_set5, b_get2,
	b_prefetch, b_mig_dev, b_mig_sys, b_mig_d2d, b_launch_fill,
	b_launch_chase, b_destroy, b_query,
};

static void test_header_corruptions_refused_for_every_command(void **state)
{
	struct mut {
		const char *name;
		int16_t len_delta;	/* added to hdr.len */
		int16_t avail_delta;	/* avail = len + avail_delta */
		int32_t op;		/* -1: keep */
		uint16_t flags;
		int expect;
	};
	static const struct mut muts[] = {
		{ "op 0", 0, 0, 0, 0, E(OPCODE) },
		{ "op NR", 0, 0, VSVM_CMD_NR, 0, E(OPCODE) },
		{ "op 0x100", 0, 0, 0x100, 0, E(OPCODE) },
		{ "flags 1", 0, 0, -1, 1, E(RESERVED) },
		{ "flags 0x100", 0, 0, -1, 0x100, E(RESERVED) },
		{ "len + 4", 4, 8, -1, 0, E(LENGTH) },
		{ "len - 4", -4, 0, -1, 0, E(LENGTH) },
		{ "len + 8, avail too", 8, 8, -1, 0, E(LENGTH) },
		{ "len + 8, avail not", 8, 0, -1, 0, E(LENGTH) },
		{ "len - 8", -8, 0, -1, 0, E(LENGTH) },
		{ "avail len - 1", 0, -1, -1, 0, E(LENGTH) },
		{ "avail 7", 0, -10000, -1, 0, E(LENGTH) },
	};
	size_t b, m, failed = 0;

	(void)state;
	for (b = 0; b < ARRAY_SIZE(every_command); b++) {
		for (m = 0; m < ARRAY_SIZE(muts); m++) {
			struct vsvm_request req;
			uint32_t len, avail;
			uint16_t op;
			uint8_t *buf;
			int ret;

			memset(scratch, 0, 16384);
			len = every_command[b](scratch);
			op = le_get16(scratch + H_OP);
			assert_int_equal(vsvm_decode_request(scratch, len,
							     &req), len);
			le_put32(scratch + H_LEN,
				 (uint32_t)((int32_t)len + muts[m].len_delta));
			if (muts[m].op >= 0)
				le_put16(scratch + H_OP,
					 (uint16_t)muts[m].op);
			le_put16(scratch + H_FLAGS, muts[m].flags);
			avail = muts[m].avail_delta == -10000 ?
				7 : (uint32_t)((int32_t)len +
					       muts[m].avail_delta);
			buf = malloc(avail);
			assert_non_null(buf);
			memcpy(buf, scratch, avail);
			ret = vsvm_decode_request(buf, avail, &req);
			if (ret != muts[m].expect) {
				fprintf(stderr, "  %s with %s: got %d (%s), "
					"want %s\n", vsvm_op_name(op),
					muts[m].name, ret,
					status_str(ret),
					status_str(muts[m].expect));
				failed++;
			}
			free(buf);
		}
	}
	assert_int_equal(failed, 0);
}

/* ------------------------------------------------------------------ */
/* Streams                                                             */

struct stream_row {
	const char *name;
	builder_fn build;
	int expect;
	uint32_t nr_cmds;
	uint32_t bad_index;
	uint32_t reply_bytes;	/* checked when expect is 0 */
};

#define APPEND(fn) (off += fn(b + off))

static uint32_t s_wait_not_last(uint8_t *b)
{
	uint32_t off = 0;

	APPEND(b_unmap);
	APPEND(b_wait);
	APPEND(b_destroy);
	return off;
}

static uint32_t s_launch_not_last(uint8_t *b)
{
	uint32_t off = 0;

	APPEND(b_launch_fill);
	APPEND(b_query);
	return off;
}

static uint32_t s_wait_then_launch(uint8_t *b)
{
	uint32_t off = 0;

	APPEND(b_init);
	APPEND(b_map1);
	APPEND(b_wait);
	APPEND(b_launch_chase);
	return off;
}

static uint32_t s_launch_then_malformed(uint8_t *b)
{
	uint32_t off = 0;

	APPEND(b_launch_fill);
	APPEND(b_map1);
	le_put32(b + off - 56 + MAP(prot), 0);
	return off;
}

static uint32_t s_wait_then_partial_header(uint8_t *b)
{
	uint32_t off = 0;

	APPEND(b_wait);
	return off + 4;	/* four zero bytes of garbage */
}

/* 127 MAPs of 512 runs and one of 192: exactly VSVM_MAX_SUBMIT_BYTES. */
static uint32_t s_max_bytes(uint8_t *b)
{
	uint32_t off = 0, i;

	for (i = 0; i < 127; i++)
		off += map_n(b + off, VSVM_MAX_MAP_RUNS);
	off += map_n(b + off, 192);
	return off;
}

static uint32_t s_max_bytes_plus_8(uint8_t *b)
{
	uint32_t off = s_max_bytes(b);

	APPEND(b_destroy);
	return off;
}

static uint32_t destroys(uint8_t *b, uint32_t n)
{
	uint32_t off = 0, i;

	for (i = 0; i < n; i++)
		APPEND(b_destroy);
	return off;
}

static uint32_t s_1024_cmds(uint8_t *b)
{
	return destroys(b, VSVM_MAX_CMDS);
}

static uint32_t s_1025_cmds(uint8_t *b)
{
	return destroys(b, VSVM_MAX_CMDS + 1);
}

static uint32_t s_1024_cmds_then_wait(uint8_t *b)
{
	uint32_t off = destroys(b, VSVM_MAX_CMDS);

	APPEND(b_wait);
	return off;
}

static uint32_t s_1023_cmds_then_wait(uint8_t *b)
{
	uint32_t off = destroys(b, VSVM_MAX_CMDS - 1);

	APPEND(b_wait);
	return off;
}

static uint32_t s_bad_prot_at_2(uint8_t *b)
{
	uint32_t off = 0, at;

	APPEND(b_init);
	APPEND(b_unmap);
	at = off;
	APPEND(b_map3);
	le_put32(b + at + MAP(prot), 0);
	APPEND(b_destroy);
	return off;
}

static uint32_t s_seq0_at_1(uint8_t *b)
{
	uint32_t off = 0, at;

	APPEND(b_unmap);
	at = off;
	APPEND(b_unmap);
	le_put64(b + at + UNMAP(seq), 0);
	APPEND(b_destroy);
	return off;
}

static uint32_t s_truncated_last(uint8_t *b)
{
	uint32_t off = 0;

	APPEND(b_destroy);
	APPEND(b_map1);
	return off - 8;
}

static uint32_t s_partial_header_at_1(uint8_t *b)
{
	uint32_t off = 0;

	APPEND(b_destroy);
	le_put16(b + off, VSVM_CMD_QUERY);
	return off + 4;
}

static uint32_t s_op0_at_1(uint8_t *b)
{
	uint32_t off = 0;

	APPEND(b_query);
	le_put32(b + off + H_LEN, 8);	/* op 0, len 8 */
	off += 8;
	APPEND(b_destroy);
	return off;
}

static uint32_t s_two_errors(uint8_t *b)
{
	uint32_t off = 0, at;

	APPEND(b_destroy);
	at = off;
	APPEND(b_unmap);
	le_put64(b + at + UNMAP(seq), 0);
	APPEND(b_wait);
	APPEND(b_destroy);
	return off;
}

static uint32_t s_huge_len_at_3(uint8_t *b)
{
	uint32_t off = 0;

	APPEND(b_destroy);
	APPEND(b_query);
	APPEND(b_destroy);
	le_put16(b + off, VSVM_CMD_MAP);
	le_put32(b + off + H_LEN, 0xfffffff8u);
	return off + 8;
}

static uint32_t s_every_command(uint8_t *b)
{
	uint32_t off = 0;

	APPEND(b_init);
	APPEND(b_query);
	APPEND(b_map3);
	APPEND(b_unmap);
	APPEND(b_freply2);
	APPEND(b_set5);
	APPEND(b_get2);
	APPEND(b_prefetch);
	APPEND(b_mig_dev);
	APPEND(b_mig_sys);
	APPEND(b_mig_d2d);
	APPEND(b_destroy);
	APPEND(b_wait);
	return off;
}

static uint32_t s_query_launch(uint8_t *b)
{
	uint32_t off = 0;

	APPEND(b_query);
	APPEND(b_launch_chase);
	return off;
}

static uint32_t s_wait_alone(uint8_t *b)
{
	return b_wait(b);
}

/* num_devices passed to vsvm_stream_validate by the runner. */
#define STREAM_NDEV 2u
#define R_INIT (32u + STREAM_NDEV * 32u)

static const struct stream_row stream_rows[] = {
	{ "EVENT_WAIT not last", s_wait_not_last, E(STATE), 2, 1, 0 },
	{ "LAUNCH not last", s_launch_not_last, E(STATE), 1, 0, 0 },
	{ "EVENT_WAIT then LAUNCH", s_wait_then_launch, E(STATE), 3, 2, 0 },
	{ "LAUNCH then a malformed MAP: parking reported", 
	  s_launch_then_malformed, E(STATE), 1, 0, 0 },
	{ "EVENT_WAIT then 4 bytes of garbage", s_wait_then_partial_header,
	  E(STATE), 1, 0, 0 },
	{ "stream of exactly VSVM_MAX_SUBMIT_BYTES", s_max_bytes, 0, 128, 0,
	  128 * 8 },
	{ "stream 8 bytes over VSVM_MAX_SUBMIT_BYTES", s_max_bytes_plus_8,
	  E(LENGTH), 0, 0, 0 },
	{ "VSVM_MAX_CMDS commands", s_1024_cmds, 0, 1024, 0, 1024 * 8 },
	{ "VSVM_MAX_CMDS + 1 commands", s_1025_cmds, E(COUNT), 1024, 1024,
	  0 },
	{ "VSVM_MAX_CMDS commands then EVENT_WAIT", s_1024_cmds_then_wait,
	  E(COUNT), 1024, 1024, 0 },
	{ "VSVM_MAX_CMDS - 1 commands then EVENT_WAIT",
	  s_1023_cmds_then_wait, 0, 1024, 0, 1023 * 8 + 16 + 16 * 32 },
	{ "MAP with prot 0 at index 2", s_bad_prot_at_2, E(VALUE), 2, 2, 0 },
	{ "UNMAP with seq 0 at index 1", s_seq0_at_1, E(VALUE), 1, 1, 0 },
	{ "last command truncated", s_truncated_last, E(LENGTH), 1, 1, 0 },
	{ "partial header at index 1", s_partial_header_at_1, E(LENGTH), 1,
	  1, 0 },
	{ "op 0 at index 1", s_op0_at_1, E(OPCODE), 1, 1, 0 },
	{ "two errors: the first is reported", s_two_errors, E(VALUE), 1, 1,
	  0 },
	{ "len 0xfffffff8 at index 3", s_huge_len_at_3, E(LENGTH), 3, 3, 0 },
	{ "every command, EVENT_WAIT last", s_every_command, 0, 13, 0,
	  2 * R_INIT + 8 + 8 + 16 + 8 + (16 + 2 * 16) + 24 + 3 * 16 + 8 +
		  (16 + 16 * 32) },
	{ "QUERY then LAUNCH", s_query_launch, 0, 2, 0, R_INIT + 40 },
	{ "EVENT_WAIT alone", s_wait_alone, 0, 1, 0, 16 + 16 * 32 },
};

static int run_stream_row(const struct stream_row *r)
{
	uint32_t len, nr_cmds = 0xdead, reply_bytes = 0xdead, bad = 0xdead;
	struct vsvm_request req;
	struct vsvm_stream s;
	uint8_t *buf;
	int ret, ok = 1;

	memset(scratch, 0, SCRATCH_SZ);
	len = r->build(scratch);
	assert_true(len <= SCRATCH_SZ);
	buf = malloc(len ? len : 1);
	assert_non_null(buf);
	memcpy(buf, scratch, len);

	ret = vsvm_stream_validate(buf, len, STREAM_NDEV, &nr_cmds,
				   &reply_bytes, &bad);
	if (ret != r->expect || nr_cmds != r->nr_cmds ||
	    bad != (r->expect ? r->bad_index : 0) ||
	    reply_bytes != (r->expect ? 0 : r->reply_bytes)) {
		fprintf(stderr, "  stream '%s': got %d (%s) nr_cmds %u "
			"bad_index %u reply_bytes %u; want %d (%s) %u %u %u\n",
			r->name, ret, status_str(ret), nr_cmds, bad,
			reply_bytes, r->expect,
			r->expect ? status_str(r->expect) : "OK", r->nr_cmds,
			r->bad_index, r->reply_bytes);
		ok = 0;
	}

	/*
	 * vsvm_stream_next() alone must agree (it does not check the byte
	 * cap, which is vsvm_stream_validate()'s).
	 */
	if (len <= VSVM_MAX_SUBMIT_BYTES) {
		uint32_t at;

		vsvm_stream_init(&s, buf, len);
		while ((ret = vsvm_stream_next(&s, &req)) > 0)
			;
		at = ret == E(STATE) ? s.index - 1 : s.index;
		if (ret != r->expect || (ret && at != r->bad_index)) {
			fprintf(stderr, "  stream '%s': stream_next ended with"
				" %d (%s) at %u\n", r->name, ret,
				status_str(ret), at);
			ok = 0;
		}
	}
	free(buf);
	return ok;
}

static void test_malformed_streams_are_refused_at_their_index(void **state)
{
	size_t i, failed = 0;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(stream_rows); i++)
		if (!run_stream_row(&stream_rows[i]))
			failed++;
	assert_int_equal(failed, 0);
}

/* ------------------------------------------------------------------ */
/* Replies                                                             */

static uint32_t rb_init2(uint8_t *b)
{
	uint32_t i;

	le_put16(b + RINIT(major), 1);
	le_put16(b + RINIT(minor), 0);
	le_put32(b + RINIT(features), VSVM_F_HUGE_2M);
	le_put32(b + RINIT(va_bits), 48);
	le_put32(b + RINIT(num_devices), 2);
	le_put64(b + RINIT(page_sizes), 0x201000);
	for (i = 0; i < 2; i++) {
		le_put64(b + RDEV(i, mem_size), 8ull << 30);
		le_put64(b + RDEV(i, mem_used), 0x100000);
		le_put32(b + RDEV(i, exec_units), 512);
	}
	return put_rhdr(b, VSVM_CMD_INIT, VSVM_OK, 32 + 2 * 32);
}

static uint32_t rb_query1(uint8_t *b)
{
	rb_init2(b);
	le_put32(b + RINIT(num_devices), 1);
	memset(b + RDEV(1, mem_size), 0, 32);
	return put_rhdr(b, VSVM_CMD_QUERY, VSVM_OK, 32 + 32);
}

static uint32_t rb_wait2(uint8_t *b)
{
	le_put32(b + RWAIT(nr_events), 2);
	le_put32(b + RWAIT(pending), 5);
	put_event(b + REV(0, type), VSVM_EVENT_FAULT, 1, 0x1000,
		  VSVM_PAGE_SIZE, 0, VSVM_ACCESS_READ);
	put_event(b + REV(1, type), VSVM_EVENT_PREFETCH_DONE, 2, 0x2000,
		  0x2000, VSVM_LOC_SYSTEM, VSVM_OK);
	return put_rhdr(b, VSVM_CMD_EVENT_WAIT, VSVM_OK, 16 + 2 * 32);
}

static uint32_t rb_wait0(uint8_t *b)
{
	return put_rhdr(b, VSVM_CMD_EVENT_WAIT, VSVM_OK, 16);
}

static uint32_t rb_freply(uint8_t *b)
{
	le_put32(b + 8, 3);
	le_put32(b + 12, 1);
	return put_rhdr(b, VSVM_CMD_FAULT_REPLY, VSVM_OK, 16);
}

static uint32_t rb_gattr2(uint8_t *b)
{
	le_put32(b + RGA(nr_attrs), 2);
	put_attr(b + RGA_EL(0, type), VSVM_ATTR_PREFERRED_LOC,
		 VSVM_ATTR_F_MIXED, VSVM_LOC_UNSET);
	put_attr(b + RGA_EL(1, type), VSVM_ATTR_GRANULARITY, 0, 21);
	return put_rhdr(b, VSVM_CMD_GET_ATTR, VSVM_OK, 16 + 2 * 16);
}

static uint32_t rb_prefetch(uint8_t *b)
{
	le_put32(b + RPF(token), 44);
	le_put64(b + RPF(bytes), 0x10000);
	return put_rhdr(b, VSVM_CMD_PREFETCH, VSVM_OK, 24);
}

static uint32_t rb_migrate(uint8_t *b)
{
	le_put64(b + 8, 0x3000);
	return put_rhdr(b, VSVM_CMD_MIGRATE, VSVM_OK, 16);
}

static uint32_t rb_launch(uint8_t *b)
{
	le_put64(b + 8, 12345);
	le_put64(b + 32, 1000);
	return put_rhdr(b, VSVM_CMD_LAUNCH, VSVM_OK, 40);
}

static uint32_t rb_launch_err(uint8_t *b)
{
	le_put64(b + 16, 0x7f0000005000ull);
	le_put64(b + 24, 1);
	return put_rhdr(b, VSVM_CMD_LAUNCH, VSVM_ERR_FAULT, 40);
}

static uint32_t rb_unmap_ok(uint8_t *b)
{
	return put_rhdr(b, VSVM_CMD_UNMAP, VSVM_OK, 8);
}

static uint32_t rb_map_err(uint8_t *b)
{
	return put_rhdr(b, VSVM_CMD_MAP, VSVM_ERR_STALE, 8);
}

static const struct row response_rows[] = {
	/* Header. */
	{ "reply: 7 header bytes", rb_map_err, NOPATCH, 1, E(LENGTH) },
	{ "reply: op 0", rb_unmap_ok, { P16(H_OP, 0) }, 0, E(OPCODE) },
	{ "reply: op VSVM_CMD_NR", rb_migrate, { P16(H_OP, VSVM_CMD_NR) }, 0,
	  E(OPCODE) },
	{ "reply: status VSVM_STATUS_NR", rb_map_err,
	  { P16(R_STATUS, VSVM_STATUS_NR) }, 0, E(VALUE) },
	{ "reply: status 0xffff", rb_launch,
	  { P16(R_STATUS, 0xffff) }, 0, E(VALUE) },
	{ "reply: len 12, not a multiple of 8", rb_migrate,
	  { P32(H_LEN, 12) }, 0, E(LENGTH) },
	{ "reply: len 0", rb_unmap_ok, { P32(H_LEN, 0) }, 0, E(LENGTH) },
	{ "reply: len beyond avail", rb_launch, NOPATCH, 8, E(LENGTH) },
	{ "reply: op 0 and bad status: op first", rb_map_err,
	  { P16(H_OP, 0), P16(R_STATUS, 999) }, 0, E(OPCODE) },

	/* Error replies are the header alone, except LAUNCH's. */
	{ "error reply with a body", rb_map_err, { P32(H_LEN, 16) }, -8,
	  E(LENGTH) },
	{ "INIT error reply with the INIT body", rb_init2,
	  { P16(R_STATUS, VSVM_ERR_VERSION) }, 0, E(LENGTH) },
	{ "EVENT_WAIT error reply with a body", rb_wait2,
	  { P16(R_STATUS, VSVM_ERR_CANCELED) }, 0, E(LENGTH) },
	{ "LAUNCH error reply without its body", rb_launch_err,
	  { P32(H_LEN, 8) }, 32, E(LENGTH) },
	{ "OK reply of UNMAP with a body", rb_unmap_ok, { P32(H_LEN, 16) },
	  -8, E(LENGTH) },
	{ "OK reply of DESTROY with a body", rb_unmap_ok,
	  { P16(H_OP, VSVM_CMD_DESTROY), P32(H_LEN, 16) }, -8, E(LENGTH) },
	{ "ok: error reply of GET_ATTR, header only", rb_map_err,
	  { P16(H_OP, VSVM_CMD_GET_ATTR) }, 0, 0 },

	/* INIT / QUERY. */
	{ "init reply: len 100 and 0 devices: length first", rb_init2,
	  { P32(H_LEN, 100), P32(RINIT(num_devices), 0) }, -8, E(LENGTH) },
	{ "init reply: len 24, below fixed 32", rb_init2, { P32(H_LEN, 24) },
	  0, E(LENGTH) },
	{ "init reply: num_devices 0", rb_init2,
	  { P32(RINIT(num_devices), 0) }, 0, E(COUNT) },
	{ "init reply: num_devices 65", rb_init2,
	  { P32(RINIT(num_devices), 65) }, 0, E(COUNT) },
	{ "init reply: num_devices 3, len for 2", rb_init2,
	  { P32(RINIT(num_devices), 3) }, 0, E(LENGTH) },
	{ "init reply: num_devices 1, len for 2", rb_init2,
	  { P32(RINIT(num_devices), 1) }, 0, E(LENGTH) },
	{ "query reply: num_devices 2, len for 1", rb_query1,
	  { P32(RINIT(num_devices), 2) }, 0, E(LENGTH) },
	{ "init reply: va_bits 46", rb_init2, { P32(RINIT(va_bits), 46) }, 0,
	  E(VALUE) },
	{ "init reply: va_bits 58", rb_init2, { P32(RINIT(va_bits), 58) }, 0,
	  E(VALUE) },
	{ "init reply: va_bits 0", rb_init2, { P32(RINIT(va_bits), 0) }, 0,
	  E(VALUE) },
	{ "init reply: unknown feature", rb_init2,
	  { P32(RINIT(features), 1u << 3) }, 0, E(RESERVED) },
	{ "init reply: device[1].flags", rb_init2,
	  { P32(RDEV(1, flags), 1) }, 0, E(RESERVED) },
	{ "init reply: device[0].reserved top byte", rb_init2,
	  { P8(RDEV(0, reserved) + 7, 0x80) }, 0, E(RESERVED) },
	{ "query reply: device[0].reserved", rb_query1,
	  { P64(RDEV(0, reserved), 1) }, 0, E(RESERVED) },
	{ "init reply: va_bits 46 and 0 devices: count first", rb_init2,
	  { P32(RINIT(va_bits), 46), P32(RINIT(num_devices), 0) }, 0,
	  E(COUNT) },
	{ "init reply: feature and va_bits: va_bits first", rb_init2,
	  { P32(RINIT(features), 1u << 8), P32(RINIT(va_bits), 99) }, 0,
	  E(VALUE) },

	/* EVENT_WAIT. */
	{ "ok: wait reply with 0 events", rb_wait0, NOPATCH, 0, 0 },
	{ "wait reply: len 8", rb_wait0, { P32(H_LEN, 8) }, 8, E(LENGTH) },
	{ "wait reply: nr_events 257", rb_wait2,
	  { P32(RWAIT(nr_events), 257) }, 0, E(COUNT) },
	{ "wait reply: nr_events 3, len for 2", rb_wait2,
	  { P32(RWAIT(nr_events), 3) }, 0, E(LENGTH) },
	{ "wait reply: nr_events 1, len for 2", rb_wait2,
	  { P32(RWAIT(nr_events), 1) }, 0, E(LENGTH) },
	{ "wait reply: event type 0", rb_wait2, { P16(REV(1, type), 0) }, 0,
	  E(VALUE) },
	{ "wait reply: event flags", rb_wait2, { P16(REV(0, flags), 1) }, 0,
	  E(RESERVED) },
	{ "wait reply: fault event len 8192", rb_wait2,
	  { P64(REV(0, len), 0x2000) }, 0, E(RANGE) },
	{ "wait reply: prefetch status VSVM_STATUS_NR", rb_wait2,
	  { P32(REV(1, arg), VSVM_STATUS_NR) }, 0, E(VALUE) },

	/* FAULT_REPLY, PREFETCH, MIGRATE, LAUNCH. */
	{ "fault_reply reply: len 24", rb_freply, { P32(H_LEN, 24) }, -8,
	  E(LENGTH) },
	{ "fault_reply reply: len 8", rb_freply, { P32(H_LEN, 8) }, 0,
	  E(LENGTH) },
	{ "prefetch reply: reserved", rb_prefetch,
	  { P32(RPF(reserved), 1) }, 0, E(RESERVED) },
	{ "prefetch reply: len 32", rb_prefetch, { P32(H_LEN, 32) }, -8,
	  E(LENGTH) },
	{ "migrate reply: len 24", rb_migrate, { P32(H_LEN, 24) }, -8,
	  E(LENGTH) },
	{ "migrate reply: len 8", rb_migrate, { P32(H_LEN, 8) }, 0,
	  E(LENGTH) },
	{ "launch reply: len 48", rb_launch, { P32(H_LEN, 48) }, -8,
	  E(LENGTH) },
	{ "launch reply: len 32", rb_launch, { P32(H_LEN, 32) }, 0,
	  E(LENGTH) },
	{ "launch error reply: len 48", rb_launch_err, { P32(H_LEN, 48) }, -8,
	  E(LENGTH) },

	/* GET_ATTR. */
	{ "get_attr reply: len 8, below fixed 16", rb_gattr2,
	  { P32(H_LEN, 8) }, 40, E(LENGTH) },
	{ "get_attr reply: nr_attrs 0", rb_gattr2,
	  { P32(RGA(nr_attrs), 0), P32(H_LEN, 16) }, 0, E(COUNT) },
	{ "get_attr reply: nr_attrs 9", rb_gattr2,
	  { P32(RGA(nr_attrs), 9) }, 0, E(COUNT) },
	{ "get_attr reply: nr_attrs 1, len for 2", rb_gattr2,
	  { P32(RGA(nr_attrs), 1) }, 0, E(LENGTH) },
	{ "get_attr reply: reserved", rb_gattr2, { P32(RGA(reserved), 1) }, 0,
	  E(RESERVED) },
	{ "get_attr reply: attr type 0", rb_gattr2,
	  { P32(RGA_EL(1, type), 0) }, 0, E(VALUE) },
	{ "get_attr reply: attr type VSVM_ATTR_NR", rb_gattr2,
	  { P32(RGA_EL(0, type), VSVM_ATTR_NR) }, 0, E(VALUE) },
	{ "get_attr reply: unknown flag bit 1", rb_gattr2,
	  { P32(RGA_EL(1, flags), 2) }, 0, E(RESERVED) },
	{ "get_attr reply: MIXED and an unknown flag", rb_gattr2,
	  { P32(RGA_EL(0, flags), VSVM_ATTR_F_MIXED | 0x100) }, 0,
	  E(RESERVED) },
	{ "get_attr reply: GRANULARITY 31", rb_gattr2,
	  { P64(RGA_EL(1, value), 31) }, 0, E(VALUE) },
	{ "get_attr reply: PREFERRED_LOC 64", rb_gattr2,
	  { P64(RGA_EL(0, value), 64) }, 0, E(VALUE) },
};

static void test_malformed_replies_are_refused(void **state)
{
	(void)state;
	run_table(K_RSP, response_rows, ARRAY_SIZE(response_rows));
}

/* ------------------------------------------------------------------ */
/* Events                                                              */

static uint32_t eb_fault(uint8_t *b)
{
	put_event(b, VSVM_EVENT_FAULT, 7, 0x7f0000001000ull, VSVM_PAGE_SIZE,
		  3, VSVM_ACCESS_WRITE);
	return 32;
}

static uint32_t eb_migrate_req(uint8_t *b)
{
	put_event(b, VSVM_EVENT_MIGRATE_REQ, 8, 0x200000, 0x200000, 1, 0);
	return 32;
}

static uint32_t eb_prefetch_done(uint8_t *b)
{
	put_event(b, VSVM_EVENT_PREFETCH_DONE, 9, 0x10000, 0x10000,
		  VSVM_LOC_SYSTEM, VSVM_OK);
	return 32;
}

static const struct row event_rows[] = {
	{ "event: 31 bytes", eb_fault, NOPATCH, 1, E(LENGTH) },
	{ "event: 0 bytes", eb_migrate_req, NOPATCH, 32, E(LENGTH) },
	{ "event: type 0", eb_fault, { P16(EV(type), 0) }, 0, E(VALUE) },
	{ "event: type VSVM_EVENT_NR", eb_prefetch_done,
	  { P16(EV(type), VSVM_EVENT_NR) }, 0, E(VALUE) },
	{ "event: type 0x0101", eb_fault, { P16(EV(type), 0x0101) }, 0,
	  E(VALUE) },
	{ "event: flags 1", eb_fault, { P16(EV(flags), 1) }, 0,
	  E(RESERVED) },
	{ "event: flags 0x8000", eb_migrate_req, { P16(EV(flags), 0x8000) }, 0,
	  E(RESERVED) },
	{ "event: va not page aligned", eb_fault,
	  { P64(EV(va), 0x7f0000001004ull) }, 0, E(ALIGN) },
	{ "event: len not page aligned", eb_migrate_req,
	  { P64(EV(len), 0x200800) }, 0, E(ALIGN) },
	{ "event: len 0", eb_migrate_req, { P64(EV(len), 0) }, 0, E(RANGE) },
	{ "event: beyond 2^57", eb_prefetch_done,
	  { P64(EV(va), VA_LIMIT) }, 0, E(RANGE) },
	{ "event: va + len wraps", eb_migrate_req,
	  { P64(EV(va), 0xffffffffffe00000ull) }, 0, E(RANGE) },
	{ "fault event: len 8192", eb_fault, { P64(EV(len), 0x2000) }, 0,
	  E(RANGE) },
	{ "fault event: len 0", eb_fault, { P64(EV(len), 0) }, 0, E(RANGE) },
	{ "fault event: device 64", eb_fault, { P32(EV(device), 64) }, 0,
	  E(VALUE) },
	{ "fault event: device SYSTEM", eb_fault,
	  { P32(EV(device), VSVM_LOC_SYSTEM) }, 0, E(VALUE) },
	{ "fault event: access 0", eb_fault, { P32(EV(arg), 0) }, 0,
	  E(VALUE) },
	{ "fault event: access 4", eb_fault, { P32(EV(arg), 4) }, 0,
	  E(VALUE) },
	{ "ok: fault event access ATOMIC", eb_fault,
	  { P32(EV(arg), VSVM_ACCESS_ATOMIC) }, 0, 0 },
	{ "migrate_req event: location UNSET", eb_migrate_req,
	  { P32(EV(device), VSVM_LOC_UNSET) }, 0, E(VALUE) },
	{ "migrate_req event: location 64", eb_migrate_req,
	  { P32(EV(device), 64) }, 0, E(VALUE) },
	{ "migrate_req event: arg 1", eb_migrate_req, { P32(EV(arg), 1) }, 0,
	  E(RESERVED) },
	{ "ok: migrate_req event to SYSTEM", eb_migrate_req,
	  { P32(EV(device), VSVM_LOC_SYSTEM) }, 0, 0 },
	{ "prefetch_done event: location UNSET", eb_prefetch_done,
	  { P32(EV(device), VSVM_LOC_UNSET) }, 0, E(VALUE) },
	{ "prefetch_done event: status VSVM_STATUS_NR", eb_prefetch_done,
	  { P32(EV(arg), VSVM_STATUS_NR) }, 0, E(VALUE) },
	{ "ok: prefetch_done event with an error status", eb_prefetch_done,
	  { P32(EV(arg), VSVM_ERR_NOSPC) }, 0, 0 },
	{ "event: type 0 and flags: type first", eb_fault,
	  { P16(EV(type), 0), P16(EV(flags), 1) }, 0, E(VALUE) },
	{ "event: flags and misaligned va: flags first", eb_fault,
	  { P16(EV(flags), 1), P64(EV(va), 1) }, 0, E(RESERVED) },
};

static void test_malformed_events_are_refused(void **state)
{
	(void)state;
	run_table(K_EVENT, event_rows, ARRAY_SIZE(event_rows));
}

/* ------------------------------------------------------------------ */
/* Capset                                                              */

static uint32_t cb_caps(uint8_t *b)
{
	le_put32(b + CAP(magic), VSVM_CAPSET_MAGIC);
	le_put16(b + CAP(major), 1);
	le_put16(b + CAP(minor), 0);
	le_put32(b + CAP(size), 64);
	le_put32(b + CAP(features), VSVM_F_ALL);
	le_put32(b + CAP(num_devices), 2);
	le_put32(b + CAP(va_bits), 48);
	le_put64(b + CAP(page_sizes), 0x40201000ull);
	le_put32(b + CAP(max_contexts), 8);
	le_put32(b + CAP(max_submit_bytes), VSVM_MAX_SUBMIT_BYTES);
	le_put32(b + CAP(max_cmds), VSVM_MAX_CMDS);
	le_put32(b + CAP(max_fault_batch), VSVM_MAX_FAULT_BATCH);
	le_put32(b + CAP(max_map_runs), VSVM_MAX_MAP_RUNS);
	le_put32(b + CAP(max_launches), 4);
	le_put32(b + CAP(max_ranges), 1024);
	return 64;
}

static const struct row capset_rows[] = {
	{ "capset: 63 bytes", cb_caps, NOPATCH, 1, E(LENGTH) },
	{ "capset: bad magic", cb_caps, { P32(CAP(magic), 0) }, 0, E(VALUE) },
	{ "capset: magic byte-swapped", cb_caps,
	  { P32(CAP(magic), 0x5653564du) }, 0, E(VALUE) },
	{ "capset: size 56, below 64", cb_caps, { P32(CAP(size), 56) }, 0,
	  E(LENGTH) },
	{ "capset: size 0", cb_caps, { P32(CAP(size), 0) }, 0, E(LENGTH) },
	{ "capset: size 72 beyond avail", cb_caps, { P32(CAP(size), 72) }, 0,
	  E(LENGTH) },
	{ "capset: size 68, not a multiple of 8", cb_caps,
	  { P32(CAP(size), 68) }, -8, E(LENGTH) },
	{ "ok: capset size 72 with 72 bytes", cb_caps, { P32(CAP(size), 72) },
	  -8, 0 },
	{ "capset: bad magic and size: magic first", cb_caps,
	  { P32(CAP(magic), 1), P32(CAP(size), 8) }, 0, E(VALUE) },
	{ "capset: reserved", cb_caps, { P32(CAP(reserved), 1) }, 0,
	  E(RESERVED) },
	{ "capset: major 0", cb_caps, { P16(CAP(major), 0) }, 0,
	  E(VERSION) },
	{ "capset: unknown feature", cb_caps,
	  { P32(CAP(features), VSVM_F_ALL | 8) }, 0, E(RESERVED) },
	{ "capset: num_devices 0", cb_caps, { P32(CAP(num_devices), 0) }, 0,
	  E(COUNT) },
	{ "capset: num_devices 65", cb_caps, { P32(CAP(num_devices), 65) },
	  0, E(COUNT) },
	{ "ok: capset num_devices 64", cb_caps,
	  { P32(CAP(num_devices), 64) }, 0, 0 },
	{ "capset: va_bits 46", cb_caps, { P32(CAP(va_bits), 46) }, 0,
	  E(VALUE) },
	{ "capset: va_bits 58", cb_caps, { P32(CAP(va_bits), 58) }, 0,
	  E(VALUE) },
	{ "capset: page_sizes without 4 KiB", cb_caps,
	  { P64(CAP(page_sizes), 0x40200000ull) }, 0, E(VALUE) },
	{ "capset: page_sizes 0", cb_caps, { P64(CAP(page_sizes), 0) }, 0,
	  E(VALUE) },
	{ "capset: page_sizes below 4 KiB", cb_caps,
	  { P64(CAP(page_sizes), 0x1800) }, 0, E(VALUE) },
	{ "capset: max_contexts 0", cb_caps, { P32(CAP(max_contexts), 0) },
	  0, E(COUNT) },
	{ "capset: max_submit_bytes 87", cb_caps,
	  { P32(CAP(max_submit_bytes), 87) }, 0, E(COUNT) },
	{ "capset: max_submit_bytes over 1 MiB", cb_caps,
	  { P32(CAP(max_submit_bytes), VSVM_MAX_SUBMIT_BYTES + 1) }, 0,
	  E(COUNT) },
	{ "capset: max_cmds 0", cb_caps, { P32(CAP(max_cmds), 0) }, 0,
	  E(COUNT) },
	{ "capset: max_cmds 1025", cb_caps, { P32(CAP(max_cmds), 1025) }, 0,
	  E(COUNT) },
	{ "capset: max_fault_batch 0", cb_caps,
	  { P32(CAP(max_fault_batch), 0) }, 0, E(COUNT) },
	{ "capset: max_fault_batch 257", cb_caps,
	  { P32(CAP(max_fault_batch), 257) }, 0, E(COUNT) },
	{ "capset: max_map_runs 0", cb_caps, { P32(CAP(max_map_runs), 0) }, 0,
	  E(COUNT) },
	{ "capset: max_map_runs 513", cb_caps,
	  { P32(CAP(max_map_runs), 513) }, 0, E(COUNT) },
	{ "capset: max_launches 0", cb_caps, { P32(CAP(max_launches), 0) }, 0,
	  E(COUNT) },
	{ "capset: max_ranges 0", cb_caps, { P32(CAP(max_ranges), 0) }, 0,
	  E(COUNT) },
	{ "capset: reserved and major 0: reserved first", cb_caps,
	  { P32(CAP(reserved), 1), P16(CAP(major), 0) }, 0, E(RESERVED) },
	{ "capset: major 0 and 0 devices: major first", cb_caps,
	  { P16(CAP(major), 0), P32(CAP(num_devices), 0) }, 0, E(VERSION) },
};

static void test_malformed_capsets_are_refused(void **state)
{
	(void)state;
	run_table(K_CAPSET, capset_rows, ARRAY_SIZE(capset_rows));
}

/* ------------------------------------------------------------------ */
/* Every status a decoder returns is one of the enum                  */

static void test_statuses_have_names(void **state)
{
	static const int codes[] = { E(OPCODE), E(LENGTH), E(RESERVED),
				     E(ALIGN), E(RANGE), E(COUNT), E(VALUE),
				     E(STATE), E(VERSION) };
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(codes); i++)
		assert_string_not_equal(vsvm_status_name((uint32_t)-codes[i]),
					"UNKNOWN");
}

/* ------------------------------------------------------------------ */
/* KNOWN BUG: see the report; this test fails until the codec is fixed */

/*
 * vsvm_decode_capset() accepts any size up to avail and returns it as an
 * int, so a capset claiming size >= 2^31 (with that much available)
 * returns a negative number that is not a negated enum vsvm_status:
 * its "bytes used, or a negated enum vsvm_status" contract breaks.
 * The fix is to refuse such a size as -VSVM_ERR_LENGTH.
 */
static void test_capset_size_beyond_int_max_is_refused(void **state)
{
	const size_t map_len = 0x80000000ul;
	uint8_t *p;
	struct vsvm_caps caps;
	int ret;

	(void)state;
	p = mmap(NULL, map_len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		skip();
	cb_caps(p);
	le_put32(p + CAP(size), 0x80000000u);
	ret = vsvm_decode_capset(p, 0x80000000u, &caps);
	munmap(p, map_len);
	if (ret < 0 && -ret >= VSVM_STATUS_NR)
		fprintf(stderr, "  KNOWN BUG: vsvm_decode_capset returned %d,"
			" not a negated status\n", ret);
	assert_int_equal(ret, E(LENGTH));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_malformed_commands_are_refused),
		cmocka_unit_test(
			test_header_corruptions_refused_for_every_command),
		cmocka_unit_test(
			test_malformed_streams_are_refused_at_their_index),
		cmocka_unit_test(test_malformed_replies_are_refused),
		cmocka_unit_test(test_malformed_events_are_refused),
		cmocka_unit_test(test_malformed_capsets_are_refused),
		cmocka_unit_test(test_statuses_have_names),
		cmocka_unit_test(test_capset_size_beyond_int_max_is_refused),
	};

	return cmocka_run_group_tests_name("codec_malformed", tests, NULL,
					   NULL);
}
