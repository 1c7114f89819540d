/* fuzz_lineproto — the serial line protocol: reply framing and parsing with the templates of
 * the shipped bell-prover profile, and template compilation of any text.  The first byte
 * chooses what is fuzzed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "lineproto.h"

static const char *const templates[] = {
	"FS %f*%<xor8>",		      /* config/profiles/bell-prover.yaml */
	"OK*%<xor8>",			      /* its write acknowledgement */
	"VALVE %d*%<xor8>",		      /* an integer reply */
	"%<begin>Q=%e;S=%4x;%*d|%3s%<crc16>", /* every construct, for the parser's sake */
	"E%3u:%s*%<lrc>",		      /* fixed-width fields, LRC */
	"%d,%u,%X,%E*%<sum8>",		      /* sum checksum */
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const char *body = (const char *)data + 1;
	size_t len = size - 1;
	char err[256];
	if (data[0] % 4 == 0) { /* a template of any text, either direction */
		char *src = fuzz_cstr((const uint8_t *)body, len);
		if (!src)
			return 0;
		struct metro_line_tmpl *t = NULL;
		if (metro_line_compile(src, data[0] & 4 ? METRO_LINE_OUT : METRO_LINE_IN, &t, err,
				       sizeof err) == 0)
			FUZZ_ASSERT(t != NULL);
		else
			FUZZ_ASSERT(t == NULL && err[0] != '\0');
		metro_line_destroy(&t);
		free(src);
		return 0;
	}
	size_t framelen;
	int f = metro_line_frame(body, len, "\r\n", 2, 256, &framelen);
	FUZZ_ASSERT(f != 1 || framelen + 2 <= len);
	size_t which = data[0] % (sizeof templates / sizeof *templates);
	struct metro_line_tmpl *t = NULL;
	if (metro_line_compile(templates[which], METRO_LINE_IN, &t, err, sizeof err) != 0) {
		fprintf(stderr, "template %zu: %s\n", which, err);
		abort();
	}
	struct metro_line_value v[8];
	size_t n = 8;
	if (metro_line_parse(t, body, f == 1 ? framelen : len, v, &n, err, sizeof err) == 0)
		FUZZ_ASSERT(n == metro_line_nvalues(t));
	else
		FUZZ_ASSERT(n == 0 && err[0] != '\0');
	metro_line_destroy(&t);
	return 0;
}
