/* fuzz_codec — the register codec: any type, word order, bit field or string length over
 * any register content.  Properties: raw decoding of an integer or float type re-encodes to
 * the same registers (the codec loses nothing); a decoded string re-encodes to registers
 * that decode to the same string. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 4)
		return 0;
	struct metro_codec c;
	metro_codec_init(&c, (enum metro_codec_type)(data[0] % METRO_CODEC_NTYPES),
			 (enum metro_codec_order)(data[1] % METRO_CODEC_NORDERS));
	if (c.type == METRO_CODEC_BITS) {
		c.bit_offset = data[2] % 16;
		c.bit_width = 1 + data[3] % (16 - c.bit_offset);
	}
	if (c.type == METRO_CODEC_STRING)
		c.str_len = 1 + data[2] % METRO_CODEC_STR_MAX;
	if (metro_codec_check(&c) != 0)
		return 0;
	unsigned words = metro_codec_type_words(c.type, c.str_len);
	uint16_t regs[METRO_CODEC_STR_MAX], back[METRO_CODEC_STR_MAX];
	memset(regs, 0, sizeof regs);
	size_t avail = (size - 4) / 2;
	for (size_t i = 0; i < words && i < avail; i++)
		regs[i] = (uint16_t)(data[4 + 2 * i] << 8 | data[5 + 2 * i]);
	if (c.type == METRO_CODEC_STRING) {
		char s[METRO_CODEC_STR_MAX + 1], s2[METRO_CODEC_STR_MAX + 1];
		if (metro_codec_decode_str(&c, regs, words, s, sizeof s) == 0) {
			FUZZ_ASSERT(metro_codec_encode_str(&c, s, back, words) == 0);
			FUZZ_ASSERT(metro_codec_decode_str(&c, back, words, s2, sizeof s2) == 0);
			FUZZ_ASSERT(strcmp(s, s2) == 0);
		}
		return 0;
	}
	double v;
	(void)metro_codec_decode(&c, regs, words, &v);
	struct metro_codec_raw raw;
	FUZZ_ASSERT(metro_codec_decode_raw(&c, regs, words, &raw) == 0);
	memcpy(back, regs, sizeof back);
	if (c.type == METRO_CODEC_BITS) /* only the field's bits are the value's */
		back[0] = (uint16_t)~regs[0];
	int rc = metro_codec_encode_raw(&c, &raw, back, words);
	FUZZ_ASSERT(rc == 0);
	if (c.type == METRO_CODEC_BITS) {
		/* the field reads back; the other bits keep what the register held */
		struct metro_codec_raw again;
		FUZZ_ASSERT(metro_codec_decode_raw(&c, back, words, &again) == 0);
		FUZZ_ASSERT(again.kind == raw.kind && again.u == raw.u);
		uint16_t mask = (uint16_t)(((1u << c.bit_width) - 1) << c.bit_offset);
		if (c.order == METRO_CODEC_BADC || c.order == METRO_CODEC_DCBA) /* byte-swapped */
			mask = (uint16_t)(mask << 8 | mask >> 8);
		FUZZ_ASSERT((back[0] & ~mask & 0xffff) == (~regs[0] & ~mask & 0xffff));
	} else if (!(c.type == METRO_CODEC_F32 && raw.f != raw.f)) {
		/* a signalling NaN comes back quiet (codec.h): the one documented inexactness */
		FUZZ_ASSERT(memcmp(back, regs, words * sizeof *regs) == 0);
	}
	return 0;
}
