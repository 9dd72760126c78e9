// SPDX-License-Identifier: MIT
/*
 * dev_kernel_missing_device.c - `vsvm-proxy --device kernel` without
 * vsvm_host.ko: the backend refuses with ENOENT and says the module is not
 * loaded, naming the node; the proxy exits 1 with that line and serves
 * nothing; a node that is not a vsvm_host device is refused too.
 *
 * Copyright (C) 2026 The vsvm authors
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dev_kernel.h"

#define PROXY "build/vsvm-proxy"

static void create_fails_with_enoent(void **state)
{
	struct dev_kernel_config c = {
		.path = "/nonexistent/vsvm_host0",
		.verbosity = -1,
	};

	(void)state;
	errno = 0;
	assert_null(dev_kernel_create(&c));
	assert_int_equal(errno, ENOENT);
	assert_int_equal(dev_kernel_module_devices(c.path), 0);
}

static void a_node_that_is_not_vsvm_host_is_refused(void **state)
{
	struct dev_kernel_config c = {
		.path = "/dev/null",
		.verbosity = -1,
	};

	(void)state;
	errno = 0;
	assert_null(dev_kernel_create(&c));
	/* GET_CAPS on /dev/null: ENOTTY, whatever the kernel's wording. */
	assert_int_equal(errno, ENOTTY);
}

/* Run the proxy; return its exit status and what it printed. */
static int run_proxy(char *out, size_t len)
{
	char cmd[512];
	FILE *p;
	size_t n;
	int st;

	snprintf(cmd, sizeof(cmd),
		 "%s --device kernel --devices 2 --socket /tmp/vsvm-dk-%d.sock "
		 "2>&1",
		 PROXY, (int)getpid());
	p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(out, 1, len - 1, p);
	out[n] = '\0';
	st = pclose(p);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static void the_proxy_exits_1_naming_the_module(void **state)
{
	char out[4096];
	struct stat sb;

	(void)state;
	if (stat("/dev/vsvm_host0", &sb) == 0)
		skip(); /* the module is loaded here: nothing is missing */
	if (access(PROXY, X_OK))
		skip(); /* make unit-bins does not build the proxy */
	assert_int_equal(run_proxy(out, sizeof(out)), 1);
	assert_non_null(strstr(out, "vsvm_host.ko not loaded: "
				    "/dev/vsvm_host0: No such file"));
	/* It stopped before serving: no socket, no "serving" line. */
	assert_null(strstr(out, "serving"));
	snprintf(out, sizeof(out), "/tmp/vsvm-dk-%d.sock", (int)getpid());
	assert_int_equal(access(out, F_OK), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(create_fails_with_enoent),
		cmocka_unit_test(a_node_that_is_not_vsvm_host_is_refused),
		cmocka_unit_test(the_proxy_exits_1_naming_the_module),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
