// SPDX-License-Identifier: MIT
/*
 * fuzz_decode.c - libFuzzer target for every decoder of the svm codec.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * The same input is read as a command stream, a reply stream, a sequence
 * of event records and a capset.  Besides "no crash, no sanitizer report",
 * it checks properties with __builtin_trap():
 *
 *  - every element of every decoded array is read through the accessors;
 *  - vsvm_stream_validate() and a vsvm_stream_next() walk agree on the
 *    command count, the failing index and status, and the reply size;
 *  - a decoded command, reply, event or capset re-encodes to exactly the
 *    bytes it was decoded from (the decoders accept only canonical bytes:
 *    every reserved field zero, nothing the encoder could not produce).
 *
 * Build (see the Makefile):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined \
 *	-fno-sanitize-recover=all -Ivirtio-proto/include \
 *	tests/fuzz/fuzz_decode.c virtio-proto/src/vsvm_codec.c \
 *	-o build/fuzz/fuzz_decode
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "vsvm/vsvm_codec.h"

#define CHECK(x)                                                              \
	do {                                                                  \
		if (!(x))                                                     \
			__builtin_trap();                                     \
	} while (0)

/* The largest command and reply the protocol allows. */
#define MAX_CMD_BYTES                                                         \
	(sizeof(struct vsvm_cmd_map) +                                        \
	 VSVM_MAX_MAP_RUNS * sizeof(struct vsvm_gpa_run))
#define MAX_REPLY_BYTES                                                       \
	(sizeof(struct vsvm_reply_event_wait) +                               \
	 VSVM_MAX_FAULT_BATCH * sizeof(struct vsvm_event))

/* Devices the fuzzed "host" reports, to size INIT/QUERY replies. */
#define FUZZ_NUM_DEVICES 4

/* Sink so that the accessors' results are used. */
static volatile uint64_t sink;

/* ------------------------------------------------------------------ */
/* Commands                                                            */

static void read_request_arrays(const struct vsvm_request *req)
{
	struct vsvm_resolution res;
	struct vsvm_attr_val a;
	struct vsvm_run run;
	uint32_t i;

	switch (req->op) {
	case VSVM_CMD_MAP:
		for (i = 0; i < req->u.map.nr_runs; i++) {
			vsvm_request_run(req, i, &run);
			sink += run.gpa ^ run.len;
		}
		break;
	case VSVM_CMD_MIGRATE:
		for (i = 0; i < req->u.migrate.nr_runs; i++) {
			vsvm_request_run(req, i, &run);
			sink += run.gpa ^ run.len;
		}
		break;
	case VSVM_CMD_FAULT_REPLY:
		for (i = 0; i < req->u.fault_reply.nr; i++) {
			vsvm_request_resolution(req, i, &res);
			CHECK(res.status < VSVM_STATUS_NR);
			sink += res.id;
		}
		break;
	case VSVM_CMD_SET_ATTR:
	case VSVM_CMD_GET_ATTR:
		for (i = 0; i < req->u.attr.nr_attrs; i++) {
			vsvm_request_attr(req, i, &a);
			CHECK(a.type > 0 && a.type < VSVM_ATTR_NR);
			CHECK(a.flags == 0);
			sink += a.value;
		}
		break;
	}
}

