/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/*
 * vsvm_proto.h - wire format of the virtio-gpu "svm" context type.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Overview
 *
 * A guest process owns one virtio-gpu context whose type is the svm capset.
 * Its commands travel inside VIRTIO_GPU_CMD_SUBMIT_3D as a *command stream*:
 * a sequence of commands, each a struct vsvm_cmd_hdr followed by its body.
 * The device-writable part of the same descriptor chain receives, after the
 * struct virtio_gpu_ctrl_hdr response, a *reply stream*: one reply per
 * command, in command order, each a struct vsvm_reply_hdr and its body.
 *
 * Host-to-guest events (GPU faults, migration requests, prefetch
 * completions) need no extra virtqueue: the guest parks a VSVM_CMD_EVENT_WAIT
 * submission, which the host completes when it has events to deliver.
 *
 * docs/protocol.md is the normative description; this header is its byte
 * layout.  Every multi-byte field is little-endian.  Every struct is a
 * multiple of 8 bytes, with explicit padding, checked at compile time below.
 * Every reserved field must be zero; the value 0 of every opcode, type and
 * event field is invalid so that an uninitialised field is caught.
 */
#ifndef VSVM_PROTO_H
#define VSVM_PROTO_H

#include <linux/types.h>

/* Capset: discovered with VIRTIO_GPU_CMD_GET_CAPSET_INFO / GET_CAPSET. */
#define VSVM_CAPSET_ID		0x53	/* 'S': outside the spec's 1..6 */
#define VSVM_CAPSET_VERSION	1
#define VSVM_CAPSET_MAGIC	0x4d565356u	/* "VSVM" read as __le32 */

#define VSVM_PROTO_MAJOR	1
#define VSVM_PROTO_MINOR	0

/*
 * Protocol maxima.  A host may advertise lower limits in its capset; a
 * command beyond the protocol maximum is malformed (VSVM_ERR_COUNT), one
 * beyond the host's advertised limit is refused (VSVM_ERR_LIMIT).
 */
#define VSVM_PAGE_SHIFT		12
#define VSVM_PAGE_SIZE		(1u << VSVM_PAGE_SHIFT)
#define VSVM_VA_BITS_MIN	47
#define VSVM_VA_BITS_MAX	57
#define VSVM_MAX_DEVICES	64	/* accessed-by is a 64-bit mask */
#define VSVM_MAX_SUBMIT_BYTES	(1u << 20)	/* one command stream */
#define VSVM_MAX_CMDS		1024	/* commands in one stream */
#define VSVM_MAX_MAP_RUNS	512	/* GPA runs in one MAP/MIGRATE */
#define VSVM_MAX_FAULT_BATCH	256	/* events per wait, ids per reply */
#define VSVM_MAX_ATTRS		8	/* attributes in one SET/GET */
#define VSVM_MAX_KERNEL_ARGS	8
#define VSVM_GRANULARITY_MIN	12	/* log2 bytes */
#define VSVM_GRANULARITY_MAX	30

/* struct vsvm_capset.features */
#define VSVM_F_HUGE_2M		(1u << 0)	/* host maps 2 MiB PTEs */
#define VSVM_F_DEVICE_MEMORY	(1u << 1)	/* MIGRATE to a device works */
#define VSVM_F_PEER_MIGRATION	(1u << 2)	/* device-to-device MIGRATE */
#define VSVM_F_ALL		(VSVM_F_HUGE_2M | VSVM_F_DEVICE_MEMORY | \
				 VSVM_F_PEER_MIGRATION)

struct vsvm_capset {
	__le32 magic;			/* VSVM_CAPSET_MAGIC */
	__le16 major;			/* highest protocol major served */
	__le16 minor;			/* highest minor of that major */
	__le32 size;			/* bytes of this struct the host filled */
	__le32 features;		/* VSVM_F_* */
	__le32 num_devices;		/* 1..VSVM_MAX_DEVICES */
	__le32 va_bits;			/* VSVM_VA_BITS_MIN..MAX */
	__le64 page_sizes;		/* bit n set: 2^n byte PTEs exist */
	__le32 max_contexts;		/* svm contexts per connection */
	__le32 max_submit_bytes;	/* <= VSVM_MAX_SUBMIT_BYTES */
	__le32 max_cmds;		/* <= VSVM_MAX_CMDS */
	__le32 max_fault_batch;		/* <= VSVM_MAX_FAULT_BATCH */
	__le32 max_map_runs;		/* <= VSVM_MAX_MAP_RUNS */
	__le32 max_launches;		/* kernels in flight per context */
	__le32 max_ranges;		/* mapped ranges per context */
	__le32 reserved;
};

