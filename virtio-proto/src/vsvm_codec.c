// SPDX-License-Identifier: (GPL-2.0-only OR MIT)
/*
 * vsvm_codec.c - freestanding codec of the svm context-type protocol.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * Commands are decoded through op_table[], indexed by opcode: the generic
 * part checks the header, the element count and the exact length before the
 * per-command function sees a byte, so those functions only check fields.
 * Checks run in wire order and the first failure is returned, which makes
 * the error for a given malformed buffer deterministic (tests rely on it).
 *
 * All loads and stores are byte-wise little-endian: correct on any host
 * byte order and any buffer alignment, and free of undefined behaviour.
 */
#include "vsvm/vsvm_codec.h"

#define OFF(t, f) ((__u32) __builtin_offsetof(struct t, f))
#define SZ(t)	  ((__u32)sizeof(struct t))

static inline __u16 ld16(const __u8 *p)
{
	return (__u16)(p[0] | (p[1] << 8));
}

static inline __u32 ld32(const __u8 *p)
{
	return (__u32)p[0] | (__u32)p[1] << 8 | (__u32)p[2] << 16 |
	       (__u32)p[3] << 24;
}

static inline __u64 ld64(const __u8 *p)
{
	return (__u64)ld32(p) | (__u64)ld32(p + 4) << 32;
}

static inline void st16(__u8 *p, __u16 v)
{
	p[0] = (__u8)v;
	p[1] = (__u8)(v >> 8);
}

static inline void st32(__u8 *p, __u32 v)
{
	st16(p, (__u16)v);
	st16(p + 2, (__u16)(v >> 16));
}

static inline void st64(__u8 *p, __u64 v)
{
	st32(p, (__u32)v);
	st32(p + 4, (__u32)(v >> 32));
}

static void zero(__u8 *p, __u32 n)
{
	while (n--)
		*p++ = 0;
}

static inline int page_aligned(__u64 v)
{
	return (v & (VSVM_PAGE_SIZE - 1)) == 0;
}

/* ------------------------------------------------------------------ */
/* Names                                                               */

static const char *const op_names[VSVM_CMD_NR] = {
	[VSVM_CMD_INIT] = "INIT",
	[VSVM_CMD_MAP] = "MAP",
	[VSVM_CMD_UNMAP] = "UNMAP",
	[VSVM_CMD_EVENT_WAIT] = "EVENT_WAIT",
	[VSVM_CMD_FAULT_REPLY] = "FAULT_REPLY",
	[VSVM_CMD_SET_ATTR] = "SET_ATTR",
	[VSVM_CMD_GET_ATTR] = "GET_ATTR",
	[VSVM_CMD_PREFETCH] = "PREFETCH",
	[VSVM_CMD_MIGRATE] = "MIGRATE",
	[VSVM_CMD_LAUNCH] = "LAUNCH",
	[VSVM_CMD_DESTROY] = "DESTROY",
	[VSVM_CMD_QUERY] = "QUERY",
};

static const char *const status_names[VSVM_STATUS_NR] = {
	[VSVM_OK] = "OK",
	[VSVM_ERR_UNSPEC] = "ERR_UNSPEC",
	[VSVM_ERR_OPCODE] = "ERR_OPCODE",
	[VSVM_ERR_LENGTH] = "ERR_LENGTH",
	[VSVM_ERR_RESERVED] = "ERR_RESERVED",
	[VSVM_ERR_ALIGN] = "ERR_ALIGN",
	[VSVM_ERR_RANGE] = "ERR_RANGE",
	[VSVM_ERR_COUNT] = "ERR_COUNT",
	[VSVM_ERR_VALUE] = "ERR_VALUE",
	[VSVM_ERR_STATE] = "ERR_STATE",
	[VSVM_ERR_VERSION] = "ERR_VERSION",
	[VSVM_ERR_LIMIT] = "ERR_LIMIT",
	[VSVM_ERR_NOMEM] = "ERR_NOMEM",
	[VSVM_ERR_NOSPC] = "ERR_NOSPC",
	[VSVM_ERR_BUSY] = "ERR_BUSY",
	[VSVM_ERR_STALE] = "ERR_STALE",
	[VSVM_ERR_CANCELED] = "ERR_CANCELED",
	[VSVM_ERR_FAULT] = "ERR_FAULT",
	[VSVM_ERR_NODEV] = "ERR_NODEV",
	[VSVM_ERR_SEQ] = "ERR_SEQ",
	[VSVM_ERR_DEVICE_LOST] = "ERR_DEVICE_LOST",
};

static const struct {
	const char *name;
	__u32 nr_args;
} kernels[VSVM_KERNEL_NR] = {
	[VSVM_KERNEL_FILL] = { "fill", 3 },
	[VSVM_KERNEL_COPY] = { "copy", 3 },
	[VSVM_KERNEL_TRIAD] = { "triad", 5 },
	[VSVM_KERNEL_GATHER] = { "gather", 5 },
	[VSVM_KERNEL_HISTOGRAM] = { "histogram", 4 },
	[VSVM_KERNEL_CHASE] = { "chase", 2 },
};

const char *vsvm_op_name(__u32 op)
{
	return op < VSVM_CMD_NR && op_names[op] ? op_names[op] : "UNKNOWN";
}

const char *vsvm_status_name(__u32 status)
{
	return status < VSVM_STATUS_NR ? status_names[status] : "UNKNOWN";
}

const char *vsvm_kernel_name(__u32 kernel)
{
	return kernel && kernel < VSVM_KERNEL_NR ? kernels[kernel].name :
						   "unknown";
}

__u32 vsvm_kernel_nr_args(__u32 kernel)
{
	return kernel && kernel < VSVM_KERNEL_NR ? kernels[kernel].nr_args : 0;
}

int vsvm_op_parks(__u32 op)
{
	return op == VSVM_CMD_EVENT_WAIT || op == VSVM_CMD_LAUNCH;
}

/* ------------------------------------------------------------------ */
/* Field checks                                                        */

/**
 * vsvm_check_range - validate a VA range
 * @va: start, page aligned
 * @len: length in bytes, page aligned, not zero
 * @va_bits: the range must end at or below 2^va_bits
 *
 * Return: 0, -VSVM_ERR_ALIGN or -VSVM_ERR_RANGE.
 */
int vsvm_check_range(__u64 va, __u64 len, __u32 va_bits)
{
	__u64 limit = 1ull << va_bits;

	if (!page_aligned(va) || !page_aligned(len))
		return -VSVM_ERR_ALIGN;
	/* Written so that va + len cannot overflow. */
	if (len == 0 || va >= limit || len > limit - va)
		return -VSVM_ERR_RANGE;
	return 0;
}

/**
 * vsvm_check_location - validate a location field
 * @loc: device index, VSVM_LOC_SYSTEM or (if @allow_unset) VSVM_LOC_UNSET
 * @allow_unset: whether "no preference" is meaningful here
 *
 * Whether a device index names a present device is the host's check.
 *
 * Return: 0 or -VSVM_ERR_VALUE.
 */
int vsvm_check_location(__u32 loc, int allow_unset)
{
	if (loc < VSVM_MAX_DEVICES || loc == VSVM_LOC_SYSTEM)
		return 0;
	if (allow_unset && loc == VSVM_LOC_UNSET)
		return 0;
	return -VSVM_ERR_VALUE;
}

