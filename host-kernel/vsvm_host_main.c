// SPDX-License-Identifier: GPL-2.0-only
/*
 * vsvm_host_main.c - module entry, character devices and ioctl dispatch.
 *
 * Copyright (C) 2026 The vsvm authors
 */

/**
 * DOC: Overview
 *
 * vsvm_host.ko is the host kernel core of vsvm.  It holds GPU VMs, many per
 * open file, and mirrors *host* virtual address ranges (the proxy's mapping
 * of guest RAM) into a VM at *arbitrary* GPU virtual addresses with
 * hmm_range_fault() and interval notifiers, so that one host mm backs the
 * separate GPU VA spaces of many guest processes; native VMs (GPU VA ==
 * host VA) sit beside them.  It keeps device memory (device-private pages
 * where the kernel has them), migrates to and from it, and queues the GPU
 * faults it cannot resolve to userspace (the proxy) for reply and replay.
 * A software device (VSVMH_IOCTL_ACCESS) acts as the GPU, so all of it is
 * tested without hardware, as lib/test_hmm.c does for HMM.
 *
 * Files, one job each:
 *
 *  - vsvm_host_main.c: module parameters, /dev/vsvm_host<N>, open and
 *    release, the ioctl switch (one function per command);
 *  - vsvm_host_vm.c: VMs, the tree of mappings, replace/unmap, teardown;
 *  - vsvm_host_pt.c: the device page table;
 *  - vsvm_host_mirror.c: mirrors, interval notifiers, the HMM fault loop;
 *  - vsvm_host_access.c: the software device's READ/WRITE/ATOMIC_ADD;
 *  - vsvm_host_fault.c: the fault queue, the fault fd, FAULT_REPLY;
 *  - vsvm_host_devmem.c: device memory allocations, DEVMEM_MAP, COPY;
 *  - vsvm_host_migrate.c: device-private pages, MIGRATE, migrate_to_ram.
 *
 * Locking and lifetimes: see DOC: Locking in vsvm_host_internal.h.  The
 * device table is written only at module init and exit, when no file can
 * be open, so readers need no lock.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cdev.h>
#include <linux/device.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/module.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include <vsvm/vsvm_codec.h>

#include "vsvm_host_internal.h"

static unsigned int num_devices = 2;
module_param(num_devices, uint, 0444);
MODULE_PARM_DESC(num_devices, "Number of devices, 1..8 (default 2)");

static unsigned int mem_mb = 256;
module_param(mem_mb, uint, 0444);
MODULE_PARM_DESC(mem_mb, "Device memory per device in MiB, 1..65536 (default 256)");
/* The skeleton's name for mem_mb, kept for scripts that use it. */
module_param_named(mem_size_mb, mem_mb, uint, 0444);
MODULE_PARM_DESC(mem_size_mb, "Same as mem_mb");

static dev_t vsvmh_devt;
static struct class *vsvmh_class;
static struct cdev vsvmh_cdev;
static struct vsvmh_device *vsvmh_devices;

static void vsvmh_file_release(struct kref *ref)
{
	struct vsvmh_file *file = container_of(ref, struct vsvmh_file, ref);

	xa_destroy(&file->vms);
	xa_destroy(&file->devmem);
	xa_destroy(&file->faults.ids);
	mutex_destroy(&file->faults.lock);
	mutex_destroy(&file->lock);
	mmdrop(file->mm);
	kfree(file);
}

/**
 * vsvmh_file_put - drop a reference to a file's state
 * @file: the state
 */
void vsvmh_file_put(struct vsvmh_file *file)
{
	kref_put(&file->ref, vsvmh_file_release);
}

/**
 * vsvmh_file_get_fd - the state behind a vsvm_host fd of the same mm
 * @fd: the descriptor
 * @self: the calling file (its mm is the one to match)
 *
 * Return: the state with a reference the caller puts, or ERR_PTR(-EBADF).
 */
struct vsvmh_file *vsvmh_file_get_fd(int fd, struct vsvmh_file *self)
{
	struct vsvmh_file *file = ERR_PTR(-EBADF);
	struct fd f = fdget(fd);

	if (!f.file)
		return file;
	if (f.file->f_op == &vsvmh_fops) {
		struct vsvmh_file *peer = f.file->private_data;

		if (peer->mm == self->mm) {
			kref_get(&peer->ref);
			file = peer;
		}
	}
	fdput(f);
	return file;
}

/**
 * vsvmh_device_at - the device with index @i
 * @i: index
 *
 * Return: the device, or NULL past the last one.
 */
struct vsvmh_device *vsvmh_device_at(unsigned int i)
{
	return i < num_devices ? &vsvmh_devices[i] : NULL;
}