/* Opcodes (struct vsvm_cmd_hdr.op); 0 is invalid. */
enum vsvm_op {
	VSVM_CMD_INIT = 0x01,
	VSVM_CMD_MAP = 0x02,
	VSVM_CMD_UNMAP = 0x03,
	VSVM_CMD_EVENT_WAIT = 0x04,
	VSVM_CMD_FAULT_REPLY = 0x05,
	VSVM_CMD_SET_ATTR = 0x06,
	VSVM_CMD_GET_ATTR = 0x07,
	VSVM_CMD_PREFETCH = 0x08,
	VSVM_CMD_MIGRATE = 0x09,
	VSVM_CMD_LAUNCH = 0x0a,
	VSVM_CMD_DESTROY = 0x0b,
	VSVM_CMD_QUERY = 0x0c,
	VSVM_CMD_NR,			/* one past the last opcode */
};

/*
 * Status of a reply (struct vsvm_reply_hdr.status).  The codec returns the
 * negated value for a malformed command, so each has one meaning in both.
 */
enum vsvm_status {
	VSVM_OK = 0,
	VSVM_ERR_UNSPEC = 1,	/* host failure with no better code */
	VSVM_ERR_OPCODE = 2,	/* unknown opcode */
	VSVM_ERR_LENGTH = 3,	/* truncated, wrong or unaligned length */
	VSVM_ERR_RESERVED = 4,	/* reserved field or flag not zero */
	VSVM_ERR_ALIGN = 5,	/* address or size not page aligned */
	VSVM_ERR_RANGE = 6,	/* empty, wrapping or beyond va_bits; bad GPA */
	VSVM_ERR_COUNT = 7,	/* element count zero, too large or mismatched */
	VSVM_ERR_VALUE = 8,	/* field value outside its enumeration */
	VSVM_ERR_STATE = 9,	/* not valid in the context's state */
	VSVM_ERR_VERSION = 10,	/* protocol major not served */
	VSVM_ERR_LIMIT = 11,	/* beyond a limit the host advertised */
	VSVM_ERR_NOMEM = 12,	/* host memory exhausted */
	VSVM_ERR_NOSPC = 13,	/* device memory exhausted */
	VSVM_ERR_BUSY = 14,	/* an exclusive operation is already pending */
	VSVM_ERR_STALE = 15,	/* MAP raced a newer overlapping UNMAP */
	VSVM_ERR_CANCELED = 16,	/* not executed (earlier error, teardown) */
	VSVM_ERR_FAULT = 17,	/* device fault the guest could not resolve */
	VSVM_ERR_NODEV = 18,	/* device index not present */
	VSVM_ERR_SEQ = 19,	/* UNMAP sequence number not increasing */
	VSVM_ERR_DEVICE_LOST = 20, /* host device or proxy state lost */
	VSVM_STATUS_NR,
};

/* struct vsvm_cmd_hdr.flags: none defined in 1.0, must be zero. */

struct vsvm_cmd_hdr {
	__le16 op;		/* enum vsvm_op */
	__le16 flags;		/* reserved, 0 */
	__le32 len;		/* whole command incl. header, multiple of 8 */
};

struct vsvm_reply_hdr {
	__le16 op;		/* the command's opcode */
	__le16 status;		/* enum vsvm_status */
	__le32 len;		/* whole reply incl. header, multiple of 8 */
};

/* VSVM_CMD_INIT: first command of a context; negotiates the version. */
struct vsvm_cmd_init {
	struct vsvm_cmd_hdr hdr;
	__le16 major;		/* guest's protocol major */
	__le16 minor;		/* guest's highest minor */
	__le32 va_bits;		/* wanted VA bits, 0 for the host's */
	__le32 flags;		/* reserved, 0 */
	__le32 reserved;
};

struct vsvm_device_info {
	__le64 mem_size;	/* device memory, bytes */
	__le64 mem_used;	/* device memory this context holds, bytes */
	__le32 exec_units;	/* execution units (threads) */
	__le32 flags;		/* reserved, 0 */
	__le64 reserved;
};

