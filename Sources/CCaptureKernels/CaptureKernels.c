// Hot loops of CaptureNormalization. The arithmetic is the Swift definitions' (and Pillow's):
// every body below computes the same integers, only the instructions differ.
//
// Pillow's box-blur weight needs a 32-bit product (a window sum up to 16 bits times an 8.24
// weight up to 24 bits), and baseline x86-64 (SSE2) has no 32-bit vector multiply. pmaddwd
// (16 × 16 → 32, two products added) does have one: splitting each weight w = 2^12 · hi + lo
// gives sum · w_in + outside · w_out = 2^12 · (sum · hi_in + outside · hi_out)
//                                     + (sum · lo_in + outside · lo_out),
// two pmaddwd per four pixels, exact because every factor fits 15 bits and the total 32.
// AVX2 runs the same sequence twice as wide; the body is picked at run time, so one build
// runs on every x86-64 and uses AVX2 where the CPU has it.

#include "CaptureKernels.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#pragma STDC FP_CONTRACT OFF

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define CK_X86 1
#endif

static atomic_int forced_baseline = 0;

static inline int clampi(int value, int low, int high) { return value < low ? low : value > high ? high : value; }

static inline uint8_t weigh1(uint32_t sum, uint32_t outside, uint32_t inner, uint32_t outer) {
    return (uint8_t)((sum * inner + outside * outer + (1u << 23)) >> 24);
}

static inline uint8_t sharpen1(int value, int blurred, int percent, int threshold) {
    int difference = value - blurred;
    int result = (difference > threshold || difference < -threshold) ? value + difference * percent / 100 : value;
    return (uint8_t)clampi(result, 0, 255);
}

/// Row positions [from, to) one value at a time, indices clamped to the row (edges repeated).
static void rows_scalar(const uint8_t *row, uint8_t *out, int width, int from, int to,
                        int radius, uint32_t inner, uint32_t outer) {
    for (int k = from; k < to; k++) {
        int x = k / 3, channel = k % 3;
        uint32_t sum = 0;
        for (int i = x - radius; i <= x + radius; i++) sum += row[3 * clampi(i, 0, width - 1) + channel];
        uint32_t outside = (uint32_t)row[3 * clampi(x - radius - 1, 0, width - 1) + channel]
                         + row[3 * clampi(x + radius + 1, 0, width - 1) + channel];
        out[k] = weigh1(sum, outside, inner, outer);
    }
}

static void columns_portable(const uint8_t *source, uint8_t *destination, int width, int height,
                             int radius, uint32_t inner, uint32_t outer,
                             const uint8_t *original, int percent, int threshold) {
    size_t rowLength = 3 * (size_t)width;
    uint32_t *sums = calloc(rowLength, sizeof(uint32_t));
    if (sums == NULL) abort();
    for (int y = -radius - 1; y <= radius - 1; y++) {
        const uint8_t *row = source + clampi(y, 0, height - 1) * rowLength;
        for (size_t k = 0; k < rowLength; k++) sums[k] += row[k];
    }
    for (int y = 0; y < height; y++) {
        const uint8_t *leaving = source + clampi(y - radius - 1, 0, height - 1) * rowLength;
        const uint8_t *entering = source + clampi(y + radius, 0, height - 1) * rowLength;
        const uint8_t *after = source + clampi(y + radius + 1, 0, height - 1) * rowLength;
        uint8_t *target = destination + y * rowLength;
        for (size_t k = 0; k < rowLength; k++) {
            sums[k] = sums[k] + entering[k] - leaving[k];
            uint8_t blurred = weigh1(sums[k], (uint32_t)leaving[k] + after[k], inner, outer);
            target[k] = original ? sharpen1(original[y * rowLength + k], blurred, percent, threshold) : blurred;
        }
    }
    free(sums);
}

#ifdef CK_X86

// ---- SSE2 (baseline) ----------------------------------------------------------------------

typedef struct {
    __m128i high, low, half;
} weights_sse2;

static inline weights_sse2 make_weights_sse2(uint32_t inner, uint32_t outer) {
    weights_sse2 w;
    w.high = _mm_set1_epi32((int)(((outer >> 12) << 16) | (inner >> 12)));
    w.low = _mm_set1_epi32((int)(((outer & 4095) << 16) | (inner & 4095)));
    w.half = _mm_set1_epi32(1 << 23);
    return w;
}

