// `kgw audit tail` follows the gateway's audit trail live (Server-Sent Events from
// /kgw/v1/audit/stream); `kgw audit verify` asks the gateway to walk its hash chains and
// reports the first broken link (exit code 1), for admins.
import { Command, Option } from 'commander';
import {
  CliError,
  ExitCode,
  nonNegativeInteger,
  positiveNumber,
  type AddCommand,
  type CliIo,
} from './command';
import {
  failureOf,
  gatewayGet,
  readBody,
  resolveGatewayConnection,
  withConnectionOptions,
  type ConnectionFlags,
} from '../gateway-connection';

const FILTERS: Array<[flag: string, description: string]> = [
  ['--user <name>', 'records of this gateway user'],
  ['--namespace <ns>', 'records in this namespace'],
  ['--verb <verb>', 'records with this Kubernetes verb'],
  ['--resource <res[/sub]>', 'records about this resource (and subresource)'],
  ['--code <code>', 'records with this status code: 403 or a class like 4xx'],
  ['--decision <decision>', 'allow, deny, error or unauthenticated'],
  ['--kind <kind>', 'request, stream, tunnel, login or token'],
  ['--since <when>', '15m or RFC3339; also prints matching records already stored'],
  ['--until <when>', 'RFC3339'],
];
const FILTER_NAMES = [
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
type Filters = Partial<Record<(typeof FILTER_NAMES)[number], string>>;

function outputOption(): Option {
  return new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text');
}

export const addAuditCommand: AddCommand = (program, { io, act }) => {
  const audit = program
    .command('audit')
    .description('follow (tail) or verify the gateway audit trail')
    .addHelpText('after', "\nAdmins see everyone's records; everyone else sees their own.\n");

  const tailCommand = new Command('tail')
    .description(
      'print the most recent audit records, then follow new ones as the gateway writes them (Ctrl-C to stop)',
    )
    .addOption(outputOption())
    .option(
      '--tail <n>',
      `how many recent records to print first (0: only new ones; default ${DEFAULT_TAIL}, or all since --since)`,
      nonNegativeInteger,
    )
    .option('--count <n>', 'stop after N records', positiveNumber);
  for (const [flag, description] of FILTERS) tailCommand.option(flag, description);
  audit.addCommand(
    withConnectionOptions(tailCommand).action(act(async (options: TailOptions) => tail(options, io))),
  );

  audit.addCommand(
    withConnectionOptions(
      new Command('verify')
        .description(
          "(admins) check every instance's hash chain; exit 1 and name the first broken link if a record was changed, removed or inserted",
        )
        .option('--instance <name>', 'only this gateway instance')
        .addOption(outputOption()),
    ).action(
      act(async (options: ConnectionFlags & { instance?: string; output: 'text' | 'json' }) =>
        verify(options, io),
      ),
    ),
  );
};

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

type TailOptions = ConnectionFlags & Filters & { output: 'text' | 'json'; count?: number; tail?: number };

/** Like tail(1): without --tail, the last 10 records come first (all of them since --since). */
const DEFAULT_TAIL = 10;

async function tail(options: TailOptions, io: CliIo): Promise<number> {
  const connection = resolveGatewayConnection(options, io.env, (text) => io.err(text));
  const output = options.output;
  const count = options.count ?? Infinity;
  const query = new URLSearchParams();
  for (const filter of FILTER_NAMES) {
    const value = options[filter];
    if (value !== undefined) query.set(filter, value);
  }
  const recent = options.tail ?? (options.since === undefined ? DEFAULT_TAIL : undefined);
  if (recent !== undefined) query.set('tail', String(recent));
  const res = await gatewayGet(connection, `/kgw/v1/audit/stream?${query.toString()}`, {
    accept: 'text/event-stream',
  });
  if (res.statusCode !== 200) throw await failureOf(res);
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
        // Stored records are out; say so, or an empty history looks like a hang.
        if (event === 'caught-up') io.err('kgw audit tail: following new records (Ctrl-C to stop)\n');
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
  throw new CliError('the gateway closed the stream', ExitCode.Failure);
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

async function verify(
  options: ConnectionFlags & { instance?: string; output: 'text' | 'json' },
  io: CliIo,
): Promise<number> {
  const connection = resolveGatewayConnection(options, io.env, (text) => io.err(text));
  const { output, instance } = options;
  const res = await gatewayGet(
    connection,
    `/kgw/v1/audit/verify${instance ? `?instance=${encodeURIComponent(instance)}` : ''}`,
    { accept: 'application/json' },
  );
  if (res.statusCode !== 200) throw await failureOf(res);
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
  return report.ok ? ExitCode.Ok : ExitCode.Failure;
}
