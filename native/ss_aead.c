// Shadowsocks stream AEAD in C: one OpenSSL cipher context per stream direction, reused for every
// chunk (only the nonce is reset), and whole batches of chunks sealed or opened in one call.
//
//   create(alg, key, encrypt)                       -> handle  alg: 0 aes-128-gcm, 1 aes-256-gcm,
//                                                              2 chacha20-poly1305; nonce starts at 0
//   sealOne(h, src, dst, off)                       -> end     one AEAD message (ciphertext||tag)
//   sealChunks(h, head, src, n, dst, off, max)      -> end     the first n bytes of head||src as
//                                                              [sealed length][sealed payload] chunks
//   openOne(h, buf)                                 -> bool    opens ciphertext||tag in place
//   openFrames(h, src, off, end, dst, dstOff, st)   -> offset  opens the whole frames of src[off,end);
//                                                              payloads go to dst (see below)
//
// Why: node:crypto cannot reset the IV of a GCM or ChaCha20-Poly1305 context, so every chunk there
// costs a new OpenSSL object (~3 µs, two per chunk with the length) plus a fresh output buffer.
// Here a chunk costs an IV reset and the cipher itself, and one JS->C call covers a whole socket read.
// Node exports its OpenSSL's symbols to addons (the headers ship with Node), so nothing is linked.
//
// The nonce is the little-endian counter of SIP004 / SIP022 §3.1.1, incremented after every message.
// openFrames state st (Int32Array): [0] bytes of the next frame (2 + 16 for a length, n + 16 for a
// payload), [1] 1 when the next frame is a length, [2] largest payload, [3] failure (0 none, 1 tag,
// 2 length above the maximum — SIP004: the top two bits are reserved), [4] out: dst end. Payloads are
// written at dst[dstOff...]; when dst is src, frames are opened in place and payloads moved down.
#include <node_api.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TAG_LEN 16
#define NONCE_LEN 12

typedef struct {
  EVP_CIPHER_CTX *ctx;
  uint8_t nonce[NONCE_LEN];
} ss_aead;

static EVP_CIPHER *ciphers[3];

static void inc_nonce(uint8_t *n) {
  for (int i = 0; i < NONCE_LEN; i++)
    if (++n[i] != 0) return;
}

static int seal_msg(ss_aead *a, const uint8_t *h, int hn, const uint8_t *m, int n, uint8_t *out) {
  int l;
  if (EVP_CipherInit_ex(a->ctx, NULL, NULL, NULL, a->nonce, -1) != 1) return 0;
  if (hn > 0 && EVP_CipherUpdate(a->ctx, out, &l, h, hn) != 1) return 0;
  if (n > 0 && EVP_CipherUpdate(a->ctx, out + hn, &l, m, n) != 1) return 0;
  if (EVP_CipherFinal_ex(a->ctx, out + hn + n, &l) != 1) return 0;
  // The tag through OSSL_PARAMs directly: EVP_CIPHER_CTX_ctrl() would translate to these anyway.
  OSSL_PARAM p[2] = {OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, out + hn + n, TAG_LEN),
                     OSSL_PARAM_construct_end()};
  if (EVP_CIPHER_CTX_get_params(a->ctx, p) != 1) return 0;
  inc_nonce(a->nonce);
  return 1;
}

// Opens in[0, n + TAG_LEN) into out[0, n) (out may be in). Returns 1 when the tag verifies.
static int open_msg(ss_aead *a, const uint8_t *in, int n, uint8_t *out) {
  int l, ok;
  // The tag is copied out first: Final may write its (empty) output at out + n, where it lies.
  uint8_t tag[TAG_LEN];
  memcpy(tag, in + n, TAG_LEN);
  OSSL_PARAM p[2] = {OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, TAG_LEN),
                     OSSL_PARAM_construct_end()};
  ok = EVP_CipherInit_ex(a->ctx, NULL, NULL, NULL, a->nonce, -1) == 1 &&
       EVP_CIPHER_CTX_set_params(a->ctx, p) == 1 &&
       (n == 0 || EVP_CipherUpdate(a->ctx, out, &l, in, n) == 1) &&
       EVP_CipherFinal_ex(a->ctx, out + n, &l) == 1;
  inc_nonce(a->nonce);
  return ok;
}

// ---- N-API plumbing ------------------------------------------------------------------------------
static napi_value throw_err(napi_env env, const char *msg) {
  napi_throw_error(env, "E_AEAD", msg);
  return NULL;
}

