/*
 * driver.c — a deterministic stand-alone driver for the fuzz targets in
 * regress/fuzz/fuzz_*.c.
 *
 * Every target defines the libFuzzer entry point
 *     int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
 * so it can be built with `clang -fsanitize=fuzzer` for open-ended fuzzing
 * (make fuzz-libfuzzer).  For CI the same target is linked with this driver
 * and AddressSanitizer/UBSan using the normal compiler: it replays the seed
 * corpus (regress/fuzz/corpus/<target>/, if any), then runs a fixed number of
 * mutations of those seeds drawn from a seeded PRNG, so a run is bounded and
 * exactly repeatable.  A crash or sanitizer report fails the run; the input is
 * written to fuzz-crash-<target>.bin first.
 *
 * usage: fuzz_x [-n iterations] [-s seed] [-c corpus_dir] [file ...]
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_INPUT_MAX_BYTES (1 << 20)
#define FUZZ_SEEDS_MAX 4096

static uint64_t prng_state;
static const char *target_name = "fuzz";
static uint8_t *current_input;
static size_t current_size;

static uint64_t
prng_next(void)
{
	/* splitmix64 */
	uint64_t	z = (prng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void
save_crash(int sig)
{
	char		path[256];
	FILE	   *f;

	snprintf(path, sizeof(path), "fuzz-crash-%s.bin", target_name);
	f = fopen(path, "wb");
	if (f)
	{
		if (current_input)
			fwrite(current_input, 1, current_size, f);
		fclose(f);
	}
	fprintf(stderr, "not ok - %s crashed (signal %d); input saved to %s\n",
			target_name, sig, path);
	signal(sig, SIG_DFL);
	raise(sig);
}

typedef struct Seed
{
	uint8_t    *data;
	size_t		size;
} Seed;

static Seed seeds[FUZZ_SEEDS_MAX];
static int	nseeds;

static void
add_seed_file(const char *path)
{
	FILE	   *f = fopen(path, "rb");
	uint8_t    *buf;
	size_t		n;

	if (!f || nseeds >= FUZZ_SEEDS_MAX)
	{
		if (f)
			fclose(f);
		return;
	}
	buf = malloc(FUZZ_INPUT_MAX_BYTES);
	n = fread(buf, 1, FUZZ_INPUT_MAX_BYTES, f);
	fclose(f);
	seeds[nseeds].data = buf;
	seeds[nseeds].size = n;
	nseeds++;
}

static void
add_seed_dir(const char *dir)
{
	DIR		   *d = opendir(dir);
	struct dirent *de;
	char		path[4096];

	if (!d)
		return;
	while ((de = readdir(d)) != NULL)
	{
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		add_seed_file(path);
	}
	closedir(d);
}

static size_t
mutate(uint8_t *buf, size_t size, size_t cap)
{
	int			nmut = 1 + (int) (prng_next() % 8);

	for (int i = 0; i < nmut; i++)
	{
		uint64_t	r = prng_next();

		switch (r % 6)
		{
			case 0:				/* flip a bit */
				if (size)
					buf[(r >> 8) % size] ^= (uint8_t) (1u << ((r >> 40) % 8));
				break;
			case 1:				/* random byte */
				if (size)
					buf[(r >> 8) % size] = (uint8_t) (r >> 48);
				break;
			case 2:				/* truncate */
				if (size)
					size = (r >> 8) % size;
				break;
			case 3:				/* append random bytes */
				{
					size_t		add = 1 + (r >> 8) % 64;

					for (size_t k = 0; k < add && size < cap; k++)
						buf[size++] = (uint8_t) prng_next();
				}
				break;
			case 4:				/* interesting values */
				if (size >= 4)
				{
					static const uint32_t vals[] = {0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0xffff, 0x10000};
					uint32_t	v = vals[(r >> 8) % 7];
					size_t		pos = (r >> 16) % (size - 3);

					memcpy(buf + pos, &v, 4);
				}
				break;
			case 5:				/* duplicate a slice */
				if (size > 1 && size < cap)
				{
					size_t		from = (r >> 8) % size;
					size_t		len = 1 + (r >> 24) % (size - from);

					if (len > cap - size)
						len = cap - size;
					memmove(buf + size, buf + from, len);
					size += len;
				}
				break;
		}
	}
	return size;
}

int
main(int argc, char **argv)
{
	long		iterations = 20000;
	uint64_t	seed = 1;
	const char *corpus = NULL;
	int			opt;
	uint8_t    *buf;

	target_name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	while ((opt = getopt(argc, argv, "n:s:c:")) != -1)
	{
		switch (opt)
		{
			case 'n':
				iterations = atol(optarg);
				break;
			case 's':
				seed = strtoull(optarg, NULL, 10);
				break;
			case 'c':
				corpus = optarg;
				break;
			default:
				fprintf(stderr, "usage: %s [-n iterations] [-s seed] [-c corpus_dir] [file ...]\n", argv[0]);
				return 2;
		}
	}
	signal(SIGSEGV, save_crash);
	signal(SIGABRT, save_crash);
	signal(SIGBUS, save_crash);
	signal(SIGFPE, save_crash);
	prng_state = seed;

	if (corpus)
		add_seed_dir(corpus);
	for (int i = optind; i < argc; i++)
		add_seed_file(argv[i]);

	buf = malloc(FUZZ_INPUT_MAX_BYTES);
	current_input = buf;

	/* the seeds themselves first */
	for (int i = 0; i < nseeds; i++)
	{
		memcpy(buf, seeds[i].data, seeds[i].size);
		current_size = seeds[i].size;
		LLVMFuzzerTestOneInput(buf, current_size);
	}
	/* empty input, then mutations */
	current_size = 0;
	LLVMFuzzerTestOneInput(buf, 0);
	for (long it = 0; it < iterations; it++)
	{
		size_t		size = 0;

		if (nseeds > 0 && prng_next() % 8 != 0)
		{
			Seed	   *s = &seeds[prng_next() % nseeds];

			memcpy(buf, s->data, s->size);
			size = s->size;
		}
		else
		{
			size = prng_next() % 512;
			for (size_t k = 0; k < size; k++)
				buf[k] = (uint8_t) prng_next();
		}
		size = mutate(buf, size, 65536);
		current_size = size;
		LLVMFuzzerTestOneInput(buf, size);
	}
	printf("ok - %s: %d seeds + %ld mutated inputs (seed %llu), no crash\n",
		   target_name, nseeds, iterations, (unsigned long long) seed);
	return 0;
}
