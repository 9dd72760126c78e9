// SPDX-License-Identifier: MIT
/*
 * vsvm-protodump - print, or self-check, svm context-type streams.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 *   vsvm-protodump FILE           decode a command stream (SUBMIT_3D payload)
 *   vsvm-protodump --reply FILE   decode a reply stream
 *   vsvm-protodump --selfcheck    encode a whole guest session, decode and
 *                                 print it, and check malformed variants
 *
 * It uses the same freestanding codec as the kernel modules and the proxy,
 * so what it accepts is exactly what a vsvm host accepts syntactically.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vsvm/vsvm_codec.h"

#define MAX_FILE (VSVM_MAX_SUBMIT_BYTES + 4096)

static void print_request(const struct vsvm_request *r)
{
	struct vsvm_run run;
	struct vsvm_attr_val a;
	struct vsvm_resolution res;
	__u32 i;

	printf("  %-11s len %-4u", vsvm_op_name(r->op), r->len);
	switch (r->op) {
	case VSVM_CMD_INIT:
		printf(" version %u.%u va_bits %u", r->u.init.major,
		       r->u.init.minor, r->u.init.va_bits);
		break;
	case VSVM_CMD_MAP:
		printf(" va 0x%llx len 0x%llx prot %#x inval_seq %llu runs",
		       (unsigned long long)r->u.map.va,
		       (unsigned long long)r->u.map.len, r->u.map.prot,
		       (unsigned long long)r->u.map.inval_seq);
		for (i = 0; i < r->u.map.nr_runs; i++) {
			vsvm_request_run(r, i, &run);
			printf(" [gpa 0x%llx +0x%llx]",
			       (unsigned long long)run.gpa,
			       (unsigned long long)run.len);
		}
		break;
	case VSVM_CMD_UNMAP:
		printf(" va 0x%llx len 0x%llx seq %llu",
		       (unsigned long long)r->u.unmap.va,
		       (unsigned long long)r->u.unmap.len,
		       (unsigned long long)r->u.unmap.seq);
		break;
	case VSVM_CMD_EVENT_WAIT:
		printf(" max_events %u flags %#x", r->u.wait.max_events,
		       r->u.wait.flags);
		break;
	case VSVM_CMD_FAULT_REPLY:
		for (i = 0; i < r->u.fault_reply.nr; i++) {
			vsvm_request_resolution(r, i, &res);
			printf(" [id %u %s]", res.id,
			       vsvm_status_name(res.status));
		}
		break;
	case VSVM_CMD_SET_ATTR:
	case VSVM_CMD_GET_ATTR:
		printf(" va 0x%llx len 0x%llx",
		       (unsigned long long)r->u.attr.va,
		       (unsigned long long)r->u.attr.len);
		for (i = 0; i < r->u.attr.nr_attrs; i++) {
			vsvm_request_attr(r, i, &a);
			printf(" [type %u value 0x%llx]", a.type,
			       (unsigned long long)a.value);
		}
		break;
	case VSVM_CMD_PREFETCH:
		printf(" va 0x%llx len 0x%llx location %#x flags %#x",
		       (unsigned long long)r->u.prefetch.va,
		       (unsigned long long)r->u.prefetch.len,
		       r->u.prefetch.location, r->u.prefetch.flags);
		break;
	case VSVM_CMD_MIGRATE:
		printf(" va 0x%llx len 0x%llx location %#x request %u runs %u",
		       (unsigned long long)r->u.migrate.va,
		       (unsigned long long)r->u.migrate.len,
		       r->u.migrate.location, r->u.migrate.request_id,
		       r->u.migrate.nr_runs);
		break;
	case VSVM_CMD_LAUNCH:
		printf(" kernel %s device %u args",
		       vsvm_kernel_name(r->u.launch.kernel),
		       r->u.launch.device);
		for (i = 0; i < r->u.launch.nr_args; i++)
			printf(" 0x%llx",
			       (unsigned long long)r->u.launch.args[i]);
		break;
	}
	printf("\n");
}

static int dump_commands(const __u8 *buf, __u32 len)
{
	__u32 nr, bytes, bad;
	struct vsvm_request req;
	struct vsvm_stream s;
	int ret;

	ret = vsvm_stream_validate(buf, len, VSVM_MAX_DEVICES, &nr, &bytes,
				   &bad);
	printf("command stream: %u bytes, %u commands, %s\n", len, nr,
	       ret ? vsvm_status_name((__u32)-ret) : "valid");
	vsvm_stream_init(&s, buf, len);
	while ((ret = vsvm_stream_next(&s, &req)) > 0)
		print_request(&req);
	if (ret < 0) {
		printf("  command %u: %s\n", s.index,
		       vsvm_status_name((__u32)-ret));
		return 1;
	}
	printf("reply stream needs at most %u bytes\n", bytes);
	return 0;
}

static int dump_replies(const __u8 *buf, __u32 len)
{
	struct vsvm_response rsp;
	__u32 off = 0;
	int ret;

	while (off < len) {
		ret = vsvm_decode_response(buf + off, len - off, &rsp);
		if (ret < 0) {
			printf("  reply at %u: %s\n", off,
			       vsvm_status_name((__u32)-ret));
			return 1;
		}
		printf("  %-11s %s len %u\n", vsvm_op_name(rsp.op),
		       vsvm_status_name(rsp.status), rsp.len);
		off += (__u32)ret;
	}
	return 0;
}

static int read_file(const char *path, __u8 *buf, __u32 *len)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f) {
		fprintf(stderr, "vsvm-protodump: %s: %s\n", path,
			strerror(errno));
		return -1;
	}
	n = fread(buf, 1, MAX_FILE, f);
	fclose(f);
	if (n > VSVM_MAX_SUBMIT_BYTES) {
		fprintf(stderr, "vsvm-protodump: %s: larger than %u bytes\n",
			path, VSVM_MAX_SUBMIT_BYTES);
		return -1;
	}
	*len = (__u32)n;
	return 0;
}

/* A guest process's session: what a guest shim sends over its life. */
static int encode_session(struct vsvm_writer *w)
{
	static const struct vsvm_run runs[] = {
		{ 0x40000000, 0x200000 },
		{ 0x7fe00000, 0x1000 },
	};
	static const struct vsvm_attr_val attrs[] = {
		{ VSVM_ATTR_PREFERRED_LOC, 0, 1 },
		{ VSVM_ATTR_ACCESSED_BY, 0, 0x3 },
	};
	static const struct vsvm_resolution res[] = {
		{ 7, VSVM_OK },
		{ 8, VSVM_ERR_FAULT },
	};
	struct vsvm_request r[8];
	unsigned int i;
	int ret;

	memset(r, 0, sizeof(r));
	r[0].op = VSVM_CMD_INIT;
	r[0].u.init.major = VSVM_PROTO_MAJOR;
	r[0].u.init.minor = VSVM_PROTO_MINOR;
	r[1].op = VSVM_CMD_MAP;
	r[1].u.map.va = 0x7f0000000000ull;
	r[1].u.map.len = 0x201000;
	r[1].u.map.prot = VSVM_PROT_READ | VSVM_PROT_WRITE;
	r[1].u.map.nr_runs = 2;
	r[1].u.map.runs = runs;
	r[2].op = VSVM_CMD_SET_ATTR;
	r[2].u.attr.va = 0x7f0000000000ull;
	r[2].u.attr.len = 0x200000;
	r[2].u.attr.nr_attrs = 2;
	r[2].u.attr.attrs = attrs;
	r[3].op = VSVM_CMD_FAULT_REPLY;
	r[3].u.fault_reply.nr = 2;
	r[3].u.fault_reply.res = res;
	r[4].op = VSVM_CMD_UNMAP;
	r[4].u.unmap.va = 0x7f0000200000ull;
	r[4].u.unmap.len = 0x1000;
	r[4].u.unmap.seq = 1;
	r[5].op = VSVM_CMD_QUERY;
	r[6].op = VSVM_CMD_LAUNCH;
	r[6].u.launch.kernel = VSVM_KERNEL_CHASE;
	r[6].u.launch.nr_args = 2;
	r[6].u.launch.args[0] = 0x7f0000000040ull;
	r[6].u.launch.args[1] = 1000;
	for (i = 0; i < 7; i++) {
		ret = vsvm_encode_request(w, &r[i]);
		if (ret < 0) {
			printf("encode %s: %s\n", vsvm_op_name(r[i].op),
			       vsvm_status_name((__u32)-ret));
			return ret;
		}
	}
	return 0;
}

