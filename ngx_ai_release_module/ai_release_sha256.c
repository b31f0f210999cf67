
/*
 * Copyright (C) ngx_ai_release authors
 *
 * SHA-256 as specified by FIPS 180-4, incremental and one-shot.
 */


#include <string.h>

#include "ai_release_core.h"


#define ai_release_ror32(x, n)  (((x) >> (n)) | ((x) << (32 - (n))))

#define ai_release_ch(x, y, z)  (((x) & (y)) ^ (~(x) & (z)))
#define ai_release_maj(x, y, z) (((x) & (y)) ^ ((x) & (z)) ^ ((y) & (z)))

#define ai_release_bsig0(x)                                                   \
    (ai_release_ror32(x, 2) ^ ai_release_ror32(x, 13)                         \
     ^ ai_release_ror32(x, 22))
#define ai_release_bsig1(x)                                                   \
    (ai_release_ror32(x, 6) ^ ai_release_ror32(x, 11)                         \
     ^ ai_release_ror32(x, 25))
#define ai_release_ssig0(x)                                                   \
    (ai_release_ror32(x, 7) ^ ai_release_ror32(x, 18) ^ ((x) >> 3))
#define ai_release_ssig1(x)                                                   \
    (ai_release_ror32(x, 17) ^ ai_release_ror32(x, 19) ^ ((x) >> 10))


static void ai_release_sha256_block(ai_release_sha256_ctx_t *ctx,
    const unsigned char *p);


static const uint32_t  ai_release_sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5,
    0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
    0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc,
    0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3,
    0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5,
    0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
};


void
ai_release_sha256_init(ai_release_sha256_ctx_t *ctx)
{
    ctx->state[0] = 0x6a09e667;
    ctx->state[1] = 0xbb67ae85;
    ctx->state[2] = 0x3c6ef372;
    ctx->state[3] = 0xa54ff53a;
    ctx->state[4] = 0x510e527f;
    ctx->state[5] = 0x9b05688c;
    ctx->state[6] = 0x1f83d9ab;
    ctx->state[7] = 0x5be0cd19;

    ctx->bytes = 0;
    ctx->buf_len = 0;
}


void
ai_release_sha256_update(ai_release_sha256_ctx_t *ctx, const void *data,
    size_t len)
{
    size_t                n;
    const unsigned char  *p;

    p = data;
    ctx->bytes += len;

    if (ctx->buf_len) {
        n = 64 - ctx->buf_len;

        if (len < n) {
            memcpy(ctx->buf + ctx->buf_len, p, len);
            ctx->buf_len += len;
            return;
        }

        memcpy(ctx->buf + ctx->buf_len, p, n);
        ai_release_sha256_block(ctx, ctx->buf);
        ctx->buf_len = 0;
        p += n;
        len -= n;
    }

    while (len >= 64) {
        ai_release_sha256_block(ctx, p);
        p += 64;
        len -= 64;
    }

    if (len) {
        memcpy(ctx->buf, p, len);
        ctx->buf_len = len;
    }
}


void
ai_release_sha256_final(ai_release_sha256_ctx_t *ctx,
    unsigned char out[AI_RELEASE_SHA256_LEN])
{
    int       i;
    uint64_t  bits;

    bits = ctx->bytes * 8;

    ctx->buf[ctx->buf_len++] = 0x80;

    if (ctx->buf_len > 56) {
        memset(ctx->buf + ctx->buf_len, 0, 64 - ctx->buf_len);
        ai_release_sha256_block(ctx, ctx->buf);
        ctx->buf_len = 0;
    }

    memset(ctx->buf + ctx->buf_len, 0, 56 - ctx->buf_len);

    for (i = 0; i < 8; i++) {
        ctx->buf[63 - i] = (unsigned char) (bits >> (8 * i));
    }

    ai_release_sha256_block(ctx, ctx->buf);

    for (i = 0; i < 8; i++) {
        out[4 * i] = (unsigned char) (ctx->state[i] >> 24);
        out[4 * i + 1] = (unsigned char) (ctx->state[i] >> 16);
        out[4 * i + 2] = (unsigned char) (ctx->state[i] >> 8);
        out[4 * i + 3] = (unsigned char) ctx->state[i];
    }

    memset(ctx, 0, sizeof(ai_release_sha256_ctx_t));
}


void
ai_release_sha256(const void *data, size_t len,
    unsigned char out[AI_RELEASE_SHA256_LEN])
{
    ai_release_sha256_ctx_t  ctx;

    ai_release_sha256_init(&ctx);
    ai_release_sha256_update(&ctx, data, len);
    ai_release_sha256_final(&ctx, out);
}


static void
ai_release_sha256_block(ai_release_sha256_ctx_t *ctx, const unsigned char *p)
{
    int       i;
    uint32_t  a, b, c, d, e, f, g, h, t1, t2, w[64];

    for (i = 0; i < 16; i++) {
        w[i] = ((uint32_t) p[4 * i] << 24)
               | ((uint32_t) p[4 * i + 1] << 16)
               | ((uint32_t) p[4 * i + 2] << 8)
               | (uint32_t) p[4 * i + 3];
    }

    for (i = 16; i < 64; i++) {
        w[i] = ai_release_ssig1(w[i - 2]) + w[i - 7]
               + ai_release_ssig0(w[i - 15]) + w[i - 16];
    }

    a = ctx->state[0];
    b = ctx->state[1];
    c = ctx->state[2];
    d = ctx->state[3];
    e = ctx->state[4];
    f = ctx->state[5];
    g = ctx->state[6];
    h = ctx->state[7];

    for (i = 0; i < 64; i++) {
        t1 = h + ai_release_bsig1(e) + ai_release_ch(e, f, g)
             + ai_release_sha256_k[i] + w[i];
        t2 = ai_release_bsig0(a) + ai_release_maj(a, b, c);
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }

    ctx->state[0] += a;
    ctx->state[1] += b;
    ctx->state[2] += c;
    ctx->state[3] += d;
    ctx->state[4] += e;
    ctx->state[5] += f;
    ctx->state[6] += g;
    ctx->state[7] += h;
}
