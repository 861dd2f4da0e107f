// Hot loops of CaptureNormalization. The arithmetic is the Swift definitions' (and Pillow's and
// OpenCV's): every body below computes the same integers, only the instructions and the order in
// which rows are visited differ.
//
// Pillow's box-blur weight needs a 32-bit product (a window sum up to 16 bits times an 8.24
// weight up to 24 bits), and baseline x86-64 (SSE2) has no 32-bit vector multiply. pmaddwd
// (16 × 16 → 32, two products added) does have one: splitting each weight w = 2^12 · hi + lo
// gives sum · w_in + outside · w_out = 2^12 · (sum · hi_in + outside · hi_out)
//                                     + (sum · lo_in + outside · lo_out),
// two pmaddwd per four pixels, exact because every factor fits 15 bits and the total 32.
// AVX2 runs the same sequence twice as wide; the body is picked at run time, so one build
// runs on every x86-64 and uses AVX2 where the CPU has it.
//
// The frame is read and written as few times as possible: white balance, exposure and luma are
// one pass; the CLAHE blend, the shift of R, G and B, and all six box passes of the unsharp mask
// are another, the box passes streaming through rings of a few 16-bit rows (L1/L2) instead of
// whole intermediate frames.

#include "CaptureKernels.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#pragma STDC FP_CONTRACT OFF

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define CK_X86 1
#define CK_AVX2 __attribute__((target("avx2")))
#endif

#define CK_INLINE static inline __attribute__((always_inline))

static atomic_int forced_baseline = 0;

static inline int clampi(int value, int low, int high) { return value < low ? low : value > high ? high : value; }

static void *checked_malloc(size_t size) {
    void *memory = malloc(size);
    if (memory == NULL) abort();
    return memory;
}

static void *checked_calloc(size_t count, size_t size) {
    void *memory = calloc(count, size);
    if (memory == NULL) abort();
    return memory;
}

/// Pillow's 8.24 weighting of one box (the definition every body reproduces).
static inline uint8_t weigh1(uint32_t sum, uint32_t outside, uint32_t inner, uint32_t outer) {
    return (uint8_t)((sum * inner + outside * outer + (1u << 23)) >> 24);
}

/// Pillow's UnsharpMask combine (the definition every body reproduces).
static inline uint8_t sharpen1(int value, int blurred, int percent, int threshold) {
    int difference = value - blurred;
    int result = (difference > threshold || difference < -threshold) ? value + difference * percent / 100 : value;
    return (uint8_t)clampi(result, 0, 255);
}

#ifdef CK_X86
static int have_avx2(void) {
    return !atomic_load_explicit(&forced_baseline, memory_order_relaxed) && __builtin_cpu_supports("avx2");
}

/// The split weights need inner and outer below 2^24 (so each half fits 12 bits) and window
/// sums below 2^15 (pmaddwd's factors are signed); anything else takes the portable bodies.
static int vector_ok(int radius, uint32_t inner, uint32_t outer) {
    return radius >= 0 && radius <= 60 && inner < (1u << 24) && outer < (1u << 24);
}
#endif

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

// Loops written once as an always-inline body and compiled twice, as is and for AVX2,
// dispatched as above (rather than target_clones, which needs ifunc support and could not be
// held to SSE2 by ck_force_baseline for measuring).
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

// ---- The unsharp mask's combine without a division ------------------------------------------
//
// Pillow's v + ⌊(v − b) · percent / 100⌋ (truncating) in 16-bit lanes: with percent = 100a + c,
// d · percent / 100 = d · a + trunc(d · c / 100) exactly (d · a is an integer of the same sign as
// d · c). |d · c| ≤ 255 · 99 < 2^15, and trunc(m / 100) = ⌊m · 5243 / 2^19⌋ + (m < 0): 5243 / 2^19
// exceeds 1/100 by 2.3e-7, which moves m / 100 by less than 0.006 for these m, never across an
// integer (a non-integer m / 100 is at least 0.01 from one). CaptureNormalizationTests checks it
// against Pillow's definition for every value and blurred value, at percents covering every
// whole part and every remainder.

// ---- Box blur and unsharp mask: the per-row kernels -----------------------------------------
//
// Row kernel: one box pass along a row of 16-bit values whose edges are padded with copies of
// the edge pixel (3 · (radius + 1) values each side), so every position has the same body.
// Column kernel: one output row of a box pass down the columns from three input rows and the
// running sums, either to 16 bits (the next pass's input) or, for the last pass, to bytes,
// sharpened against the original row when asked.

typedef void (*row_pass_fn)(const uint16_t *in, uint16_t *out, int n, int radius, uint32_t inner, uint32_t outer);
typedef void (*column_fn)(const uint16_t *leaving, const uint16_t *entering, const uint16_t *after, void *sums,
                          size_t stride, size_t n, uint32_t inner, uint32_t outer,
                          uint16_t *out16, const uint8_t *original, uint8_t *out8, int percent, int threshold);
typedef void (*widen_fn)(const uint8_t *row, uint16_t *out, size_t n);
typedef void (*sums_fn)(void *sums, const uint16_t *row, size_t stride);

static void row_pass_scalar(const uint16_t *in, uint16_t *out, int n, int radius, uint32_t inner, uint32_t outer) {
    const int far = 3 * (radius + 1);
    for (int k = 0; k < n; k++) {
        uint32_t sum = 0;
        for (int j = -3 * radius; j <= 3 * radius; j += 3) sum += in[k + j];
        out[k] = weigh1(sum, (uint32_t)in[k - far] + in[k + far], inner, outer);
    }
}

// The portable column kernel keeps 32-bit sums, so any radius works.
static void column_scalar(const uint16_t *leaving, const uint16_t *entering, const uint16_t *after, void *sumsMemory,
                          size_t stride, size_t n, uint32_t inner, uint32_t outer,
                          uint16_t *out16, const uint8_t *original, uint8_t *out8, int percent, int threshold) {
    uint32_t *sums = sumsMemory;
    (void)stride;
    for (size_t k = 0; k < n; k++) {
        sums[k] = sums[k] + entering[k] - leaving[k];
        uint8_t blurred = weigh1(sums[k], (uint32_t)leaving[k] + after[k], inner, outer);
        if (out16) out16[k] = blurred;
        else out8[k] = original ? sharpen1(original[k], blurred, percent, threshold) : blurred;
    }
}

