/* metroctl_report_summary.c — the per-period summary (metroctl_report_summary.h). */
#include "metroctl_report_summary.h"

#include <stdlib.h>
#include <string.h>
#include <xlsxwriter.h>

#include "metroctl_report_stats.h"
#include "util.h"

static const char *const kinds[][2] = {
	{"electricity", "电能表"}, {"water", "水表"}, {"gas", "燃气表"}};
static const char *const vtypes[][2] = {
	{"initial", "首次检定"},
	{"subsequent", "后续检定"},
	{"in-service", "使用中检查"},
	{"sampling-new", "监督抽查（已首检未安装）"},
	{"sampling-in-use", "监督抽查（在用）"},
	{"complaint", "投诉举报检定"},
};

void rpt_summary_init(struct rpt_summary *s, const char *from, const char *to)
{
	memset(s, 0, sizeof *s);
	snprintf(s->from, sizeof s->from, "%s", from);
	snprintf(s->to, sizeof s->to, "%s", to);
}

void rpt_summary_free(struct rpt_summary *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->rows[i].kind);
		free(s->rows[i].vtype);
	}
	free(s->rows);
	memset(s, 0, sizeof *s);
}

void rpt_summary_count(struct rpt_summary *s, const char *kind, const char *vtype,
		       const char *verdict)
{
	int pass = verdict && (!strcmp(verdict, "pass") || !strcmp(verdict, "conditional"));
	int fail = verdict && !strcmp(verdict, "fail");
	if (!pass && !fail) {
		s->not_verified++;
		return;
	}
	kind = kind ? kind : "unknown";
	vtype = vtype ? vtype : "unknown";
	size_t i = 0;
	while (i < s->n &&
	       (strcmp(s->rows[i].kind, kind) != 0 || strcmp(s->rows[i].vtype, vtype) != 0))
		i++;
	if (i == s->n) {
		if (s->n == s->cap) {
			s->cap = s->cap ? 2 * s->cap : 16;
			s->rows = metro_realloc(s->rows, s->cap * sizeof *s->rows);
		}
		s->rows[s->n++] =
			(struct rpt_summary_row){metro_strdup(kind), metro_strdup(vtype), 0, 0, 0};
	}
	s->rows[i].verified++;
	s->rows[i].passed += pass;
	s->rows[i].failed += fail;
}

/* The position of a name in a table of n, or n when it is not there. */
static size_t rank(const char *const (*t)[2], size_t n, const char *name)
{
	size_t i = 0;
	while (i < n && strcmp(t[i][0], name) != 0)
		i++;
	return i;
}

static int row_cmp(const void *a, const void *b)
{
	const struct rpt_summary_row *x = a, *y = b;
	size_t kx = rank(kinds, 3, x->kind), ky = rank(kinds, 3, y->kind);
	if (kx != ky)
		return kx < ky ? -1 : 1;
	int c = strcmp(x->kind, y->kind);
	if (c)
		return c;
	size_t vx = rank(vtypes, 6, x->vtype), vy = rank(vtypes, 6, y->vtype);
	if (vx != vy)
		return vx < vy ? -1 : 1;
	return strcmp(x->vtype, y->vtype);
}

void rpt_summary_sort(struct rpt_summary *s)
{
	if (s->n)
		qsort(s->rows, s->n, sizeof *s->rows, row_cmp);
}

void rpt_summary_rate(long long passed, long long verified, char *out, size_t cap)
{
	if (verified <= 0) {
		snprintf(out, cap, "%s", "");
		return;
	}
	long long num = passed * 1000, q = num / verified, r = num % verified;
	if (2 * r > verified || (2 * r == verified && (q & 1)))
		q++;
	snprintf(out, cap, "%lld.%lld", q / 10, q % 10);
}

static const char *kind_name(const char *k)
{
	size_t i = rank(kinds, 3, k);
	return i < 3 ? kinds[i][1] : k;
}

static const char *vtype_name(const char *v)
{
	size_t i = rank(vtypes, 6, v);
	return i < 6 ? vtypes[i][1] : v;
}

