import { gatewayKubeconfigEntries, kubeconfigContextName, mergeGatewayKubeconfig } from './kubeconfig';

describe('gateway kubeconfigs', () => {
  it.each([
    ['https://kgw.example.com', 'kgw-kgw.example.com'],
    ['https://kgw.example.com:8443/', 'kgw-kgw.example.com-8443'],
    ['https://[::1]:9443', 'kgw-::1-9443'],
  ])('names the context of %s %s', (server, name) => {
    expect(kubeconfigContextName(server)).toBe(name);
  });

  it('writes the exec plugin with the server (origin only) and the CA', () => {
    const { user, cluster } = gatewayKubeconfigEntries({
      server: 'https://gw.example:8443/some/path',
      caPem: 'PEM',
      credential: { exec: { command: 'kgw', installHint: 'install kgw' } },
    });
    expect(cluster).toEqual({
      name: 'kgw-gw.example-8443',
      cluster: {
        server: 'https://gw.example:8443',
        'certificate-authority-data': Buffer.from('PEM').toString('base64'),
      },
    });
    expect(user.user).toEqual({
      exec: {
        apiVersion: 'client.authentication.k8s.io/v1',
        command: 'kgw',
        args: ['credential', '--server', 'https://gw.example:8443'],
        interactiveMode: 'Never',
        provideClusterInfo: false,
        installHint: 'install kgw',
      },
    });
  });

  it('puts leading arguments (node running the CLI file) before credential', () => {
    const { user } = gatewayKubeconfigEntries({
      server: 'https://gw.example',
      credential: { exec: { command: '/usr/bin/node', leadingArgs: ['/opt/kgw/main.js'] } },
    });
    expect((user.user as { exec: { args: string[] } }).exec.args).toEqual([
      '/opt/kgw/main.js',
      'credential',
      '--server',
      'https://gw.example',
    ]);
  });

  it('merges into an existing file: same-named entries replaced, the others kept, current context set', () => {
    const existing = {
      apiVersion: 'v1',
      kind: 'Config',
      preferences: { colors: true },
      clusters: [
        { name: 'other', cluster: { server: 'https://other' } },
        { name: 'kgw-gw', cluster: { server: 'old' } },
      ],
      users: [{ name: 'other', user: { token: 'x' } }],
      contexts: [{ name: 'other', context: { cluster: 'other', user: 'other' } }],
      'current-context': 'other',
    };
    const merged = mergeGatewayKubeconfig(existing, {
      server: 'https://gw',
      name: 'kgw-gw',
      namespace: 'team-a',
      credential: { token: 'kgw_abc' },
    });
    expect(merged.preferences).toEqual({ colors: true });
    expect(merged.clusters?.map((c) => c.name)).toEqual(['other', 'kgw-gw']);
    expect(merged.clusters?.[1]).toEqual({ name: 'kgw-gw', cluster: { server: 'https://gw' } });
    expect(merged.users?.[1]).toEqual({ name: 'kgw-gw', user: { token: 'kgw_abc' } });
    expect(merged.contexts?.[1]).toEqual({
      name: 'kgw-gw',
      context: { cluster: 'kgw-gw', user: 'kgw-gw', namespace: 'team-a' },
    });
    expect(merged['current-context']).toBe('kgw-gw');
    expect(existing.clusters[1].cluster.server).toBe('old');
    expect(
      mergeGatewayKubeconfig(existing, { server: 'https://gw', credential: { token: 't' } }, false)[
        'current-context'
      ],
    ).toBe('other');
  });
});
