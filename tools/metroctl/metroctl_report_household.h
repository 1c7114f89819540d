/* metroctl_report_household.h — which meters count as household meters (户用表), for the
 * --household filter of `metroctl report stats` and `metroctl report summary`.
 *
 * The rule is a YAML file (config/reports/household.yaml; docs/reports.md "Household
 * meters"), because which sizes count is not confirmed from a regulation [confirm]:
 *
 *   water: {dn_max: 25, q3_max: 6.3}   # DN from the nameplate when it gives one, else Q3
 *   electricity: {connection: [direct], phases: ["1"]}
 *   gas: {qmax_max: 10}
 *
 * A meter is judged from the nameplate recorded with its verdict; comparisons are exact
 * decimals.  A meter the rule cannot place (its nameplate lacks the fields) is an error for
 * the caller, never silently counted or left out.
 */
#ifndef METROCTL_REPORT_HOUSEHOLD_H
#define METROCTL_REPORT_HOUSEHOLD_H

#include <stddef.h>

#include "decimal.h"

#define RPT_HH_MAX_VALUES 8

struct rpt_household {
	char *path;				     /* the rule file, for notes */
	struct metro_dec water_dn_max, water_q3_max; /* inclusive */
	struct metro_dec gas_qmax_max;		     /* inclusive */
	char *connection[RPT_HH_MAX_VALUES];	     /* electricity: allowed connections */
	size_t nconnection;
	char *phases[RPT_HH_MAX_VALUES]; /* electricity: allowed phases */
	size_t nphases;
};

/* Read the rule file; problems go to stderr as FILE:LINE:COL.  Returns 0 or -1 (nothing kept). */
int rpt_household_load(struct rpt_household *h, const char *path);
/* The same from memory (name is used in messages). */
int rpt_household_load_buffer(struct rpt_household *h, const char *name, const char *text);
void rpt_household_free(struct rpt_household *h);

/* Is a meter of kind ("water", "electricity", "gas") with this nameplate (JSON object text,
 * values numbers or decimal strings) a household meter?  Returns 1 yes, 0 no, -1 the rule
 * cannot place it (unknown kind, a field missing or not a number): why says which. */
int rpt_household_match(const struct rpt_household *h, const char *kind, const char *nameplate,
			char *why, size_t cap);

#endif
