/* fuzz_expr — the procedure expression language: compile any text over a few names, and
 * evaluate what compiles, exactly, with values at and around the usual nameplates. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decimal.h"
#include "expr.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = {"q3", "r", "qmax", "ib"};
	char *src = fuzz_cstr(data, size);
	if (!src)
		return 0;
	struct metro_expr *e = NULL;
	char err[256] = "";
	unsigned col = 0;
	if (metro_expr_compile(src, names, 4, &e, &col, err, sizeof err) == 0) {
		FUZZ_ASSERT(e != NULL);
		struct metro_dec v[4];
		const char *const text[] = {"2.5", "100", "6", "0"};
		for (int i = 0; i < 4; i++)
			FUZZ_ASSERT(metro_dec_parse(text[i], &v[i]) == 0);
		struct metro_dec out;
		(void)metro_expr_eval(e, v, &out, err, sizeof err);
		metro_expr_destroy(&e);
	} else {
		FUZZ_ASSERT(e == NULL && err[0] != '\0' && col >= 1);
	}
	free(src);
	return 0;
}
