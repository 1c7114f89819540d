/* metroctl_report_pdf.c — certificates, notices and batch reports as PDF (cairo + pango).
 *
 * A4 portrait, a CJK font through fontconfig (WenQuanYi Micro Hei from fonts-wqy-microhei: its
 * TrueType outlines subset to a few tens of kilobytes, where cairo 1.16 embeds about 500 KB
 * per face of the CFF-based Noto Sans CJK, which is the fallback), a
 * small flow layout: text blocks that wrap, tables that break across pages and repeat their
 * header, and the error-curve plot.  Each document is drawn twice: once into a discarding
 * stream to count its pages, then into the file with "page n of N" in every footer.
 */
#include <cairo-pdf.h>
#include <cairo.h>
#include <errno.h>
#include <fontconfig/fontconfig.h>
#include <math.h>
#include <pango/pangocairo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decimal.h"
#include "metroctl_report_envelope.h"
#include "metroctl_report_pdf.h"
#include "procedure.h"
#include "util.h"

#define PAGE_W 595.276
#define PAGE_H 841.890
#define MARGIN 50.0
#define BODY_W (PAGE_W - 2 * MARGIN)
#define TOP (MARGIN + 22.0)
#define BOTTOM (PAGE_H - MARGIN - 20.0)
#define FONT "WenQuanYi Micro Hei, Noto Sans CJK SC"
#define PAD 3.0

enum { LEFT, CENTER, RIGHT };

struct pdf {
	cairo_surface_t *surf;
	cairo_t *cr;
	PangoContext *pc; /* one per document: layouts share its font cache */
	double y;
	int page, total;
	const struct rpt_ctx *ctx;
	const char *running; /* footer: certificate number or run */
	int simulated;	     /* watermark every page */
};

/* ---- text ---------------------------------------------------------------------------------- */

static PangoLayout *layout(struct pdf *p, const char *s, double size, int bold, double w, int align)
{
	PangoLayout *l = pango_layout_new(p->pc);
	PangoFontDescription *fd = pango_font_description_from_string(FONT);
	pango_font_description_set_absolute_size(fd, size * PANGO_SCALE);
	pango_font_description_set_weight(fd, bold ? PANGO_WEIGHT_BOLD : PANGO_WEIGHT_NORMAL);
	pango_layout_set_font_description(l, fd);
	pango_font_description_free(fd);
	pango_layout_set_width(l, (int)(w * PANGO_SCALE));
	pango_layout_set_wrap(l, PANGO_WRAP_WORD_CHAR);
	pango_layout_set_alignment(l, align == CENTER  ? PANGO_ALIGN_CENTER
				      : align == RIGHT ? PANGO_ALIGN_RIGHT
						       : PANGO_ALIGN_LEFT);
	pango_layout_set_text(l, s ? s : "", -1);
	return l;
}

static double text_h(struct pdf *p, const char *s, double size, int bold, double w)
{
	PangoLayout *l = layout(p, s, size, bold, w, LEFT);
	int pw, ph;
	pango_layout_get_size(l, &pw, &ph);
	g_object_unref(l);
	return (double)ph / PANGO_SCALE;
}

/* Draw s in the box at (x, y) of width w; returns the height used. */
static double text_at(struct pdf *p, double x, double y, double w, const char *s, double size,
		      int bold, int align)
{
	PangoLayout *l = layout(p, s, size, bold, w, align);
	int pw, ph;
	pango_layout_get_size(l, &pw, &ph);
	cairo_move_to(p->cr, x, y);
	pango_cairo_show_layout(p->cr, l);
	g_object_unref(l);
	return (double)ph / PANGO_SCALE;
}

/* ---- pages --------------------------------------------------------------------------------- */

static void furniture(struct pdf *p)
{
	cairo_t *cr = p->cr;
	const char *inst = p->ctx->station.institution;
	cairo_set_source_rgb(cr, 0.35, 0.35, 0.35);
	text_at(p, MARGIN, MARGIN, BODY_W, inst ? inst : "", 8, 0, LEFT);
	text_at(p, MARGIN, MARGIN, BODY_W, p->running, 8, 0, RIGHT);
	cairo_set_line_width(cr, 0.5);
	cairo_move_to(cr, MARGIN, MARGIN + 14);
	cairo_line_to(cr, PAGE_W - MARGIN, MARGIN + 14);
	cairo_stroke(cr);
	char foot[160];
	if (p->total)
		snprintf(foot, sizeof foot, "第 %d 页 共 %d 页 / Page %d of %d", p->page, p->total,
			 p->page, p->total);
	else
		snprintf(foot, sizeof foot, "第 %d 页 / Page %d", p->page, p->page);
	text_at(p, MARGIN, PAGE_H - MARGIN - 10, BODY_W, foot, 8, 0, CENTER);
	char made[96];
	snprintf(made, sizeof made, "metrod %s · %s", METRO_VERSION, p->ctx->generated);
	text_at(p, MARGIN, PAGE_H - MARGIN - 10, BODY_W, made, 7, 0, RIGHT);
	if (p->simulated) {
		cairo_save(cr);
		cairo_translate(cr, PAGE_W / 2, PAGE_H / 2);
		cairo_rotate(cr, -M_PI / 5);
		cairo_set_source_rgba(cr, 0.85, 0.1, 0.1, 0.13);
		PangoLayout *l =
			layout(p, "模拟数据 · SIMULATED\n不具法律效力 · NOT A LEGAL DOCUMENT", 30,
			       1, 560, CENTER);
		int w, h;
		pango_layout_get_size(l, &w, &h);
		cairo_move_to(cr, -280, -(double)h / PANGO_SCALE / 2);
		pango_cairo_show_layout(cr, l);
		g_object_unref(l);
		cairo_restore(cr);
	}
	cairo_set_source_rgb(cr, 0, 0, 0);
	p->y = TOP;
}

static void new_page(struct pdf *p)
{
	if (p->page)
		cairo_show_page(p->cr);
	p->page++;
	furniture(p);
}

/* Make room for h points: a new page when they do not fit. */
static void need(struct pdf *p, double h)
{
	if (p->y + h > BOTTOM)
		new_page(p);
}

static void heading(struct pdf *p, const char *s)
{
	need(p, 60);
	p->y += 8;
	p->y += text_at(p, MARGIN, p->y, BODY_W, s, 11, 1, LEFT) + 4;
}

static void para(struct pdf *p, const char *s, double size)
{
	double h = text_h(p, s, size, 0, BODY_W);
	need(p, h);
	p->y += text_at(p, MARGIN, p->y, BODY_W, s, size, 0, LEFT) + 3;
}

/* ---- tables -------------------------------------------------------------------------------- */

struct table {
	size_t ncols;
	const double *w;	   /* fractions of BODY_W */
	const char *const *head;   /* NULL: no header row */
	double size;		   /* font size */
	const unsigned char *bold; /* per column: bold cells (may be NULL) */
};

static double row_h(struct pdf *p, const struct table *t, const char *const *cells, int bold)
{
	double h = 0;
	for (size_t c = 0; c < t->ncols; c++) {
		double ch = text_h(p, cells[c], t->size, bold || (t->bold && t->bold[c]),
				   t->w[c] * BODY_W - 2 * PAD);
		if (ch > h)
			h = ch;
	}
	return h + 2 * PAD;
}

static void row_draw(struct pdf *p, const struct table *t, const char *const *cells, int head,
		     double h)
{
	cairo_t *cr = p->cr;
	double x = MARGIN;
	for (size_t c = 0; c < t->ncols; c++) {
		double w = t->w[c] * BODY_W;
		if (head) {
			cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
			cairo_rectangle(cr, x, p->y, w, h);
			cairo_fill(cr);
		}
		cairo_set_source_rgb(cr, 0, 0, 0);
		cairo_set_line_width(cr, 0.5);
		cairo_rectangle(cr, x, p->y, w, h);
		cairo_stroke(cr);
		text_at(p, x + PAD, p->y + PAD, w - 2 * PAD, cells[c], t->size,
			head || (t->bold && t->bold[c]), LEFT);
		x += w;
	}
	p->y += h;
}

