/*
 * statsfmt.c - the statistics text parsed, and rendered as a table, JSON
 * and Prometheus text; see statsfmt.h. The Prometheus names are fixed by
 * the table below: a name there is kept across versions (docs/runtime.md
 * lists them), a counter the text gains is left out until it has a row.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "statsfmt.h"

struct line {
	const char *name, *value;	/* into sf->text */
};

struct statsfmt {
	char *text;
	struct line *v;
	size_t n;
	unsigned ndev;
};

int statsfmt_parse(const char *text, struct statsfmt **out)
{
	struct statsfmt *sf;
	size_t cap = 64;
	const char *devs;
	char *p, *nl, *sp;

	sf = calloc(1, sizeof(*sf));
	if (!sf)
		return -ENOMEM;
	sf->text = strdup(text);
	sf->v = malloc(cap * sizeof(*sf->v));
	if (!sf->text || !sf->v)
		goto err_nomem;
	for (p = sf->text; *p; p = nl) {
		nl = strchr(p, '\n');
		if (nl)
			*nl++ = '\0';
		else
			nl = p + strlen(p);
		sp = strchr(p, ' ');
		if (!sp || sp == p)
			continue;
		*sp = '\0';
		if (sf->n == cap) {
			struct line *v = realloc(sf->v, 2 * cap * sizeof(*v));

			if (!v)
				goto err_nomem;
			sf->v = v;
			cap *= 2;
		}
		sf->v[sf->n++] = (struct line){ p, sp + 1 };
	}
	devs = statsfmt_get(sf, "devices");
	if (!devs) {
		statsfmt_free(sf);
		return -EINVAL;
	}
	sf->ndev = (unsigned)strtoul(devs, NULL, 10);
	*out = sf;
	return 0;

err_nomem:
	statsfmt_free(sf);
	return -ENOMEM;
}

void statsfmt_free(struct statsfmt *sf)
{
	if (!sf)
		return;
	free(sf->text);
	free(sf->v);
	free(sf);
}

unsigned statsfmt_devices(const struct statsfmt *sf)
{
	return sf->ndev;
}

const char *statsfmt_get(const struct statsfmt *sf, const char *name)
{
	for (size_t i = 0; i < sf->n; i++)
		if (!strcmp(sf->v[i].name, name))
			return sf->v[i].value;
	return NULL;
}

const char *statsfmt_dev(const struct statsfmt *sf, unsigned dev,
			 const char *key)
{
	char name[96];

	snprintf(name, sizeof(name), "device.%u.%s", dev, key);
	return statsfmt_get(sf, name);
}

/* The numeric value of @name, 0 if missing. */
static double num(const char *value)
{
	return value ? strtod(value, NULL) : 0;
}

static double dev_num(const struct statsfmt *sf, unsigned d, const char *k)
{
	return num(statsfmt_dev(sf, d, k));
}

size_t statsfmt_label_escape(const char *in, char *out, size_t size)
{
	size_t n = 0;

	for (; *in; in++) {
		char esc = *in == '\\' ? '\\' : *in == '"' ? '"' :
			   *in == '\n' ? 'n' : 0;

		if (esc && n + 1 < size)
			out[n] = '\\';
		n += !!esc;
		if (n + 1 < size)
			out[n] = esc ? esc : *in;
		n++;
	}
	if (size)
		out[n < size ? n : size - 1] = '\0';
	return n;
}

/* --- Prometheus --------------------------------------------------------- */

enum kind { GAUGE, COUNTER };

/* One sample source: a text name, and the family it goes into. */
struct metric {
	const char *key;	/* "spilled", or a device's "read_bytes" */
	const char *family;	/* after "kvstripe_" or "kvstripe_device_" */
	enum kind kind;
	const char *label;	/* an extra label, or NULL */
	const char *help;
};