static void sums_scalar(void *sumsMemory, const uint16_t *row, size_t stride) {
    uint32_t *sums = sumsMemory;
    for (size_t k = 0; k < stride; k++) sums[k] += row[k];
}

CK_INLINE void widen_body(const uint8_t *row, uint16_t *out, size_t n) {
    for (size_t k = 0; k < n; k++) out[k] = row[k];
}

CK_DISPATCH(widen, (const uint8_t *row, uint16_t *out, size_t n), (row, out, n))

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
    __m128i whole, remainder, magic, threshold, negativeThreshold;
} sharpen_sse2;

static inline sharpen_sse2 make_sharpen_sse2(int percent, int threshold) {
    sharpen_sse2 s;
    s.whole = _mm_set1_epi16((short)(percent / 100));
    s.remainder = _mm_set1_epi16((short)(percent % 100));
    s.magic = _mm_set1_epi16(5243);
    s.threshold = _mm_set1_epi16((short)threshold);
    s.negativeThreshold = _mm_set1_epi16((short)-threshold);
    return s;
}

static inline __m128i sharpen8_sse2(__m128i value, __m128i blurred, const sharpen_sse2 *s) {
    __m128i difference = _mm_sub_epi16(value, blurred);
    __m128i m = _mm_mullo_epi16(difference, s->remainder);
    __m128i quotient = _mm_sub_epi16(_mm_srai_epi16(_mm_mulhi_epi16(m, s->magic), 3), _mm_srai_epi16(m, 15));
    __m128i sharpened = _mm_add_epi16(_mm_add_epi16(value, _mm_mullo_epi16(difference, s->whole)), quotient);
    __m128i moved = _mm_or_si128(_mm_cmpgt_epi16(difference, s->threshold), _mm_cmplt_epi16(difference, s->negativeThreshold));
    return _mm_or_si128(_mm_and_si128(moved, sharpened), _mm_andnot_si128(moved, value));
}

CK_INLINE void row_pass_sse2_body(const uint16_t *in, uint16_t *out, int n, const int radius, const weights_sse2 *w) {
    const int far = 3 * (radius + 1);
    for (int k = 0; k < n; k += 8) {
        // The last block may overlap the one before: it recomputes the same values.
        const int at = k + 8 > n ? n - 8 : k;
        const uint16_t *p = in + at;
        __m128i sum = _mm_loadu_si128((const __m128i *)p);
        for (int j = 3; j <= 3 * radius; j += 3)
            sum = _mm_add_epi16(sum, _mm_add_epi16(_mm_loadu_si128((const __m128i *)(p - j)), _mm_loadu_si128((const __m128i *)(p + j))));
        __m128i outside = _mm_add_epi16(_mm_loadu_si128((const __m128i *)(p - far)), _mm_loadu_si128((const __m128i *)(p + far)));
        _mm_storeu_si128((__m128i *)(out + at), weigh8_sse2(sum, outside, w));
    }
}

// The radii a policy meets most (box radius 0-3, Gaussian radius up to about 5) get bodies with
// the window unrolled.
static void row_pass_sse2(const uint16_t *in, uint16_t *out, int n, int radius, uint32_t inner, uint32_t outer) {
    if (n < 8) {
        row_pass_scalar(in, out, n, radius, inner, outer);
        return;
    }
    const weights_sse2 w = make_weights_sse2(inner, outer);
    switch (radius) {
    case 0: row_pass_sse2_body(in, out, n, 0, &w); break;
    case 1: row_pass_sse2_body(in, out, n, 1, &w); break;
    case 2: row_pass_sse2_body(in, out, n, 2, &w); break;
    case 3: row_pass_sse2_body(in, out, n, 3, &w); break;
    default: row_pass_sse2_body(in, out, n, radius, &w); break;
    }
}

static void sums_sse2(void *sumsMemory, const uint16_t *row, size_t stride) {
    uint16_t *sums = sumsMemory;
    for (size_t k = 0; k < stride; k += 8)
        _mm_storeu_si128((__m128i *)(sums + k), _mm_add_epi16(_mm_loadu_si128((const __m128i *)(sums + k)), _mm_loadu_si128((const __m128i *)(row + k))));
}

/// Sixteen values of one column-pass row, from `k`: the running sums updated, the 16-bit result.
static inline void column16_sse2(const uint16_t *leaving, const uint16_t *entering, const uint16_t *after, uint16_t *sums, size_t k,
                                 const weights_sse2 *w, __m128i *low, __m128i *high) {
    for (int half = 0; half < 2; half++) {
        size_t at = k + 8 * (size_t)half;
        __m128i out = _mm_loadu_si128((const __m128i *)(leaving + at));
        __m128i sum = _mm_sub_epi16(_mm_add_epi16(_mm_loadu_si128((const __m128i *)(sums + at)), _mm_loadu_si128((const __m128i *)(entering + at))), out);
        _mm_storeu_si128((__m128i *)(sums + at), sum);
        __m128i blurred = weigh8_sse2(sum, _mm_add_epi16(out, _mm_loadu_si128((const __m128i *)(after + at))), w);
        if (half == 0) *low = blurred; else *high = blurred;
    }
}

// Rows are `stride` values long (a multiple of 16, the values past `n` zero), so the 16-bit
// results and the sums cover whole blocks; only the bytes of the last pass stop at `n`.
static void column_sse2(const uint16_t *leaving, const uint16_t *entering, const uint16_t *after, void *sumsMemory,
                        size_t stride, size_t n, uint32_t inner, uint32_t outer,
                        uint16_t *out16, const uint8_t *original, uint8_t *out8, int percent, int threshold) {
    uint16_t *sums = sumsMemory;
    const weights_sse2 w = make_weights_sse2(inner, outer);
    const sharpen_sse2 s = make_sharpen_sse2(percent, threshold);
    const __m128i zero = _mm_setzero_si128();
    __m128i low, high;
    if (out16) {
        for (size_t k = 0; k < stride; k += 16) {
            column16_sse2(leaving, entering, after, sums, k, &w, &low, &high);
            _mm_storeu_si128((__m128i *)(out16 + k), low);
            _mm_storeu_si128((__m128i *)(out16 + k + 8), high);
        }
        return;
    }
    for (size_t k = 0; k < n; k += 16) {
        const size_t count = n - k < 16 ? n - k : 16;
        uint8_t originalTail[16] = {0}, outputTail[16];
        const uint8_t *from = original ? original + k : NULL;
        if (from && count < 16) {
            memcpy(originalTail, from, count);
            from = originalTail;
        }
        column16_sse2(leaving, entering, after, sums, k, &w, &low, &high);
        if (from) {
            __m128i v = _mm_loadu_si128((const __m128i *)from);
            low = sharpen8_sse2(_mm_unpacklo_epi8(v, zero), low, &s);
            high = sharpen8_sse2(_mm_unpackhi_epi8(v, zero), high, &s);
        }
        if (count == 16) {
            _mm_storeu_si128((__m128i *)(out8 + k), _mm_packus_epi16(low, high));
        } else {
            _mm_storeu_si128((__m128i *)outputTail, _mm_packus_epi16(low, high));
            memcpy(out8 + k, outputTail, count);
        }
    }
}