/* Reply of INIT and QUERY, followed by num_devices vsvm_device_info. */
struct vsvm_reply_init {
	struct vsvm_reply_hdr hdr;
	__le16 major;		/* agreed major (= guest's) */
	__le16 minor;		/* agreed minor: min(guest, host) */
	__le32 features;	/* VSVM_F_* */
	__le32 va_bits;		/* VA bits of this context */
	__le32 num_devices;
	__le64 page_sizes;
};

/* struct vsvm_cmd_map.prot */
#define VSVM_PROT_READ		(1u << 0)
#define VSVM_PROT_WRITE		(1u << 1)	/* requires READ */
#define VSVM_PROT_ATOMIC	(1u << 2)	/* requires WRITE */
#define VSVM_PROT_ALL		(VSVM_PROT_READ | VSVM_PROT_WRITE | \
				 VSVM_PROT_ATOMIC)

struct vsvm_gpa_run {
	__le64 gpa;		/* guest physical, page aligned */
	__le64 len;		/* bytes, page aligned, > 0 */
};

/*
 * VSVM_CMD_MAP: map [va, va + len) onto the concatenation of the GPA runs.
 * inval_seq is the newest UNMAP seq the guest had sent when it read the
 * guest page table; the host refuses the map as VSVM_ERR_STALE if an UNMAP
 * with a larger seq overlapping the range was applied since.
 */
struct vsvm_cmd_map {
	struct vsvm_cmd_hdr hdr;
	__le64 va;
	__le64 len;
	__le64 inval_seq;
	__le32 prot;		/* VSVM_PROT_* */
	__le32 nr_runs;		/* 1..VSVM_MAX_MAP_RUNS */
	/* struct vsvm_gpa_run runs[nr_runs]; */
};

/* VSVM_CMD_UNMAP: the invalidation; its reply is the acknowledgement. */
struct vsvm_cmd_unmap {
	struct vsvm_cmd_hdr hdr;
	__le64 va;
	__le64 len;
	__le64 seq;		/* strictly increasing per context, > 0 */
};

/* struct vsvm_cmd_event_wait.flags */
#define VSVM_WAIT_F_NONBLOCK	(1u << 0)	/* reply now, maybe empty */

/* VSVM_CMD_EVENT_WAIT: parked until an event is pending. */
struct vsvm_cmd_event_wait {
	struct vsvm_cmd_hdr hdr;
	__le32 max_events;	/* 1..VSVM_MAX_FAULT_BATCH */
	__le32 flags;		/* VSVM_WAIT_F_* */
};

/* struct vsvm_event.type; 0 is invalid. */
enum vsvm_event_type {
	VSVM_EVENT_FAULT = 1,		/* device access to an unmapped page */
	VSVM_EVENT_MIGRATE_REQ = 2,	/* host asks: move range to device */
	VSVM_EVENT_PREFETCH_DONE = 3,	/* asynchronous PREFETCH finished */
	VSVM_EVENT_NR,
};

/* struct vsvm_event.access for VSVM_EVENT_FAULT */
#define VSVM_ACCESS_READ	1
#define VSVM_ACCESS_WRITE	2
#define VSVM_ACCESS_ATOMIC	3

struct vsvm_event {
	__le16 type;		/* enum vsvm_event_type */
	__le16 flags;		/* reserved, 0 */
	__le32 id;		/* fault id, request id or prefetch token */
	__le64 va;		/* page aligned */
	__le64 len;		/* bytes; VSVM_PAGE_SIZE for a fault */
	__le32 device;		/* faulting device, or target location */
	__le32 arg;		/* FAULT: VSVM_ACCESS_*; PREFETCH_DONE: status */
};

struct vsvm_reply_event_wait {
	struct vsvm_reply_hdr hdr;
	__le32 nr_events;	/* events that follow */
	__le32 pending;		/* events still queued after these */
	/* struct vsvm_event events[nr_events]; */
};

/* VSVM_CMD_FAULT_REPLY: answers fault events by id, in a batch. */
struct vsvm_fault_resolution {
	__le32 id;		/* from VSVM_EVENT_FAULT */
	__le32 status;		/* VSVM_OK: mapped, replay; else fail launch */
};

struct vsvm_cmd_fault_reply {
	struct vsvm_cmd_hdr hdr;
	__le32 nr;		/* 1..VSVM_MAX_FAULT_BATCH */
	__le32 reserved;
	/* struct vsvm_fault_resolution res[nr]; */
};

struct vsvm_reply_fault_reply {
	struct vsvm_reply_hdr hdr;
	__le32 resolved;	/* ids that matched an outstanding fault */
	__le32 unknown;		/* ids that matched none (already gone) */
};

