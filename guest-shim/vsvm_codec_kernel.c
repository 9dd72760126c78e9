// SPDX-License-Identifier: GPL-2.0-only
/*
 * vsvm_codec_kernel.c - the shared protocol codec, built into vsvm_guest.ko.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * virtio-proto/src/vsvm_codec.c is freestanding C shared with the other
 * vsvm module and with userspace.  Including it here compiles it as an
 * object of this module, in this directory, with this module's flags: no
 * object lands in virtio-proto/, so both modules and userspace can build it
 * at the same time.  Its symbols are not exported; each module has its own
 * copy.
 */
#include "../virtio-proto/src/vsvm_codec.c"
