/*
 * test_place.c - placement policy: gpu<N> directories, LMCache key names,
 * the stable hash (golden values), and the gpus split.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "place.h"

Test(place, gpu_index_below_top_level_dir)
{
	unsigned n = 99;

	cr_assert(place_gpu_index("gpu0/a", &n));
	cr_assert_eq(n, 0);
	cr_assert(place_gpu_index("gpu13/sub/dir/file", &n));
	cr_assert_eq(n, 13);
	cr_assert(place_gpu_index("gpu007/x", &n));
	cr_assert_eq(n, 7);
}

Test(place, gpu_index_rejects_other_names)
{
	unsigned n;

	cr_assert_not(place_gpu_index("gpu3", &n), "the directory itself");
	cr_assert_not(place_gpu_index("gpu3/", &n));
	cr_assert_not(place_gpu_index("gpu/x", &n));
	cr_assert_not(place_gpu_index("gpux/x", &n));
	cr_assert_not(place_gpu_index("gpu3a/x", &n));
	cr_assert_not(place_gpu_index("gpu-1/x", &n));
	cr_assert_not(place_gpu_index("GPU3/x", &n));
	cr_assert_not(place_gpu_index("data/gpu3/x", &n), "not top level");
	cr_assert_not(place_gpu_index("gpu1234567890/x", &n), "overflow");
}

Test(place, lmcache_current_format)
{
	unsigned w = 99;

	cr_assert(place_lmcache_worker("llama@8@5@a1b2c3@bfloat16.pt", &w));
	cr_assert_eq(w, 5);
	cr_assert(place_lmcache_worker("kv/meta-llama-Llama-3-8B@1@0@-1f2e@half.pt",
				       &w));
	cr_assert_eq(w, 0);
}

Test(place, lmcache_old_format)
{
	unsigned w = 99;

	cr_assert(place_lmcache_worker("vllm@llama@8@6@a1b2c3.pt", &w));
	cr_assert_eq(w, 6);
	cr_assert(place_lmcache_worker("huggingface@m@4@3@ff.pt", &w));
	cr_assert_eq(w, 3);
	/* an unknown format word with numbers in fields 2 and 3 */
	cr_assert(place_lmcache_worker("custom@model@2@1@abc.pt", &w));
	cr_assert_eq(w, 1);
	/* "vllm" first: the old layout wins even if fields 1-2 are numeric */
	cr_assert(place_lmcache_worker("vllm@70@8@4@abc.pt", &w));
	cr_assert_eq(w, 4);
}

Test(place, lmcache_rejects_other_names)
{
	unsigned w;

	cr_assert_not(place_lmcache_worker("llama@8@5@a1b2c3@bfloat16.bin", &w));
	cr_assert_not(place_lmcache_worker("llama@8@5@a1b2c3.pt", &w));
	cr_assert_not(place_lmcache_worker("a@b@c@d@e@f.pt", &w));
	cr_assert_not(place_lmcache_worker("llama@x@y@h@bf16.pt", &w));
	cr_assert_not(place_lmcache_worker("llama@8@@h@bf16.pt", &w));
	cr_assert_not(place_lmcache_worker("model.pt", &w));
	cr_assert_not(place_lmcache_worker(".pt", &w));
	cr_assert_not(place_lmcache_worker("dir@1@2@3@4.pt/file", &w),
		      "only the last component counts");
}

/* Values frozen by xxHash's XXH3 format; they must never change. */
Test(place, hash_golden_values)
{
	cr_assert_eq(place_hash(""), 0x2d06800538d394c2ULL);
	cr_assert_eq(place_hash("a"), 0xe6c632b61e964e1fULL);
	cr_assert_eq(place_hash("models/a.bin"), 0xf8240b0ac53762f5ULL);
	cr_assert_eq(place_hash("x/y/z.bin"), 0x7c268436fa41355bULL);
}