static const struct metric mount_metrics[] = {
	{ "uptime_seconds", "uptime_seconds", GAUGE, NULL,
	  "Seconds since the mount." },
	{ "devices", "devices", GAUGE, NULL, "Backing directories." },
	{ "inodes", "inodes", GAUGE, NULL, "Inodes in the daemon's table." },
	{ "torn_files", "torn_files_total", COUNTER, NULL,
	  "Torn files found since the mount." },
	{ "checksum_bad_files", "checksum_bad_files_total", COUNTER, NULL,
	  "Files a checksum mismatch was found in." },
	{ "checksum_bad_reads", "checksum_bad_reads_total", COUNTER, NULL,
	  "Reads refused with EIO for a checksum mismatch." },
	{ "spilled", "spilled_files_total", COUNTER, NULL,
	  "New files put on another device than the policy's." },
	{ "evicted_files", "evicted_files_total", COUNTER, NULL,
	  "Files eviction removed." },
	{ "evicted_bytes", "evicted_bytes_total", COUNTER, NULL,
	  "Bytes the evicted files took." },
	{ "write_buffers", "write_buffers", GAUGE, NULL,
	  "Write-behind buffers (whole mount)." },
	{ "write_buffers_busy", "write_buffers_busy", GAUGE, NULL,
	  "Write-behind buffers in use (whole mount)." },
	{ "read_buffers", "read_buffers", GAUGE, NULL,
	  "Read-ahead buffers (whole mount)." },
	{ "read_buffers_busy", "read_buffers_busy", GAUGE, NULL,
	  "Read-ahead buffers in use (whole mount)." },
	{ "limit_bytes", "limit_bytes", GAUGE, NULL,
	  "The mount's max_size, 0 for none." },
	{ "used_bytes", "used_bytes", GAUGE, NULL,
	  "Bytes the mount's files take, as counted for max_size." },
};

static const struct metric dev_metrics[] = {
	{ "drained", "drained", GAUGE, NULL,
	  "1 while the device is drained by hand." },
	{ "reads", "reads_total", COUNTER, NULL, "Reads answered without error." },
	{ "read_bytes", "read_bytes_total", COUNTER, NULL,
	  "Bytes returned by reads." },
	{ "writes", "writes_total", COUNTER, NULL, "Writes answered as done." },
	{ "write_bytes", "write_bytes_total", COUNTER, NULL,
	  "Bytes taken by writes." },
	{ "errors_eio", "errors_total", COUNTER, "kind=\"eio\"",
	  "Reads and writes answered with an error, by kind." },
	{ "errors_enospc", "errors_total", COUNTER, "kind=\"enospc\"", NULL },
	{ "errors_other", "errors_total", COUNTER, "kind=\"other\"", NULL },
	{ "spilled_out", "spilled_out_total", COUNTER, NULL,
	  "New files placement chose this device for, put elsewhere." },
	{ "spilled_in", "spilled_in_total", COUNTER, NULL,
	  "New files put here instead of their chosen device." },
	{ "evicted_files", "evicted_files_total", COUNTER, NULL,
	  "Files eviction removed from the device." },
	{ "evicted_bytes", "evicted_bytes_total", COUNTER, NULL,
	  "Bytes the files evicted from the device took." },
	{ "slots", "slots", GAUGE, NULL,
	  "Data requests that may run at once on the device." },
	{ "requests_running", "requests", GAUGE, "state=\"running\"",
	  "Data requests in flight: running, parked, waiting for a slot." },
	{ "requests_parked", "requests", GAUGE, "state=\"parked\"", NULL },
	{ "requests_waiting", "requests", GAUGE, "state=\"waiting\"", NULL },
	{ "writers", "writers", GAUGE, NULL, "Files being written." },
	{ "read_latency_samples", "read_latency_samples", GAUGE, NULL,
	  "Reads in the last minute, of which the quantiles are." },
	{ "read_latency_p50_seconds", "read_latency_seconds", GAUGE,
	  "quantile=\"0.5\"", "Read latency over the last minute." },
	{ "read_latency_p99_seconds", "read_latency_seconds", GAUGE,
	  "quantile=\"0.99\"", NULL },
	{ "write_latency_samples", "write_latency_samples", GAUGE, NULL,
	  "Writes in the last minute, of which the quantiles are." },
	{ "write_latency_p50_seconds", "write_latency_seconds", GAUGE,
	  "quantile=\"0.5\"", "Write latency over the last minute." },
	{ "write_latency_p99_seconds", "write_latency_seconds", GAUGE,
	  "quantile=\"0.99\"", NULL },
	{ "fs_size_bytes", "fs_size_bytes", GAUGE, NULL,
	  "Size of the backing filesystem." },
	{ "fs_free_bytes", "fs_free_bytes", GAUGE, NULL,
	  "Free bytes of the backing filesystem, for unprivileged users." },
	{ "fs_used_bytes", "fs_used_bytes", GAUGE, NULL,
	  "Used bytes of the backing filesystem (all its files)." },
	{ "fs_files_used", "fs_files_used", GAUGE, NULL,
	  "Inodes in use on the backing filesystem (all its files)." },
	{ "limit_bytes", "limit_bytes", GAUGE, NULL,
	  "The device's own max_size, 0 for none." },
	{ "used_bytes", "used_bytes", GAUGE, NULL,
	  "Bytes the device's files take, as counted for max_size." },
};

