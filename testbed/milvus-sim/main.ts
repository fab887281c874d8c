/**
 * SIMULATOR — not Milvus. Command line for the Milvus proxy management-API simulator (sim.ts,
 * which cites the upstream contract it follows: milvus-io/milvus
 * internal/distributed/proxy/httpserver/handler.go and wrapper.go, internal/datacoord/services.go,
 * milvus-io/milvus-proto proto/milvus.proto).
 *
 *   npx tsx testbed/milvus-sim/main.ts --port 19091 --version 2.4 \
 *     --db default=books,films --db analytics=events --insert default.books --insert analytics.events \
 *     --flush-delay 2s --flush-after-polls 2 [--fail persist:status:1] [--auth] [--log]
 *   npx tsx testbed/milvus-sim/main.ts --version 3.0 --db default=books --loaded default.books \
 *     --streaming-node 10.0.0.11:22222   (2.6/3.0: mixcoord routes, FlushAll, load state; streaming.ts)
 *
 * Prints `listening on http://127.0.0.1:PORT` on stdout; with --log every request on stderr.
 * Stops on SIGINT/SIGTERM.
 */
import { parseArgs } from 'node:util';
import { SIM_VERSIONS, startMilvusSim, type Failure, type SimVersion } from './sim.js';

const usage = `usage: main.ts [--port P] [--version ${SIM_VERSIONS.join('|')}] [--db NAME=c1,c2]... [--insert DB.COLLECTION]...
       [--flush-delay 2s|500ms] [--flush-after-polls N] [--fail ON:KIND[:TIMES]]... [--auth] [--log]
       [--streaming-node IP:PORT]... [--loaded DB.COLLECTION]... [--latency 17ms]
  ON: collections|persist|state|databases|healthz|streaming|grpc|all   KIND: http500|status|unhealthy|drop`;

function fail(msg: string): never {
  process.stderr.write(`error: ${msg}\n${usage}\n`);
  process.exit(2);
}

function ms(v: string): number {
  const m = /^(\d+)(ms|s|m)?$/.exec(v);
  if (!m) fail(`invalid duration "${v}"`);
  const n = Number(m[1]);
  return m[2] === 's' ? n * 1000 : m[2] === 'm' ? n * 60_000 : n;
}

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    version: { type: 'string', default: '2.4' },
    db: { type: 'string', multiple: true, default: [] },
    insert: { type: 'string', multiple: true, default: [] },
    'flush-delay': { type: 'string', default: '0' },
    'flush-after-polls': { type: 'string', default: '0' },
    fail: { type: 'string', multiple: true, default: [] },
    auth: { type: 'boolean', default: false },
    'streaming-node': { type: 'string', multiple: true, default: [] },
    loaded: { type: 'string', multiple: true, default: [] },
    latency: { type: 'string', default: '0' },
    log: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});
if (values.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}
if (!SIM_VERSIONS.includes(values.version as SimVersion)) fail(`unknown version "${values.version}"`);
const databases: Record<string, string[]> = {};
for (const d of values.db) {
  const [name, colls] = d.split('=', 2);
  if (!name) fail(`invalid --db "${d}"`);
  databases[name] = (colls ?? '').split(',').filter(Boolean);
}
const sim = await startMilvusSim({
  port: Number(values.port),
  version: values.version as SimVersion,
  databases: Object.keys(databases).length ? databases : { default: [] },
  flushDelayMs: ms(values['flush-delay']),
  flushAfterPolls: Number(values['flush-after-polls']),
  authEnabled: values.auth,
  streamingNodes: values['streaming-node'],
  loaded: values.loaded,
  latencyMs: ms(values.latency),
});
for (const i of values.insert) {
  const dot = i.indexOf('.');
  if (dot < 1) fail(`invalid --insert "${i}": use DB.COLLECTION`);
  sim.control.insert(i.slice(0, dot), i.slice(dot + 1));
}
for (const f of values.fail) {
  const [on, kind, times] = f.split(':');
  if (!on || !kind) fail(`invalid --fail "${f}"`);
  sim.control.failOn({ on, kind, ...(times ? { times: Number(times) } : {}) } as Failure);
}
if (values.log) {
  const push = sim.control.requests.push.bind(sim.control.requests);
  sim.control.requests.push = (...items) => {
    for (const r of items) process.stderr.write(`${new Date(r.at).toISOString()} ${r.method} ${r.path} ${r.body}\n`);
    return push(...items);
  };
}
process.stdout.write(`listening on ${sim.url} (Milvus ${values.version} management API simulator)\n`);
const stop = () => void sim.close().then(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