Test(place, by_gpu_modulo_devices)
{
	struct place_policy p = { .ndev = 3 };

	for (unsigned g = 0; g < 12; g++) {
		char path[64];

		snprintf(path, sizeof(path), "gpu%u/chunk-%u.bin", g, g * 7);
		cr_assert_eq(place_pick(&p, path), g % 3, "gpu%u", g);
	}
	/* LMCache names below gpu<N>/ still follow the directory */
	cr_assert_eq(place_pick(&p, "gpu1/llama@8@5@ab@bfloat16.pt"), 1);
}

Test(place, lmcache_names_outside_gpu_dirs)
{
	struct place_policy p = { .ndev = 4 };

	cr_assert_eq(place_pick(&p, "shared/llama@8@5@ab@bfloat16.pt"), 1);
	cr_assert_eq(place_pick(&p, "vllm@llama@8@6@ab.pt"), 2);
	cr_assert_eq(place_pick(&p, "llama@8@7@ab@half.pt"), 3);
}

Test(place, hash_placement_is_stable_and_spread)
{
	struct place_policy p = { .ndev = 4 };
	unsigned count[4] = { 0 };

	cr_assert_eq(place_pick(&p, "models/a.bin"),
		     0xf8240b0ac53762f5ULL % 4);
	for (unsigned i = 0; i < 4000; i++) {
		char path[64];
		unsigned d;

		snprintf(path, sizeof(path), "data/file-%u", i);
		d = place_pick(&p, path);
		cr_assert_lt(d, 4);
		cr_assert_eq(d, place_pick(&p, path));
		count[d]++;
	}
	for (unsigned d = 0; d < 4; d++)
		cr_assert_gt(count[d], 800, "device %u got %u", d, count[d]);
}

Test(place, single_device_always_zero)
{
	struct place_policy p = { .ndev = 1, .gpus = 4 };

	cr_assert_eq(place_pick(&p, "gpu3/x"), 0);
	cr_assert_eq(place_pick(&p, "llama@8@5@ab@bfloat16.pt"), 0);
	cr_assert_eq(place_pick(&p, "anything"), 0);
}

Test(place, gpus_split_owns_devices)
{
	/* 8 devices, 2 GPUs: gpu0 owns 0,2,4,6 and gpu1 owns 1,3,5,7 */
	struct place_policy p = { .ndev = 8, .gpus = 2 };
	unsigned used[8] = { 0 };

	for (unsigned i = 0; i < 2000; i++) {
		char path[64];
		unsigned g = i % 4, d;

		snprintf(path, sizeof(path), "gpu%u/chunk-%u", g, i);
		d = place_pick(&p, path);
		cr_assert_lt(d, 8);
		cr_assert_eq(d % 2, g % 2, "%s went to %u", path, d);
		used[d]++;
	}
	for (unsigned d = 0; d < 8; d++)
		cr_assert_gt(used[d], 150, "device %u got %u", d, used[d]);
}

Test(place, gpus_split_uneven)
{
	/* 5 devices, 2 GPUs: gpu0 owns 0,2,4; gpu1 owns 1,3 */
	struct place_policy p = { .ndev = 5, .gpus = 2 };
	unsigned used[5] = { 0 };

	for (unsigned i = 0; i < 1000; i++) {
		char path[64];

		snprintf(path, sizeof(path), "gpu%u/f%u", i % 2, i);
		used[place_pick(&p, path)]++;
	}
	for (unsigned d = 0; d < 5; d++)
		cr_assert_gt(used[d], 100, "device %u got %u", d, used[d]);
}

Test(place, gpus_not_more_devices_falls_back)
{
	struct place_policy p = { .ndev = 2, .gpus = 4 };

	cr_assert_eq(place_pick(&p, "gpu3/x"), 1);
	p.gpus = 2;
	cr_assert_eq(place_pick(&p, "gpu3/x"), 1, "ndev == gpus: plain modulo");
}

