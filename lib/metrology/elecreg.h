/* elecreg.h — the register (constant) test and the daily timing error of electricity meters
 * (JJG 596-2012; docs/metrology.md, "Register test" and "Daily timing error").  Pure exact
 * arithmetic on top of decimal.h, like metrology.h: no I/O, no globals, no allocation.
 */
#ifndef METRO_ELECREG_H
#define METRO_ELECREG_H

#include <stddef.h>

#include "decimal.h"
#include "metrology.h"

/* The energy a register test must run so that the register's resolution is small against the
 * limit: E = max(min_kwh, resolution_kwh / (ratio × limit_pct / 100)), i.e. one register step
 * is at most `ratio` of the limit (ratio 1/10: a step of 0.01 kWh against a 1 % limit needs
 * 10 kWh).  resolution_kwh > 0, limit_pct > 0, 0 < ratio <= 1, min_kwh >= 0; else
 * METRO_E_INVAL (an invalid number) or METRO_E_RANGE.  Exact. */
int metro_mx_register_energy(struct metro_dec resolution_kwh, struct metro_dec limit_pct,
			     struct metro_dec ratio, struct metro_dec min_kwh,
			     struct metro_dec *energy_kwh);

/* The register's error against the standard's energy:
 * E = ((stop − start) − reference) / reference × 100 %, exactly.  start >= 0, stop >= start,
 * reference > 0; else METRO_E_RANGE (METRO_E_INVAL for an invalid number). */
int metro_mx_register_error(struct metro_dec start_kwh, struct metro_dec stop_kwh,
			    struct metro_dec reference_kwh, struct metro_dec *error_pct);

/* Daily timing error: the mean of n readings (s/d, 1 <= n <= METRO_MX_MAX_RUNS) judged at full
 * precision against ±limit (s/d, > 0; the limit itself passes).  *mean and *j (its value is the
 * mean, its mpe the limit).  METRO_E_INVAL for n out of range, an invalid number or limit <= 0;
 * METRO_E_RANGE on overflow. */
int metro_mx_timing_judge(const struct metro_dec *readings, size_t n, struct metro_dec limit,
			  struct metro_dec *mean, struct metro_mx_judgement *j);

#endif
