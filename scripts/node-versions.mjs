// The test suite on the other Node versions `engines` admits. Each one comes from the npm
// registry (node-<platform>-<arch> carries the binary and its headers), gets better-sqlite3
// built for it, and runs the compiled tests from a tree of its own, so the build in
// node_modules (for the Node that runs npm) is never touched. Under .cache/ (gitignored):
//   node/v<version>/                 the Node package, unpacked
//   better-sqlite3/<key>.node        the addon built for that Node, kept between runs
//   tree/v<version>/                 the repo as that Node sees it, laid anew each run
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  realpathSync,
  renameSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One version per major that `engines` admits; bump them as new releases reach the registry. */
export const SUPPORTED_NODES = ['20.20.2', '22.23.5', '24.22.3'];

/** The versions the full `npm test` also runs on: the majors other than the running one. */
export const OTHER_NODES = SUPPORTED_NODES.filter(
  (v) => v.split('.')[0] !== process.versions.node.split('.')[0],
);

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CACHE = join(ROOT, '.cache');

/** Runs a command, quietly; its output is shown only if it fails. Returns its stdout. */
function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (r.status !== 0) {
    process.stderr.write(`${r.stdout ?? ''}${r.stderr ?? ''}`);
    throw new Error(
      `${cmd} ${args.join(' ')} failed (exit ${r.status}${r.error ? `, ${r.error.message}` : ''})`,
    );
  }
  return r.stdout;
}

/** The Node binary of `version`, unpacked from the npm registry once. */
export function ensureNode(version) {
  const dir = join(CACHE, 'node', `v${version}`);
  const bin = join(dir, 'bin', 'node');
  if (existsSync(bin)) return { dir, bin };
  const platform = process.platform === 'win32' ? 'win' : process.platform;
  const pkg = `node-${platform}-${process.arch}@${version}`;
  mkdirSync(CACHE, { recursive: true });
  const tmp = mkdtempSync(join(CACHE, 'download-'));
  try {
    process.stderr.write(`· fetching ${pkg} from the npm registry\n`);
    const tgz = sh('npm', ['pack', pkg, '--pack-destination', tmp, '--silent'])
      .trim()
      .split('\n')
      .pop();
    sh('tar', ['-xzf', join(tmp, tgz), '-C', tmp]);
    mkdirSync(dirname(dir), { recursive: true });
    renameSync(join(tmp, 'package'), dir);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return { dir, bin };
}

/** npm's own node-gyp, which tools/node-gyp hands the build to. */
function npmNodeGyp() {
  const cli = process.env.npm_execpath ?? realpathSync(sh('sh', ['-c', 'command -v npm']).trim());
  const gyp = join(dirname(dirname(cli)), 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (!existsSync(gyp)) throw new Error(`no node-gyp beside npm (looked for ${gyp})`);
  return gyp;
}

/** better-sqlite3's addon built for `node` (same sources as node_modules), once per version. */
export function ensureSqliteAddon(version, node) {
  const pkgDir = join(ROOT, 'node_modules', 'better-sqlite3');
  const pkgVersion = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')).version;
  const addon = join(CACHE, 'better-sqlite3', `${pkgVersion}-node-v${version}.node`);
  if (existsSync(addon)) return addon;
  const work = join(CACHE, 'build', `better-sqlite3-node-v${version}`);
  rmSync(work, { recursive: true, force: true });
  cpSync(pkgDir, work, {
    recursive: true,
    filter: (src) => !src.startsWith(join(pkgDir, 'build')),
  });
  process.stderr.write(`· building better-sqlite3 ${pkgVersion} for Node ${version}\n`);
  const started = Date.now();
  // tools/node-gyp passes --nodedir: the registry's Node carries include/node beside bin/
  sh(node.bin, [join(ROOT, 'tools', 'node-gyp', 'node-gyp.mjs'), 'rebuild', '--release'], {
    cwd: work,
    env: {
      ...process.env,
      npm_config_node_gyp: npmNodeGyp(),
      PATH: `${dirname(node.bin)}:${process.env.PATH}`,
    },
  });
  const built = join(work, 'build', 'Release', 'better_sqlite3.node');
  // a build against the wrong headers would fail every test: refuse to cache it
  sh(node.bin, ['-e', `process.dlopen({ exports: {} }, ${JSON.stringify(built)})`]);
  mkdirSync(dirname(addon), { recursive: true });
  copyFileSync(built, addon);
  rmSync(work, { recursive: true, force: true });
  process.stderr.write(`· built in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  return addon;
}

function hardlinkTree(from, to) {
  mkdirSync(to, { recursive: true });
  for (const e of readdirSync(from, { withFileTypes: true })) {
    if (e.isDirectory()) hardlinkTree(join(from, e.name), join(to, e.name));
    else linkSync(join(from, e.name), join(to, e.name));
  }
}

/**
 * The repo as `version` runs it. Code that loads better-sqlite3 must reach this tree's copy
 * by its real path, so dist/ and bin/ are hard links and better-sqlite3 is a real directory
 * holding the version's addon; the other packages and files are symlinks into the repo.
 */
export function layTree(version, addon) {
  const tree = join(CACHE, 'tree', `v${version}`);
  rmSync(tree, { recursive: true, force: true });
  mkdirSync(tree, { recursive: true });
  for (const name of readdirSync(ROOT)) {
    if (['.git', '.cache', 'node_modules', 'dist', 'bin'].includes(name)) continue;
    symlinkSync(join(ROOT, name), join(tree, name));
  }
  hardlinkTree(join(ROOT, 'dist'), join(tree, 'dist'));
  hardlinkTree(join(ROOT, 'bin'), join(tree, 'bin'));
  const modules = join(tree, 'node_modules');
  mkdirSync(modules);
  for (const name of readdirSync(join(ROOT, 'node_modules'))) {
    if (name !== 'better-sqlite3')
      symlinkSync(join(ROOT, 'node_modules', name), join(modules, name));
  }
  const sqlite = join(modules, 'better-sqlite3');
  cpSync(join(ROOT, 'node_modules', 'better-sqlite3', 'lib'), join(sqlite, 'lib'), {
    recursive: true,
  });
  copyFileSync(
    join(ROOT, 'node_modules', 'better-sqlite3', 'package.json'),
    join(sqlite, 'package.json'),
  );
  mkdirSync(join(sqlite, 'build', 'Release'), { recursive: true });
  copyFileSync(addon, join(sqlite, 'build', 'Release', 'better_sqlite3.node'));
  return tree;
}
