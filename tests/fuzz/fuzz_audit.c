/* fuzz_audit — the audit verifier's record decoder on any bytes.  The property that makes the
 * hash chain meaningful: decoding accepts only canonical encodings, so whatever decodes
 * re-encodes to exactly the same bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct metro_audit_record r;
	const char *why = NULL;
	if (metro_audit_decode(data, size, &r, &why) != 0) {
		FUZZ_ASSERT(why != NULL);
		return 0;
	}
	size_t n = metro_audit_encode(&r, NULL, 0, NULL);
	FUZZ_ASSERT(n == size);
	unsigned char *buf = malloc(n ? n : 1);
	if (!buf)
		return 0;
	FUZZ_ASSERT(metro_audit_encode(&r, buf, n, NULL) == n);
	FUZZ_ASSERT(memcmp(buf, data, n) == 0);
	free(buf);
	return 0;
}
