/* SPDX-License-Identifier: MIT */
/*
 * harness.h - a small kselftest-style test harness for the booted-kernel
 *             tests of vsvm_host.ko.
 *
 * Written for vsvm (not copied from the kernel's kselftest_harness.h); it
 * keeps the same shape so kernel engineers read it at once:
 *
 *   TEST(name) { ... }                    a case on its own
 *   FIXTURE(fx) { members };              per-case state
 *   FIXTURE_SETUP(fx) { self->... }       runs before each TEST_F(fx, ...)
 *   FIXTURE_TEARDOWN(fx) { ... }          runs after it (also after a failed
 *                                         ASSERT, not after a crash)
 *   TEST_F(fx, name) { self->... }        a case with a fixture
 *   TEST_F_TIMEOUT(fx, name, seconds)     the same with its own time limit
 *
 *   ASSERT_EQ/NE/LT/LE/GT/GE(a, b)        stop the case on failure
 *   EXPECT_EQ/...                         record the failure, go on
 *   ASSERT_TRUE/FALSE(x), EXPECT_TRUE/FALSE(x)
 *   ASSERT_ERRNO(expr, err)               expr must be -1 with errno == err
 *   ASSERT_OK(expr)                       expr must be 0 (prints errno)
 *   ASSERT_RC(expr, want)                 expr returns 0 or -errno: must be
 *                                         want (prints errno names)
 *   SKIP(fmt, ...)                        end the case as skipped, with why
 *   TH_LOG(fmt, ...)                      a "# " diagnostic line
 *
 * Every case runs in its own forked child with a time limit, so a crash, a
 * hang or a leaked file descriptor of one case cannot touch the next, and
 * closing files on exit is itself exercised.  Output is TAP 13:
 *
 *   TAP version 13
 *   1..N
 *   # RUN fx.name
 *   # vsvmh_test.c:123: ASSERT_EQ(a, b): 3 != 4
 *   not ok 7 fx.name
 *   ok 8 fx.other # SKIP kernel lacks CONFIG_DEVICE_PRIVATE
 *   # totals: pass 10, fail 1, skip 1
 *
 * Arguments: names (or substrings of "fx.name") select cases; -l lists
 * them.  Where /dev/kmsg is writable the harness also writes "RUN fx.name"
 * and each result there, so a kernel report in the console log sits next
 * to the case that caused it.
 */
#ifndef VSVM_TESTS_KERNEL_HARNESS_H
#define VSVM_TESTS_KERNEL_HARNESS_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TH_DEFAULT_TIMEOUT 60	/* seconds; TCG + KASAN is slow */
#define TH_REASON_MAX 256

enum th_result { TH_PASS, TH_FAIL, TH_SKIP };

struct th_meta;

/* One registered case; the list is built by constructors, in file order. */
struct th_case {
	const char *fixture;	/* "" for a plain TEST */
	const char *name;
	void (*run)(struct th_meta *meta);
	int timeout;
	struct th_case *next;
};

/*
 * Shared between the harness and the child running a case (MAP_SHARED):
 * the child records a failure or a skip reason here before it exits.
 */
struct th_meta {
	int failed;
	int skipped;
	char reason[TH_REASON_MAX];
};

static struct th_case *th_first, **th_last = &th_first;
static int th_kmsg = -1;

static inline void th_register(struct th_case *c)
{
	*th_last = c;
	th_last = &c->next;
}

static inline void th_kmsg_printf(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static inline void th_kmsg_printf(const char *fmt, ...)
{
	char line[TH_REASON_MAX + 64];
	va_list ap;
	int n;

	if (th_kmsg < 0)
		return;
	n = snprintf(line, sizeof(line), "vsvmh_test: ");
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (write(th_kmsg, line, strlen(line)) < 0)
		th_kmsg = -1;
}

#define TH_LOG(fmt, ...) do {						\
	printf("# " fmt "\n", ##__VA_ARGS__);				\
	fflush(stdout);							\
} while (0)

/* Name the line that failed, then either stop the case or go on. */
#define __TH_FAIL(stop, fmt, ...) do {					\
	printf("# %s:%d: " fmt "\n", __FILE__, __LINE__, ##__VA_ARGS__);\
	fflush(stdout);							\
	_metadata->failed = 1;						\
	if (stop)							\
		_th_abort(_metadata);					\
} while (0)

#define __TH_CMP(stop, a, op, b, sa, sb) do {				\
	__typeof__(a) __a = (a);					\
	__typeof__(b) __b = (b);					\
	if (!(__a op __b))						\
		__TH_FAIL(stop, "%s %s %s: %lld (0x%llx) vs %lld (0x%llx)",\
			  sa, #op, sb, (long long)__a,			\
			  (unsigned long long)__a, (long long)__b,	\
			  (unsigned long long)__b);			\
} while (0)