static int get_bytes(napi_env env, napi_value v, uint8_t **p, size_t *len) {
  napi_typedarray_type t;
  napi_value ab;
  size_t off;
  bool is;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return 0;
  if (napi_get_typedarray_info(env, v, &t, len, (void **)p, &ab, &off) != napi_ok) return 0;
  return t == napi_uint8_array;
}

static int get_int(napi_env env, napi_value v, int64_t *out) {
  return napi_get_value_int64(env, v, out) == napi_ok;
}

static ss_aead *get_handle(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok) return NULL;
  return (ss_aead *)p;
}

static napi_value num(napi_env env, int64_t v) {
  napi_value r;
  napi_create_int64(env, v, &r);
  return r;
}

static void finalize(napi_env env, void *data, void *hint) {
  ss_aead *a = (ss_aead *)data;
  EVP_CIPHER_CTX_free(a->ctx);
  OPENSSL_cleanse(a, sizeof *a);
  free(a);
}

static napi_value js_create(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], ext;
  int64_t alg;
  uint8_t *key;
  size_t klen;
  bool enc;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3)
    return throw_err(env, "create(alg, key, encrypt)");
  if (!get_int(env, argv[0], &alg) || alg < 0 || alg > 2 || !ciphers[alg])
    return throw_err(env, "unsupported algorithm");
  if (!get_bytes(env, argv[1], &key, &klen) || (int)klen != EVP_CIPHER_get_key_length(ciphers[alg]))
    return throw_err(env, "bad key length");
  napi_get_value_bool(env, argv[2], &enc);
  ss_aead *a = calloc(1, sizeof *a);
  if (!a) return throw_err(env, "out of memory");
  a->ctx = EVP_CIPHER_CTX_new();
  if (!a->ctx || EVP_CipherInit_ex(a->ctx, ciphers[alg], NULL, NULL, NULL, enc ? 1 : 0) != 1 ||
      EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_SET_IVLEN, NONCE_LEN, NULL) != 1 ||
      EVP_CipherInit_ex(a->ctx, NULL, NULL, key, NULL, -1) != 1) {
    if (a->ctx) EVP_CIPHER_CTX_free(a->ctx);
    free(a);
    return throw_err(env, "OpenSSL cipher setup failed");
  }
  if (napi_create_external(env, a, finalize, NULL, &ext) != napi_ok) {
    EVP_CIPHER_CTX_free(a->ctx);
    free(a);
    return throw_err(env, "napi_create_external failed");
  }
  return ext;
}

static napi_value js_seal_one(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  uint8_t *src, *dst;
  size_t slen, dlen;
  int64_t off;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  ss_aead *a = argc == 4 ? get_handle(env, argv[0]) : NULL;
  if (!a || !get_bytes(env, argv[1], &src, &slen) || !get_bytes(env, argv[2], &dst, &dlen) ||
      !get_int(env, argv[3], &off))
    return throw_err(env, "sealOne(h, src, dst, off)");
  if (off < 0 || (size_t)off + slen + TAG_LEN > dlen) return throw_err(env, "sealOne: dst too small");
  if (!seal_msg(a, NULL, 0, src, (int)slen, dst + off)) return throw_err(env, "seal failed");
  return num(env, off + (int64_t)slen + TAG_LEN);
}

static napi_value js_seal_chunks(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  uint8_t *head = NULL, *src, *dst;
  size_t hlen = 0, slen, dlen;
  int64_t n, off, max;
  napi_valuetype ht;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  ss_aead *a = argc == 7 ? get_handle(env, argv[0]) : NULL;
  if (!a || napi_typeof(env, argv[1], &ht) != napi_ok ||
      (ht != napi_null && !get_bytes(env, argv[1], &head, &hlen)) || !get_bytes(env, argv[2], &src, &slen) ||
      !get_int(env, argv[3], &n) || !get_bytes(env, argv[4], &dst, &dlen) || !get_int(env, argv[5], &off) ||
      !get_int(env, argv[6], &max))
    return throw_err(env, "sealChunks(h, head, src, n, dst, off, max)");
  if (n < 0 || (size_t)n > hlen + slen || max <= 0 || max > 0xffff || off < 0)
    return throw_err(env, "sealChunks: bad range");
  int64_t chunks = (n + max - 1) / max;
  if ((size_t)off + (size_t)n + (size_t)chunks * (2 + 2 * TAG_LEN) > dlen)
    return throw_err(env, "sealChunks: dst too small");
  uint8_t *o = dst + off;
  size_t done = 0;
  while (done < (size_t)n) {
    int c = (int)((size_t)n - done < (size_t)max ? (size_t)n - done : (size_t)max);
    uint8_t len[2] = {(uint8_t)(c >> 8), (uint8_t)c};
    if (!seal_msg(a, NULL, 0, len, 2, o)) return throw_err(env, "seal failed");
    o += 2 + TAG_LEN;
    // The head (a few bytes held back from the previous batch) only ever starts the first chunk.
    int hn = 0;
    if (done < hlen) hn = (int)(hlen - done < (size_t)c ? hlen - done : (size_t)c);
    const uint8_t *m = hn > 0 ? src : src + (done - hlen);
    if (!seal_msg(a, hn > 0 ? head + done : NULL, hn, m, c - hn, o)) return throw_err(env, "seal failed");
    o += c + TAG_LEN;
    done += c;
  }
  return num(env, o - dst);
}

