/*
 * crc32c.h — CRC-32C (Castagnoli), as used by iSCSI, ext4 and PostgreSQL.
 *
 * dcf_crc32c(0, buf, len) is the CRC of buf; chaining works:
 *     dcf_crc32c(dcf_crc32c(0, a, na), b, nb) == dcf_crc32c(0, a||b, na+nb).
 * The SSE4.2 instruction is used when the CPU has it (checked once), else a
 * slicing-by-8 table implementation; both are exposed for the tests, which
 * check them against the RFC 3720 vectors and against each other.
 */
#ifndef DCF_CRC32C_H
#define DCF_CRC32C_H

#include <stddef.h>
#include <stdint.h>

extern uint32_t dcf_crc32c(uint32_t crc, const void *data, size_t len);
extern uint32_t dcf_crc32c_sw(uint32_t crc, const void *data, size_t len);
extern uint32_t dcf_crc32c_hw(uint32_t crc, const void *data, size_t len);	/* only if available */
extern int	dcf_crc32c_hw_available(void);

#endif							/* DCF_CRC32C_H */
