// Ferry's native addon: the few system calls Node.js does not expose.
//
//   open(name, multiQueue, offload)   -> { fd, name, offload }  /dev/net/tun + TUNSETIFF
//   readBatchV / writeBatchV                            the same with virtio_net_hdr (offload: TSO)
//   mtu(name)                         -> number         SIOCGIFMTU
//   readBatch(fd, buf, slot, lengths) -> count | -errno read() until EAGAIN or the batch is full
//   writeBatch(fd, buf, lengths, n)   -> count | -errno one write() per packet, packets back to back
//   watch(fd, callback)               -> handle         uv_poll_t; callback(status) per readiness event
//   unwatch(handle)                                     stops and frees the poll handle
//   setMark(fd, mark)                 -> 0 | -errno     SO_MARK on a socket (WireGuard fwmark)
//   close(fd)
//   linkState(name)                   -> { flags, mtu }  SIOCGIFFLAGS + SIOCGIFMTU (throws ENODEV)
//   netlinkOpen()                     -> fd             rtnetlink socket subscribed to link events
//   netlinkDrain(fd)                  -> count          discards queued messages (they are a wake-up)
//   udpOpen(family, port)             -> fd             non-blocking UDP socket, IPV6_V6ONLY for 6
//   udpLocalPort(fd)                  -> port
//   udpEnableGro(fd)                  -> 0 | -errno     UDP_GRO
//   udpRecvBatch(fd, buf, slot, lengths, addrs, segs) -> count | -errno   recvmmsg(2)
//   udpSendBatch(fd, buf, lengths, addrs, count, gso) -> count            sendmmsg(2), UDP_SEGMENT
//
// UDP addresses cross the boundary as 20-byte records, not raw sockaddrs, so JS never depends on
// struct layout or byte order: [0] = 4 or 6, [1] = 0, [2..4) = port (big endian), [4..20) = address
// (IPv4 in the first 4 bytes). IPv6 scope ids are not carried (link-local endpoints need dgram).
//
// Why this shape: a TUN file descriptor yields one IP packet per read(2) (Documentation/networking/
// tuntap.rst). Calling into C once per packet from JS costs more than the read itself, so readiness
// wakes JS once and JS then drains the queue with one readBatch() call into a preallocated buffer.
// libuv's epoll is level-triggered, so a batch that stops early because the buffer is full is simply
// resumed on the next loop iteration, after the UDP socket and timers had their turn - no spinning and
// no starvation. Everything runs on the main thread: there are no worker threads to synchronise.
//
// Plain C against node_api.h (ABI-stable N-API), no dependency beyond Node's own headers.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <unistd.h>
#include <uv.h>
#include <sys/uio.h>
#include <linux/virtio_net.h>

#define VNET_HDR_LEN ((int)sizeof(struct virtio_net_hdr))

#define CHECK(env, call)                                                                            \
  do {                                                                                              \
    if ((call) != napi_ok) {                                                                        \
      napi_throw_error((env), NULL, "napi call failed: " #call);                                    \
      return NULL;                                                                                  \
    }                                                                                               \
  } while (0)

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_value code, message, error;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  char codebuf[32];
  snprintf(codebuf, sizeof codebuf, "ERRNO_%d", err);
  napi_create_string_utf8(env, codebuf, NAPI_AUTO_LENGTH, &code);
  napi_create_error(env, code, message, &error);
  napi_value errnoVal;
  napi_create_int32(env, -err, &errnoVal);
  napi_set_named_property(env, error, "errno", errnoVal);
  napi_throw(env, error);
  return NULL;
}

static napi_value int_value(napi_env env, int64_t v) {
  napi_value out;
  napi_create_int64(env, v, &out);
  return out;
}

static int get_int(napi_env env, napi_value v, int32_t *out) {
  return napi_get_value_int32(env, v, out) == napi_ok;
}

// Any TypedArray or Buffer: pointer and byte length.
static int get_bytes(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  bool is;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return 0;
  napi_typedarray_type type;
  size_t count, offset;
  void *p;
  napi_value ab;
  if (napi_get_typedarray_info(env, v, &type, &count, &p, &ab, &offset) != napi_ok) return 0;
  size_t width = 1;
  switch (type) {
    case napi_int16_array: case napi_uint16_array: width = 2; break;
    case napi_int32_array: case napi_uint32_array: case napi_float32_array: width = 4; break;
    case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: width = 8; break;
    default: width = 1;
  }
  *data = p;
  *len = count * width;
  return 1;
}

static int get_int32_array(napi_env env, napi_value v, int32_t **data, size_t *count) {
  bool is;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return 0;
  napi_typedarray_type type;
  size_t offset;
  void *p;
  napi_value ab;
  if (napi_get_typedarray_info(env, v, &type, count, &p, &ab, &offset) != napi_ok) return 0;
  if (type != napi_int32_array) return 0;
  *data = p;
  return 1;
}

