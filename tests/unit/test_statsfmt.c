/*
 * test_statsfmt.c - the statistics text parsed and rendered: label
 * escapes, every Prometheus line well formed (one HELP and TYPE per
 * family, before its samples; counters end in _total), JSON numbers and
 * strings, and the table's totals and rates.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "statsfmt.h"

static const char t_text[] =
	"version 1\n"
	"uptime_seconds 61.500\n"
	"devices 2\n"
	"spilled 3\n"
	"write_buffers 16\n"
	"write_buffers_busy 2\n"
	"limit_bytes 0\n"
	"device.0.path /mnt/nvme0/kv\n"
	"device.0.state ok\n"
	"device.0.drained 0\n"
	"device.0.reads 10\n"
	"device.0.read_bytes 10485760\n"
	"device.0.writes 4\n"
	"device.0.write_bytes 4096\n"
	"device.0.errors_eio 1\n"
	"device.0.errors_enospc 0\n"
	"device.0.errors_other 0\n"
	"device.0.requests_running 1\n"
	"device.0.read_latency_p50_seconds 0.000012000\n"
	"device.0.read_latency_p99_seconds 0.001500000\n"
	"device.0.fs_free_bytes 1073741824\n"
	"device.1.path /mnt/we\"ird\\dir\n"
	"device.1.state failed\n"
	"device.1.drained 1\n"
	"device.1.reads 0\n"
	"device.1.read_bytes 0\n"
	"device.1.errors_eio 7\n"
	"device.1.future_counter 5\n"
	"no_value_line\n";

static struct statsfmt *sf;

static void setup(void)
{
	cr_assert_eq(statsfmt_parse(t_text, &sf), 0);
}

static void teardown(void)
{
	statsfmt_free(sf);
}

TestSuite(statsfmt, .init = setup, .fini = teardown);

/* What @render wrote, NUL-terminated; free it. */
static char *t_render(int (*render)(const struct statsfmt *, FILE *))
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	cr_assert_not_null(f);
	cr_assert_eq(render(sf, f), 0);
	fclose(f);
	return buf;
}

static int t_table_plain(const struct statsfmt *s, FILE *f)
{
	return statsfmt_table(s, NULL, 0, "/mnt/kv", f);
}

Test(statsfmt, parses_names_and_values)
{
	cr_assert_eq(statsfmt_devices(sf), 2);
	cr_assert_str_eq(statsfmt_get(sf, "uptime_seconds"), "61.500");
	cr_assert_str_eq(statsfmt_dev(sf, 1, "path"), "/mnt/we\"ird\\dir");
	cr_assert_str_eq(statsfmt_dev(sf, 0, "read_bytes"), "10485760");
	cr_assert_null(statsfmt_get(sf, "no_value_line"));
	cr_assert_null(statsfmt_dev(sf, 2, "reads"));
}

Test(statsfmt, refuses_text_without_devices)
{
	struct statsfmt *x;

	cr_assert_eq(statsfmt_parse("version 1\nfoo 2\n", &x), -EINVAL);
	cr_assert_eq(statsfmt_parse("", &x), -EINVAL);
	statsfmt_free(NULL);
}

Test(statsfmt, escapes_label_values)
{
	char out[64];

	cr_assert_eq(statsfmt_label_escape("a\"b\\c\nd", out, sizeof(out)),
		     10);
	cr_assert_str_eq(out, "a\\\"b\\\\c\\nd");
	cr_assert_eq(statsfmt_label_escape("plain", out, sizeof(out)), 5);
	cr_assert_str_eq(out, "plain");
	/* truncated, still terminated, the length it needed */
	cr_assert_eq(statsfmt_label_escape("\"\"\"\"", out, 4), 8);
	cr_assert_eq(strlen(out), 3);
}