Test(place, gpu_owns_matches_pick)
{
	struct place_policy p = { .ndev = 6, .gpus = 2 };

	cr_assert(place_gpu_owns(&p, 3, 1));
	cr_assert(place_gpu_owns(&p, 3, 5));
	cr_assert_not(place_gpu_owns(&p, 3, 2));
	p.gpus = 0;
	cr_assert(place_gpu_owns(&p, 7, 1));
	cr_assert_not(place_gpu_owns(&p, 7, 3));
	for (unsigned i = 0; i < 200; i++) {
		char path[32];

		p.gpus = i % 2 ? 4 : 0;
		snprintf(path, sizeof(path), "gpu%u/f%u", i % 9, i);
		cr_assert(place_gpu_owns(&p, i % 9, place_pick(&p, path)));
	}
}

Test(place, busy_ties_keep_the_hash_choice)
{
	struct place_policy p = { .ndev = 4, .gpus = 1 };
	unsigned idle[4] = { 0 }, even[4] = { 3, 3, 3, 3 };

	for (unsigned i = 0; i < 200; i++) {
		char path[32];

		snprintf(path, sizeof(path), "gpu0/c%u", i);
		cr_assert_eq(place_pick_busy(&p, path, idle), place_pick(&p, path));
		cr_assert_eq(place_pick_busy(&p, path, even), place_pick(&p, path));
		cr_assert_eq(place_pick_busy(&p, path, NULL), place_pick(&p, path));
	}
}

Test(place, busy_steers_within_the_gpus_devices)
{
	/* 4 devices, 2 GPUs: gpu1 owns 1 and 3, whatever else is idle */
	struct place_policy p = { .ndev = 4, .gpus = 2 };
	unsigned busy[4] = { 0, 5, 0, 2 };

	for (unsigned i = 0; i < 100; i++) {
		char path[32];

		snprintf(path, sizeof(path), "gpu1/c%u", i);
		cr_assert_eq(place_pick_busy(&p, path, busy), 3, "%s", path);
		snprintf(path, sizeof(path), "gpu2/c%u", i);
		cr_assert_eq(place_pick_busy(&p, path, busy) % 2, 0, "%s", path);
	}
	/* names with no owner may go anywhere: the idlest device */
	busy[0] = 1;
	cr_assert_eq(place_pick_busy(&p, "top/file", busy), 2);
}

Test(place, busy_leaves_fixed_mappings_alone)
{
	struct place_policy p = { .ndev = 2, .gpus = 0 };
	unsigned busy[2] = { 9, 0 };

	/* gpu<N>/ without a split, and LMCache key names, have one device */
	cr_assert_eq(place_pick_busy(&p, "gpu0/x", busy), 0);
	cr_assert_eq(place_pick_busy(&p, "m@1@0@abc@bf16.pt", busy), 0);
	p.gpus = 2;
	cr_assert_eq(place_pick_busy(&p, "gpu2/x", busy), 0, "ndev == gpus");
}

Test(place, allows_what_pick_busy_may_choose)
{
	struct place_policy p = { .ndev = 4, .gpus = 2 };
	unsigned busy[4];

	/* every device place_pick_busy() returns for some load is allowed */
	for (unsigned i = 0; i < 200; i++) {
		char path[48];

		snprintf(path, sizeof(path), i % 3 ? "gpu%u/c" : "d/%u", i);
		for (unsigned d = 0; d < 4; d++) {
			for (unsigned k = 0; k < 4; k++)
				busy[k] = k == d ? 0 : 1;
			cr_assert(place_allows(&p, path,
					       place_pick_busy(&p, path, busy)),
				  "%s", path);
		}
	}
	cr_assert(place_allows(&p, "gpu1/x", 3));
	cr_assert_not(place_allows(&p, "gpu1/x", 2));
	cr_assert(place_allows(&p, "top/file", 2), "no owner: any device");
	cr_assert(place_allows(&p, "m@4@2@abc@bf16.pt", 2));
	cr_assert_not(place_allows(&p, "m@4@2@abc@bf16.pt", 1));
	cr_assert_not(place_allows(&p, "top/file", 4), "past the devices");
	p.gpus = 0;
	cr_assert(place_allows(&p, "gpu5/x", 1));
	cr_assert_not(place_allows(&p, "gpu5/x", 0));
}

