// SPDX-License-Identifier: MIT
/*
 * make_corpus.c - write the seed corpus of the codec fuzzer.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * One valid encoding per command (and per variant worth a seed), command
 * streams, every reply, every event type and the capset, each in its own
 * file, all made with the codec's encoders (which refuse invalid input, so
 * every seed is valid).  The output is committed in tests/fuzz/corpus/;
 * regenerate it after a protocol change with:
 *
 *   gcc -std=gnu11 -Wall -Wextra -Werror -Ivirtio-proto/include \
 *	tests/fuzz/make_corpus.c virtio-proto/src/vsvm_codec.c \
 *	-o build/fuzz/make_corpus && build/fuzz/make_corpus tests/fuzz/corpus
 *
 * Every seed stays below the fuzzer's -max_len=8192.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vsvm/vsvm_codec.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_SEED 8192

static const char *outdir;
static unsigned nr_files;

static void die(const char *what, int ret)
{
	fprintf(stderr, "make_corpus: %s: %d (%s)\n", what, ret,
		ret < 0 ? vsvm_status_name((__u32)-ret) : "?");
	exit(1);
}

static void write_file(const char *name, const void *buf, size_t len)
{
	char path[4096];
	FILE *f;

	if (len > MAX_SEED)
		die(name, -VSVM_ERR_LENGTH);
	snprintf(path, sizeof(path), "%s/%s.bin", outdir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, len, f) != len || fclose(f)) {
		fprintf(stderr, "make_corpus: %s: %s\n", path,
			strerror(errno));
		exit(1);
	}
	nr_files++;
}

/* Streams: commands appended to one buffer, written by flush_*(). */
static __u8 stream_buf[MAX_SEED];
static struct vsvm_writer stream;

static void req(const char *name, const struct vsvm_request *r)
{
	__u8 buf[MAX_SEED];
	struct vsvm_writer w;
	int ret;

	vsvm_writer_init(&w, buf, sizeof(buf));
	ret = vsvm_encode_request(&w, r);
	if (ret <= 0)
		die(name, ret);
	if (name)
		write_file(name, buf, w.off);
	ret = vsvm_encode_request(&stream, r);
	if (ret <= 0)
		die("stream", ret);
}

static void rsp(const char *name, const struct vsvm_response *r)
{
	__u8 buf[MAX_SEED];
	struct vsvm_writer w;
	int ret;

	vsvm_writer_init(&w, buf, sizeof(buf));
	ret = vsvm_encode_response(&w, r);
	if (ret <= 0)
		die(name, ret);
	write_file(name, buf, w.off);
	ret = vsvm_encode_response(&stream, r);
	if (ret <= 0)
		die("reply stream", ret);
}

static void flush_stream(const char *name)
{
	write_file(name, stream_buf, stream.off);
	vsvm_writer_init(&stream, stream_buf, sizeof(stream_buf));
}

