/**
 * SIMULATOR — not Milvus. mixcoord's WAL switch of Milvus 3.0, registered on the simulator's route
 * table (MilvusSim.route), writing `mq.type` into the release's REAL etcd (a Debian etcd the test
 * routes the release's etcd pod to) exactly where Milvus writes it. Modelled from upstream:
 *
 * - `POST /management/wal/alter {"target_wal_name": …, "config": {…}}` (milvus-io/milvus
 *   internal/coordinator mixCoordImpl.HandleAlterWAL): another method -> 405 `{"msg": "Method not
 *   allowed, use POST"}`; a body that does not decode -> 400 `{"msg": "Invalid request body"}`; no
 *   name -> 400 `{"msg": "target_wal_name is required"}`; a name message.NewWALName does not know
 *   -> 400 `{"msg": "unknown target_wal_name"}`; the current mq.type (paramtable, etcd included)
 *   equal to the target -> 200 `{"msg": "target WAL type '<current>' is already configured, no
 *   change needed"}`; a failed broadcast -> 500 `{"msg": "failed to broadcast AlterWALMessage,
 *   …"}`; otherwise 200 `{"msg": "OK"}` as soon as the broadcast is accepted. http.Error bodies are
 *   text/plain with a trailing newline.
 * - Later, once every vchannel acknowledged the AlterWAL message (coordinator/wal_callbacks.go),
 *   Manager.UpdateConfigInEtcd puts `<etcd.rootPath>/config/mqtype` = the WAL name
 *   (message.WALName.String(): "woodpecker", "pulsar", "kafka", "rocksmq") — what
 *   tests/integration/walswitch TestWALSwitch reads. Here: `confirmAfterMs` after the answer, or
 *   never (`confirmAfterMs: 'never'`: a broadcast that is not acknowledged, nothing written).
 * - Failures: `sim.failOn({ on: 'wal', kind: 'http500' })` answers the broadcast failure.
 */
import type { MilvusSim, SimAnswer } from './sim.js';

export const WAL_ALTER_PATH = '/management/wal/alter';
const WAL_NAMES = ['woodpecker', 'pulsar', 'kafka', 'rocksmq'] as const;
export type SimWalName = (typeof WAL_NAMES)[number];

export interface WalSwitchOptions {
  /** The release's etcd (its v3 JSON gateway) and Milvus's root path in it. */
  etcd: { url: string; rootPath: string };
  /** The WAL Milvus runs now (its configuration files' mq.type). */
  current: SimWalName;
  /** When mq.type is written after an accepted call: ms, or never. Default 300 ms. */
  confirmAfterMs?: number | 'never';
}

export interface WalSwitchModel {
  current: SimWalName;
  confirmAfterMs: number | 'never';
  /** Accepted switch requests (a second one while one is pending counts too). */
  accepted: Array<{ target: SimWalName; at: number }>;
  /** Writes to etcd that failed (the test fails on them). */
  errors: string[];
  /** Resolves when the pending etcd writes are done. */
  settled(): Promise<void>;
}

const text = (status: number, msg: string): SimAnswer => ({ status, body: `{"msg": "${msg}"}\n`, contentType: 'text/plain; charset=utf-8' });
const json = (status: number, body: string): SimAnswer => ({ status, body, contentType: 'application/json' });

export function mqTypeEtcdKey(rootPath: string): string {
  return `${rootPath}/config/mqtype`;
}

export function installWalSwitch(sim: MilvusSim, o: WalSwitchOptions): WalSwitchModel {
  const pending: Promise<void>[] = [];
  const model: WalSwitchModel = {
    current: o.current,
    confirmAfterMs: o.confirmAfterMs ?? 300,
    accepted: [],
    errors: [],
    settled: async () => {
      await Promise.all(pending);
    },
  };
  const put = async (value: SimWalName) => {
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    try {
      const res = await fetch(`${o.etcd.url}/v3/kv/put`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key: b64(mqTypeEtcdKey(o.etcd.rootPath)), value: b64(value) }) });
      if (!res.ok) throw new Error(`HTTP ${res.status} ${await res.text()}`);
      model.current = value;
    } catch (e) {
      model.errors.push((e as Error).message);
    }
  };
  sim.route('*', WAL_ALTER_PATH, (req) => {
    if (req.method !== 'POST') return text(405, 'Method not allowed, use POST');
    let body: { target_wal_name?: unknown };
    try {
      body = JSON.parse(req.body || 'null') as { target_wal_name?: unknown };
      if (!body || typeof body !== 'object' || (body.target_wal_name !== undefined && typeof body.target_wal_name !== 'string')) throw new Error('type');
    } catch {
      return text(400, 'Invalid request body');
    }
    const name = typeof body.target_wal_name === 'string' ? body.target_wal_name.toLowerCase() : '';
    if (!name) return text(400, 'target_wal_name is required');
    if (!(WAL_NAMES as readonly string[]).includes(name)) return text(400, 'unknown target_wal_name');
    if (model.current === name) return json(200, `{"msg": "target WAL type '${model.current}' is already configured, no change needed"}`);
    const f = sim.takeInjected('wal');
    if (f) return text(500, `failed to broadcast AlterWALMessage, ${f.reason ?? 'simulated failure'}`);
    const target = name as SimWalName;
    model.accepted.push({ target, at: Date.now() });
    if (model.confirmAfterMs !== 'never') {
      const delay = model.confirmAfterMs;
      pending.push(new Promise<void>((resolve) => setTimeout(resolve, delay)).then(() => put(target)));
    }
    return json(200, '{"msg": "OK"}');
  });
  return model;
}