Test(place, visit_order_starts_at_the_policys_device)
{
	unsigned want[4] = { 2, 0, 1, 3 };

	for (unsigned i = 0; i < 4; i++)
		cr_assert_eq(place_visit(2, i), want[i], "step %u", i);
	for (unsigned i = 0; i < 4; i++)
		cr_assert_eq(place_visit(0, i), i);
}

Test(place, spill_keeps_a_device_with_room)
{
	struct place_policy p = { .ndev = 3, .gpus = 0 };
	uint64_t avail[3] = { 100, 900, 500 }, minfree[3] = { 50, 50, 50 };

	for (unsigned d = 0; d < 3; d++)
		cr_assert_eq(place_spill(&p, "top/file", d, avail, minfree), d);
	/* minfree 0: never full, even with nothing free */
	avail[0] = 0;
	minfree[0] = 0;
	cr_assert_eq(place_spill(&p, "top/file", 0, avail, minfree), 0);
}

Test(place, spill_takes_the_roomiest_allowed_device)
{
	struct place_policy p = { .ndev = 4, .gpus = 2 };
	uint64_t avail[4] = { 10, 700, 300, 200 };
	uint64_t minfree[4] = { 50, 50, 50, 50 };

	/* no owner: any device, the one with the most room */
	cr_assert_eq(place_spill(&p, "top/file", 0, avail, minfree), 1);
	/* gpu0 owns 0 and 2: its own device with room first */
	cr_assert_eq(place_spill(&p, "gpu0/c", 0, avail, minfree), 2);
	/* both of gpu0's devices full: then any device */
	avail[2] = 20;
	cr_assert_eq(place_spill(&p, "gpu0/c", 0, avail, minfree), 1);
	/* an LMCache key's one device full: any device */
	cr_assert_eq(place_spill(&p, "m@4@0@abc@bf16.pt", 0, avail, minfree),
		     1);
	/* a device below its own minfree is not taken */
	minfree[1] = 800;
	cr_assert_eq(place_spill(&p, "top/file", 0, avail, minfree), 3);
	/* ties: the lower device */
	avail[1] = 200;
	minfree[1] = 50;
	cr_assert_eq(place_spill(&p, "top/file", 0, avail, minfree), 1);
}

Test(place, spill_keeps_the_pick_when_every_device_is_full)
{
	struct place_policy p = { .ndev = 3, .gpus = 0 };
	uint64_t avail[3] = { 1, 2, 3 }, minfree[3] = { 10, 10, 10 };

	cr_assert_eq(place_spill(&p, "top/file", 1, avail, minfree), 1);
	cr_assert_eq(place_spill(&p, "gpu2/x", 2, avail, minfree), 2);
}

/* --- client naming schemes (place_names.c) ------------------------------ */

/* place_name_parse() of @path: its scheme, and the rank it places by. */
static void t_name(const char *path, enum place_scheme scheme, unsigned rank)
{
	struct place_name nm;

	cr_assert(place_name_parse(path, &nm), "'%s' not recognised", path);
	cr_assert_eq(nm.scheme, scheme, "'%s': scheme %d", path, nm.scheme);
	cr_assert_not(nm.by_hash, "'%s' by hash", path);
	cr_assert_eq(nm.rank, rank, "'%s': rank %u", path, nm.rank);
}

static void t_not_name(const char *path)
{
	struct place_name nm = { .scheme = PLACE_NAME_VLLM_FS, .rank = 7 };

	cr_assert_not(place_name_parse(path, &nm), "'%s' recognised", path);
	cr_assert_eq(nm.scheme, PLACE_NAME_NONE, "'%s'", path);
}

