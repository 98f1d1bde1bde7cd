import type { CommandModule } from 'yargs';
import { formatPackInfo, packInfo, readPack, verifyPack } from '../../tuner/pack/read';
import { requireFile } from '../common';

/** `kpack pack info FILE` and `kpack pack verify FILE`. */
export const packCommand: CommandModule = {
  command: 'pack <action> <file>',
  describe: 'Inspect (info) or check hashes and schema of (verify) a kernel pack',
  builder: (y) =>
    y
      .positional('action', { choices: ['info', 'verify'] as const, describe: 'what to do' })
      .positional('file', { type: 'string', describe: 'a .kpack file' }),
  handler: (args: any) => {
    const file = requireFile('pack', args.file, 'a .kpack kernel pack');
    if (args.action === 'info') {
      console.log(formatPackInfo(packInfo(readPack(file, { force: true, warn: () => {} }))));
      return;
    }
    const r = verifyPack(file);
    const mark = (ok: boolean) => (ok ? 'OK' : 'FAILED');
    console.log(`pack ${file}: ${r.fileBytes} bytes, format version ${r.formatVersion ?? '?'}, ${r.entries} entries, ${r.blobs} blobs`);
    console.log(`  schema ${mark(r.schemaOk)}, hashes ${mark(r.hashesOk)} (${r.blobsHashOk}/${r.blobs}), references ${mark(r.referencesOk)}`);
    if (r.unreferencedBlobs.length) console.log(`  ${r.unreferencedBlobs.length} unreferenced blob(s)`);
    for (const e of r.errors) console.log(`  error: ${e}`);
    if (!r.ok) throw new Error(`pack ${file} failed verification (${r.errors.length} problem(s))`);
    console.log(`pack ${file}: OK`);
  },
};
