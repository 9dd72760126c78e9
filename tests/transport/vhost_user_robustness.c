// SPDX-License-Identifier: MIT
/*
 * vhost_user_robustness.c - a frontend that breaks the protocol loses its
 * own connection and nothing else: oversized payloads, too many fds, bad
 * vring indices, bad versions and sizes close that connection while a
 * second VM's session carries on; no fd, mapping or thread is left behind.
 *
 * Copyright (C) 2026 The vsvm authors
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "gpu_cmd.h"
#include "svm_double.h"
#include "vhost_user.h"
#include "vu_frontend.h"

/* Two VMs on one server: "bad" misbehaves, "good" must not notice. */
struct pair {
	struct vp_server *srv;
	struct fe bad;
	struct fe good;
	int fds_before;
};

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n++;
	closedir(d);
	return n;
}

static struct vp_server *start_server(const char *path, uint32_t max)
{
	struct vp_server_config cfg;
	struct vp_server *srv;

	memset(&cfg, 0, sizeof(cfg));
	cfg.socket_path = path;
	cfg.max_connections = max;
	cfg.verbosity = -1;
	srv = vp_server_start(&cfg);
	assert_non_null(srv);
	return srv;
}

static int connect_pair(struct vp_server *srv)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	assert_int_equal(vp_server_add_connection(srv, sv[0]), 0);
	return sv[1];
}

static int setup(void **state)
{
	struct pair *p = calloc(1, sizeof(*p));

	p->fds_before = count_fds();
	p->srv = start_server(NULL, 0);
	fe_start(&p->good, connect_pair(p->srv), true);
	fe_start(&p->bad, connect_pair(p->srv), false);
	*state = p;
	return 0;
}

static int teardown(void **state)
{
	struct pair *p = *state;

	fe_close(&p->bad);
	fe_close(&p->good);
	vp_server_stop(p->srv);
	/* Every fd the proxy received or made is closed again. */
	assert_int_equal(count_fds(), p->fds_before);
	free(p);
	return 0;
}