Test(place_names, lmcache_layerwise_and_tagged_keys)
{
	/* LocalDiskBackend: layerwise (6 fields), tags, both together */
	t_name("llama@8@5@1a2b@bfloat16@31.pt", PLACE_NAME_LMCACHE_KEY, 5);
	t_name("llama@8@3@1a2b@half@user%alice.pt", PLACE_NAME_LMCACHE_KEY, 3);
	t_name("llama@8@6@1a2b@half@0@user%al@lora%x.y.pt",
	       PLACE_NAME_LMCACHE_KEY, 6);
	t_name("vllm@llama@8@4@1a2b@12.pt", PLACE_NAME_LMCACHE_KEY, 4);
	/* FSConnector: "<key>.data" and its temporary "<key>.tmp" */
	t_name("kv/meta-llama-SEP-Llama-3.1-8B@4@2@ff00@bfloat16.data",
	       PLACE_NAME_LMCACHE_KEY, 2);
	t_name("kv/meta-llama-SEP-Llama-3.1-8B@4@2@ff00@bfloat16.tmp",
	       PLACE_NAME_LMCACHE_KEY, 2);
	t_name("kv/tmp/m@4@1@ff00@bfloat16@tag%v.data",
	       PLACE_NAME_LMCACHE_KEY, 1);
}

Test(place_names, lmcache_keys_malformed)
{
	t_not_name("llama@8@5@1a2b@bfloat16@x.pt");	/* no '%', no layer */
	t_not_name("llama@8@5@1a2b@half@3@4.pt");	/* two layers */
	t_not_name("llama@8@5@1a2b@half.bin");
	t_not_name("llama@8@5@1a2b@half.pt.old");
	t_not_name("llama@8@5@1a2b@half.data/x");
	t_not_name("@@@@.pt");
	t_not_name("llama@-8@5@1a2b@half.pt");
	t_not_name("llama@8@5x@1a2b@half.data");
	t_not_name(".tmp");
	t_not_name("");
}

Test(place_names, lmcache_mp_fs_adapter)
{
	/* fs: model@0x<kv_rank>@group@hash[@salt].data, tmp ".tmp";
	   kv_rank = ws << 24 | rank << 16 | local_ws << 8 | local_rank */
	t_name("m-SEP-Llama@0x10090803@0@deadbeef.data",
	       PLACE_NAME_LMCACHE_MP, 3);
	t_name("m-SEP-Llama@0x10090803@0@deadbeef.tmp",
	       PLACE_NAME_LMCACHE_MP, 3);
	t_name("kv/m@0x08050805@1f@00ff@tenant-a.data",
	       PLACE_NAME_LMCACHE_MP, 5);
	t_name("kv/m@0x08050805@1f@00ff@tenant-a.tmp",
	       PLACE_NAME_LMCACHE_MP, 5);
	/* fs with relative_tmp_dir: the same name in a subdirectory */
	t_name("kv/tmp/m@0x08070807@0@abc.data", PLACE_NAME_LMCACHE_MP, 7);
	/* fs_native's older three-field name */
	t_name("m@0x02010201@abcdef0123.data", PLACE_NAME_LMCACHE_MP, 1);
	/* two nodes of 8: global rank 12 is local rank 4 */
	t_name("m@0x100c0804@0@abc.data", PLACE_NAME_LMCACHE_MP, 4);
}

Test(place_names, lmcache_mp_single_rank_hashes_the_final_name)
{
	struct place_name a, b, c;

	cr_assert(place_name_parse("m@0x01000100@0@abcd.data", &a));
	cr_assert(place_name_parse("x/m@0x01000100@0@abcd.tmp", &b));
	cr_assert(place_name_parse("m@0x01000100@0@abce.data", &c));
	cr_assert_eq(a.scheme, PLACE_NAME_LMCACHE_MP);
	cr_assert(a.by_hash && b.by_hash && c.by_hash);
	cr_assert_eq(a.hash, b.hash, "temporary and final name differ");
	cr_assert_neq(a.hash, c.hash);
}

Test(place_names, lmcache_mp_malformed)
{
	t_not_name("m@0x1000803@0@abc.data");		/* 7 hex digits */
	t_not_name("m@0x100908030@0@abc.data");		/* 9 */
	t_not_name("m@0X10090803@0@abc.data");
	t_not_name("m@0x1009080g@0@abc.data");
	t_not_name("m@0x10090803@zz@abc.data");		/* group not hex */
	t_not_name("m@0x10090803@0@xyz@salt.data");	/* hash not hex */
	t_not_name("@0x10090803@0@abc.data");		/* no model */
	t_not_name("m@0x10090803@@abc.data");
	t_not_name("m@0x10090803@0@abc@s@t.data");	/* six fields */
	t_not_name("m@0x10090803.data");
	t_not_name("m@0x10090803@0@abc.dat");
}

