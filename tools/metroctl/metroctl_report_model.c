/* metroctl_report_model.c — the words and dates of the report documents: local times,
 * validity dates, item titles, instrument, verification type and verdict names
 * (metroctl_report_model.h). */
#include "metroctl_report_model.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "procedure.h"
#include "util.h"

void rpt_local_time(const char *iso, int withtime, char *out, size_t cap)
{
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	const char *end = iso ? strptime(iso, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
	if (!end) {
		snprintf(out, cap, "%s", iso ? iso : "—");
		return;
	}
	time_t t = timegm(&tm);
	struct tm lt;
	localtime_r(&t, &lt);
	strftime(out, cap, withtime ? "%Y-%m-%d %H:%M" : "%Y-%m-%d", &lt);
}

void rpt_add_months(const char *date, long months, char *out, size_t cap)
{
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	if (!strptime(date, "%Y-%m-%d", &tm)) {
		snprintf(out, cap, "—");
		return;
	}
	tm.tm_mon += (int)months;
	tm.tm_mday -= 1;
	tm.tm_hour = 12;
	tm.tm_isdst = -1;
	mktime(&tm); /* normalises */
	strftime(out, cap, "%Y-%m-%d", &tm);
}

const char *rpt_item_title(const struct metro_procedure *p, const char *test_point)
{
	for (size_t i = 0; p && test_point && i < p->nitems; i++)
		if (p->items[i].id && !strcmp(p->items[i].id, test_point) && p->items[i].title)
			return p->items[i].title;
	return test_point ? test_point : "—";
}

const char *rpt_instrument(const struct metro_procedure *p)
{
	if (p->cert_instrument)
		return p->cert_instrument;
	if (p->meter && !strcmp(p->meter, "water"))
		return "水表 / Water meter";
	if (p->meter && !strcmp(p->meter, "electricity"))
		return "电能表 / Energy meter";
	return "燃气表 / Gas meter";
}

const char *rpt_vtype_name(const char *v)
{
	static const char *const names[][2] = {
		{"initial", "首次检定 / Initial verification"},
		{"subsequent", "后续检定 / Subsequent verification"},
		{"in-service", "使用中检查 / In-service inspection"},
		{"sampling-new", "监督抽查 (已首检未安装) / Supervision sampling, verified not "
				 "installed"},
		{"sampling-in-use", "监督抽查 (在用) / Supervision sampling, in use"},
		{"complaint", "投诉举报检定 / Verification on complaint"},
	};
	for (size_t i = 0; v && i < METRO_ARRAY_SIZE(names); i++)
		if (!strcmp(v, names[i][0]))
			return names[i][1];
	return v ? v : "—";
}

const char *rpt_verdict_name(const char *v)
{
	static const char *const names[][2] = {
		{"pass", "合格 / Pass"},
		{"conditional", "合格 (复检) / Pass on retest"},
		{"fail", "不合格 / Fail"},
		{"aborted", "检定中止 / Not completed (aborted)"},
		{"error", "检定失败 / Not completed (error)"},
	};
	for (size_t i = 0; v && i < METRO_ARRAY_SIZE(names); i++)
		if (!strcmp(v, names[i][0]))
			return names[i][1];
	return v ? v : "—";
}

/* A nameplate field as text: strings as recorded, numbers in their shortest form. */
static const char *np_field(json_t *np, const char *k, char *buf, size_t cap)
{
	json_t *v = json_object_get(np, k);
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v)) {
		snprintf(buf, cap, "%lld", (long long)json_integer_value(v));
		return buf;
	}
	if (json_is_real(v)) {
		snprintf(buf, cap, "%.15g", json_real_value(v));
		return buf;
	}
	return NULL;
}

/* Gas meter designations by qmax (EN 1359 / OIML R137 series). */
static const char *gas_designation(const char *qmax)
{
	static const char *const g[][2] = {{"2.5", "G1.6"}, {"4", "G2.5"}, {"6", "G4"},
					   {"10", "G6"},    {"16", "G10"}, {"25", "G16"},
					   {"40", "G25"}};
	for (size_t i = 0; qmax && i < METRO_ARRAY_SIZE(g); i++)
		if (!strcmp(qmax, g[i][0]))
			return g[i][1];
	return NULL;
}