// open(name: string, multiQueue: boolean): { fd: number, name: string }
static napi_value tun_open(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char name[IFNAMSIZ] = {0};
  size_t nlen = 0;
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], name, sizeof name, &nlen) != napi_ok) {
    napi_throw_type_error(env, NULL, "open(name, multiQueue): name must be a string");
    return NULL;
  }
  bool multi = false, offload = false;
  if (argc > 1) napi_get_value_bool(env, argv[1], &multi);
  if (argc > 2) napi_get_value_bool(env, argv[2], &offload);

  int fd;
  struct ifreq ifr;
  for (;;) {
    fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return throw_errno(env, "open /dev/net/tun", errno);
    memset(&ifr, 0, sizeof ifr);
    // IFF_NO_PI: no 4-byte packet-information header, the IP version nibble is enough to classify.
    // IFF_VNET_HDR: every packet carries a virtio_net_hdr, which is what lets the kernel hand us
    // TCP segments of up to 64 KiB (TSO) that we cut to MSS size ourselves (see read_batch_v).
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (multi ? IFF_MULTI_QUEUE : 0) | (offload ? IFF_VNET_HDR : 0);
    memcpy(ifr.ifr_name, name, nlen < IFNAMSIZ ? nlen : IFNAMSIZ - 1);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
      int err = errno;
      close(fd);
      return throw_errno(env, "TUNSETIFF", err);
    }
    if (!offload) break;
    int hdrsz = VNET_HDR_LEN;
    if (ioctl(fd, TUNSETVNETHDRSZ, &hdrsz) == 0 &&
        ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) == 0)
      break;
    // The kernel will not do it: start over without the header rather than carry it for nothing.
    close(fd);
    offload = false;
  }
  napi_value out, fdv, namev, offv;
  CHECK(env, napi_create_object(env, &out));
  CHECK(env, napi_create_int32(env, fd, &fdv));
  CHECK(env, napi_create_string_utf8(env, ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ), &namev));
  CHECK(env, napi_set_named_property(env, out, "fd", fdv));
  CHECK(env, napi_set_named_property(env, out, "name", namev));
  CHECK(env, napi_get_boolean(env, offload, &offv));
  CHECK(env, napi_set_named_property(env, out, "offload", offv));
  return out;
}

// mtu(name: string): number
static napi_value tun_mtu(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  size_t nlen;
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], ifr.ifr_name, IFNAMSIZ, &nlen) != napi_ok) {
    napi_throw_type_error(env, NULL, "mtu(name): name must be a string");
    return NULL;
  }
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return throw_errno(env, "socket", errno);
  int r = ioctl(s, SIOCGIFMTU, &ifr);
  int err = errno;
  close(s);
  if (r < 0) return throw_errno(env, "SIOCGIFMTU", err);
  return int_value(env, ifr.ifr_mtu);
}

// readBatch(fd, buf: Uint8Array, slot: number, lengths: Int32Array): number
// Packet i lands at buf[i*slot ...] with its length in lengths[i]. Reads until the queue is empty
// (EAGAIN) or every slot is used. Returns the count, or -errno when the very first read failed with
// something other than EAGAIN (e.g. EBADFD once the interface was deleted).
static napi_value tun_read_batch(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd, slot;
  uint8_t *buf;
  size_t blen, nlen;
  int32_t *lengths;
  if (argc < 4 || !get_int(env, argv[0], &fd) || !get_bytes(env, argv[1], &buf, &blen) ||
      !get_int(env, argv[2], &slot) || slot <= 0 || !get_int32_array(env, argv[3], &lengths, &nlen)) {
    napi_throw_type_error(env, NULL, "readBatch(fd, buf, slot, lengths: Int32Array)");
    return NULL;
  }
  size_t slots = blen / (size_t)slot;
  if (slots > nlen) slots = nlen;
  size_t n = 0;
  while (n < slots) {
    ssize_t r = read(fd, buf + n * (size_t)slot, (size_t)slot);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (n == 0) return int_value(env, -errno);
      break;
    }
    lengths[n++] = (int32_t)r;
  }
  return int_value(env, (int64_t)n);
}

// writeBatch(fd, buf: Uint8Array, lengths: Int32Array, count: number): number
// Packets lie back to back in buf. A TUN write hands the packet to the stack (netif_rx) and does not
// block, so EAGAIN is not expected; a packet the kernel rejects (EINVAL for a malformed header) is
// skipped rather than stopping the batch. Returns the number accepted.
static napi_value tun_write_batch(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd, count;
  uint8_t *buf;
  size_t blen, nlen;
  int32_t *lengths;
  if (argc < 4 || !get_int(env, argv[0], &fd) || !get_bytes(env, argv[1], &buf, &blen) ||
      !get_int32_array(env, argv[2], &lengths, &nlen) || !get_int(env, argv[3], &count) || count < 0) {
    napi_throw_type_error(env, NULL, "writeBatch(fd, buf, lengths: Int32Array, count)");
    return NULL;
  }
  if ((size_t)count > nlen) count = (int32_t)nlen;
  size_t off = 0, ok = 0;
  for (int32_t i = 0; i < count; i++) {
    size_t len = (size_t)lengths[i];
    if (lengths[i] < 0 || off + len > blen) break;
    ssize_t r;
    do r = write(fd, buf + off, len);
    while (r < 0 && errno == EINTR);
    if (r >= 0) ok++;
    else if (errno == EBADFD || errno == EBADF || errno == EIO) {
      if (ok == 0) return int_value(env, -errno);
      break;
    }
    off += len;
  }
  return int_value(env, (int64_t)ok);
}