/* Flip one field and expect the given rejection. */
static int expect_rejected(const __u8 *stream, __u32 len, __u32 off, __u8 value,
			   int want, const char *what)
{
	__u32 nr, bytes, bad;
	__u8 copy[4096];
	int ret;

	memcpy(copy, stream, len);
	copy[off] = value;
	ret = vsvm_stream_validate(copy, len, 2, &nr, &bytes, &bad);
	printf("  %-40s -> %-13s %s\n", what,
	       ret ? vsvm_status_name((__u32)-ret) : "accepted",
	       ret == want ? "ok" : "WRONG");
	return ret == want ? 0 : 1;
}

static int selfcheck(void)
{
	__u8 buf[4096];
	struct vsvm_writer w;
	int failed = 0;

	vsvm_writer_init(&w, buf, sizeof(buf));
	if (encode_session(&w))
		return 1;
	printf("== a guest session, encoded and decoded back\n");
	failed |= dump_commands(buf, w.off);
	printf("== malformed variants a host must reject, changing nothing\n");
	/* Offsets: INIT at 0 (24 bytes), MAP at 24. */
	failed |= expect_rejected(buf, w.off, 0, 0x00, -VSVM_ERR_OPCODE,
				  "opcode 0");
	failed |= expect_rejected(buf, w.off, 2, 0x01, -VSVM_ERR_RESERVED,
				  "header flags set");
	failed |= expect_rejected(buf, w.off, 4, 0x19, -VSVM_ERR_LENGTH,
				  "length not a multiple of 8");
	failed |= expect_rejected(buf, w.off, 24 + 8, 0x01, -VSVM_ERR_ALIGN,
				  "MAP va not page aligned");
	failed |= expect_rejected(buf, w.off, 24 + 32, 0x02, -VSVM_ERR_VALUE,
				  "MAP write without read");
	failed |= expect_rejected(buf, w.off, 24 + 36, 0x03, -VSVM_ERR_LENGTH,
				  "MAP run count disagrees with length");
	failed |= expect_rejected(buf, w.off, 24 + 50, 0x10, -VSVM_ERR_COUNT,
				  "MAP runs shorter than the range");
	printf("protocol self-check: %s\n", failed ? "FAILED" : "ok");
	return failed;
}

int main(int argc, char **argv)
{
	static __u8 buf[MAX_FILE];
	__u32 len;

	if (argc == 2 && !strcmp(argv[1], "--selfcheck"))
		return selfcheck();
	if (argc == 2 && argv[1][0] != '-') {
		if (read_file(argv[1], buf, &len))
			return 2;
		return dump_commands(buf, len);
	}
	if (argc == 3 && !strcmp(argv[1], "--reply")) {
		if (read_file(argv[2], buf, &len))
			return 2;
		return dump_replies(buf, len);
	}
	fprintf(stderr,
		"usage: vsvm-protodump FILE | --reply FILE | --selfcheck\n");
	return 2;
}