static napi_value js_open_one(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], r;
  uint8_t *buf;
  size_t len;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  ss_aead *a = argc == 2 ? get_handle(env, argv[0]) : NULL;
  if (!a || !get_bytes(env, argv[1], &buf, &len)) return throw_err(env, "openOne(h, buf)");
  int ok = len >= TAG_LEN && open_msg(a, buf, (int)(len - TAG_LEN), buf);
  napi_get_boolean(env, ok, &r);
  return r;
}

static napi_value js_open_frames(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  uint8_t *src, *dst;
  size_t slen, dlen, stlen;
  int64_t off, end, doff;
  int32_t *st;
  napi_typedarray_type t;
  napi_value ab;
  size_t abo;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  ss_aead *a = argc == 7 ? get_handle(env, argv[0]) : NULL;
  if (!a || !get_bytes(env, argv[1], &src, &slen) || !get_int(env, argv[2], &off) ||
      !get_int(env, argv[3], &end) || !get_bytes(env, argv[4], &dst, &dlen) || !get_int(env, argv[5], &doff) ||
      napi_get_typedarray_info(env, argv[6], &t, &stlen, (void **)&st, &ab, &abo) != napi_ok ||
      t != napi_int32_array || stlen < 5)
    return throw_err(env, "openFrames(h, src, off, end, dst, dstOff, st)");
  if (off < 0 || end < off || (size_t)end > slen || doff < 0 || (size_t)doff > dlen)
    return throw_err(env, "openFrames: bad range");
  int in_place = dst == src;
  int64_t need = st[0], w = doff;
  int expect_len = st[1], max = st[2];
  // The state is JS's; a corrupt one must not make a frame of negative or absurd size.
  if (max < 0 || max > 0xffff || need < TAG_LEN || need > max + TAG_LEN ||
      (expect_len && need != 2 + TAG_LEN))
    return throw_err(env, "openFrames: bad state");
  st[3] = 0;
  while (end - off >= need) {
    uint8_t *f = src + off;
    int n = (int)need - TAG_LEN;
    if (expect_len) {
      uint8_t lb[2];
      if (!open_msg(a, f, 2, lb)) { st[3] = 1; break; }
      int len = (lb[0] << 8) | lb[1];
      if (len > max) { st[3] = 2; break; }
      off += need;
      need = len + TAG_LEN;
      expect_len = 0;
      continue;
    }
    if (!in_place && (size_t)(w + n) > dlen) return throw_err(env, "openFrames: dst too small");
    if (!open_msg(a, f, n, in_place ? f : dst + w)) { st[3] = 1; break; }
    if (in_place && dst + w != f) memmove(dst + w, f, (size_t)n);
    w += n;
    off += need;
    need = 2 + TAG_LEN;
    expect_len = 1;
  }
  st[0] = (int32_t)need;
  st[1] = expect_len;
  st[4] = (int32_t)w;
  return num(env, off);
}

static napi_value init(napi_env env, napi_value exports) {
  // Fetched once: passing EVP_aes_128_gcm() etc. would make every context set-up fetch again.
  ciphers[0] = EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);
  ciphers[1] = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
  ciphers[2] = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
  napi_property_descriptor props[] = {
      {"create", NULL, js_create, NULL, NULL, NULL, napi_default, NULL},
      {"sealOne", NULL, js_seal_one, NULL, NULL, NULL, napi_default, NULL},
      {"sealChunks", NULL, js_seal_chunks, NULL, NULL, NULL, napi_default, NULL},
      {"openOne", NULL, js_open_one, NULL, NULL, NULL, napi_default, NULL},
      {"openFrames", NULL, js_open_frames, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