/* A decoded command re-encodes to the very bytes it came from. */
static void reencode_request(const uint8_t *cmd, uint32_t len,
			     const struct vsvm_request *dec)
{
	struct vsvm_run runs[VSVM_MAX_MAP_RUNS];
	struct vsvm_resolution res[VSVM_MAX_FAULT_BATCH];
	struct vsvm_attr_val attrs[VSVM_MAX_ATTRS];
	uint8_t out[MAX_CMD_BYTES];
	struct vsvm_request req = *dec;
	struct vsvm_writer w;
	uint32_t i;
	int ret;

	switch (req.op) {
	case VSVM_CMD_MAP:
		CHECK(req.u.map.nr_runs >= 1 &&
		      req.u.map.nr_runs <= VSVM_MAX_MAP_RUNS);
		for (i = 0; i < req.u.map.nr_runs; i++)
			vsvm_request_run(dec, i, &runs[i]);
		req.u.map.runs = runs;
		req.u.map.runs_wire = NULL;
		break;
	case VSVM_CMD_MIGRATE:
		CHECK(req.u.migrate.nr_runs <= VSVM_MAX_MAP_RUNS);
		for (i = 0; i < req.u.migrate.nr_runs; i++)
			vsvm_request_run(dec, i, &runs[i]);
		req.u.migrate.runs = runs;
		req.u.migrate.runs_wire = NULL;
		break;
	case VSVM_CMD_FAULT_REPLY:
		CHECK(req.u.fault_reply.nr >= 1 &&
		      req.u.fault_reply.nr <= VSVM_MAX_FAULT_BATCH);
		for (i = 0; i < req.u.fault_reply.nr; i++)
			vsvm_request_resolution(dec, i, &res[i]);
		req.u.fault_reply.res = res;
		req.u.fault_reply.res_wire = NULL;
		break;
	case VSVM_CMD_SET_ATTR:
	case VSVM_CMD_GET_ATTR:
		CHECK(req.u.attr.nr_attrs >= 1 &&
		      req.u.attr.nr_attrs <= VSVM_MAX_ATTRS);
		for (i = 0; i < req.u.attr.nr_attrs; i++)
			vsvm_request_attr(dec, i, &attrs[i]);
		req.u.attr.attrs = attrs;
		req.u.attr.attrs_wire = NULL;
		break;
	}

	CHECK(len <= sizeof(out));
	vsvm_writer_init(&w, out, sizeof(out));
	ret = vsvm_encode_request(&w, &req);
	CHECK(ret == (int)len);
	CHECK(w.off == len);
	CHECK(memcmp(out, cmd, len) == 0);

	/* And the encoder refuses to write it one byte short. */
	vsvm_writer_init(&w, out, len - 1);
	CHECK(vsvm_encode_request(&w, &req) == -VSVM_ERR_LENGTH);
	CHECK(w.off == 0);
}

static void fuzz_commands(const uint8_t *data, uint32_t size)
{
	uint32_t nr_cmds, reply_bytes, bad_index, sum = 0, at;
	struct vsvm_request req;
	struct vsvm_stream s;
	int vret, ret;

	vret = vsvm_stream_validate(data, size, FUZZ_NUM_DEVICES, &nr_cmds,
				    &reply_bytes, &bad_index);
	CHECK(vret <= 0 && vret > -VSVM_STATUS_NR);
	CHECK(nr_cmds <= VSVM_MAX_CMDS);

	vsvm_stream_init(&s, data, size);
	for (;;) {
		uint32_t start = s.off;

		ret = vsvm_stream_next(&s, &req);
		if (ret <= 0)
			break;
		CHECK(ret == 1);
		CHECK(req.op > 0 && req.op < VSVM_CMD_NR);
		CHECK(req.len >= sizeof(struct vsvm_cmd_hdr));
		CHECK(req.len % 8 == 0);
		CHECK(s.off == start + req.len && s.off <= size);
		sink += (uintptr_t)vsvm_op_name(req.op);
		read_request_arrays(&req);
		reencode_request(data + start, req.len, &req);
		sum += vsvm_reply_size(&req, FUZZ_NUM_DEVICES);
	}
	CHECK(ret > -VSVM_STATUS_NR);
	if (ret == -VSVM_ERR_STATE) {
		/* The parking command decoded: it re-encodes too. */
		CHECK(vsvm_op_parks(req.op));
		CHECK(s.off >= req.len);
		read_request_arrays(&req);
		reencode_request(data + s.off - req.len, req.len, &req);
	}

	/* vsvm_stream_validate() and the walk agree. */
	if (size > VSVM_MAX_SUBMIT_BYTES) {
		CHECK(vret == -VSVM_ERR_LENGTH && nr_cmds == 0);
		return;
	}
	CHECK(vret == ret);
	CHECK(nr_cmds == s.index);
	if (ret == 0) {
		CHECK(reply_bytes == sum);
		CHECK(s.off == size);
	} else {
		at = ret == -VSVM_ERR_STATE ? s.index - 1 : s.index;
		CHECK(bad_index == at);
		CHECK(reply_bytes == 0);
	}
}

/* ------------------------------------------------------------------ */
/* Replies                                                             */

