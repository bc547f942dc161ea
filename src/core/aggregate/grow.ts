/** Typed arrays grown by doubling, contents kept: the engine's lists and per-id arrays. */

/** A copy of `a` with room for at least `min` items (twice its length, at least 8). */
export function grownInt32(a: Int32Array, min: number): Int32Array<ArrayBuffer> {
  const next = new Int32Array(Math.max(a.length * 2, min, 8));
  next.set(a);
  return next;
}

/** A copy of `a` with room for at least `min` items (twice its length, at least 8). */
export function grownUint8(a: Uint8Array, min: number): Uint8Array<ArrayBuffer> {
  const next = new Uint8Array(Math.max(a.length * 2, min, 8));
  next.set(a);
  return next;
}
