/* metroctl_report_stats.c — the special-inspection statistics table: counting, the side
 * file, XLSX and CSV.  See metroctl_report_stats.h. */
#include <stdlib.h>
#include <string.h>
#include <xlsxwriter.h>

#include "diag.h"
#include "metroctl_report_stats.h"
#include "util.h"
#include "yfile.h"

/* The columns after 计量器具种类, headers verbatim from the form.  group: 0 none, 1
 * 民用“三表”检查情况, 2 处理投诉举报情况 (which columns each group spans is [confirm],
 * docs/reports.md); of: the column a 不合格数量 or 发现违法行为数量 belongs to (its CSV name is
 * qualified by it), -1 none. */
static const struct {
	const char *head, *key; /* key: in the side file; NULL for the columns of the records */
	int text, group, of;
} cols[RPT_NCOLS] = {
	[RPT_IN_USE] = {"在用计量器具数量", "in_use", 0, 0, -1},
	[RPT_SAMPLED_NEW] = {"抽查已首检未安装的计量器具数量", NULL, 0, 1, -1},
	[RPT_SAMPLED_NEW_FAIL] = {"不合格数量", NULL, 0, 1, RPT_SAMPLED_NEW},
	[RPT_SAMPLED_IN_USE] = {"抽查在用计量器具数量", NULL, 0, 1, -1},
	[RPT_SAMPLED_IN_USE_FAIL] = {"不合格数量", NULL, 0, 1, RPT_SAMPLED_IN_USE},
	[RPT_VIOLATIONS] = {"发现违法行为数量", "violations", 0, 1, -1},
	[RPT_PRODUCERS] = {"民用“三表”生产企业检查情况", "producer_inspection", 1, 1, -1},
	[RPT_INSTITUTIONS] = {"检查检定机构数量", "institutions_inspected", 0, 1, -1},
	[RPT_INSTITUTION_VIOLATIONS] = {"发现违法行为数量", "institution_violations", 0, 1,
					RPT_INSTITUTIONS},
	[RPT_INSTITUTION_NOTES] = {"计量检定机构检查情况", "institution_inspection", 1, 1, -1},
	[RPT_SERVICE_COMPLAINTS] = {"服务企业受理投诉举报数量", "service_complaints", 0, 2, -1},
	[RPT_SERVICE_REPLACED] = {"服务企业更换计量器具数量", "service_replaced", 0, 2, -1},
	[RPT_COMPLAINT_VERIFIED] = {"计量机构对投诉举报计量器具开展检定数量", NULL, 0, 2, -1},
	[RPT_COMPLAINT_FAIL] = {"不合格数量", NULL, 0, 2, RPT_COMPLAINT_VERIFIED},
	[RPT_REGULATOR_COMPLAINTS] = {"市场监管部门受理投诉举报数量", "regulator_complaints", 0, 2,
				      -1},
	[RPT_CASES] = {"立案案件数量", "cases", 0, 2, -1},
};

static const char *const groups[] = {NULL, "民用“三表”检查情况", "处理投诉举报情况"};

const char rpt_simulated_warning[] =
	"警告：本表含模拟装置数据，不得上报。WARNING: this table includes records from simulated "
	"rigs: not for submission.";

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

const char *rpt_stats_group(int col)
{
	return col >= 0 && col < RPT_NCOLS ? groups[cols[col].group] : NULL;
}

