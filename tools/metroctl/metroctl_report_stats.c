/* metroctl_report_stats.c — the special-inspection statistics table: counting, the side
 * file, XLSX and CSV.  See metroctl_report_stats.h. */
#include <stdlib.h>
#include <string.h>
#include <xlsxwriter.h>

#include "diag.h"
#include "metroctl_report_stats.h"
#include "util.h"
#include "yfile.h"

static const struct {
	const char *head, *key; /* key: in the side file; NULL for the columns of the records */
	int text;
} cols[RPT_NCOLS] = {
	[RPT_IN_USE] = {"在用计量器具数量", "in_use", 0},
	[RPT_SAMPLED_NEW] = {"抽查已首检未安装的计量器具数量", NULL, 0},
	[RPT_SAMPLED_NEW_FAIL] = {"不合格数量", NULL, 0},
	[RPT_SAMPLED_IN_USE] = {"抽查在用计量器具数量", NULL, 0},
	[RPT_SAMPLED_IN_USE_FAIL] = {"不合格数量", NULL, 0},
	[RPT_VIOLATIONS] = {"发现违法行为数量", "violations", 0},
	[RPT_PRODUCERS] = {"民用“三表”生产企业检查情况", "producer_inspection", 1},
	[RPT_INSTITUTIONS] = {"检查检定机构数量", "institutions_inspected", 0},
	[RPT_INSTITUTION_VIOLATIONS] = {"发现违法行为数量", "institution_violations", 0},
	[RPT_INSTITUTION_NOTES] = {"检定机构检查情况", "institution_inspection", 1},
	[RPT_SERVICE_COMPLAINTS] = {"服务企业受理投诉举报数量", "service_complaints", 0},
	[RPT_SERVICE_REPLACED] = {"服务企业更换计量器具数量", "service_replaced", 0},
	[RPT_COMPLAINT_VERIFIED] = {"计量机构对投诉举报计量器具开展检定数量", NULL, 0},
	[RPT_COMPLAINT_FAIL] = {"不合格数量", NULL, 0},
	[RPT_REGULATOR_COMPLAINTS] = {"市场监管部门受理投诉举报数量", "regulator_complaints", 0},
	[RPT_CASES] = {"立案案件数量", "cases", 0},
};

static const char *const kind_names[RPT_KINDS] = {"电能表", "水表", "燃气表"};
static const char *const kind_keys[RPT_KINDS] = {"electricity", "water", "gas"};

struct rpt_seen {
	int kind, col; /* col: the count column of the verification type */
	char *serial;
	int fail;
};

const char *rpt_stats_header(int col)
{
	return col >= 0 && col < RPT_NCOLS ? cols[col].head : "";
}

int rpt_stats_from_records(int col)
{
	return col >= 0 && col < RPT_NCOLS && !cols[col].key;
}

const char *rpt_stats_kind_name(int kind)
{
	return kind >= 0 && kind < RPT_KINDS ? kind_names[kind] : "";
}

void rpt_stats_init(struct rpt_stats *s, const char *from, const char *to)
{
	memset(s, 0, sizeof *s);
	snprintf(s->from, sizeof s->from, "%s", from);
	snprintf(s->to, sizeof s->to, "%s", to);
	for (int k = 0; k < RPT_KINDS; k++)
		for (int c = 0; c < RPT_NCOLS; c++)
			s->v[k][c] = rpt_stats_from_records(c) ? 0 : -1;
}

void rpt_stats_free(struct rpt_stats *s)
{
	free(s->unit);
	free(s->date);
	free(s->person);
	free(s->contact);
	for (int k = 0; k < RPT_KINDS; k++)
		for (int c = 0; c < RPT_NCOLS; c++)
			free(s->text[k][c]);
	for (size_t i = 0; i < s->nseen; i++)
		free(s->seen[i].serial);
	free(s->seen);
	memset(s, 0, sizeof *s);
}

void rpt_stats_count(struct rpt_stats *s, const char *kind, const char *vtype, const char *serial,
		     int fail)
{
	int k = 0, col;
	while (k < RPT_KINDS && strcmp(kind_keys[k], kind) != 0)
		k++;
	if (k == RPT_KINDS || !serial)
		return;
	if (!strcmp(vtype, "sampling-new"))
		col = RPT_SAMPLED_NEW;
	else if (!strcmp(vtype, "sampling-in-use"))
		col = RPT_SAMPLED_IN_USE;
	else if (!strcmp(vtype, "complaint"))
		col = RPT_COMPLAINT_VERIFIED;
	else
		return;
	for (size_t i = 0; i < s->nseen; i++) {
		struct rpt_seen *m = &s->seen[i];
		if (m->kind == k && m->col == col && !strcmp(m->serial, serial)) {
			s->v[k][col + 1] += (fail ? 1 : 0) - (m->fail ? 1 : 0);
			m->fail = fail;
			return;
		}
	}
	if (s->nseen == s->capseen) {
		s->capseen = s->capseen ? 2 * s->capseen : 64;
		s->seen = metro_realloc(s->seen, s->capseen * sizeof *s->seen);
	}
	s->seen[s->nseen++] = (struct rpt_seen){k, col, metro_strdup(serial), fail};
	s->v[k][col]++;
	s->v[k][col + 1] += fail ? 1 : 0;
}

