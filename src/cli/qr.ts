// QR codes for things a phone should scan: wg-quick configs (WireGuard apps) and ss:// links
// (Shadowsocks apps). Terminal output uses half-block characters so a code fits a normal terminal.
import QRCode from 'qrcode';
import { writeFile } from 'node:fs/promises';
import { extname } from 'node:path';

/** The QR code of `text` for a terminal (two modules per character row). */
export async function qrForTerminal(text: string): Promise<string> {
  // Error correction L: the phone is a few centimetres from a sharp screen, and L keeps a full
  // wg-quick config (~300 bytes) small enough to scan from an 80-column terminal.
  return QRCode.toString(text, { type: 'terminal', small: true, errorCorrectionLevel: 'L' });
}

/** Writes the QR code of `text` as PNG or SVG, chosen by the file's extension. */
export async function writeQrFile(text: string, file: string): Promise<void> {
  const ext = extname(file).toLowerCase();
  if (ext === '.svg') {
    await writeFile(file, await QRCode.toString(text, { type: 'svg', errorCorrectionLevel: 'L' }));
  } else if (ext === '.png') {
    await QRCode.toFile(file, text, { type: 'png', errorCorrectionLevel: 'L', margin: 2, scale: 6 });
  } else {
    throw new Error(`QR code file '${file}': use a .png or .svg extension`);
  }
}
