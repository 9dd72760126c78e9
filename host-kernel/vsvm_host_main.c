// SPDX-License-Identifier: GPL-2.0-only
/*
 * vsvm_host_main.c - module entry, character devices and ioctl dispatch.
 *
 * Copyright (C) 2026 The vsvm authors
 */

/**
 * DOC: Overview
 *
 * vsvm_host.ko is the host kernel core of vsvm.  It will hold GPU VMs, many
 * per open file, and mirror *host* virtual address ranges (the proxy's
 * mapping of guest RAM) into a VM at *arbitrary* GPU virtual addresses with
 * hmm_range_fault() and interval notifiers, so that one host mm backs the
 * separate GPU VA spaces of many guest processes.  It will keep device
 * memory (device-private pages where the kernel has them), migrate to and
 * from it, and queue the GPU faults it cannot resolve to userspace (the
 * proxy) for reply and replay.  A software device will let all of that be
 * tested without GPU hardware, as lib/test_hmm.c does for HMM.
 *
 * This file is the skeleton those pieces hang off: it creates
 * /dev/vsvm_host0..N-1, one minor per device, and answers
 * VSVMH_IOCTL_GET_CAPS.  Nothing else is implemented yet.
 *
 * Locking: the device table is written only at module init and exit, when
 * no file can be open, so readers need no lock.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cdev.h>
#include <linux/device.h>
#include <linux/fs.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include <linux/vsvm_host.h>
#include <vsvm/vsvm_codec.h>

#define VSVMH_MAX_DEVICES	16

static unsigned int num_devices = 2;
module_param(num_devices, uint, 0444);
MODULE_PARM_DESC(num_devices, "Number of devices, 1..16 (default 2)");

static unsigned int mem_size_mb = 256;
module_param(mem_size_mb, uint, 0444);
MODULE_PARM_DESC(mem_size_mb, "Device memory per device in MiB, at least 1 (default 256)");

/**
 * struct vsvmh_device - one device, /dev/vsvm_host<index>
 * @index: device index, also the minor offset from vsvmh_devt
 * @dev: the class device behind the node
 */
struct vsvmh_device {
	unsigned int index;
	struct device *dev;
};

static dev_t vsvmh_devt;
static struct class *vsvmh_class;
static struct cdev vsvmh_cdev;
static struct vsvmh_device *vsvmh_devices;

static int vsvmh_open(struct inode *inode, struct file *file)
{
	/* The cdev spans exactly num_devices minors from vsvmh_devt. */
	file->private_data = &vsvmh_devices[iminor(inode) - MINOR(vsvmh_devt)];
	return nonseekable_open(inode, file);
}

static int vsvmh_release(struct inode *inode, struct file *file)
{
	/* Per-file state (GPU VMs) will be torn down here. */
	return 0;
}

static int vsvmh_ioctl_get_caps(struct vsvmh_device *device,
				struct vsvmh_caps __user *uarg)
{
	struct vsvmh_caps caps = {
		.version = VSVMH_UAPI_VERSION,
		.num_devices = num_devices,
		.mem_size = (u64)mem_size_mb << 20,
	};

	if (IS_ENABLED(CONFIG_DEVICE_PRIVATE))
		caps.flags |= VSVMH_CAP_DEVICE_PRIVATE;
	if (copy_to_user(uarg, &caps, sizeof(caps)))
		return -EFAULT;
	return 0;
}

static long vsvmh_ioctl(struct file *file, unsigned int cmd,
			unsigned long arg)
{
	struct vsvmh_device *device = file->private_data;
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case VSVMH_IOCTL_GET_CAPS:
		return vsvmh_ioctl_get_caps(device, uarg);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations vsvmh_fops = {
	.owner = THIS_MODULE,
	.open = vsvmh_open,
	.release = vsvmh_release,
	.unlocked_ioctl = vsvmh_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
};

/*
 * Proves at load time that the shared codec linked into this module and
 * decodes: a module whose wire codec is broken must not serve anything.
 */
static int vsvmh_codec_selfcheck(void)
{
	const struct vsvm_cmd_empty cmd = {
		.hdr.op = cpu_to_le16(VSVM_CMD_QUERY),
		.hdr.len = cpu_to_le32(sizeof(cmd)),
	};
	struct vsvm_request req;

	if (vsvm_decode_request(&cmd, sizeof(cmd), &req) != sizeof(cmd) ||
	    req.op != VSVM_CMD_QUERY)
		return -EINVAL;
	return 0;
}

static void vsvmh_destroy_nodes(unsigned int count)
{
	while (count--)
		device_destroy(vsvmh_class, vsvmh_devt + count);
}

static int vsvmh_create_nodes(void)
{
	unsigned int i;

	for (i = 0; i < num_devices; i++) {
		struct device *dev;

		dev = device_create(vsvmh_class, NULL, vsvmh_devt + i, NULL,
				    "vsvm_host%u", i);
		if (IS_ERR(dev)) {
			vsvmh_destroy_nodes(i);
			return PTR_ERR(dev);
		}
		vsvmh_devices[i].dev = dev;
	}
	return 0;
}

static int __init vsvmh_init(void)
{
	unsigned int i;
	int ret;

	BUILD_BUG_ON(sizeof(struct vsvmh_caps) != 40);

	ret = vsvmh_codec_selfcheck();
	if (ret) {
		pr_err("protocol codec self-check failed\n");
		return ret;
	}
	if (num_devices < 1 || num_devices > VSVMH_MAX_DEVICES ||
	    mem_size_mb < 1) {
		pr_err("num_devices must be 1..%d and mem_size_mb at least 1\n",
		       VSVMH_MAX_DEVICES);
		return -EINVAL;
	}

	vsvmh_devices = kcalloc(num_devices, sizeof(*vsvmh_devices),
				GFP_KERNEL);
	if (!vsvmh_devices)
		return -ENOMEM;
	for (i = 0; i < num_devices; i++)
		vsvmh_devices[i].index = i;

	ret = alloc_chrdev_region(&vsvmh_devt, 0, num_devices, "vsvm_host");
	if (ret)
		goto err_free_devices;

	vsvmh_class = class_create(THIS_MODULE, "vsvm_host");
	if (IS_ERR(vsvmh_class)) {
		ret = PTR_ERR(vsvmh_class);
		goto err_unregister_region;
	}

	cdev_init(&vsvmh_cdev, &vsvmh_fops);
	vsvmh_cdev.owner = THIS_MODULE;
	ret = cdev_add(&vsvmh_cdev, vsvmh_devt, num_devices);
	if (ret)
		goto err_destroy_class;

	ret = vsvmh_create_nodes();
	if (ret)
		goto err_cdev_del;

	pr_info("%u devices, %u MiB device memory each\n", num_devices,
		mem_size_mb);
	return 0;

err_cdev_del:
	cdev_del(&vsvmh_cdev);
err_destroy_class:
	class_destroy(vsvmh_class);
err_unregister_region:
	unregister_chrdev_region(vsvmh_devt, num_devices);
err_free_devices:
	kfree(vsvmh_devices);
	return ret;
}

static void __exit vsvmh_exit(void)
{
	vsvmh_destroy_nodes(num_devices);
	cdev_del(&vsvmh_cdev);
	class_destroy(vsvmh_class);
	unregister_chrdev_region(vsvmh_devt, num_devices);
	kfree(vsvmh_devices);
}

module_init(vsvmh_init);
module_exit(vsvmh_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("vsvm host core: GPU shared virtual memory for VMs");
MODULE_AUTHOR("The vsvm authors");