/* ---- the side file ------------------------------------------------------------------------- */

static void side_kind(struct rpt_stats *s, struct metro_yfile *f, yaml_node_t *n, int k)
{
	struct metro_yfield fields[RPT_NCOLS];
	int map[RPT_NCOLS];
	size_t nf = 0;
	for (int c = 0; c < RPT_NCOLS; c++)
		if (cols[c].key) {
			fields[nf] = (struct metro_yfield){cols[c].key, 0};
			map[nf++] = c;
		}
	yaml_node_t *v[RPT_NCOLS];
	metro_y_map(f, n, kind_keys[k], fields, nf, v);
	for (size_t i = 0; i < nf; i++) {
		if (!v[i])
			continue;
		char name[80];
		int c = map[i];
		snprintf(name, sizeof name, "%s.%s", kind_keys[k], cols[c].key);
		if (cols[c].text) {
			metro_y_str(f, v[i], name, 2000, &s->text[k][c]);
		} else {
			long x;
			if (!metro_y_long(f, v[i], name, 0, 2000000000L, &x))
				s->v[k][c] = x;
		}
	}
}

int rpt_stats_extra(struct rpt_stats *s, const char *path)
{
	struct metro_diag d;
	struct metro_yfile *f;
	metro_diag_init(&d);
	if (metro_yfile_load(path, &d, &f)) {
		metro_diag_print(&d, stderr);
		metro_diag_free(&d);
		return -1;
	}
	static const struct metro_yfield top[] = {
		{"header", 0}, {"electricity", 0}, {"water", 0}, {"gas", 0}};
	yaml_node_t *v[4];
	metro_y_map(f, metro_y_root(f), "", top, 4, v);
	if (v[0]) {
		static const struct metro_yfield hf[] = {
			{"unit", 0}, {"date", 0}, {"person", 0}, {"contact", 0}};
		yaml_node_t *h[4];
		char **dst[4] = {&s->unit, &s->date, &s->person, &s->contact};
		metro_y_map(f, v[0], "header", hf, 4, h);
		for (int i = 0; i < 4; i++)
			if (h[i]) {
				char name[32];
				snprintf(name, sizeof name, "header.%s", hf[i].key);
				metro_y_str(f, h[i], name, 200, dst[i]);
			}
	}
	for (int k = 0; k < RPT_KINDS; k++)
		if (v[1 + k])
			side_kind(s, f, v[1 + k], k);
	metro_yfile_destroy(&f);
	int bad = metro_diag_count(&d) != 0;
	if (bad) {
		metro_diag_print(&d, stderr);
		fprintf(stderr,
			"metroctl: %s: the statistics side file has errors; nothing was "
			"written\n",
			path);
	}
	metro_diag_free(&d);
	return bad ? -1 : 0;
}

/* ---- output -------------------------------------------------------------------------------- */

/* The total of a numeric column, or -1 when any row leaves it empty. */
static long long total(const struct rpt_stats *s, int c)
{
	long long t = 0;
	for (int k = 0; k < RPT_KINDS; k++) {
		if (s->v[k][c] < 0)
			return -1;
		t += s->v[k][c];
	}
	return t;
}

static const char *note_text(const struct rpt_stats *s, char *buf, size_t cap)
{
	snprintf(buf, cap,
		 "统计期间 %s 至 %s。抽查与投诉举报检定各列由 metrod 检定记录统计（已验证、已签名的"
		 "记录，按检定类别计数，每只表计一次）；其余各列由填报单位填写，空白表示未填。%s",
		 s->from, s->to,
		 s->simulated ? "本表含模拟装置数据，不得上报。(Includes simulated data: not "
				"for submission.)"
			      : "");
	return buf;
}