static void reencode_response(const uint8_t *p, uint32_t len,
			      const struct vsvm_response *dec)
{
	struct vsvm_device_val devs[VSVM_MAX_DEVICES];
	struct vsvm_event_val evs[VSVM_MAX_FAULT_BATCH];
	struct vsvm_attr_val attrs[VSVM_MAX_ATTRS];
	uint8_t out[MAX_REPLY_BYTES];
	struct vsvm_response rsp = *dec;
	struct vsvm_writer w;
	uint32_t i;
	int ret;

	if (rsp.status == VSVM_OK) {
		switch (rsp.op) {
		case VSVM_CMD_INIT:
		case VSVM_CMD_QUERY:
			CHECK(rsp.u.init.num_devices >= 1 &&
			      rsp.u.init.num_devices <= VSVM_MAX_DEVICES);
			for (i = 0; i < rsp.u.init.num_devices; i++)
				vsvm_response_device(dec, i, &devs[i]);
			rsp.u.init.devices = devs;
			break;
		case VSVM_CMD_EVENT_WAIT:
			CHECK(rsp.u.wait.nr_events <= VSVM_MAX_FAULT_BATCH);
			for (i = 0; i < rsp.u.wait.nr_events; i++)
				vsvm_response_event(dec, i, &evs[i]);
			rsp.u.wait.events = evs;
			break;
		case VSVM_CMD_GET_ATTR:
			CHECK(rsp.u.get_attr.nr_attrs >= 1 &&
			      rsp.u.get_attr.nr_attrs <= VSVM_MAX_ATTRS);
			for (i = 0; i < rsp.u.get_attr.nr_attrs; i++) {
				vsvm_response_attr(dec, i, &attrs[i]);
				CHECK(attrs[i].type > 0 &&
				      attrs[i].type < VSVM_ATTR_NR);
				CHECK(!(attrs[i].flags & ~VSVM_ATTR_F_MIXED));
			}
			rsp.u.get_attr.attrs = attrs;
			break;
		}
	}

	CHECK(len <= sizeof(out));
	vsvm_writer_init(&w, out, sizeof(out));
	ret = vsvm_encode_response(&w, &rsp);
	CHECK(ret == (int)len);
	CHECK(memcmp(out, p, len) == 0);
}

static void fuzz_replies(const uint8_t *data, uint32_t size)
{
	struct vsvm_response rsp;
	uint32_t off = 0;
	int ret;

	while (off < size) {
		ret = vsvm_decode_response(data + off, size - off, &rsp);
		if (ret <= 0) {
			CHECK(ret < 0 && ret > -VSVM_STATUS_NR);
			break;
		}
		CHECK((uint32_t)ret <= size - off && ret % 8 == 0);
		CHECK((uint32_t)ret == rsp.len);
		CHECK(rsp.op > 0 && rsp.op < VSVM_CMD_NR);
		CHECK(rsp.status < VSVM_STATUS_NR);
		reencode_response(data + off, (uint32_t)ret, &rsp);
		off += (uint32_t)ret;
	}
}

/* ------------------------------------------------------------------ */
/* Events and capset                                                   */

static void fuzz_events(const uint8_t *data, uint32_t size)
{
	struct vsvm_event_val ev;
	uint8_t out[sizeof(struct vsvm_event)];
	struct vsvm_writer w;
	uint32_t off = 0;
	int ret;

	while (off < size) {
		ret = vsvm_decode_event(data + off, size - off, &ev);
		if (ret < 0) {
			CHECK(ret > -VSVM_STATUS_NR);
			break;
		}
		CHECK(ret == (int)sizeof(struct vsvm_event));
		CHECK(ev.type > 0 && ev.type < VSVM_EVENT_NR);
		vsvm_writer_init(&w, out, sizeof(out));
		CHECK(vsvm_encode_event(&w, &ev) == ret);
		CHECK(memcmp(out, data + off, sizeof(out)) == 0);
		off += (uint32_t)ret;
	}
}

static void fuzz_capset(const uint8_t *data, uint32_t size)
{
	struct vsvm_caps caps;
	uint8_t out[sizeof(struct vsvm_capset)];
	struct vsvm_writer w;
	int ret;

	ret = vsvm_decode_capset(data, size, &caps);
	if (ret < 0) {
		CHECK(ret > -VSVM_STATUS_NR);
		return;
	}
	CHECK(ret >= (int)sizeof(out) && (uint32_t)ret <= size);
	CHECK(ret % 8 == 0);
	vsvm_writer_init(&w, out, sizeof(out));
	CHECK(vsvm_encode_capset(&w, &caps) == (int)sizeof(out));
	/* Identical but for size, which a newer minor may make larger. */
	CHECK(memcmp(out, data, 8) == 0);
	CHECK(memcmp(out + 12, data + 12, sizeof(out) - 12) == 0);
	if (ret == (int)sizeof(out))
		CHECK(memcmp(out, data, sizeof(out)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t len = size > 0xffffffffu ? 0xffffffffu : (uint32_t)size;

	fuzz_commands(data, len);
	fuzz_replies(data, len);
	fuzz_events(data, len);
	fuzz_capset(data, len);
	return 0;
}