// ---- AVX2: the same sequences, sixteen 16-bit lanes per register ----------------------------

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
    __m256i whole, remainder, magic, threshold, negativeThreshold;
} sharpen_avx2;

CK_AVX2 static inline sharpen_avx2 make_sharpen_avx2(int percent, int threshold) {
    sharpen_avx2 s;
    s.whole = _mm256_set1_epi16((short)(percent / 100));
    s.remainder = _mm256_set1_epi16((short)(percent % 100));
    s.magic = _mm256_set1_epi16(5243);
    s.threshold = _mm256_set1_epi16((short)threshold);
    s.negativeThreshold = _mm256_set1_epi16((short)-threshold);
    return s;
}

CK_AVX2 static inline __m256i sharpen16_avx2(__m256i value, __m256i blurred, const sharpen_avx2 *s) {
    __m256i difference = _mm256_sub_epi16(value, blurred);
    __m256i m = _mm256_mullo_epi16(difference, s->remainder);
    __m256i quotient = _mm256_sub_epi16(_mm256_srai_epi16(_mm256_mulhi_epi16(m, s->magic), 3), _mm256_srai_epi16(m, 15));
    __m256i sharpened = _mm256_add_epi16(_mm256_add_epi16(value, _mm256_mullo_epi16(difference, s->whole)), quotient);
    __m256i moved = _mm256_or_si256(_mm256_cmpgt_epi16(difference, s->threshold), _mm256_cmpgt_epi16(s->negativeThreshold, difference));
    return _mm256_blendv_epi8(value, sharpened, moved);
}

CK_AVX2 static inline __m256i load16_avx2(const uint16_t *p) { return _mm256_loadu_si256((const __m256i *)p); }

CK_AVX2 CK_INLINE void row_pass_avx2_body(const uint16_t *in, uint16_t *out, int n, const int radius, const weights_avx2 *w) {
    const int far = 3 * (radius + 1);
    for (int k = 0; k < n; k += 16) {
        const int at = k + 16 > n ? n - 16 : k;
        const uint16_t *p = in + at;
        __m256i sum = load16_avx2(p);
        for (int j = 3; j <= 3 * radius; j += 3) sum = _mm256_add_epi16(sum, _mm256_add_epi16(load16_avx2(p - j), load16_avx2(p + j)));
        __m256i outside = _mm256_add_epi16(load16_avx2(p - far), load16_avx2(p + far));
        _mm256_storeu_si256((__m256i *)(out + at), weigh16_avx2(sum, outside, w));
    }
}

CK_AVX2 static void row_pass_avx2(const uint16_t *in, uint16_t *out, int n, int radius, uint32_t inner, uint32_t outer) {
    if (n < 16) {
        row_pass_scalar(in, out, n, radius, inner, outer);
        return;
    }
    const weights_avx2 w = make_weights_avx2(inner, outer);
    switch (radius) {
    case 0: row_pass_avx2_body(in, out, n, 0, &w); break;
    case 1: row_pass_avx2_body(in, out, n, 1, &w); break;
    case 2: row_pass_avx2_body(in, out, n, 2, &w); break;
    case 3: row_pass_avx2_body(in, out, n, 3, &w); break;
    default: row_pass_avx2_body(in, out, n, radius, &w); break;
    }
}

CK_AVX2 static void sums_avx2(void *sumsMemory, const uint16_t *row, size_t stride) {
    uint16_t *sums = sumsMemory;
    for (size_t k = 0; k < stride; k += 16)
        _mm256_storeu_si256((__m256i *)(sums + k), _mm256_add_epi16(load16_avx2(sums + k), load16_avx2(row + k)));
}

CK_AVX2 static void column_avx2(const uint16_t *leaving, const uint16_t *entering, const uint16_t *after, void *sumsMemory,
                                size_t stride, size_t n, uint32_t inner, uint32_t outer,
                                uint16_t *out16, const uint8_t *original, uint8_t *out8, int percent, int threshold) {
    uint16_t *sums = sumsMemory;
    const weights_avx2 w = make_weights_avx2(inner, outer);
    const sharpen_avx2 s = make_sharpen_avx2(percent, threshold);
    const size_t end = out16 ? stride : n;
    for (size_t k = 0; k < end; k += 16) {
        __m256i out = load16_avx2(leaving + k);
        __m256i sum = _mm256_sub_epi16(_mm256_add_epi16(load16_avx2(sums + k), load16_avx2(entering + k)), out);
        _mm256_storeu_si256((__m256i *)(sums + k), sum);
        __m256i blurred = weigh16_avx2(sum, _mm256_add_epi16(out, load16_avx2(after + k)), &w);
        if (out16) {
            _mm256_storeu_si256((__m256i *)(out16 + k), blurred);
            continue;
        }
        const size_t count = n - k < 16 ? n - k : 16;
        uint8_t originalTail[16] = {0}, outputTail[16];
        if (original) {
            const uint8_t *from = original + k;
            if (count < 16) {
                memcpy(originalTail, from, count);
                from = originalTail;
            }
            blurred = sharpen16_avx2(_mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)from)), blurred, &s);
        }
        __m128i packed = _mm_packus_epi16(_mm256_castsi256_si128(blurred), _mm256_extracti128_si256(blurred, 1));
        if (count == 16) {
            _mm_storeu_si128((__m128i *)(out8 + k), packed);
        } else {
            _mm_storeu_si128((__m128i *)outputTail, packed);
            memcpy(out8 + k, outputTail, count);
        }
    }
}

#endif