/* One line of the summary: a row, a kind's subtotal (vtype NULL) or the total (kind NULL). */
struct line {
	const char *kind, *kname, *vtype, *vname;
	long long verified, passed, failed;
};

typedef void (*line_fn)(void *arg, const struct line *l);

/* The rows, each kind's subtotal after its rows, then the total. */
static void each_line(struct rpt_summary *s, line_fn fn, void *arg)
{
	rpt_summary_sort(s);
	struct line total = {"all", "合计", "all", "全部 all", 0, 0, 0};
	for (size_t i = 0; i < s->n;) {
		struct line sub = {s->rows[i].kind,
				   kind_name(s->rows[i].kind),
				   "all",
				   "小计 all types",
				   0,
				   0,
				   0};
		size_t j = i;
		for (; j < s->n && !strcmp(s->rows[j].kind, s->rows[i].kind); j++) {
			const struct rpt_summary_row *r = &s->rows[j];
			struct line l = {r->kind,     sub.kname, r->vtype, vtype_name(r->vtype),
					 r->verified, r->passed, r->failed};
			fn(arg, &l);
			sub.verified += r->verified;
			sub.passed += r->passed;
			sub.failed += r->failed;
		}
		fn(arg, &sub);
		total.verified += sub.verified;
		total.passed += sub.passed;
		total.failed += sub.failed;
		i = j;
	}
	fn(arg, &total);
}

static void csv_line(void *arg, const struct line *l)
{
	FILE *f = arg;
	char rate[16];
	rpt_summary_rate(l->passed, l->verified, rate, sizeof rate);
	const char *cells[] = {l->kind, l->kname, l->vtype, l->vname};
	for (size_t i = 0; i < 4; i++) {
		rpt_csv_field(f, cells[i]);
		fputc(',', f);
	}
	fprintf(f, "%lld,%lld,%lld,%s\n", l->verified, l->passed, l->failed, rate);
}

static void notes(const struct rpt_summary *s, char *buf, size_t cap)
{
	snprintf(buf, cap,
		 "统计期间 %s 至 %s（按运行开始的本地日期）。检定数量 = "
		 "有结论的检定（合格、复检合格、"
		 "不合格），每次检定计一次；中止或出错的 %lld 次未计入。%s%s%s",
		 s->from, s->to, s->not_verified, s->household ? "仅统计户用表（规则文件 " : "",
		 s->household ? s->household : "", s->household ? "）。" : "");
}

void rpt_summary_csv(struct rpt_summary *s, FILE *f)
{
	if (s->simulated) {
		rpt_csv_field(f, rpt_simulated_warning);
		fputc('\n', f);
	}
	fputs("meter_kind,计量器具种类,verification_type,检定类别,检定数量 verified,合格数量 "
	      "passed,"
	      "不合格数量 failed,合格率 pass rate %\n",
	      f);
	each_line(s, csv_line, f);
}

/* Display width of UTF-8 text: a CJK character takes two columns. */
static int width(const char *s)
{
	int w = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p & 0xC0) == 0x80)
			continue;
		w += *p >= 0xE0 ? 2 : 1;
	}
	return w;
}

static void pad(FILE *f, const char *s, int w)
{
	fputs(s, f);
	for (int n = width(s); n < w; n++)
		fputc(' ', f);
}

static void text_line(void *arg, const struct line *l)
{
	FILE *f = arg;
	char rate[16];
	rpt_summary_rate(l->passed, l->verified, rate, sizeof rate);
	pad(f, l->kname, 8);
	pad(f, l->vname, 28);
	fprintf(f, "%8lld %8lld %8lld %8s%s\n", l->verified, l->passed, l->failed, rate,
		rate[0] ? " %" : "");
}