/* Rows of ncols cells each; breaks across pages, repeating the header. */
static void table(struct pdf *p, const struct table *t, const char *const *cells, size_t nrows)
{
	double hh = t->head ? row_h(p, t, t->head, 1) : 0;
	for (size_t r = 0; r < nrows; r++) {
		const char *const *row = cells + r * t->ncols;
		double h = row_h(p, t, row, 0);
		if (r == 0 || p->y + h > BOTTOM) {
			need(p, hh + h);
			if (t->head)
				row_draw(p, t, t->head, 1, hh);
		}
		row_draw(p, t, row, 0, h);
	}
	p->y += 6;
}

/* A growing list of owned strings, the cells of a table. */
struct cells {
	char **v;
	size_t n, cap;
};

static void cell(struct cells *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cell(struct cells *c, const char *fmt, ...)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 64;
		c->v = metro_realloc(c->v, c->cap * sizeof *c->v);
	}
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&c->v[c->n], fmt, ap) < 0)
		c->v[c->n] = metro_strdup("");
	va_end(ap);
	c->n++;
}

static void cells_free(struct cells *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i]);
	free(c->v);
	memset(c, 0, sizeof *c);
}

static void table_cells(struct pdf *p, const struct table *t, struct cells *c)
{
	table(p, t, (const char *const *)c->v, c->n / t->ncols);
	cells_free(c);
}

/* ---- values -------------------------------------------------------------------------------- */

/* The text, or a dash when there is none. */
static const char *text_or_dash(const char *s)
{
	return s && *s ? s : "—";
}

static const char *js(json_t *o, const char *k)
{
	return text_or_dash(json_string_value(json_object_get(o, k)));
}

static long long ji(json_t *o, const char *k)
{
	return (long long)json_integer_value(json_object_get(o, k));
}

/* The stored exact error for display: as stored when short, else to 4 decimals, half to even
 * on the exact value (the regulation's rounding is in the "rounded" column). */
static void show_decimal(const char *s, char *out, size_t cap)
{
	const char *dot = s ? strchr(s, '.') : NULL;
	struct metro_dec v;
	if (!s || !*s)
		snprintf(out, cap, "—");
	else if (!dot || strlen(dot + 1) <= 4 || metro_dec_parse(s, &v) ||
		 metro_dec_format(v, 4, out, cap))
		snprintf(out, cap, "%s", s);
}

/* ---- shared blocks ------------------------------------------------------------------------- */

/* The standards of a run, as JJF 1069 lists them: first the measurement standard (计量标准装置:
 * a standard with an assessment certificate, 计量标准考核证书, and its validity), then the
 * standard instruments (标准器) used with it. */
static void standards_table(struct pdf *p, json_t *stds)
{
	static const double w[] = {0.22, 0.13, 0.21, 0.12, 0.12, 0.20};
	static const char *const head_std[] = {"计量标准装置 Measurement standard",
					       "编号 Serial",
					       "证书号 Certificate",
					       "U / 等级 class",
					       "有效期至 Valid until",
					       "考核证书 Assessment certificate"};
	static const double wi[] = {0.30, 0.15, 0.25, 0.15, 0.15};
	static const char *const head_ins[] = {"标准器 Standard instrument", "编号 Serial",
					       "证书号 Certificate", "U / 等级 class",
					       "有效期至 Valid until"};
	for (int group = 0; group < 2; group++) {
		struct table t = group ? (struct table){5, wi, head_ins, 7.5, NULL}
				       : (struct table){6, w, head_std, 7.5, NULL};
		struct cells c = {0};
		size_t i;
		json_t *s;
		json_array_foreach (stds, i, s) {
			int assessed = json_is_string(json_object_get(s, "assessment_certificate"));
			if (assessed == group)
				continue; /* group 0: the assessed ones; group 1: the others */
			if (json_is_string(json_object_get(s, "measuring_range")))
				cell(&c, "%s\n测量范围 Range: %s", js(s, "description"),
				     js(s, "measuring_range"));
			else
				cell(&c, "%s", js(s, "description"));
			cell(&c, "%s", js(s, "serial"));
			cell(&c, "%s\n%s", js(s, "certificate"), js(s, "issuer"));
			if (json_is_number(json_object_get(s, "uncertainty_pct")))
				cell(&c, "U = %g %% (k = %g)",
				     json_number_value(json_object_get(s, "uncertainty_pct")),
				     json_number_value(json_object_get(s, "k")));
			else
				cell(&c, "%s", js(s, "accuracy_class"));
			cell(&c, "%s", js(s, "due"));
			if (!group)
				cell(&c, "%s\n有效期至 %s", js(s, "assessment_certificate"),
				     js(s, "assessment_due"));
		}
		if (c.n)
			table_cells(p, &t, &c);
		else if (!group)
			para(p,
			     "计量标准装置 Measurement standard: 无考核证书记录 no standard with "
			     "an "
			     "assessment certificate recorded",
			     8);
	}
}

/* Min–max of the environment readings recorded with the points. */
static void environment_text(json_t *run, json_t *points, char *out, size_t cap)
{
	static const struct {
		const char *key, *label, *unit;
	} env[] = {
		{"temp_c", "水温 water", "°C"},
		{"bell_t_c", "钟罩气温 bell", "°C"},
		{"meter_t_c", "表处气温 meter", "°C"},
		{"p_atm_kpa", "大气压 atmosphere", "kPa"},
		{"bell_p_kpa", "钟罩压力 bell", "kPa"},
		{"voltage_v", "电压 voltage", "V"},
		{"ambient_c", "环境温度 ambient", "°C"},
		{"humidity_pct", "相对湿度 relative humidity", "%RH"},
		{"rh_pct", "相对湿度 relative humidity", "%RH"},
	};
	size_t n = 0;
	out[0] = '\0';
	static const struct {
		const char *key, *label, *unit;
	} run_env[] = {
		{"ambient_c", "环境温度 ambient", "°C"},
		{"humidity_pct", "相对湿度 relative humidity", "%RH"},
		{"rh_pct", "相对湿度 relative humidity", "%RH"},
		{"water_temp_c", "水温 water", "°C"},
		{"p_atm_kpa", "大气压 atmosphere", "kPa"},
	};
	int humidity = 0;
	json_t *re = json_object_get(run, "environment");
	const char *rk;
	json_t *rv;
	json_object_foreach (re, rk, rv) {
		if (!json_is_number(rv) && !json_is_string(rv))
			continue;
		size_t k = 0;
		while (k < METRO_ARRAY_SIZE(run_env) && strcmp(run_env[k].key, rk) != 0)
			k++;
		char num[48];
		if (json_is_number(rv))
			snprintf(num, sizeof num, "%g", json_number_value(rv));
		else
			snprintf(num, sizeof num, "%s", json_string_value(rv));
		humidity |= strstr(rk, "humidity") != NULL || !strcmp(rk, "rh_pct");
		if (n < cap)
			n += (size_t)snprintf(out + n, cap - n, "%s%s %s%s%s", n ? "; " : "",
					      k < METRO_ARRAY_SIZE(run_env) ? run_env[k].label : rk,
					      num, k < METRO_ARRAY_SIZE(run_env) ? " " : "",
					      k < METRO_ARRAY_SIZE(run_env) ? run_env[k].unit : "");
	}
	for (size_t k = 0; k < METRO_ARRAY_SIZE(env); k++) {
		double lo = INFINITY, hi = -INFINITY;
		size_t i;
		json_t *pt;
		json_array_foreach (points, i, pt) {
			/* with the readings, or in the point's environment */
			static const char *const where[] = {"readings", "environment"};
			for (size_t w = 0; w < 2; w++) {
				json_t *v =
					json_object_get(json_object_get(pt, where[w]), env[k].key);
				if (json_is_number(v)) {
					lo = fmin(lo, json_number_value(v));
					hi = fmax(hi, json_number_value(v));
				}
			}
		}
		if (lo > hi || n >= cap)
			continue;
		humidity |= strstr(env[k].label, "humidity") != NULL;
		if (lo == hi)
			n += (size_t)snprintf(out + n, cap - n, "%s%s %g %s", n ? "; " : "",
					      env[k].label, lo, env[k].unit);
		else
			n += (size_t)snprintf(out + n, cap - n, "%s%s %g – %g %s", n ? "; " : "",
					      env[k].label, lo, hi, env[k].unit);
	}
	if (!humidity && n < cap)
		snprintf(out + n, cap - n,
			 "%s相对湿度 relative humidity: 未记录 not "
			 "recorded",
			 n ? "; " : "");
	if (!out[0])
		snprintf(out, cap, "—");
}

