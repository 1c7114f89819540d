/* elecreg.c — register test and daily timing error of electricity meters (elecreg.h). */
#include "elecreg.h"

#include "error.h"

static int bad(struct metro_dec d)
{
	return !metro_dec_valid(d);
}

int metro_mx_register_energy(struct metro_dec resolution_kwh, struct metro_dec limit_pct,
			     struct metro_dec ratio, struct metro_dec min_kwh,
			     struct metro_dec *energy_kwh)
{
	if (bad(resolution_kwh) || bad(limit_pct) || bad(ratio) || bad(min_kwh))
		return METRO_E_INVAL;
	if (metro_dec_sign(resolution_kwh) <= 0 || metro_dec_sign(limit_pct) <= 0 ||
	    metro_dec_sign(ratio) <= 0 || metro_dec_cmp(ratio, metro_dec_e(1, 0)) > 0 ||
	    metro_dec_sign(min_kwh) < 0)
		return METRO_E_RANGE;
	/* one step of the register is at most ratio × limit of the energy: E >= d / (ratio × L) */
	struct metro_dec share =
		metro_dec_mul(ratio, metro_dec_div(limit_pct, metro_dec_e(100, 0)));
	struct metro_dec need = metro_dec_div(resolution_kwh, share);
	if (bad(need))
		return METRO_E_RANGE;
	*energy_kwh = metro_dec_cmp(need, min_kwh) >= 0 ? need : min_kwh;
	return METRO_OK;
}

int metro_mx_register_error(struct metro_dec start_kwh, struct metro_dec stop_kwh,
			    struct metro_dec reference_kwh, struct metro_dec *error_pct)
{
	if (bad(start_kwh) || bad(stop_kwh) || bad(reference_kwh))
		return METRO_E_INVAL;
	if (metro_dec_sign(start_kwh) < 0 || metro_dec_cmp(stop_kwh, start_kwh) < 0 ||
	    metro_dec_sign(reference_kwh) <= 0)
		return METRO_E_RANGE;
	struct metro_dec registered = metro_dec_sub(stop_kwh, start_kwh);
	struct metro_dec e = metro_dec_mul(
		metro_dec_div(metro_dec_sub(registered, reference_kwh), reference_kwh),
		metro_dec_e(100, 0));
	if (bad(e))
		return METRO_E_RANGE;
	*error_pct = e;
	return METRO_OK;
}

int metro_mx_timing_judge(const struct metro_dec *readings, size_t n, struct metro_dec limit,
			  struct metro_dec *mean, struct metro_mx_judgement *j)
{
	if (n < 1 || n > METRO_MX_MAX_RUNS || bad(limit) || metro_dec_sign(limit) <= 0)
		return METRO_E_INVAL;
	struct metro_dec sum = metro_dec_e(0, 0);
	for (size_t i = 0; i < n; i++) {
		if (bad(readings[i]))
			return METRO_E_INVAL;
		sum = metro_dec_add(sum, readings[i]);
	}
	struct metro_dec m = metro_dec_div(sum, metro_dec_e((long long)n, 0));
	if (bad(m))
		return METRO_E_RANGE;
	int rc = metro_mx_judge(m, limit, METRO_MX_RULE_FULL, metro_dec_e(0, 0), j);
	if (rc)
		return rc;
	*mean = m;
	return METRO_OK;
}