/// Eight sums and eight outside pairs (16-bit lanes) to eight 16-bit results.
static inline __m128i weigh8_sse2(__m128i sum, __m128i outside, const weights_sse2 *w) {
    __m128i p0 = _mm_unpacklo_epi16(sum, outside), p1 = _mm_unpackhi_epi16(sum, outside);
    __m128i x0 = _mm_add_epi32(_mm_slli_epi32(_mm_madd_epi16(p0, w->high), 12), _mm_add_epi32(_mm_madd_epi16(p0, w->low), w->half));
    __m128i x1 = _mm_add_epi32(_mm_slli_epi32(_mm_madd_epi16(p1, w->high), 12), _mm_add_epi32(_mm_madd_epi16(p1, w->low), w->half));
    return _mm_packs_epi32(_mm_srli_epi32(x0, 24), _mm_srli_epi32(x1, 24));
}

typedef struct {
    __m128i percent, threshold, negativeThreshold;
    __m128 hundred;
} sharpen_sse2;

static inline sharpen_sse2 make_sharpen_sse2(int percent, int threshold) {
    sharpen_sse2 s;
    s.percent = _mm_set1_epi16((short)percent);
    s.threshold = _mm_set1_epi16((short)threshold);
    s.negativeThreshold = _mm_set1_epi16((short)-threshold);
    s.hundred = _mm_set1_ps(100.0f);
    return s;
}

// Truncating division by 100 in single precision is exact here: |difference · percent| < 2^18
// is exact in a float, a correctly rounded quotient is off by at most 2^-11 while a non-integer
// quotient is at least 0.01 from an integer, and an integer quotient is exact.
static inline __m128i sharpen8_sse2(__m128i value, __m128i blurred, const sharpen_sse2 *s) {
    __m128i difference = _mm_sub_epi16(value, blurred);
    __m128i low = _mm_mullo_epi16(difference, s->percent), high = _mm_mulhi_epi16(difference, s->percent);
    __m128i q0 = _mm_cvttps_epi32(_mm_div_ps(_mm_cvtepi32_ps(_mm_unpacklo_epi16(low, high)), s->hundred));
    __m128i q1 = _mm_cvttps_epi32(_mm_div_ps(_mm_cvtepi32_ps(_mm_unpackhi_epi16(low, high)), s->hundred));
    __m128i sharpened = _mm_add_epi16(value, _mm_packs_epi32(q0, q1));
    __m128i moved = _mm_or_si128(_mm_cmpgt_epi16(difference, s->threshold), _mm_cmplt_epi16(difference, s->negativeThreshold));
    return _mm_or_si128(_mm_and_si128(moved, sharpened), _mm_andnot_si128(moved, value));
}

static inline __attribute__((always_inline))
void row_sse2_body(const uint8_t *row, uint8_t *out, int width, const int radius, uint32_t inner, uint32_t outer,
                   const weights_sse2 *weights) {
    const weights_sse2 local = *weights, *w = &local;   // in registers, not reloaded after stores
    const int rowLength = 3 * width, far = 3 * (radius + 1);
    const int low = far, high = rowLength - far;
    const __m128i zero = _mm_setzero_si128();
    if (high - low < 16) {
        rows_scalar(row, out, width, 0, rowLength, radius, inner, outer);
        return;
    }
    for (int k = low; k < high; k += 16) {
        // The last block may overlap the one before: it recomputes the same values.
        const uint8_t *p = row + (k + 16 > high ? high - 16 : k);
        __m128i v = _mm_loadu_si128((const __m128i *)p);
        __m128i sumLow = _mm_unpacklo_epi8(v, zero), sumHigh = _mm_unpackhi_epi8(v, zero);
        for (int j = 3; j <= 3 * radius; j += 3) {
            __m128i a = _mm_loadu_si128((const __m128i *)(p - j)), b = _mm_loadu_si128((const __m128i *)(p + j));
            sumLow = _mm_add_epi16(sumLow, _mm_add_epi16(_mm_unpacklo_epi8(a, zero), _mm_unpacklo_epi8(b, zero)));
            sumHigh = _mm_add_epi16(sumHigh, _mm_add_epi16(_mm_unpackhi_epi8(a, zero), _mm_unpackhi_epi8(b, zero)));
        }
        __m128i a = _mm_loadu_si128((const __m128i *)(p - far)), b = _mm_loadu_si128((const __m128i *)(p + far));
        __m128i outLow = _mm_add_epi16(_mm_unpacklo_epi8(a, zero), _mm_unpacklo_epi8(b, zero));
        __m128i outHigh = _mm_add_epi16(_mm_unpackhi_epi8(a, zero), _mm_unpackhi_epi8(b, zero));
        _mm_storeu_si128((__m128i *)(out + (p - row)),
                         _mm_packus_epi16(weigh8_sse2(sumLow, outLow, w), weigh8_sse2(sumHigh, outHigh, w)));
    }
    rows_scalar(row, out, width, 0, low, radius, inner, outer);
    rows_scalar(row, out, width, high, rowLength, radius, inner, outer);
}