/* Locations: a device index, or one of these. */
#define VSVM_LOC_SYSTEM		0xfffffff0u	/* guest RAM */
#define VSVM_LOC_UNSET		0xffffffffu	/* no preference */

/* struct vsvm_attr.type; 0 is invalid. */
enum vsvm_attr_type {
	VSVM_ATTR_PREFERRED_LOC = 1,	/* value: device, SYSTEM or UNSET */
	VSVM_ATTR_ACCESSED_BY = 2,	/* value: mask of devices */
	VSVM_ATTR_READ_MOSTLY = 3,	/* value: 0 or 1 */
	VSVM_ATTR_GRANULARITY = 4,	/* value: log2 bytes, 12..30 */
	VSVM_ATTR_DEVICE_ACCESS = 5,	/* value: VSVM_DEVICE_ACCESS_* */
	VSVM_ATTR_NR,
};

#define VSVM_DEVICE_ACCESS_RW	0	/* default */
#define VSVM_DEVICE_ACCESS_RO	1
#define VSVM_DEVICE_ACCESS_NONE	2

/* struct vsvm_attr.flags, in GET_ATTR replies only */
#define VSVM_ATTR_F_MIXED	(1u << 0)	/* range not uniform */

struct vsvm_attr {
	__le32 type;		/* enum vsvm_attr_type */
	__le32 flags;		/* 0 in commands; VSVM_ATTR_F_* in replies */
	__le64 value;
};

/* VSVM_CMD_SET_ATTR and VSVM_CMD_GET_ATTR (GET: values must be 0). */
struct vsvm_cmd_attr {
	struct vsvm_cmd_hdr hdr;
	__le64 va;
	__le64 len;
	__le32 nr_attrs;	/* 1..VSVM_MAX_ATTRS, each type once */
	__le32 reserved;
	/* struct vsvm_attr attrs[nr_attrs]; */
};

struct vsvm_reply_get_attr {
	struct vsvm_reply_hdr hdr;
	__le32 nr_attrs;
	__le32 reserved;
	/* struct vsvm_attr attrs[nr_attrs], in the command's order */
};

/* struct vsvm_cmd_prefetch.flags */
#define VSVM_PREFETCH_F_ASYNC	(1u << 0)	/* reply now, event later */

struct vsvm_cmd_prefetch {
	struct vsvm_cmd_hdr hdr;
	__le64 va;
	__le64 len;
	__le32 location;	/* device index or VSVM_LOC_SYSTEM */
	__le32 flags;		/* VSVM_PREFETCH_F_* */
};

struct vsvm_reply_prefetch {
	struct vsvm_reply_hdr hdr;
	__le32 token;		/* names the PREFETCH_DONE event if ASYNC */
	__le32 reserved;
	__le64 bytes;		/* bytes moved or mapped (0 if ASYNC) */
};

/*
 * VSVM_CMD_MIGRATE: guest-driven migration.  To a device: runs name the
 * guest RAM now holding the data (the guest has replaced it by device-private
 * entries).  To VSVM_LOC_SYSTEM: runs name the guest RAM that receives the
 * data.  Device to device: no runs.
 */
struct vsvm_cmd_migrate {
	struct vsvm_cmd_hdr hdr;
	__le64 va;
	__le64 len;
	__le32 location;	/* device index or VSVM_LOC_SYSTEM */
	__le32 request_id;	/* VSVM_EVENT_MIGRATE_REQ answered, or 0 */
	__le32 nr_runs;		/* 0..VSVM_MAX_MAP_RUNS */
	__le32 flags;		/* reserved, 0 */
	/* struct vsvm_gpa_run runs[nr_runs]; */
};

struct vsvm_reply_migrate {
	struct vsvm_reply_hdr hdr;
	__le64 bytes;		/* bytes copied */
};

/* struct vsvm_cmd_launch.kernel; 0 is invalid. */
enum vsvm_kernel {
	VSVM_KERNEL_FILL = 1,		/* u32 dst[n] = value */
	VSVM_KERNEL_COPY = 2,		/* u8 dst[n] = src[n] */
	VSVM_KERNEL_TRIAD = 3,		/* f64 a[i] = b[i] + s * c[i] */
	VSVM_KERNEL_GATHER = 4,		/* u64 dst[i] = src[idx[i] % m] */
	VSVM_KERNEL_HISTOGRAM = 5,	/* atomic u64 bins[data[i] % k]++ */
	VSVM_KERNEL_CHASE = 6,		/* follow next pointers, sum values */
	VSVM_KERNEL_NR,
};

