import { callerFromClaims } from './oidc-claims';

describe('callerFromClaims: usernames as kube-apiserver prefixes them', () => {
  const mapping = { usernameClaim: 'sub', groupsClaim: 'groups' };
  const A = 'https://idp-a.example';
  const B = 'https://idp-b.example';

  it('attack: equal `sub` from two configured issuers → two different users (issuer#sub)', () => {
    const a = callerFromClaims({ sub: '1' }, A, 'jwt', mapping);
    const b = callerFromClaims({ sub: '1' }, B, 'jwt', mapping);
    expect(a).toMatchObject({ ok: true, caller: { name: `${A}#1` } });
    expect(b).toMatchObject({ ok: true, caller: { name: `${B}#1` } });
  });

  it.each([
    { prefix: '-', claims: { sub: 'alice' }, name: 'alice' },
    { prefix: 'oidc:', claims: { sub: 'alice' }, name: 'oidc:alice' },
    { prefix: '', claims: { sub: 'alice' }, name: `${A}#alice` },
  ])('prefix "$prefix" → $name', ({ prefix, claims, name }) => {
    expect(callerFromClaims(claims, A, 'session', { ...mapping, usernamePrefix: prefix })).toMatchObject({
      ok: true,
      caller: { name },
    });
  });

  it('a verified email needs no issuer prefix (like kube-apiserver)', () => {
    const result = callerFromClaims({ sub: '1', email: 'a@x.example', email_verified: true }, A, 'jwt', {
      usernameClaim: 'email',
      groupsClaim: 'groups',
    });
    expect(result).toMatchObject({ ok: true, caller: { name: 'a@x.example', uid: `${A}#1` } });
  });
});
