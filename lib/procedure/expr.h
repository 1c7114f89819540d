/* expr.h — the procedure expression language.
 *
 * Test points in a procedure are written over the meter's nameplate: `q3 / r * 1.05`,
 * `0.1 * ib`, `max(200 * scale_interval_l, q3 * 1000 / 60)`.  The language is deliberately
 * small so that a metrologist can review every procedure: decimal numbers, names, + - * /
 * (and the typographic × ÷ −), unary minus, parentheses, and the functions min, max, abs,
 * ceil and floor.  No variables, no assignment, no loops, no strings.
 *
 * Arithmetic is exact (struct metro_dec): 1.6 * 0.025 is exactly 0.04, so a test point on a
 * zone boundary lands on the boundary.  Names are resolved at compile time against the list a
 * procedure declares, so a typo is an error at load with its column, never a surprise mid-run.
 */
#ifndef METRO_EXPR_H
#define METRO_EXPR_H

#include <stddef.h>

#include "decimal.h"

#define METRO_EXPR_MAX_LEN 512
#define METRO_EXPR_MAX_DEPTH 32

struct metro_expr;

/* Compile src (at most METRO_EXPR_MAX_LEN bytes).  names[0..nnames) are the names it may use;
 * their index is the slot metro_expr_eval() reads.  Returns 0 and *out, or METRO_E_INVAL with
 * *errcol the 1-based character column in src of the problem and a message in err. */
int metro_expr_compile(const char *src, const char *const *names, size_t nnames,
		       struct metro_expr **out, unsigned *errcol, char *err, size_t errlen);
void metro_expr_destroy(struct metro_expr **pe);

/* Evaluate exactly with values[i] the value of names[i].  Returns 0 and *out, or
 * METRO_E_RANGE (division by zero, overflow; message in err). */
int metro_expr_eval(const struct metro_expr *e, const struct metro_dec *values,
		    struct metro_dec *out, char *err, size_t errlen);

/* Bit i set when names[i] is used (for "declared but unused" checks and for documentation). */
unsigned long long metro_expr_names_used(const struct metro_expr *e);
const char *metro_expr_source(const struct metro_expr *e);

#endif