static void commands(void)
{
	static struct vsvm_run runs[64];
	static const struct vsvm_resolution res[] = {
		{ 1, VSVM_OK }, { 2, VSVM_ERR_FAULT }, { 3, VSVM_OK } };
	static const struct vsvm_attr_val set[] = {
		{ VSVM_ATTR_PREFERRED_LOC, 0, 1 },
		{ VSVM_ATTR_ACCESSED_BY, 0, 0x3 },
		{ VSVM_ATTR_READ_MOSTLY, 0, 1 },
		{ VSVM_ATTR_GRANULARITY, 0, 21 },
		{ VSVM_ATTR_DEVICE_ACCESS, 0, VSVM_DEVICE_ACCESS_RO },
	};
	static const struct vsvm_attr_val get[] = {
		{ VSVM_ATTR_PREFERRED_LOC, 0, 0 },
		{ VSVM_ATTR_GRANULARITY, 0, 0 },
	};
	struct vsvm_request r;
	char name[64];
	__u32 i, k;

	for (i = 0; i < ARRAY_SIZE(runs); i++) {
		runs[i].gpa = 0x100000000ull + i * 0x10000ull;
		runs[i].len = VSVM_PAGE_SIZE * (1 + i % 2);
	}

	memset(&r, 0, sizeof(r));
	r.op = VSVM_CMD_INIT;
	r.u.init.major = VSVM_PROTO_MAJOR;
	r.u.init.minor = VSVM_PROTO_MINOR;
	r.u.init.va_bits = 48;
	req("cmd_init", &r);

	memset(&r, 0, sizeof(r));
	r.op = VSVM_CMD_QUERY;
	req("cmd_query", &r);

	memset(&r, 0, sizeof(r));
	r.op = VSVM_CMD_MAP;
	r.u.map.va = 0x7f0000000000ull;
	r.u.map.len = VSVM_PAGE_SIZE;
	r.u.map.inval_seq = 1;
	r.u.map.prot = VSVM_PROT_READ;
	r.u.map.nr_runs = 1;
	r.u.map.runs = runs;
	req("cmd_map_1run", &r);
	r.u.map.len = 3 * VSVM_PAGE_SIZE;
	r.u.map.nr_runs = 2;
	r.u.map.prot = VSVM_PROT_READ | VSVM_PROT_WRITE;
	req("cmd_map_2runs", &r);
	r.u.map.len = 0;
	for (i = 0; i < 64; i++)
		r.u.map.len += runs[i].len;
	r.u.map.nr_runs = 64;
	r.u.map.prot = VSVM_PROT_ALL;
	req("cmd_map_64runs", &r);

	memset(&r, 0, sizeof(r));
	r.op = VSVM_CMD_SET_ATTR;
	r.u.attr.va = 0x7f0000000000ull;
	r.u.attr.len = 0x200000;
	r.u.attr.nr_attrs = ARRAY_SIZE(set);
	r.u.attr.attrs = set;
	req("cmd_set_attr_5", &r);
	r.op = VSVM_CMD_GET_ATTR;
	r.u.attr.nr_attrs = ARRAY_SIZE(get);
	r.u.attr.attrs = get;
	req("cmd_get_attr_2", &r);

	memset(&r, 0, sizeof(r));
	r.op = VSVM_CMD_PREFETCH;
	r.u.prefetch.va = 0x7f0000000000ull;
	r.u.prefetch.len = 0x10000;
	r.u.prefetch.location = 0;
	req("cmd_prefetch_sync", &r);
	r.u.prefetch.location = VSVM_LOC_SYSTEM;
	r.u.prefetch.flags = VSVM_PREFETCH_F_ASYNC;
	req("cmd_prefetch_async", &r);

	memset(&r, 0, sizeof(r));
	r.op = VSVM_CMD_FAULT_REPLY;
	r.u.fault_reply.nr = ARRAY_SIZE(res);
	r.u.fault_reply.res = res;
	req("cmd_fault_reply_3", &r);

	memset(&r, 0, sizeof(r));
	r.op = VSVM_CMD_MIGRATE;
	r.u.migrate.va = 0x7f0000000000ull;
	r.u.migrate.len = 3 * VSVM_PAGE_SIZE;
	r.u.migrate.location = 1;
	r.u.migrate.request_id = 7;
	r.u.migrate.nr_runs = 2;
	r.u.migrate.runs = runs;
	req("cmd_migrate_to_dev_2runs", &r);
	r.u.migrate.location = VSVM_LOC_SYSTEM;
	r.u.migrate.request_id = 0;
	req("cmd_migrate_to_sys_2runs", &r);
	r.u.migrate.location = 2;
	r.u.migrate.nr_runs = 0;
	r.u.migrate.runs = NULL;
	req("cmd_migrate_d2d", &r);

	memset(&r, 0, sizeof(r));
	r.op = VSVM_CMD_UNMAP;
	r.u.unmap.va = 0x7f0000000000ull;
	r.u.unmap.len = 0x200000;
	r.u.unmap.seq = 2;
	req("cmd_unmap", &r);

	memset(&r, 0, sizeof(r));
	r.op = VSVM_CMD_DESTROY;
	req("cmd_destroy", &r);

	/* stream_session: everything above, in order. */
	flush_stream("stream_session");

	for (k = 1; k < VSVM_KERNEL_NR; k++) {
		memset(&r, 0, sizeof(r));
		r.op = VSVM_CMD_LAUNCH;
		r.u.launch.kernel = k;
		r.u.launch.device = k % 2;
		r.u.launch.nr_args = vsvm_kernel_nr_args(k);
		for (i = 0; i < r.u.launch.nr_args; i++)
			r.u.launch.args[i] = 0x7f0000000000ull + i * 0x1000;
		snprintf(name, sizeof(name), "cmd_launch_%s",
			 vsvm_kernel_name(k));
		req(name, &r);
		vsvm_writer_init(&stream, stream_buf, sizeof(stream_buf));
	}

	memset(&r, 0, sizeof(r));
	r.op = VSVM_CMD_EVENT_WAIT;
	r.u.wait.max_events = 64;
	req("cmd_event_wait", &r);
	vsvm_writer_init(&stream, stream_buf, sizeof(stream_buf));
	r.u.wait.flags = VSVM_WAIT_F_NONBLOCK;
	req("cmd_event_wait_nonblock", &r);
	vsvm_writer_init(&stream, stream_buf, sizeof(stream_buf));

	/* stream_fault_loop: reply to faults, map, then park a wait. */
	memset(&r, 0, sizeof(r));
	r.op = VSVM_CMD_MAP;
	r.u.map.va = 0x7f0000001000ull;
	r.u.map.len = VSVM_PAGE_SIZE;
	r.u.map.inval_seq = 3;
	r.u.map.prot = VSVM_PROT_READ | VSVM_PROT_WRITE;
	r.u.map.nr_runs = 1;
	r.u.map.runs = runs;
	req(NULL, &r);
	memset(&r, 0, sizeof(r));
	r.op = VSVM_CMD_FAULT_REPLY;
	r.u.fault_reply.nr = 1;
	r.u.fault_reply.res = res;
	req(NULL, &r);
	memset(&r, 0, sizeof(r));
	r.op = VSVM_CMD_EVENT_WAIT;
	r.u.wait.max_events = VSVM_MAX_FAULT_BATCH;
	req(NULL, &r);
	flush_stream("stream_fault_loop");

	/* stream_launch_last: query, then a launch that parks. */
	memset(&r, 0, sizeof(r));
	r.op = VSVM_CMD_QUERY;
	req(NULL, &r);
	r.op = VSVM_CMD_LAUNCH;
	r.u.launch.kernel = VSVM_KERNEL_HISTOGRAM;
	r.u.launch.nr_args = 4;
	r.u.launch.args[0] = 0x7f0000000000ull;
	r.u.launch.args[1] = 4096;
	r.u.launch.args[2] = 0x7f0000100000ull;
	r.u.launch.args[3] = 16;
	req(NULL, &r);
	flush_stream("stream_launch_last");
}