// ---- Box blur and unsharp mask: streaming the passes ----------------------------------------
//
// Each source row goes through all row passes while it is in L1 and lands in the first ring.
// Column pass k reads ring k and writes ring k + 1 (the last pass writes the destination): it
// emits its row y once its input holds row min(y + radius + 1, height − 1), and each ring keeps
// the 2 · radius + 3 rows a column window and its two outside rows span. A pass runs as soon as
// it can after each row it receives, so no ring row is overwritten while a window still needs it.
// The destination row y is written only after every source row up to y + 1 was read, so the
// destination may be the source (or the frame that the CLAHE pass is writing row by row).

typedef struct {
    int width, height, radius, passes, ringRows, pad;
    size_t n, stride;
    uint32_t inner, outer;
    int sharpen, percent, threshold;
    const uint8_t *source;
    uint8_t *destination;
    uint16_t *rowA, *rowB;
    uint16_t *rings;
    unsigned char *sums;
    size_t sumsStride;
    int *received, *emitted;
    void *memory;
    row_pass_fn rowPass;
    column_fn column;
    sums_fn addSums;
} blur_stream;

static void stream_begin(blur_stream *s, const ck_blur *blur, const uint8_t *source, uint8_t *destination, int width, int height) {
    memset(s, 0, sizeof *s);
    s->width = width;
    s->height = height;
    s->radius = blur->radius;
    s->passes = blur->passes;
    s->inner = blur->inner;
    s->outer = blur->outer;
    s->sharpen = blur->sharpen;
    s->percent = blur->percent;
    s->threshold = blur->threshold;
    s->source = source;
    s->destination = destination;
    s->n = 3 * (size_t)width;
    s->stride = (s->n + 15) & ~(size_t)15;
    s->ringRows = 2 * s->radius + 3;
    s->pad = 3 * (s->radius + 1);
    s->rowPass = row_pass_scalar;
    s->column = column_scalar;
    s->addSums = sums_scalar;
    s->sumsStride = s->stride * sizeof(uint32_t);
#ifdef CK_X86
    if (vector_ok(s->radius, s->inner, s->outer) && s->percent >= 0 && s->percent <= 1000) {
        s->sumsStride = s->stride * sizeof(uint16_t);
        if (have_avx2()) {
            s->rowPass = row_pass_avx2;
            s->column = column_avx2;
            s->addSums = sums_avx2;
        } else {
            s->rowPass = row_pass_sse2;
            s->column = column_sse2;
            s->addSums = sums_sse2;
        }
    }
#endif
    const size_t padded = (s->stride + 2 * (size_t)s->pad + 31) & ~(size_t)15;
    const size_t rings = (size_t)s->passes * s->ringRows * s->stride;
    // Zeroed once: the values past n in every ring row and sum stay zero (0 weighs to 0).
    s->memory = checked_calloc(1, sizeof(uint16_t) * (2 * padded + rings) + s->sumsStride * s->passes + 2 * sizeof(int) * s->passes + 64);
    uint16_t *memory = s->memory;
    s->rowA = memory + s->pad;
    s->rowB = memory + padded + s->pad;
    s->rings = memory + 2 * padded;
    s->sums = (unsigned char *)(s->rings + rings);
    s->received = (int *)(void *)(s->sums + s->sumsStride * s->passes);
    s->emitted = s->received + s->passes;
}

static uint16_t *stream_ring(const blur_stream *s, int pass, int row) {
    return s->rings + ((size_t)pass * s->ringRows + (size_t)(clampi(row, 0, s->height - 1) % s->ringRows)) * s->stride;
}

/// Copies of the edge pixels into the padding, so that the row kernel repeats the edges.
static void stream_pad(const blur_stream *s, uint16_t *row) {
    const size_t n = s->n;
    for (int p = 1; p <= s->radius + 1; p++) {
        for (int c = 0; c < 3; c++) {
            row[-3 * p + c] = row[c];
            row[n + 3 * (size_t)(p - 1) + c] = row[n - 3 + c];
        }
    }
}

static void stream_pump(blur_stream *s, int pass) {
    const int r = s->radius, height = s->height;
    while (s->emitted[pass] < height && (s->emitted[pass] + r + 1 < height - 1 ? s->emitted[pass] + r + 1 : height - 1) < s->received[pass]) {
        const int y = s->emitted[pass];
        void *sums = s->sums + (size_t)pass * s->sumsStride;
        if (y == 0) {
            memset(sums, 0, s->sumsStride);
            for (int j = -r - 1; j <= r - 1; j++) s->addSums(sums, stream_ring(s, pass, j), s->stride);
        }
        const uint16_t *leaving = stream_ring(s, pass, y - r - 1), *entering = stream_ring(s, pass, y + r), *after = stream_ring(s, pass, y + r + 1);
        if (pass + 1 < s->passes) {
            s->column(leaving, entering, after, sums, s->stride, s->n, s->inner, s->outer, stream_ring(s, pass + 1, y), NULL, NULL, 0, 0);
            s->emitted[pass]++;
            s->received[pass + 1]++;
            stream_pump(s, pass + 1);
        } else {
            const size_t offset = (size_t)y * s->n;
            s->column(leaving, entering, after, sums, s->stride, s->n, s->inner, s->outer, NULL,
                      s->sharpen ? s->source + offset : NULL, s->destination + offset, s->percent, s->threshold);
            s->emitted[pass]++;
        }
    }
}

/// Takes source row y (which must be final by now) through the row passes into the first ring.
static void stream_push(blur_stream *s, int y) {
    const int n = (int)s->n;
    widen(s->source + (size_t)y * s->n, s->rowA, s->n);
    stream_pad(s, s->rowA);
    uint16_t *from = s->rowA;
    for (int pass = 0; pass < s->passes; pass++) {
        uint16_t *to = pass == s->passes - 1 ? stream_ring(s, 0, y) : pass % 2 == 0 ? s->rowB : s->rowA;
        s->rowPass(from, to, n, s->radius, s->inner, s->outer);
        if (pass < s->passes - 1) stream_pad(s, to);
        from = to;
    }
    s->received[0]++;
    stream_pump(s, 0);
}

static void stream_end(blur_stream *s) { free(s->memory); }

void ck_box_blur(const uint8_t *source, uint8_t *destination, int width, int height, const ck_blur *blur) {
    if (width <= 0 || height <= 0) return;
    if (blur->passes <= 0) {
        if (destination != source) memmove(destination, source, 3 * (size_t)width * height);
        return;
    }
    blur_stream s;
    stream_begin(&s, blur, source, destination, width, height);
    for (int y = 0; y < height; y++) stream_push(&s, y);
    stream_end(&s);
}