static const char *word_name(const char *field, const char *v)
{
	static const char *const names[][3] = {
		{"phases", "1", "单相 single-phase"},
		{"phases", "3", "三相四线 three-phase four-wire"},
		{"phases", "3w", "三相三线 three-phase three-wire"},
		{"connection", "direct", "直接接入 direct connection"},
		{"connection", "ct", "经互感器接入 via current transformers"},
		{"medium", "natural-gas", "天然气 natural gas"},
		{"medium", "manufactured-gas", "人工煤气 manufactured gas"},
		{"medium", "lpg", "液化石油气 LPG"},
	};
	for (size_t i = 0; v && i < METRO_ARRAY_SIZE(names); i++)
		if (!strcmp(field, names[i][0]) && !strcmp(v, names[i][1]))
			return names[i][2];
	return v;
}

void rpt_nameplate_text(const char *meter, json_t *np, char *out, size_t cap)
{
	char b[6][48];
	size_t n = 0;
	const char *used[8] = {"class"};
	size_t nused = 1;
#define ADD(...)                                                              \
	do {                                                                  \
		if (n < cap)                                                  \
			n += (size_t)snprintf(out + n, cap - n, __VA_ARGS__); \
	} while (0)
#define F(i, k) (used[nused++] = (k), np_field(np, (k), b[i], sizeof b[i]))
	out[0] = '\0';
	if (meter && !strcmp(meter, "electricity")) {
		const char *un = F(0, "un"), *ib = F(1, "ib"), *imax = F(2, "imax");
		const char *c = F(3, "meter_constant"), *ph = F(4, "phases");
		const char *conn = F(5, "connection");
		if (un)
			ADD("%s V", un);
		if (ib)
			ADD("%s%s%s%s%s A", n ? " " : "", ib, imax ? "(" : "", imax ? imax : "",
			    imax ? ")" : "");
		if (c)
			ADD("%s%s imp/kWh", n ? " " : "", c);
		if (ph)
			ADD("%s%s", n ? " " : "", word_name("phases", ph));
		if (conn)
			ADD("%s%s", n ? " " : "", word_name("connection", conn));
	} else if (meter && !strcmp(meter, "water")) {
		const char *q3 = F(0, "q3"), *r = F(1, "r"), *dn = F(2, "dn");
		const char *d = F(3, "scale_interval_l");
		if (q3)
			ADD("Q3 %s m³/h", q3);
		if (r)
			ADD("%sR%s", n ? " " : "", r);
		if (dn)
			ADD("%sDN%s", n ? " " : "", dn);
		if (d)
			ADD("%s检定分度值 δ %s L", n ? ", " : "", d);
	} else if (meter && !strcmp(meter, "gas")) {
		const char *qmax = F(0, "qmax"), *qmin = F(1, "qmin"), *m = F(2, "medium");
		const char *g = gas_designation(qmax);
		if (g)
			ADD("%s ", g);
		if (qmax)
			ADD("qmax %s m³/h", qmax);
		if (qmin)
			ADD("%sqmin %s m³/h", n ? " " : "", qmin);
		if (m)
			ADD("%s%s", n ? ", " : "", word_name("medium", m));
	}
	/* what this function does not know by name: as recorded */
	const char *k;
	json_t *v;
	json_object_foreach (np, k, v) {
		size_t u = 0;
		while (u < nused && strcmp(used[u], k) != 0)
			u++;
		char num[48];
		const char *s = np_field(np, k, num, sizeof num);
		if (u < nused || !s)
			continue;
		ADD("%s%s %s", n ? ", " : "", k, s);
	}
#undef F
#undef ADD
	if (!out[0])
		snprintf(out, cap, "—");
}

struct np_arg {
	json_t *np;
	char buf[48];
};

static const char *np_value(const char *field, void *arg)
{
	struct np_arg *a = arg;
	return np_field(a->np, field, a->buf, sizeof a->buf);
}

const struct metro_cert_rule *rpt_cert_rule(const struct metro_procedure *p, json_t *nameplate)
{
	struct np_arg a = {nameplate, ""};
	return metro_procedure_cert_rule(p, np_value, &a);
}
