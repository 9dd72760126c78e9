/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/*
 * vsvm_codec.h - encode, decode and validate the svm context-type protocol.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Overview
 *
 * The codec is freestanding C: no libc, no allocation, no OS calls.  The
 * same object builds into vsvm_guest.ko, vsvm_host.ko and the userspace
 * proxy and guest simulator.  It only sees byte buffers, so it reads every
 * field with byte-wise little-endian loads and never dereferences a wire
 * struct in place (the buffer need not be aligned).
 *
 * Decoding turns one command (or reply, event, capset) into a host-order
 * struct and validates every field against the protocol's rules; a failure
 * returns the negated enum vsvm_status saying what is wrong.  Variable
 * arrays are not copied: the decoded struct points at their wire bytes and
 * the vsvm_request_*() accessors read one element.  The caller must have
 * copied the stream out of guest-writable memory first (no TOCTOU).
 *
 * Validation here is syntactic, and holds for any host: alignment, ranges
 * against VSVM_VA_BITS_MAX, counts against protocol maxima, reserved zero,
 * known enumerations, GPA runs summing to the length.  Checks that need the
 * host's state (negotiated va_bits, device count, the guest memory table,
 * the host's advertised limits) belong to the host.
 */
#ifndef VSVM_CODEC_H
#define VSVM_CODEC_H

#include "vsvm_proto.h"

/* Host-order element types, used to encode arrays and read decoded ones. */
struct vsvm_run {
	__u64 gpa;
	__u64 len;
};

struct vsvm_resolution {
	__u32 id;
	__u32 status;
};

struct vsvm_attr_val {
	__u32 type;
	__u32 flags;
	__u64 value;
};

struct vsvm_event_val {
	__u16 type;
	__u32 id;
	__u64 va;
	__u64 len;
	__u32 device;
	__u32 arg;
};

struct vsvm_device_val {
	__u64 mem_size;
	__u64 mem_used;
	__u32 exec_units;
};

/*
 * A decoded command.  For arrays, encoding reads the host-order pointer
 * (runs, res, attrs) and decoding fills the *_wire pointer instead.
 */
struct vsvm_request {
	__u16 op;
	__u32 len;	/* bytes on the wire, set by decode and encode */
	union {
		struct {
			__u16 major;
			__u16 minor;
			__u32 va_bits;
		} init;
		struct {
			__u64 va;
			__u64 len;
			__u64 inval_seq;
			__u32 prot;
			__u32 nr_runs;
			const struct vsvm_run *runs;
			const __u8 *runs_wire;
		} map;
		struct {
			__u64 va;
			__u64 len;
			__u64 seq;
		} unmap;
		struct {
			__u32 max_events;
			__u32 flags;
		} wait;
		struct {
			__u32 nr;
			const struct vsvm_resolution *res;
			const __u8 *res_wire;
		} fault_reply;
		struct {	/* SET_ATTR and GET_ATTR */
			__u64 va;
			__u64 len;
			__u32 nr_attrs;
			const struct vsvm_attr_val *attrs;
			const __u8 *attrs_wire;
		} attr;
		struct {
			__u64 va;
			__u64 len;
			__u32 location;
			__u32 flags;
		} prefetch;
		struct {
			__u64 va;
			__u64 len;
			__u32 location;
			__u32 request_id;
			__u32 nr_runs;
			const struct vsvm_run *runs;
			const __u8 *runs_wire;
		} migrate;
		struct {
			__u32 kernel;
			__u32 device;
			__u32 nr_args;
			__u64 args[VSVM_MAX_KERNEL_ARGS];
		} launch;
	} u;
};

/* A decoded reply.  Arrays as in struct vsvm_request. */
struct vsvm_response {
	__u16 op;
	__u16 status;
	__u32 len;
	union {
		struct {	/* INIT and QUERY */
			__u16 major;
			__u16 minor;
			__u32 features;
			__u32 va_bits;
			__u32 num_devices;
			__u64 page_sizes;
			const struct vsvm_device_val *devices;
			const __u8 *devices_wire;
		} init;
		struct {
			__u32 nr_events;
			__u32 pending;
			const struct vsvm_event_val *events;
			const __u8 *events_wire;
		} wait;
		struct {
			__u32 resolved;
			__u32 unknown;
		} fault_reply;
		struct {
			__u32 nr_attrs;
			const struct vsvm_attr_val *attrs;
			const __u8 *attrs_wire;
		} get_attr;
		struct {
			__u32 token;
			__u64 bytes;
		} prefetch;
		struct {
			__u64 bytes;
		} migrate;
		struct {
			__u64 result;
			__u64 fault_va;
			__u64 faults;
			__u64 elapsed_ns;
		} launch;
	} u;
};