static int check_runs(const __u8 *p, __u32 nr, __u64 total)
{
	__u64 sum = 0;
	__u32 i;

	for (i = 0; i < nr; i++, p += SZ(vsvm_gpa_run)) {
		__u64 gpa = ld64(p + OFF(vsvm_gpa_run, gpa));
		__u64 len = ld64(p + OFF(vsvm_gpa_run, len));

		if (!page_aligned(gpa) || !page_aligned(len))
			return -VSVM_ERR_ALIGN;
		if (len == 0 || len > ~0ull - gpa)
			return -VSVM_ERR_RANGE;
		/* sum <= total < 2^57 and len < 2^64: no overflow. */
		if (len > total - sum)
			return -VSVM_ERR_COUNT;
		sum += len;
	}
	return sum == total ? 0 : -VSVM_ERR_COUNT;
}

static int check_attr_value(__u32 type, __u64 value)
{
	switch (type) {
	case VSVM_ATTR_PREFERRED_LOC:
		if (value > 0xffffffffull)
			return -VSVM_ERR_VALUE;
		return vsvm_check_location((__u32)value, 1);
	case VSVM_ATTR_ACCESSED_BY:
		return 0;
	case VSVM_ATTR_READ_MOSTLY:
		return value <= 1 ? 0 : -VSVM_ERR_VALUE;
	case VSVM_ATTR_GRANULARITY:
		return value >= VSVM_GRANULARITY_MIN &&
				       value <= VSVM_GRANULARITY_MAX ?
			       0 :
			       -VSVM_ERR_VALUE;
	case VSVM_ATTR_DEVICE_ACCESS:
		return value <= VSVM_DEVICE_ACCESS_NONE ? 0 : -VSVM_ERR_VALUE;
	}
	return -VSVM_ERR_VALUE;
}