/* The evidence of a point that has no error: what a start or creep test counted (current,
 * duration, pulses counted against those allowed or required), or the scalar readings of any
 * other item, as recorded. */
/* A scalar reading as text (decimal text as recorded, numbers in their shortest form), or
 * NULL. */
static const char *scalar(json_t *v, char *buf, size_t cap)
{
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v))
		snprintf(buf, cap, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, cap, "%g", json_real_value(v));
	else if (json_is_boolean(v))
		snprintf(buf, cap, "%s", json_is_true(v) ? "yes" : "no");
	else
		return NULL;
	return buf;
}

static void evidence_text(json_t *rd, char *out, size_t cap)
{
	size_t n = 0;
	out[0] = '\0';
#define ADD(...)                                                              \
	do {                                                                  \
		if (n < cap)                                                  \
			n += (size_t)snprintf(out + n, cap - n, __VA_ARGS__); \
	} while (0)
	json_t *allowed = json_object_get(rd, "allowed_pulses");
	json_t *required = json_object_get(rd, "required_pulses");
	if (json_is_integer(allowed) || json_is_integer(required)) {
		char bi[48], bu[48];
		const char *i = scalar(json_object_get(rd, "applied_current_a"), bi, sizeof bi);
		const char *u = scalar(json_object_get(rd, "applied_voltage_v"), bu, sizeof bu);
		if (!i)
			i = scalar(json_object_get(rd, "current_a"), bi, sizeof bi);
		ADD("I = %s A, U = %s V", i ? i : "0", u ? u : "—");
		if (json_is_number(json_object_get(rd, "watched_min")))
			ADD("; 时间 duration %.2f min",
			    json_number_value(json_object_get(rd, "watched_min")));
		if (json_is_number(json_object_get(rd, "time_min")))
			ADD(" (规定 required %.2f min)",
			    json_number_value(json_object_get(rd, "time_min")));
		ADD("; 脉冲 pulses %lld", ji(rd, "pulses"));
		if (json_is_integer(allowed))
			ADD(" (允许 allowed ≤ %lld)", (long long)json_integer_value(allowed));
		else
			ADD(" (要求 required ≥ %lld)", (long long)json_integer_value(required));
		if (json_is_number(json_object_get(rd, "first_pulse_min")))
			ADD("; 首个脉冲 first pulse %.2f min",
			    json_number_value(json_object_get(rd, "first_pulse_min")));
	} else {
		const char *k;
		json_t *v;
		json_object_foreach (rd, k, v) {
			char b[48];
			const char *t = scalar(v, b, sizeof b);
			if (t)
				ADD("%s%s %s", n ? "; " : "", k, t);
		}
	}
#undef ADD
	if (!out[0])
		snprintf(out, cap, "—");
}

/* A measurement item's point (a pressure loss, ...): the readings and their mean with the
 * unit, the mean as the judged value, the limits in place of an MPE. */
static void measurement_text(json_t *rd, char *e, size_t ecap, char *judged, size_t jcap,
			     char *limit, size_t lcap)
{
	char m[48], lo[48], hi[48];
	const char *unit = js(rd, "unit");
	const char *mean = scalar(json_object_get(rd, "mean"), m, sizeof m);
	json_t *lim = json_object_get(rd, "limits");
	const char *l = scalar(json_object_get(lim, "min"), lo, sizeof lo);
	const char *h = scalar(json_object_get(lim, "max"), hi, sizeof hi);
	size_t nr = json_array_size(json_object_get(rd, "readings"));
	snprintf(e, ecap, "%s %s (%zu 次读数均值 mean of %zu reading%s)", mean ? mean : "—", unit,
		 nr, nr, nr == 1 ? "" : "s");
	snprintf(judged, jcap, "%s %s", mean ? mean : "—", unit);
	if (l && h)
		snprintf(limit, lcap, "%s … %s %s", l, h, unit);
	else if (h)
		snprintf(limit, lcap, "≤ %s %s", h, unit);
	else if (l)
		snprintf(limit, lcap, "≥ %s %s", l, unit);
	else
		snprintf(limit, lcap, "—");
}

/* One row per recorded point of one test point; its cells into c. */
static void point_row(struct cells *c, const struct metro_procedure *proc, json_t *pt)
{
	char e[600], judged[64], limit[120] = "—";
	const char *res = rpt_verdict_name(js(pt, "verdict"));
	json_t *rd = json_object_get(pt, "readings");
	json_t *single = json_object_get(json_object_get(rd, "last_run"), "error");
	size_t nruns = json_array_size(json_object_get(rd, "runs"));
	snprintf(judged, sizeof judged, "—");
	if (json_is_string(json_object_get(pt, "error"))) {
		char v[64];
		show_decimal(json_string_value(json_object_get(pt, "error")), v, sizeof v);
		if (nruns > 1)
			snprintf(e, sizeof e, "%s %% (%zu 次均值 mean)", v, nruns);
		else
			snprintf(e, sizeof e, "%s %%", v);
		/* the value judged: the regulation's rounded value where the rule rounds */
		char r[64];
		if (json_is_string(json_object_get(pt, "rounded")))
			show_decimal(js(pt, "rounded"), r, sizeof r);
		snprintf(judged, sizeof judged, "%s %%",
			 json_is_string(json_object_get(pt, "rounded")) ? r : v);
	} else if (json_is_number(single)) {
		/* a run the repeat rule asked more of: shown, judged with the next ones */
		snprintf(e, sizeof e, "%.4f %%", json_number_value(single));
		res = "复检 / retest";
	} else if (json_is_string(json_object_get(rd, "unit")) && json_object_get(rd, "mean")) {
		measurement_text(rd, e, sizeof e, judged, sizeof judged, limit, sizeof limit);
	} else {
		evidence_text(rd, e, sizeof e);
	}
	cell(c, "%s", rpt_item_title(proc, js(pt, "test_point")));
	cell(c, "%lld", ji(pt, "attempt"));
	cell(c, "%s", e);
	cell(c, "%s", judged);
	if (json_is_string(json_object_get(pt, "mpe")))
		cell(c, "±%s %%", js(pt, "mpe"));
	else
		cell(c, "%s", limit);
	cell(c, "%s", res);
}

/* The results of a meter, item by item in the procedure's order: every recorded point, and an
 * item with none (not run after a failure, or an aborted run) as 未检 / not run. */
static void points_table(struct pdf *p, const struct metro_procedure *proc, json_t *points,
			 long long position)
{
	static const double w[] = {0.22, 0.06, 0.32, 0.13, 0.10, 0.17};
	static const char *const head[] = {
		"项目 / 检定点 Item",		"次 Run", "测得误差 Error / 记录 Evidence",
		"判定值 Judged (修约 rounded)", "MPE",	  "结论 Result"};
	struct table t = {6, w, head, 7.5, NULL};
	struct cells c = {0};
	size_t i;
	json_t *pt;
	for (size_t k = 0; proc && k < proc->nitems; k++) {
		int any = 0;
		json_array_foreach (points, i, pt) {
			if ((position && ji(pt, "position") != position) ||
			    strcmp(js(pt, "test_point"), proc->items[k].id) != 0)
				continue;
			point_row(&c, proc, pt);
			any = 1;
		}
		if (!any) {
			cell(&c, "%s",
			     proc->items[k].title ? proc->items[k].title : proc->items[k].id);
			cell(&c, "—");
			cell(&c, "—");
			cell(&c, "—");
			cell(&c, "—");
			cell(&c, "未检 / not run");
		}
	}
	/* points of test points the procedure does not name (never expected): shown, not lost */
	json_array_foreach (points, i, pt) {
		if (position && ji(pt, "position") != position)
			continue;
		size_t k = 0;
		while (proc && k < proc->nitems &&
		       strcmp(js(pt, "test_point"), proc->items[k].id) != 0)
			k++;
		if (!proc || k == proc->nitems)
			point_row(&c, proc, pt);
	}
	table_cells(p, &t, &c);
}