/* The good VM still gets answers. */
static void good_still_served(struct pair *p)
{
	struct virtio_gpu_ctrl_hdr h, *r;
	uint32_t len;

	make_hdr(&h, VIRTIO_GPU_CMD_GET_DISPLAY_INFO, 0);
	r = fe_cmd(&p->good, &h, HDR, HDR, &len);
	assert_int_equal(le32toh(r->type), VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
}

static void expect_broken(struct pair *p, uint64_t broken)
{
	struct vp_server_stats st;

	assert_true(fe_closed(&p->bad));
	good_still_served(p);
	vp_server_get_stats(p->srv, &st);
	assert_int_equal(st.connections_broken, broken);
}

static void oversized_payload_breaks_the_connection(void **state)
{
	struct pair *p = *state;
	uint8_t junk[1024] = { 0 };

	assert_int_equal(fe_send(&p->bad, FE_SET_FEATURES, 0, junk,
				 sizeof(junk), NULL, 0),
			 0);
	expect_broken(p, 1);
}

static void payload_larger_than_any_message_breaks_it(void **state)
{
	struct pair *p = *state;
	uint8_t junk[300] = { 0 };

	/* Unknown requests may carry a payload, but not a larger one. */
	assert_int_equal(fe_send(&p->bad, 99, 0, junk, sizeof(junk), NULL, 0),
			 0);
	expect_broken(p, 1);
}

static void wrong_size_for_the_request_breaks_it(void **state)
{
	struct pair *p = *state;
	uint32_t four = 1;

	assert_int_equal(
		fe_send(&p->bad, FE_SET_FEATURES, 0, &four, 4, NULL, 0), 0);
	expect_broken(p, 1);
}

static void bad_version_breaks_it(void **state)
{
	struct pair *p = *state;
	struct fe_hdr h = { FE_GET_QUEUE_NUM, 0x2, 0 };

	assert_int_equal(send(p->bad.sock, &h, sizeof(h), 0), sizeof(h));
	expect_broken(p, 1);
}

static void nine_fds_for_a_call_break_it(void **state)
{
	struct pair *p = *state;
	int fds[9], i;
	uint64_t v = 0;

	for (i = 0; i < 9; i++)
		fds[i] = eventfd(0, EFD_CLOEXEC);
	/* Nine is more than any message may carry. */
	assert_int_equal(
		fe_send(&p->bad, FE_SET_VRING_CALL, 0, &v, sizeof(v), fds, 9),
		0);
	for (i = 0; i < 9; i++)
		close(fds[i]);
	expect_broken(p, 1);
}

static void more_fds_than_any_message_carries_break_it(void **state)
{
	struct pair *p = *state;
	int fds[9], i;

	for (i = 0; i < 9; i++)
		fds[i] = eventfd(0, EFD_CLOEXEC);
	/* Even a request we do not handle may carry at most eight. */
	assert_int_equal(fe_send(&p->bad, 99, 0, NULL, 0, fds, 9), 0);
	for (i = 0; i < 9; i++)
		close(fds[i]);
	expect_broken(p, 1);
}

static void two_fds_for_a_kick_break_it(void **state)
{
	struct pair *p = *state;
	int fds[2] = { eventfd(0, EFD_CLOEXEC), eventfd(0, EFD_CLOEXEC) };
	uint64_t v = 0;

	assert_int_equal(
		fe_send(&p->bad, FE_SET_VRING_KICK, 0, &v, sizeof(v), fds, 2),
		0);
	close(fds[0]);
	close(fds[1]);
	expect_broken(p, 1);
}

static void bad_vring_index_breaks_it(void **state)
{
	struct pair *p = *state;
	struct fe_state st = { 2, 8 };

	assert_int_equal(
		fe_send(&p->bad, FE_SET_VRING_NUM, 0, &st, sizeof(st), NULL, 0),
		0);
	expect_broken(p, 1);
}

static void bad_vring_index_in_fd_message_breaks_it(void **state)
{
	struct pair *p = *state;
	int fd = eventfd(0, EFD_CLOEXEC);
	uint64_t v = 7;

	assert_int_equal(
		fe_send(&p->bad, FE_SET_VRING_KICK, 0, &v, sizeof(v), &fd, 1),
		0);
	close(fd);
	expect_broken(p, 1);
}

static void bad_index_in_vring_address_breaks_it(void **state)
{
	struct pair *p = *state;
	struct fe_addr a = { .index = 0x80000000u };

	assert_int_equal(
		fe_send(&p->bad, FE_SET_VRING_ADDR, 0, &a, sizeof(a), NULL, 0),
		0);
	expect_broken(p, 1);
}

static void get_vring_base_of_missing_ring_breaks_it(void **state)
{
	struct pair *p = *state;
	struct fe_state st = { 200, 0 };

	assert_int_equal(fe_send(&p->bad, FE_GET_VRING_BASE, 0, &st, sizeof(st),
				 NULL, 0),
			 0);
	expect_broken(p, 1);
}

static void memory_table_fd_count_mismatch_breaks_it(void **state)
{
	struct pair *p = *state;
	struct fe_memory m = { .nregions = 2 };

	m.regions[0].gpa = FE_GPA;
	m.regions[0].size = 4096;
	m.regions[1].gpa = FE_GPA + 4096;
	m.regions[1].size = 4096;
	assert_int_equal(fe_send(&p->bad, FE_SET_MEM_TABLE, 0, &m, 8 + 64,
				 &p->bad.gm.fd, 1),
			 0);
	expect_broken(p, 1);
}

static void eof_inside_a_message_ends_only_that_connection(void **state)
{
	struct pair *p = *state;
	struct fe_hdr h = { FE_SET_FEATURES, FE_VERSION, 8 };
	struct vp_server_stats st;
	int i;

	assert_int_equal(send(p->bad.sock, &h, sizeof(h), 0), sizeof(h));
	assert_int_equal(send(p->bad.sock, "abc", 3, 0), 3);
	close(p->bad.sock);
	p->bad.sock = -1;
	for (i = 0; i < 5000; i++) {
		vp_server_get_stats(p->srv, &st);
		if (st.connections_active == 1)
			break;
		usleep(1000);
	}
	assert_int_equal(st.connections_active, 1);
	good_still_served(p);
}

static void guest_corrupting_its_ring_breaks_only_that_ring(void **state)
{
	struct pair *p = *state;
	struct virtio_gpu_ctrl_hdr h;
	uint64_t v;

	/* Forget the call that came with the new call fd at setup. */
	while (read(p->bad.call[0], &v, sizeof(v)) > 0)
		;
	/* A head out of range: the ring is broken, the err fd told. */
	guest_publish(&p->bad.gr[0], FE_NUM + 1);
	fe_kick(&p->bad, 0);
	make_hdr(&h, VIRTIO_GPU_CMD_GET_DISPLAY_INFO, 0);
	fe_post(&p->bad, 0, &h, HDR, HDR);
	fe_kick(&p->bad, 0);
	assert_false(fe_wait_readable(p->bad.call[0], 100));
	assert_int_equal(guest_used_idx(&p->bad.gr[0]), 0);
	/* The connection itself is fine: it still answers messages. */
	assert_int_equal(fe_get_u64(&p->bad, FE_GET_QUEUE_NUM), 2);
	good_still_served(p);
}

/* A listening server in a fresh directory. */
struct listening {
	char dir[64];
	char path[108];
};

static void make_socket_path(struct listening *l)
{
	strcpy(l->dir, "/tmp/vsvm-test-XXXXXX");
	assert_non_null(mkdtemp(l->dir));
	snprintf(l->path, sizeof(l->path), "%s/proxy.sock", l->dir);
}

static int connect_path(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	strcpy(a.sun_path, path);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

static void listening_server_serves_several_vms(void **state)
{
	struct listening l;
	struct vp_server *srv;
	struct vp_server_stats st;
	struct pair p = { 0 };
	struct stat sb;
	int before = count_fds();

	(void)state;
	make_socket_path(&l);
	srv = start_server(l.path, 0);
	p.srv = srv;
	fe_start(&p.bad, connect_path(l.path), false);
	fe_start(&p.good, connect_path(l.path), true);
	good_still_served(&p);
	assert_int_equal(fe_get_u64(&p.bad, FE_GET_QUEUE_NUM), 2);
	vp_server_get_stats(srv, &st);
	assert_int_equal(st.connections_served, 2);
	/* Stopping closes both connections and removes the socket. */
	vp_server_stop(srv);
	assert_true(fe_closed(&p.bad));
	assert_true(fe_closed(&p.good));
	assert_int_equal(stat(l.path, &sb), -1);
	fe_close(&p.bad);
	fe_close(&p.good);
	rmdir(l.dir);
	assert_int_equal(count_fds(), before);
}

static void connections_beyond_the_limit_are_refused(void **state)
{
	struct listening l;
	struct vp_server *srv;
	struct vp_server_stats st;
	struct fe a, b;
	int i;

	(void)state;
	make_socket_path(&l);
	srv = start_server(l.path, 1);
	fe_init(&a, connect_path(l.path));
	assert_int_equal(fe_get_u64(&a, FE_GET_QUEUE_NUM), 2);
	fe_init(&b, connect_path(l.path));
	assert_true(fe_closed(&b));
	vp_server_get_stats(srv, &st);
	assert_int_equal(st.connections_refused, 1);
	/* When the first leaves, there is room again. */
	fe_close(&a);
	fe_close(&b);
	for (i = 0; i < 5000; i++) {
		vp_server_get_stats(srv, &st);
		if (st.connections_active == 0)
			break;
		usleep(1000);
	}
	fe_init(&b, connect_path(l.path));
	assert_int_equal(fe_get_u64(&b, FE_GET_QUEUE_NUM), 2);
	fe_close(&b);
	vp_server_stop(srv);
	rmdir(l.dir);
}

static void socket_path_over_a_regular_file_is_refused(void **state)
{
	struct listening l;
	struct vp_server_config cfg;
	int fd;

	(void)state;
	make_socket_path(&l);
	fd = open(l.path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	close(fd);
	memset(&cfg, 0, sizeof(cfg));
	cfg.socket_path = l.path;
	cfg.verbosity = -1;
	assert_null(vp_server_start(&cfg));
	assert_int_equal(errno, EEXIST);
	unlink(l.path);
	/* A stale socket left by an earlier run is replaced. */
	vp_server_stop(start_server(l.path, 0));
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	{
		struct sockaddr_un a = { .sun_family = AF_UNIX };

		strcpy(a.sun_path, l.path);
		assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	}
	close(fd);
	vp_server_stop(start_server(l.path, 0));
	rmdir(l.dir);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(oversized_payload_breaks_the_connection),
		T(payload_larger_than_any_message_breaks_it),
		T(wrong_size_for_the_request_breaks_it),
		T(bad_version_breaks_it),
		T(nine_fds_for_a_call_break_it),
		T(more_fds_than_any_message_carries_break_it),
		T(two_fds_for_a_kick_break_it),
		T(bad_vring_index_breaks_it),
		T(bad_vring_index_in_fd_message_breaks_it),
		T(bad_index_in_vring_address_breaks_it),
		T(get_vring_base_of_missing_ring_breaks_it),
		T(memory_table_fd_count_mismatch_breaks_it),
		T(eof_inside_a_message_ends_only_that_connection),
		T(guest_corrupting_its_ring_breaks_only_that_ring),
		cmocka_unit_test(listening_server_serves_several_vms),
		cmocka_unit_test(connections_beyond_the_limit_are_refused),
		cmocka_unit_test(socket_path_over_a_regular_file_is_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