#define ASSERT_EQ(a, b) __TH_CMP(1, a, ==, b, #a, #b)
#define ASSERT_NE(a, b) __TH_CMP(1, a, !=, b, #a, #b)
#define ASSERT_LT(a, b) __TH_CMP(1, a, <, b, #a, #b)
#define ASSERT_LE(a, b) __TH_CMP(1, a, <=, b, #a, #b)
#define ASSERT_GT(a, b) __TH_CMP(1, a, >, b, #a, #b)
#define ASSERT_GE(a, b) __TH_CMP(1, a, >=, b, #a, #b)
#define EXPECT_EQ(a, b) __TH_CMP(0, a, ==, b, #a, #b)
#define EXPECT_NE(a, b) __TH_CMP(0, a, !=, b, #a, #b)
#define EXPECT_LT(a, b) __TH_CMP(0, a, <, b, #a, #b)
#define EXPECT_LE(a, b) __TH_CMP(0, a, <=, b, #a, #b)
#define EXPECT_GT(a, b) __TH_CMP(0, a, >, b, #a, #b)
#define EXPECT_GE(a, b) __TH_CMP(0, a, >=, b, #a, #b)

#define __TH_BOOL(stop, x, want, sx) do {				\
	if ((!!(x)) != (want))						\
		__TH_FAIL(stop, "%s is %s", sx, (want) ? "false" : "true");\
} while (0)
#define ASSERT_TRUE(x) __TH_BOOL(1, x, 1, #x)
#define ASSERT_FALSE(x) __TH_BOOL(1, x, 0, #x)
#define EXPECT_TRUE(x) __TH_BOOL(0, x, 1, #x)
#define EXPECT_FALSE(x) __TH_BOOL(0, x, 0, #x)

/* A libc-style call (-1 and errno) must fail with exactly @err. */
#define __TH_ERRNO(stop, expr, err, sexpr) do {			\
	long __r;							\
	errno = 0;							\
	__r = (long)(expr);						\
	if (__r != -1 || errno != (err))				\
		__TH_FAIL(stop, "%s: want -1/%s, got %ld/%s", sexpr,	\
			  th_errname(err), __r,				\
			  __r == -1 ? th_errname(errno) : "-");		\
} while (0)
#define ASSERT_ERRNO(expr, err) __TH_ERRNO(1, expr, err, #expr)
#define EXPECT_ERRNO(expr, err) __TH_ERRNO(0, expr, err, #expr)

/* A libc-style call must succeed (return 0). */
#define __TH_OK(stop, expr, sexpr) do {				\
	long __r;							\
	errno = 0;							\
	__r = (long)(expr);						\
	if (__r != 0)							\
		__TH_FAIL(stop, "%s: want 0, got %ld/%s", sexpr, __r,	\
			  __r == -1 ? th_errname(errno) : "-");		\
} while (0)
#define ASSERT_OK(expr) __TH_OK(1, expr, #expr)
#define EXPECT_OK(expr) __TH_OK(0, expr, #expr)

/* A call returning 0 or a negative errno must return exactly @want. */
#define __TH_RC(stop, expr, want, sexpr) do {			\
	long __r = (long)(expr), __w = (long)(want);			\
	if (__r != __w) {						\
		char __rn[48], __wn[48];				\
		snprintf(__rn, sizeof(__rn), "%s%s", __r < 0 ? "-" : "",\
			 __r <= 0 ? th_errname((int)-__r) : "");	\
		snprintf(__wn, sizeof(__wn), "%s%s", __w < 0 ? "-" : "",\
			 __w <= 0 ? th_errname((int)-__w) : "");	\
		__TH_FAIL(stop, "%s: want %ld (%s), got %ld (%s)",	\
			  sexpr, __w, __wn, __r, __rn);			\
	}								\
} while (0)
#define ASSERT_RC(expr, want) __TH_RC(1, expr, want, #expr)
#define EXPECT_RC(expr, want) __TH_RC(0, expr, want, #expr)

#define SKIP(fmt, ...) do {						\
	snprintf(_metadata->reason, sizeof(_metadata->reason), fmt,	\
		 ##__VA_ARGS__);					\
	_metadata->skipped = 1;						\
	_th_abort(_metadata);						\
} while (0)