/* ---- the error curve ----------------------------------------------------------------------- */

struct series {
	char label[24];
	double x[32], y[32], mpe[32];
	size_t n;
	struct rpt_envelope env; /* env.n == 0: the nameplate gives no zones */
};

/* The abscissa of a point: the test flow (m³/h) or the current relative to Ib. */
static int point_x(json_t *r, double *x, const char **pf)
{
	static const char *const keys[] = {"test_flow_m3h", "flow_m3h", "current_ratio"};
	*pf = json_string_value(json_object_get(r, "pf"));
	for (size_t k = 0; k < METRO_ARRAY_SIZE(keys); k++) {
		json_t *v = json_object_get(r, keys[k]);
		if (json_is_number(v) && json_number_value(v) > 0) {
			*x = json_number_value(v);
			return 1;
		}
	}
	return 0;
}

/* Series of a meter's points: one per power factor (electricity), the last attempt of each
 * test point, sorted by x. */
static size_t collect_series(json_t *points, long long position, struct series *s, size_t cap,
			     int *is_current)
{
	size_t ns = 0, i;
	json_t *pt;
	*is_current = 0;
	json_array_foreach (points, i, pt) {
		if (position && ji(pt, "position") != position)
			continue;
		json_t *r = json_object_get(pt, "readings");
		const char *pf, *err = json_string_value(json_object_get(pt, "error"));
		const char *mpe = json_string_value(json_object_get(pt, "mpe"));
		double x;
		if (!err || !mpe || !point_x(r, &x, &pf))
			continue;
		*is_current |= json_object_get(r, "current_ratio") != NULL;
		size_t k = 0;
		while (k < ns && strcmp(s[k].label, pf ? pf : "") != 0)
			k++;
		if (k == ns) {
			if (ns == cap)
				continue;
			memset(&s[ns], 0, sizeof s[ns]);
			snprintf(s[ns].label, sizeof s[ns].label, "%s", pf ? pf : "");
			ns++;
		}
		struct series *q = &s[k];
		size_t j = 0;
		while (j < q->n && q->x[j] != x)
			j++;
		if (j == q->n) {
			if (q->n == METRO_ARRAY_SIZE(q->x))
				continue;
			q->n++;
		}
		q->x[j] = x;
		q->y[j] = strtod(err, NULL);
		q->mpe[j] = strtod(mpe, NULL);
	}
	for (size_t k = 0; k < ns; k++) /* insertion sort by x */
		for (size_t a = 1; a < s[k].n; a++)
			for (size_t b = a; b > 0 && s[k].x[b - 1] > s[k].x[b]; b--) {
				double t;
				t = s[k].x[b], s[k].x[b] = s[k].x[b - 1], s[k].x[b - 1] = t;
				t = s[k].y[b], s[k].y[b] = s[k].y[b - 1], s[k].y[b - 1] = t;
				t = s[k].mpe[b], s[k].mpe[b] = s[k].mpe[b - 1], s[k].mpe[b - 1] = t;
			}
	return ns;
}

static const double palette[][3] = {
	{0.10, 0.35, 0.75}, {0.85, 0.40, 0.05}, {0.15, 0.55, 0.20}, {0.55, 0.20, 0.60}};
/* Series line styles (solid, dashed, dotted, dash-dot) and markers (circle, square, triangle,
 * diamond): series stay apart in grey print too. */
static const double series_dash[4][4] = {{0}, {5, 2}, {1.2, 1.6}, {5, 2, 1.2, 2}};
static const int series_ndash[4] = {0, 2, 2, 4};
static const double env_dash[] = {3, 2};

struct plot {
	double left, right, top, bot; /* the frame */
	double lx0, lx1, ymax;	      /* log10 abscissa range, ordinate ±ymax */
};

static double plot_x(const struct plot *g, double v)
{
	return g->left + (log10(v) - g->lx0) / (g->lx1 - g->lx0) * (g->right - g->left);
}

static double plot_y(const struct plot *g, double v)
{
	return g->top + (g->ymax - v) / (2 * g->ymax) * (g->bot - g->top);
}

/* The axes' ranges: every point and the envelope's zones (so a one-point series shows where
 * it lies in the meter's range), at least one decade wide. */
static void plot_range(const struct series *s, size_t ns, struct plot *g)
{
	double xmin = INFINITY, xmax = -INFINITY, ymax = 0;
	for (size_t k = 0; k < ns; k++) {
		for (size_t j = 0; j < s[k].n; j++) {
			xmin = fmin(xmin, s[k].x[j]);
			xmax = fmax(xmax, s[k].x[j]);
			ymax = fmax(ymax, fmax(fabs(s[k].y[j]), s[k].mpe[j]));
		}
		const struct rpt_envelope *e = &s[k].env;
		for (size_t z = 0; z < e->n; z++) {
			if (e->from[z] > 0)
				xmin = fmin(xmin, e->from[z]);
			if (isfinite(e->to[z]))
				xmax = fmax(xmax, e->to[z]);
			ymax = fmax(ymax, e->mpe[z]);
		}
	}
	g->lx0 = floor(log10(xmin) * 2) / 2 - 0.15;
	g->lx1 = ceil(log10(xmax) * 2) / 2 + 0.15;
	if (g->lx1 - g->lx0 < 1) {
		double mid = (g->lx0 + g->lx1) / 2;
		g->lx0 = mid - 0.5;
		g->lx1 = mid + 0.5;
	}
	g->ymax = ceil(ymax * 1.25 * 2) / 2;
	if (g->ymax <= 0)
		g->ymax = 1;
}

static void marker(cairo_t *cr, int shape, double x, double y, double r)
{
	switch (shape % 4) {
	case 0:
		cairo_arc(cr, x, y, r, 0, 2 * M_PI);
		break;
	case 1:
		cairo_rectangle(cr, x - r * 0.9, y - r * 0.9, r * 1.8, r * 1.8);
		break;
	case 2:
		cairo_move_to(cr, x, y - r * 1.2);
		cairo_line_to(cr, x + r * 1.1, y + r * 0.8);
		cairo_line_to(cr, x - r * 1.1, y + r * 0.8);
		cairo_close_path(cr);
		break;
	default:
		cairo_move_to(cr, x, y - r * 1.3);
		cairo_line_to(cr, x + r * 1.1, y);
		cairo_line_to(cr, x, y + r * 1.3);
		cairo_line_to(cr, x - r * 1.1, y);
		cairo_close_path(cr);
		break;
	}
	cairo_fill(cr);
}

/* The ±MPE envelope of a series: each zone's MPE over the zone, stepping at the regulation's
 * boundary; without zones (the nameplate does not give them) a short mark at each point's
 * MPE instead of a line between points. */
static void draw_envelope(cairo_t *cr, const struct plot *g, const struct series *s)
{
	const struct rpt_envelope *e = &s->env;
	double x0 = pow(10, g->lx0), x1 = pow(10, g->lx1);
	cairo_set_line_width(cr, 0.7);
	cairo_set_dash(cr, env_dash, 2, 0);
	for (int sign = -1; sign <= 1; sign += 2) {
		if (!e->n) {
			for (size_t j = 0; j < s->n; j++) {
				cairo_move_to(cr, plot_x(g, s->x[j]) - 8,
					      plot_y(g, sign * s->mpe[j]));
				cairo_line_to(cr, plot_x(g, s->x[j]) + 8,
					      plot_y(g, sign * s->mpe[j]));
			}
			cairo_stroke(cr);
			continue;
		}
		int drawn = 0;
		for (size_t z = 0; z < e->n; z++) {
			double a = fmax(e->from[z], x0), b = fmin(e->to[z], x1);
			if (!(a < b))
				continue;
			double y = plot_y(g, sign * e->mpe[z]);
			if (drawn)
				cairo_line_to(cr, plot_x(g, a), y); /* the step at the boundary */
			else
				cairo_move_to(cr, plot_x(g, a), y);
			cairo_line_to(cr, plot_x(g, b), y);
			drawn = 1;
		}
		cairo_stroke(cr);
	}
	cairo_set_dash(cr, NULL, 0, 0);
}

