/* diag.h — a list of "FILE:LINE:COL: message" diagnostics.
 *
 * Loaders (configuration, profiles, procedures, batches) report every problem they find into a
 * metro_diag rather than stopping at the first, so that a user fixes a file in one round.  The
 * list is capped (METRO_DIAG_MAX) so that a pathological file cannot make it grow without bound.
 */
#ifndef METRO_DIAG_H
#define METRO_DIAG_H

#include <stddef.h>
#include <stdio.h>

#define METRO_DIAG_MAX 200

struct metro_diag {
	char **msgs;
	size_t n, cap;
	size_t dropped; /* messages beyond METRO_DIAG_MAX, counted not stored */
};

void metro_diag_init(struct metro_diag *d);
void metro_diag_free(struct metro_diag *d);
/* Add "file:line:col: message"; line and col are 1-based, 0 means unknown (omitted). */
void metro_diag_add(struct metro_diag *d, const char *file, unsigned line, unsigned col,
		    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
size_t metro_diag_count(const struct metro_diag *d);
/* Print every message, one per line, then a "N more" line if some were dropped. */
void metro_diag_print(const struct metro_diag *d, FILE *out);
/* Move all of src's messages to the end of dst. */
void metro_diag_move(struct metro_diag *dst, struct metro_diag *src);

#endif
