/* commission.c — the position check of a commissioning procedure (docs/operations.md
 * "Commissioning a rig").
 *
 * A profile can be right register by register and still judge every meter on its neighbour's
 * counts (a position block one stride late), or on a counter read in the wrong word order.
 * Nothing in a verification run can see that: the meters in a series bench all pass the same
 * volume.  The position check compares the rig with what a person sees on each meter's own
 * display, and with the positions left empty:
 *
 *  1. the flow is stopped; every position's counter of the rig is read (occupied or not) and
 *     the operator types each meter's display;
 *  2. a volume runs through the line (flow bench: the diverter to the reference, the pump on;
 *     bell prover: the valve open), then stops;
 *  3. the counters are read again and the operator types the displays again.
 *
 * A meter passes when its position's counter moved by what its display moved (within
 * tolerance_pct and two of its scale intervals) and by about the reference (within 10 %: a
 * word order or a scale off shows here); an empty position must not move at all.  An empty
 * position that moved is a rig fault (the map is shifted or the stride is wrong): nothing of
 * the check counts.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "device.h"
#include "engine_int.h"
#include "error.h"
#include "log.h"
#include "util.h"

/* How far the rig's counter may be from the reference, %: a meter's own error is a few %, a
 * scale or word-order mistake is a factor. */
#define PLAUSIBLE_PCT 10.0

/* Every position of the rig, occupied or not: the volume channel of each. */
static int read_all(struct metro_engine *e, const struct metro_channel **chs, int n, double *v)
{
	if (metro_device_read(e->io.dev, chs, (size_t)n, v))
		return eng_fault(e, "reading the positions' counters: %s",
				 metro_device_last_error(e->io.dev));
	return METRO_OK;
}

/* The operator's readings of the displays (m3) of the active positions; a position nobody
 * read is in error. */
static int displays(struct metro_engine *e, const struct metro_proc_item *it, struct pos **ps,
		    size_t n, const char *phase, struct metro_dec *out, int *skip)
{
	char q[240];
	snprintf(q, sizeof q,
		 "%s: type the %s reading of each meter's own display (m3, every digit it "
		 "shows), with the flow stopped",
		 it->title ? it->title : it->id, phase);
	return eng_typed_readings(e, it, ps, n, phase, "m3", q, NULL, out, skip, NULL);
}

/* Run the volume through the line and stop; the reference's change in *ref. */
static int run_volume(struct metro_engine *e, const char *kind, double sp, double vol, double *ref)
{
	int water = !strcmp(kind, "flow-bench");
	const char *refch = water ? "ref.volume" : "bell.volume";
	double r0 = 0, r = 0, flow = 0;
	int rc;
	if ((rc = eng_rd(e, refch, &r0)))
		return rc;
	if (water && ((rc = eng_wr(e, "collect", 1)) || (rc = eng_wr(e, "flow.setpoint", sp)) ||
		      (rc = eng_wr(e, "flow.run", 1))))
		return rc;
	if (!water && ((rc = eng_wr(e, "flow.setpoint", sp)) || (rc = eng_wr(e, "valve", 1))))
		return rc;
	uint64_t t0 = metro_now_ns();
	double limit = 3 * vol / (sp * 1000 / 3600) + 30;
	while (r - r0 < vol) {
		if (eng_wait_real(e, e->io.poll_s))
			return METRO_E_STATE;
		if ((rc = eng_rd(e, refch, &r)))
			return rc;
		if (eng_rig_seconds(e, t0) > limit)
			return eng_fault(e,
					 "position check: the reference reached %.6g L of %.6g L "
					 "in %.0f s",
					 r - r0, vol, limit);
	}
	if ((rc = eng_wr(e, water ? "flow.run" : "valve", 0)))
		return rc;
	/* at rest before anything is read: the displays are read standing */
	uint64_t still = 0, t1 = metro_now_ns();
	int have_flow = eng_chan(e, "flow.actual") != NULL;
	for (;;) {
		if (eng_wait_real(e, e->io.poll_s))
			return METRO_E_STATE;
		if (have_flow && (rc = eng_rd(e, "flow.actual", &flow)))
			return rc;
		if (eng_held(e, &still, fabs(flow) <= 0.01 * sp) >= 1 ||
		    eng_rig_seconds(e, t1) > 60)
			break;
	}
	if (water && (rc = eng_wr(e, "collect", 0)))
		return rc;
	if ((rc = eng_rd(e, refch, &r)))
		return rc;
	*ref = r - r0;
	return METRO_OK;
}

