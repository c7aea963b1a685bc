// Finding 6 (issue #17): impersonation headers read as the API server reads them
// (apiserver endpoints/filters/impersonation.go), so what the gateway authorizes is what the API
// server would have authorized for the same request.
import type * as http from 'node:http';
import type { AccessAttributes } from '@kgw/kube';
import { impersonatedIdentity, impersonationChecks, requestedImpersonation } from './requested-impersonation';

function asked(headers: Record<string, string[]>): ReturnType<typeof requestedImpersonation> {
  // Both views Node gives of the same headers: joined (headers) and one array each (headersDistinct).
  const joined = Object.fromEntries(
    Object.entries(headers).map(([name, values]) => [name, values.join(', ')]),
  );
  return requestedImpersonation({
    headers: joined,
    headersDistinct: headers,
  } as unknown as http.IncomingMessage);
}

function checks(headers: Record<string, string[]>): string[] {
  const request = asked(headers);
  if (request === undefined || 'error' in request) throw new Error('no request');
  return impersonationChecks(request).map((a: AccessAttributes) =>
    a.kind === 'resource'
      ? `${a.group}/${a.resource}${a.subresource ? `/${a.subresource}` : ''} ${a.namespace}/${a.name}`
      : a.path,
  );
}

describe('impersonation headers, as the API server reads them', () => {
  it('6d attack: an empty Impersonate-User (alone, or with an empty uid) → no impersonation at all, as there', () => {
    expect(asked({ 'impersonate-user': [''] })).toBeUndefined();
    expect(asked({ 'impersonate-user': [''], 'impersonate-uid': [''] })).toBeUndefined();
  });

  it("6e: groups, extras or uid without a user → 400 in the API server's words (fmt %v of its ObjectReferences)", () => {
    expect(
      asked({
        'impersonate-group': ['devs', 'system:masters'],
        'impersonate-extra-scopes': ['view'],
        'impersonate-uid': ['u-1'],
      }),
    ).toEqual({
      error: expect.objectContaining({
        code: 400,
        message:
          'requested [{Group  devs    } {Group  system:masters    } {UserExtra  view  authentication.k8s.io/v1  scopes} {UID  u-1  authentication.k8s.io/v1  }] without impersonating a user',
      }),
    });
  });

  it('6f: checks in the API server order (user, groups, extras, uid): the first refusal is worded for the same part', () => {
    expect(
      checks({
        'impersonate-uid': ['u-1'],
        'impersonate-extra-scopes': ['view'],
        'impersonate-group': ['devs'],
        'impersonate-user': ['carol'],
      }),
    ).toEqual([
      '/users /carol',
      '/groups /devs',
      'authentication.k8s.io/userextras/scopes /view',
      'authentication.k8s.io/uids /u-1',
    ]);
  });

  it.each([
    // serviceaccount.SplitUsername: a DNS-1123 label and subdomain, else a plain user.
    { user: 'system:serviceaccount:team-b:deployer', check: '/serviceaccounts team-b/deployer' },
    { user: 'system:serviceaccount:Team-B:deployer', check: '/users /system:serviceaccount:Team-B:deployer' },
    { user: 'system:serviceaccount:team-b:a:b', check: '/users /system:serviceaccount:team-b:a:b' },
    { user: 'system:serviceaccount::deployer', check: '/users /system:serviceaccount::deployer' },
    { user: 'system:serviceaccount:team-b:bad_name', check: '/users /system:serviceaccount:team-b:bad_name' },
  ])('6g attack: Impersonate-User $user → checked as $check', ({ user, check }) => {
    expect(checks({ 'impersonate-user': [user] })).toEqual([check]);
  });

  it('a service account impersonated without groups gets its fixed groups; an invalid one none', () => {
    const caller = { username: 'alice', groups: [] };
    const valid = asked({ 'impersonate-user': ['system:serviceaccount:team-b:deployer'] });
    const invalid = asked({ 'impersonate-user': ['system:serviceaccount:Team-B:deployer'] });
    if (!valid || 'error' in valid || !invalid || 'error' in invalid) throw new Error('no request');
    expect(impersonatedIdentity(valid, caller).groups).toEqual([
      'system:serviceaccounts',
      'system:serviceaccounts:team-b',
    ]);
    expect(impersonatedIdentity(invalid, caller).groups).toEqual([]);
  });

  it.each([
    // Lowercased first, then unescaped: %41 stays "A" (the API server's key), not "a".
    { header: 'impersonate-extra-kgw.io%2ftoken-id', key: 'kgw.io/token-id' },
    { header: 'impersonate-extra-%41bc', key: 'Abc' },
    // Malformed escaping: the key as it is.
    { header: 'impersonate-extra-a%zz', key: 'a%zz' },
  ])('6h: extra key of $header → $key', ({ header, key }) => {
    const request = asked({ 'impersonate-user': ['bob'], [header]: ['v'] });
    if (!request || 'error' in request) throw new Error('no request');
    expect(Object.keys(request.extra)).toEqual([key]);
  });
});
