// SPDX-License-Identifier: MIT
/*
 * frontend_against_qemu_backend.c - the guest simulator's vhost-user
 * frontend and virtio-gpu driver against a known-good peer: QEMU's own
 * vhost-user-gpu backend (Debian package qemu-system-gui).
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * Each case starts a fresh backend (it serves one connection and exits),
 * brings the device up with gsim_gpu_connect() exactly as vsvm-proxy will
 * be driven, and checks what a guest would see.  The backend runs without
 * virgl, so it answers 2D commands only; 3D commands get an error response,
 * which is what the submission path is checked with.  Without the binary
 * every case is skipped with the reason.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_gpu.h>
#include <linux/virtio_ring.h>

#include "gpu_transport.h"
#include "guest_ram.h"
#include "vhost_frontend.h"
#include "virtqueue.h"

#define BACKEND	   "/usr/lib/qemu/vhost-user-gpu"
#define RAM_SIZE   (64ull << 20)
#define TIMEOUT_MS 5000
#define NR_THREADS 4
#define PER_THREAD 64

struct fixture {
	char skip_reason[160];
	int fds_before;
	int threads_before;
	char dir[64];
	char path[96];
	char log[96];
	pid_t pid;
	struct gsim_ram *ram;
	uint64_t pages_before;
	struct gsim_gpu *gpu;
};

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* The backend's warnings go to a log, shown only if something failed. */
/* QEMU's binary, or another build of it named by VSVM_VHOST_USER_GPU. */
static const char *backend_path(void)
{
	const char *p = getenv("VSVM_VHOST_USER_GPU");

	return p && *p ? p : BACKEND;
}

