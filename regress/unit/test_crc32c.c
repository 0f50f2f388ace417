/*
 * test_crc32c.c — CRC-32C against the RFC 3720 (iSCSI) vectors, hardware
 * against software on random buffers, and chaining.
 */
#include "core/crc32c.h"
#include "unit.h"

#include <string.h>

typedef uint32_t (*crc_fn) (uint32_t, const void *, size_t);

static void
check_vectors(const char *name, crc_fn fn)
{
	unsigned char buf[32];

	CHECK(fn(0, "123456789", 9) == 0xE3069283u, "%s: \"123456789\" = e3069283", name);
	memset(buf, 0, 32);
	CHECK(fn(0, buf, 32) == 0x8A9136AAu, "%s: 32 zero bytes = 8a9136aa", name);
	memset(buf, 0xff, 32);
	CHECK(fn(0, buf, 32) == 0x62A8AB43u, "%s: 32 0xff bytes = 62a8ab43", name);
	for (int i = 0; i < 32; i++)
		buf[i] = (unsigned char) i;
	CHECK(fn(0, buf, 32) == 0x46DD794Eu, "%s: 0..31 = 46dd794e", name);
	for (int i = 0; i < 32; i++)
		buf[i] = (unsigned char) (31 - i);
	CHECK(fn(0, buf, 32) == 0x113FDB5Cu, "%s: 31..0 = 113fdb5c", name);
	CHECK(fn(0, buf, 0) == 0, "%s: empty = 0", name);
}

int
main(void)
{
	static unsigned char big[70001];
	uint64_t	x = 88172645463325252ULL;
	int			mismatches = 0,
				chain_bad = 0;

	check_vectors("software", dcf_crc32c_sw);
	if (dcf_crc32c_hw_available())
		check_vectors("sse4.2", dcf_crc32c_hw);
	else
		CHECK(1, "sse4.2 not available on this CPU; hardware path not exercised");
	check_vectors("dispatch", dcf_crc32c);

	for (size_t i = 0; i < sizeof(big); i++)
	{
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		big[i] = (unsigned char) x;
	}
	for (size_t off = 0; off < 16; off++)
		for (size_t len = 0; len < 300; len += 7)
		{
			if (dcf_crc32c_sw(0, big + off, len) != dcf_crc32c(0, big + off, len))
				mismatches++;
		}
	CHECK(mismatches == 0, "software and dispatched CRC agree on unaligned buffers (%d mismatches)", mismatches);
	for (size_t cut = 0; cut < sizeof(big); cut += 9973)
	{
		uint32_t	whole = dcf_crc32c(0, big, sizeof(big));
		uint32_t	part = dcf_crc32c(dcf_crc32c(0, big, cut), big + cut, sizeof(big) - cut);

		if (whole != part)
			chain_bad++;
	}
	CHECK(chain_bad == 0, "chaining crc(crc(a), b) == crc(a||b)");
	return unit_done();
}