static inline const char *th_errname(int err)
{
	static const struct { int err; const char *name; } names[] = {
		{ 0, "0" }, { EPERM, "EPERM" }, { ENOENT, "ENOENT" },
		{ EINTR, "EINTR" }, { EBADF, "EBADF" }, { EAGAIN, "EAGAIN" },
		{ ENOMEM, "ENOMEM" }, { EACCES, "EACCES" },
		{ EFAULT, "EFAULT" }, { EBUSY, "EBUSY" }, { EEXIST, "EEXIST" },
		{ ENODEV, "ENODEV" }, { EINVAL, "EINVAL" },
		{ ENOTTY, "ENOTTY" }, { ENOSPC, "ENOSPC" },
		{ ERANGE, "ERANGE" }, { ENOSYS, "ENOSYS" },
		{ EOPNOTSUPP, "EOPNOTSUPP" }, { ETIMEDOUT, "ETIMEDOUT" },
		{ ECANCELED, "ECANCELED" }, { E2BIG, "E2BIG" },
		{ EOVERFLOW, "EOVERFLOW" },
	};
	static char other[32];
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].err == err)
			return names[i].name;
	snprintf(other, sizeof(other), "errno %d", err);
	return other;
}

/*
 * A failed ASSERT or a SKIP ends the case: run the fixture's teardown (set
 * by TEST_F) once, then leave the child.
 */
static void (*th_teardown_hook)(struct th_meta *meta);

static inline __attribute__((noreturn)) void _th_abort(struct th_meta *m)
{
	void (*hook)(struct th_meta *) = th_teardown_hook;

	th_teardown_hook = NULL;
	if (hook)
		hook(m);
	fflush(stdout);
	_exit(0);
}

