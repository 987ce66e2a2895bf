/*
 * test_place.c - placement policy: gpu<N> directories, LMCache key names,
 * the stable hash (golden values), and the gpus split.
 */
#include <criterion/criterion.h>
#include <stdio.h>

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
