/* fuzz_config — the daemon configuration loader on any bytes: no crash, no leak, and a
 * refused file always says why. */
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "diag.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct metro_diag d;
	struct metro_config *c = NULL;
	metro_diag_init(&d);
	int err = metro_config_load_buffer("fuzz.yaml", data, size, &d, &c);
	FUZZ_ASSERT(err ? c == NULL && metro_diag_count(&d) > 0 : c != NULL);
	metro_config_destroy(&c);
	metro_diag_free(&d);
	return 0;
}