// The radii a policy meets most (box radius 0-3, Gaussian radius up to about 5) get bodies with
// the window unrolled.
static void row_sse2(const uint8_t *row, uint8_t *out, int width, int radius, uint32_t inner, uint32_t outer,
                     const weights_sse2 *w) {
    switch (radius) {
    case 0: row_sse2_body(row, out, width, 0, inner, outer, w); break;
    case 1: row_sse2_body(row, out, width, 1, inner, outer, w); break;
    case 2: row_sse2_body(row, out, width, 2, inner, outer, w); break;
    case 3: row_sse2_body(row, out, width, 3, inner, outer, w); break;
    default: row_sse2_body(row, out, width, radius, inner, outer, w); break;
    }
}

static void columns_sse2(const uint8_t *source, uint8_t *destination, int width, int height,
                         int radius, uint32_t inner, uint32_t outer,
                         const uint8_t *original, int percent, int threshold) {
    const size_t rowLength = 3 * (size_t)width, blocks = rowLength / 16;
    const weights_sse2 w = make_weights_sse2(inner, outer);
    const sharpen_sse2 s = make_sharpen_sse2(percent, threshold);
    const __m128i zero = _mm_setzero_si128();
    __m128i *sums = calloc(2 * blocks + 1, sizeof(__m128i));
    uint32_t *tailSums = calloc(16, sizeof(uint32_t));
    if (sums == NULL || tailSums == NULL) abort();
    for (int y = -radius - 1; y <= radius - 1; y++) {
        const uint8_t *row = source + clampi(y, 0, height - 1) * rowLength;
        for (size_t b = 0; b < blocks; b++) {
            __m128i v = _mm_loadu_si128((const __m128i *)(row + 16 * b));
            sums[2 * b] = _mm_add_epi16(sums[2 * b], _mm_unpacklo_epi8(v, zero));
            sums[2 * b + 1] = _mm_add_epi16(sums[2 * b + 1], _mm_unpackhi_epi8(v, zero));
        }
        for (size_t k = 16 * blocks; k < rowLength; k++) tailSums[k - 16 * blocks] += row[k];
    }
    for (int y = 0; y < height; y++) {
        const uint8_t *leaving = source + clampi(y - radius - 1, 0, height - 1) * rowLength;
        const uint8_t *entering = source + clampi(y + radius, 0, height - 1) * rowLength;
        const uint8_t *after = source + clampi(y + radius + 1, 0, height - 1) * rowLength;
        uint8_t *target = destination + y * rowLength;
        const uint8_t *originalRow = original ? original + y * rowLength : NULL;
        for (size_t b = 0; b < blocks; b++) {
            size_t offset = 16 * b;
            __m128i in = _mm_loadu_si128((const __m128i *)(entering + offset));
            __m128i out = _mm_loadu_si128((const __m128i *)(leaving + offset));
            __m128i next = _mm_loadu_si128((const __m128i *)(after + offset));
            __m128i outLow = _mm_unpacklo_epi8(out, zero), outHigh = _mm_unpackhi_epi8(out, zero);
            __m128i sumLow = _mm_sub_epi16(_mm_add_epi16(sums[2 * b], _mm_unpacklo_epi8(in, zero)), outLow);
            __m128i sumHigh = _mm_sub_epi16(_mm_add_epi16(sums[2 * b + 1], _mm_unpackhi_epi8(in, zero)), outHigh);
            sums[2 * b] = sumLow;
            sums[2 * b + 1] = sumHigh;
            __m128i blurredLow = weigh8_sse2(sumLow, _mm_add_epi16(outLow, _mm_unpacklo_epi8(next, zero)), &w);
            __m128i blurredHigh = weigh8_sse2(sumHigh, _mm_add_epi16(outHigh, _mm_unpackhi_epi8(next, zero)), &w);
            if (originalRow) {
                __m128i v = _mm_loadu_si128((const __m128i *)(originalRow + offset));
                blurredLow = sharpen8_sse2(_mm_unpacklo_epi8(v, zero), blurredLow, &s);
                blurredHigh = sharpen8_sse2(_mm_unpackhi_epi8(v, zero), blurredHigh, &s);
            }
            _mm_storeu_si128((__m128i *)(target + offset), _mm_packus_epi16(blurredLow, blurredHigh));
        }
        for (size_t k = 16 * blocks; k < rowLength; k++) {
            uint32_t *sum = &tailSums[k - 16 * blocks];
            *sum = *sum + entering[k] - leaving[k];
            uint8_t blurred = weigh1(*sum, (uint32_t)leaving[k] + after[k], inner, outer);
            target[k] = originalRow ? sharpen1(originalRow[k], blurred, percent, threshold) : blurred;
        }
    }
    free(sums);
    free(tailSums);
}