/* VSVM_CMD_LAUNCH: run a kernel on one device; reply when it ends. */
struct vsvm_cmd_launch {
	struct vsvm_cmd_hdr hdr;
	__le32 kernel;		/* enum vsvm_kernel */
	__le32 device;		/* device index */
	__le32 flags;		/* reserved, 0 */
	__le32 nr_args;		/* 0..VSVM_MAX_KERNEL_ARGS */
	__le64 args[VSVM_MAX_KERNEL_ARGS];	/* args[nr_args..] are 0 */
};

struct vsvm_reply_launch {
	struct vsvm_reply_hdr hdr;
	__le64 result;		/* kernel-defined (sum, count) */
	__le64 fault_va;	/* VSVM_ERR_FAULT: the unresolved address */
	__le64 faults;		/* faults raised by this launch */
	__le64 elapsed_ns;	/* device time */
};

/* VSVM_CMD_DESTROY and VSVM_CMD_QUERY have no body. */
struct vsvm_cmd_empty {
	struct vsvm_cmd_hdr hdr;
};

/*
 * Compile-time layout checks: a change to any of these is a protocol
 * change.  Offsets are checked where a field could silently move.
 */
#define VSVM_ASSERT_SIZE(t, n) \
	_Static_assert(sizeof(struct t) == (n), #t " size")
#define VSVM_ASSERT_OFF(t, f, n) \
	_Static_assert(__builtin_offsetof(struct t, f) == (n), #t "." #f)

VSVM_ASSERT_SIZE(vsvm_capset, 64);
VSVM_ASSERT_OFF(vsvm_capset, page_sizes, 24);
VSVM_ASSERT_OFF(vsvm_capset, max_ranges, 56);
VSVM_ASSERT_SIZE(vsvm_cmd_hdr, 8);
VSVM_ASSERT_SIZE(vsvm_reply_hdr, 8);
VSVM_ASSERT_SIZE(vsvm_cmd_init, 24);
VSVM_ASSERT_SIZE(vsvm_device_info, 32);
VSVM_ASSERT_SIZE(vsvm_reply_init, 32);
VSVM_ASSERT_OFF(vsvm_reply_init, page_sizes, 24);
VSVM_ASSERT_SIZE(vsvm_gpa_run, 16);
VSVM_ASSERT_SIZE(vsvm_cmd_map, 40);
VSVM_ASSERT_OFF(vsvm_cmd_map, inval_seq, 24);
VSVM_ASSERT_OFF(vsvm_cmd_map, nr_runs, 36);
VSVM_ASSERT_SIZE(vsvm_cmd_unmap, 32);
VSVM_ASSERT_SIZE(vsvm_cmd_event_wait, 16);
VSVM_ASSERT_SIZE(vsvm_event, 32);
VSVM_ASSERT_OFF(vsvm_event, device, 24);
VSVM_ASSERT_SIZE(vsvm_reply_event_wait, 16);
VSVM_ASSERT_SIZE(vsvm_fault_resolution, 8);
VSVM_ASSERT_SIZE(vsvm_cmd_fault_reply, 16);
VSVM_ASSERT_SIZE(vsvm_reply_fault_reply, 16);
VSVM_ASSERT_SIZE(vsvm_attr, 16);
VSVM_ASSERT_SIZE(vsvm_cmd_attr, 32);
VSVM_ASSERT_SIZE(vsvm_reply_get_attr, 16);
VSVM_ASSERT_SIZE(vsvm_cmd_prefetch, 32);
VSVM_ASSERT_SIZE(vsvm_reply_prefetch, 24);
VSVM_ASSERT_SIZE(vsvm_cmd_migrate, 40);
VSVM_ASSERT_OFF(vsvm_cmd_migrate, nr_runs, 32);
VSVM_ASSERT_SIZE(vsvm_reply_migrate, 16);
VSVM_ASSERT_SIZE(vsvm_cmd_launch, 88);
VSVM_ASSERT_OFF(vsvm_cmd_launch, args, 24);
VSVM_ASSERT_SIZE(vsvm_reply_launch, 40);
VSVM_ASSERT_SIZE(vsvm_cmd_empty, 8);

#endif /* VSVM_PROTO_H */
