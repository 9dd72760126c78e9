// SPDX-License-Identifier: MIT
/*
 * vsvmh_test.c - booted-kernel tests of vsvm_host.ko through its uapi.
 *
 * Runs as a static program in the test initramfs (tests/kernel/run.sh),
 * after init loaded the module with num_devices=2.  Each case is one
 * behaviour of <linux/vsvm_host.h>; the software device's ACCESS ioctl
 * plays the GPU.  A case needing what the kernel lacks (device-private
 * pages on Debian's stock kernel) is skipped with the reason; a case the
 * module fails is a failure, never a skip.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/vsvm_host.h>

#include "harness.h"

#define PAGE 4096UL

static int dev_open(int index)
{
	char path[64];

	snprintf(path, sizeof(path), "/dev/vsvm_host%d", index);
	return open(path, O_RDWR | O_CLOEXEC);
}

static int get_caps(int fd, struct vsvmh_caps *caps)
{
	memset(caps, 0, sizeof(*caps));
	return ioctl(fd, VSVMH_IOCTL_GET_CAPS, caps);
}

/* What the runner knows of the kernel: VSVM_EXPECT_DEVICE_PRIVATE=0/1. */
static int kernel_has_device_private(void)
{
	const char *e = getenv("VSVM_EXPECT_DEVICE_PRIVATE");

	return e ? atoi(e) : -1;
}

TEST(caps_report_the_devices)
{
	struct vsvmh_caps caps;
	int fd, i;

	for (i = 0; i < 2; i++) {
		fd = dev_open(i);
		ASSERT_GE(fd, 0);
		ASSERT_OK(get_caps(fd, &caps));
		EXPECT_EQ(caps.version, VSVMH_UAPI_VERSION);
		EXPECT_EQ(caps.num_devices, 2);
		EXPECT_EQ(caps.index, (unsigned)i);
		EXPECT_EQ(caps.flags & ~VSVMH_CAP_DEVICE_PRIVATE, 0);
		EXPECT_EQ(caps.mem_size, 64UL << 20);
		EXPECT_LE(caps.mem_used, caps.mem_size);
		EXPECT_GT(caps.max_vms, 0);
		EXPECT_GT(caps.max_faults, 0);
		close(fd);
	}
}

TEST(caps_device_private_matches_kernel)
{
	struct vsvmh_caps caps;
	int fd, want = kernel_has_device_private();

	if (want < 0)
		SKIP("VSVM_EXPECT_DEVICE_PRIVATE not set by the runner");
	fd = dev_open(0);
	ASSERT_GE(fd, 0);
	ASSERT_OK(get_caps(fd, &caps));
	EXPECT_EQ(!!(caps.flags & VSVMH_CAP_DEVICE_PRIVATE), want);
	close(fd);
}

TEST(unknown_ioctl_is_enotty)
{
	int fd = dev_open(0);

	ASSERT_GE(fd, 0);
	EXPECT_ERRNO(ioctl(fd, _IO(VSVMH_IOCTL_MAGIC, 0x7f)), ENOTTY);
	close(fd);
}

TEST_HARNESS_MAIN