// ---- TUN with offloads -------------------------------------------------------------------------
// With IFF_VNET_HDR and TUNSETOFFLOAD(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) the kernel may pass us
// (1) packets whose transport checksum is left for us to finish (VIRTIO_NET_HDR_F_NEEDS_CSUM), and
// (2) TCP "super-segments" of up to 64 KiB with gso_size = MSS, which we must cut into MSS-sized
// segments with proper headers before encrypting each - what a NIC does with TSO. In exchange the
// TCP sender's stack and the TUN fd handle one packet where there would have been ~45.
// Layout and semantics: include/uapi/linux/virtio_net.h; segmentation rules as for a NIC (RFC 9293
// header fields; IPv4 ID incremented per segment, FIN/PSH only on the last, CWR only on the first).

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len) {
  while (len > 1) {
    sum += (uint32_t)((p[0] << 8) | p[1]);
    p += 2;
    len -= 2;
  }
  if (len) sum += (uint32_t)(p[0] << 8);
  return sum;
}

static uint16_t csum_fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}
static uint16_t get16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static uint32_t get32(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static void put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

// TCP checksum of pkt (IPv4 or IPv6 header of length iphl, then TCP header and payload).
static void tcp_checksum(uint8_t *pkt, size_t iphl, size_t len) {
  uint8_t *tcp = pkt + iphl;
  size_t tcplen = len - iphl;
  uint32_t sum = 0;
  if ((pkt[0] >> 4) == 4) sum = csum_add(sum, pkt + 12, 8);
  else sum = csum_add(sum, pkt + 8, 32);
  sum += 6;  // protocol
  sum += (uint32_t)tcplen;
  put16(tcp + 16, 0);
  sum = csum_add(sum, tcp, tcplen);
  put16(tcp + 16, csum_fold(sum));
}

static void ipv4_checksum(uint8_t *pkt, size_t iphl) {
  put16(pkt + 10, 0);
  put16(pkt + 10, csum_fold(csum_add(0, pkt, iphl)));
}

// Cuts the TCP super-segment src (len bytes, IP header first) into segments of at most `mss`
// payload bytes, written back to back at dst. Records each in offsets/lengths from index n.
// Returns the new count, or -1 if the packet is not a TCP segment we can cut (it is then dropped:
// the kernel only sends TCPv4/TCPv6 GSO here because those are the only offloads we enabled).
static int tso_split(const uint8_t *src, size_t len, size_t mss, uint8_t *dst, size_t dst_off, int32_t *offsets,
                     int32_t *lengths, int n) {
  if (len < 20 || mss == 0) return -1;
  int v4 = (src[0] >> 4) == 4;
  size_t iphl;
  if (v4) {
    iphl = (size_t)(src[0] & 15) * 4;
    if (iphl < 20 || src[9] != 6) return -1;
  } else {
    if ((src[0] >> 4) != 6 || src[6] != 6) return -1;  // no extension headers with TSO6
    iphl = 40;
  }
  if (len < iphl + 20) return -1;
  size_t tcphl = (size_t)(src[iphl + 12] >> 4) * 4;
  size_t hl = iphl + tcphl;
  if (tcphl < 20 || len < hl) return -1;
  size_t payload = len - hl;
  uint32_t seq = get32(src + iphl + 4);
  uint16_t id = v4 ? get16(src + 4) : 0;
  uint8_t flags = src[iphl + 13];
  size_t o = dst_off;
  for (size_t at = 0, k = 0; at < payload || (payload == 0 && k == 0); at += mss, k++) {
    size_t chunk = payload - at < mss ? payload - at : mss;
    int last = at + chunk >= payload;
    uint8_t *seg = dst + o;
    memcpy(seg, src, hl);
    memcpy(seg + hl, src + hl + at, chunk);
    size_t seglen = hl + chunk;
    if (v4) {
      put16(seg + 2, (uint16_t)seglen);
      put16(seg + 4, (uint16_t)(id + k));
      ipv4_checksum(seg, iphl);
    } else {
      put16(seg + 4, (uint16_t)(seglen - 40));
    }
    uint8_t f = flags;
    if (!last) f &= (uint8_t)~(0x01 | 0x08);  // FIN, PSH only on the last segment
    if (k > 0) f &= (uint8_t)~0x80;           // CWR only on the first
    seg[iphl + 13] = f;
    put32(seg + iphl + 4, seq + (uint32_t)at);
    tcp_checksum(seg, iphl, seglen);
    offsets[n] = (int32_t)o;
    lengths[n] = (int32_t)seglen;
    n++;
    o += seglen;
    if (payload == 0) break;
  }
  return n;
}

// Finishes a checksum the kernel left partial: the field at csum_start + csum_offset holds the
// pseudo-header sum; the checksum is the complement of the sum from csum_start to the end.
static void finish_csum(uint8_t *pkt, size_t len, const struct virtio_net_hdr *h) {
  size_t start = h->csum_start, field = (size_t)h->csum_start + h->csum_offset;
  if (start >= len || field + 2 > len) return;
  uint16_t c = csum_fold(csum_add(0, pkt + start, len - start));
  put16(pkt + field, c);
}

// A super-segment has at most 64 KiB / TCP_MIN_MSS (88) < 768 segments, each repeating at most 120
// bytes of headers. Reserve that much room before each read so no segment is ever dropped.
#define TSO_MAX_SEGS 768
#define TSO_HEADROOM (65536 + TSO_MAX_SEGS * 128)

// readBatchV(fd, buf, offsets: Int32Array, lengths: Int32Array): count | -errno
// As readBatch, for a TUN opened with offloads: packets lie back to back in buf at offsets[i].
static napi_value tun_read_batch_v(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  uint8_t *buf;
  size_t blen, olen, llen;
  int32_t *offsets, *lengths;
  if (argc < 4 || !get_int(env, argv[0], &fd) || !get_bytes(env, argv[1], &buf, &blen) ||
      !get_int32_array(env, argv[2], &offsets, &olen) || !get_int32_array(env, argv[3], &lengths, &llen)) {
    napi_throw_type_error(env, NULL, "readBatchV(fd, buf, offsets, lengths)");
    return NULL;
  }
  size_t max = olen < llen ? olen : llen;
  static uint8_t scratch[VNET_HDR_LEN + 65536];
  size_t pos = 0;
  int n = 0;
  // Room for the worst case of one more read, so that a read packet always fits.
  while (pos + TSO_HEADROOM <= blen && (size_t)n + TSO_MAX_SEGS <= max) {
    ssize_t r = read(fd, scratch, sizeof scratch);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (n == 0) return int_value(env, -errno);
      break;
    }
    if (r < VNET_HDR_LEN) continue;
    struct virtio_net_hdr h;
    memcpy(&h, scratch, sizeof h);
    uint8_t *pkt = scratch + VNET_HDR_LEN;
    size_t len = (size_t)r - VNET_HDR_LEN;
    uint8_t gso = h.gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
    if (gso == VIRTIO_NET_HDR_GSO_TCPV4 || gso == VIRTIO_NET_HDR_GSO_TCPV6) {
      size_t mss = h.gso_size;
      if (mss < 64 || len / mss + 1 > TSO_MAX_SEGS) continue;  // below TCP_MIN_MSS: not from Linux
      int m = tso_split(pkt, len, mss, buf, pos, offsets, lengths, n);
      if (m < 0) continue;
      pos = (size_t)offsets[m - 1] + (size_t)lengths[m - 1];
      n = m;
      continue;
    }
    if (gso != VIRTIO_NET_HDR_GSO_NONE) continue;  // an offload we did not enable
    if (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) finish_csum(pkt, len, &h);
    memcpy(buf + pos, pkt, len);
    offsets[n] = (int32_t)pos;
    lengths[n] = (int32_t)len;
    n++;
    pos += len;
  }
  return int_value(env, n);
}