void ck_sharpen_row(const uint8_t *original, const uint8_t *blurred, uint8_t *output, size_t n, int percent, int threshold) {
#ifdef CK_X86
    const sharpen_sse2 s = make_sharpen_sse2(percent, threshold);
    const __m128i zero = _mm_setzero_si128();
    size_t k = 0;
    for (; k + 16 <= n; k += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(original + k)), b = _mm_loadu_si128((const __m128i *)(blurred + k));
        __m128i low = sharpen8_sse2(_mm_unpacklo_epi8(v, zero), _mm_unpacklo_epi8(b, zero), &s);
        __m128i high = sharpen8_sse2(_mm_unpackhi_epi8(v, zero), _mm_unpackhi_epi8(b, zero), &s);
        _mm_storeu_si128((__m128i *)(output + k), _mm_packus_epi16(low, high));
    }
    for (; k < n; k++) output[k] = sharpen1(original[k], blurred[k], percent, threshold);
#else
    for (size_t k = 0; k < n; k++) output[k] = sharpen1(original[k], blurred[k], percent, threshold);
#endif
}

// ---- CLAHE ----------------------------------------------------------------------------------
//
// Between two tile rows and two tile columns a pixel of value v blends four table entries. For
// each band of rows (between two tile rows) the four tables of each pair of neighbouring tile
// columns are interleaved into one 32-bit entry per v, so a pixel costs one load (an AVX2 gather
// for eight), not four; the float arithmetic is OpenCV's, in its order, without fused
// multiply-adds (contraction is off above).

static inline uint8_t saturated_round(float value) {
    // Adding and subtracting 2^23 rounds half to even (the default rounding mode).
    float rounded = value < 8388608.0f ? (value + 8388608.0f) - 8388608.0f : value;
    return rounded <= 0 ? 0 : rounded >= 255 ? 255 : (uint8_t)rounded;
}

void ck_clahe_tables(uint32_t *histograms, int tiles, int tileArea, int clip, uint8_t *tables) {
    const float lutScale = 255.0f / (float)tileArea;
    for (int tile = 0; tile < tiles; tile++) {
        uint32_t *histogram = histograms + (size_t)tile * 256;
        uint8_t *table = tables + (size_t)tile * 256;
        if (clip > 0) {
            const uint32_t limit = (uint32_t)clip;
            size_t clipped = 0;
            for (int bin = 0; bin < 256; bin++) {
                if (histogram[bin] > limit) {
                    clipped += histogram[bin] - limit;
                    histogram[bin] = limit;
                }
            }
            const uint32_t batch = (uint32_t)(clipped / 256);
            int residual = (int)(clipped % 256);
            for (int bin = 0; bin < 256; bin++) histogram[bin] += batch;
            if (residual != 0) {
                const int step = 256 / residual > 1 ? 256 / residual : 1;
                for (int bin = 0; bin < 256 && residual > 0; bin += step, residual--) histogram[bin]++;
            }
        }
        size_t sum = 0;
        for (int bin = 0; bin < 256; bin++) {
            sum += histogram[bin];
            table[bin] = saturated_round((float)sum * lutScale);
        }
    }
}

typedef struct {
    int width, height, tilesX, tilesY;
    float inverseTileHeight;
    const uint8_t *tables;
    int32_t *pairBase;      // per column: 256 · (index of its pair of tile columns)
    float *leftWeight, *rightWeight;
    uint32_t *band;         // (tilesX + 1) · 256 interleaved entries of the current band
    uint32_t *gathered;     // one row of entries (the SSE2 body)
    uint8_t *equalised;     // one row of results
    int bandTop;
    void *memory;
} clahe_plan;

static void clahe_begin(clahe_plan *p, int width, int height, const uint8_t *tables, int tilesX, int tilesY, int tileWidth, int tileHeight) {
    p->width = width;
    p->height = height;
    p->tilesX = tilesX;
    p->tilesY = tilesY;
    p->tables = tables;
    p->inverseTileHeight = 1.0f / (float)tileHeight;
    const size_t w = (size_t)width + 16;
    p->memory = checked_malloc(w * (sizeof(int32_t) + 2 * sizeof(float) + sizeof(uint32_t) + 1) + ((size_t)tilesX + 1) * 256 * sizeof(uint32_t) + 64);
    unsigned char *memory = p->memory;
    p->band = (uint32_t *)(void *)memory;
    memory += ((size_t)tilesX + 1) * 256 * sizeof(uint32_t);
    p->pairBase = (int32_t *)(void *)memory;
    memory += w * sizeof(int32_t);
    p->leftWeight = (float *)(void *)memory;
    memory += w * sizeof(float);
    p->rightWeight = (float *)(void *)memory;
    memory += w * sizeof(float);
    p->gathered = (uint32_t *)(void *)memory;
    memory += w * sizeof(uint32_t);
    p->equalised = memory;
    // Per column, the pair of tables and their weights, as OpenCV precomputes them.
    const float inverseTileWidth = 1.0f / (float)tileWidth;
    for (int x = 0; x < width; x++) {
        float position = (float)x * inverseTileWidth - 0.5f;
        int left = (int)floorf(position);
        p->rightWeight[x] = position - (float)left;
        p->leftWeight[x] = 1.0f - p->rightWeight[x];
        p->pairBase[x] = (left + 1) * 256;
    }
    p->bandTop = -2;
}

static void clahe_end(clahe_plan *p) { free(p->memory); }

/// Pair q of tile columns is (max(q − 1, 0), min(q, tilesX − 1)); byte 0 and 1 of an entry are
/// the upper tile row's left and right tables, bytes 2 and 3 the lower row's.
static void clahe_band(clahe_plan *p, int top) {
    if (top == p->bandTop) return;
    p->bandTop = top;
    const int tilesX = p->tilesX;
    const uint8_t *upper = p->tables + (size_t)(top < 0 ? 0 : top) * tilesX * 256;
    const uint8_t *lower = p->tables + (size_t)(top + 1 > p->tilesY - 1 ? p->tilesY - 1 : top + 1) * tilesX * 256;
    for (int q = 0; q <= tilesX; q++) {
        const int left = q - 1 < 0 ? 0 : q - 1, right = q > tilesX - 1 ? tilesX - 1 : q;
        const uint8_t *a = upper + left * 256, *b = upper + right * 256, *c = lower + left * 256, *d = lower + right * 256;
        uint32_t *entries = p->band + (size_t)q * 256;
        for (int v = 0; v < 256; v++) entries[v] = a[v] | (uint32_t)b[v] << 8 | (uint32_t)c[v] << 16 | (uint32_t)d[v] << 24;
    }
}