#define VLLM_BASE	"kv/Qwen_Qwen3-8B_0123456789ab"

Test(place_names, vllm_fs_tier)
{
	t_name(VLLM_BASE "_r3/abc/de_g0/abcdef0123.bin",
	       PLACE_NAME_VLLM_FS, 3);
	t_name(VLLM_BASE "_r3/abc/de_g0/abcdef0123.bin_9223372036854775807.tmp",
	       PLACE_NAME_VLLM_FS, 3);
	t_name("Qwen_0123456789ab_r12/abc/de_g2/abcde.bin",
	       PLACE_NAME_VLLM_FS, 12);
	t_name("a/b/c/x_y_0123456789ab_r0/000/00_g15/0000000.bin",
	       PLACE_NAME_VLLM_FS, 0);
}

Test(place_names, vllm_fs_tier_malformed)
{
	t_not_name(VLLM_BASE "_r3/abd/de_g0/abcdef0123.bin"); /* hhh wrong */
	t_not_name(VLLM_BASE "_r3/abc/df_g0/abcdef0123.bin"); /* hh wrong */
	t_not_name(VLLM_BASE "_r3/abc/de_gx/abcdef0123.bin");
	t_not_name(VLLM_BASE "_r3/abc/de_g0/abcdef0123.bin_x.tmp");
	t_not_name(VLLM_BASE "_r3/abc/de_g0/abcdef0123.bin_1");
	t_not_name(VLLM_BASE "_r3/abc/de_g0/abcdef0123.bin.tmp");
	t_not_name(VLLM_BASE "_r3/abc/de_g0/abcdef0123.binx");
	t_not_name(VLLM_BASE "_r/abc/de_g0/abcdef0123.bin");
	t_not_name(VLLM_BASE "_rx3/abc/de_g0/abcdef0123.bin");
	t_not_name("kv/Qwen_0123456789a_r3/abc/de_g0/abcdef0123.bin");
	t_not_name("kv/_0123456789ab_r3/abc/de_g0/abcdef0123.bin");
	t_not_name(VLLM_BASE "_r3/abc/de_g0/abc.bin");	/* hash too short */
	t_not_name(VLLM_BASE "_r3/abc/de_g0/");
	t_not_name(VLLM_BASE "_r3/abc/de_g0");
	t_not_name("abc/de_g0/abcdef0123.bin");		/* no _r<rank> */
	t_not_name(VLLM_BASE "_r3/abc//de_g0/abcdef0123.bin");
	t_not_name(VLLM_BASE "_r3/config.json");
}

Test(place_names, pick_by_rank_and_temp_names_agree)
{
	struct place_policy p = { .ndev = 3 };
	static const char *const pairs[][2] = {
		{ "kv/m@0x08050805@1f@00ff.data", "kv/m@0x08050805@1f@00ff.tmp" },
		{ "kv/m@0x01000100@0@ab12.data", "kv/m@0x01000100@0@ab12.tmp" },
		{ "kv/m@8@4@ff@half.data", "kv/m@8@4@ff@half.tmp" },
		{ VLLM_BASE "_r4/abc/de_g0/abcdef.bin",
		  VLLM_BASE "_r4/abc/de_g0/abcdef.bin_42.tmp" },
	};
	unsigned busy[3] = { 9, 9, 0 };

	for (unsigned i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		unsigned d = place_pick(&p, pairs[i][0]);

		cr_assert_eq(place_pick(&p, pairs[i][1]), d, "%s", pairs[i][1]);
		cr_assert_eq(place_pick_busy(&p, pairs[i][1], busy), d,
			     "a named file is not steered: %s", pairs[i][1]);
		cr_assert(place_allows(&p, pairs[i][0], d));
		cr_assert_not(place_allows(&p, pairs[i][0], (d + 1) % 3));
	}
	cr_assert_eq(place_pick(&p, "kv/m@0x08050805@1f@00ff.data"), 5 % 3);
	cr_assert_eq(place_pick(&p, VLLM_BASE "_r4/abc/de_g0/abcdef.bin"), 1);
	/* gpu<N>/ still wins over a name */
	cr_assert_eq(place_pick(&p, "gpu2/m@0x08050805@1f@00ff.data"), 2);
}