// writeBatchV(fd, buf, lengths, count): as writeBatch, for a TUN opened with offloads: each packet
// goes out behind an all-zero virtio_net_hdr (no offload requested; our packets carry complete
// checksums, verified by the peer's AEAD and computed by its sender).
static napi_value tun_write_batch_v(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd, count;
  uint8_t *buf;
  size_t blen, nlen;
  int32_t *lengths;
  if (argc < 4 || !get_int(env, argv[0], &fd) || !get_bytes(env, argv[1], &buf, &blen) ||
      !get_int32_array(env, argv[2], &lengths, &nlen) || !get_int(env, argv[3], &count) || count < 0) {
    napi_throw_type_error(env, NULL, "writeBatchV(fd, buf, lengths, count)");
    return NULL;
  }
  if ((size_t)count > nlen) count = (int32_t)nlen;
  static const struct virtio_net_hdr zero;
  size_t off = 0, ok = 0;
  for (int32_t i = 0; i < count; i++) {
    size_t len = (size_t)lengths[i];
    if (lengths[i] < 0 || off + len > blen) break;
    struct iovec iov[2] = {{(void *)&zero, sizeof zero}, {buf + off, len}};
    ssize_t r;
    do r = writev(fd, iov, 2);
    while (r < 0 && errno == EINTR);
    if (r >= 0) ok++;
    else if (errno == EBADFD || errno == EBADF || errno == EIO) {
      if (ok == 0) return int_value(env, -errno);
      break;
    }
    off += len;
  }
  return int_value(env, (int64_t)ok);
}

// A readiness watcher: uv_poll_t on the fd, calling back into JS once per event.
typedef struct {
  uv_poll_t poll;
  napi_env env;
  napi_ref callback;
  napi_async_context ctx;
  int active;
} watcher_t;

static void on_poll_closed(uv_handle_t *h) { free(h->data); }