#define __TH_REGISTER(fx, nm, fn, tmo)					\
	static struct th_case _th_case_##fx##_##nm = {			\
		.fixture = #fx, .name = #nm, .run = fn, .timeout = tmo,	\
	};								\
	static void __attribute__((constructor))			\
	_th_reg_##fx##_##nm(void)					\
	{								\
		th_register(&_th_case_##fx##_##nm);			\
	}

#define TEST_TIMEOUT(nm, tmo)						\
	static void _th_test_##nm(struct th_meta *_metadata);		\
	__TH_REGISTER(, nm, _th_test_##nm, tmo)				\
	static void _th_test_##nm(struct th_meta *_metadata)
#define TEST(nm) TEST_TIMEOUT(nm, TH_DEFAULT_TIMEOUT)

#define FIXTURE(fx) struct _th_fixture_##fx

#define FIXTURE_SETUP(fx)						\
	static void _th_setup_##fx(struct th_meta *_metadata,		\
				   struct _th_fixture_##fx *self)
#define FIXTURE_TEARDOWN(fx)						\
	static void _th_teardown_##fx(				\
		struct th_meta *_metadata __attribute__((unused)),	\
		struct _th_fixture_##fx *self)

/*
 * The fixture lives in the child's static storage, so the teardown hook
 * can reach it after an ASSERT jumps out of the body.
 */
#define TEST_F_TIMEOUT(fx, nm, tmo)					\
	static void _th_body_##fx##_##nm(struct th_meta *_metadata,	\
					 struct _th_fixture_##fx *self);\
	static struct _th_fixture_##fx _th_self_##fx##_##nm;		\
	static void _th_down_##fx##_##nm(struct th_meta *_metadata)	\
	{								\
		_th_teardown_##fx(_metadata, &_th_self_##fx##_##nm);	\
	}								\
	static void _th_run_##fx##_##nm(struct th_meta *_metadata)	\
	{								\
		struct _th_fixture_##fx *self = &_th_self_##fx##_##nm;	\
		memset(self, 0, sizeof(*self));				\
		_th_setup_##fx(_metadata, self);			\
		th_teardown_hook = _th_down_##fx##_##nm;		\
		_th_body_##fx##_##nm(_metadata, self);			\
		th_teardown_hook = NULL;				\
		_th_teardown_##fx(_metadata, self);			\
	}								\
	__TH_REGISTER(fx, nm, _th_run_##fx##_##nm, tmo)			\
	static void _th_body_##fx##_##nm(struct th_meta *_metadata,	\
					 struct _th_fixture_##fx *self)
#define TEST_F(fx, nm) TEST_F_TIMEOUT(fx, nm, TH_DEFAULT_TIMEOUT)

static inline void th_case_name(const struct th_case *c, char *buf,
				size_t size)
{
	if (c->fixture[0])
		snprintf(buf, size, "%s.%s", c->fixture, c->name);
	else
		snprintf(buf, size, "%s", c->name);
}

static inline int th_selected(const struct th_case *c, int argc,
			      char **argv)
{
	char name[256];
	int i;

	if (argc == 0)
		return 1;
	th_case_name(c, name, sizeof(name));
	for (i = 0; i < argc; i++)
		if (strstr(name, argv[i]))
			return 1;
	return 0;
}

static inline double th_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Run one case in a child; wait for it at most its timeout, then kill it.
 * A child that dies from a signal or exits non-zero has failed.
 */
static inline enum th_result th_run_case(const struct th_case *c,
					 struct th_meta *meta, double *secs)
{
	double start = th_now();
	int status = 0, done = 0;
	pid_t pid, w;

	memset(meta, 0, sizeof(*meta));
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		snprintf(meta->reason, sizeof(meta->reason), "fork: %s",
			 strerror(errno));
		return TH_FAIL;
	}
	if (pid == 0) {
		setpgid(0, 0);
		c->run(meta);
		fflush(stdout);
		_exit(0);
	}
	while (!done) {
		w = waitpid(pid, &status, WNOHANG);
		if (w == pid) {
			done = 1;
			break;
		}
		if (th_now() - start > c->timeout) {
			printf("# timeout after %d s: killing the case\n",
			       c->timeout);
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			/* A task stuck in the kernel may not die at once. */
			while (th_now() - start < c->timeout + 10) {
				if (waitpid(pid, &status, WNOHANG) == pid)
					break;
				usleep(20000);
			}
			snprintf(meta->reason, sizeof(meta->reason),
				 "timeout (%d s)", c->timeout);
			*secs = th_now() - start;
			return TH_FAIL;
		}
		usleep(2000);
	}
	/* Reap what the case left behind in its process group. */
	kill(-pid, SIGKILL);
	*secs = th_now() - start;
	if (WIFSIGNALED(status)) {
		printf("# case died from signal %d\n", WTERMSIG(status));
		return TH_FAIL;
	}
	if (WEXITSTATUS(status) != 0) {
		printf("# case exited with %d\n", WEXITSTATUS(status));
		return TH_FAIL;
	}
	if (meta->failed)
		return TH_FAIL;
	if (meta->skipped)
		return TH_SKIP;
	return TH_PASS;
}

/* The whole program: select, run, print TAP; exit 1 when a case failed. */
static inline int th_main(int argc, char **argv)
{
	struct th_meta *meta;
	struct th_case *c;
	int total = 0, n = 0, pass = 0, fail = 0, skip = 0, list = 0;
	char name[256];

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && strcmp(argv[1], "-l") == 0) {
		list = 1;
		argc--;
		argv++;
	}
	argc--;
	argv++;
	for (c = th_first; c; c = c->next)
		if (th_selected(c, argc, argv))
			total++;
	if (list) {
		for (c = th_first; c; c = c->next) {
			th_case_name(c, name, sizeof(name));
			if (th_selected(c, argc, argv))
				printf("%s\n", name);
		}
		return 0;
	}
	meta = mmap(NULL, sizeof(*meta), PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (meta == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	th_kmsg = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
	printf("TAP version 13\n1..%d\n", total);
	for (c = th_first; c; c = c->next) {
		enum th_result r;
		double secs = 0;

		if (!th_selected(c, argc, argv))
			continue;
		n++;
		th_case_name(c, name, sizeof(name));
		printf("# RUN %s\n", name);
		th_kmsg_printf("RUN %s\n", name);
		r = th_run_case(c, meta, &secs);
		switch (r) {
		case TH_PASS:
			pass++;
			printf("ok %d %s # %.2f s\n", n, name, secs);
			break;
		case TH_SKIP:
			skip++;
			printf("ok %d %s # SKIP %s\n", n, name, meta->reason);
			break;
		case TH_FAIL:
			fail++;
			if (meta->reason[0])
				printf("# %s\n", meta->reason);
			printf("not ok %d %s # %.2f s\n", n, name, secs);
			break;
		}
		th_kmsg_printf("%s %s\n", r == TH_PASS ? "PASS" :
			       r == TH_SKIP ? "SKIP" : "FAIL", name);
	}
	printf("# totals: pass %d, fail %d, skip %d\n", pass, fail, skip);
	return fail ? 1 : 0;
}

#define TEST_HARNESS_MAIN						\
	int main(int argc, char **argv)					\
	{								\
		return th_main(argc, argv);				\
	}

#endif /* VSVM_TESTS_KERNEL_HARNESS_H */
