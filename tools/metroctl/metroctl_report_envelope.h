/* metroctl_report_envelope.h — the ±MPE envelope of a batch report's error curve: the zones of
 * a meter's MPE and where they meet, from lib/metrology (water: Q2, the upper zone from Q2
 * inclusive; gas: qt = 0.1 qmax; electricity: the current where the class limit changes, per
 * power factor), never guessed from the tested points.  docs/reports.md "Batch reports".
 */
#ifndef METROCTL_REPORT_ENVELOPE_H
#define METROCTL_REPORT_ENVELOPE_H

#include <jansson.h>
#include <stddef.h>

struct rpt_envelope {
	size_t n;	       /* zones, low to high: 2 (lower, upper) */
	double from[2], to[2]; /* each zone's abscissa (m³/h, or I/Ib resp. I/In); to may be
				* INFINITY (Imax not recorded) */
	double base[2];	       /* the zone's MPE of initial verification, % (lib/metrology) */
	double mpe[2];	       /* the MPE drawn, %: the largest recorded MPE of the series' points
				* in the zone; a zone without points gets base × the ratio
				* recorded / base of the other zone's points */
	double boundary;       /* where the envelope steps (from[1]) */
};

/* The envelope of one series of a meter: kind "water", "gas" or "electricity"; the nameplate
 * recorded with the meter; pf the series' power factor ("1.0", "0.5L", "0.8C"; electricity
 * only); the series' points (abscissa x and recorded MPE, n >= 1).  Returns 0, or -1 when the
 * nameplate does not give what the zones need (then no envelope is drawn, only each point's
 * MPE). */
int rpt_envelope(const char *kind, json_t *nameplate, const char *pf, const double *x,
		 const double *mpe, size_t n, struct rpt_envelope *out);

#endif