static int vsvmh_open(struct inode *inode, struct file *filp)
{
	struct vsvmh_file *file;

	if (!current->mm)
		return -EINVAL;
	file = kzalloc(sizeof(*file), GFP_KERNEL_ACCOUNT);
	if (!file)
		return -ENOMEM;
	kref_init(&file->ref);
	/* The cdev spans exactly num_devices minors from vsvmh_devt. */
	file->device = &vsvmh_devices[iminor(inode) - MINOR(vsvmh_devt)];
	file->mm = current->mm;
	mmgrab(file->mm);
	mutex_init(&file->lock);
	xa_init_flags(&file->vms, XA_FLAGS_ALLOC1);
	xa_init_flags(&file->devmem, XA_FLAGS_ALLOC1);
	vsvmh_fault_queue_init(&file->faults);
	filp->private_data = file;
	return nonseekable_open(inode, filp);
}

/*
 * Teardown order: VMs first (each cancels its faults, clears its PTEs and
 * removes its notifiers), then device memory (no mapping is left), then the
 * fault queue (a fault fd still open reads end of file).  The state itself
 * goes when the fault fd, if any, is closed too.
 */
static int vsvmh_release(struct inode *inode, struct file *filp)
{
	struct vsvmh_file *file = filp->private_data;
	struct vsvmh_gpuvm *vm;
	unsigned long id;

	mutex_lock(&file->lock);
	xa_for_each(&file->vms, id, vm) {
		xa_erase(&file->vms, id);
		file->nr_vms--;
		mutex_unlock(&file->lock);
		vsvmh_vm_teardown(vm);
		vsvmh_vm_put(vm);
		mutex_lock(&file->lock);
	}
	mutex_unlock(&file->lock);
	vsvmh_devmem_release_all(file);
	vsvmh_fault_queue_close(&file->faults);
	vsvmh_file_put(file);
	return 0;
}

static int vsvmh_ioctl_get_caps(struct vsvmh_file *file, void __user *uarg)
{
	struct vsvmh_device *device = file->device;
	struct vsvmh_caps caps = {
		.version = VSVMH_UAPI_VERSION,
		.num_devices = num_devices,
		.index = device->index,
		.mem_size = device->mem_size,
		.mem_used = atomic64_read(&device->mem_used),
		.max_vms = VSVMH_MAX_VMS,
		.max_faults = VSVMH_MAX_FAULTS,
	};

	if (device->dpmem)
		caps.flags |= VSVMH_CAP_DEVICE_PRIVATE;
	if (copy_to_user(uarg, &caps, sizeof(caps)))
		return -EFAULT;
	return 0;
}

static long vsvmh_ioctl(struct file *filp, unsigned int cmd,
			unsigned long arg)
{
	struct vsvmh_file *file = filp->private_data;
	void __user *uarg = (void __user *)arg;

	if (cmd == VSVMH_IOCTL_GET_CAPS)
		return vsvmh_ioctl_get_caps(file, uarg);
	/* Host addresses, VMs and faults all belong to the opener's mm. */
	if (current->mm != file->mm)
		return -EINVAL;

	switch (cmd) {
	case VSVMH_IOCTL_VM_CREATE:
		return vsvmh_ioctl_vm_create(file, uarg);
	case VSVMH_IOCTL_VM_DESTROY:
		return vsvmh_ioctl_vm_destroy(file, uarg);
	case VSVMH_IOCTL_MIRROR:
		return vsvmh_ioctl_mirror(file, uarg);
	case VSVMH_IOCTL_UNMAP:
		return vsvmh_ioctl_unmap(file, uarg);
	case VSVMH_IOCTL_ACCESS:
		return vsvmh_ioctl_access(file, uarg);
	case VSVMH_IOCTL_FAULT_FD:
		return vsvmh_ioctl_fault_fd(file, uarg);
	case VSVMH_IOCTL_FAULT_REPLY:
		return vsvmh_ioctl_fault_reply(file, uarg);
	case VSVMH_IOCTL_MIGRATE:
		return vsvmh_ioctl_migrate(file, uarg);
	case VSVMH_IOCTL_DEVMEM_ALLOC:
		return vsvmh_ioctl_devmem_alloc(file, uarg);
	case VSVMH_IOCTL_DEVMEM_FREE:
		return vsvmh_ioctl_devmem_free(file, uarg);
	case VSVMH_IOCTL_COPY:
		return vsvmh_ioctl_copy(file, uarg);
	case VSVMH_IOCTL_DEVMEM_MAP:
		return vsvmh_ioctl_devmem_map(file, uarg);
	case VSVMH_IOCTL_VM_STATS:
		return vsvmh_ioctl_vm_stats(file, uarg);
	default:
		return -ENOTTY;
	}
}

