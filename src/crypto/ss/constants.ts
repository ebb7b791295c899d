// Protocol constants of the 2022 edition (SIP022 §3.1.3, §3.2.3).

/** HeaderTypeClientStream / HeaderTypeClientPacket. */
export const HEADER_TYPE_CLIENT = 0;
/** HeaderTypeServerStream / HeaderTypeServerPacket. */
export const HEADER_TYPE_SERVER = 1;
/** MaxPaddingLength of a request's variable-length header. */
export const MAX_PADDING = 900;
/** "Messages with over 30 seconds of time difference MUST be treated as replay." */
export const MAX_TIME_DIFF_S = 30;
/** Request fixed-length header: type (1) + timestamp (8) + length (2). */
export const REQUEST_FIXED_LEN = 11;