static inline uint8_t blend1(uint32_t entry, float leftWeight, float rightWeight, float topWeight, float bottomWeight) {
    float upper = (float)(entry & 255) * leftWeight + (float)((entry >> 8) & 255) * rightWeight;
    float lower = (float)((entry >> 16) & 255) * leftWeight + (float)(entry >> 24) * rightWeight;
    float value = upper * topWeight + lower * bottomWeight;
    float rounded = (value + 8388608.0f) - 8388608.0f;
    rounded = rounded < 0 ? 0 : rounded > 255 ? 255 : rounded;
    return (uint8_t)(int)rounded;
}

#ifdef CK_X86
static void blend_row_sse2(const clahe_plan *p, const uint8_t *row, uint8_t *out, float topWeight, float bottomWeight) {
    const int width = p->width;
    for (int x = 0; x < width; x++) p->gathered[x] = p->band[p->pairBase[x] + row[x]];
    const __m128i byte = _mm_set1_epi32(255);
    const __m128 top = _mm_set1_ps(topWeight), bottom = _mm_set1_ps(bottomWeight);
    const __m128 shifter = _mm_set1_ps(8388608.0f), zero = _mm_setzero_ps(), maximum = _mm_set1_ps(255.0f);
    int x = 0;
    for (; x + 8 <= width; x += 8) {
        __m128i results[2];
        for (int half = 0; half < 2; half++) {
            const int at = x + 4 * half;
            __m128i entry = _mm_loadu_si128((const __m128i *)(p->gathered + at));
            __m128 lw = _mm_loadu_ps(p->leftWeight + at), rw = _mm_loadu_ps(p->rightWeight + at);
            __m128 a = _mm_cvtepi32_ps(_mm_and_si128(entry, byte)), b = _mm_cvtepi32_ps(_mm_and_si128(_mm_srli_epi32(entry, 8), byte));
            __m128 c = _mm_cvtepi32_ps(_mm_and_si128(_mm_srli_epi32(entry, 16), byte)), d = _mm_cvtepi32_ps(_mm_srli_epi32(entry, 24));
            __m128 upper = _mm_add_ps(_mm_mul_ps(a, lw), _mm_mul_ps(b, rw)), lower = _mm_add_ps(_mm_mul_ps(c, lw), _mm_mul_ps(d, rw));
            __m128 value = _mm_add_ps(_mm_mul_ps(upper, top), _mm_mul_ps(lower, bottom));
            __m128 rounded = _mm_sub_ps(_mm_add_ps(value, shifter), shifter);
            results[half] = _mm_cvttps_epi32(_mm_min_ps(_mm_max_ps(rounded, zero), maximum));
        }
        __m128i packed = _mm_packs_epi32(results[0], results[1]);
        _mm_storel_epi64((__m128i *)(out + x), _mm_packus_epi16(packed, packed));
    }
    for (; x < width; x++) out[x] = blend1(p->gathered[x], p->leftWeight[x], p->rightWeight[x], topWeight, bottomWeight);
}

CK_AVX2 static void blend_row_avx2(const clahe_plan *p, const uint8_t *row, uint8_t *out, float topWeight, float bottomWeight) {
    const int width = p->width;
    const __m256i byte = _mm256_set1_epi32(255);
    const __m256 top = _mm256_set1_ps(topWeight), bottom = _mm256_set1_ps(bottomWeight);
    const __m256 shifter = _mm256_set1_ps(8388608.0f), zero = _mm256_setzero_ps(), maximum = _mm256_set1_ps(255.0f);
    const int *band = (const int *)p->band;
    int x = 0;
    for (; x + 8 <= width; x += 8) {
        __m256i index = _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(p->pairBase + x)), _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(row + x))));
        __m256i entry = _mm256_i32gather_epi32(band, index, 4);
        __m256 lw = _mm256_loadu_ps(p->leftWeight + x), rw = _mm256_loadu_ps(p->rightWeight + x);
        __m256 a = _mm256_cvtepi32_ps(_mm256_and_si256(entry, byte)), b = _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srli_epi32(entry, 8), byte));
        __m256 c = _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srli_epi32(entry, 16), byte)), d = _mm256_cvtepi32_ps(_mm256_srli_epi32(entry, 24));
        __m256 upper = _mm256_add_ps(_mm256_mul_ps(a, lw), _mm256_mul_ps(b, rw)), lower = _mm256_add_ps(_mm256_mul_ps(c, lw), _mm256_mul_ps(d, rw));
        __m256 value = _mm256_add_ps(_mm256_mul_ps(upper, top), _mm256_mul_ps(lower, bottom));
        __m256 rounded = _mm256_sub_ps(_mm256_add_ps(value, shifter), shifter);
        __m256i result = _mm256_cvttps_epi32(_mm256_min_ps(_mm256_max_ps(rounded, zero), maximum));
        __m128i packed = _mm_packs_epi32(_mm256_castsi256_si128(result), _mm256_extracti128_si256(result, 1));
        _mm_storel_epi64((__m128i *)(out + x), _mm_packus_epi16(packed, packed));
    }
    for (; x < width; x++) out[x] = blend1(p->band[p->pairBase[x] + row[x]], p->leftWeight[x], p->rightWeight[x], topWeight, bottomWeight);
}
#endif

#ifndef CK_X86
static void blend_row_portable(const clahe_plan *p, const uint8_t *row, uint8_t *out, float topWeight, float bottomWeight) {
    for (int x = 0; x < p->width; x++) out[x] = blend1(p->band[p->pairBase[x] + row[x]], p->leftWeight[x], p->rightWeight[x], topWeight, bottomWeight);
}
#endif

/// The equalised row y of the luma plane `row`.
static void clahe_row(clahe_plan *p, int y, const uint8_t *row, uint8_t *out) {
    float position = (float)y * p->inverseTileHeight - 0.5f;
    int top = (int)floorf(position);
    float bottomWeight = position - (float)top, topWeight = 1.0f - bottomWeight;
    clahe_band(p, top);
#ifdef CK_X86
    if (have_avx2()) blend_row_avx2(p, row, out, topWeight, bottomWeight);
    else blend_row_sse2(p, row, out, topWeight, bottomWeight);
#else
    blend_row_portable(p, row, out, topWeight, bottomWeight);
#endif
}