void rpt_stats_csv_name(int col, char *out, size_t cap)
{
	if (col < 0 || col >= RPT_NCOLS) {
		snprintf(out, cap, "%s", "");
		return;
	}
	const char *g = groups[cols[col].group];
	snprintf(out, cap, "%s%s%s%s%s", g ? g : "", g ? "/" : "",
		 cols[col].of >= 0 ? cols[cols[col].of].head : "", cols[col].of >= 0 ? "/" : "",
		 cols[col].head);
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
	s->institutions_total = -1;
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

int rpt_stats_count(struct rpt_stats *s, const char *kind, const char *vtype, const char *serial,
		    int fail)
{
	int k = 0, col;
	while (k < RPT_KINDS && strcmp(kind_keys[k], kind) != 0)
		k++;
	if (k == RPT_KINDS || !serial)
		return -1;
	if (!strcmp(vtype, "sampling-new"))
		col = RPT_SAMPLED_NEW;
	else if (!strcmp(vtype, "sampling-in-use"))
		col = RPT_SAMPLED_IN_USE;
	else if (!strcmp(vtype, "complaint"))
		col = RPT_COMPLAINT_VERIFIED;
	else
		return 0;
	for (size_t i = 0; i < s->nseen; i++) {
		struct rpt_seen *m = &s->seen[i];
		if (m->kind == k && m->col == col && !strcmp(m->serial, serial)) {
			s->v[k][col + 1] += (fail ? 1 : 0) - (m->fail ? 1 : 0);
			m->fail = fail;
			return 0;
		}
	}
	if (s->nseen == s->capseen) {
		s->capseen = s->capseen ? 2 * s->capseen : 64;
		s->seen = metro_realloc(s->seen, s->capseen * sizeof *s->seen);
	}
	s->seen[s->nseen++] = (struct rpt_seen){k, col, metro_strdup(serial), fail};
	s->v[k][col]++;
	s->v[k][col + 1] += fail ? 1 : 0;
	return 0;
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
		{"header", 0}, {"electricity", 0}, {"water", 0}, {"gas", 0}, {"totals", 0}};
	yaml_node_t *v[5];
	metro_y_map(f, metro_y_root(f), "", top, 5, v);
	if (v[4]) {
		static const struct metro_yfield tf[] = {{"institutions_inspected", 0}};
		yaml_node_t *t[1];
		long x;
		metro_y_map(f, v[4], "totals", tf, 1, t);
		if (t[0] &&
		    !metro_y_long(f, t[0], "totals.institutions_inspected", 0, 2000000000L, &x))
			s->institutions_total = x;
	}
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

/* The total of a numeric column over the kinds (second sheet), or -1 when it stays empty: a
 * row leaves it empty, or it counts institutions, which several rows may share. */
static long long total(const struct rpt_stats *s, int c)
{
	if (c == RPT_INSTITUTIONS)
		return s->institutions_total;
	long long t = 0;
	for (int k = 0; k < RPT_KINDS; k++) {
		if (s->v[k][c] < 0)
			return -1;
		t += s->v[k][c];
	}
	return t;
}

struct fmts {
	lxw_format *title, *line, *warn, *head, *body, *wrap, *pct;
};

/* Every format names a Chinese font (宋体, SimSun) so that a spreadsheet program shows the
 * headers as the form does. */
static lxw_format *fmt_new(lxw_workbook *wb)
{
	lxw_format *f = workbook_add_format(wb);
	format_set_font_name(f, "宋体");
	format_set_font_charset(f, 134); /* GB2312 */
	format_set_font_size(f, 11);
	return f;
}

static void fmts_make(lxw_workbook *wb, struct fmts *f)
{
	f->title = fmt_new(wb);
	format_set_bold(f->title);
	format_set_font_size(f->title, 16);
	format_set_align(f->title, LXW_ALIGN_CENTER);
	format_set_align(f->title, LXW_ALIGN_VERTICAL_CENTER);
	f->line = fmt_new(wb);
	format_set_align(f->line, LXW_ALIGN_VERTICAL_CENTER);
	f->warn = fmt_new(wb);
	format_set_bold(f->warn);
	format_set_font_color(f->warn, 0xC00000);
	format_set_text_wrap(f->warn);
	format_set_align(f->warn, LXW_ALIGN_VERTICAL_CENTER);
	f->head = fmt_new(wb);
	format_set_bold(f->head);
	format_set_border(f->head, LXW_BORDER_THIN);
	format_set_text_wrap(f->head);
	format_set_align(f->head, LXW_ALIGN_CENTER);
	format_set_align(f->head, LXW_ALIGN_VERTICAL_CENTER);
	f->body = fmt_new(wb);
	format_set_border(f->body, LXW_BORDER_THIN);
	format_set_text_wrap(f->body);
	format_set_align(f->body, LXW_ALIGN_CENTER);
	format_set_align(f->body, LXW_ALIGN_VERTICAL_CENTER);
	f->wrap = fmt_new(wb);
	format_set_text_wrap(f->wrap);
	format_set_align(f->wrap, LXW_ALIGN_VERTICAL_TOP);
	f->pct = fmt_new(wb);
	format_set_border(f->pct, LXW_BORDER_THIN);
	format_set_align(f->pct, LXW_ALIGN_CENTER);
	format_set_num_format(f->pct, "0.0%");
}

/* Rows of the form (sheet 统计表): the title, four header lines, a warning line (empty unless
 * simulated records were counted), two header rows, the three kinds. */
enum {
	FORM_TITLE,
	FORM_UNIT,
	FORM_DATE,
	FORM_PERSON,
	FORM_CONTACT,
	FORM_WARN,
	FORM_HEAD1,
	FORM_HEAD2,
	FORM_ROWS
};

static void form_sheet(const struct rpt_stats *s, lxw_workbook *wb, const struct fmts *f)
{
	lxw_worksheet *ws = workbook_add_worksheet(wb, "统计表");
	const lxw_col_t last = RPT_NCOLS; /* columns 0..RPT_NCOLS: 计量器具种类 and the form's */
	char buf[600];
	worksheet_set_landscape(ws);
	worksheet_set_paper(ws, 9); /* A4 */
	worksheet_fit_to_pages(ws, 1, 0);
	worksheet_set_column(ws, 0, 0, 10, NULL);
	worksheet_set_column(ws, 1, last, 11, NULL);
	worksheet_set_column(ws, 1 + RPT_PRODUCERS, 1 + RPT_PRODUCERS, 18, NULL);
	worksheet_set_column(ws, 1 + RPT_INSTITUTION_NOTES, 1 + RPT_INSTITUTION_NOTES, 18, NULL);
	worksheet_set_row(ws, FORM_TITLE, 32, NULL);
	worksheet_merge_range(ws, FORM_TITLE, 0, FORM_TITLE, last,
			      "民用“三表”计量专项监督检查统计表", f->title);
	const char *const lines[] = {"填报单位（盖章）：", "填报日期：", "填报人：", "联系方式："};
	const char *const vals[] = {s->unit, s->date, s->person, s->contact};
	for (int i = 0; i < 4; i++) {
		snprintf(buf, sizeof buf, "%s%s", lines[i], vals[i] ? vals[i] : "");
		worksheet_merge_range(ws, (lxw_row_t)(FORM_UNIT + i), 0, (lxw_row_t)(FORM_UNIT + i),
				      last, buf, f->line);
	}
	if (s->simulated) {
		worksheet_set_row(ws, FORM_WARN, 30, NULL);
		worksheet_merge_range(ws, FORM_WARN, 0, FORM_WARN, last, rpt_simulated_warning,
				      f->warn);
	}
	worksheet_set_row(ws, FORM_HEAD1, 24, NULL);
	worksheet_set_row(ws, FORM_HEAD2, 80, NULL);
	worksheet_merge_range(ws, FORM_HEAD1, 0, FORM_HEAD2, 0, "计量器具种类", f->head);
	for (int c = 0; c < RPT_NCOLS;) {
		int e = c;
		while (e + 1 < RPT_NCOLS && cols[e + 1].group == cols[c].group)
			e++;
		lxw_col_t c0 = (lxw_col_t)(1 + c), c1 = (lxw_col_t)(1 + e);
		if (!cols[c].group) {
			for (int k = c; k <= e; k++)
				worksheet_merge_range(ws, FORM_HEAD1, (lxw_col_t)(1 + k),
						      FORM_HEAD2, (lxw_col_t)(1 + k), cols[k].head,
						      f->head);
		} else {
			worksheet_merge_range(ws, FORM_HEAD1, c0, FORM_HEAD1, c1,
					      groups[cols[c].group], f->head);
			for (int k = c; k <= e; k++)
				worksheet_write_string(ws, FORM_HEAD2, (lxw_col_t)(1 + k),
						       cols[k].head, f->head);
		}
		c = e + 1;
	}
	for (int k = 0; k < RPT_KINDS; k++) {
		lxw_row_t row = (lxw_row_t)(FORM_ROWS + k);
		worksheet_set_row(ws, row, 30, NULL);
		worksheet_write_string(ws, row, 0, kind_names[k], f->body);
		for (int c = 0; c < RPT_NCOLS; c++) {
			lxw_col_t col = (lxw_col_t)(1 + c);
			if (cols[c].text && s->text[k][c])
				worksheet_write_string(ws, row, col, s->text[k][c], f->body);
			else if (!cols[c].text && s->v[k][c] >= 0)
				worksheet_write_number(ws, row, col, (double)s->v[k][c], f->body);
			else
				worksheet_write_blank(ws, row, col, f->body);
		}
	}
}

/* Sheet 合计与合格率: not part of the form.  One row per numeric column of the form with the
 * kinds and their total, then the pass rates the records give, then the notes. */
static void totals_sheet(const struct rpt_stats *s, lxw_workbook *wb, const struct fmts *f)
{
	lxw_worksheet *ws = workbook_add_worksheet(wb, "合计与合格率");
	char buf[800];
	lxw_row_t r = 0;
	worksheet_set_column(ws, 0, 0, 60, NULL);
	worksheet_set_column(ws, 1, 1 + RPT_KINDS, 12, NULL);
	worksheet_merge_range(
		ws, r, 0, r, 1 + RPT_KINDS,
		"合计与合格率（附表，不属于上报表格） Totals and pass rates (not part of the form)",
		f->title);
	r++;
	if (s->simulated) {
		worksheet_set_row(ws, r, 30, NULL);
		worksheet_merge_range(ws, r, 0, r, 1 + RPT_KINDS, rpt_simulated_warning, f->warn);
		r++;
	}
	worksheet_write_string(ws, r, 0, "项目 item", f->head);
	for (int k = 0; k < RPT_KINDS; k++)
		worksheet_write_string(ws, r, (lxw_col_t)(1 + k), kind_names[k], f->head);
	worksheet_write_string(ws, r, 1 + RPT_KINDS, "合计", f->head);
	r++;
	for (int c = 0; c < RPT_NCOLS; c++, r++) {
		if (cols[c].text) {
			r--;
			continue;
		}
		rpt_stats_csv_name(c, buf, sizeof buf);
		worksheet_write_string(ws, r, 0, buf, f->body);
		for (int k = 0; k <= RPT_KINDS; k++) {
			long long x = k < RPT_KINDS ? s->v[k][c] : total(s, c);
			if (x >= 0)
				worksheet_write_number(ws, r, (lxw_col_t)(1 + k), (double)x,
						       f->body);
			else
				worksheet_write_blank(ws, r, (lxw_col_t)(1 + k), f->body);
		}
	}
	static const struct {
		int n, fail;
		const char *name;
	} rates[] = {
		{RPT_SAMPLED_NEW, RPT_SAMPLED_NEW_FAIL, "合格率：抽查已首检未安装的计量器具"},
		{RPT_SAMPLED_IN_USE, RPT_SAMPLED_IN_USE_FAIL, "合格率：抽查在用计量器具"},
		{RPT_COMPLAINT_VERIFIED, RPT_COMPLAINT_FAIL,
		 "合格率：计量机构对投诉举报计量器具开展检定"},
	};
	for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++, r++) {
		worksheet_write_string(ws, r, 0, rates[i].name, f->body);
		for (int k = 0; k <= RPT_KINDS; k++) {
			long long n = k < RPT_KINDS ? s->v[k][rates[i].n] : total(s, rates[i].n);
			long long bad =
				k < RPT_KINDS ? s->v[k][rates[i].fail] : total(s, rates[i].fail);
			if (n > 0)
				worksheet_write_number(ws, r, (lxw_col_t)(1 + k),
						       (double)(n - bad) / (double)n, f->pct);
			else
				worksheet_write_blank(ws, r, (lxw_col_t)(1 + k), f->pct);
		}
	}
	r++;
	snprintf(buf, sizeof buf,
		 "统计期间 %s 至 %s。抽查与投诉举报检定各列由 metrod "
		 "检定记录统计（已验证、已签名的记录，"
		 "按检定类别计数，每只表计一次；合格率 = (数量 − 不合格数量) / 数量，数量为 0 "
		 "时空白）；"
		 "其余各列由填报单位填写，空白表示未填。检查检定机构数量的合计取附加文件 "
		 "totals.institutions_inspected（同一机构只计一次），未给出时空白。%s%s%s",
		 s->from, s->to, s->household ? "仅统计户用表（规则文件 " : "",
		 s->household ? s->household : "", s->household ? "）。" : "");
	worksheet_set_row(ws, r, 75, NULL);
	worksheet_merge_range(ws, r, 0, r, 1 + RPT_KINDS, buf, f->wrap);
}

