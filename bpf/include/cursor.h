/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A bounds-checked view of the packet between data and data_end.
 *
 * Every parser in this directory reads through cursor_at(): it hands out a
 * pointer to `len` bytes at byte offset `off` from the start of the packet,
 * or NULL when they would run past data_end. Offsets are plain integers, so
 * the header walks read like the specification (docs/keepalive.md) and the
 * verifier sees one pattern everywhere: a bounded offset added to the packet
 * start, then a constant-length check against data_end.
 */
#ifndef GREOIP_CURSOR_H
#define GREOIP_CURSOR_H

#include <linux/types.h>
#include <bpf/bpf_helpers.h>

/*
 * Largest offset handed out. Packets we answer are far smaller; the bound
 * only keeps the verifier's view of every offset finite and the sum of two
 * offsets well below its 64 KiB packet-offset limit.
 */
#define CURSOR_MAX_OFFSET 0x3fff

struct cursor {
	void *data;
	void *data_end;
};

static __always_inline void cursor_init(struct cursor *c, void *data, void *data_end)
{
	c->data = data;
	c->data_end = data_end;
}

/* Bytes between data and data_end. */
static __always_inline __u32 cursor_len(const struct cursor *c)
{
	return (__u32)((long)c->data_end - (long)c->data);
}

/* Pointer to `len` (a constant) bytes at offset `off`, or NULL when they do not fit. */
static __always_inline void *cursor_at(const struct cursor *c, __u32 off, const __u32 len)
{
	void *p;

	if (off > CURSOR_MAX_OFFSET)
		return NULL;
	/*
	 * clang may drop a mask it can prove redundant and compare a copy of
	 * `off`; the empty asm hides the range from clang so the mask stays and
	 * the verifier sees the bound on the very register it adds.
	 */
	asm volatile("" : "+r"(off));
	off &= CURSOR_MAX_OFFSET;
	p = c->data + off;
	if (p + len > c->data_end)
		return NULL;
	return p;
}

/* The byte at `off` into *out; -1 when it is past the end. */
static __always_inline int cursor_u8(const struct cursor *c, __u32 off, __u8 *out)
{
	__u8 *p = cursor_at(c, off, 1);

	if (!p)
		return -1;
	*out = *p;
	return 0;
}

/* The big-endian 16-bit field at `off` into *out, in host order; -1 when it is past the end. */
static __always_inline int cursor_be16(const struct cursor *c, __u32 off, __u16 *out)
{
	__u8 *p = cursor_at(c, off, 2);

	if (!p)
		return -1;
	*out = (__u16)((__u16)p[0] << 8 | p[1]);
	return 0;
}

#endif /* GREOIP_CURSOR_H */