// ---- AVX2: the same sequence, sixteen 16-bit lanes per register -----------------------------

#define CK_AVX2 __attribute__((target("avx2")))

typedef struct {
    __m256i high, low, half;
} weights_avx2;

CK_AVX2 static inline weights_avx2 make_weights_avx2(uint32_t inner, uint32_t outer) {
    weights_avx2 w;
    w.high = _mm256_set1_epi32((int)(((outer >> 12) << 16) | (inner >> 12)));
    w.low = _mm256_set1_epi32((int)(((outer & 4095) << 16) | (inner & 4095)));
    w.half = _mm256_set1_epi32(1 << 23);
    return w;
}

// The unpacks and packs work within 128-bit halves, so the lanes come back in their order.
CK_AVX2 static inline __m256i weigh16_avx2(__m256i sum, __m256i outside, const weights_avx2 *w) {
    __m256i p0 = _mm256_unpacklo_epi16(sum, outside), p1 = _mm256_unpackhi_epi16(sum, outside);
    __m256i x0 = _mm256_add_epi32(_mm256_slli_epi32(_mm256_madd_epi16(p0, w->high), 12), _mm256_add_epi32(_mm256_madd_epi16(p0, w->low), w->half));
    __m256i x1 = _mm256_add_epi32(_mm256_slli_epi32(_mm256_madd_epi16(p1, w->high), 12), _mm256_add_epi32(_mm256_madd_epi16(p1, w->low), w->half));
    return _mm256_packs_epi32(_mm256_srli_epi32(x0, 24), _mm256_srli_epi32(x1, 24));
}

typedef struct {
    __m256i percent, threshold, negativeThreshold;
    __m256 hundred;
} sharpen_avx2;

CK_AVX2 static inline sharpen_avx2 make_sharpen_avx2(int percent, int threshold) {
    sharpen_avx2 s;
    s.percent = _mm256_set1_epi16((short)percent);
    s.threshold = _mm256_set1_epi16((short)threshold);
    s.negativeThreshold = _mm256_set1_epi16((short)-threshold);
    s.hundred = _mm256_set1_ps(100.0f);
    return s;
}

CK_AVX2 static inline __m256i sharpen16_avx2(__m256i value, __m256i blurred, const sharpen_avx2 *s) {
    __m256i difference = _mm256_sub_epi16(value, blurred);
    __m256i low = _mm256_mullo_epi16(difference, s->percent), high = _mm256_mulhi_epi16(difference, s->percent);
    __m256i q0 = _mm256_cvttps_epi32(_mm256_div_ps(_mm256_cvtepi32_ps(_mm256_unpacklo_epi16(low, high)), s->hundred));
    __m256i q1 = _mm256_cvttps_epi32(_mm256_div_ps(_mm256_cvtepi32_ps(_mm256_unpackhi_epi16(low, high)), s->hundred));
    __m256i sharpened = _mm256_add_epi16(value, _mm256_packs_epi32(q0, q1));
    __m256i moved = _mm256_or_si256(_mm256_cmpgt_epi16(difference, s->threshold), _mm256_cmpgt_epi16(s->negativeThreshold, difference));
    return _mm256_blendv_epi8(value, sharpened, moved);
}

CK_AVX2 static inline __m256i widen_avx2(const uint8_t *p) {
    return _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)p));
}