/* Every line of @text: a HELP or TYPE line, or a well-formed sample. */
static void t_check_exposition(char *text)
{
	regex_t help, type, sample;
	char *line, *save = NULL, family[128] = "";
	char typed[64][128];
	size_t ntyped = 0;

	cr_assert_eq(regcomp(&help, "^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .+$",
			     REG_EXTENDED), 0);
	cr_assert_eq(regcomp(&type, "^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) "
			     "(counter|gauge)$", REG_EXTENDED), 0);
	cr_assert_eq(regcomp(&sample, "^[a-zA-Z_:][a-zA-Z0-9_:]*"
			     "(\\{([a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\]|"
			     "\\\\[\"\\\\n])*\",?)*\\})? "
			     "-?[0-9]+(\\.[0-9]+)?$", REG_EXTENDED), 0);
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		regmatch_t m[3];

		if (!strncmp(line, "# HELP", 6)) {
			cr_expect_eq(regexec(&help, line, 0, NULL, 0), 0,
				     "bad HELP: %s", line);
			continue;
		}
		if (!strncmp(line, "# TYPE", 6)) {
			cr_assert_eq(regexec(&type, line, 3, m, 0), 0,
				     "bad TYPE: %s", line);
			snprintf(family, sizeof(family), "%.*s",
				 (int)(m[1].rm_eo - m[1].rm_so),
				 line + m[1].rm_so);
			for (size_t i = 0; i < ntyped; i++)
				cr_expect_str_neq(typed[i], family,
						  "TYPE twice: %s", family);
			cr_assert_lt(ntyped, 64);
			strcpy(typed[ntyped++], family);
			if (strstr(line, " counter"))
				cr_expect(strstr(family, "_total"),
					  "counter without _total: %s", line);
			continue;
		}
		cr_expect_eq(regexec(&sample, line, 0, NULL, 0), 0,
			     "bad sample: %s", line);
		/* a sample belongs to the family typed last */
		cr_expect(!strncmp(line, family, strlen(family)) &&
			  (line[strlen(family)] == '{' ||
			   line[strlen(family)] == ' '),
			  "sample outside its family %s: %s", family, line);
	}
	regfree(&help);
	regfree(&type);
	regfree(&sample);
}

Test(statsfmt, prometheus_is_well_formed)
{
	char *text = t_render(statsfmt_prometheus);

	cr_expect(strstr(text, "kvstripe_device_read_bytes_total{device=\"0\","
			 "path=\"/mnt/nvme0/kv\"} 10485760\n"), "%s", text);
	cr_expect(strstr(text, "path=\"/mnt/we\\\"ird\\\\dir\""), "%s", text);
	cr_expect(strstr(text, "kvstripe_device_errors_total{device=\"1\","
			 "path=\"/mnt/we\\\"ird\\\\dir\",kind=\"eio\"} 7\n"),
		  "%s", text);
	cr_expect(strstr(text, "kvstripe_device_state{device=\"1\",path=\"/mnt/"
			 "we\\\"ird\\\\dir\",state=\"failed\"} 1\n"), "%s",
		  text);
	cr_expect(strstr(text, ",state=\"ok\"} 0\n"), "%s", text);
	cr_expect(strstr(text, "kvstripe_device_read_latency_seconds{device="
			 "\"0\",path=\"/mnt/nvme0/kv\",quantile=\"0.99\"} "
			 "0.001500000\n"), "%s", text);
	cr_expect(strstr(text, "kvstripe_spilled_files_total 3\n"), "%s", text);
	cr_expect_null(strstr(text, "future_counter"), "%s", text);
	t_check_exposition(text);
	free(text);
}

Test(statsfmt, json_has_numbers_strings_and_devices)
{
	char *text = t_render(statsfmt_json);

	cr_expect(strstr(text, "{\"version\":1,\"uptime_seconds\":61.500,"),
		  "%s", text);
	cr_expect_null(strstr(text, "\"devices\":2"), "%s", text);
	cr_expect(strstr(text, "\"devices\":[{\"index\":0,\"path\":"
			 "\"/mnt/nvme0/kv\",\"state\":\"ok\""), "%s", text);
	cr_expect(strstr(text, "{\"index\":1,\"path\":\"/mnt/we\\\"ird\\\\dir\""),
		  "%s", text);
	cr_expect(strstr(text, "\"future_counter\":5"), "%s", text);
	cr_expect(strstr(text, "]}\n"), "%s", text);
	free(text);
}

Test(statsfmt, table_shows_totals)
{
	char *text = t_render(t_table_plain);

	cr_expect(strstr(text, "kvstripe /mnt/kv: 2 devices, up 0h01m01s, "
			 "write-behind 2/16 buffers\n"), "%s", text);
	cr_expect(strstr(text, "READS"), "%s", text);
	cr_expect(strstr(text, "10.0M"), "%s", text);
	cr_expect(strstr(text, "12us/1.5ms"), "%s", text);
	cr_expect(strstr(text, "failed,drain"), "%s", text);
	cr_expect(strstr(text, "/mnt/nvme0/kv\n"), "%s", text);
	free(text);
}

Test(statsfmt, table_shows_rates_with_a_previous_look)
{
	struct statsfmt *prev;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	cr_assert_eq(statsfmt_parse("devices 2\ndevice.0.reads 0\n"
				    "device.0.read_bytes 0\n", &prev), 0);
	f = open_memstream(&buf, &len);
	cr_assert_eq(statsfmt_table(sf, prev, 2.0, "/mnt/kv", f), 0);
	fclose(f);
	cr_expect(strstr(buf, "READS/s"), "%s", buf);
	cr_expect(strstr(buf, " 5.0 "), "%s", buf);	/* 10 reads in 2 s */
	cr_expect(strstr(buf, "5.0M"), "%s", buf);	/* 10 MiB in 2 s */
	free(buf);
	statsfmt_free(prev);
}