static void on_readable(uv_poll_t *p, int status, int events) {
  (void)events;
  watcher_t *w = p->data;
  if (!w->active) return;
  napi_env env = w->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv, arg;
  if (napi_get_reference_value(env, w->callback, &cb) == napi_ok && cb != NULL) {
    napi_get_global(env, &recv);
    napi_create_int32(env, status, &arg);
    // napi_make_callback (not napi_call_function): we are entering JS from the event loop, so the
    // microtask queue and process.nextTick queue must be drained afterwards, as for any I/O callback.
    napi_value result;
    napi_status st = napi_make_callback(env, w->ctx, recv, cb, 1, &arg, &result);
    if (st == napi_pending_exception) {
      napi_value exc;
      napi_get_and_clear_last_exception(env, &exc);
      napi_fatal_exception(env, exc);
    }
  }
  napi_close_handle_scope(env, scope);
}

static void watcher_stop(watcher_t *w) {
  if (!w->active) return;
  w->active = 0;
  uv_poll_stop(&w->poll);
  napi_delete_reference(w->env, w->callback);
  napi_async_destroy(w->env, w->ctx);
  uv_close((uv_handle_t *)&w->poll, on_poll_closed);
}

// watch(fd, callback(status)): External
static napi_value tun_watch(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  napi_valuetype t;
  if (argc < 2 || !get_int(env, argv[0], &fd) || napi_typeof(env, argv[1], &t) != napi_ok || t != napi_function) {
    napi_throw_type_error(env, NULL, "watch(fd, callback)");
    return NULL;
  }
  struct uv_loop_s *loop;
  CHECK(env, napi_get_uv_event_loop(env, &loop));
  watcher_t *w = calloc(1, sizeof *w);
  if (!w) return throw_errno(env, "calloc", ENOMEM);
  w->env = env;
  int r = uv_poll_init(loop, &w->poll, fd);
  if (r != 0) {
    free(w);
    return throw_errno(env, "uv_poll_init", -r);
  }
  w->poll.data = w;
  napi_value name, resource;
  napi_create_string_utf8(env, "FerryTunRead", NAPI_AUTO_LENGTH, &name);
  napi_create_object(env, &resource);
  if (napi_create_reference(env, argv[1], 1, &w->callback) != napi_ok ||
      napi_async_init(env, resource, name, &w->ctx) != napi_ok) {
    uv_close((uv_handle_t *)&w->poll, on_poll_closed);
    napi_throw_error(env, NULL, "watch: napi setup failed");
    return NULL;
  }
  w->active = 1;
  r = uv_poll_start(&w->poll, UV_READABLE, on_readable);
  if (r != 0) {
    watcher_stop(w);
    return throw_errno(env, "uv_poll_start", -r);
  }
  napi_value ext;
  // No finalizer: the JS wrapper must call unwatch(); a GC'd handle without it would be a leak, not a
  // use-after-free, which is the safer failure.
  CHECK(env, napi_create_external(env, w, NULL, NULL, &ext));
  return ext;
}

static napi_value tun_unwatch(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *p = NULL;
  if (argc < 1 || napi_get_value_external(env, argv[0], &p) != napi_ok || !p) {
    napi_throw_type_error(env, NULL, "unwatch(handle)");
    return NULL;
  }
  watcher_stop(p);
  return NULL;
}

// setMark(fd, mark): 0 | -errno. SO_MARK needs CAP_NET_ADMIN (socket(7)).
static napi_value tun_set_mark(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  uint32_t mark;
  if (argc < 2 || !get_int(env, argv[0], &fd) || napi_get_value_uint32(env, argv[1], &mark) != napi_ok) {
    napi_throw_type_error(env, NULL, "setMark(fd, mark)");
    return NULL;
  }
  if (setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark) < 0) return int_value(env, -errno);
  return int_value(env, 0);
}

static napi_value tun_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  if (argc < 1 || !get_int(env, argv[0], &fd)) {
    napi_throw_type_error(env, NULL, "close(fd)");
    return NULL;
  }
  if (close(fd) < 0) return int_value(env, -errno);
  return int_value(env, 0);
}


// ---- link state ------------------------------------------------------------------------------
// wireguard-go follows the interface: the device goes down with the link and the MTU is re-read when
// it changes. We learn of changes from rtnetlink (RTMGRP_LINK) but do not parse the messages: any
// message is a wake-up after which JS asks for the current flags and MTU with two ioctls. That keeps
// the C side free of attribute parsing, and a lost message (ENOBUFS) costs nothing but a wake-up.

// linkState(name): { flags, mtu }; throws with errno -ENODEV once the interface is gone.
static napi_value link_state(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  size_t nlen;
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], ifr.ifr_name, IFNAMSIZ, &nlen) != napi_ok) {
    napi_throw_type_error(env, NULL, "linkState(name)");
    return NULL;
  }
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return throw_errno(env, "socket", errno);
  if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
    int err = errno;
    close(s);
    return throw_errno(env, "SIOCGIFFLAGS", err);
  }
  int flags = ifr.ifr_flags;
  if (ioctl(s, SIOCGIFMTU, &ifr) < 0) {
    int err = errno;
    close(s);
    return throw_errno(env, "SIOCGIFMTU", err);
  }
  close(s);
  napi_value out;
  CHECK(env, napi_create_object(env, &out));
  CHECK(env, napi_set_named_property(env, out, "flags", int_value(env, flags & 0xffff)));
  CHECK(env, napi_set_named_property(env, out, "mtu", int_value(env, ifr.ifr_mtu)));
  return out;
}

