import { Command, Option } from 'commander';
import { fail } from './output.js';
import { registerStart } from './commands/start.js';
import { registerIngest } from './commands/ingest.js';
import { registerAggregate } from './commands/aggregate.js';
import { registerQuery } from './commands/query.js';
import { registerGenerate } from './commands/generate.js';
import { registerLists } from './commands/lists.js';
import { registerBench } from './commands/bench.js';
import { registerWatch } from './commands/watch.js';
import { registerArchive } from './commands/archive.js';
import { registerReconcile } from './commands/reconcile.js';

const program = new Command();
program
  .name('tally')
  .description('Exactly-once ad click aggregation: ingest, count, rank, query.')
  .addOption(new Option('--data-dir <dir>', 'where all state lives (default ./data)'))
  .addOption(new Option('--config <file>', 'a JSON config file'))
  .showHelpAfterError()
  .exitOverride((err) => {
    process.exit(err.exitCode === 0 ? 0 : 2);
  });

registerStart(program);
registerIngest(program);
registerAggregate(program);
registerQuery(program);
registerGenerate(program);
registerLists(program);
registerBench(program);
registerWatch(program);
registerArchive(program);
registerReconcile(program);

program.parseAsync(process.argv).catch(fail);