void ck_clahe_plane(const uint8_t *plane, uint8_t *output, int width, int height,
                    const uint8_t *tables, int tilesX, int tilesY, int tileWidth, int tileHeight) {
    clahe_plan p;
    clahe_begin(&p, width, height, tables, tilesX, tilesY, tileWidth, tileHeight);
    for (int y = 0; y < height; y++) clahe_row(&p, y, plane + (size_t)y * width, output + (size_t)y * width);
    clahe_end(&p);
}

// Moving R, G and B by equalised − luma, clipped: with s⁺ = max(e − l, 0) and s⁻ = max(l − e, 0)
// (one of them zero) that is a saturating add of s⁺ then a saturating subtract of s⁻, on bytes.

/// Values [from, 3 · width) of the row (from need not start a pixel: the source may be the
/// destination, so no value is moved twice).
static void shift_row_portable(const uint8_t *source, uint8_t *destination, const uint8_t *luma, const uint8_t *equalised, size_t from, int width) {
    for (size_t k = from; k < 3 * (size_t)width; k++) {
        int shift = (int)equalised[k / 3] - (int)luma[k / 3];
        destination[k] = (uint8_t)clampi(source[k] + shift, 0, 255);
    }
}

#ifdef CK_X86
// SSE2 has no byte shuffle: each pixel's shift is spread over its three values as 16-bit lanes
// by one overlapping 64-bit store, then the arithmetic runs on 16 values at a time.
static void shift_row_sse2(const uint8_t *source, uint8_t *destination, const uint8_t *luma, const uint8_t *equalised, int width, int16_t *spread) {
    for (int x = 0; x < width; x++) {
        uint64_t shift = (uint16_t)((int)equalised[x] - (int)luma[x]);
        shift *= 0x0000000100010001ull;
        memcpy(spread + 3 * (size_t)x, &shift, 8);
    }
    const size_t n = 3 * (size_t)width;
    const __m128i zero = _mm_setzero_si128();
    size_t k = 0;
    for (; k + 16 <= n; k += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(source + k));
        __m128i low = _mm_add_epi16(_mm_unpacklo_epi8(v, zero), _mm_loadu_si128((const __m128i *)(spread + k)));
        __m128i high = _mm_add_epi16(_mm_unpackhi_epi8(v, zero), _mm_loadu_si128((const __m128i *)(spread + k + 8)));
        _mm_storeu_si128((__m128i *)(destination + k), _mm_packus_epi16(low, high));
    }
    shift_row_portable(source, destination, luma, equalised, k, width);
}

CK_AVX2 static void shift_row_avx2(const uint8_t *source, uint8_t *destination, const uint8_t *luma, const uint8_t *equalised, int width) {
    const __m128i spread0 = _mm_setr_epi8(0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5);
    const __m128i spread1 = _mm_setr_epi8(5, 5, 6, 6, 6, 7, 7, 7, 8, 8, 8, 9, 9, 9, 10, 10);
    const __m128i spread2 = _mm_setr_epi8(10, 11, 11, 11, 12, 12, 12, 13, 13, 13, 14, 14, 14, 15, 15, 15);
    int x = 0;
    for (; x + 16 <= width; x += 16) {
        __m128i e = _mm_loadu_si128((const __m128i *)(equalised + x)), l = _mm_loadu_si128((const __m128i *)(luma + x));
        __m128i plus = _mm_subs_epu8(e, l), minus = _mm_subs_epu8(l, e);
        const uint8_t *from = source + 3 * (size_t)x;
        uint8_t *to = destination + 3 * (size_t)x;
        __m128i v0 = _mm_loadu_si128((const __m128i *)from), v1 = _mm_loadu_si128((const __m128i *)(from + 16)), v2 = _mm_loadu_si128((const __m128i *)(from + 32));
        v0 = _mm_subs_epu8(_mm_adds_epu8(v0, _mm_shuffle_epi8(plus, spread0)), _mm_shuffle_epi8(minus, spread0));
        v1 = _mm_subs_epu8(_mm_adds_epu8(v1, _mm_shuffle_epi8(plus, spread1)), _mm_shuffle_epi8(minus, spread1));
        v2 = _mm_subs_epu8(_mm_adds_epu8(v2, _mm_shuffle_epi8(plus, spread2)), _mm_shuffle_epi8(minus, spread2));
        _mm_storeu_si128((__m128i *)to, v0);
        _mm_storeu_si128((__m128i *)(to + 16), v1);
        _mm_storeu_si128((__m128i *)(to + 32), v2);
    }
    shift_row_portable(source, destination, luma, equalised, 3 * (size_t)x, width);
}
#endif

void ck_clahe_rgb(const uint8_t *source, uint8_t *destination, const uint8_t *luma, int width, int height,
                  const uint8_t *tables, int tilesX, int tilesY, int tileWidth, int tileHeight, const ck_blur *blur) {
    clahe_plan p;
    clahe_begin(&p, width, height, tables, tilesX, tilesY, tileWidth, tileHeight);
    blur_stream stream;
    // The unsharp mask reads the equalised frame row by row as it is written, and writes its
    // result over it once no later row needs it.
    if (blur) stream_begin(&stream, blur, destination, destination, width, height);
    int16_t *spread = checked_malloc(sizeof(int16_t) * (3 * (size_t)width + 16));
    const size_t n = 3 * (size_t)width;
    for (int y = 0; y < height; y++) {
        const uint8_t *lumaRow = luma + (size_t)y * width;
        clahe_row(&p, y, lumaRow, p.equalised);
#ifdef CK_X86
        if (have_avx2()) shift_row_avx2(source + y * n, destination + y * n, lumaRow, p.equalised, width);
        else shift_row_sse2(source + y * n, destination + y * n, lumaRow, p.equalised, width, spread);
#else
        shift_row_portable(source + y * n, destination + y * n, lumaRow, p.equalised, 0, width);
#endif
        if (blur) stream_push(&stream, y);
    }
    free(spread);
    if (blur) stream_end(&stream);
    clahe_end(&p);
}

// ---- Luma, histograms and look-up tables ----------------------------------------------------