static napi_value netlink_open(napi_env env, napi_callback_info info) {
  (void)info;
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return throw_errno(env, "socket(AF_NETLINK)", errno);
  struct sockaddr_nl sa;
  memset(&sa, 0, sizeof sa);
  sa.nl_family = AF_NETLINK;
  sa.nl_groups = RTMGRP_LINK;
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "bind(RTMGRP_LINK)", err);
  }
  return int_value(env, fd);
}

static napi_value netlink_drain(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  if (argc < 1 || !get_int(env, argv[0], &fd)) {
    napi_throw_type_error(env, NULL, "netlinkDrain(fd)");
    return NULL;
  }
  char buf[8192];
  int n = 0;
  for (;;) {
    ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (r > 0 || (r < 0 && (errno == EINTR || errno == ENOBUFS))) {
      n++;
      continue;
    }
    break;  // EAGAIN, or an error that a later wake-up will report again
  }
  return int_value(env, n);
}

// ---- UDP -------------------------------------------------------------------------------------
// node:dgram delivers one datagram per JS callback and takes a request object, an address lookup and
// a tick per send. A WireGuard data path moves tens of thousands of datagrams per second, so the hot
// path uses recvmmsg/sendmmsg on sockets of our own: one crossing into C per batch, both ways.

#define ADDR_REC 20
#define UDP_BATCH_MAX 256

static void rec_from_sockaddr(uint8_t *rec, const struct sockaddr_storage *ss) {
  memset(rec, 0, ADDR_REC);
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
    rec[0] = 4;
    memcpy(rec + 2, &in->sin_port, 2);
    memcpy(rec + 4, &in->sin_addr, 4);
  } else if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
    rec[0] = 6;
    memcpy(rec + 2, &in6->sin6_port, 2);
    memcpy(rec + 4, &in6->sin6_addr, 16);
  }
}

static socklen_t sockaddr_from_rec(struct sockaddr_storage *ss, const uint8_t *rec) {
  memset(ss, 0, sizeof *ss);
  if (rec[0] == 4) {
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    in->sin_family = AF_INET;
    memcpy(&in->sin_port, rec + 2, 2);
    memcpy(&in->sin_addr, rec + 4, 4);
    return sizeof *in;
  }
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
  in6->sin6_family = AF_INET6;
  memcpy(&in6->sin6_port, rec + 2, 2);
  memcpy(&in6->sin6_addr, rec + 4, 16);
  return sizeof *in6;
}

// udpOpen(family: 4|6, port: number): number (fd). Throws with .errno = -EADDRINUSE etc.
static napi_value udp_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t family, port;
  if (argc < 2 || !get_int(env, argv[0], &family) || !get_int(env, argv[1], &port) || (family != 4 && family != 6) ||
      port < 0 || port > 65535) {
    napi_throw_type_error(env, NULL, "udpOpen(family: 4|6, port)");
    return NULL;
  }
  int fd = socket(family == 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  int one = 1;
  if (family == 6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "IPV6_V6ONLY", err);
  }
  // Large buffers absorb bursts while JS is busy with a batch; the FORCE variants (CAP_NET_ADMIN)
  // go past net.core.[rw]mem_max, as wireguard-go does. Best effort either way.
  int size = 7 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) < 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  struct sockaddr_storage ss;
  uint8_t rec[ADDR_REC] = {0};
  rec[0] = (uint8_t)family;
  rec[2] = (uint8_t)(port >> 8);
  rec[3] = (uint8_t)port;
  socklen_t len = sockaddr_from_rec(&ss, rec);  // wildcard address: all zeros
  if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "bind", err);
  }
  return int_value(env, fd);
}

static napi_value udp_local_port(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  if (argc < 1 || !get_int(env, argv[0], &fd)) {
    napi_throw_type_error(env, NULL, "udpLocalPort(fd)");
    return NULL;
  }
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) return throw_errno(env, "getsockname", errno);
  uint8_t rec[ADDR_REC];
  rec_from_sockaddr(rec, &ss);
  return int_value(env, (rec[2] << 8) | rec[3]);
}

// udpEnableGro(fd): 0 | -errno. With UDP_GRO (udp(7), Linux 5.0) the kernel may deliver a train of
// equal-sized datagrams from one source as one buffer, with the segment size in a control message:
// one recvmmsg slot then carries up to 64 datagrams.
static napi_value udp_enable_gro(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  if (argc < 1 || !get_int(env, argv[0], &fd)) {
    napi_throw_type_error(env, NULL, "udpEnableGro(fd)");
    return NULL;
  }
  int one = 1;
  if (setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof one) < 0) return int_value(env, -errno);
  return int_value(env, 0);
}

// udpRecvBatch(fd, buf, slot, lengths: Int32Array, addrs: Uint8Array, segs: Int32Array): count | -errno
// Message i lands at buf[i*slot], its length in lengths[i], its source in addrs[i*20], and in
// segs[i] the GRO segment size (0 when it is a single datagram; otherwise the message is
// consecutive datagrams of segs[i] bytes, the last possibly shorter). A message longer than `slot`
// is truncated by the kernel (MSG_TRUNC): its length is reported as -1 so JS drops it.
typedef union {
  char buf[CMSG_SPACE(sizeof(int))];
  struct cmsghdr align;
} ctrl_int_t;