int rpt_stats_xlsx(const struct rpt_stats *s, const char *path, const char *name, char *err,
		   size_t cap)
{
	lxw_workbook *wb = workbook_new(path);
	if (!wb) {
		snprintf(err, cap, "%s: cannot create the workbook", name);
		return -1;
	}
	struct fmts f;
	fmts_make(wb, &f);
	form_sheet(s, wb, &f);
	totals_sheet(s, wb, &f);
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
	char name[300];
	if (s->simulated) {
		rpt_csv_field(f, rpt_simulated_warning);
		fputc('\n', f);
	}
	fputs("计量器具种类", f);
	for (int c = 0; c < RPT_NCOLS; c++) {
		fputc(',', f);
		rpt_stats_csv_name(c, name, sizeof name);
		rpt_csv_field(f, name);
	}
	fputc('\n', f);
	for (int k = 0; k < RPT_KINDS; k++) {
		fputs(kind_names[k], f);
		for (int c = 0; c < RPT_NCOLS; c++) {
			fputc(',', f);
			if (cols[c].text && s->text[k][c])
				rpt_csv_field(f, s->text[k][c]);
			else if (!cols[c].text && s->v[k][c] >= 0)
				fprintf(f, "%lld", s->v[k][c]);
		}
		fputc('\n', f);
	}
}