CK_INLINE void luma_rows_body(const uint8_t *rgb, uint8_t *luma, size_t count) {
    for (size_t i = 0; i < count; i++) {
        uint32_t weighted = 299u * rgb[3 * i] + 587u * rgb[3 * i + 1] + 114u * rgb[3 * i + 2];
        luma[i] = (uint8_t)((weighted + 500) / 1000);
    }
}

#ifdef CK_X86
// Without a 32-bit vector multiply (SSE2) the vectorised loop is slower than the scalar one.
static void luma_rows_baseline(const uint8_t *rgb, uint8_t *luma, size_t count) {
#pragma clang loop vectorize(disable)
    for (size_t i = 0; i < count; i++) {
        uint32_t weighted = 299u * rgb[3 * i] + 587u * rgb[3 * i + 1] + 114u * rgb[3 * i + 2];
        luma[i] = (uint8_t)((weighted + 500) / 1000);
    }
}
CK_AVX2 static void luma_rows_avx2(const uint8_t *rgb, uint8_t *luma, size_t count) { luma_rows_body(rgb, luma, count); }
static void luma_rows(const uint8_t *rgb, uint8_t *luma, size_t count) {
    if (have_avx2()) luma_rows_avx2(rgb, luma, count); else luma_rows_baseline(rgb, luma, count);
}
#else
static void luma_rows(const uint8_t *rgb, uint8_t *luma, size_t count) { luma_rows_body(rgb, luma, count); }
#endif

void ck_luma(const uint8_t *rgb, uint8_t *luma, size_t count) { luma_rows(rgb, luma, count); }

// Neighbouring pixels of a photo often share a value, and one set of counters then waits on
// its own last increment; alternating between several sets and adding them up at the end
// keeps the increments independent.

static inline int reflect101(int index, int count) {
    return index < 0 ? -index : index >= count ? 2 * count - 2 - index : index;
}

void ck_tile_histograms(const uint8_t *plane, int width, int height, int tilesX, int tilesY,
                        int tileWidth, int tileHeight, uint32_t *histograms) {
    uint32_t *spare = checked_calloc((size_t)tilesX * 256, sizeof(uint32_t));
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

void ck_channel_sums(const uint8_t *rgb, size_t count, uint64_t *sums) {
    uint64_t total[3] = {0, 0, 0};
    size_t i = 0;
#ifdef CK_X86
    // Sixteen pixels are three 16-byte blocks; a byte mask per channel and block, then psadbw
    // adds each block's eight-byte halves into 64-bit lanes.
    __m128i masks[3][3];
    for (int block = 0; block < 3; block++) {
        for (int channel = 0; channel < 3; channel++) {
            uint8_t mask[16];
            for (int j = 0; j < 16; j++) mask[j] = (16 * block + j) % 3 == channel ? 255 : 0;
            masks[block][channel] = _mm_loadu_si128((const __m128i *)mask);
        }
    }
    const __m128i zero = _mm_setzero_si128();
    __m128i accumulators[3] = {zero, zero, zero};
    for (; i + 16 <= count; i += 16) {
        for (int block = 0; block < 3; block++) {
            __m128i v = _mm_loadu_si128((const __m128i *)(rgb + 3 * i + 16 * block));
            for (int channel = 0; channel < 3; channel++)
                accumulators[channel] = _mm_add_epi64(accumulators[channel], _mm_sad_epu8(_mm_and_si128(v, masks[block][channel]), zero));
        }
    }
    for (int channel = 0; channel < 3; channel++) {
        uint64_t lanes[2];
        _mm_storeu_si128((__m128i *)lanes, accumulators[channel]);
        total[channel] = lanes[0] + lanes[1];
    }
#endif
    for (; i < count; i++)
        for (int channel = 0; channel < 3; channel++) total[channel] += rgb[3 * i + channel];
    for (int channel = 0; channel < 3; channel++) sums[channel] = total[channel];
}

void ck_mapped_sums(const uint8_t *rgb, size_t count, const uint8_t *tables, uint64_t *sums) {
    const uint8_t *red = tables, *green = tables + 256, *blue = tables + 512;
    uint64_t r0 = 0, g0 = 0, b0 = 0, r1 = 0, g1 = 0, b1 = 0;
    size_t i = 0;
    for (; i + 2 <= count; i += 2) {
        const uint8_t *p = rgb + 3 * i;
        r0 += red[p[0]];
        g0 += green[p[1]];
        b0 += blue[p[2]];
        r1 += red[p[3]];
        g1 += green[p[4]];
        b1 += blue[p[5]];
    }
    for (; i < count; i++) {
        r0 += red[rgb[3 * i]];
        g0 += green[rgb[3 * i + 1]];
        b0 += blue[rgb[3 * i + 2]];
    }
    sums[0] = r0 + r1;
    sums[1] = g0 + g1;
    sums[2] = b0 + b1;
}

void ck_apply_tables(const uint8_t *rgb, uint8_t *destination, uint8_t *luma, size_t count, const uint8_t *tables) {
    const uint8_t *red = tables, *green = tables + 256, *blue = tables + 512;
    if (luma == NULL) {
        for (size_t i = 0; i < count; i++) {
            const uint8_t *p = rgb + 3 * i;
            uint8_t *q = destination + 3 * i;
            q[0] = red[p[0]];
            q[1] = green[p[1]];
            q[2] = blue[p[2]];
        }
        return;
    }
#ifdef CK_X86
    // With AVX2 the luma of a block just mapped (still in L1) is cheaper vectorised than in the
    // scalar loop, whose three multiplies per pixel share one port.
    if (have_avx2()) {
        for (size_t start = 0; start < count; start += 1024) {
            const size_t block = count - start < 1024 ? count - start : 1024;
            ck_apply_tables(rgb + 3 * start, destination + 3 * start, NULL, block, tables);
            luma_rows_avx2(destination + 3 * start, luma + start, block);
        }
        return;
    }
#endif
    for (size_t i = 0; i < count; i++) {
        const uint8_t *p = rgb + 3 * i;
        uint8_t *q = destination + 3 * i;
        uint32_t r = red[p[0]], g = green[p[1]], b = blue[p[2]];
        q[0] = (uint8_t)r;
        q[1] = (uint8_t)g;
        q[2] = (uint8_t)b;
        luma[i] = (uint8_t)((299u * r + 587u * g + 114u * b + 500u) / 1000u);
    }
}
