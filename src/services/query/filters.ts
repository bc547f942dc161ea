import type { Dimension } from '../../core/aggregate/types.js';
import { DIMENSIONS, dimensionKey } from '../../core/aggregate/dimensions.js';
import { dimensionField } from '../../core/event/fields.js';
import { checkString } from '../../core/event/validate.js';
import { TallyError } from '../../core/errors.js';

/**
 * Filters: a named filter from the config (the book's filter ids, e.g. 001 = US only) or an
 * inline expression `country=US`, `country=US,CA`, attributes joined by `;`. The attributes
 * are the fields that can be dimensions (core/event/fields.ts), and a value is checked and
 * normalised by the field's own rule, so `country=us` finds what was stored as `US`.
 */
export const FILTER_ATTRIBUTES: readonly Dimension[] = DIMENSIONS;
export type FilterAttribute = Dimension;

export interface ParsedFilter {
  /** the text as given */
  text: string;
  /** attribute → accepted values (OR within an attribute, AND across attributes) */
  terms: Map<FilterAttribute, string[]>;
}

function bad(message: string): TallyError {
  return new TallyError('TALLY_BAD_PARAMETER', `filter: ${message}`, { field: 'filter' });
}

function isAttribute(s: string): s is FilterAttribute {
  return (FILTER_ATTRIBUTES as readonly string[]).includes(s);
}

export function parseFilter(
  raw: string | undefined,
  named: Readonly<Record<string, string>>,
): ParsedFilter | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  const text = raw.trim();
  // own keys only: `__proto__` or `constructor` is not a named filter
  const expr = Object.hasOwn(named, text) ? (named[text] as string) : text;
  if (!expr.includes('=')) {
    throw bad(
      `"${text.slice(0, 64)}" is neither a named filter (${Object.keys(named).join(', ') || 'none configured'}) nor an expression like country=US`,
    );
  }
  const terms = new Map<FilterAttribute, string[]>();
  for (const part of expr.split(';')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    const attr = part.slice(0, eq).trim().toLowerCase();
    if (!isAttribute(attr)) {
      throw bad(
        `unknown attribute "${attr.slice(0, 32)}" (known: ${FILTER_ATTRIBUTES.join(', ')})`,
      );
    }
    const values = part
      .slice(eq + 1)
      .split(',')
      .map((v) => v.trim())
      .filter((v) => v !== '');
    if (values.length === 0) throw bad(`no value for ${attr}`);
    const normalised = values.map((v) => normaliseValue(attr, v));
    if (terms.has(attr)) throw bad(`${attr} given twice`);
    terms.set(attr, [...new Set(normalised)]);
  }
  if (terms.size === 0) throw bad('empty expression');
  return { text, terms };
}

/** `v` in the form the field is stored in (the validator's rule), or a 400 naming the filter. */
function normaliseValue(attr: FilterAttribute, v: string): string {
  const r = checkString(dimensionField(attr), v);
  if (typeof r !== 'string') throw bad(r.message);
  return r;
}

/**
 * Pre-aggregated rows carry one dimension value each, so a filter is answered from them
 * exactly when it names a single pre-aggregated attribute (values OR-ed: an event has one
 * value per attribute). Anything else is answered from raw events.
 */
export function dimKeysFor(
  filter: ParsedFilter,
  dimensions: readonly Dimension[],
): string[] | undefined {
  if (filter.terms.size !== 1) return undefined;
  const [[attr, values]] = [...filter.terms] as [[FilterAttribute, string[]]];
  if (!dimensions.includes(attr)) return undefined;
  return values.map((v) => dimensionKey(attr, v));
}