static const struct vsvm_event_val events[] = {
	{ VSVM_EVENT_FAULT, 1, 0x7f0000001000ull, VSVM_PAGE_SIZE, 0,
	  VSVM_ACCESS_WRITE },
	{ VSVM_EVENT_MIGRATE_REQ, 2, 0x7f0000000000ull, 0x200000, 1, 0 },
	{ VSVM_EVENT_PREFETCH_DONE, 3, 0x7f0000000000ull, 0x10000,
	  VSVM_LOC_SYSTEM, VSVM_OK },
};

static void replies(void)
{
	static const struct vsvm_device_val devs[] = {
		{ 16ull << 30, 0, 4096 }, { 8ull << 30, 1ull << 20, 2048 } };
	static const struct vsvm_attr_val attrs[] = {
		{ VSVM_ATTR_PREFERRED_LOC, VSVM_ATTR_F_MIXED, VSVM_LOC_UNSET },
		{ VSVM_ATTR_GRANULARITY, 0, 21 },
	};
	struct vsvm_response r;

	memset(&r, 0, sizeof(r));
	r.op = VSVM_CMD_INIT;
	r.u.init.major = 1;
	r.u.init.features = VSVM_F_ALL;
	r.u.init.va_bits = 48;
	r.u.init.num_devices = 2;
	r.u.init.page_sizes = (1ull << 12) | (1ull << 21);
	r.u.init.devices = devs;
	rsp("reply_init_2dev", &r);
	r.op = VSVM_CMD_QUERY;
	r.u.init.num_devices = 1;
	rsp("reply_query_1dev", &r);

	memset(&r, 0, sizeof(r));
	r.op = VSVM_CMD_MAP;
	rsp("reply_map_ok", &r);
	r.status = VSVM_ERR_STALE;
	rsp("reply_map_err_stale", &r);

	memset(&r, 0, sizeof(r));
	r.op = VSVM_CMD_GET_ATTR;
	r.u.get_attr.nr_attrs = ARRAY_SIZE(attrs);
	r.u.get_attr.attrs = attrs;
	rsp("reply_get_attr_2", &r);

	memset(&r, 0, sizeof(r));
	r.op = VSVM_CMD_PREFETCH;
	r.u.prefetch.token = 5;
	r.u.prefetch.bytes = 0x10000;
	rsp("reply_prefetch", &r);

	memset(&r, 0, sizeof(r));
	r.op = VSVM_CMD_FAULT_REPLY;
	r.u.fault_reply.resolved = 2;
	r.u.fault_reply.unknown = 1;
	rsp("reply_fault_reply", &r);

	memset(&r, 0, sizeof(r));
	r.op = VSVM_CMD_MIGRATE;
	r.u.migrate.bytes = 0x3000;
	rsp("reply_migrate", &r);

	memset(&r, 0, sizeof(r));
	r.op = VSVM_CMD_DESTROY;
	rsp("reply_destroy", &r);

	memset(&r, 0, sizeof(r));
	r.op = VSVM_CMD_EVENT_WAIT;
	r.u.wait.nr_events = ARRAY_SIZE(events);
	r.u.wait.pending = 1;
	r.u.wait.events = events;
	rsp("reply_event_wait_3ev", &r);
	flush_stream("reply_stream_session");

	memset(&r, 0, sizeof(r));
	r.op = VSVM_CMD_EVENT_WAIT;
	rsp("reply_event_wait_empty", &r);
	vsvm_writer_init(&stream, stream_buf, sizeof(stream_buf));

	memset(&r, 0, sizeof(r));
	r.op = VSVM_CMD_LAUNCH;
	r.u.launch.result = 42;
	r.u.launch.faults = 3;
	r.u.launch.elapsed_ns = 1000000;
	rsp("reply_launch", &r);
	vsvm_writer_init(&stream, stream_buf, sizeof(stream_buf));
	r.status = VSVM_ERR_FAULT;
	r.u.launch.fault_va = 0x7f0000002000ull;
	rsp("reply_launch_err_fault", &r);
	vsvm_writer_init(&stream, stream_buf, sizeof(stream_buf));
}

