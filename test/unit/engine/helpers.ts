/** Test helpers: click events built like validation would build them, and engine configs. */
import type { ClickEvent } from '../../../src/core/event/types.js';
import { canonicalEventId } from '../../../src/core/event/identity.js';
import type { AggregatorConfig } from '../../../src/core/operator/aggregator.js';
import { DEFAULT_AGGREGATOR_CONFIG } from '../../../src/core/operator/aggregator.js';
import { MINUTE_MS } from '../../../src/core/window/minute.js';

export interface ClickInit {
  eventId?: string;
  userId?: string;
  ip?: string;
  country?: string;
}

export function click(adId: string, timestamp: number, init: ClickInit = {}): ClickEvent {
  const given = init.eventId !== undefined;
  return {
    adId,
    timestamp,
    eventId: init.eventId ?? canonicalEventId(adId, timestamp, init.userId, init.ip, init.country),
    eventIdGiven: given,
    userId: init.userId,
    ip: init.ip,
    country: init.country,
    extra: undefined,
  };
}

export function config(over: Partial<AggregatorConfig> = {}): AggregatorConfig {
  return {
    ...DEFAULT_AGGREGATOR_CONFIG,
    dimensions: [...DEFAULT_AGGREGATOR_CONFIG.dimensions],
    topWindows: [...DEFAULT_AGGREGATOR_CONFIG.topWindows],
    ...over,
  };
}

/** 2024-01-01T00:00:00Z, a minute boundary */
export const T0 = 1_704_067_200_000;
export const MIN = MINUTE_MS;
