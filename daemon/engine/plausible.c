/* plausible.c — the plausibility gate before a judgement (docs/procedures.md "Plausibility").
 *
 * A gross error is a rig or profile fault, not a meter's verdict: a wrong word order, a scale
 * typo in a profile or a register read from the wrong address gives numbers that look like
 * measurements, and judging them would issue notices of nonconformity for good meters.  So
 * before any judgement:
 * - the reference quantity must agree with the integral of the measured flow over the
 *   collection (within plausibility_reference_pct, default 25 %), else the rig is at fault and
 *   every position of the point ends in error.  The collection's length is known only between
 *   bounds (a diverter or valve moves between a command's sending and its reply, and a late
 *   reply is seconds of rig time on a time-scaled simulator): the reference is compared with
 *   the nearest volume those bounds allow;
 * - a meter that indicates nothing against a non-zero reference, and an error beyond
 *   plausibility_factor times the MPE (default 10), put that position in error with the reason,
 *   and it earns no notice.
 * A parameter set to 0 turns its check off.
 */
#include "engine.h"
#include "engine_int.h"

#include <math.h>
#include <stdio.h>

#include "error.h"
#include "metrology.h"

#define DEFAULT_FACTOR 10
#define DEFAULT_REFERENCE_PCT 25

static double param(const struct metro_engine *e, const char *name, long long dflt)
{
	return eng_dd(metro_procedure_param(e->b->proc, name, metro_dec_e(dflt, 0)));
}

int eng_plausible_reference(struct metro_engine *e, const struct metro_proc_item *it,
			    struct metro_dec ref_l, double flow_m3h, double seconds_min,
			    double seconds_max)
{
	double ref = eng_dd(ref_l);
	double lps = flow_m3h * 1000.0 / 3600.0;
	double lo = lps * seconds_min, hi = lps * seconds_max;
	/* A reading beyond any decimal of 1 µL (a mis-decoded double: 1e300 L) has no value to
	 * show. */
	if (!metro_dec_valid(ref_l))
		return eng_fault(
			e,
			"%s: the reference volume read after %.0f s at %.6g m3/h is not a "
			"volume (beyond ±1e32 L): a rig or profile fault (word order, scale, "
			"register?), no meter is judged",
			it->id, seconds_max, flow_m3h);
	if (!(ref > 0))
		return eng_fault(e,
				 "%s: the reference volume is %.6g L after %.0f s at %.6g m3/h: a "
				 "rig or profile fault (word order, scale, register?), no meter is "
				 "judged",
				 it->id, ref, seconds_max, flow_m3h);
	double tol = param(e, "plausibility_reference_pct", DEFAULT_REFERENCE_PCT);
	if (tol <= 0 || !(lo > 0) || !(hi >= lo))
		return METRO_OK;
	/* The deviation from the nearest volume the collection's time allows. */
	double dev = ref < lo ? (ref / lo - 1) * 100 : ref > hi ? (ref / hi - 1) * 100 : 0;
	if (fabs(dev) > tol)
		return eng_fault(
			e,
			"%s: the reference volume %.6g L is not the integral of the "
			"measured flow (%.6g m3/h for %.0f to %.0f s: %.6g to %.6g L, %+.3g %%, "
			"more than ±%g %%): a rig or profile fault (word order, scale, "
			"register?), no meter is judged",
			it->id, ref, flow_m3h, seconds_min, seconds_max, lo, hi, dev, tol);
	return METRO_OK;
}

int eng_plausible_error(struct metro_engine *e, struct pos *p, const struct metro_proc_item *it,
			const struct metro_dec *indicated, struct metro_dec reference,
			struct metro_dec error_pct, struct metro_dec mpe_pct)
{
	if (indicated && metro_dec_sign(*indicated) == 0 && metro_dec_sign(reference) != 0) {
		eng_pos_error(e, p, it,
			      "the meter indicated nothing against a reference of %.6g: a rig or "
			      "profile fault (pick-up, register?), not a meter verdict",
			      eng_dd(reference));
		return 1;
	}
	double factor = param(e, "plausibility_factor", DEFAULT_FACTOR);
	double err = eng_dd(error_pct), mpe = eng_dd(mpe_pct);
	if (factor > 0 && mpe > 0 && fabs(err) > factor * mpe) {
		eng_pos_error(e, p, it,
			      "error %+.6g %% is beyond the plausibility bound (%g x the MPE of "
			      "%g %%): a rig or profile fault (scale, word order?), not a meter "
			      "verdict",
			      err, factor, mpe);
		return 1;
	}
	return 0;
}
