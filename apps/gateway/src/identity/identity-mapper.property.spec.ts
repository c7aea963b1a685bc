// Property: whatever claims an identity provider signs, mapping them never throws, and an
// identity the mapper accepts can be written as impersonation headers that Node (and so the
// API server) reads back byte for byte. Finding 2 of issue #17: a name with a trailing space
// once killed the gateway on its first allowed request.
import { validateHeaderValue } from 'node:http';
import fc from 'fast-check';
import { impersonationHeaders } from '@kgw/kube';
import { callerFromClaims } from '../auth/oidc-claims';
import { IdentityMapper, parseMappingRules } from './identity-mapper';

/** Strings with the characters that break headers: controls, edge whitespace, non-ASCII. */
const hostileString = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc
    .tuple(
      fc.constantFrom('', ' ', '\t', '\r\n', '\u0000', '\u007f', 'é', '\u2028'),
      fc.string({ maxLength: 6 }),
      fc.boolean(),
    )
    .map(([edge, body, before]) => (before ? edge + body : body + edge)),
);

const claimsArbitrary = fc.record(
  {
    sub: fc.oneof(hostileString, fc.integer(), fc.constant(null)),
    email: hostileString,
    email_verified: fc.boolean(),
    groups: fc.oneof(fc.array(fc.oneof(hostileString, fc.integer()), { maxLength: 4 }), hostileString),
    department: hostileString,
  },
  { requiredKeys: [] },
);

const mappers = [
  new IdentityMapper(),
  new IdentityMapper({ usernamePrefix: 'oidc:', groupsPrefix: 'oidc:' }),
  new IdentityMapper({
    rules: parseMappingRules([
      { match: { group: 'deployers' }, serviceAccount: 'team-b/deployer' },
      { match: { claim: { name: 'department', value: 'sre' } }, addGroups: ['sre'] },
    ]),
  }),
];

describe('identity mapping under arbitrary claims (fast-check)', () => {
  it('never throws; what it accepts is writable as headers exactly', () => {
    fc.assert(
      fc.property(
        claimsArbitrary,
        fc.constantFrom('sub', 'email'),
        fc.constantFrom('-', ''),
        fc.constantFrom(...mappers),
        (claims, usernameClaim, usernamePrefix, mapper) => {
          const caller = callerFromClaims(claims, 'https://idp.example', 'jwt', {
            usernameClaim,
            groupsClaim: 'groups',
            usernamePrefix,
          });
          if (!caller.ok) return;
          const mapped = mapper.map(caller.caller);
          if (!mapped.ok) {
            expect(mapped.message).toEqual(expect.any(String));
            return;
          }
          for (const [name, value] of impersonationHeaders(mapped.identity)) {
            expect(() => validateHeaderValue(name, value)).not.toThrow();
            // HTTP (and Go's textproto) trims optional whitespace, SP and HTAB, off a value:
            // none may be there, or the API server would read another name.
            expect(value).not.toMatch(/^[ \t]|[ \t]$/);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });

  it.each([
    { attack: 'username with a trailing space', sub: 'alice ' },
    { attack: 'username with a leading tab', sub: '\talice' },
    { attack: 'username with a CR LF (header injection)', sub: 'alice\r\nImpersonate-Group: system:masters' },
    { attack: 'username with a NUL', sub: 'ali\u0000ce' },
  ])('refuses at mapping: $attack', ({ sub }) => {
    const caller = callerFromClaims({ sub }, 'https://idp.example', 'jwt', {
      usernameClaim: 'sub',
      groupsClaim: 'groups',
      usernamePrefix: '-',
    });
    expect(caller.ok).toBe(true);
    if (!caller.ok) return;
    expect(new IdentityMapper().map(caller.caller)).toMatchObject({
      ok: false,
      message: expect.stringContaining('cannot be passed to Kubernetes'),
    });
  });

  it('refuses a group with a control character', () => {
    const result = new IdentityMapper().map({ name: 'bob', groups: ['team-a\u0007'], method: 'jwt' });
    expect(result).toMatchObject({ ok: false });
  });
});
