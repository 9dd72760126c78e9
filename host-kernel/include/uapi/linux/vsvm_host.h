/* SPDX-License-Identifier: GPL-2.0-only WITH Linux-syscall-note */
/*
 * vsvm_host.h - userspace API of vsvm_host.ko, the vsvm host kernel core.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * Each device the module provides appears as /dev/vsvm_host<N>.  Every
 * ioctl argument is a fixed-layout struct of __u32/__u64 fields with
 * explicit padding, identical for 32- and 64-bit callers; pointers, once
 * there are any, travel as __u64.  Reserved fields are zero on output and
 * must be zero on input.  The argument size is part of the ioctl number,
 * so a struct grows by defining a new number.
 *
 * docs/uapi.md describes the interface; this header is its layout.
 */
#ifndef _UAPI_LINUX_VSVM_HOST_H
#define _UAPI_LINUX_VSVM_HOST_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* Version of this interface, reported by VSVMH_IOCTL_GET_CAPS. */
#define VSVMH_UAPI_VERSION	1

/* Not (yet) registered in Documentation/userspace-api/ioctl/ioctl-number.rst. */
#define VSVMH_IOCTL_MAGIC	0xBA

/*
 * struct vsvmh_caps.flags
 *
 * VSVMH_CAP_DEVICE_PRIVATE: device memory can be backed by device-private
 * pages, so HMM can migrate anonymous memory into it.
 */
#define VSVMH_CAP_DEVICE_PRIVATE	(1u << 0)

/**
 * struct vsvmh_caps - what the module and its devices offer
 * @version: VSVMH_UAPI_VERSION of the module
 * @num_devices: devices the module provides (/dev/vsvm_host0..N-1)
 * @mem_size: device memory of each device, in bytes
 * @flags: VSVMH_CAP_* bits
 * @reserved: zero
 */
struct vsvmh_caps {
	__u32 version;
	__u32 num_devices;
	__u64 mem_size;
	__u32 flags;
	__u32 reserved;
};

#define VSVMH_IOCTL_GET_CAPS	_IOR(VSVMH_IOCTL_MAGIC, 0x00, struct vsvmh_caps)

#endif /* _UAPI_LINUX_VSVM_HOST_H */