static const char *const dev_states[] = {
	"ok", "slow", "full", "read-only", "failed",
};

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

/* HELP and TYPE of @family, once, before its first sample. */
static void prom_family(FILE *out, const char *prefix, const struct metric *m,
			const char **said)
{
	if (*said && !strcmp(*said, m->family))
		return;
	if (m->help)	/* the family's first row has it */
		fprintf(out, "# HELP %s%s %s\n", prefix, m->family, m->help);
	fprintf(out, "# TYPE %s%s %s\n", prefix, m->family,
		m->kind == COUNTER ? "counter" : "gauge");
	*said = m->family;
}

static void prom_mount(const struct statsfmt *sf, FILE *out)
{
	const char *said = NULL;

	for (size_t i = 0; i < NELEM(mount_metrics); i++) {
		const struct metric *m = &mount_metrics[i];
		const char *v = statsfmt_get(sf, m->key);

		if (!v)
			continue;
		prom_family(out, "kvstripe_", m, &said);
		fprintf(out, "kvstripe_%s %s\n", m->family, v);
	}
}

/* device="N",path="DIR" of device @d, escaped. */
static void prom_labels(const struct statsfmt *sf, unsigned d, char *buf,
			size_t size)
{
	const char *path = statsfmt_dev(sf, d, "path");
	char esc[8192];

	statsfmt_label_escape(path ? path : "", esc, sizeof(esc));
	snprintf(buf, size, "device=\"%u\",path=\"%s\"", d, esc);
}

static void prom_states(const struct statsfmt *sf, FILE *out)
{
	char labels[8300];

	fputs("# HELP kvstripe_device_state The device's state: 1 for the "
	      "one it is in.\n# TYPE kvstripe_device_state gauge\n", out);
	for (unsigned d = 0; d < sf->ndev; d++) {
		const char *st = statsfmt_dev(sf, d, "state");

		prom_labels(sf, d, labels, sizeof(labels));
		for (size_t i = 0; st && i < NELEM(dev_states); i++)
			fprintf(out, "kvstripe_device_state{%s,state=\"%s\"} "
				"%d\n", labels, dev_states[i],
				!strcmp(st, dev_states[i]));
	}
}

int statsfmt_prometheus(const struct statsfmt *sf, FILE *out)
{
	const char *said = NULL;
	char labels[8300];

	prom_mount(sf, out);
	prom_states(sf, out);
	for (size_t i = 0; i < NELEM(dev_metrics); i++) {
		const struct metric *m = &dev_metrics[i];

		for (unsigned d = 0; d < sf->ndev; d++) {
			const char *v = statsfmt_dev(sf, d, m->key);

			if (!v)
				continue;
			prom_family(out, "kvstripe_device_", m, &said);
			prom_labels(sf, d, labels, sizeof(labels));
			fprintf(out, "kvstripe_device_%s{%s%s%s} %s\n",
				m->family, labels, m->label ? "," : "",
				m->label ? m->label : "", v);
		}
	}
	return ferror(out) ? -EIO : 0;
}