int eng_position_check(struct metro_engine *e, const struct metro_proc_item *it)
{
	struct pos *ps[MAX_POS];
	size_t n = eng_active(e, ps);
	if (!n)
		return METRO_OK;
	const struct metro_profile *prof = e->io.profile;
	const char *kind = prof->kind;
	int water = !strcmp(kind, "flow-bench");
	if (!water && strcmp(kind, "bell-prover") != 0)
		return eng_fault(e, "%s: a position check needs a flow bench or a bell prover",
				 it->id);
	int npos = prof->positions;
	const struct metro_channel *chs[MAX_POS];
	for (int k = 1; k <= npos; k++)
		if (!(chs[k - 1] = metro_profile_pos_channel(prof, "volume", k)))
			return eng_fault(e, "%s: the profile has no pos[%d].volume", it->id, k);
	struct metro_dec sp_d, vol_d;
	if (eng_stim(e, it->flow, &sp_d) || eng_stim(e, it->volume_l, &vol_d))
		return METRO_E_IO;
	double sp = eng_dd(sp_d), vol = eng_dd(vol_d);
	int rc;
	/* Standing start. */
	if (water && ((rc = eng_wr(e, "flow.run", 0)) || (rc = eng_wr(e, "collect", 0))))
		return rc;
	if (!water && (rc = eng_wr(e, "valve", 0)))
		return rc;
	if (eng_wait_real(e, 1))
		return METRO_E_STATE;
	double c0[MAX_POS], c1[MAX_POS], ref = 0;
	struct metro_dec d0[MAX_POS], d1[MAX_POS];
	memset(d0, 0, sizeof d0);
	memset(d1, 0, sizeof d1);
	int skip[MAX_POS] = {0};
	if ((rc = read_all(e, chs, npos, c0)) || (rc = displays(e, it, ps, n, "start", d0, skip)) ||
	    (rc = run_volume(e, kind, sp, vol, &ref)) || (rc = read_all(e, chs, npos, c1)) ||
	    (rc = displays(e, it, ps, n, "end", d1, skip)))
		return rc;
	/* Empty positions first: one that moved means the map is wrong for everyone. */
	for (int k = 1; k <= npos; k++) {
		int occupied = 0;
		for (size_t i = 0; i < e->npos; i++)
			occupied |= e->pos[i].m->position == k;
		double moved = c1[k - 1] - c0[k - 1];
		if (!occupied && fabs(moved) > 0.001 * vol)
			return eng_fault(
				e,
				"%s: position %d has no meter, yet the rig's pos[%d].volume "
				"moved %.6g L while %.6g L ran: the profile's position map is "
				"shifted or its stride is wrong (%s:%u)",
				it->id, k, k, moved, ref, prof->path, chs[k - 1]->line);
	}
	double tol_pct = eng_dd(it->tolerance_pct);
	for (size_t i = 0; i < n; i++) {
		if (skip[i])
			continue;
		int k = ps[i]->m->position;
		double shown = eng_dd(metro_dec_sub(d1[i], d0[i])) * 1000;
		double counted = c1[k - 1] - c0[k - 1];
		struct metro_dec si = metro_batch_value(e->b, ps[i]->m, "scale_interval_l");
		double res = metro_dec_valid(si) ? eng_dd(si) : 0;
		double tol = tol_pct / 100 * fabs(shown) + 2 * res;
		char why[300] = "";
		if (fabs(counted - shown) > tol)
			snprintf(why, sizeof why,
				 "the rig counted %.6g L at position %d, the meter's display moved "
				 "%.6g L (tolerance %.3g L): the position map, the stride or the "
				 "scale of pos[N].volume is wrong",
				 counted, k, shown, tol);
		else if (fabs(counted - ref) > PLAUSIBLE_PCT / 100 * ref)
			snprintf(why, sizeof why,
				 "the rig counted %.6g L at position %d against %.6g L of the "
				 "reference: the scale or word order of pos[N].volume or of the "
				 "reference is wrong",
				 counted, k, ref);
		json_t *details = json_pack(
			"{sfsfsfsfsfss}", "counted_l", counted, "display_l", shown, "reference_l",
			ref, "tolerance_l", tol, "counter_start", c0[k - 1], "rule",
			"position check: the rig's counter against the meter's display");
		if (why[0])
			json_object_set_new(details, "reason", json_string(why));
		json_object_set_new(details, "typed_by", json_string(e->answer_operator));
		eng_point_doc(e, ps[i], it, details, NULL, 1,
			      why[0] ? METRO_VERDICT_FAIL : METRO_VERDICT_PASS);
	}
	return METRO_OK;
}