CK_AVX2 static inline void narrow_store_avx2(uint8_t *p, __m256i values) {
    __m256i packed = _mm256_packus_epi16(values, values);
    _mm_storeu_si128((__m128i *)p, _mm256_castsi256_si128(_mm256_permute4x64_epi64(packed, 0x08)));
}

CK_AVX2 static inline __attribute__((always_inline))
void row_avx2_body(const uint8_t *row, uint8_t *out, int width, const int radius, uint32_t inner, uint32_t outer,
                   const weights_avx2 *weights) {
    const weights_avx2 local = *weights, *w = &local;
    const int rowLength = 3 * width, far = 3 * (radius + 1);
    const int low = far, high = rowLength - far;
    if (high - low < 16) {
        rows_scalar(row, out, width, 0, rowLength, radius, inner, outer);
        return;
    }
    for (int k = low; k < high; k += 16) {
        const uint8_t *p = row + (k + 16 > high ? high - 16 : k);
        __m256i sum = widen_avx2(p);
        for (int j = 3; j <= 3 * radius; j += 3)
            sum = _mm256_add_epi16(sum, _mm256_add_epi16(widen_avx2(p - j), widen_avx2(p + j)));
        __m256i outside = _mm256_add_epi16(widen_avx2(p - far), widen_avx2(p + far));
        narrow_store_avx2(out + (p - row), weigh16_avx2(sum, outside, w));
    }
    rows_scalar(row, out, width, 0, low, radius, inner, outer);
    rows_scalar(row, out, width, high, rowLength, radius, inner, outer);
}

CK_AVX2 static void row_avx2(const uint8_t *row, uint8_t *out, int width, int radius, uint32_t inner, uint32_t outer,
                             const weights_avx2 *w) {
    switch (radius) {
    case 0: row_avx2_body(row, out, width, 0, inner, outer, w); break;
    case 1: row_avx2_body(row, out, width, 1, inner, outer, w); break;
    case 2: row_avx2_body(row, out, width, 2, inner, outer, w); break;
    case 3: row_avx2_body(row, out, width, 3, inner, outer, w); break;
    default: row_avx2_body(row, out, width, radius, inner, outer, w); break;
    }
}

CK_AVX2 static void columns_avx2(const uint8_t *source, uint8_t *destination, int width, int height,
                                 int radius, uint32_t inner, uint32_t outer,
                                 const uint8_t *original, int percent, int threshold) {
    const size_t rowLength = 3 * (size_t)width, blocks = rowLength / 16;
    const weights_avx2 w = make_weights_avx2(inner, outer);
    const sharpen_avx2 s = make_sharpen_avx2(percent, threshold);
    // calloc only promises 16-byte alignment.
    __m256i *sums = aligned_alloc(32, (blocks + 1) * sizeof(__m256i));
    if (sums != NULL) memset(sums, 0, (blocks + 1) * sizeof(__m256i));
    uint32_t *tailSums = calloc(16, sizeof(uint32_t));
    if (sums == NULL || tailSums == NULL) abort();
    for (int y = -radius - 1; y <= radius - 1; y++) {
        const uint8_t *row = source + clampi(y, 0, height - 1) * rowLength;
        for (size_t b = 0; b < blocks; b++) sums[b] = _mm256_add_epi16(sums[b], widen_avx2(row + 16 * b));
        for (size_t k = 16 * blocks; k < rowLength; k++) tailSums[k - 16 * blocks] += row[k];
    }
    for (int y = 0; y < height; y++) {
        const uint8_t *leaving = source + clampi(y - radius - 1, 0, height - 1) * rowLength;
        const uint8_t *entering = source + clampi(y + radius, 0, height - 1) * rowLength;
        const uint8_t *after = source + clampi(y + radius + 1, 0, height - 1) * rowLength;
        uint8_t *target = destination + y * rowLength;
        const uint8_t *originalRow = original ? original + y * rowLength : NULL;
        for (size_t b = 0; b < blocks; b++) {
            size_t offset = 16 * b;
            __m256i out = widen_avx2(leaving + offset);
            __m256i sum = _mm256_sub_epi16(_mm256_add_epi16(sums[b], widen_avx2(entering + offset)), out);
            sums[b] = sum;
            __m256i blurred = weigh16_avx2(sum, _mm256_add_epi16(out, widen_avx2(after + offset)), &w);
            if (originalRow) blurred = sharpen16_avx2(widen_avx2(originalRow + offset), blurred, &s);
            narrow_store_avx2(target + offset, blurred);
        }
        for (size_t k = 16 * blocks; k < rowLength; k++) {
            uint32_t *sum = &tailSums[k - 16 * blocks];
            *sum = *sum + entering[k] - leaving[k];
            uint8_t blurred = weigh1(*sum, (uint32_t)leaving[k] + after[k], inner, outer);
            target[k] = originalRow ? sharpen1(originalRow[k], blurred, percent, threshold) : blurred;
        }
    }
    free(sums);
    free(tailSums);
}