int rpt_stats_xlsx(const struct rpt_stats *s, const char *path, const char *name, char *err,
		   size_t cap)
{
	lxw_workbook *wb = workbook_new(path);
	if (!wb) {
		snprintf(err, cap, "%s: cannot create the workbook", name);
		return -1;
	}
	lxw_worksheet *ws = workbook_add_worksheet(wb, "统计表");
	lxw_format *title = workbook_add_format(wb), *head = workbook_add_format(wb),
		   *body = workbook_add_format(wb), *plain = workbook_add_format(wb),
		   *wrap = workbook_add_format(wb);
	format_set_bold(title);
	format_set_font_size(title, 16);
	format_set_align(title, LXW_ALIGN_CENTER);
	format_set_align(title, LXW_ALIGN_VERTICAL_CENTER);
	format_set_bold(head);
	format_set_border(head, LXW_BORDER_THIN);
	format_set_text_wrap(head);
	format_set_align(head, LXW_ALIGN_CENTER);
	format_set_align(head, LXW_ALIGN_VERTICAL_CENTER);
	format_set_bg_color(head, 0xEEEEEE);
	format_set_border(body, LXW_BORDER_THIN);
	format_set_text_wrap(body);
	format_set_align(body, LXW_ALIGN_CENTER);
	format_set_align(body, LXW_ALIGN_VERTICAL_CENTER);
	format_set_text_wrap(wrap);
	format_set_align(wrap, LXW_ALIGN_VERTICAL_TOP);
	const int last = RPT_NCOLS; /* columns 0..RPT_NCOLS: 类别 and the counts */
	char buf[600];

	worksheet_set_landscape(ws);
	worksheet_set_paper(ws, 9); /* A4 */
	worksheet_fit_to_pages(ws, 1, 0);
	worksheet_set_column(ws, 0, 0, 9, NULL);
	worksheet_set_column(ws, 1, last, 11, NULL);
	worksheet_set_column(ws, 1 + RPT_PRODUCERS, 1 + RPT_PRODUCERS, 18, NULL);
	worksheet_set_column(ws, 1 + RPT_INSTITUTION_NOTES, 1 + RPT_INSTITUTION_NOTES, 18, NULL);
	worksheet_set_row(ws, 0, 32, NULL);
	worksheet_merge_range(ws, 0, 0, 0, last, "民用“三表”计量专项监督检查统计表", title);
	snprintf(buf, sizeof buf, "填报单位（盖章）：%s", s->unit ? s->unit : "");
	worksheet_merge_range(ws, 1, 0, 1, last / 2, buf, plain);
	snprintf(buf, sizeof buf, "填报日期：%s", s->date ? s->date : "");
	worksheet_merge_range(ws, 1, last / 2 + 1, 1, last, buf, plain);
	worksheet_set_row(ws, 2, 80, NULL);
	worksheet_write_string(ws, 2, 0, "类别", head);
	for (int c = 0; c < RPT_NCOLS; c++)
		worksheet_write_string(ws, 2, (lxw_col_t)(1 + c), cols[c].head, head);
	for (int k = 0; k <= RPT_KINDS; k++) {
		lxw_row_t row = (lxw_row_t)(3 + k);
		worksheet_set_row(ws, row, 30, NULL);
		worksheet_write_string(ws, row, 0, k < RPT_KINDS ? kind_names[k] : "合计", body);
		for (int c = 0; c < RPT_NCOLS; c++) {
			lxw_col_t col = (lxw_col_t)(1 + c);
			long long x = k < RPT_KINDS ? s->v[k][c] : total(s, c);
			if (cols[c].text && k < RPT_KINDS && s->text[k][c])
				worksheet_write_string(ws, row, col, s->text[k][c], body);
			else if (!cols[c].text && x >= 0)
				worksheet_write_number(ws, row, col, (double)x, body);
			else
				worksheet_write_blank(ws, row, col, body);
		}
	}
	lxw_row_t foot = 3 + RPT_KINDS + 1;
	snprintf(buf, sizeof buf, "填报人：%s", s->person ? s->person : "");
	worksheet_merge_range(ws, foot, 0, foot, last / 2, buf, plain);
	snprintf(buf, sizeof buf, "联系电话：%s", s->contact ? s->contact : "");
	worksheet_merge_range(ws, foot, last / 2 + 1, foot, last, buf, plain);
	worksheet_set_row(ws, foot + 1, 45, NULL);
	worksheet_merge_range(ws, foot + 1, 0, foot + 1, last, note_text(s, buf, sizeof buf), wrap);
	lxw_error e = workbook_close(wb);
	if (e != LXW_NO_ERROR) {
		snprintf(err, cap, "%s: cannot write the workbook: %s", name, lxw_strerror(e));
		return -1;
	}
	return 0;
}

void rpt_csv_field(FILE *f, const char *s)
{
	if (strpbrk(s, ",\"\r\n")) {
		fputc('"', f);
		for (; *s; s++) {
			if (*s == '"')
				fputc('"', f);
			fputc(*s, f);
		}
		fputc('"', f);
	} else {
		fputs(s, f);
	}
}

void rpt_stats_csv(const struct rpt_stats *s, FILE *f)
{
	fputs("类别", f);
	for (int c = 0; c < RPT_NCOLS; c++) {
		fputc(',', f);
		rpt_csv_field(f, cols[c].head);
	}
	fputc('\n', f);
	for (int k = 0; k <= RPT_KINDS; k++) {
		fputs(k < RPT_KINDS ? kind_names[k] : "合计", f);
		for (int c = 0; c < RPT_NCOLS; c++) {
			long long x = k < RPT_KINDS ? s->v[k][c] : total(s, c);
			fputc(',', f);
			if (cols[c].text && k < RPT_KINDS && s->text[k][c])
				rpt_csv_field(f, s->text[k][c]);
			else if (!cols[c].text && x >= 0)
				fprintf(f, "%lld", x);
		}
		fputc('\n', f);
	}
}