const struct file_operations vsvmh_fops = {
	.owner = THIS_MODULE,
	.open = vsvmh_open,
	.release = vsvmh_release,
	.unlocked_ioctl = vsvmh_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = no_llseek,
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

/* Device-private memory is optional: without it MIGRATE is refused. */
static void vsvmh_dpmem_init_all(void)
{
	unsigned int i;
	int ret;

	if (!IS_ENABLED(CONFIG_DEVICE_PRIVATE))
		return;
	for (i = 0; i < num_devices; i++) {
		ret = vsvmh_dpmem_init(&vsvmh_devices[i]);
		if (ret)
			pr_warn("device %u: no device-private memory (%d)\n",
				i, ret);
	}
}

static void vsvmh_dpmem_fini_all(void)
{
	unsigned int i;

	for (i = 0; i < num_devices; i++)
		vsvmh_dpmem_fini(&vsvmh_devices[i]);
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
	BUILD_BUG_ON(sizeof(struct vsvmh_vm_create) != 16);
	BUILD_BUG_ON(sizeof(struct vsvmh_vm) != 8);
	BUILD_BUG_ON(sizeof(struct vsvmh_mirror) != 40);
	BUILD_BUG_ON(sizeof(struct vsvmh_range) != 24);
	BUILD_BUG_ON(sizeof(struct vsvmh_access) != 56);
	BUILD_BUG_ON(sizeof(struct vsvmh_fault) != 24);
	BUILD_BUG_ON(sizeof(struct vsvmh_fault_fd) != 8);
	BUILD_BUG_ON(sizeof(struct vsvmh_fault_resolution) != 8);
	BUILD_BUG_ON(sizeof(struct vsvmh_fault_reply) != 16);
	BUILD_BUG_ON(sizeof(struct vsvmh_migrate) != 32);
	BUILD_BUG_ON(sizeof(struct vsvmh_devmem) != 16);
	BUILD_BUG_ON(sizeof(struct vsvmh_copy) != 48);
	BUILD_BUG_ON(sizeof(struct vsvmh_devmem_map) != 40);
	BUILD_BUG_ON(sizeof(struct vsvmh_vm_stats) != 64);
	/* vsvmh_access_page() raises a fault with the ACCESS op as is. */
	BUILD_BUG_ON(VSVMH_ACCESS_READ != VSVMH_FAULT_READ ||
		     VSVMH_ACCESS_WRITE != VSVMH_FAULT_WRITE ||
		     VSVMH_ACCESS_ATOMIC_ADD != VSVMH_FAULT_ATOMIC);

	ret = vsvmh_codec_selfcheck();
	if (ret) {
		pr_err("protocol codec self-check failed\n");
		return ret;
	}
	if (num_devices < 1 || num_devices > VSVMH_MAX_DEVICES ||
	    mem_mb < 1 || mem_mb > 65536) {
		pr_err("num_devices must be 1..%d and mem_mb 1..65536\n",
		       VSVMH_MAX_DEVICES);
		return -EINVAL;
	}

	vsvmh_devices = kcalloc(num_devices, sizeof(*vsvmh_devices),
				GFP_KERNEL);
	if (!vsvmh_devices)
		return -ENOMEM;
	for (i = 0; i < num_devices; i++) {
		vsvmh_devices[i].index = i;
		vsvmh_devices[i].mem_size = (u64)mem_mb << 20;
		atomic64_set(&vsvmh_devices[i].mem_used, 0);
	}
	vsvmh_dpmem_init_all();

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

	pr_info("%u devices, %u MiB device memory each, device-private pages %s\n",
		num_devices, mem_mb,
		vsvmh_devices[0].dpmem ? "on" : "off");
	return 0;

err_cdev_del:
	cdev_del(&vsvmh_cdev);
err_destroy_class:
	class_destroy(vsvmh_class);
err_unregister_region:
	unregister_chrdev_region(vsvmh_devt, num_devices);
err_free_devices:
	vsvmh_dpmem_fini_all();
	kfree(vsvmh_devices);
	return ret;
}

static void __exit vsvmh_exit(void)
{
	vsvmh_destroy_nodes(num_devices);
	cdev_del(&vsvmh_cdev);
	class_destroy(vsvmh_class);
	unregister_chrdev_region(vsvmh_devt, num_devices);
	vsvmh_dpmem_fini_all();
	kfree(vsvmh_devices);
}

module_init(vsvmh_init);
module_exit(vsvmh_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("vsvm host core: GPU shared virtual memory for VMs");
MODULE_AUTHOR("The vsvm authors");