Test(place_names, single_rank_mp_names_spread)
{
	struct place_policy p = { .ndev = 3 };
	unsigned used[3] = { 0 };

	for (unsigned i = 0; i < 300; i++) {
		char path[64];

		snprintf(path, sizeof(path), "m@0x01000100@0@%08x.data", i);
		used[place_pick(&p, path)]++;
	}
	for (unsigned d = 0; d < 3; d++)
		cr_assert_gt(used[d], 50, "device %u got %u", d, used[d]);
}

/* --- the operator's rules ------------------------------------------------ */

Test(place_rules, match_takes_the_first_group)
{
	const char *pat[] = { "^jobs/w([0-9]+)/", "(x)?rank-([0-9]+)" };
	struct place_rules *r;
	unsigned n = 99;

	cr_assert_eq(place_rules_new(pat, 1, &r, NULL, 0), 0);
	cr_assert(place_rules_match(r, "jobs/w12/a.bin", &n));
	cr_assert_eq(n, 12);
	cr_assert_not(place_rules_match(r, "x/jobs/w12/a.bin", &n));
	cr_assert_not(place_rules_match(r, "jobs/w1234567890/a", &n),
		      "more than 9 digits");
	cr_assert_not(place_rules_match(NULL, "jobs/w1/a", &n));
	place_rules_free(r);
	/* a first group that did not take part, or is not a number: the
	   rule does not place the path */
	cr_assert_eq(place_rules_new(pat + 1, 1, &r, NULL, 0), 0);
	cr_assert_not(place_rules_match(r, "rank-3", &n));
	place_rules_free(r);
	place_rules_free(NULL);
}

Test(place_rules, tried_in_order_before_everything)
{
	const char *pat[] = { "^a/([0-9]+)", "([0-9]+)\\.kv$" };
	struct place_rules *r;
	struct place_policy p = { .ndev = 4, .gpus = 2 };
	unsigned busy[4] = { 0, 0, 0, 9 };
	unsigned n;

	cr_assert_eq(place_rules_new(pat, 2, &r, NULL, 0), 0);
	p.rules = r;
	cr_assert(place_rules_match(r, "a/5/7.kv", &n));
	cr_assert_eq(n, 5, "the first rule wins");
	cr_assert_eq(place_pick(&p, "b/7.kv"), 3);
	cr_assert_eq(place_pick_busy(&p, "b/7.kv", busy), 3, "not steered");
	cr_assert(place_allows(&p, "b/7.kv", 3));
	cr_assert_not(place_allows(&p, "b/7.kv", 1));
	/* before gpu<N>/ and before the clients' names */
	cr_assert_eq(place_pick(&p, "gpu0/6.kv"), 2);
	cr_assert_eq(place_pick(&p, "x/m@8@1@ff@half@2.kv"), 2);
	cr_assert_eq(place_pick(&p, "m@8@1@ff@half.pt"), 1, "no rule: name");
	place_rules_free(r);
}

Test(place_rules, bad_patterns_are_refused)
{
	const char *bad[] = { "w([0-9]+", "[", "no-group-[0-9]+", "a**(" };
	struct place_rules *r = (struct place_rules *)&r;
	char err[256];

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		cr_assert_eq(place_rules_new(bad + i, 1, &r, err, sizeof(err)),
			     -EINVAL, "%s", bad[i]);
		cr_assert_null(r);
		cr_assert(strstr(err, bad[i]), "%s: '%s'", bad[i], err);
	}
	cr_assert(strstr(err, "") && place_rules_new(bad + 2, 1, &r, err,
						     sizeof(err)) == -EINVAL);
	cr_assert(strstr(err, "capture group"), "'%s'", err);
	cr_assert_eq(place_rules_new(bad, 0, &r, err, sizeof(err)), 0);
	cr_assert_null(r);
}
