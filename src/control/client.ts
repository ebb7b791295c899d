// The one interface the CLI talks to. LocalClient runs the service in this process against the data
// directory's store; a RemoteClient (REST API, `--api URL --token T`) implements the same interface
// over HTTP, so every command works both ways. Results are JSON-safe views (service/views.ts).
import type {
  AuditListInput,
  CredentialAddInput,
  LoginPasswordInput,
  PasswdInput,
  PeerAddInput,
  PeerRotateInput,
  TierCreateInput,
  TierUpdateInput,
  TokenCreateInput,
  UserAddInput,
  UserUpdateInput,
} from './service/schemas.js';
import type {
  AuditView,
  CredentialSecret,
  CredentialView,
  PeerView,
  ShadowsocksKeyView,
  TierView,
  TokenCreated,
  TokenView,
  UsageReport,
  UserAdded,
  UserDetail,
  UserView,
} from './service/views.js';
import type { Store } from './store/types.js';
import { ControlService } from './service/index.js';
import type { ServiceOptions } from './service/context.js';
import { localPrincipal } from './service/principal.js';

export interface ControlApi {
  users: {
    add(input: UserAddInput): Promise<UserAdded>;
    list(): Promise<UserView[]>;
    show(name: string): Promise<UserDetail>;
    update(name: string, patch: UserUpdateInput): Promise<UserView>;
    disable(name: string): Promise<UserView>;
    enable(name: string): Promise<UserView>;
    remove(name: string): Promise<void>;
    /** Rotates the main proxy credential; the new password is returned once. */
    passwd(name: string, input?: PasswdInput): Promise<CredentialSecret>;
    setLoginPassword(name: string, input: LoginPasswordInput): Promise<void>;
    export(name: string): Promise<Record<string, unknown>>;
    forget(name: string): Promise<void>;
    /** The user's Shadowsocks key (a secret: admins and the user only). */
    shadowsocksKey(name: string): Promise<ShadowsocksKeyView>;
    /** Creates or replaces the user's Shadowsocks key. */
    rotateShadowsocksKey(name: string): Promise<ShadowsocksKeyView>;
  };
  credentials: {
    add(input: CredentialAddInput): Promise<CredentialSecret>;
    list(user?: string): Promise<CredentialView[]>;
    rotate(username: string, input?: PasswdInput): Promise<CredentialSecret>;
    remove(username: string): Promise<void>;
  };
  tokens: {
    create(input: TokenCreateInput): Promise<TokenCreated>;
    list(user?: string): Promise<TokenView[]>;
    revoke(id: number): Promise<void>;
  };
  tiers: {
    create(input: TierCreateInput): Promise<TierView>;
    list(): Promise<TierView[]>;
    show(name: string): Promise<TierView & { users: string[] }>;
    update(name: string, patch: TierUpdateInput): Promise<TierView>;
    remove(name: string): Promise<void>;
  };
  peers: {
    add(input: PeerAddInput): Promise<PeerView>;
    list(user?: string): Promise<PeerView[]>;
    remove(user: string, device: string): Promise<void>;
    /** New keys, same addresses. */
    rotate(user: string, device: string, input: PeerRotateInput): Promise<PeerView>;
  };
  usage: {
    /** Current-period usage of one user, or of every user the caller may see. */
    report(user?: string): Promise<UsageReport[]>;
  };
  audit: {
    list(input?: AuditListInput): Promise<AuditView[]>;
  };
}

export interface ControlClient extends ControlApi {
  /** Where the client operates, for messages: a data directory or an API URL. */
  readonly target: string;
  close(): Promise<void>;
}

/** The service in-process, as the local administrator (whoever can open the data directory). */
export class LocalClient implements ControlClient {
  private readonly api: ControlApi;
  readonly users: ControlApi['users'];
  readonly credentials: ControlApi['credentials'];
  readonly tokens: ControlApi['tokens'];
  readonly tiers: ControlApi['tiers'];
  readonly peers: ControlApi['peers'];
  readonly usage: ControlApi['usage'];
  readonly audit: ControlApi['audit'];

  constructor(
    private readonly store: Store,
    readonly target: string,
    opts: ServiceOptions & { osUser: string },
  ) {
    this.api = new ControlService(store, opts).as(localPrincipal(opts.osUser));
    ({
      users: this.users,
      credentials: this.credentials,
      tokens: this.tokens,
      tiers: this.tiers,
      peers: this.peers,
      usage: this.usage,
      audit: this.audit,
    } = this.api);
  }

  async close(): Promise<void> {
    await this.store.close();
  }
}