CK_AVX2 static void row_avx2_dispatch(const uint8_t *row, uint8_t *out, int width, int radius, uint32_t inner, uint32_t outer) {
    const weights_avx2 w = make_weights_avx2(inner, outer);
    row_avx2(row, out, width, radius, inner, outer, &w);
}

static int have_avx2(void) {
    return !atomic_load_explicit(&forced_baseline, memory_order_relaxed) && __builtin_cpu_supports("avx2");
}

#endif

#ifdef CK_X86
/// The split weights need inner and outer below 2^24 (so each half fits 12 bits) and window
/// sums below 2^15 (pmaddwd's factors are signed); anything else takes the portable body.
static int vector_ok(int radius, uint32_t inner, uint32_t outer) {
    return radius >= 0 && radius <= 60 && inner < (1u << 24) && outer < (1u << 24);
}
#endif

void ck_box_rows(const uint8_t *source, uint8_t *destination, int width, int height,
                 int radius, uint32_t inner, uint32_t outer, int passes) {
    // Every pass of a row runs while the row is in L1, through two row buffers.
    const size_t rowLength = 3 * (size_t)width;
    uint8_t *buffers = malloc(2 * rowLength + 1);
    if (buffers == NULL) abort();
#ifdef CK_X86
    const int vector = vector_ok(radius, inner, outer), avx2 = vector && have_avx2();
    const weights_sse2 w = make_weights_sse2(inner, outer);
#endif
    for (int y = 0; y < height; y++) {
        const uint8_t *from = source + y * rowLength;
        for (int pass = 0; pass < passes; pass++) {
            uint8_t *to = pass == passes - 1 ? destination + y * rowLength : buffers + (pass % 2) * rowLength;
#ifdef CK_X86
            if (avx2) row_avx2_dispatch(from, to, width, radius, inner, outer);
            else if (vector) row_sse2(from, to, width, radius, inner, outer, &w);
            else
#endif
                rows_scalar(from, to, width, 0, (int)rowLength, radius, inner, outer);
            from = to;
        }
        if (passes == 0) memcpy(destination + y * rowLength, from, rowLength);
    }
    free(buffers);
}

void ck_box_columns(const uint8_t *source, uint8_t *destination, int width, int height,
                    int radius, uint32_t inner, uint32_t outer,
                    const uint8_t *original, int percent, int threshold) {
#ifdef CK_X86
    if (vector_ok(radius, inner, outer) && percent >= 0 && percent <= 1000) {
        if (have_avx2()) columns_avx2(source, destination, width, height, radius, inner, outer, original, percent, threshold);
        else columns_sse2(source, destination, width, height, radius, inner, outer, original, percent, threshold);
        return;
    }
#endif
    columns_portable(source, destination, width, height, radius, inner, outer, original, percent, threshold);
}

int ck_uses_avx2(void) {
#ifdef CK_X86
    return have_avx2();
#else
    return 0;
#endif
}

void ck_force_baseline(int baseline) {
    atomic_store_explicit(&forced_baseline, baseline != 0, memory_order_relaxed);
}

// ---- CLAHE ----------------------------------------------------------------------------------
//
// The blend gathers four table entries per pixel (scalar loads on any x86-64) into row buffers,
// then does the float arithmetic on whole rows, which the compiler vectorises. Contraction
// into fused multiply-adds stays off (above), so the rounding is OpenCV's.

// Each of these loops is written once as an always-inline body and compiled twice, as is and
// for AVX2, dispatched as above (rather than target_clones, which needs ifunc support and
// could not be held to SSE2 by ck_force_baseline for measuring).
#ifdef CK_X86
#define CK_DISPATCH(name, parameters, arguments)                                          \
    static void name##_baseline parameters { name##_body arguments; }                      \
    CK_AVX2 static void name##_avx2 parameters { name##_body arguments; }                  \
    static void name parameters {                                                          \
        if (have_avx2()) name##_avx2 arguments; else name##_baseline arguments;            \
    }
