#ifndef CAPTURE_KERNELS_H
#define CAPTURE_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/// Hot loops of `CaptureNormalization`, bit for bit the arithmetic of the references (Pillow's
/// 8.24 box blur and UnsharpMask combine, OpenCV's CLAHE, the white-balance and exposure tables).
/// On x86-64 each has an SSE2 body (the baseline) and an AVX2 body chosen at run time;
/// elsewhere a portable C body.

/// One Pillow box blur: `passes` passes along the rows then `passes` down the columns, each
/// out = (sum · inner + outside · outer + 2^23) >> 24 over a window of 2 · radius + 1 values and
/// the two just outside it, edges repeated. With `sharpen` non-zero the result is Pillow's
/// UnsharpMask of the source against the blur (`percent`, `threshold`).
typedef struct {
    int radius;
    uint32_t inner;
    uint32_t outer;
    int passes;
    int sharpen;
    int percent;
    int threshold;
} ck_blur;

/// `blur` of interleaved RGB (`width` × `height`). `destination` may be `source`.
void ck_box_blur(const uint8_t *source, uint8_t *destination, int width, int height, const ck_blur *blur);

/// Pillow's UnsharpMask combine of a row of `n` values with the vector arithmetic the blur
/// bodies use (percent 0…1000), so that a test can hold it to the definition for every input.
void ck_sharpen_row(const uint8_t *original, const uint8_t *blurred, uint8_t *output, size_t n, int percent, int threshold);

/// CLAHE's tables from its tile histograms (`tiles` · 256 counts, clipped in place at `clip`
/// when it is positive, the excess spread as OpenCV spreads it): the cumulative count times
/// 255 / tileArea in single precision, rounded half to even. `tables` holds tiles · 256 bytes.
void ck_clahe_tables(uint32_t *histograms, int tiles, int tileArea, int clip, uint8_t *tables);

/// CLAHE's per-pixel blend (OpenCV's CLAHE_Interpolation_Body for 8-bit planes): each pixel of
/// `plane` blends the tables (`tilesX` · `tilesY` · 256 bytes) of its four nearest tile centres
/// bilinearly in single precision, in OpenCV's order of operations, and rounds half to even.
void ck_clahe_plane(const uint8_t *plane, uint8_t *output, int width, int height,
                    const uint8_t *tables, int tilesX, int tilesY, int tileWidth, int tileHeight);

/// The blend on `luma` (the frame's luma plane), each pixel of interleaved RGB `source` moved by
/// equalised − luma (clipped) into `destination` (which may be `source`); then, when `blur` is
/// not NULL, `blur` applied to the result, row by row as the equalised rows are written.
void ck_clahe_rgb(const uint8_t *source, uint8_t *destination, const uint8_t *luma, int width, int height,
                  const uint8_t *tables, int tilesX, int tilesY, int tileWidth, int tileHeight, const ck_blur *blur);

/// The 256-bin histogram of each tile of a `tilesX` × `tilesY` grid of `tileWidth` × `tileHeight`
/// tiles over `plane`, rows and columns past its end mirrored (OpenCV's BORDER_REFLECT_101, at
/// most one tile's worth). `histograms` holds tilesX · tilesY · 256 counts, row-major by tile.
void ck_tile_histograms(const uint8_t *plane, int width, int height, int tilesX, int tilesY,
                        int tileWidth, int tileHeight, uint32_t *histograms);

/// The sums of R, G and B (3 values) of `count` interleaved pixels.
void ck_channel_sums(const uint8_t *rgb, size_t count, uint64_t *sums);

/// The sums of R, G and B once mapped through their tables (3 · 256 bytes).
void ck_mapped_sums(const uint8_t *rgb, size_t count, const uint8_t *tables, uint64_t *sums);

/// Maps R, G and B of `count` interleaved pixels through their tables (3 · 256 bytes) into
/// `destination` (which may be `rgb`) and, when `luma` is not NULL, writes the BT.601 luma of
/// the result, (299 R + 587 G + 114 B + 500) / 1000.
void ck_apply_tables(const uint8_t *rgb, uint8_t *destination, uint8_t *luma, size_t count, const uint8_t *tables);

/// BT.601 luma of interleaved RGB, (299 R + 587 G + 114 B + 500) / 1000.
void ck_luma(const uint8_t *rgb, uint8_t *luma, size_t count);

/// Whether the AVX2 bodies are in use (for the benchmark's report).
int ck_uses_avx2(void);

/// Keeps to the SSE2 bodies even on an AVX2 CPU (non-zero), so the benchmark can time both.
void ck_force_baseline(int baseline);

#endif
