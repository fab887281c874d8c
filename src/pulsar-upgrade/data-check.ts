/**
 * "The upgrade kept the data" made checkable: the databases and collections the last flush before
 * the stop saw are recorded, and after the reinstall the same scope must list every one of them
 * again through the management API. Row counts are not compared: the management API (9091) does
 * not give them.
 */
import type { RunContext } from '../cli/context.js';
import { failedError } from '../errors.js';
import { openReleaseTransport } from '../flush/transport.js';
import type { FlushReport } from '../flush/flush.js';
import { MilvusManagementApi } from '../milvus/mgmt-api.js';
import type { Release } from '../release/types.js';

export interface Inventory {
  databases: string[];
  /** "database.collection", sorted. */
  collections: string[];
}

export function inventoryOf(report: FlushReport): Inventory {
  return { databases: [...report.databases].sort(), collections: report.collections.map((c) => `${c.database}.${c.collection}`).sort() };
}

/** The collections of the inventory's databases now. */
export async function listInventory(ctx: RunContext, release: Release, databases: string[]): Promise<Inventory> {
  const transport = await openReleaseTransport(ctx, release);
  try {
    const api = new MilvusManagementApi(transport, ctx.signal);
    const collections: string[] = [];
    for (const db of databases) for (const c of await api.listCollections(db)) collections.push(`${db}.${c}`);
    return { databases: [...databases].sort(), collections: collections.sort() };
  } finally {
    await transport.close();
  }
}

/** Throws (exit 10) when a collection seen before the stop is missing now. */
export function compareInventory(before: Inventory, now: Inventory): void {
  const have = new Set(now.collections);
  const missing = before.collections.filter((c) => !have.has(c));
  if (missing.length) {
    throw failedError(
      `${missing.length} collection(s) seen before the stop are missing after the upgrade: ${missing.join(', ')}`,
      'do not write to Milvus; the backups of the values and the manifest are kept: compare with the object storage before anything else',
    );
  }
}