static pid_t spawn_backend(const char *path, const char *log)
{
	char arg[128];
	pid_t pid;
	int fd;

	snprintf(arg, sizeof(arg), "--socket-path=%s", path);
	pid = fork();
	if (pid == 0) {
		fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		execl(backend_path(), backend_path(), arg, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static void show_log(const char *log)
{
	char line[256];
	FILE *fp = fopen(log, "r");
	int n = 0;

	if (!fp)
		return;
	while (fgets(line, sizeof(line), fp) && n++ < 40)
		fprintf(stderr, "# backend: %s", line);
	fclose(fp);
}

/* Reap the backend; it should leave on its own once we hang up. */
static int reap_backend(pid_t pid)
{
	int status, i;

	for (i = 0; i < 300; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			if (getenv("VSVM_TEST_VERBOSE"))
				fprintf(stderr, "# backend exit status 0x%x\n",
					status);
			return status;
		}
		sleep_ms(10);
	}
	fprintf(stderr, "# backend still running after disconnect; killed\n");
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return status;
}

/* Entries in a /proc/self directory: open fds, or threads. */
static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n++;
	closedir(d);
	return n;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct gsim_gpu_config cfg = { .timeout_ms = TIMEOUT_MS };
	int err;

	assert_non_null(f);
	*state = f;
	if (access(backend_path(), X_OK)) {
		snprintf(f->skip_reason, sizeof(f->skip_reason),
			 "%s not installed (Debian package qemu-system-gui)",
			 backend_path());
		return 0;
	}
	f->fds_before = count_entries("/proc/self/fd");
	f->threads_before = count_entries("/proc/self/task");
	strcpy(f->dir, "/tmp/vsvm-fe-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/gpu.sock", f->dir);
	snprintf(f->log, sizeof(f->log), "%s/backend.log", f->dir);
	f->pid = spawn_backend(f->path, f->log);
	assert_true(f->pid > 0);
	f->ram = gsim_ram_create(RAM_SIZE);
	assert_non_null(f->ram);
	f->pages_before = gsim_ram_pages_used(f->ram);
	err = gsim_gpu_connect(f->ram, f->path, &cfg, &f->gpu);
	if (err) {
		fprintf(stderr, "# gsim_gpu_connect: %s\n", strerror(-err));
		show_log(f->log);
	}
	assert_int_equal(err, 0);
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	int status;

	if (!f->skip_reason[0]) {
		gsim_gpu_disconnect(f->gpu);
		/* Rings and every bounce buffer are back. */
		assert_int_equal(gsim_ram_pages_used(f->ram), f->pages_before);
		gsim_ram_destroy(f->ram);
		/* The display and interrupt threads and every fd are gone. */
		assert_int_equal(count_entries("/proc/self/task"),
				 f->threads_before);
		status = reap_backend(f->pid);
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			show_log(f->log);
		unlink(f->path);
		unlink(f->log);
		rmdir(f->dir);
		/* It saw a clean hang-up: no panic, no crash. */
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
		assert_int_equal(count_entries("/proc/self/fd"), f->fds_before);
	}
	free(f);
	return 0;
}

#define SKIP_IF_NO_BACKEND(f)                                              \
	do {                                                               \
		if ((f)->skip_reason[0]) {                                 \
			fprintf(stderr, "# SKIP: %s\n", (f)->skip_reason); \
			skip();                                            \
		}                                                          \
	} while (0)

static void negotiates_like_qemu(void **state)
{
	struct fixture *f = *state;
	uint64_t feat, proto;

	SKIP_IF_NO_BACKEND(f);
	feat = gsim_gpu_features(f->gpu);
	proto = gsim_vhost_protocol_features(gsim_gpu_vhost(f->gpu));
	assert_true(feat & (1ull << VIRTIO_F_VERSION_1));
	assert_true(feat & (1ull << GSIM_VHOST_F_PROTOCOL_FEATURES));
	assert_true(feat & (1ull << VIRTIO_RING_F_EVENT_IDX));
	/* EDID is offered but a headless driver does not take it. */
	assert_false(feat & (1ull << VIRTIO_GPU_F_EDID));
	/* libvhost-user offers both; every request was acknowledged. */
	assert_true(proto & (1ull << GSIM_VHOST_PROTOCOL_F_REPLY_ACK));
	assert_true(proto & (1ull << GSIM_VHOST_PROTOCOL_F_CONFIG));
	/* No virgl: the config space says no capsets. */
	assert_int_equal(gsim_gpu_num_capsets(f->gpu), 0);
}

static void get_display_info_round_trip(void **state)
{
	struct fixture *f = *state;
	struct virtio_gpu_resp_display_info info;
	struct gsim_vhost_display_stats st;

	SKIP_IF_NO_BACKEND(f);
	assert_int_equal(gsim_gpu_get_display_info(f->gpu, &info), 0);
	assert_int_equal(le32toh(info.hdr.type),
			 VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
	/* The backend asked our display thread, which has one head off. */
	assert_int_equal(le32toh(info.pmodes[0].r.width), 1024);
	assert_int_equal(le32toh(info.pmodes[0].r.height), 768);
	assert_int_equal(le32toh(info.pmodes[0].enabled), 0);
	gsim_vhost_display_stats(gsim_gpu_vhost(f->gpu), &st);
	assert_int_equal(st.requests[1], 1); /* GET_PROTOCOL_FEATURES */
	assert_int_equal(st.requests[3], 1); /* GET_DISPLAY_INFO */
}

struct submit_waiter {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned int done;
	unsigned int bad;
};

struct tracked_sub {
	struct vsvmg_submission sub;
	struct submit_waiter *w;
	uint8_t reply[64];
};

static void tracked_done(struct vsvmg_submission *sub)
{
	struct tracked_sub *t = (struct tracked_sub *)sub;
	struct submit_waiter *w = t->w;

	pthread_mutex_lock(&w->lock);
	/* A 2D backend answers SUBMIT_3D with a bare error header. */
	if (sub->resp_type != VIRTIO_GPU_RESP_ERR_UNSPEC || sub->reply_len)
		w->bad++;
	w->done++;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

struct submitter {
	struct fixture *f;
	struct submit_waiter *w;
	struct tracked_sub subs[PER_THREAD];
	int errors;
};

static void *submit_thread(void *p)
{
	struct submitter *s = p;
	uint64_t stream[2] = { 0x1122334455667788ull, 0 };
	unsigned int i;

	for (i = 0; i < PER_THREAD; i++) {
		s->subs[i].w = s->w;
		s->subs[i].sub.done = tracked_done;
		if (gsim_gpu_transport_ops.submit(
			    s->f->gpu, 7, stream, sizeof(stream),
			    s->subs[i].reply, sizeof(s->subs[i].reply),
			    &s->subs[i].sub))
			s->errors++;
	}
	return NULL;
}

static void submit_3d_from_many_threads(void **state)
{
	struct fixture *f = *state;
	struct submit_waiter w = { .done = 0 };
	struct submitter *s;
	pthread_t tid[NR_THREADS];
	struct gsim_vq_stats st;
	unsigned int i;

	SKIP_IF_NO_BACKEND(f);
	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.cond, NULL);
	s = calloc(NR_THREADS, sizeof(*s));
	assert_non_null(s);
	for (i = 0; i < NR_THREADS; i++) {
		s[i].f = f;
		s[i].w = &w;
		assert_int_equal(
			pthread_create(&tid[i], NULL, submit_thread, &s[i]), 0);
	}
	for (i = 0; i < NR_THREADS; i++) {
		pthread_join(tid[i], NULL);
		assert_int_equal(s[i].errors, 0);
	}
	pthread_mutex_lock(&w.lock);
	while (w.done < NR_THREADS * PER_THREAD)
		pthread_cond_wait(&w.cond, &w.lock);
	pthread_mutex_unlock(&w.lock);
	assert_int_equal(w.bad, 0);
	gsim_vq_stats(gsim_gpu_queue(f->gpu, GSIM_GPU_CONTROLQ), &st);
	assert_int_equal(st.completed, NR_THREADS * PER_THREAD);
	assert_int_equal(st.bad_ids + st.bad_lens, 0);
	free(s);
	pthread_cond_destroy(&w.cond);
	pthread_mutex_destroy(&w.lock);
}

static void capset_and_context_errors_are_clean(void **state)
{
	struct fixture *f = *state;
	uint8_t caps[64];

	SKIP_IF_NO_BACKEND(f);
	/* No capsets at all, so no svm capset. */
	assert_int_equal(
		gsim_gpu_transport_ops.get_capset(f->gpu, caps, sizeof(caps)),
		-ENOENT);
	/* CTX_CREATE is a 3D command: an error response, not a hang. */
	assert_int_equal(gsim_gpu_transport_ops.ctx_create(f->gpu, 1, 0x53),
			 -EIO);
	/* The device is still usable afterwards. */
	struct virtio_gpu_resp_display_info info;

	assert_int_equal(gsim_gpu_get_display_info(f->gpu, &info), 0);
}

static void cursor_queue_reaches_display(void **state)
{
	struct fixture *f = *state;
	struct virtio_gpu_update_cursor cmd = {
		.hdr.type = htole32(VIRTIO_GPU_CMD_MOVE_CURSOR),
		.pos.x = htole32(10),
		.pos.y = htole32(20),
	};
	struct gsim_vhost_display_stats st;
	int i;

	SKIP_IF_NO_BACKEND(f);
	/* Cursor commands have no response: the chain is read-only. */
	assert_int_equal(gsim_gpu_command(f->gpu, GSIM_GPU_CURSORQ, &cmd,
					  sizeof(cmd), NULL, 0),
			 0);
	/* resource_id 0: the backend tells the display to hide it. */
	for (i = 0; i < 500; i++) {
		gsim_vhost_display_stats(gsim_gpu_vhost(f->gpu), &st);
		if (st.requests[5]) /* CURSOR_POS_HIDE */
			break;
		sleep_ms(10);
	}
	assert_int_equal(st.requests[5], 1);
}

static void disconnect_with_nothing_in_flight(void **state)
{
	struct fixture *f = *state;
	struct virtio_gpu_resp_display_info info;

	SKIP_IF_NO_BACKEND(f);
	assert_int_equal(gsim_gpu_get_display_info(f->gpu, &info), 0);
	/* teardown() checks pages and the backend's exit. */
}

static void *nothing(void *arg)
{
	return arg;
}

/*
 * Sanitizer runtimes start helper threads at the first pthread_create();
 * start one here so that the per-test thread counts compare like with like.
 */
static void warm_up_threads(void)
{
	pthread_t tid;

	if (!pthread_create(&tid, NULL, nothing, NULL))
		pthread_join(tid, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(negotiates_like_qemu, setup,
						teardown),
		cmocka_unit_test_setup_teardown(get_display_info_round_trip,
						setup, teardown),
		cmocka_unit_test_setup_teardown(submit_3d_from_many_threads,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			capset_and_context_errors_are_clean, setup, teardown),
		cmocka_unit_test_setup_teardown(cursor_queue_reaches_display,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			disconnect_with_nothing_in_flight, setup, teardown),
	};

	warm_up_threads();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
