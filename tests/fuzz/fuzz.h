/* fuzz.h — the libFuzzer entry point every harness in tests/fuzz/ defines.  Built two ways:
 * with clang -fsanitize=fuzzer by `make fuzz` (libFuzzer drives it), and with the project's
 * compiler and replay.c by `make check` (every file of the harness's corpus and regression
 * directory is run once, under ASan + UBSan). */
#ifndef METRO_FUZZ_H
#define METRO_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional (weak): set-up before the first input. */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A property a harness checks: abort (a crash libFuzzer records) when it does not hold. */
#define FUZZ_ASSERT(cond)                                                                   \
	do {                                                                                \
		if (!(cond)) {                                                              \
			fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, \
				#cond);                                                     \
			abort();                                                            \
		}                                                                           \
	} while (0)

/* The input as a NUL-terminated string (malloc'd; NULL when out of memory). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (s) {
		memcpy(s, data, size);
		s[size] = '\0';
	}
	return s;
}

#endif
