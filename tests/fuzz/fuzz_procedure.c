/* fuzz_procedure — the procedure loader on any bytes: no crash, no leak, a refused
 * procedure always says why, an accepted one has an id and at least one item. */
#include <stdio.h>
#include <stdlib.h>

#include "diag.h"
#include "fuzz.h"
#include "procedure.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct metro_diag d;
	struct metro_procedure *p = NULL;
	metro_diag_init(&d);
	int err = metro_procedure_load_buffer("fuzz.yaml", (const char *)data, size, &d, &p);
	FUZZ_ASSERT(err ? p == NULL && metro_diag_count(&d) > 0
			: p != NULL && p->id != NULL && p->nitems > 0);
	metro_procedure_destroy(&p);
	metro_diag_free(&d);
	return 0;
}
