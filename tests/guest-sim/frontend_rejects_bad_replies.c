// SPDX-License-Identifier: MIT
/*
 * frontend_rejects_bad_replies.c - every vhost-user reply is checked:
 * wrong request, missing reply bit, wrong version, wrong size, stray fds,
 * silence and hang-up each end the exchange with a clear -errno, and a
 * protocol violation marks the connection broken for good (no later
 * request touches the socket).  A backend that merely refuses a request
 * through REPLY_ACK gets -EREMOTEIO and the connection stays usable.
 *
 * Copyright (C) 2026 The vsvm authors
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <time.h>

#include <linux/virtio_config.h>

#include "fake_backend.h"
#include "vhost_frontend.h"

#define OFFERED ((1ull << VIRTIO_F_VERSION_1) | (1ull << 30))
#define PROTO	((1ull << 3) | (1ull << 9)) /* REPLY_ACK, CONFIG */

struct bad_case {
	enum fake_mode mode;
	uint32_t request; /* where the backend misbehaves */
	int expect;	  /* what gsim_vhost_negotiate() returns */
	int sticky;	  /* later requests fail without I/O */
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

static void misbehaving_reply(void **state)
{
	const struct bad_case *c = *state;
	int fds_before = count_fds();
	struct fake_backend *fb = fake_start(OFFERED, PROTO);
	struct gsim_vhost *vh;
	unsigned int logged;
	int err;

	assert_non_null(fb);
	fb->mode = c->mode;
	fb->bad_request = c->request;
	assert_int_equal(gsim_vhost_connect(fb->path, 1000, &vh), 0);
	err = gsim_vhost_negotiate(vh, 0, 2);
	assert_int_equal(err, c->expect);

	pthread_mutex_lock(&fb->lock);
	logged = fb->nlog;
	pthread_mutex_unlock(&fb->lock);
	err = gsim_vhost_set_features(vh);
	if (c->sticky) {
		assert_int_equal(err, c->expect);
	} else {
		assert_int_equal(err, 0);
		logged++;
	}
	gsim_vhost_close(vh);
	fake_stop(fb);
	/* A broken connection sent nothing more. */
	assert_int_equal(fb->nlog, logged);
	fake_free(fb);
	/* Fds that came with a bad reply were closed, not leaked. */
	assert_int_equal(count_fds(), fds_before);
}

static const struct bad_case wrong_request = { FAKE_WRONG_REQUEST, 1, -EPROTO,
					       1 };
static const struct bad_case no_reply_flag = { FAKE_NO_REPLY_FLAG, 15, -EPROTO,
					       1 };
static const struct bad_case bad_version = { FAKE_BAD_VERSION, 1, -EPROTO, 1 };
static const struct bad_case wrong_size = { FAKE_WRONG_SIZE, 1, -EPROTO, 1 };
static const struct bad_case fd_in_reply = { FAKE_FD_IN_REPLY, 15, -EPROTO, 1 };
static const struct bad_case silent = { FAKE_SILENT, 3, -ETIMEDOUT, 1 };
static const struct bad_case hang_up = { FAKE_HANG_UP, 13, -EPIPE, 1 };
static const struct bad_case refused = { FAKE_REFUSE, 3, -EREMOTEIO, 0 };

static void legacy_only_backend_is_refused(void **state)
{
	struct fake_backend *fb = fake_start(1ull << 30, PROTO);
	struct gsim_vhost *vh;

	(void)state;
	assert_non_null(fb);
	assert_int_equal(gsim_vhost_connect(fb->path, 1000, &vh), 0);
	assert_int_equal(gsim_vhost_negotiate(vh, 0, 2), -EPROTO);
	gsim_vhost_close(vh);
	fake_stop(fb);
	fake_free(fb);
}

static void absent_socket_times_out(void **state)
{
	struct timespec t0, t1;
	struct gsim_vhost *vh;
	long ms;

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(
		gsim_vhost_connect("/tmp/vsvm-no-such-socket", 100, &vh),
		-ENOENT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 +
	     (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(ms >= 100 && ms < 2000);
}

int main(void)
{
	/* One case per misbehaviour, each under its own name. */
#define BAD_CASE(name, c)                                       \
	{                                                       \
		name, misbehaving_reply, NULL, NULL, (void *)&c \
	}
	const struct CMUnitTest tests[] = {
		BAD_CASE("reply_for_another_request_is_protocol_error",
			 wrong_request),
		BAD_CASE("reply_without_reply_bit_is_protocol_error",
			 no_reply_flag),
		BAD_CASE("reply_with_wrong_version_is_protocol_error",
			 bad_version),
		BAD_CASE("reply_of_wrong_size_is_protocol_error", wrong_size),
		BAD_CASE("reply_carrying_fds_is_protocol_error_fds_closed",
			 fd_in_reply),
		BAD_CASE("silent_backend_times_out", silent),
		BAD_CASE("backend_hang_up_is_epipe", hang_up),
		BAD_CASE("refusal_via_reply_ack_is_not_sticky", refused),
		cmocka_unit_test(legacy_only_backend_is_refused),
		cmocka_unit_test(absent_socket_times_out),
	};
#undef BAD_CASE

	return cmocka_run_group_tests(tests, NULL, NULL);
}
