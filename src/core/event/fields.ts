/** The event fields SPEC §1 names, in the order the byte scanner numbers them; the rest is `extra`. */
export const KNOWN_FIELD_NAMES = [
  'ad_id',
  'timestamp',
  'click_timestamp',
  'event_id',
  'user_id',
  'ip',
  'country',
] as const;
