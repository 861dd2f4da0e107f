#ifndef CAPTURE_KERNELS_H
#define CAPTURE_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/// Hot loops of `CaptureNormalization`, bit for bit the arithmetic of the Swift definitions
/// (Pillow's 8.24 box blur, Pillow's UnsharpMask combine). On x86-64 each has an SSE2 body
/// (the baseline) and an AVX2 body chosen at run time; elsewhere a portable C body.

/// `passes` Pillow box-blur passes along the rows of interleaved RGB (`width` pixels, 3 bytes
/// each), each out = (sum · inner + outside · outer + 2^23) >> 24 with the edge pixels
/// repeated; `radius` is the whole part of the box radius.
void ck_box_rows(const uint8_t *source, uint8_t *destination, int width, int height,
                 int radius, uint32_t inner, uint32_t outer, int passes);

/// The same pass down the columns. When `original` is not NULL the pass writes Pillow's
/// UnsharpMask of `original` against the blurred value instead of the blurred value itself.
void ck_box_columns(const uint8_t *source, uint8_t *destination, int width, int height,
                    int radius, uint32_t inner, uint32_t outer,
                    const uint8_t *original, int percent, int threshold);

/// CLAHE's per-pixel blend (OpenCV's CLAHE_Interpolation_Body for 8-bit planes): each pixel of
/// `plane` blends the tables (`tilesX` · `tilesY` · 256 bytes) of its four nearest tile centres
/// bilinearly in single precision, in OpenCV's order of operations, and rounds half to even.
void ck_clahe_blend(const uint8_t *plane, uint8_t *output, int width, int height,
                    const uint8_t *tables, int tilesX, int tilesY, int tileWidth, int tileHeight);

/// The 256-bin histogram of each tile of a `tilesX` × `tilesY` grid of `tileWidth` × `tileHeight`
/// tiles over `plane`, rows and columns past its end mirrored (OpenCV's BORDER_REFLECT_101, at
/// most one tile's worth). `histograms` holds tilesX · tilesY · 256 counts, row-major by tile.
void ck_tile_histograms(const uint8_t *plane, int width, int height, int tilesX, int tilesY,
                        int tileWidth, int tileHeight, uint32_t *histograms);

/// The histograms of R, G and B (3 · 256 counts) of `count` interleaved pixels.
void ck_channel_histograms(const uint8_t *rgb, size_t count, uint32_t *histograms);

/// Maps R, G and B of `count` interleaved pixels through their tables (3 · 256 bytes).
void ck_apply_tables(uint8_t *rgb, size_t count, const uint8_t *tables);

/// BT.601 luma of interleaved RGB, (299 R + 587 G + 114 B + 500) / 1000.
void ck_luma(const uint8_t *rgb, uint8_t *luma, size_t count);

/// Moves each pixel's R, G and B by equalised − luma, clipped to 0…255.
void ck_shift_by_luma(uint8_t *rgb, const uint8_t *luma, const uint8_t *equalised, size_t count);

/// Whether the AVX2 bodies are in use (for the benchmark's report).
int ck_uses_avx2(void);

/// Keeps to the SSE2 bodies even on an AVX2 CPU (non-zero), so the benchmark can time both.
void ck_force_baseline(int baseline);

#endif