void rpt_summary_text(struct rpt_summary *s, FILE *f)
{
	char buf[600];
	if (s->simulated)
		fprintf(f, "%s\n", rpt_simulated_warning);
	fprintf(f, "检定工作汇总 Verification summary %s .. %s\n", s->from, s->to);
	pad(f, "种类", 8);
	pad(f, "检定类别", 28);
	fprintf(f, "%8s %8s %8s %8s\n", "verified", "passed", "failed", "rate");
	each_line(s, text_line, f);
	notes(s, buf, sizeof buf);
	fprintf(f, "%s\n", buf);
}

struct xlsx_walk {
	lxw_worksheet *ws;
	lxw_format *body, *sum;
	lxw_row_t row;
};

static void xlsx_line(void *arg, const struct line *l)
{
	struct xlsx_walk *w = arg;
	lxw_format *fm = strcmp(l->vtype, "all") ? w->body : w->sum;
	char rate[16];
	rpt_summary_rate(l->passed, l->verified, rate, sizeof rate);
	worksheet_write_string(w->ws, w->row, 0, l->kname, fm);
	worksheet_write_string(w->ws, w->row, 1, l->vname, fm);
	worksheet_write_number(w->ws, w->row, 2, (double)l->verified, fm);
	worksheet_write_number(w->ws, w->row, 3, (double)l->passed, fm);
	worksheet_write_number(w->ws, w->row, 4, (double)l->failed, fm);
	if (rate[0])
		worksheet_write_number(w->ws, w->row, 5, strtod(rate, NULL), fm);
	else
		worksheet_write_blank(w->ws, w->row, 5, fm);
	w->row++;
}

static lxw_format *fmt(lxw_workbook *wb, int bold, int border)
{
	lxw_format *f = workbook_add_format(wb);
	format_set_font_name(f, "宋体");
	format_set_font_charset(f, 134);
	if (bold)
		format_set_bold(f);
	if (border)
		format_set_border(f, LXW_BORDER_THIN);
	return f;
}

int rpt_summary_xlsx(struct rpt_summary *s, const char *path, const char *name, char *err,
		     size_t cap)
{
	lxw_workbook *wb = workbook_new(path);
	if (!wb) {
		snprintf(err, cap, "%s: cannot create the workbook", name);
		return -1;
	}
	lxw_worksheet *ws = workbook_add_worksheet(wb, "检定汇总");
	lxw_format *title = fmt(wb, 1, 0), *head = fmt(wb, 1, 1), *warn = fmt(wb, 1, 0),
		   *wrap = fmt(wb, 0, 0);
	format_set_font_size(title, 14);
	format_set_font_color(warn, 0xC00000);
	format_set_text_wrap(wrap);
	format_set_align(wrap, LXW_ALIGN_VERTICAL_TOP);
	struct xlsx_walk w = {ws, fmt(wb, 0, 1), fmt(wb, 1, 1), 0};
	char buf[600];
	worksheet_set_column(ws, 0, 0, 10, NULL);
	worksheet_set_column(ws, 1, 1, 28, NULL);
	worksheet_set_column(ws, 2, 5, 12, NULL);
	snprintf(buf, sizeof buf, "检定工作汇总 Verification summary %s 至 %s", s->from, s->to);
	worksheet_merge_range(ws, w.row, 0, w.row, 5, buf, title);
	w.row++;
	if (s->simulated) {
		worksheet_merge_range(ws, w.row, 0, w.row, 5, rpt_simulated_warning, warn);
		w.row++;
	}
	static const char *const heads[] = {"计量器具种类",	 "检定类别",
					    "检定数量 verified", "合格数量 passed",
					    "不合格数量 failed", "合格率 % pass rate"};
	for (lxw_col_t c = 0; c < 6; c++)
		worksheet_write_string(ws, w.row, c, heads[c], head);
	w.row++;
	each_line(s, xlsx_line, &w);
	notes(s, buf, sizeof buf);
	worksheet_set_row(ws, w.row, 45, NULL);
	worksheet_merge_range(ws, w.row, 0, w.row, 5, buf, wrap);
	lxw_error e = workbook_close(wb);
	if (e != LXW_NO_ERROR) {
		snprintf(err, cap, "%s: cannot write the workbook: %s", name, lxw_strerror(e));
		return -1;
	}
	return 0;
}
