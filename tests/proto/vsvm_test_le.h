/* SPDX-License-Identifier: MIT */
/*
 * vsvm_test_le.h - raw little-endian loads and stores for the codec tests.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * The tests build and inspect wire bytes with these helpers, never through
 * the codec under test, so a codec bug cannot hide itself: the encoder
 * refuses malformed input, and a symmetric encode/decode bug would survive
 * a round trip.  Byte-wise on purpose (any host order, any alignment).
 */
#ifndef VSVM_TEST_LE_H
#define VSVM_TEST_LE_H

#include <stddef.h>
#include <stdint.h>

#define WOFF(t, f) ((uint32_t)offsetof(struct t, f))
#define WSZ(t) ((uint32_t)sizeof(struct t))

static inline void le_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void le_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline void le_put64(uint8_t *p, uint64_t v)
{
	le_put32(p, (uint32_t)v);
	le_put32(p + 4, (uint32_t)(v >> 32));
}

/* Store v in the width-byte little-endian field at p (width 1, 2, 4, 8). */
static inline void le_put(uint8_t *p, unsigned width, uint64_t v)
{
	unsigned i;

	for (i = 0; i < width; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t le_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t le_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline uint64_t le_get64(const uint8_t *p)
{
	return (uint64_t)le_get32(p) | (uint64_t)le_get32(p + 4) << 32;
}

#endif /* VSVM_TEST_LE_H */
