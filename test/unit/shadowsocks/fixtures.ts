// Re-exports for the unit tests (one import site for the codecs under test).
export { ClientStreamCodec } from '../../../src/crypto/ss/tcp-client.js';
export { ServerStreamCodec as ServerStreamCodecForTest } from '../../../src/crypto/ss/tcp-server.js';