static void draw_grid(struct pdf *p, const struct plot *g, int is_current)
{
	cairo_t *cr = p->cr;
	cairo_set_line_width(cr, 0.5);
	cairo_set_source_rgb(cr, 0, 0, 0);
	cairo_rectangle(cr, g->left, g->top, g->right - g->left, g->bot - g->top);
	cairo_stroke(cr);
	double step = g->ymax > 8 ? 2 : g->ymax > 4 ? 1 : 0.5;
	for (double v = ceil(-g->ymax / step) * step; v <= g->ymax + 1e-9; v += step) {
		cairo_set_source_rgb(cr, 0.85, 0.85, 0.85);
		cairo_move_to(cr, g->left, plot_y(g, v));
		cairo_line_to(cr, g->right, plot_y(g, v));
		cairo_stroke(cr);
		char lab[16];
		snprintf(lab, sizeof lab, "%g", fabs(v) < 1e-9 ? 0.0 : v);
		cairo_set_source_rgb(cr, 0, 0, 0);
		text_at(p, MARGIN, plot_y(g, v) - 5, 36, lab, 7, 0, RIGHT);
	}
	for (int d = (int)floor(g->lx0); d <= (int)ceil(g->lx1); d++)
		for (int m = 1; m <= 9; m++) {
			double v = m * pow(10, d);
			if (log10(v) < g->lx0 || log10(v) > g->lx1)
				continue;
			cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
			cairo_move_to(cr, plot_x(g, v), g->top);
			cairo_line_to(cr, plot_x(g, v), g->bot);
			cairo_stroke(cr);
			if (m == 1 || m == 2 || m == 5) {
				char lab[16];
				snprintf(lab, sizeof lab, "%g", v);
				cairo_set_source_rgb(cr, 0, 0, 0);
				text_at(p, plot_x(g, v) - 20, g->bot + 2, 40, lab, 7, 0, CENTER);
			}
		}
	cairo_set_source_rgb(cr, 0, 0, 0);
	text_at(p, g->left, g->bot + 11, g->right - g->left,
		is_current ? "负载电流 I/Ib (对数坐标) · load current I/Ib (log scale)"
			   : "流量 flow rate m³/h (对数坐标, log scale)",
		7, 0, CENTER);
	cairo_save(cr);
	cairo_move_to(cr, MARGIN - 2, g->bot);
	cairo_rotate(cr, -M_PI / 2);
	PangoLayout *l = layout(p, "误差 error %", 7, 0, g->bot - g->top, CENTER);
	pango_cairo_show_layout(cr, l);
	g_object_unref(l);
	cairo_restore(cr);
}

/* The legend, one line under the plot (never over a point): each series' line and marker with
 * its power factor, the envelope, and the mark of a point outside its MPE. */
static void draw_legend(struct pdf *p, const struct plot *g, const struct series *s, size_t ns,
			int any_out)
{
	cairo_t *cr = p->cr;
	const double w = 100;
	size_t n = ns + 1 + (any_out ? 1 : 0);
	double x = g->left, cy = g->bot + 27;
	for (size_t r = 0; r < n; r++, x += w) {
		char lab[64];
		if (r < ns) {
			const double *c = palette[r % 4];
			cairo_set_source_rgb(cr, c[0], c[1], c[2]);
			cairo_set_line_width(cr, 1.2);
			cairo_set_dash(cr, series_dash[r % 4], series_ndash[r % 4], 0);
			cairo_move_to(cr, x, cy);
			cairo_line_to(cr, x + 22, cy);
			cairo_stroke(cr);
			cairo_set_dash(cr, NULL, 0, 0);
			marker(cr, (int)r, x + 11, cy, 2.4);
			if (s[r].label[0])
				snprintf(lab, sizeof lab, "PF %s", s[r].label);
			else
				snprintf(lab, sizeof lab, "误差 error");
		} else if (r == ns) {
			cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
			cairo_set_line_width(cr, 0.7);
			cairo_set_dash(cr, env_dash, 2, 0);
			cairo_move_to(cr, x, cy);
			cairo_line_to(cr, x + 22, cy);
			cairo_stroke(cr);
			cairo_set_dash(cr, NULL, 0, 0);
			snprintf(lab, sizeof lab, "±MPE 最大允许误差");
		} else {
			cairo_set_source_rgb(cr, 0.8, 0, 0);
			cairo_arc(cr, x + 11, cy, 3.6, 0, 2 * M_PI);
			cairo_fill(cr);
			snprintf(lab, sizeof lab, "超差 outside MPE");
		}
		cairo_set_source_rgb(cr, 0, 0, 0);
		text_at(p, x + 26, cy - 5, w - 28, lab, 7, 0, LEFT);
	}
}

/* Error against flow or load on a log abscissa, with the ±MPE envelope of each series. */
static void error_curve(struct pdf *p, const struct rpt_meter *m, const char *title)
{
	struct series s[4];
	int is_current;
	size_t ns = collect_series(json_object_get(m->e, "points"), 0, s, 4, &is_current);
	const double H = 182;
	if (!ns)
		return;
	json_t *np = json_object_get(json_object_get(m->e, "meter"), "nameplate");
	for (size_t k = 0; k < ns; k++)
		(void)rpt_envelope(m->proc ? m->proc->meter : NULL, np,
				   s[k].label[0] ? s[k].label : NULL, s[k].x, s[k].mpe, s[k].n,
				   &s[k].env);
	need(p, H + 40);
	cairo_t *cr = p->cr;
	struct plot g = {MARGIN + 40, PAGE_W - MARGIN - 10, p->y + 16, p->y + H - 34, 0, 0, 0};
	text_at(p, MARGIN, p->y, BODY_W, title, 8.5, 1, LEFT);
	plot_range(s, ns, &g);
	draw_grid(p, &g, is_current);
	int any_out = 0;
	for (size_t k = 0; k < ns; k++) {
		const double *c = palette[k % 4];
		cairo_set_source_rgb(cr, c[0], c[1], c[2]);
		draw_envelope(cr, &g, &s[k]);
		cairo_set_line_width(cr, 1.2);
		cairo_set_dash(cr, series_dash[k % 4], series_ndash[k % 4], 0);
		for (size_t j = 0; j < s[k].n; j++)
			(j ? cairo_line_to : cairo_move_to)(cr, plot_x(&g, s[k].x[j]),
							    plot_y(&g, s[k].y[j]));
		cairo_stroke(cr);
		cairo_set_dash(cr, NULL, 0, 0);
		for (size_t j = 0; j < s[k].n; j++) {
			int out = fabs(s[k].y[j]) > s[k].mpe[j];
			any_out |= out;
			double px = plot_x(&g, s[k].x[j]), py = plot_y(&g, s[k].y[j]);
			/* a one-point series gets a larger marker: it has no line to show it; a
			 * point outside its MPE is red */
			double r = s[k].n == 1 ? 3.2 : 2.4;
			if (out)
				cairo_set_source_rgb(cr, 0.8, 0, 0);
			marker(cr, (int)k, px, py, out ? r + 0.8 : r);
			cairo_set_source_rgb(cr, c[0], c[1], c[2]);
		}
	}
	cairo_set_line_width(cr, 0.5);
	draw_legend(p, &g, s, ns, any_out);
	cairo_set_source_rgb(cr, 0, 0, 0);
	p->y += H + 4;
}

/* ---- certificate --------------------------------------------------------------------------- */

static const char *current_verdict(json_t *e, json_t **failed)
{
	json_t *vs = json_object_get(e, "verdicts"), *v = NULL;
	size_t i;
	json_t *x;
	json_array_foreach (vs, i, x) {
		v = x; /* corrections come later: the last is current */
	}
	*failed = json_object_get(v, "failed_items");
	return v ? js(v, "verdict") : "—";
}

