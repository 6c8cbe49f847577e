import { randomUUID } from 'node:crypto';
import { ApId } from '@activepieces/shared';
import { describe, expect, it } from 'vitest';
import { NO_ROW, apIdOf, uuidOfApId } from '../src/ids.js';

describe("Activepieces' id form of our UUIDs", () => {
  it('is 21 alphanumeric characters (ApId as published) and round-trips every UUIDv4', () => {
    for (let i = 0; i < 2000; i++) {
      const uuid = randomUUID();
      const ap = apIdOf(uuid);
      expect(ApId.safeParse(ap).success).toBe(true);
      expect(uuidOfApId(ap)).toBe(uuid);
    }
    // The extremes of the 122 random bits.
    for (const uuid of ['00000000-0000-4000-8000-000000000000', 'ffffffff-ffff-4fff-bfff-ffffffffffff']) {
      expect(apIdOf(uuid)).toHaveLength(21);
      expect(uuidOfApId(apIdOf(uuid))).toBe(uuid);
    }
  });

  it('is stable, case-insensitive on the UUID, and distinct per UUID', () => {
    const uuid = randomUUID();
    expect(apIdOf(uuid)).toBe(apIdOf(uuid.toUpperCase()));
    const seen = new Set(Array.from({ length: 2000 }, () => apIdOf(randomUUID())));
    expect(seen.size).toBe(2000);
  });

  it('writes a UUID that is not v4 in a form of its own that decodes to no row; malformed ids decode to no row', () => {
    const fixed = '11111111-1111-1111-1111-111111111111';
    const ap = apIdOf(fixed);
    expect(ApId.safeParse(ap).success).toBe(true);
    expect(apIdOf(fixed)).toBe(ap);
    expect(uuidOfApId(ap)).toBe(NO_ROW);
    for (const bad of ['', 'short', 'x'.repeat(22), 'abc-defghijklmnopqrstu', null, 42]) expect(uuidOfApId(bad)).toBe(NO_ROW);
  });
});
