// Placeholder for the REST API client (`--api URL --token T`): the API work replaces this file with a
// ControlClient over HTTP. The CLI loads it only when --api is given.
import { FerryError } from '../core/errors.js';
import type { ControlClient } from './client.js';

export async function openRemoteClient(opts: { url: string; token: string }): Promise<ControlClient> {
  throw new FerryError(
    'E_UNSUPPORTED',
    `remote management (--api ${opts.url}) is not available in this build`,
  );
}