static json_t *last_certificate(json_t *e)
{
	json_t *cs = json_object_get(e, "certificates");
	return json_array_get(cs, json_array_size(cs) - 1);
}

/* The certificate a meter's document prints: the one chosen, else the latest. */
static json_t *printed_certificate(const struct rpt_meter *m)
{
	return m->cert ? m->cert : last_certificate(m->e);
}

/* The signed step `name` of a certificate, or NULL. */
static json_t *cert_step(json_t *cert, const char *name)
{
	size_t i;
	json_t *x;
	json_array_foreach (json_object_get(cert, "steps"), i, x) {
		if (!strcmp(js(x, "step"), name))
			return x;
	}
	return NULL;
}

/* "李伟 · 检定员证 JDY-1 (valid until 2027-03-01) · 2026-11-28 14:10": who signed a step, in
 * what qualification, when (local time). */
static void step_text(json_t *st, char *out, size_t cap)
{
	char when[32], qual[160] = "";
	rpt_local_time(js(st, "time"), 1, when, sizeof when);
	if (json_is_string(json_object_get(st, "qualification")))
		snprintf(qual, sizeof qual, " · 证号 Qualification %s%s%s%s",
			 js(st, "qualification"),
			 json_is_string(json_object_get(st, "qualification_due")) ? " (至 until "
										  : "",
			 json_is_string(json_object_get(st, "qualification_due"))
				 ? js(st, "qualification_due")
				 : "",
			 json_is_string(json_object_get(st, "qualification_due")) ? ")" : "");
	snprintf(out, cap, "%s%s · %s", js(st, "person_name"), qual, when);
}

/* The certificate's signature block: the people who signed its steps (or, without steps, the
 * names given by hand and the run's operator), the date of verification, the valid-until date
 * (until: NULL for a notice) and the service-life note. */
/* The date a certificate was issued: its `issued` step's local date (signed workflow), else
 * the date it was numbered and so issued (recorded before the workflow). */
static void issue_date(json_t *cert, char *out, size_t cap)
{
	json_t *st = cert_step(cert, "issued");
	const char *t = st ? js(st, "time") : js(cert, "issued");
	rpt_local_time(t, 0, out, cap);
}

/* The certificate's signature block: the people who signed its steps (or, without steps, the
 * names given by hand and the run's operator), each with a line to sign on; then the date of
 * verification, the date of issue, and for a pass its validity: the valid-until date or the
 * service life of the meter's validity rule (or certificate.valid_months), and the note. */
static void signature_block(struct pdf *p, const struct rpt_meter *m, json_t *cert,
			    const char *date, const char *until)
{
	const struct rpt_ctx *c = p->ctx;
	const struct metro_procedure *proc = m->proc;
	json_t *run = json_object_get(m->e, "run");
	int pass = until != NULL;
	static const unsigned char bold[] = {1, 0, 0};
	struct cells cs = {0};
	static const double ws[] = {0.24, 0.52, 0.24};
	struct table sig = {3, ws, NULL, 10, bold};
	if (json_array_size(json_object_get(cert, "steps"))) {
		/* signed steps: the people who signed them, as recorded */
		static const char *const rows[][2] = {
			{"approved", "批准人 Approver"},
			{"checked", "核验员 Checker"},
			{"verified", "检定员 Verifier"},
			{"issued", "签发 Issued"},
		};
		for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
			char who[400];
			json_t *st = cert_step(cert, rows[i][0]);
			if (st)
				step_text(st, who, sizeof who);
			cell(&cs, "%s", rows[i][1]);
			cell(&cs, "%s", st ? who : "—");
			cell(&cs, "签名 ____________");
		}
		if (json_is_string(json_object_get(cert, "replaces"))) {
			cell(&cs, "代替 Replaces");
			cell(&cs, "%s (作废 voided)", js(cert, "replaces"));
			cell(&cs, " ");
		}
	} else {
		cell(&cs, "批准人 Approver");
		cell(&cs, "%s", c->approver ? c->approver : "");
		cell(&cs, "签名 ____________");
		cell(&cs, "核验员 Checker");
		cell(&cs, "%s", c->checker ? c->checker : "");
		cell(&cs, "签名 ____________");
		cell(&cs, "检定员 Verifier");
		cell(&cs, "%s", js(run, "operator"));
		cell(&cs, "签名 ____________");
	}
	table_cells(p, &sig, &cs);

	static const double wd[] = {0.30, 0.70};
	static const unsigned char boldd[] = {1, 0};
	struct table dates = {2, wd, NULL, 10, boldd};
	char issued[32];
	issue_date(cert, issued, sizeof issued);
	cell(&cs, "检定日期 Date of verification");
	cell(&cs, "%s", date);
	cell(&cs, "签发日期 Date of issue");
	cell(&cs, "%s", issued);
	const struct metro_cert_rule *r = m->rule;
	if (pass && (r ? r->valid_months != 0 : proc->cert_valid_months != 0)) {
		cell(&cs, "有效期至 Valid until");
		cell(&cs, "%s", until);
	}
	if (pass && r && r->service_life_years) {
		cell(&cs, "使用期限 Service life");
		cell(&cs,
		     "自检定日期起不超过 %ld 年，只作首次检定，到期更换 / at most %ld years from "
		     "the "
		     "date of verification; initial verification only, replace when it ends",
		     r->service_life_years, r->service_life_years);
	}
	const char *note = r && r->note ? r->note : proc->cert_note;
	if (pass && note) {
		cell(&cs, "使用说明 Note");
		cell(&cs, "%s", note);
	}
	table_cells(p, &dates, &cs);
}

/* The seal area (检定专用章) at the right, the institution's particulars at the left. */
static void seal_and_institution(struct pdf *p)
{
	const struct rpt_ctx *c = p->ctx;
	const double sw = 140, sh = 76;
	need(p, sh + 10);
	double x = PAGE_W - MARGIN - sw, y = p->y + 4;
	cairo_t *cr = p->cr;
	static const double dash[] = {3, 2};
	cairo_save(cr);
	cairo_set_dash(cr, dash, 2, 0);
	cairo_set_line_width(cr, 0.7);
	cairo_set_source_rgb(cr, 0.45, 0.45, 0.45);
	cairo_rectangle(cr, x, y, sw, sh);
	cairo_stroke(cr);
	cairo_restore(cr);
	cairo_set_source_rgb(cr, 0.45, 0.45, 0.45);
	text_at(p, x, y + sh / 2 - 12, sw, "检定专用章（盖章）\nSeal of the verification body", 8,
		0, CENTER);
	cairo_set_source_rgb(cr, 0, 0, 0);
	char txt[900];
	size_t n = (size_t)snprintf(txt, sizeof txt, "%s\n授权证书号 Authorisation No.: %s",
				    text_or_dash(c->station.institution),
				    text_or_dash(c->station.authorisation));
	if (c->station.address && n < sizeof txt)
		n += (size_t)snprintf(txt + n, sizeof txt - n, "\n地址 Address: %s",
				      c->station.address);
	if (c->station.postcode && n < sizeof txt)
		n += (size_t)snprintf(txt + n, sizeof txt - n, "\n邮编 Postcode: %s",
				      c->station.postcode);
	if (c->station.phone && n < sizeof txt)
		n += (size_t)snprintf(txt + n, sizeof txt - n, "\n电话 Phone: %s",
				      c->station.phone);
	(void)n;
	text_at(p, MARGIN, y, BODY_W - sw - 14, txt, 8.5, 0, LEFT);
	p->y = y + sh + 8;
}

/* The usual statements of a certificate (JJF 1069 practice). */
static void declarations(struct pdf *p)
{
	para(p,
	     "声明 Statements: 1. 本证书（通知书）的检定结果仅对所检定的计量器具有效。 The results "
	     "apply only to the item verified.  2. "
	     "未经本机构书面批准，不得部分复制本证书（通知书）。"
	     " This document may not be reproduced in part without the written approval of the "
	     "institution.",
	     8);
}

