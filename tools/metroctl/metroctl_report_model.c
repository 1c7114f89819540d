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