static napi_value udp_recv_batch(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd, slot;
  uint8_t *buf, *addrs;
  size_t blen, nlen, alen, slen;
  int32_t *lengths, *segs;
  if (argc < 6 || !get_int(env, argv[0], &fd) || !get_bytes(env, argv[1], &buf, &blen) || !get_int(env, argv[2], &slot) ||
      slot <= 0 || !get_int32_array(env, argv[3], &lengths, &nlen) || !get_bytes(env, argv[4], &addrs, &alen) ||
      !get_int32_array(env, argv[5], &segs, &slen)) {
    napi_throw_type_error(env, NULL, "udpRecvBatch(fd, buf, slot, lengths, addrs, segs)");
    return NULL;
  }
  size_t n = blen / (size_t)slot;
  if (n > nlen) n = nlen;
  if (n > slen) n = slen;
  if (n > alen / ADDR_REC) n = alen / ADDR_REC;
  if (n > UDP_BATCH_MAX) n = UDP_BATCH_MAX;
  if (n == 0) return int_value(env, 0);
  struct mmsghdr msgs[UDP_BATCH_MAX];
  struct iovec iov[UDP_BATCH_MAX];
  struct sockaddr_storage from[UDP_BATCH_MAX];
  ctrl_int_t ctrl[UDP_BATCH_MAX];
  for (size_t i = 0; i < n; i++) {
    iov[i].iov_base = buf + i * (size_t)slot;
    iov[i].iov_len = (size_t)slot;
    memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &from[i];
    msgs[i].msg_hdr.msg_namelen = sizeof from[i];
    msgs[i].msg_hdr.msg_control = ctrl[i].buf;
    msgs[i].msg_hdr.msg_controllen = sizeof ctrl[i].buf;
  }
  int r;
  do r = recvmmsg(fd, msgs, (unsigned)n, MSG_DONTWAIT, NULL);
  while (r < 0 && errno == EINTR);
  if (r < 0) return int_value(env, -errno);
  for (int i = 0; i < r; i++) {
    lengths[i] = (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) ? -1 : (int32_t)msgs[i].msg_len;
    segs[i] = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c; c = CMSG_NXTHDR(&msgs[i].msg_hdr, c)) {
      if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
        int gso;
        memcpy(&gso, CMSG_DATA(c), sizeof gso);
        segs[i] = gso;
      }
    }
    rec_from_sockaddr(addrs + (size_t)i * ADDR_REC, &from[i]);
  }
  return int_value(env, r);
}

// udpSendBatch(fd, buf, lengths: Int32Array, addrs: Uint8Array, count, gso: boolean): number
// Datagrams lie back to back in buf; datagram i goes to the record at addrs[i*20]. Returns the
// number of datagrams sent; bit 30 (GSO_FAILED) is set as well if the kernel refused a GSO send, in
// which case the rest went out one by one and the caller should stop asking for GSO.
//
// With gso, a run of consecutive datagrams to the same destination, all of one size except a
// shorter last one, goes out as one sendmsg carrying UDP_SEGMENT (udp(7), Linux 4.18): the stack is
// traversed once per run instead of once per datagram. Bulk transport data is exactly that: every
// datagram is the padded MTU plus 32 bytes.
#define GSO_MAX_SEGS 64
#define GSO_MAX_BYTES 65000
#define GSO_FAILED 0x40000000

typedef union {
  char buf[CMSG_SPACE(sizeof(uint16_t))];
  struct cmsghdr align;
} ctrl_u16_t;

