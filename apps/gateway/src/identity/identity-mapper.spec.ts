import type { AuthenticatedCaller } from './caller';
import { IdentityMapper, MappingRuleError, parseMappingRules } from './identity-mapper';

const caller = (
  name: string,
  groups: string[],
  claims: Record<string, unknown> = {},
): AuthenticatedCaller => ({ name, groups, method: 'jwt', claims });

describe('IdentityMapper with rules', () => {
  const mapper = new IdentityMapper({
    usernamePrefix: 'oidc:',
    groupsPrefix: 'oidc:',
    rules: parseMappingRules([
      { match: { group: 'deployers' }, serviceAccount: 'team-b/deployer' },
      { match: { claim: { name: 'department', value: 'sre' } }, addGroups: ['sre'] },
      { match: { group: 'system:break-glass' }, addGroups: ['break-glass'] },
    ]),
  });

  it('maps a group to a service account, keeping who really called', () => {
    const result = mapper.map(caller('erin', ['deployers', 'system:masters']));
    expect(result).toEqual({
      ok: true,
      identity: {
        username: 'system:serviceaccount:team-b:deployer',
        groups: ['system:serviceaccounts', 'system:serviceaccounts:team-b'],
        extra: { 'kgw.io/auth-method': ['jwt'], 'kgw.io/user': ['erin'] },
        serviceAccount: 'system:serviceaccount:team-b:deployer',
      },
    });
  });

  it('marks a token-request service account, so the chain sends its token instead of impersonating', () => {
    const tokenMapper = new IdentityMapper({
      rules: parseMappingRules([
        {
          match: { group: 'deployers' },
          serviceAccount: 'team-b/deployer',
          serviceAccountMode: 'token-request',
        },
      ]),
    });
    const result = tokenMapper.map(caller('erin', ['deployers']));
    expect(result).toMatchObject({
      ok: true,
      identity: {
        username: 'system:serviceaccount:team-b:deployer',
        serviceAccount: 'system:serviceaccount:team-b:deployer',
        tokenRequest: { namespace: 'team-b', name: 'deployer' },
      },
    });
    // The default mode stays impersonation.
    const plainResult = mapper.map(caller('erin', ['deployers']));
    expect(plainResult.ok && plainResult.identity.tokenRequest).toBeUndefined();
  });

  it('adds groups by claim, unprefixed', () => {
    const result = mapper.map(caller('sam', ['dev'], { department: 'sre' }));
    expect(result.ok && result.identity.groups).toEqual(['oidc:dev', 'sre']);
  });

  it('prefixes names, so an IdP "system:admin" is not the API server\'s', () => {
    const result = mapper.map(caller('system:admin', []));
    expect(result.ok && result.identity.username).toBe('oidc:system:admin');
  });

  it('without prefixes refuses system: users and groups unless a rule names them', () => {
    const plain = new IdentityMapper({
      rules: parseMappingRules([{ match: { group: 'system:break-glass' }, addGroups: ['break-glass'] }]),
    });
    expect(plain.map(caller('system:admin', []))).toMatchObject({ ok: false });
    expect(plain.map(caller('trudy', ['system:masters']))).toMatchObject({
      ok: false,
      message: expect.stringMatching(/system:masters/),
    });
    const named = plain.map(caller('ops', ['system:break-glass']));
    expect(named.ok && named.identity.groups).toEqual(['break-glass']);
  });

  it.each([
    { why: 'not an array', value: { match: {} } },
    { why: 'a rule matching everyone', value: [{ match: {}, addGroups: ['x'] }] },
    { why: 'a rule doing nothing', value: [{ match: { user: 'a' } }] },
    { why: 'a bad service account', value: [{ match: { user: 'a' }, serviceAccount: 'nope' }] },
    {
      why: 'an unsupported mode',
      value: [{ match: { user: 'a' }, serviceAccount: 'a/b', serviceAccountMode: 'exec-plugin' }],
    },
    {
      why: 'a mode without a service account',
      value: [{ match: { user: 'a' }, addGroups: ['x'], serviceAccountMode: 'token-request' }],
    },
  ])('refuses rules that are $why', ({ value }) => {
    expect(() => parseMappingRules(value)).toThrow(MappingRuleError);
  });
});
