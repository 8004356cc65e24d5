#ifndef SERVHA_CRC32C_HW_H
#define SERVHA_CRC32C_HW_H

// Swift cannot emit the SSE4.2 crc32 instruction behind a runtime check (its intrinsics fail instruction selection
// without a module-wide -msse4.2), so this one routine lives here as a header-only function with its own target
// attribute. Everything else about CRC-32C (the table fallback, the check value, the choice) is in Swift.

#include <stddef.h>
#include <stdint.h>

#if defined(__x86_64__)
#include <cpuid.h>

static inline int servha_cpu_has_sse42(void) {
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    return (ecx & bit_SSE4_2) != 0;
}

__attribute__((target("sse4.2")))
static inline uint32_t servha_crc32c_sse42(uint32_t crc, const void *data, size_t length) {
    const unsigned char *p = (const unsigned char *)data;
    uint64_t c = crc;
    while (length >= 8) {
        uint64_t word;
        __builtin_memcpy(&word, p, 8);
        c = __builtin_ia32_crc32di(c, word);
        p += 8;
        length -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (length--) c32 = __builtin_ia32_crc32qi(c32, *p++);
    return c32;
}
#else
static inline int servha_cpu_has_sse42(void) { return 0; }
static inline uint32_t servha_crc32c_sse42(uint32_t crc, const void *data, size_t length) {
    (void)data; (void)length; return crc;
}
#endif

#endif
