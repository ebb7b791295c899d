// Runs `ferry wg ...` as src/cli/main.ts will once it registers the group: a commander program with
// registerWgCommands. Lets the tests drive the CLI without depending on the rest of main.ts.
import { Command } from 'commander';
import { registerWgCommands } from '../../../src/cli/wg.js';

const program = new Command().name('ferry');
registerWgCommands(program);
program.parseAsync(process.argv).catch((e: unknown) => {
  process.stderr.write(`ferry: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
