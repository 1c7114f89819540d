/* metroctl_report_envelope.c — the MPE zones of an error curve (metroctl_report_envelope.h). */
#include "metroctl_report_envelope.h"

#include <math.h>
#include <string.h>

#include "batch.h"
#include "decimal.h"
#include "metrology.h"

/* A nameplate number (a JSON number or a decimal string); 0 when absent or not a number. */
static int np_dec(json_t *np, const char *key, struct metro_dec *out)
{
	json_t *v = json_object_get(np, key);
	if (json_is_string(v))
		return !metro_dec_parse(json_string_value(v), out);
	if (json_is_integer(v))
		*out = metro_dec_e(json_integer_value(v), 0);
	else if (json_is_real(v))
		*out = metro_dec_from_double(json_real_value(v));
	else
		return 0;
	return metro_dec_valid(*out);
}

static const char *np_text(json_t *np, const char *key, char *buf, size_t cap)
{
	json_t *v = json_object_get(np, key);
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v)) {
		snprintf(buf, cap, "%lld", (long long)json_integer_value(v));
		return buf;
	}
	return NULL;
}

static double dd(struct metro_dec d)
{
	return metro_dec_to_double(d);
}

static int water(json_t *np, struct rpt_envelope *e)
{
	const struct metro_mx_limits lim = {.type = METRO_MX_INITIAL};
	struct metro_mx_water_meter m;
	struct metro_mx_water_point lo, up;
	const struct metro_dec t20 = metro_dec_e(20, 0);
	char b[24];
	const char *cls = np_text(np, "class", b, sizeof b);
	if (!cls || metro_mx_parse_wclass(cls, &m.cls) || !np_dec(np, "q3", &m.q3) ||
	    !np_dec(np, "r", &m.r) || metro_mx_water_mpe(&m, m.q3, t20, &lim, &up))
		return -1;
	if (metro_mx_water_mpe(&m, up.q1, t20, &lim, &lo))
		return -1;
	e->from[0] = dd(up.q1);
	e->to[0] = e->from[1] = e->boundary = dd(up.q2); /* Q2 is in the upper zone */
	e->to[1] = dd(up.q4);
	e->base[0] = dd(lo.mpe.base);
	e->base[1] = dd(up.mpe.base);
	return 0;
}

static int gas(json_t *np, struct rpt_envelope *e)
{
	const struct metro_mx_limits lim = {.type = METRO_MX_INITIAL};
	enum metro_mx_gclass cls;
	struct metro_dec qmax, qmin = metro_dec_e(0, 0);
	struct metro_mx_gas_point lo, up;
	char b[24];
	const char *c = np_text(np, "class", b, sizeof b);
	if (!c || metro_mx_parse_gclass(c, &cls) || !np_dec(np, "qmax", &qmax))
		return -1;
	if (json_object_get(np, "qmin") && !np_dec(np, "qmin", &qmin))
		return -1;
	if (metro_mx_gas_mpe(cls, qmax, qmin, qmax, &lim, &up))
		return -1;
	/* the lower zone's MPE at qmin, or (qmin not recorded) just below qt */
	struct metro_dec low =
		metro_dec_sign(qmin) > 0 ? qmin : metro_dec_mul(up.qt, metro_dec_e(1, -1));
	if (metro_mx_gas_mpe(cls, qmax, qmin, low, &lim, &lo))
		return -1;
	e->from[0] = metro_dec_sign(qmin) > 0 ? dd(qmin) : 0;
	e->to[0] = e->from[1] = e->boundary = dd(up.qt); /* qt is in the upper zone */
	e->to[1] = dd(qmax);
	e->base[0] = dd(lo.mpe.base);
	e->base[1] = dd(up.mpe.base);
	return 0;
}

static int electricity(json_t *np, const char *pfname, struct rpt_envelope *e)
{
	const struct metro_mx_limits lim = {.type = METRO_MX_INITIAL};
	struct metro_mx_elec_meter m;
	enum metro_mx_pf pf;
	struct metro_mx_elec_point lo, up;
	char b1[24], b2[24];
	const char *cls = np_text(np, "class", b1, sizeof b1);
	const char *conn = np_text(np, "connection", b2, sizeof b2);
	memset(&m, 0, sizeof m);
	if (!cls || !conn || !pfname || metro_mx_parse_eclass(cls, &m.cls) ||
	    metro_mx_parse_connection(conn, &m.conn) || metro_mx_parse_pf(pfname, &pf))
		return -1;
	if (!np_dec(np, "ib", &m.rated_a))
		m.rated_a = metro_dec_e(0, 0);
	if (!np_dec(np, "imax", &m.imax_a))
		m.imax_a = metro_dec_e(0, 0);
	struct metro_mx_current at = {metro_dec_e(1, 0),
				      m.conn == METRO_MX_CT ? METRO_MX_IN : METRO_MX_IB};
	if (metro_mx_elec_mpe(&m, &at, pf, &lim, &up))
		return -1;
	at.mult = up.low;
	if (metro_mx_elec_mpe(&m, &at, pf, &lim, &lo))
		return -1;
	int rated = metro_dec_sign(m.rated_a) > 0 && metro_dec_sign(m.imax_a) > 0;
	e->from[0] = dd(up.low);
	e->to[0] = e->from[1] = e->boundary = dd(up.breakpoint);
	e->to[1] = rated ? dd(metro_dec_div(m.imax_a, m.rated_a)) : INFINITY;
	e->base[0] = dd(lo.mpe.base);
	e->base[1] = dd(up.mpe.base);
	return 0;
}

int rpt_envelope(const char *kind, json_t *nameplate, const char *pf, const double *x,
		 const double *mpe, size_t n, struct rpt_envelope *out)
{
	memset(out, 0, sizeof *out);
	int rc = -1;
	if (!kind || !json_is_object(nameplate) || !n)
		return -1;
	if (!strcmp(kind, "water"))
		rc = water(nameplate, out);
	else if (!strcmp(kind, "gas"))
		rc = gas(nameplate, out);
	else if (!strcmp(kind, "electricity"))
		rc = electricity(nameplate, pf, out);
	if (rc || !(out->base[0] > 0) || !(out->base[1] > 0)) {
		memset(out, 0, sizeof *out);
		return -1;
	}
	out->n = 2;
	/* The recorded MPEs (the verification type's and the procedure's factors applied) by
	 * zone.  A point at the boundary belongs to the upper zone; the tolerance only absorbs the
	 * binary rounding of the recorded decimal abscissa. */
	double ratio = 0;
	for (size_t i = 0; i < n; i++) {
		int z = x[i] >= out->boundary * (1 - 1e-9);
		if (mpe[i] > out->mpe[z])
			out->mpe[z] = mpe[i];
		ratio = mpe[i] / out->base[z];
	}
	for (int z = 0; z < 2; z++)
		if (!(out->mpe[z] > 0))
			out->mpe[z] = out->base[z] * ratio;
	return 0;
}
