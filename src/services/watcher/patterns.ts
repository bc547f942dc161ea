/**
 * The names to follow: literal paths and globs (tinyglobby: `*`, `**`, `?`, `[…]`, `{a,b}`),
 * expanded again at every scan so that files created later are picked up. A literal path that
 * does not exist yet is simply not there yet (tail -F).
 */
import { watch, type FSWatcher } from 'node:fs';
import { isAbsolute, resolve, sep } from 'node:path';
import { glob, isDynamicPattern } from 'tinyglobby';

export interface Pattern {
  /** as given */
  text: string;
  /** the directory before the first segment with a wildcard (the pattern's own dir if none) */
  base: string;
  /** the rest, relative to base; '' for a literal path */
  rest: string;
  /** the absolute path, for a literal one */
  literal: string;
}

export function parsePattern(text: string, cwd: string): Pattern {
  const abs = isAbsolute(text) ? text : resolve(cwd, text);
  const parts = abs.split(sep);
  const i = parts.findIndex((p) => p !== '' && isDynamicPattern(p));
  if (i < 0) {
    return { text, base: parts.slice(0, -1).join(sep) || sep, rest: '', literal: abs };
  }
  return {
    text,
    base: parts.slice(0, i).join(sep) || sep,
    rest: parts.slice(i).join('/'),
    literal: abs,
  };
}

/** The absolute paths the patterns name now (files only for globs; sorted, deduplicated). */
export async function expandPatterns(patterns: readonly Pattern[]): Promise<string[]> {
  const out = new Set<string>();
  for (const p of patterns) {
    if (p.rest === '') {
      out.add(p.literal);
      continue;
    }
    try {
      for (const f of await glob(p.rest, {
        cwd: p.base,
        absolute: true,
        onlyFiles: true,
        expandDirectories: false,
      })) {
        out.add(resolve(f));
      }
    } catch (e) {
      // a base directory that does not exist (yet) names no file
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  return [...out].sort();
}

/**
 * fs.watch on directories, only to wake the poller early: stat polling stays the source of
 * truth, since fs.watch misses events on some file systems (network mounts, some containers,
 * inotify limits) and reports renames ambiguously. A directory that cannot be watched is
 * polled like the rest.
 */
export class DirWakeups {
  private readonly watchers = new Map<string, FSWatcher>();

  constructor(private readonly onEvent: () => void) {}

  /** Watches exactly `dirs` from now on. */
  update(dirs: ReadonlySet<string>): void {
    for (const [dir, w] of this.watchers) {
      if (!dirs.has(dir)) {
        w.close();
        this.watchers.delete(dir);
      }
    }
    for (const dir of dirs) {
      if (this.watchers.has(dir)) continue;
      try {
        const w = watch(dir, { persistent: false }, () => this.onEvent());
        w.on('error', () => {
          w.close();
          this.watchers.delete(dir); // tried again at the next update
        });
        this.watchers.set(dir, w);
      } catch {
        // missing (not created yet) or not watchable: polling covers it
      }
    }
  }

  close(): void {
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
  }
}
