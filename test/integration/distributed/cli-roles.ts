/**
 * Distributed processes started through the real command line, `tally start --mode distributed
 * --role …`, on a free port each: what the scale-out and intake tests run.
 */
import type { ChildProcess } from 'node:child_process';
import { exited, tallySpawn } from '../../helpers/cli.js';

export interface RoleProcess {
  child: ChildProcess;
  base: string;
  /** stderr so far (start-up lines, warnings) */
  stderr(): string;
  kill9(): Promise<void>;
  /** SIGTERM; resolves with the exit code */
  stop(): Promise<number | null>;
}

/** Starts the roles in a process; resolves once it serves (its HTTP address). */
export async function startRoles(
  roles: string,
  o: { namespace: string; dataDir: string; env?: NodeJS.ProcessEnv; config?: string },
): Promise<RoleProcess> {
  const child = tallySpawn(
    [
      'start',
      '--mode',
      'distributed',
      '--role',
      roles,
      '--port',
      '0',
      '--data-dir',
      o.dataDir,
      ...(o.config ? ['--config', o.config] : []),
    ],
    { TALLY_NAMESPACE: o.namespace, ...o.env },
  );
  let err = '';
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const base = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${roles}: not serving in 90 s: ${err}`)),
      90_000,
    );
    const onData = () => {
      const m = /serving on (http:\/\/[^,\s]+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        child.stderr?.off('data', onData);
        resolve(m[1] as string);
      }
    };
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${roles}: exited ${code}: ${err}`));
    });
  });
  return {
    child,
    base,
    stderr: () => err,
    async kill9() {
      child.kill('SIGKILL');
      await exited(child);
    },
    async stop() {
      child.kill('SIGTERM');
      return exited(child);
    },
  };
}

/** Kills whatever of `procs` still runs (test clean-up). */
export function killAll(procs: readonly RoleProcess[]): void {
  for (const p of procs) {
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  }
}
