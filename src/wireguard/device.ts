// Device: the sans-IO WireGuard core. STUB — signatures are the contract with src/wireguard/io/;
// the implementation is being filled in.

export interface Endpoint {
  address: string;
  port: number;
}

export interface DeviceOutput {
  sendUdp(data: Uint8Array, to: Endpoint): void;
  writeTun(packet: Uint8Array): void;
}

export interface DeviceOptions {
  out: DeviceOutput;
  now?: () => number;
  wallNow?: () => number;
  random?: (n: number) => Uint8Array;
  handshakeQueueCapacity?: number;
}

export interface PeerConfig {
  publicKey: Uint8Array;
  presharedKey?: Uint8Array | null;
  endpoint?: Endpoint | null;
  persistentKeepalive?: number;
  allowedIps?: string[];
}

export interface PeerStatus {
  publicKey: Uint8Array;
  presharedKey: Uint8Array | null;
  endpoint: Endpoint | null;
  persistentKeepalive: number;
  allowedIps: string[];
  lastHandshakeWallMs: number;
  rxBytes: number;
  txBytes: number;
}

export interface DeviceStats {
  rxDatagrams: number;
  droppedInvalid: number;
  droppedReplay: number;
  droppedNoPeer: number;
  droppedSourceMismatch: number;
  cookieRepliesSent: number;
  handshakesCompleted: number;
}

export class Device {
  listenPort = 0;
  fwmark = 0;
  underLoad?: () => boolean;
  readonly stats: DeviceStats = {
    rxDatagrams: 0,
    droppedInvalid: 0,
    droppedReplay: 0,
    droppedNoPeer: 0,
    droppedSourceMismatch: 0,
    cookieRepliesSent: 0,
    handshakesCompleted: 0,
  };
  private readonly opts: DeviceOptions;
  constructor(opts: DeviceOptions) {
    this.opts = opts;
  }
  get publicKey(): Uint8Array | null {
    return null;
  }
  get privateKey(): Uint8Array | null {
    return null;
  }
  setPrivateKey(key: Uint8Array | null): void {
    void key;
    void this.opts;
  }
  upsertPeer(cfg: PeerConfig): void {
    void cfg;
  }
  removePeer(publicKey: Uint8Array): void {
    void publicKey;
  }
  removeAllPeers(): void {}
  setAllowedIps(publicKey: Uint8Array, cidrs: string[]): void {
    void publicKey;
    void cidrs;
  }
  addAllowedIp(publicKey: Uint8Array, cidr: string): void {
    void publicKey;
    void cidr;
  }
  removeAllowedIp(publicKey: Uint8Array, cidr: string): void {
    void publicKey;
    void cidr;
  }
  peerStatus(): PeerStatus[] {
    return [];
  }
  receiveDatagram(data: Uint8Array, from: Endpoint): void {
    void data;
    void from;
  }
  sendPacket(ip: Uint8Array): void {
    void ip;
  }
  nextDeadline(): number | null {
    return null;
  }
  tick(): void {}
  up(): void {}
  down(): void {}
}