#else
#define CK_DISPATCH(name, parameters, arguments) \
    static void name parameters { name##_body arguments; }
#endif

static inline __attribute__((always_inline)) void blend_row_body(const uint8_t *a, const uint8_t *b, const uint8_t *c, const uint8_t *d,
                      const float *leftWeight, const float *rightWeight, float topWeight, float bottomWeight,
                      uint8_t *out, int width) {
    for (int x = 0; x < width; x++) {
        float upper = (float)a[x] * leftWeight[x] + (float)b[x] * rightWeight[x];
        float lower = (float)c[x] * leftWeight[x] + (float)d[x] * rightWeight[x];
        float value = upper * topWeight + lower * bottomWeight;
        // Adding and subtracting 2^23 rounds half to even (values here are 0…255).
        float rounded = (value + 8388608.0f) - 8388608.0f;
        rounded = rounded < 0 ? 0 : rounded > 255 ? 255 : rounded;
        out[x] = (uint8_t)(int)rounded;
    }
}

CK_DISPATCH(blend_row,
            (const uint8_t *a, const uint8_t *b, const uint8_t *c, const uint8_t *d, const float *leftWeight,
             const float *rightWeight, float topWeight, float bottomWeight, uint8_t *out, int width),
            (a, b, c, d, leftWeight, rightWeight, topWeight, bottomWeight, out, width))

void ck_clahe_blend(const uint8_t *plane, uint8_t *output, int width, int height,
                    const uint8_t *tables, int tilesX, int tilesY, int tileWidth, int tileHeight) {
    // Per column, the two tables and their weights, as OpenCV precomputes them.
    int *leftTable = malloc(sizeof(int) * (size_t)width), *rightTable = malloc(sizeof(int) * (size_t)width);
    float *leftWeight = malloc(sizeof(float) * (size_t)width), *rightWeight = malloc(sizeof(float) * (size_t)width);
    uint8_t *gathered = malloc(4 * (size_t)width);
    if (!leftTable || !rightTable || !leftWeight || !rightWeight || !gathered) abort();
    const float inverseTileWidth = 1.0f / (float)tileWidth, inverseTileHeight = 1.0f / (float)tileHeight;
    for (int x = 0; x < width; x++) {
        float position = (float)x * inverseTileWidth - 0.5f;
        int left = (int)floorf(position);
        rightWeight[x] = position - (float)left;
        leftWeight[x] = 1.0f - rightWeight[x];
        leftTable[x] = (left < 0 ? 0 : left) * 256;
        rightTable[x] = (left + 1 > tilesX - 1 ? tilesX - 1 : left + 1) * 256;
    }
    uint8_t *a = gathered, *b = gathered + width, *c = gathered + 2 * (size_t)width, *d = gathered + 3 * (size_t)width;
    for (int y = 0; y < height; y++) {
        float position = (float)y * inverseTileHeight - 0.5f;
        int top = (int)floorf(position);
        float bottomWeight = position - (float)top, topWeight = 1.0f - bottomWeight;
        const uint8_t *upper = tables + (size_t)(top < 0 ? 0 : top) * tilesX * 256;
        const uint8_t *lower = tables + (size_t)(top + 1 > tilesY - 1 ? tilesY - 1 : top + 1) * tilesX * 256;
        const uint8_t *row = plane + (size_t)y * width;
        for (int x = 0; x < width; x++) {
            int v = row[x], l = leftTable[x] + v, r = rightTable[x] + v;
            a[x] = upper[l];
            b[x] = upper[r];
            c[x] = lower[l];
            d[x] = lower[r];
        }
        blend_row(a, b, c, d, leftWeight, rightWeight, topWeight, bottomWeight, output + (size_t)y * width, width);
    }
    free(leftTable);
    free(rightTable);
    free(leftWeight);
    free(rightWeight);
    free(gathered);
}

static inline __attribute__((always_inline)) void luma_rows_body(const uint8_t *rgb, uint8_t *luma, size_t count) {
    for (size_t i = 0; i < count; i++) {
        uint32_t weighted = 299u * rgb[3 * i] + 587u * rgb[3 * i + 1] + 114u * rgb[3 * i + 2];
        luma[i] = (uint8_t)((weighted + 500) / 1000);
    }
}

CK_DISPATCH(luma_rows, (const uint8_t *rgb, uint8_t *luma, size_t count), (rgb, luma, count))

void ck_luma(const uint8_t *rgb, uint8_t *luma, size_t count) { luma_rows(rgb, luma, count); }

static inline __attribute__((always_inline)) void shift_body(uint8_t *rgb, const uint8_t *luma, const uint8_t *equalised, size_t count) {
    for (size_t i = 0; i < count; i++) {
        int shift = (int)equalised[i] - (int)luma[i];
        for (int channel = 0; channel < 3; channel++) {
            int value = rgb[3 * i + channel] + shift;
            rgb[3 * i + channel] = (uint8_t)(value < 0 ? 0 : value > 255 ? 255 : value);
        }
    }
}

CK_DISPATCH(shift, (uint8_t *rgb, const uint8_t *luma, const uint8_t *equalised, size_t count), (rgb, luma, equalised, count))

void ck_shift_by_luma(uint8_t *rgb, const uint8_t *luma, const uint8_t *equalised, size_t count) {
    shift(rgb, luma, equalised, count);
}

// ---- Histograms and look-up tables ----------------------------------------------------------
//
// Neighbouring pixels of a photo often share a value, and one set of counters then waits on
// its own last increment; alternating between several sets and adding them up at the end
// keeps the increments independent.

static inline int reflect101(int index, int count) {
    return index < 0 ? -index : index >= count ? 2 * count - 2 - index : index;
}

void ck_tile_histograms(const uint8_t *plane, int width, int height, int tilesX, int tilesY,
                        int tileWidth, int tileHeight, uint32_t *histograms) {
    uint32_t *spare = calloc((size_t)tilesX * 256, sizeof(uint32_t));
    if (spare == NULL) abort();
    memset(histograms, 0, sizeof(uint32_t) * (size_t)tilesX * tilesY * 256);
    for (int tileY = 0; tileY < tilesY; tileY++) {
        for (int y = tileY * tileHeight; y < (tileY + 1) * tileHeight; y++) {
            const uint8_t *row = plane + (size_t)reflect101(y, height) * width;
            for (int tileX = 0; tileX < tilesX; tileX++) {
                uint32_t *even = histograms + ((size_t)tileY * tilesX + tileX) * 256, *odd = spare + (size_t)tileX * 256;
                int x = tileX * tileWidth, end = (tileX + 1) * tileWidth;
                // Only the last tile of a row reaches the mirrored columns.
                int inside = end < width ? end : width;
                for (; x + 1 < inside; x += 2) {
                    even[row[x]]++;
                    odd[row[x + 1]]++;
                }
                for (; x < end; x++) even[row[reflect101(x, width)]]++;
            }
        }
        for (int tileX = 0; tileX < tilesX; tileX++) {
            uint32_t *even = histograms + ((size_t)tileY * tilesX + tileX) * 256, *odd = spare + (size_t)tileX * 256;
            for (int bin = 0; bin < 256; bin++) even[bin] += odd[bin];
        }
        memset(spare, 0, (size_t)tilesX * 256 * sizeof(uint32_t));
    }
    free(spare);
}

void ck_channel_histograms(const uint8_t *rgb, size_t count, uint32_t *histograms) {
    uint32_t sets[4][3][256];
    memset(sets, 0, sizeof sets);
    size_t i = 0;
    for (; i + 4 <= count; i += 4) {
        const uint8_t *p = rgb + 3 * i;
        for (int k = 0; k < 4; k++) {
            sets[k][0][p[3 * k]]++;
            sets[k][1][p[3 * k + 1]]++;
            sets[k][2][p[3 * k + 2]]++;
        }
    }
    for (; i < count; i++) {
        sets[0][0][rgb[3 * i]]++;
        sets[0][1][rgb[3 * i + 1]]++;
        sets[0][2][rgb[3 * i + 2]]++;
    }
    for (int channel = 0; channel < 3; channel++)
        for (int bin = 0; bin < 256; bin++)
            histograms[channel * 256 + bin] = sets[0][channel][bin] + sets[1][channel][bin] + sets[2][channel][bin] + sets[3][channel][bin];
}

void ck_apply_tables(uint8_t *rgb, size_t count, const uint8_t *tables) {
    const uint8_t *red = tables, *green = tables + 256, *blue = tables + 512;
    for (size_t i = 0; i < count; i++) {
        uint8_t *p = rgb + 3 * i;
        p[0] = red[p[0]];
        p[1] = green[p[1]];
        p[2] = blue[p[2]];
    }
}
