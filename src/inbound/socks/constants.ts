// Wire constants of the three SOCKS dialects served on one port:
//  - SOCKS5: RFC 1928 (§3 method negotiation, §4 requests, §5 addressing, §6 replies, §7 UDP),
//  - SOCKS5 username/password authentication: RFC 1929 §2,
//  - SOCKS4: "SOCKS: A protocol for TCP proxy across firewalls" (Ying-Da Lee), and its 4A extension
//    ("SOCKS 4A: A Simple Extension to SOCKS 4 Protocol"), which lets the client pass a host name.

export const SOCKS4_VERSION = 0x04;
export const SOCKS5_VERSION = 0x05;

// RFC 1928 §3: authentication methods.
export const METHOD_NO_AUTH = 0x00;
export const METHOD_USER_PASS = 0x02;
export const METHOD_NONE_ACCEPTABLE = 0xff;

// RFC 1929 §2: the sub-negotiation has its own version byte, and STATUS 0x00 means success; any other
// value is a failure after which "the server MUST close the connection".
export const USER_PASS_VERSION = 0x01;
export const USER_PASS_SUCCESS = 0x00;
export const USER_PASS_FAILURE = 0x01;

// RFC 1928 §4 (the same numbers are used by SOCKS4 for CONNECT and BIND).
export const CMD_CONNECT = 0x01;
export const CMD_BIND = 0x02;
export const CMD_UDP_ASSOCIATE = 0x03;

// RFC 1928 §5.
export const ATYP_IPV4 = 0x01;
export const ATYP_DOMAIN = 0x03;
export const ATYP_IPV6 = 0x04;

// RFC 1928 §6 reply codes used directly here; the others come from FerryError.socks5Reply.
export const REP_SUCCEEDED = 0x00;
export const REP_COMMAND_NOT_SUPPORTED = 0x07;
export const REP_ADDRESS_TYPE_NOT_SUPPORTED = 0x08;

// SOCKS4: the reply's VN byte is 0 (not 4), CD 90 = granted, 91 = rejected or failed.
export const SOCKS4_REPLY_VERSION = 0x00;
export const SOCKS4_GRANTED = 0x5a;
export const SOCKS4_REJECTED = 0x5b;

/** SOCKS4 USERID and SOCKS4a host name are NUL-terminated with no length field; we bound both. */
export const SOCKS4_MAX_FIELD = 255;
