// `kgw audit tail` follows the gateway's audit trail live (Server-Sent Events from
// /kgw/v1/audit/stream); `kgw audit verify` asks the gateway to walk its hash chains and
// reports the first broken link (exit code 1), for admins.
import type { CliCommand, CliIo } from './command';
import {
  CONNECTION_USAGE,
  ConnectionError,
  describeFailure,
  gatewayGet,
  readBody,
  resolveGatewayConnection,
  takeOption,
} from '../gateway-connection';

const FILTERS = [
  'user',
  'namespace',
  'verb',
  'resource',
  'code',
  'decision',
  'kind',
  'since',
  'until',
] as const;

const USAGE = `kgw audit tail [filters] [--output text|json] [--count N]
kgw audit verify [--instance NAME] [--output text|json]

tail     Print audit records as the gateway writes them (Ctrl-C to stop).
         Admins see everyone's records; everyone else sees their own.
verify   (admins) Check every instance's hash chain; exit 1 and name the first
         broken link if a record was changed, removed or inserted.

Filters:
  --user NAME  --namespace NS  --verb VERB  --resource RES[/SUB]  --code 403|4xx
  --decision allow|deny|error|unauthenticated  --kind request|stream|tunnel|login|token
  --since 15m|RFC3339 (also prints matching records already stored)  --until RFC3339

${CONNECTION_USAGE}`;

interface AuditRecordLine {
  time: string;
  requestId: string;
  authUser: string | null;
  kubeUser: string | null;
  decision: string;
  code: number;
  verb: string | null;
  resource: string | null;
  subresource: string | null;
  namespace: string | null;
  name: string | null;
  path: string;
  latencyMs: number;
  bytesIn: number;
  bytesOut: number;
}

export const auditCommand: CliCommand = {
  name: 'audit',
  summary: 'Follow (tail) or verify the gateway audit trail',
  usage: USAGE,
  async run(argv, io) {
    const args = [...argv];
    const sub = args.shift();
    try {
      if (sub === 'tail') return await tail(args, io);
      if (sub === 'verify') return await verify(args, io);
    } catch (err) {
      if (err instanceof ConnectionError) {
        io.err(`kgw audit: ${err.message}\n`);
        return 2;
      }
      throw err;
    }
    io.err(`kgw audit: expected "tail" or "verify"\n\n${USAGE}\n`);
    return 2;
  },
};

function outputOf(args: string[]): 'text' | 'json' {
  const output = takeOption(args, 'output') ?? 'text';
  if (output !== 'text' && output !== 'json') throw new ConnectionError('--output: text or json');
  return output;
}

function refuseLeftovers(args: string[]): void {
  if (args.length > 0) throw new ConnectionError(`unexpected argument "${args[0]}"`);
}

async function tail(args: string[], io: CliIo): Promise<number> {
  const connection = resolveGatewayConnection(args, io.env);
  const output = outputOf(args);
  const countText = takeOption(args, 'count');
  const count = countText === undefined ? Infinity : Number(countText);
  if (!(count > 0)) throw new ConnectionError('--count: a positive number');
  const query = new URLSearchParams();
  for (const filter of FILTERS) {
    const value = takeOption(args, filter);
    if (value !== undefined) query.set(filter, value);
  }
  refuseLeftovers(args);
  const res = await gatewayGet(connection, `/kgw/v1/audit/stream?${query.toString()}`, {
    accept: 'text/event-stream',
  });
  if (res.statusCode !== 200) {
    io.err(`kgw audit tail: ${await describeFailure(res)}\n`);
    return 1;
  }
  let printed = 0;
  let buffer = '';
  let event = '';
  let data: string[] = [];
  res.setEncoding('utf8');
  for await (const chunk of res) {
    buffer += chunk as string;
    let newline: number;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline).replace(/\r$/, '');
      buffer = buffer.slice(newline + 1);
      if (line === '') {
        if (event === 'audit' && data.length > 0) {
          const json = data.join('\n');
          io.out(output === 'json' ? `${json}\n` : formatRecord(JSON.parse(json) as AuditRecordLine));
          if (++printed >= count) {
            res.destroy();
            return 0;
          }
        }
        event = '';
        data = [];
      } else if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
  }
  io.err('kgw audit tail: the gateway closed the stream\n');
  return 1;
}

function formatRecord(r: AuditRecordLine): string {
  const who = r.authUser === r.kubeUser || !r.kubeUser ? (r.authUser ?? '-') : `${r.authUser}→${r.kubeUser}`;
  const resource = r.resource ? `${r.resource}${r.subresource ? `/${r.subresource}` : ''}` : r.path;
  const target = [r.namespace, r.name].filter(Boolean).join('/');
  return `${r.time}  ${who}  ${r.decision} ${r.code}  ${r.verb ?? '-'} ${resource}${target ? ` ${target}` : ''}  ${Math.round(r.latencyMs)}ms in=${r.bytesIn} out=${r.bytesOut}  ${r.requestId}\n`;
}

interface VerifyReport {
  ok: boolean;
  records: number;
  chains: Array<{
    instance: string;
    records: number;
    firstSeq: number | null;
    lastSeq: number | null;
    ok: boolean;
  }>;
  firstBroken?: { instance: string; seq: number | null; id: string; requestId: string; problem: string };
}

async function verify(args: string[], io: CliIo): Promise<number> {
  const connection = resolveGatewayConnection(args, io.env);
  const output = outputOf(args);
  const instance = takeOption(args, 'instance');
  refuseLeftovers(args);
  const res = await gatewayGet(
    connection,
    `/kgw/v1/audit/verify${instance ? `?instance=${encodeURIComponent(instance)}` : ''}`,
    { accept: 'application/json' },
  );
  if (res.statusCode !== 200) {
    io.err(`kgw audit verify: ${await describeFailure(res)}\n`);
    return 1;
  }
  const body = await readBody(res);
  const report = JSON.parse(body) as VerifyReport;
  if (output === 'json') io.out(`${body}\n`);
  else {
    for (const chain of report.chains)
      io.out(
        `${chain.ok ? 'ok    ' : 'BROKEN'}  ${chain.instance}: ${chain.records} records` +
          (chain.firstSeq !== null ? ` (seq ${chain.firstSeq}..${chain.lastSeq})` : '') +
          '\n',
      );
    const broken = report.firstBroken;
    if (broken)
      io.out(
        `first broken link: instance ${broken.instance}, seq ${broken.seq ?? '-'} (row id ${broken.id}, request id ${broken.requestId}): ${broken.problem}\n`,
      );
    else io.out(`audit trail intact: ${report.records} records in ${report.chains.length} chain(s)\n`);
  }
  return report.ok ? 0 : 1;
}
