/**
 * What `mq-switch` accepts, as data: the targets, the Milvus versions the documented switch covers
 * and the Woodpecker gates the docs name. Each rule cites its source; the planner walks them and
 * the refusal names the rule.
 *
 * Sources (milvus-io/web-content v3.0.x, adminGuide): switch-mq-type.md ("available in Milvus 3.0
 * and later"; scope and support matrix), switch-pulsar-woodpecker.md and switch-kafka-woodpecker.md
 * (Helm and Operator steps; "switching back to a builtin Pulsar instance is currently not possible"),
 * switch-rocksmq-woodpecker.md (Docker Compose standalone). Woodpecker service mode: chart >= 5.0.16
 * with streaming.woodpecker.embedded=false (milvus#48645, milvus-docs#3539); Milvus 3.0.1 or later
 * with Woodpecker v0.1.37 or later (milvus-docs#3593, #3601).
 */
import semver from 'semver';
import type { MessageQueue } from '../release/types.js';

export const SWITCH_TARGET = 'woodpecker';

/** Why a --to value is refused (undefined: accepted). Pure: checked before the cluster is asked anything. */
export function targetRefusal(to: string): string | undefined {
  const t = to.trim().toLowerCase();
  if (t === SWITCH_TARGET) return undefined;
  if (t === 'pulsar' || t === 'kafka') {
    return `--to ${t} is not supported: back to an in-cluster ${t === 'pulsar' ? 'Pulsar' : 'Kafka'} is impossible with the Milvus Helm chart, and a switch to an external one needs its address in the Milvus configuration first (switch-${t}-woodpecker.md); only --to woodpecker is supported`;
  }
  if (t === 'rocksmq') return '--to rocksmq is not supported: the docs switch to RocksMQ only on a Docker Compose standalone (switch-rocksmq-woodpecker.md); only --to woodpecker is supported';
  return `unknown --to "${to}": only --to woodpecker is supported`;
}

export const MIN_SWITCH_VERSION = '3.0.0';
/** The first minor the documented procedure was not written for. */
export const NEXT_MINOR = '3.1.0';
export const MIN_SERVICE_MODE_VERSION = '3.0.1';
export const MIN_SERVICE_MODE_CHART = '5.0.16';
export const MIN_WOODPECKER_SERVICE = '0.1.37';

export type WoodpeckerMode = 'embedded' | 'service';

export interface GateInput {
  /** The lowest Milvus version the release's pods run. */
  milvusVersion: string | undefined;
  /** One version, "mixed" or undefined (see Release.running). */
  running: string | 'mixed' | undefined;
  mode: WoodpeckerMode;
  method: 'helm' | 'operator';
  /** Helm chart version (Helm releases). */
  chartVersion?: string | undefined;
  /** Tag of the Woodpecker service image (service mode), e.g. "v0.1.42" or "latest". */
  woodpeckerTag?: string | undefined;
}

export interface GateRule {
  id: string;
  /** The refusal, or undefined when the rule holds. */
  check(i: GateInput): string | undefined;
  source: string;
}

const v = (s: string | undefined) => (s ? semver.valid(semver.coerce(s)) : null);

export const GATE_RULES: readonly GateRule[] = [
  {
    id: 'version-known',
    source: 'what the pods run',
    check: (i) =>
      i.running === 'mixed'
        ? 'the release runs more than one Milvus version: finish the upgrade first'
        : !v(i.milvusVersion)
          ? 'the Milvus version cannot be told from the images (a tag that is not a version)'
          : undefined,
  },
  {
    id: 'switch-api',
    source: 'switch-mq-type.md: "available in Milvus 3.0 and later"',
    check: (i) => (v(i.milvusVersion) && semver.lt(v(i.milvusVersion)!, MIN_SWITCH_VERSION) ? `Milvus ${i.milvusVersion} has no WAL switch: it exists from Milvus ${MIN_SWITCH_VERSION} (switch-mq-type.md); upgrade first` : undefined),
  },
  {
    id: 'documented-minor',
    source: 'the switch pages of the v3.0.x documentation',
    check: (i) => (v(i.milvusVersion) && semver.gte(v(i.milvusVersion)!, NEXT_MINOR) ? `Milvus ${i.milvusVersion}: this command follows the switch as documented for 3.0.x and has not been checked against ${i.milvusVersion}` : undefined),
  },
  {
    id: 'service-mode-milvus',
    source: 'milvus-docs#3593: Woodpecker service mode with Milvus 3.0.1 or later',
    check: (i) => (i.mode === 'service' && v(i.milvusVersion) && semver.lt(v(i.milvusVersion)!, MIN_SERVICE_MODE_VERSION) ? `Woodpecker service mode needs Milvus ${MIN_SERVICE_MODE_VERSION} or later (milvus-docs#3593; woodpecker#216: service mode fell back to 127.0.0.1 after 2.6 -> 3.0), the release runs ${i.milvusVersion}` : undefined),
  },
  {
    id: 'service-mode-chart',
    source: 'milvus#48645, milvus-docs#3539: chart >= 5.0.16 with streaming.woodpecker.embedded=false',
    check: (i) => (i.mode === 'service' && i.method === 'helm' && (!v(i.chartVersion) || semver.lt(v(i.chartVersion)!, MIN_SERVICE_MODE_CHART)) ? `Woodpecker service mode needs chart ${MIN_SERVICE_MODE_CHART} or later, the release has chart ${i.chartVersion ?? 'unknown'}` : undefined),
  },
  {
    id: 'service-mode-woodpecker',
    source: 'milvus-docs#3601: Woodpecker v0.1.37 or later',
    check: (i) => {
      if (i.mode !== 'service' || !i.woodpeckerTag) return undefined;
      const wv = semver.valid(semver.coerce(i.woodpeckerTag));
      if (!wv || !/^v?\d+\.\d+\.\d+/.test(i.woodpeckerTag)) return undefined;
      return semver.lt(wv, MIN_WOODPECKER_SERVICE) ? `the Woodpecker service runs ${i.woodpeckerTag}; the docs recommend v${MIN_WOODPECKER_SERVICE} or later (milvus-docs#3601)` : undefined;
    },
  },
];

/** The first rule that refuses the switch, with its reason. */
export function gateRefusal(i: GateInput): { rule: string; reason: string } | undefined {
  for (const r of GATE_RULES) {
    const reason = r.check(i);
    if (reason) return { rule: r.id, reason };
  }
  return undefined;
}

/** The WAL name Milvus writes into mq.type for a queue (message.WALName's string). */
export function walNameOf(mq: MessageQueue): 'pulsar' | 'kafka' | 'rocksmq' | 'woodpecker' | undefined {
  switch (mq) {
    case 'pulsar-v2':
    case 'pulsar-v3':
    case 'external-pulsar':
      return 'pulsar';
    case 'kafka':
      return 'kafka';
    case 'rocksmq':
      return 'rocksmq';
    case 'woodpecker':
      return 'woodpecker';
    default:
      return undefined;
  }
}

/** Why a source queue cannot be switched (undefined: it can). */
export function sourceRefusal(mq: MessageQueue): string | undefined {
  if (mq === 'woodpecker') return 'the release already runs on Woodpecker: there is nothing to switch';
  if (mq === 'natsmq') return 'NATS is not a source the docs switch from (switch-mq-type.md: Pulsar, Kafka or RocksMQ)';
  if (mq === 'unknown') return 'the message queue of the release cannot be told';
  return undefined;
}
