// What `kgw forward` is asked to do: targets (TYPE/NAME, kubectl's short forms) each with one or
// more `[LOCAL:]REMOTE[/udp]` ports, from the command line or a YAML file (-f).
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { TargetRequest } from '@kgw/tunnel';
import { CliError, ExitCode } from '../cli-outcome';

export interface PortMapping {
  /** 0: any free port. */
  local: number;
  remote: number | string;
  protocol: 'tcp' | 'udp';
}

export interface ForwardSpec {
  target: Omit<TargetRequest, 'port' | 'protocol'>;
  ports: PortMapping[];
  /** Local addresses to listen on. */
  addresses: string[];
}

const KINDS: Record<string, TargetRequest['kind']> = {
  pod: 'pod',
  pods: 'pod',
  po: 'pod',
  service: 'service',
  services: 'service',
  svc: 'service',
  deployment: 'deployment',
  deployments: 'deployment',
  deploy: 'deployment',
  statefulset: 'statefulset',
  statefulsets: 'statefulset',
  sts: 'statefulset',
};

const PORT = /^(?:(\d*):)?(\d+|[a-z][-a-z0-9]*)(?:\/(tcp|udp))?$/i;
const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

function usage(message: string): CliError {
  return new CliError(message, ExitCode.Usage);
}

export function parseTarget(text: string): { kind: TargetRequest['kind']; name: string } {
  const slash = text.indexOf('/');
  const [type, name] =
    slash < 0 ? ['pod', text] : [text.slice(0, slash).toLowerCase(), text.slice(slash + 1)];
  const kind = KINDS[type];
  if (!kind) throw usage(`unknown target type "${type}": use pod/, svc/, deploy/ or sts/`);
  if (!NAME.test(name)) throw usage(`not a valid name: "${name}"`);
  return { kind, name };
}

export function parsePort(text: string): PortMapping {
  const match = PORT.exec(text);
  if (!match) throw usage(`not a port mapping: "${text}" (expected [LOCAL:]REMOTE[/udp])`);
  const [, localText, remoteText, protocolText] = match;
  const remote = /^\d+$/.test(remoteText) ? Number(remoteText) : remoteText.toLowerCase();
  if (typeof remote === 'number' && (remote < 1 || remote > 65535))
    throw usage(`port out of range: ${remoteText}`);
  let local: number;
  if (localText === undefined) local = typeof remote === 'number' ? remote : 0;
  else local = localText === '' ? 0 : Number(localText);
  if (local < 0 || local > 65535) throw usage(`port out of range: ${localText}`);
  return { local, remote, protocol: (protocolText?.toLowerCase() ?? 'tcp') as 'tcp' | 'udp' };
}

/** After a target, a bare word is a port (a named one); a new target needs its TYPE/. */
function isPortSpec(text: string): boolean {
  return PORT.test(text);
}

/** `TYPE/NAME PORT... [TYPE/NAME PORT...]...` */
export function parseForwardArgs(args: string[], namespace: string, addresses: string[]): ForwardSpec[] {
  const specs: ForwardSpec[] = [];
  for (const arg of args) {
    if (specs.length > 0 && isPortSpec(arg)) specs[specs.length - 1].ports.push(parsePort(arg));
    else if (specs.length === 0 || specs[specs.length - 1].ports.length > 0)
      specs.push({ target: { namespace, ...parseTarget(arg) }, ports: [], addresses });
    else throw usage(`"${arg}": expected a port mapping for ${specs[specs.length - 1].target.name}`);
  }
  if (specs.length === 0) throw usage('what to forward? kgw forward pod/NAME [LOCAL:]REMOTE');
  const last = specs[specs.length - 1];
  if (last.ports.length === 0) throw usage(`no port given for ${last.target.kind}/${last.target.name}`);
  return specs;
}

/**
 * -f FILE:
 *   forwards:
 *     - target: svc/my-nginx
 *       namespace: default       # optional (else -n, else "default")
 *       ports: ["28001:80", "5353:53/udp"]
 *       address: 127.0.0.1       # optional, string or list
 */
export function readForwardFile(file: string, namespace: string, addresses: string[]): ForwardSpec[] {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    throw usage(`-f ${file}: ${(err as Error).message}`);
  }
  const list = Array.isArray(doc) ? doc : (doc as { forwards?: unknown } | null)?.forwards;
  if (!Array.isArray(list) || list.length === 0)
    throw usage(`-f ${file}: expected a list "forwards:" of targets`);
  return list.map((entry: unknown, i): ForwardSpec => {
    const e = (entry ?? {}) as { target?: unknown; namespace?: unknown; ports?: unknown; address?: unknown };
    if (typeof e.target !== 'string') throw usage(`-f ${file}: forwards[${i}].target: expected TYPE/NAME`);
    if (!Array.isArray(e.ports) || e.ports.length === 0)
      throw usage(`-f ${file}: forwards[${i}].ports: expected a list of [LOCAL:]REMOTE`);
    const ns = typeof e.namespace === 'string' ? e.namespace : namespace;
    const own =
      typeof e.address === 'string'
        ? [e.address]
        : Array.isArray(e.address)
          ? e.address.map(String)
          : addresses;
    return {
      target: { namespace: ns, ...parseTarget(e.target) },
      ports: e.ports.map((p) => parsePort(String(p))),
      addresses: own,
    };
  });
}