/* Host-order capset. */
struct vsvm_caps {
	__u16 major;
	__u16 minor;
	__u32 features;
	__u32 num_devices;
	__u32 va_bits;
	__u64 page_sizes;
	__u32 max_contexts;
	__u32 max_submit_bytes;
	__u32 max_cmds;
	__u32 max_fault_batch;
	__u32 max_map_runs;
	__u32 max_launches;
	__u32 max_ranges;
};

/* Cursor over a command or reply stream. */
struct vsvm_stream {
	const __u8 *buf;
	__u32 len;
	__u32 off;
	__u32 index;	/* commands decoded so far */
};

/* Appending writer; on overflow nothing is written and -LENGTH returned. */
struct vsvm_writer {
	__u8 *buf;
	__u32 cap;
	__u32 off;
};

/* Names for logs; never NULL. */
const char *vsvm_op_name(__u32 op);
const char *vsvm_status_name(__u32 status);
const char *vsvm_kernel_name(__u32 kernel);

/* Kernel argument count each built-in kernel takes (0 for unknown). */
__u32 vsvm_kernel_nr_args(__u32 kernel);

/* True for commands whose reply may be delayed (they end a stream). */
int vsvm_op_parks(__u32 op);

/* Commands. */
int vsvm_decode_request(const void *buf, __u32 avail,
			struct vsvm_request *req);
int vsvm_encode_request(struct vsvm_writer *w,
			const struct vsvm_request *req);
void vsvm_stream_init(struct vsvm_stream *s, const void *buf, __u32 len);
int vsvm_stream_next(struct vsvm_stream *s, struct vsvm_request *req);
int vsvm_stream_validate(const void *buf, __u32 len, __u32 num_devices,
			 __u32 *nr_cmds, __u32 *reply_bytes,
			 __u32 *bad_index);

void vsvm_request_run(const struct vsvm_request *req, __u32 i,
		      struct vsvm_run *out);
void vsvm_request_resolution(const struct vsvm_request *req, __u32 i,
			     struct vsvm_resolution *out);
void vsvm_request_attr(const struct vsvm_request *req, __u32 i,
		       struct vsvm_attr_val *out);

/* Bytes of the reply to req when it succeeds (num_devices for INIT/QUERY). */
__u32 vsvm_reply_size(const struct vsvm_request *req, __u32 num_devices);

/* Replies. */
int vsvm_decode_response(const void *buf, __u32 avail,
			 struct vsvm_response *rsp);
int vsvm_encode_response(struct vsvm_writer *w,
			 const struct vsvm_response *rsp);
void vsvm_response_device(const struct vsvm_response *rsp, __u32 i,
			  struct vsvm_device_val *out);
void vsvm_response_event(const struct vsvm_response *rsp, __u32 i,
			 struct vsvm_event_val *out);
void vsvm_response_attr(const struct vsvm_response *rsp, __u32 i,
			struct vsvm_attr_val *out);

/* Events and the capset. */
int vsvm_decode_event(const void *buf, __u32 avail,
		      struct vsvm_event_val *ev);
int vsvm_encode_event(struct vsvm_writer *w, const struct vsvm_event_val *ev);
int vsvm_decode_capset(const void *buf, __u32 avail, struct vsvm_caps *caps);
int vsvm_encode_capset(struct vsvm_writer *w, const struct vsvm_caps *caps);

/* Field checks shared by the codec and hosts. */
int vsvm_check_range(__u64 va, __u64 len, __u32 va_bits);
int vsvm_check_location(__u32 loc, int allow_unset);

static inline void vsvm_writer_init(struct vsvm_writer *w, void *buf,
				    __u32 cap)
{
	w->buf = (__u8 *)buf;
	w->cap = cap;
	w->off = 0;
}

#endif /* VSVM_CODEC_H */