static void certificate_body(struct pdf *p, const struct rpt_meter *m)
{
	json_t *e = m->e, *run = json_object_get(e, "run"), *meter = json_object_get(e, "meter");
	json_t *cert = printed_certificate(m), *failed;
	const struct metro_procedure *proc = m->proc;
	const char *verdict = current_verdict(e, &failed);
	int pass = !strcmp(js(cert, "kind"), "certificate");
	const struct rpt_ctx *c = p->ctx;

	new_page(p);
	p->y += 10;
	p->y += text_at(p, MARGIN, p->y, BODY_W, text_or_dash(c->station.institution), 15, 1,
			CENTER) +
		10;
	p->y += text_at(p, MARGIN, p->y, BODY_W, pass ? "检 定 证 书" : "检 定 结 果 通 知 书", 24,
			1, CENTER);
	p->y += text_at(p, MARGIN, p->y, BODY_W,
			pass ? "VERIFICATION CERTIFICATE" : "NOTICE OF NONCONFORMITY", 11, 0,
			CENTER) +
		14;
	char line[256];
	snprintf(line, sizeof line, "证书编号 No.: %s", js(cert, "number"));
	p->y += text_at(p, MARGIN, p->y, BODY_W, line, 10.5, 1, RIGHT) + 8;

	char np[512], reg[400], failed_txt[600] = "", date[16], until[64];
	rpt_nameplate_text(proc->meter, json_object_get(meter, "nameplate"), np, sizeof np);
	snprintf(reg, sizeof reg, "%s-%s %s", proc->regulation, proc->edition, proc->title);
	size_t fi, fn = 0;
	json_t *f;
	json_array_foreach (failed, fi, f) {
		if (fn < sizeof failed_txt)
			fn += (size_t)snprintf(failed_txt + fn, sizeof failed_txt - fn, "%s%s",
					       fn ? "; " : "",
					       rpt_item_title(proc, json_string_value(f)));
	}
	json_t *vs = json_object_get(e, "verdicts");
	rpt_local_time(js(json_array_get(vs, json_array_size(vs) - 1), "decided"), 0, date,
		       sizeof date);
	snprintf(until, sizeof until, "—");
	long months = m->rule ? m->rule->valid_months : proc->cert_valid_months;
	if (pass && months)
		rpt_add_months(date, months, until, sizeof until);

	static const double w[] = {0.30, 0.70};
	static const unsigned char bold[] = {1, 0};
	struct table t = {2, w, NULL, 10, bold};
	struct cells cs = {0};
	cell(&cs, "送检单位 Submitter");
	cell(&cs, "%s", js(run, "client"));
	cell(&cs, "计量器具名称 Instrument");
	cell(&cs, "%s", rpt_instrument(proc));
	cell(&cs, "型号规格 Model");
	cell(&cs, "%s", js(meter, "model"));
	cell(&cs, "出厂编号 Serial No.");
	cell(&cs, "%s", js(meter, "serial"));
	cell(&cs, "制造单位 Manufacturer");
	cell(&cs, "%s", js(meter, "manufacturer"));
	cell(&cs, "型式批准 Pattern approval");
	cell(&cs, "%s", js(meter, "pattern_approval"));
	cell(&cs, "准确度等级 Accuracy class");
	cell(&cs, "%s", js(meter, "accuracy_class"));
	cell(&cs, "铭牌参数 Nameplate");
	cell(&cs, "%s", np);
	cell(&cs, "检定依据 Regulation");
	cell(&cs, "%s", reg);
	cell(&cs, "检定类别 Verification");
	cell(&cs, "%s", rpt_vtype_name(js(run, "verification_type")));
	cell(&cs, "检定结论 Conclusion");
	cell(&cs, "%s", rpt_verdict_name(verdict));
	if (!pass) {
		cell(&cs, "不合格项目 Failed items");
		cell(&cs, "%s", failed_txt[0] ? failed_txt : "—");
	}
	table_cells(p, &t, &cs);

	p->y += 10;
	signature_block(p, m, cert, date, pass ? until : NULL);

	p->y += 6;
	seal_and_institution(p);
	declarations(p);

	/* page 2: the evidence */
	new_page(p);
	heading(p, "检定使用的计量标准 Reference standards used");
	standards_table(p, json_object_get(e, "standards"));
	heading(p, "检定地点和环境条件 Place and conditions");
	char env[900];
	snprintf(env, sizeof env, "检定地点 Place of verification: %s%s%s, 装置 rig %s",
		 text_or_dash(c->station.name ? c->station.name : c->station.institution),
		 c->station.address ? ", " : "", c->station.address ? c->station.address : "",
		 js(run, "rig"));
	para(p, env, 8.5);
	environment_text(run, json_object_get(e, "points"), env, sizeof env);
	para(p, env, 8.5);
	heading(p, "检定结果 Results");
	points_table(p, proc, json_object_get(e, "points"), 0);
	if (!pass && failed_txt[0]) {
		snprintf(line, sizeof line, "不合格项目 Failed items: %s", failed_txt);
		para(p, line, 9);
	}
	heading(p, "记录与追溯 Records and traceability");
	json_t *sb = json_object_get(e, "signed_by");
	json_t *proc_j = json_object_get(run, "procedure"), *sw = json_object_get(run, "software");
	json_t *prof_j = json_object_get(run, "profile");
	char buf[1100], prof[200];
	if (json_is_object(prof_j))
		snprintf(prof, sizeof prof, "%s, sha256 %.16s…", js(prof_j, "name"),
			 js(prof_j, "sha256"));
	else
		snprintf(prof, sizeof prof, "未记录 not recorded");
	snprintf(buf, sizeof buf,
		 "记录 Record: station %s, run %lld, position %lld, rig %s%s\n"
		 "检定规程文件 Procedure: %s, sha256 %.16s…\n"
		 "装置配置文件 Rig profile: %s\n"
		 "软件 Software: %s %s, sha256 %.16s…\n"
		 "审计检查点 Audit checkpoint: epoch %lld, id %s, %s (covers chain records to "
		 "%lld)\n"
		 "%s",
		 js(run, "station"), ji(run, "id"), ji(e, "position"), js(run, "rig"),
		 ji(run, "simulated") ? " — 模拟装置 SIMULATED RIG" : "", js(proc_j, "name"),
		 js(proc_j, "sha256"), prof, js(sw, "name"), js(sw, "version"),
		 js(sw, "exe_sha256"), ji(sb, "epoch"), js(sb, "id"), js(sb, "time"),
		 ji(sb, "head_seq"), c->verification);
	para(p, buf, 8);
	if (json_array_size(json_object_get(cert, "steps"))) {
		/* each step: who, when, the first digits of the Ed25519 signature recorded */
		size_t i, n = (size_t)snprintf(buf, sizeof buf, "电子签名 Signed steps:");
		json_t *st;
		json_array_foreach (json_object_get(cert, "steps"), i, st) {
			if (n < sizeof buf)
				n += (size_t)snprintf(buf + n, sizeof buf - n,
						      "%s %s by %s (%s) at %s, signature %.16s…",
						      i ? ";" : "", js(st, "step"),
						      js(st, "person"), js(st, "role"),
						      js(st, "time"), js(st, "signature"));
		}
		para(p, buf, 8);
	}
	if (ji(run, "simulated"))
		para(p,
		     "本文件数据来自模拟装置，不具法律效力。 The data in this document come from a "
		     "simulated rig: it is not a legal document.",
		     8.5);
}

/* ---- batch report -------------------------------------------------------------------------- */