/* --- JSON --------------------------------------------------------------- */

/* Whether @v is a JSON number: digits, one optional point, a sign. */
static bool is_number(const char *v)
{
	bool digit = false, point = false;

	if (*v == '-')
		v++;
	for (; *v; v++) {
		if (*v >= '0' && *v <= '9')
			digit = true;
		else if (*v == '.' && digit && !point)
			point = true;
		else
			return false;
	}
	return digit && v[-1] != '.';
}

static void json_string(const char *s, FILE *out)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

static void json_member(const char *name, const char *value, bool *first,
			FILE *out)
{
	fputs(*first ? "" : ",", out);
	*first = false;
	json_string(name, out);
	fputc(':', out);
	if (is_number(value))
		fputs(value, out);
	else
		json_string(value, out);
}

int statsfmt_json(const struct statsfmt *sf, FILE *out)
{
	bool first = true;

	fputc('{', out);
	/* "devices" is the array below, whose length says how many */
	for (size_t i = 0; i < sf->n; i++)
		if (strncmp(sf->v[i].name, "device.", 7) &&
		    strcmp(sf->v[i].name, "devices"))
			json_member(sf->v[i].name, sf->v[i].value, &first, out);
	fputs(first ? "\"devices\":[" : ",\"devices\":[", out);
	for (unsigned d = 0; d < sf->ndev; d++) {
		char prefix[32];
		size_t len;

		len = (size_t)snprintf(prefix, sizeof(prefix), "device.%u.", d);
		fprintf(out, "%s{\"index\":%u", d ? "," : "", d);
		first = false;
		for (size_t i = 0; i < sf->n; i++)
			if (!strncmp(sf->v[i].name, prefix, len))
				json_member(sf->v[i].name + len,
					    sf->v[i].value, &first, out);
		fputc('}', out);
	}
	fputs("]}\n", out);
	return ferror(out) ? -EIO : 0;
}

/* --- the table ---------------------------------------------------------- */

/* @v bytes as people read them: 512, 3.0K, 12.4G. */
static void human_bytes(double v, char *buf, size_t size)
{
	static const char unit[] = "KMGTPE";
	int u = -1;

	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, size, "%.0f", v);
	else
		snprintf(buf, size, "%.1f%c", v, unit[u]);
}

/* @s seconds as people read them: 786us, 1.2ms, 3.4s; "-" for 0. */
static void human_time(double s, char *buf, size_t size)
{
	if (s <= 0)
		snprintf(buf, size, "-");
	else if (s < 1e-3)
		snprintf(buf, size, "%.0fus", s * 1e6);
	else if (s < 1)
		snprintf(buf, size, "%.1fms", s * 1e3);
	else
		snprintf(buf, size, "%.1fs", s);
}

/* "p50/p99" of @op ("read", "write") of device @d. */
static void latency_cell(const struct statsfmt *sf, unsigned d,
			 const char *op, char *buf, size_t size)
{
	char k[48], p50[16], p99[16];

	snprintf(k, sizeof(k), "%s_latency_p50_seconds", op);
	human_time(dev_num(sf, d, k), p50, sizeof(p50));
	snprintf(k, sizeof(k), "%s_latency_p99_seconds", op);
	human_time(dev_num(sf, d, k), p99, sizeof(p99));
	snprintf(buf, size, "%s/%s", p50, p99);
}

/* The change of device @d's @key since @prev, per second. */
static double rate(const struct statsfmt *sf, const struct statsfmt *prev,
		   double seconds, unsigned d, const char *key)
{
	double now = dev_num(sf, d, key), then = dev_num(prev, d, key);

	return seconds > 0 && now >= then ? (now - then) / seconds : 0;
}

