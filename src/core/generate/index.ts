/** Synthetic click traffic for `tally generate`, the demo feed and benchmarks. */
export {
  ClickGenerator,
  generateClicks,
  generateNdjson,
  type GenerateOptions,
  type GenerateStats,
  type LineKind,
} from './generate.js';
export { Prng } from './prng.js';
export { ZipfSampler } from './zipf.js';