/* SET: values checked; GET: values must be zero.  Each type once. */
static int check_attrs(const __u8 *p, __u32 nr, int is_get)
{
	__u32 seen = 0;
	__u32 i;

	for (i = 0; i < nr; i++, p += SZ(vsvm_attr)) {
		__u32 type = ld32(p + OFF(vsvm_attr, type));
		__u32 flags = ld32(p + OFF(vsvm_attr, flags));
		__u64 value = ld64(p + OFF(vsvm_attr, value));
		int ret;

		if (type == 0 || type >= VSVM_ATTR_NR)
			return -VSVM_ERR_VALUE;
		if (flags)
			return -VSVM_ERR_RESERVED;
		if (seen & (1u << type))
			return -VSVM_ERR_VALUE;
		seen |= 1u << type;
		if (is_get) {
			if (value)
				return -VSVM_ERR_RESERVED;
			continue;
		}
		ret = check_attr_value(type, value);
		if (ret)
			return ret;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Commands                                                            */

static int dec_init(const __u8 *p, struct vsvm_request *req)
{
	__u32 va_bits = ld32(p + OFF(vsvm_cmd_init, va_bits));

	req->u.init.major = ld16(p + OFF(vsvm_cmd_init, major));
	req->u.init.minor = ld16(p + OFF(vsvm_cmd_init, minor));
	req->u.init.va_bits = va_bits;
	if (req->u.init.major == 0)
		return -VSVM_ERR_VALUE;
	if (va_bits &&
	    (va_bits < VSVM_VA_BITS_MIN || va_bits > VSVM_VA_BITS_MAX))
		return -VSVM_ERR_VALUE;
	if (ld32(p + OFF(vsvm_cmd_init, flags)) ||
	    ld32(p + OFF(vsvm_cmd_init, reserved)))
		return -VSVM_ERR_RESERVED;
	return 0;
}

static int dec_map(const __u8 *p, struct vsvm_request *req)
{
	__u32 prot = ld32(p + OFF(vsvm_cmd_map, prot));
	int ret;

	req->u.map.va = ld64(p + OFF(vsvm_cmd_map, va));
	req->u.map.len = ld64(p + OFF(vsvm_cmd_map, len));
	req->u.map.inval_seq = ld64(p + OFF(vsvm_cmd_map, inval_seq));
	req->u.map.prot = prot;
	req->u.map.nr_runs = ld32(p + OFF(vsvm_cmd_map, nr_runs));
	req->u.map.runs = 0;
	req->u.map.runs_wire = p + SZ(vsvm_cmd_map);

	ret = vsvm_check_range(req->u.map.va, req->u.map.len, VSVM_VA_BITS_MAX);
	if (ret)
		return ret;
	if (!(prot & VSVM_PROT_READ) || (prot & ~VSVM_PROT_ALL) ||
	    ((prot & VSVM_PROT_ATOMIC) && !(prot & VSVM_PROT_WRITE)))
		return -VSVM_ERR_VALUE;
	return check_runs(req->u.map.runs_wire, req->u.map.nr_runs,
			  req->u.map.len);
}

static int dec_unmap(const __u8 *p, struct vsvm_request *req)
{
	int ret;

	req->u.unmap.va = ld64(p + OFF(vsvm_cmd_unmap, va));
	req->u.unmap.len = ld64(p + OFF(vsvm_cmd_unmap, len));
	req->u.unmap.seq = ld64(p + OFF(vsvm_cmd_unmap, seq));
	ret = vsvm_check_range(req->u.unmap.va, req->u.unmap.len,
			       VSVM_VA_BITS_MAX);
	if (ret)
		return ret;
	return req->u.unmap.seq ? 0 : -VSVM_ERR_VALUE;
}

static int dec_event_wait(const __u8 *p, struct vsvm_request *req)
{
	req->u.wait.max_events = ld32(p + OFF(vsvm_cmd_event_wait, max_events));
	req->u.wait.flags = ld32(p + OFF(vsvm_cmd_event_wait, flags));
	if (req->u.wait.max_events == 0 ||
	    req->u.wait.max_events > VSVM_MAX_FAULT_BATCH)
		return -VSVM_ERR_COUNT;
	if (req->u.wait.flags & ~VSVM_WAIT_F_NONBLOCK)
		return -VSVM_ERR_RESERVED;
	return 0;
}

static int dec_fault_reply(const __u8 *p, struct vsvm_request *req)
{
	const __u8 *e = p + SZ(vsvm_cmd_fault_reply);
	__u32 i;

	req->u.fault_reply.nr = ld32(p + OFF(vsvm_cmd_fault_reply, nr));
	req->u.fault_reply.res = 0;
	req->u.fault_reply.res_wire = e;
	if (ld32(p + OFF(vsvm_cmd_fault_reply, reserved)))
		return -VSVM_ERR_RESERVED;
	for (i = 0; i < req->u.fault_reply.nr; i++) {
		__u32 status = ld32(e + i * SZ(vsvm_fault_resolution) +
				    OFF(vsvm_fault_resolution, status));

		if (status >= VSVM_STATUS_NR)
			return -VSVM_ERR_VALUE;
	}
	return 0;
}

static int dec_attr(const __u8 *p, struct vsvm_request *req)
{
	int ret;

	req->u.attr.va = ld64(p + OFF(vsvm_cmd_attr, va));
	req->u.attr.len = ld64(p + OFF(vsvm_cmd_attr, len));
	req->u.attr.nr_attrs = ld32(p + OFF(vsvm_cmd_attr, nr_attrs));
	req->u.attr.attrs = 0;
	req->u.attr.attrs_wire = p + SZ(vsvm_cmd_attr);
	ret = vsvm_check_range(req->u.attr.va, req->u.attr.len,
			       VSVM_VA_BITS_MAX);
	if (ret)
		return ret;
	if (ld32(p + OFF(vsvm_cmd_attr, reserved)))
		return -VSVM_ERR_RESERVED;
	return check_attrs(req->u.attr.attrs_wire, req->u.attr.nr_attrs,
			   req->op == VSVM_CMD_GET_ATTR);
}

static int dec_prefetch(const __u8 *p, struct vsvm_request *req)
{
	int ret;

	req->u.prefetch.va = ld64(p + OFF(vsvm_cmd_prefetch, va));
	req->u.prefetch.len = ld64(p + OFF(vsvm_cmd_prefetch, len));
	req->u.prefetch.location = ld32(p + OFF(vsvm_cmd_prefetch, location));
	req->u.prefetch.flags = ld32(p + OFF(vsvm_cmd_prefetch, flags));
	ret = vsvm_check_range(req->u.prefetch.va, req->u.prefetch.len,
			       VSVM_VA_BITS_MAX);
	if (ret)
		return ret;
	ret = vsvm_check_location(req->u.prefetch.location, 0);
	if (ret)
		return ret;
	if (req->u.prefetch.flags & ~VSVM_PREFETCH_F_ASYNC)
		return -VSVM_ERR_RESERVED;
	return 0;
}

static int dec_migrate(const __u8 *p, struct vsvm_request *req)
{
	__u32 nr;
	int ret;

	req->u.migrate.va = ld64(p + OFF(vsvm_cmd_migrate, va));
	req->u.migrate.len = ld64(p + OFF(vsvm_cmd_migrate, len));
	req->u.migrate.location = ld32(p + OFF(vsvm_cmd_migrate, location));
	req->u.migrate.request_id = ld32(p + OFF(vsvm_cmd_migrate, request_id));
	nr = ld32(p + OFF(vsvm_cmd_migrate, nr_runs));
	req->u.migrate.nr_runs = nr;
	req->u.migrate.runs = 0;
	req->u.migrate.runs_wire = p + SZ(vsvm_cmd_migrate);
	ret = vsvm_check_range(req->u.migrate.va, req->u.migrate.len,
			       VSVM_VA_BITS_MAX);
	if (ret)
		return ret;
	ret = vsvm_check_location(req->u.migrate.location, 0);
	if (ret)
		return ret;
	if (ld32(p + OFF(vsvm_cmd_migrate, flags)))
		return -VSVM_ERR_RESERVED;
	/* Data coming back to guest RAM needs somewhere to land. */
	if (nr == 0)
		return req->u.migrate.location == VSVM_LOC_SYSTEM ?
			       -VSVM_ERR_COUNT :
			       0;
	return check_runs(req->u.migrate.runs_wire, nr, req->u.migrate.len);
}

static int dec_launch(const __u8 *p, struct vsvm_request *req)
{
	__u32 kernel = ld32(p + OFF(vsvm_cmd_launch, kernel));
	__u32 i;

	req->u.launch.kernel = kernel;
	req->u.launch.device = ld32(p + OFF(vsvm_cmd_launch, device));
	req->u.launch.nr_args = ld32(p + OFF(vsvm_cmd_launch, nr_args));
	for (i = 0; i < VSVM_MAX_KERNEL_ARGS; i++)
		req->u.launch.args[i] =
			ld64(p + OFF(vsvm_cmd_launch, args) + 8 * i);
	if (kernel == 0 || kernel >= VSVM_KERNEL_NR)
		return -VSVM_ERR_VALUE;
	if (req->u.launch.device >= VSVM_MAX_DEVICES)
		return -VSVM_ERR_VALUE;
	if (ld32(p + OFF(vsvm_cmd_launch, flags)))
		return -VSVM_ERR_RESERVED;
	if (req->u.launch.nr_args != kernels[kernel].nr_args)
		return -VSVM_ERR_COUNT;
	for (i = req->u.launch.nr_args; i < VSVM_MAX_KERNEL_ARGS; i++)
		if (req->u.launch.args[i])
			return -VSVM_ERR_RESERVED;
	return 0;
}

static int dec_empty(const __u8 *p, struct vsvm_request *req)
{
	(void)p;
	(void)req;
	return 0;
}

/*
 * One row per opcode: the fixed size, and for commands that carry an
 * array, where its count lives, the element size and the protocol cap.
 */
struct op_desc {
	__u32 fixed;
	__u32 count_off;
	__u32 elem;
	__u32 max_elems;
	__u32 min_elems;
	int (*decode)(const __u8 *p, struct vsvm_request *req);
};

static const struct op_desc op_table[VSVM_CMD_NR] = {
	[VSVM_CMD_INIT] = { SZ(vsvm_cmd_init), 0, 0, 0, 0, dec_init },
	[VSVM_CMD_MAP] = { SZ(vsvm_cmd_map), OFF(vsvm_cmd_map, nr_runs),
			   SZ(vsvm_gpa_run), VSVM_MAX_MAP_RUNS, 1, dec_map },
	[VSVM_CMD_UNMAP] = { SZ(vsvm_cmd_unmap), 0, 0, 0, 0, dec_unmap },
	[VSVM_CMD_EVENT_WAIT] = { SZ(vsvm_cmd_event_wait), 0, 0, 0, 0,
				  dec_event_wait },
	[VSVM_CMD_FAULT_REPLY] = { SZ(vsvm_cmd_fault_reply),
				   OFF(vsvm_cmd_fault_reply, nr),
				   SZ(vsvm_fault_resolution),
				   VSVM_MAX_FAULT_BATCH, 1, dec_fault_reply },
	[VSVM_CMD_SET_ATTR] = { SZ(vsvm_cmd_attr), OFF(vsvm_cmd_attr, nr_attrs),
				SZ(vsvm_attr), VSVM_MAX_ATTRS, 1, dec_attr },
	[VSVM_CMD_GET_ATTR] = { SZ(vsvm_cmd_attr), OFF(vsvm_cmd_attr, nr_attrs),
				SZ(vsvm_attr), VSVM_MAX_ATTRS, 1, dec_attr },
	[VSVM_CMD_PREFETCH] = { SZ(vsvm_cmd_prefetch), 0, 0, 0, 0,
				dec_prefetch },
	[VSVM_CMD_MIGRATE] = { SZ(vsvm_cmd_migrate),
			       OFF(vsvm_cmd_migrate, nr_runs), SZ(vsvm_gpa_run),
			       VSVM_MAX_MAP_RUNS, 0, dec_migrate },
	[VSVM_CMD_LAUNCH] = { SZ(vsvm_cmd_launch), 0, 0, 0, 0, dec_launch },
	[VSVM_CMD_DESTROY] = { SZ(vsvm_cmd_empty), 0, 0, 0, 0, dec_empty },
	[VSVM_CMD_QUERY] = { SZ(vsvm_cmd_empty), 0, 0, 0, 0, dec_empty },
};

/**
 * vsvm_decode_request - decode and validate one command
 * @buf: the command, in memory the guest can no longer change
 * @avail: bytes available at @buf
 * @req: filled in; array pointers point into @buf
 *
 * Return: the command's length in bytes, or a negated enum vsvm_status.
 */
int vsvm_decode_request(const void *buf, __u32 avail, struct vsvm_request *req)
{
	const __u8 *p = (const __u8 *)buf;
	const struct op_desc *d;
	__u32 op, len, nr = 0;
	int ret;

	if (avail < SZ(vsvm_cmd_hdr))
		return -VSVM_ERR_LENGTH;
	op = ld16(p + OFF(vsvm_cmd_hdr, op));
	len = ld32(p + OFF(vsvm_cmd_hdr, len));
	req->op = (__u16)op;
	req->len = len;
	if (op == 0 || op >= VSVM_CMD_NR)
		return -VSVM_ERR_OPCODE;
	if (ld16(p + OFF(vsvm_cmd_hdr, flags)))
		return -VSVM_ERR_RESERVED;
	d = &op_table[op];
	if (len % 8 || len < d->fixed || len > avail)
		return -VSVM_ERR_LENGTH;
	if (d->elem) {
		nr = ld32(p + d->count_off);
		if (nr < d->min_elems || nr > d->max_elems)
			return -VSVM_ERR_COUNT;
	}
	/* nr <= 512 and elem <= 16: the product cannot overflow. */
	if (len != d->fixed + nr * d->elem)
		return -VSVM_ERR_LENGTH;
	ret = d->decode(p, req);
	return ret ? ret : (int)len;
}

void vsvm_request_run(const struct vsvm_request *req, __u32 i,
		      struct vsvm_run *out)
{
	const __u8 *e = req->op == VSVM_CMD_MAP ? req->u.map.runs_wire :
						  req->u.migrate.runs_wire;

	e += i * SZ(vsvm_gpa_run);
	out->gpa = ld64(e + OFF(vsvm_gpa_run, gpa));
	out->len = ld64(e + OFF(vsvm_gpa_run, len));
}

void vsvm_request_resolution(const struct vsvm_request *req, __u32 i,
			     struct vsvm_resolution *out)
{
	const __u8 *e =
		req->u.fault_reply.res_wire + i * SZ(vsvm_fault_resolution);

	out->id = ld32(e + OFF(vsvm_fault_resolution, id));
	out->status = ld32(e + OFF(vsvm_fault_resolution, status));
}

static void load_attr(const __u8 *e, struct vsvm_attr_val *out)
{
	out->type = ld32(e + OFF(vsvm_attr, type));
	out->flags = ld32(e + OFF(vsvm_attr, flags));
	out->value = ld64(e + OFF(vsvm_attr, value));
}

void vsvm_request_attr(const struct vsvm_request *req, __u32 i,
		       struct vsvm_attr_val *out)
{
	load_attr(req->u.attr.attrs_wire + i * SZ(vsvm_attr), out);
}

void vsvm_stream_init(struct vsvm_stream *s, const void *buf, __u32 len)
{
	s->buf = (const __u8 *)buf;
	s->len = len;
	s->off = 0;
	s->index = 0;
}

/**
 * vsvm_stream_next - decode the next command of a stream
 * @s: the stream
 * @req: filled in
 *
 * Besides what vsvm_decode_request() checks, a stream may hold at most
 * VSVM_MAX_CMDS commands and a parking command (EVENT_WAIT, LAUNCH) must
 * be its last.
 *
 * Return: 1 with @req filled, 0 at the end, or a negated enum vsvm_status.
 */
int vsvm_stream_next(struct vsvm_stream *s, struct vsvm_request *req)
{
	int ret;

	if (s->off == s->len)
		return 0;
	if (s->index >= VSVM_MAX_CMDS)
		return -VSVM_ERR_COUNT;
	ret = vsvm_decode_request(s->buf + s->off, s->len - s->off, req);
	if (ret < 0)
		return ret;
	s->off += (__u32)ret;
	s->index++;
	if (vsvm_op_parks(req->op) && s->off != s->len)
		return -VSVM_ERR_STATE;
	return 1;
}

/**
 * vsvm_stream_validate - validate a whole command stream before acting
 * @buf: the stream
 * @len: its length; 0 is a valid, empty stream
 * @num_devices: devices the host reports, to size INIT/QUERY replies
 * @nr_cmds: set to the number of commands
 * @reply_bytes: set to the bytes the reply stream needs on success
 * @bad_index: on failure, set to the index of the offending command
 *
 * Return: 0, or the negated enum vsvm_status of the first malformed
 * command.  A stream longer than VSVM_MAX_SUBMIT_BYTES is -VSVM_ERR_LENGTH.
 */
int vsvm_stream_validate(const void *buf, __u32 len, __u32 num_devices,
			 __u32 *nr_cmds, __u32 *reply_bytes, __u32 *bad_index)
{
	struct vsvm_request req;
	struct vsvm_stream s;
	__u32 bytes = 0;
	int ret;

	*nr_cmds = 0;
	*reply_bytes = 0;
	*bad_index = 0;
	if (len > VSVM_MAX_SUBMIT_BYTES)
		return -VSVM_ERR_LENGTH;
	vsvm_stream_init(&s, buf, len);
	while ((ret = vsvm_stream_next(&s, &req)) > 0)
		bytes += vsvm_reply_size(&req, num_devices);
	*nr_cmds = s.index;
	if (ret < 0) {
		/* A parking command not last fails after it was counted. */
		*bad_index = ret == -VSVM_ERR_STATE ? s.index - 1 : s.index;
		return ret;
	}
	*reply_bytes = bytes;
	return 0;
}

/**
 * vsvm_reply_size - bytes of a successful reply to @req
 * @req: a decoded (valid) command
 * @num_devices: the host's device count, for INIT and QUERY
 *
 * An error reply is never larger, so this also bounds the reply.
 *
 * Return: the size in bytes.
 */
__u32 vsvm_reply_size(const struct vsvm_request *req, __u32 num_devices)
{
	switch (req->op) {
	case VSVM_CMD_INIT:
	case VSVM_CMD_QUERY:
		return SZ(vsvm_reply_init) + num_devices * SZ(vsvm_device_info);
	case VSVM_CMD_EVENT_WAIT:
		return SZ(vsvm_reply_event_wait) +
		       req->u.wait.max_events * SZ(vsvm_event);
	case VSVM_CMD_FAULT_REPLY:
		return SZ(vsvm_reply_fault_reply);
	case VSVM_CMD_GET_ATTR:
		return SZ(vsvm_reply_get_attr) +
		       req->u.attr.nr_attrs * SZ(vsvm_attr);
	case VSVM_CMD_PREFETCH:
		return SZ(vsvm_reply_prefetch);
	case VSVM_CMD_MIGRATE:
		return SZ(vsvm_reply_migrate);
	case VSVM_CMD_LAUNCH:
		return SZ(vsvm_reply_launch);
	}
	return SZ(vsvm_reply_hdr);
}

/* ------------------------------------------------------------------ */
/* Command encoding                                                    */

static __u8 *reserve(struct vsvm_writer *w, __u32 len)
{
	__u8 *p;

	if (len > w->cap - w->off)
		return 0;
	p = w->buf + w->off;
	zero(p, len);
	return p;
}

static __u32 request_len(const struct vsvm_request *req)
{
	const struct op_desc *d = &op_table[req->op];
	__u32 nr = 0;

	switch (req->op) {
	case VSVM_CMD_MAP:
		nr = req->u.map.nr_runs;
		break;
	case VSVM_CMD_MIGRATE:
		nr = req->u.migrate.nr_runs;
		break;
	case VSVM_CMD_FAULT_REPLY:
		nr = req->u.fault_reply.nr;
		break;
	case VSVM_CMD_SET_ATTR:
	case VSVM_CMD_GET_ATTR:
		nr = req->u.attr.nr_attrs;
		break;
	}
	return d->fixed + nr * d->elem;
}

static void put_runs(__u8 *e, const struct vsvm_run *runs, __u32 nr)
{
	__u32 i;

	for (i = 0; i < nr; i++, e += SZ(vsvm_gpa_run)) {
		st64(e + OFF(vsvm_gpa_run, gpa), runs[i].gpa);
		st64(e + OFF(vsvm_gpa_run, len), runs[i].len);
	}
}

static void put_attrs(__u8 *e, const struct vsvm_attr_val *a, __u32 nr)
{
	__u32 i;

	for (i = 0; i < nr; i++, e += SZ(vsvm_attr)) {
		st32(e + OFF(vsvm_attr, type), a[i].type);
		st32(e + OFF(vsvm_attr, flags), a[i].flags);
		st64(e + OFF(vsvm_attr, value), a[i].value);
	}
}

static void put_request_body(__u8 *p, const struct vsvm_request *req)
{
	__u32 i;

	switch (req->op) {
	case VSVM_CMD_INIT:
		st16(p + OFF(vsvm_cmd_init, major), req->u.init.major);
		st16(p + OFF(vsvm_cmd_init, minor), req->u.init.minor);
		st32(p + OFF(vsvm_cmd_init, va_bits), req->u.init.va_bits);
		break;
	case VSVM_CMD_MAP:
		st64(p + OFF(vsvm_cmd_map, va), req->u.map.va);
		st64(p + OFF(vsvm_cmd_map, len), req->u.map.len);
		st64(p + OFF(vsvm_cmd_map, inval_seq), req->u.map.inval_seq);
		st32(p + OFF(vsvm_cmd_map, prot), req->u.map.prot);
		st32(p + OFF(vsvm_cmd_map, nr_runs), req->u.map.nr_runs);
		put_runs(p + SZ(vsvm_cmd_map), req->u.map.runs,
			 req->u.map.nr_runs);
		break;
	case VSVM_CMD_UNMAP:
		st64(p + OFF(vsvm_cmd_unmap, va), req->u.unmap.va);
		st64(p + OFF(vsvm_cmd_unmap, len), req->u.unmap.len);
		st64(p + OFF(vsvm_cmd_unmap, seq), req->u.unmap.seq);
		break;
	case VSVM_CMD_EVENT_WAIT:
		st32(p + OFF(vsvm_cmd_event_wait, max_events),
		     req->u.wait.max_events);
		st32(p + OFF(vsvm_cmd_event_wait, flags), req->u.wait.flags);
		break;
	case VSVM_CMD_FAULT_REPLY:
		st32(p + OFF(vsvm_cmd_fault_reply, nr), req->u.fault_reply.nr);
		for (i = 0; i < req->u.fault_reply.nr; i++) {
			__u8 *e = p + SZ(vsvm_cmd_fault_reply) +
				  i * SZ(vsvm_fault_resolution);

			st32(e + OFF(vsvm_fault_resolution, id),
			     req->u.fault_reply.res[i].id);
			st32(e + OFF(vsvm_fault_resolution, status),
			     req->u.fault_reply.res[i].status);
		}
		break;
	case VSVM_CMD_SET_ATTR:
	case VSVM_CMD_GET_ATTR:
		st64(p + OFF(vsvm_cmd_attr, va), req->u.attr.va);
		st64(p + OFF(vsvm_cmd_attr, len), req->u.attr.len);
		st32(p + OFF(vsvm_cmd_attr, nr_attrs), req->u.attr.nr_attrs);
		put_attrs(p + SZ(vsvm_cmd_attr), req->u.attr.attrs,
			  req->u.attr.nr_attrs);
		break;
	case VSVM_CMD_PREFETCH:
		st64(p + OFF(vsvm_cmd_prefetch, va), req->u.prefetch.va);
		st64(p + OFF(vsvm_cmd_prefetch, len), req->u.prefetch.len);
		st32(p + OFF(vsvm_cmd_prefetch, location),
		     req->u.prefetch.location);
		st32(p + OFF(vsvm_cmd_prefetch, flags), req->u.prefetch.flags);
		break;
	case VSVM_CMD_MIGRATE:
		st64(p + OFF(vsvm_cmd_migrate, va), req->u.migrate.va);
		st64(p + OFF(vsvm_cmd_migrate, len), req->u.migrate.len);
		st32(p + OFF(vsvm_cmd_migrate, location),
		     req->u.migrate.location);
		st32(p + OFF(vsvm_cmd_migrate, request_id),
		     req->u.migrate.request_id);
		st32(p + OFF(vsvm_cmd_migrate, nr_runs),
		     req->u.migrate.nr_runs);
		put_runs(p + SZ(vsvm_cmd_migrate), req->u.migrate.runs,
			 req->u.migrate.nr_runs);
		break;
	case VSVM_CMD_LAUNCH:
		st32(p + OFF(vsvm_cmd_launch, kernel), req->u.launch.kernel);
		st32(p + OFF(vsvm_cmd_launch, device), req->u.launch.device);
		st32(p + OFF(vsvm_cmd_launch, nr_args), req->u.launch.nr_args);
		for (i = 0; i < VSVM_MAX_KERNEL_ARGS; i++)
			st64(p + OFF(vsvm_cmd_launch, args) + 8 * i,
			     req->u.launch.args[i]);
		break;
	}
}

/**
 * vsvm_encode_request - append one command to a stream
 * @w: the writer
 * @req: the command; array pointers are host-order arrays
 *
 * The result is validated by decoding it, so a guest cannot send what a
 * host would reject as malformed; on failure the writer is unchanged.
 *
 * Return: bytes written, or a negated enum vsvm_status.
 */
int vsvm_encode_request(struct vsvm_writer *w, const struct vsvm_request *req)
{
	struct vsvm_request check;
	__u32 len, nr;
	__u8 *p;
	int ret;

	if (req->op == 0 || req->op >= VSVM_CMD_NR)
		return -VSVM_ERR_OPCODE;
	nr = req->op == VSVM_CMD_MAP	     ? req->u.map.nr_runs :
	     req->op == VSVM_CMD_MIGRATE     ? req->u.migrate.nr_runs :
	     req->op == VSVM_CMD_FAULT_REPLY ? req->u.fault_reply.nr :
	     req->op == VSVM_CMD_SET_ATTR || req->op == VSVM_CMD_GET_ATTR ?
					       req->u.attr.nr_attrs :
					       0;
	if (nr > op_table[req->op].max_elems)
		return -VSVM_ERR_COUNT;
	len = request_len(req);
	p = reserve(w, len);
	if (!p)
		return -VSVM_ERR_LENGTH;
	st16(p + OFF(vsvm_cmd_hdr, op), req->op);
	st32(p + OFF(vsvm_cmd_hdr, len), len);
	put_request_body(p, req);
	ret = vsvm_decode_request(p, len, &check);
	if (ret < 0)
		return ret;
	w->off += len;
	return (int)len;
}

/* ------------------------------------------------------------------ */
/* Events and replies                                                  */

static void put_event(__u8 *e, const struct vsvm_event_val *ev)
{
	st16(e + OFF(vsvm_event, type), ev->type);
	st32(e + OFF(vsvm_event, id), ev->id);
	st64(e + OFF(vsvm_event, va), ev->va);
	st64(e + OFF(vsvm_event, len), ev->len);
	st32(e + OFF(vsvm_event, device), ev->device);
	st32(e + OFF(vsvm_event, arg), ev->arg);
}

static int load_event(const __u8 *e, struct vsvm_event_val *ev)
{
	int ret;

	ev->type = ld16(e + OFF(vsvm_event, type));
	ev->id = ld32(e + OFF(vsvm_event, id));
	ev->va = ld64(e + OFF(vsvm_event, va));
	ev->len = ld64(e + OFF(vsvm_event, len));
	ev->device = ld32(e + OFF(vsvm_event, device));
	ev->arg = ld32(e + OFF(vsvm_event, arg));
	if (ev->type == 0 || ev->type >= VSVM_EVENT_NR)
		return -VSVM_ERR_VALUE;
	if (ld16(e + OFF(vsvm_event, flags)))
		return -VSVM_ERR_RESERVED;
	ret = vsvm_check_range(ev->va, ev->len, VSVM_VA_BITS_MAX);
	if (ret)
		return ret;
	switch (ev->type) {
	case VSVM_EVENT_FAULT:
		if (ev->len != VSVM_PAGE_SIZE)
			return -VSVM_ERR_RANGE;
		if (ev->device >= VSVM_MAX_DEVICES)
			return -VSVM_ERR_VALUE;
		if (ev->arg < VSVM_ACCESS_READ || ev->arg > VSVM_ACCESS_ATOMIC)
			return -VSVM_ERR_VALUE;
		break;
	case VSVM_EVENT_MIGRATE_REQ:
		if (vsvm_check_location(ev->device, 0))
			return -VSVM_ERR_VALUE;
		if (ev->arg)
			return -VSVM_ERR_RESERVED;
		break;
	case VSVM_EVENT_PREFETCH_DONE:
		if (vsvm_check_location(ev->device, 0) ||
		    ev->arg >= VSVM_STATUS_NR)
			return -VSVM_ERR_VALUE;
		break;
	}
	return 0;
}

/**
 * vsvm_decode_event - decode and validate one event record
 * @buf: the record
 * @avail: bytes at @buf
 * @ev: filled in
 *
 * Return: sizeof(struct vsvm_event), or a negated enum vsvm_status.
 */
int vsvm_decode_event(const void *buf, __u32 avail, struct vsvm_event_val *ev)
{
	int ret;

	if (avail < SZ(vsvm_event))
		return -VSVM_ERR_LENGTH;
	ret = load_event((const __u8 *)buf, ev);
	return ret ? ret : (int)SZ(vsvm_event);
}

/**
 * vsvm_encode_event - append one validated event record
 * @w: the writer
 * @ev: the event
 *
 * Return: bytes written, or a negated enum vsvm_status.
 */
int vsvm_encode_event(struct vsvm_writer *w, const struct vsvm_event_val *ev)
{
	struct vsvm_event_val check;
	__u8 *p = reserve(w, SZ(vsvm_event));
	int ret;

	if (!p)
		return -VSVM_ERR_LENGTH;
	put_event(p, ev);
	ret = load_event(p, &check);
	if (ret)
		return ret;
	w->off += SZ(vsvm_event);
	return (int)SZ(vsvm_event);
}

/* Body size of a successful reply, from its fixed part. */
static int response_len(const struct vsvm_response *rsp, __u32 *len)
{
	if (rsp->status != VSVM_OK && rsp->op != VSVM_CMD_LAUNCH) {
		*len = SZ(vsvm_reply_hdr);
		return 0;
	}
	switch (rsp->op) {
	case VSVM_CMD_INIT:
	case VSVM_CMD_QUERY:
		if (rsp->u.init.num_devices > VSVM_MAX_DEVICES)
			return -VSVM_ERR_COUNT;
		*len = SZ(vsvm_reply_init) +
		       rsp->u.init.num_devices * SZ(vsvm_device_info);
		return 0;
	case VSVM_CMD_EVENT_WAIT:
		if (rsp->u.wait.nr_events > VSVM_MAX_FAULT_BATCH)
			return -VSVM_ERR_COUNT;
		*len = SZ(vsvm_reply_event_wait) +
		       rsp->u.wait.nr_events * SZ(vsvm_event);
		return 0;
	case VSVM_CMD_GET_ATTR:
		if (rsp->u.get_attr.nr_attrs == 0 ||
		    rsp->u.get_attr.nr_attrs > VSVM_MAX_ATTRS)
			return -VSVM_ERR_COUNT;
		*len = SZ(vsvm_reply_get_attr) +
		       rsp->u.get_attr.nr_attrs * SZ(vsvm_attr);
		return 0;
	case VSVM_CMD_FAULT_REPLY:
		*len = SZ(vsvm_reply_fault_reply);
		return 0;
	case VSVM_CMD_PREFETCH:
		*len = SZ(vsvm_reply_prefetch);
		return 0;
	case VSVM_CMD_MIGRATE:
		*len = SZ(vsvm_reply_migrate);
		return 0;
	case VSVM_CMD_LAUNCH:
		*len = SZ(vsvm_reply_launch);
		return 0;
	}
	*len = SZ(vsvm_reply_hdr);
	return 0;
}

static void put_device(__u8 *e, const struct vsvm_device_val *dv)
{
	st64(e + OFF(vsvm_device_info, mem_size), dv->mem_size);
	st64(e + OFF(vsvm_device_info, mem_used), dv->mem_used);
	st32(e + OFF(vsvm_device_info, exec_units), dv->exec_units);
}

static void put_response_body(__u8 *p, const struct vsvm_response *rsp)
{
	__u32 i;

	switch (rsp->op) {
	case VSVM_CMD_INIT:
	case VSVM_CMD_QUERY:
		st16(p + OFF(vsvm_reply_init, major), rsp->u.init.major);
		st16(p + OFF(vsvm_reply_init, minor), rsp->u.init.minor);
		st32(p + OFF(vsvm_reply_init, features), rsp->u.init.features);
		st32(p + OFF(vsvm_reply_init, va_bits), rsp->u.init.va_bits);
		st32(p + OFF(vsvm_reply_init, num_devices),
		     rsp->u.init.num_devices);
		st64(p + OFF(vsvm_reply_init, page_sizes),
		     rsp->u.init.page_sizes);
		for (i = 0; i < rsp->u.init.num_devices; i++)
			put_device(p + SZ(vsvm_reply_init) +
					   i * SZ(vsvm_device_info),
				   &rsp->u.init.devices[i]);
		break;
	case VSVM_CMD_EVENT_WAIT:
		st32(p + OFF(vsvm_reply_event_wait, nr_events),
		     rsp->u.wait.nr_events);
		st32(p + OFF(vsvm_reply_event_wait, pending),
		     rsp->u.wait.pending);
		for (i = 0; i < rsp->u.wait.nr_events; i++)
			put_event(p + SZ(vsvm_reply_event_wait) +
					  i * SZ(vsvm_event),
				  &rsp->u.wait.events[i]);
		break;
	case VSVM_CMD_FAULT_REPLY:
		st32(p + OFF(vsvm_reply_fault_reply, resolved),
		     rsp->u.fault_reply.resolved);
		st32(p + OFF(vsvm_reply_fault_reply, unknown),
		     rsp->u.fault_reply.unknown);
		break;
	case VSVM_CMD_GET_ATTR:
		st32(p + OFF(vsvm_reply_get_attr, nr_attrs),
		     rsp->u.get_attr.nr_attrs);
		put_attrs(p + SZ(vsvm_reply_get_attr), rsp->u.get_attr.attrs,
			  rsp->u.get_attr.nr_attrs);
		break;
	case VSVM_CMD_PREFETCH:
		st32(p + OFF(vsvm_reply_prefetch, token),
		     rsp->u.prefetch.token);
		st64(p + OFF(vsvm_reply_prefetch, bytes),
		     rsp->u.prefetch.bytes);
		break;
	case VSVM_CMD_MIGRATE:
		st64(p + OFF(vsvm_reply_migrate, bytes), rsp->u.migrate.bytes);
		break;
	case VSVM_CMD_LAUNCH:
		st64(p + OFF(vsvm_reply_launch, result), rsp->u.launch.result);
		st64(p + OFF(vsvm_reply_launch, fault_va),
		     rsp->u.launch.fault_va);
		st64(p + OFF(vsvm_reply_launch, faults), rsp->u.launch.faults);
		st64(p + OFF(vsvm_reply_launch, elapsed_ns),
		     rsp->u.launch.elapsed_ns);
		break;
	}
}

/**
 * vsvm_encode_response - append one reply
 * @w: the writer
 * @rsp: the reply; a status other than VSVM_OK writes the header alone,
 *       except for LAUNCH, whose body is always present
 *
 * Return: bytes written, or a negated enum vsvm_status.
 */
int vsvm_encode_response(struct vsvm_writer *w, const struct vsvm_response *rsp)
{
	struct vsvm_response check;
	__u32 len;
	__u8 *p;
	int ret;

	if (rsp->op == 0 || rsp->op >= VSVM_CMD_NR)
		return -VSVM_ERR_OPCODE;
	if (rsp->status >= VSVM_STATUS_NR)
		return -VSVM_ERR_VALUE;
	ret = response_len(rsp, &len);
	if (ret)
		return ret;
	p = reserve(w, len);
	if (!p)
		return -VSVM_ERR_LENGTH;
	st16(p + OFF(vsvm_reply_hdr, op), rsp->op);
	st16(p + OFF(vsvm_reply_hdr, status), rsp->status);
	st32(p + OFF(vsvm_reply_hdr, len), len);
	if (len > SZ(vsvm_reply_hdr))
		put_response_body(p, rsp);
	ret = vsvm_decode_response(p, len, &check);
	if (ret < 0)
		return ret;
	w->off += len;
	return (int)len;
}

static int dec_reply_body(const __u8 *p, __u32 len, struct vsvm_response *rsp)
{
	__u32 i, need;

	switch (rsp->op) {
	case VSVM_CMD_INIT:
	case VSVM_CMD_QUERY:
		if (len < SZ(vsvm_reply_init))
			return -VSVM_ERR_LENGTH;
		rsp->u.init.major = ld16(p + OFF(vsvm_reply_init, major));
		rsp->u.init.minor = ld16(p + OFF(vsvm_reply_init, minor));
		rsp->u.init.features = ld32(p + OFF(vsvm_reply_init, features));
		rsp->u.init.va_bits = ld32(p + OFF(vsvm_reply_init, va_bits));
		rsp->u.init.num_devices =
			ld32(p + OFF(vsvm_reply_init, num_devices));
		rsp->u.init.page_sizes =
			ld64(p + OFF(vsvm_reply_init, page_sizes));
		rsp->u.init.devices = 0;
		rsp->u.init.devices_wire = p + SZ(vsvm_reply_init);
		if (rsp->u.init.num_devices == 0 ||
		    rsp->u.init.num_devices > VSVM_MAX_DEVICES)
			return -VSVM_ERR_COUNT;
		need = SZ(vsvm_reply_init) +
		       rsp->u.init.num_devices * SZ(vsvm_device_info);
		if (len != need)
			return -VSVM_ERR_LENGTH;
		if (rsp->u.init.va_bits < VSVM_VA_BITS_MIN ||
		    rsp->u.init.va_bits > VSVM_VA_BITS_MAX)
			return -VSVM_ERR_VALUE;
		if (rsp->u.init.features & ~VSVM_F_ALL)
			return -VSVM_ERR_RESERVED;
		for (i = 0; i < rsp->u.init.num_devices; i++) {
			const __u8 *e = rsp->u.init.devices_wire +
					i * SZ(vsvm_device_info);

			if (ld32(e + OFF(vsvm_device_info, flags)) ||
			    ld64(e + OFF(vsvm_device_info, reserved)))
				return -VSVM_ERR_RESERVED;
		}
		return 0;
	case VSVM_CMD_EVENT_WAIT:
		if (len < SZ(vsvm_reply_event_wait))
			return -VSVM_ERR_LENGTH;
		rsp->u.wait.nr_events =
			ld32(p + OFF(vsvm_reply_event_wait, nr_events));
		rsp->u.wait.pending =
			ld32(p + OFF(vsvm_reply_event_wait, pending));
		rsp->u.wait.events = 0;
		rsp->u.wait.events_wire = p + SZ(vsvm_reply_event_wait);
		if (rsp->u.wait.nr_events > VSVM_MAX_FAULT_BATCH)
			return -VSVM_ERR_COUNT;
		if (len != SZ(vsvm_reply_event_wait) +
				   rsp->u.wait.nr_events * SZ(vsvm_event))
			return -VSVM_ERR_LENGTH;
		for (i = 0; i < rsp->u.wait.nr_events; i++) {
			struct vsvm_event_val ev;
			int ret = load_event(rsp->u.wait.events_wire +
						     i * SZ(vsvm_event),
					     &ev);

			if (ret)
				return ret;
		}
		return 0;
	case VSVM_CMD_FAULT_REPLY:
		if (len != SZ(vsvm_reply_fault_reply))
			return -VSVM_ERR_LENGTH;
		rsp->u.fault_reply.resolved =
			ld32(p + OFF(vsvm_reply_fault_reply, resolved));
		rsp->u.fault_reply.unknown =
			ld32(p + OFF(vsvm_reply_fault_reply, unknown));
		return 0;
	case VSVM_CMD_GET_ATTR:
		if (len < SZ(vsvm_reply_get_attr))
			return -VSVM_ERR_LENGTH;
		rsp->u.get_attr.nr_attrs =
			ld32(p + OFF(vsvm_reply_get_attr, nr_attrs));
		rsp->u.get_attr.attrs = 0;
		rsp->u.get_attr.attrs_wire = p + SZ(vsvm_reply_get_attr);
		if (rsp->u.get_attr.nr_attrs == 0 ||
		    rsp->u.get_attr.nr_attrs > VSVM_MAX_ATTRS)
			return -VSVM_ERR_COUNT;
		if (len != SZ(vsvm_reply_get_attr) +
				   rsp->u.get_attr.nr_attrs * SZ(vsvm_attr))
			return -VSVM_ERR_LENGTH;
		if (ld32(p + OFF(vsvm_reply_get_attr, reserved)))
			return -VSVM_ERR_RESERVED;
		for (i = 0; i < rsp->u.get_attr.nr_attrs; i++) {
			struct vsvm_attr_val a;
			int ret;

			load_attr(rsp->u.get_attr.attrs_wire +
					  i * SZ(vsvm_attr),
				  &a);
			if (a.type == 0 || a.type >= VSVM_ATTR_NR)
				return -VSVM_ERR_VALUE;
			if (a.flags & ~VSVM_ATTR_F_MIXED)
				return -VSVM_ERR_RESERVED;
			ret = check_attr_value(a.type, a.value);
			if (ret)
				return ret;
		}
		return 0;
	case VSVM_CMD_PREFETCH:
		if (len != SZ(vsvm_reply_prefetch))
			return -VSVM_ERR_LENGTH;
		rsp->u.prefetch.token =
			ld32(p + OFF(vsvm_reply_prefetch, token));
		rsp->u.prefetch.bytes =
			ld64(p + OFF(vsvm_reply_prefetch, bytes));
		return ld32(p + OFF(vsvm_reply_prefetch, reserved)) ?
			       -VSVM_ERR_RESERVED :
			       0;
	case VSVM_CMD_MIGRATE:
		if (len != SZ(vsvm_reply_migrate))
			return -VSVM_ERR_LENGTH;
		rsp->u.migrate.bytes = ld64(p + OFF(vsvm_reply_migrate, bytes));
		return 0;
	case VSVM_CMD_LAUNCH:
		if (len != SZ(vsvm_reply_launch))
			return -VSVM_ERR_LENGTH;
		rsp->u.launch.result = ld64(p + OFF(vsvm_reply_launch, result));
		rsp->u.launch.fault_va =
			ld64(p + OFF(vsvm_reply_launch, fault_va));
		rsp->u.launch.faults = ld64(p + OFF(vsvm_reply_launch, faults));
		rsp->u.launch.elapsed_ns =
			ld64(p + OFF(vsvm_reply_launch, elapsed_ns));
		return 0;
	}
	return len == SZ(vsvm_reply_hdr) ? 0 : -VSVM_ERR_LENGTH;
}

/**
 * vsvm_decode_response - decode and validate one reply
 * @buf: the reply
 * @avail: bytes at @buf
 * @rsp: filled in; array pointers point into @buf
 *
 * Return: the reply's length in bytes, or a negated enum vsvm_status.
 */
int vsvm_decode_response(const void *buf, __u32 avail,
			 struct vsvm_response *rsp)
{
	const __u8 *p = (const __u8 *)buf;
	__u32 len;
	int ret;

	if (avail < SZ(vsvm_reply_hdr))
		return -VSVM_ERR_LENGTH;
	rsp->op = ld16(p + OFF(vsvm_reply_hdr, op));
	rsp->status = ld16(p + OFF(vsvm_reply_hdr, status));
	len = ld32(p + OFF(vsvm_reply_hdr, len));
	rsp->len = len;
	if (rsp->op == 0 || rsp->op >= VSVM_CMD_NR)
		return -VSVM_ERR_OPCODE;
	if (rsp->status >= VSVM_STATUS_NR)
		return -VSVM_ERR_VALUE;
	if (len % 8 || len < SZ(vsvm_reply_hdr) || len > avail)
		return -VSVM_ERR_LENGTH;
	if (rsp->status != VSVM_OK && rsp->op != VSVM_CMD_LAUNCH)
		return len == SZ(vsvm_reply_hdr) ? (int)len : -VSVM_ERR_LENGTH;
	ret = dec_reply_body(p, len, rsp);
	return ret ? ret : (int)len;
}

void vsvm_response_device(const struct vsvm_response *rsp, __u32 i,
			  struct vsvm_device_val *out)
{
	const __u8 *e = rsp->u.init.devices_wire + i * SZ(vsvm_device_info);

	out->mem_size = ld64(e + OFF(vsvm_device_info, mem_size));
	out->mem_used = ld64(e + OFF(vsvm_device_info, mem_used));
	out->exec_units = ld32(e + OFF(vsvm_device_info, exec_units));
}

void vsvm_response_event(const struct vsvm_response *rsp, __u32 i,
			 struct vsvm_event_val *out)
{
	/* Validated by vsvm_decode_response(); cannot fail here. */
	(void)load_event(rsp->u.wait.events_wire + i * SZ(vsvm_event), out);
}

void vsvm_response_attr(const struct vsvm_response *rsp, __u32 i,
			struct vsvm_attr_val *out)
{
	load_attr(rsp->u.get_attr.attrs_wire + i * SZ(vsvm_attr), out);
}

/* ------------------------------------------------------------------ */
/* Capset                                                              */

static int check_caps(const struct vsvm_caps *c)
{
	if (c->major == 0)
		return -VSVM_ERR_VERSION;
	if (c->features & ~VSVM_F_ALL)
		return -VSVM_ERR_RESERVED;
	if (c->num_devices == 0 || c->num_devices > VSVM_MAX_DEVICES)
		return -VSVM_ERR_COUNT;
	if (c->va_bits < VSVM_VA_BITS_MIN || c->va_bits > VSVM_VA_BITS_MAX)
		return -VSVM_ERR_VALUE;
	if (!(c->page_sizes & VSVM_PAGE_SIZE) ||
	    (c->page_sizes & (VSVM_PAGE_SIZE - 1)))
		return -VSVM_ERR_VALUE;
	if (c->max_contexts == 0 || c->max_cmds == 0 ||
	    c->max_cmds > VSVM_MAX_CMDS || c->max_launches == 0 ||
	    c->max_ranges == 0 || c->max_submit_bytes < SZ(vsvm_cmd_launch) ||
	    c->max_submit_bytes > VSVM_MAX_SUBMIT_BYTES ||
	    c->max_fault_batch == 0 ||
	    c->max_fault_batch > VSVM_MAX_FAULT_BATCH || c->max_map_runs == 0 ||
	    c->max_map_runs > VSVM_MAX_MAP_RUNS)
		return -VSVM_ERR_COUNT;
	return 0;
}

/**
 * vsvm_decode_capset - decode and validate the svm capset
 * @buf: GET_CAPSET response payload
 * @avail: its length
 * @caps: filled in
 *
 * A capset larger than this version's struct is accepted (a newer minor
 * may append fields); a smaller one is not.
 *
 * Return: bytes used, or a negated enum vsvm_status.
 */
int vsvm_decode_capset(const void *buf, __u32 avail, struct vsvm_caps *caps)
{
	const __u8 *p = (const __u8 *)buf;
	__u32 size;
	int ret;

	if (avail < SZ(vsvm_capset))
		return -VSVM_ERR_LENGTH;
	if (ld32(p + OFF(vsvm_capset, magic)) != VSVM_CAPSET_MAGIC)
		return -VSVM_ERR_VALUE;
	size = ld32(p + OFF(vsvm_capset, size));
	/* The size is returned as an int: it must stay positive. */
	if (size < SZ(vsvm_capset) || size > avail || size % 8 ||
	    size > 0x7fffffffu)
		return -VSVM_ERR_LENGTH;
	caps->major = ld16(p + OFF(vsvm_capset, major));
	caps->minor = ld16(p + OFF(vsvm_capset, minor));
	caps->features = ld32(p + OFF(vsvm_capset, features));
	caps->num_devices = ld32(p + OFF(vsvm_capset, num_devices));
	caps->va_bits = ld32(p + OFF(vsvm_capset, va_bits));
	caps->page_sizes = ld64(p + OFF(vsvm_capset, page_sizes));
	caps->max_contexts = ld32(p + OFF(vsvm_capset, max_contexts));
	caps->max_submit_bytes = ld32(p + OFF(vsvm_capset, max_submit_bytes));
	caps->max_cmds = ld32(p + OFF(vsvm_capset, max_cmds));
	caps->max_fault_batch = ld32(p + OFF(vsvm_capset, max_fault_batch));
	caps->max_map_runs = ld32(p + OFF(vsvm_capset, max_map_runs));
	caps->max_launches = ld32(p + OFF(vsvm_capset, max_launches));
	caps->max_ranges = ld32(p + OFF(vsvm_capset, max_ranges));
	if (ld32(p + OFF(vsvm_capset, reserved)))
		return -VSVM_ERR_RESERVED;
	ret = check_caps(caps);
	return ret ? ret : (int)size;
}

/**
 * vsvm_encode_capset - write the svm capset (this version's layout)
 * @w: the writer
 * @caps: the host's capabilities and limits
 *
 * Return: bytes written, or a negated enum vsvm_status.
 */
int vsvm_encode_capset(struct vsvm_writer *w, const struct vsvm_caps *caps)
{
	__u8 *p;
	int ret = check_caps(caps);

	if (ret)
		return ret;
	p = reserve(w, SZ(vsvm_capset));
	if (!p)
		return -VSVM_ERR_LENGTH;
	st32(p + OFF(vsvm_capset, magic), VSVM_CAPSET_MAGIC);
	st16(p + OFF(vsvm_capset, major), caps->major);
	st16(p + OFF(vsvm_capset, minor), caps->minor);
	st32(p + OFF(vsvm_capset, size), SZ(vsvm_capset));
	st32(p + OFF(vsvm_capset, features), caps->features);
	st32(p + OFF(vsvm_capset, num_devices), caps->num_devices);
	st32(p + OFF(vsvm_capset, va_bits), caps->va_bits);
	st64(p + OFF(vsvm_capset, page_sizes), caps->page_sizes);
	st32(p + OFF(vsvm_capset, max_contexts), caps->max_contexts);
	st32(p + OFF(vsvm_capset, max_submit_bytes), caps->max_submit_bytes);
	st32(p + OFF(vsvm_capset, max_cmds), caps->max_cmds);
	st32(p + OFF(vsvm_capset, max_fault_batch), caps->max_fault_batch);
	st32(p + OFF(vsvm_capset, max_map_runs), caps->max_map_runs);
	st32(p + OFF(vsvm_capset, max_launches), caps->max_launches);
	st32(p + OFF(vsvm_capset, max_ranges), caps->max_ranges);
	w->off += SZ(vsvm_capset);
	return (int)SZ(vsvm_capset);
}