static void run_body(struct pdf *p, json_t *run, const struct rpt_meter *m, size_t n)
{
	const struct metro_procedure *proc = n ? m[0].proc : NULL;
	new_page(p);
	p->y += text_at(p, MARGIN, p->y, BODY_W, "批量检定报告 Batch verification report", 16, 1,
			CENTER) +
		8;
	char started[32], ended[32], reg[400];
	rpt_local_time(js(run, "started"), 1, started, sizeof started);
	rpt_local_time(js(run, "ended"), 1, ended, sizeof ended);
	snprintf(reg, sizeof reg, "%s-%s %s", proc ? proc->regulation : "—",
		 proc ? proc->edition : "", proc ? proc->title : "");
	static const double w[] = {0.18, 0.32, 0.18, 0.32};
	static const unsigned char bold[] = {1, 0, 1, 0};
	struct table t = {4, w, NULL, 8.5, bold};
	struct cells c = {0};
	cell(&c, "运行 Run");
	cell(&c, "%lld (%s)", ji(run, "id"), js(run, "state"));
	cell(&c, "装置 Rig");
	cell(&c, "%s%s", js(run, "rig"), ji(run, "simulated") ? " (模拟 simulated)" : "");
	cell(&c, "检定依据 Regulation");
	cell(&c, "%s", reg);
	cell(&c, "检定类别 Verification");
	cell(&c, "%s", rpt_vtype_name(js(run, "verification_type")));
	cell(&c, "送检单位 Submitter");
	cell(&c, "%s", js(run, "client"));
	cell(&c, "检定员 Verifier");
	cell(&c, "%s", js(run, "operator"));
	cell(&c, "开始 Started");
	cell(&c, "%s", started);
	cell(&c, "结束 Ended");
	cell(&c, "%s", ended);
	table_cells(p, &t, &c);
	heading(p, "计量标准 Reference standards");
	standards_table(p, json_object_get(run, "standards"));

	heading(p, "结论汇总 Verdicts");
	static const double wv[] = {0.08, 0.20, 0.16, 0.14, 0.20, 0.22};
	static const char *const hv[] = {
		"表位 Pos.",	"出厂编号 Serial",	   "型号 Model",
		"结论 Verdict", "不合格项目 Failed items", "证书编号 Certificate"};
	struct table tv = {6, wv, hv, 8, NULL};
	size_t counts[3] = {0};
	for (size_t i = 0; i < n; i++) {
		json_t *e = m[i].e, *failed, *meter = json_object_get(e, "meter");
		const char *v = current_verdict(e, &failed);
		counts[!strcmp(v, "pass") ? 0 : !strcmp(v, "fail") ? 1 : 2]++;
		char ft[400] = "";
		size_t fi, fn = 0;
		json_t *f;
		json_array_foreach (failed, fi, f) {
			if (fn < sizeof ft)
				fn += (size_t)snprintf(
					ft + fn, sizeof ft - fn, "%s%s", fn ? "; " : "",
					rpt_item_title(m[i].proc, json_string_value(f)));
		}
		cell(&c, "%lld", ji(e, "position"));
		cell(&c, "%s", js(meter, "serial"));
		cell(&c, "%s", js(meter, "model"));
		cell(&c, "%s", rpt_verdict_name(v));
		cell(&c, "%s", ft[0] ? ft : "—");
		cell(&c, "%s", js(last_certificate(e), "number"));
	}
	table_cells(p, &tv, &c);
	char line[300];
	snprintf(line, sizeof line,
		 "%zu 只表: 合格 %zu, 不合格 %zu, 其他 %zu · %zu meters: %zu passed, %zu failed, "
		 "%zu other (aborted or error)",
		 n, counts[0], counts[1], counts[2], n, counts[0], counts[1], counts[2]);
	para(p, line, 9);
	para(p, p->ctx->verification, 8);

	for (size_t i = 0; i < n; i++) {
		json_t *e = m[i].e, *failed, *meter = json_object_get(e, "meter");
		const char *v = current_verdict(e, &failed);
		char title[300];
		snprintf(title, sizeof title, "表位 %lld · %s · %s — %s", ji(e, "position"),
			 js(meter, "serial"), js(meter, "model"), rpt_verdict_name(v));
		need(p, 260);
		heading(p, title);
		error_curve(p, &m[i],
			    "误差曲线 Error curve (虚线: 最大允许误差 dashed: MPE envelope)");
		points_table(p, m[i].proc, json_object_get(e, "points"), 0);
	}
}

/* ---- documents ----------------------------------------------------------------------------- */

static cairo_status_t discard(void *closure, const unsigned char *data, unsigned int len)
{
	(void)closure;
	(void)data;
	(void)len;
	return CAIRO_STATUS_SUCCESS;
}

/* Where the second pass writes: the caller's stream, and the first error writing to it. */
struct sink {
	FILE *f;
	int err;
};

static cairo_status_t to_stream(void *closure, const unsigned char *data, unsigned int len)
{
	struct sink *k = closure;
	errno = 0;
	if (fwrite(data, 1, len, k->f) == len)
		return CAIRO_STATUS_SUCCESS;
	if (!k->err)
		k->err = errno ? errno : EIO;
	return CAIRO_STATUS_WRITE_ERROR;
}

typedef void (*draw_fn)(struct pdf *p, const void *arg);

/* Two passes: the first counts the pages (page N of M), the second writes to out. */
static int render(FILE *out, const char *name, const struct rpt_ctx *c, const char *running,
		  int simulated, const char *title, draw_fn draw, const void *arg, char *err,
		  size_t cap)
{
	int total = 0;
	struct sink sink = {out, 0};
	for (int pass = 0; pass < 2; pass++) {
		struct pdf p = {
			.ctx = c, .running = running, .simulated = simulated, .total = total};
		p.surf = cairo_pdf_surface_create_for_stream(pass ? to_stream : discard,
							     pass ? &sink : NULL, PAGE_W, PAGE_H);
		if (pass) {
			cairo_pdf_surface_set_metadata(p.surf, CAIRO_PDF_METADATA_TITLE, title);
			cairo_pdf_surface_set_metadata(p.surf, CAIRO_PDF_METADATA_CREATOR,
						       "metrod " METRO_VERSION);
		}
		p.cr = cairo_create(p.surf);
		p.pc = pango_cairo_create_context(p.cr);
		draw(&p, arg);
		cairo_show_page(p.cr);
		total = p.page;
		g_object_unref(p.pc);
		cairo_destroy(p.cr);
		cairo_surface_finish(p.surf);
		cairo_status_t st = cairo_surface_status(p.surf);
		cairo_surface_destroy(p.surf);
		if (st == CAIRO_STATUS_SUCCESS && pass && fflush(out) != 0)
			sink.err = errno ? errno : EIO;
		if (st != CAIRO_STATUS_SUCCESS || sink.err) {
			snprintf(err, cap, "%s: cannot write the PDF: %s", name,
				 sink.err ? strerror(sink.err) : cairo_status_to_string(st));
			return -1;
		}
	}
	return 0;
}

static void draw_certificate(struct pdf *p, const void *arg)
{
	certificate_body(p, arg);
}

int rpt_pdf_certificate(FILE *out, const char *name, const struct rpt_ctx *c,
			const struct rpt_meter *m, char *err, size_t cap)
{
	json_t *cert = printed_certificate(m);
	char running[160], title[200];
	snprintf(running, sizeof running, "证书编号 No. %s", js(cert, "number"));
	snprintf(title, sizeof title, "%s %s",
		 strcmp(js(cert, "kind"), "certificate") ? "检定结果通知书" : "检定证书",
		 js(cert, "number"));
	return render(out, name, c, running, (int)ji(json_object_get(m->e, "run"), "simulated"),
		      title, draw_certificate, m, err, cap);
}

struct run_arg {
	json_t *run;
	const struct rpt_meter *m;
	size_t n;
};

static void draw_run(struct pdf *p, const void *arg)
{
	const struct run_arg *a = arg;
	run_body(p, a->run, a->m, a->n);
}

int rpt_pdf_run(FILE *out, const char *name, const struct rpt_ctx *c, json_t *run,
		const struct rpt_meter *m, size_t n, char *err, size_t cap)
{
	char running[160], title[160];
	snprintf(running, sizeof running, "批量检定报告 run %lld · %s", ji(run, "id"),
		 js(run, "rig"));
	snprintf(title, sizeof title, "批量检定报告 Batch report, run %lld", ji(run, "id"));
	struct run_arg a = {run, m, n};
	return render(out, name, c, running, (int)ji(run, "simulated"), title, draw_run, &a, err,
		      cap);
}

void rpt_pdf_shutdown(void)
{
	/* Release the font caches of pango, cairo and fontconfig, so that a leak checker sees
	 * only what this program owns. */
	pango_cairo_font_map_set_default(NULL);
	cairo_debug_reset_static_data();
	FcFini();
}