static void table_head(const struct statsfmt *sf, const char *title,
		       FILE *out)
{
	char up[16], wb[48] = "";
	double s = num(statsfmt_get(sf, "uptime_seconds"));

	snprintf(up, sizeof(up), "%dh%02dm%02ds", (int)(s / 3600),
		 (int)s / 60 % 60, (int)s % 60);
	if (num(statsfmt_get(sf, "write_buffers")) > 0)
		snprintf(wb, sizeof(wb), ", write-behind %.0f/%.0f buffers",
			 num(statsfmt_get(sf, "write_buffers_busy")),
			 num(statsfmt_get(sf, "write_buffers")));
	fprintf(out, "kvstripe %s: %u device%s, up %s%s\n", title, sf->ndev,
		sf->ndev == 1 ? "" : "s", up, wb);
}

int statsfmt_table(const struct statsfmt *sf, const struct statsfmt *prev,
		   double seconds, const char *title, FILE *out)
{
	table_head(sf, title, out);
	fprintf(out, "%3s %-10s %8s %8s %8s %8s %7s %8s %-15s %-15s %7s "
		"%7s %s\n", "DEV", "STATE", prev ? "READS/s" : "READS",
		prev ? "READ/s" : "READ", prev ? "WRITES/s" : "WRITES",
		prev ? "WRITE/s" : "WRITTEN", "ERRORS", "RUN/PARK",
		"READ p50/p99", "WRITE p50/p99", "USED", "FREE", "PATH");
	for (unsigned d = 0; d < sf->ndev; d++) {
		char rb[16], wb[16], used[16], fr[16], rl[32], wl[32], st[32];
		double r, w, rbytes, wbytes, errs;
		const char *u = statsfmt_dev(sf, d, "used_bytes");

		if (prev) {
			r = rate(sf, prev, seconds, d, "reads");
			w = rate(sf, prev, seconds, d, "writes");
			rbytes = rate(sf, prev, seconds, d, "read_bytes");
			wbytes = rate(sf, prev, seconds, d, "write_bytes");
		} else {
			r = dev_num(sf, d, "reads");
			w = dev_num(sf, d, "writes");
			rbytes = dev_num(sf, d, "read_bytes");
			wbytes = dev_num(sf, d, "write_bytes");
		}
		errs = dev_num(sf, d, "errors_eio") +
		       dev_num(sf, d, "errors_enospc") +
		       dev_num(sf, d, "errors_other");
		human_bytes(rbytes, rb, sizeof(rb));
		human_bytes(wbytes, wb, sizeof(wb));
		/* without a max_size: the backing filesystem's, marked */
		human_bytes(u ? num(u) : dev_num(sf, d, "fs_used_bytes"), used,
			    sizeof(used) - 1);
		if (!u)
			strcat(used, "*");
		human_bytes(dev_num(sf, d, "fs_free_bytes"), fr, sizeof(fr));
		latency_cell(sf, d, "read", rl, sizeof(rl));
		latency_cell(sf, d, "write", wl, sizeof(wl));
		snprintf(st, sizeof(st), "%s%s",
			 statsfmt_dev(sf, d, "state") ?: "?",
			 dev_num(sf, d, "drained") ? ",drain" : "");
		fprintf(out, "%3u %-10s %8.*f %8s %8.*f %8s %7.0f %4.0f/%-3.0f "
			"%-15s %-15s %7s %7s %s\n", d, st, prev ? 1 : 0, r, rb,
			prev ? 1 : 0, w, wb, errs,
			dev_num(sf, d, "requests_running"),
			dev_num(sf, d, "requests_parked"), rl, wl, used, fr,
			statsfmt_dev(sf, d, "path") ?: "?");
	}
	if (sf->ndev && !statsfmt_dev(sf, 0, "used_bytes"))
		fputs("* USED without max_size: the backing filesystem's, "
		      "all its files\n", out);
	return ferror(out) ? -EIO : 0;
}