static napi_value udp_send_batch(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd, count;
  uint8_t *buf, *addrs;
  size_t blen, nlen, alen;
  int32_t *lengths;
  bool gso = false;
  if (argc < 5 || !get_int(env, argv[0], &fd) || !get_bytes(env, argv[1], &buf, &blen) ||
      !get_int32_array(env, argv[2], &lengths, &nlen) || !get_bytes(env, argv[3], &addrs, &alen) ||
      !get_int(env, argv[4], &count) || count < 0) {
    napi_throw_type_error(env, NULL, "udpSendBatch(fd, buf, lengths, addrs, count, gso)");
    return NULL;
  }
  if (argc > 5) napi_get_value_bool(env, argv[5], &gso);
  if ((size_t)count > nlen) count = (int32_t)nlen;
  if ((size_t)count > alen / ADDR_REC) count = (int32_t)(alen / ADDR_REC);
  // Validate the layout once, so the send loop below cannot read past the buffer.
  size_t need = 0;
  for (int32_t i = 0; i < count; i++) {
    if (lengths[i] <= 0 || need + (size_t)lengths[i] > blen) {
      count = i;
      break;
    }
    need += (size_t)lengths[i];
  }
  struct mmsghdr msgs[UDP_BATCH_MAX];
  struct iovec iov[UDP_BATCH_MAX];
  struct sockaddr_storage to[UDP_BATCH_MAX];
  ctrl_u16_t ctrl[UDP_BATCH_MAX];
  int32_t runs[UDP_BATCH_MAX];  // datagrams carried by each message
  size_t off = 0;                // offset of datagram `next`
  int32_t next = 0, sent = 0, flags = 0;
  while (next < count) {
    int n = 0;
    size_t o = off;
    int32_t i = next;
    for (; n < UDP_BATCH_MAX && i < count; n++) {
      const uint8_t *rec = addrs + (size_t)i * ADDR_REC;
      int32_t seg = lengths[i], run = 1;
      size_t total = (size_t)seg;
      if (gso) {
        while (i + run < count && run < GSO_MAX_SEGS && lengths[i + run] <= seg &&
               total + (size_t)lengths[i + run] <= GSO_MAX_BYTES &&
               memcmp(rec, addrs + (size_t)(i + run) * ADDR_REC, ADDR_REC) == 0) {
          total += (size_t)lengths[i + run];
          run++;
          if (lengths[i + run - 1] < seg) break;  // only the last segment may be shorter
        }
      }
      iov[n].iov_base = buf + o;
      iov[n].iov_len = total;
      memset(&msgs[n].msg_hdr, 0, sizeof msgs[n].msg_hdr);
      msgs[n].msg_hdr.msg_iov = &iov[n];
      msgs[n].msg_hdr.msg_iovlen = 1;
      msgs[n].msg_hdr.msg_name = &to[n];
      msgs[n].msg_hdr.msg_namelen = sockaddr_from_rec(&to[n], rec);
      if (run > 1) {
        msgs[n].msg_hdr.msg_control = ctrl[n].buf;
        msgs[n].msg_hdr.msg_controllen = sizeof ctrl[n].buf;
        struct cmsghdr *c = CMSG_FIRSTHDR(&msgs[n].msg_hdr);
        c->cmsg_level = SOL_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        uint16_t segsize = (uint16_t)seg;
        memcpy(CMSG_DATA(c), &segsize, sizeof segsize);
      }
      runs[n] = run;
      o += total;
      i += run;
    }
    int r;
    do r = sendmmsg(fd, msgs, (unsigned)n, MSG_DONTWAIT);
    while (r < 0 && errno == EINTR);
    if (r == 0) break;
    if (r < 0) {
      int err = errno;
      // Send buffer full: the rest is dropped, as a full queue drops, and WireGuard's timers and the
      // inner transport recover.
      if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) break;
      if (runs[0] > 1 && (err == EIO || err == EINVAL || err == ENOPROTOOPT || err == EOPNOTSUPP)) {
        // The route's device cannot take GSO (no checksum offload) or the kernel predates it:
        // carry on without, and tell the caller.
        gso = false;
        flags |= GSO_FAILED;
        continue;
      }
      // Anything else (ENETUNREACH, EPERM from a firewall, ...) concerns the head message only: skip
      // it, keep the others.
      for (int k = 0; k < runs[0]; k++) off += (size_t)lengths[next + k];
      next += runs[0];
      continue;
    }
    // sendmmsg stops at the first failing message and reports the ones before it; the failing one
    // is retried at the head of the next call, which then reports its error as above.
    for (int m = 0; m < r; m++) {
      for (int k = 0; k < runs[m]; k++) off += (size_t)lengths[next + k];
      next += runs[m];
      sent += runs[m];
    }
  }
  return int_value(env, sent | flags);
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"open", NULL, tun_open, NULL, NULL, NULL, napi_enumerable, NULL},
    {"mtu", NULL, tun_mtu, NULL, NULL, NULL, napi_enumerable, NULL},
    {"readBatch", NULL, tun_read_batch, NULL, NULL, NULL, napi_enumerable, NULL},
    {"writeBatch", NULL, tun_write_batch, NULL, NULL, NULL, napi_enumerable, NULL},
    {"readBatchV", NULL, tun_read_batch_v, NULL, NULL, NULL, napi_enumerable, NULL},
    {"writeBatchV", NULL, tun_write_batch_v, NULL, NULL, NULL, napi_enumerable, NULL},
    {"watch", NULL, tun_watch, NULL, NULL, NULL, napi_enumerable, NULL},
    {"unwatch", NULL, tun_unwatch, NULL, NULL, NULL, napi_enumerable, NULL},
    {"setMark", NULL, tun_set_mark, NULL, NULL, NULL, napi_enumerable, NULL},
    {"close", NULL, tun_close, NULL, NULL, NULL, napi_enumerable, NULL},
    {"linkState", NULL, link_state, NULL, NULL, NULL, napi_enumerable, NULL},
    {"netlinkOpen", NULL, netlink_open, NULL, NULL, NULL, napi_enumerable, NULL},
    {"netlinkDrain", NULL, netlink_drain, NULL, NULL, NULL, napi_enumerable, NULL},
    {"udpOpen", NULL, udp_open, NULL, NULL, NULL, napi_enumerable, NULL},
    {"udpLocalPort", NULL, udp_local_port, NULL, NULL, NULL, napi_enumerable, NULL},
    {"udpEnableGro", NULL, udp_enable_gro, NULL, NULL, NULL, napi_enumerable, NULL},
    {"udpRecvBatch", NULL, udp_recv_batch, NULL, NULL, NULL, napi_enumerable, NULL},
    {"udpSendBatch", NULL, udp_send_batch, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