static void events_and_capset(void)
{
	static const char *const names[] = { "event_fault",
					     "event_migrate_req",
					     "event_prefetch_done" };
	const struct vsvm_caps caps = {
		.major = VSVM_PROTO_MAJOR, .minor = VSVM_PROTO_MINOR,
		.features = VSVM_F_ALL, .num_devices = 2, .va_bits = 48,
		.page_sizes = (1ull << 12) | (1ull << 21) | (1ull << 30),
		.max_contexts = 16, .max_submit_bytes = VSVM_MAX_SUBMIT_BYTES,
		.max_cmds = VSVM_MAX_CMDS,
		.max_fault_batch = VSVM_MAX_FAULT_BATCH,
		.max_map_runs = VSVM_MAX_MAP_RUNS, .max_launches = 4,
		.max_ranges = 4096,
	};
	__u8 buf[sizeof(struct vsvm_capset)];
	struct vsvm_writer w;
	size_t i;
	int ret;

	for (i = 0; i < ARRAY_SIZE(events); i++) {
		vsvm_writer_init(&w, buf, sizeof(buf));
		ret = vsvm_encode_event(&w, &events[i]);
		if (ret <= 0)
			die(names[i], ret);
		write_file(names[i], buf, w.off);
	}
	vsvm_writer_init(&w, buf, sizeof(buf));
	ret = vsvm_encode_capset(&w, &caps);
	if (ret <= 0)
		die("capset", ret);
	write_file("capset", buf, w.off);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
		return 2;
	}
	outdir = argv[1];
	vsvm_writer_init(&stream, stream_buf, sizeof(stream_buf));
	commands();
	vsvm_writer_init(&stream, stream_buf, sizeof(stream_buf));
	replies();
	events_and_capset();
	printf("make_corpus: %u files in %s\n", nr_files, outdir);
	return 0;
}
