// The simulator's PKI, generated at every start: a CA, a serving certificate for 127.0.0.1 and
// localhost, and client certificates (CN = user, O = groups) the CA signs for x509 authentication.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { webcrypto } from 'node:crypto';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKeyPair = webcrypto.CryptoKeyPair;
type CryptoKey = webcrypto.CryptoKey;

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export interface KeyAndCert {
  certPem: string;
  keyPem: string;
}

export interface SimulatorPki {
  ca: KeyAndCert;
  serving: KeyAndCert;
  issueClientCertificate(user: string, groups: string[]): Promise<KeyAndCert>;
}

async function keyPair(): Promise<CryptoKeyPair> {
  return await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  const b64 = der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN PRIVATE KEY-----\n${b64}\n-----END PRIVATE KEY-----\n`;
}

function serial(): string {
  return Buffer.from(webcrypto.getRandomValues(new Uint8Array(12)))
    .toString('hex')
    .replace(/^[89a-f]/, '1');
}

/** X.500 names escape `,`, `+`, `=` and friends with a backslash. */
function escapeRdn(value: string): string {
  return value.replace(/([,+"\\<>;=])/g, '\\$1');
}

export async function createPki(
  hostnames: string[] = ['localhost'],
  ips: string[] = ['127.0.0.1'],
): Promise<SimulatorPki> {
  const notBefore = new Date(Date.now() - 60_000);
  const notAfter = new Date(Date.now() + 365 * 24 * 3600_000);
  const caKeys = await keyPair();
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: 'CN=kube-sim-ca',
    notBefore,
    notAfter,
    signingAlgorithm: ALG,
    keys: caKeys as never,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });

  async function issue(
    subject: string,
    usage: 'server' | 'client',
    san: x509.JsonGeneralNames,
  ): Promise<KeyAndCert> {
    const keys = await keyPair();
    const extensions: x509.Extension[] = [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
        true,
      ),
      new x509.ExtendedKeyUsageExtension([
        usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth,
      ]),
      await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey as never),
    ];
    if (san.length) extensions.push(new x509.SubjectAlternativeNameExtension(san));
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject,
      issuer: caCert.subject,
      notBefore,
      notAfter,
      signingAlgorithm: ALG,
      publicKey: keys.publicKey as never,
      signingKey: caKeys.privateKey as never,
      extensions,
    });
    return { certPem: cert.toString('pem') + '\n', keyPem: await privateKeyPem(keys.privateKey) };
  }

  const serving = await issue('CN=kube-apiserver', 'server', [
    ...hostnames.map((h) => ({ type: 'dns' as const, value: h })),
    ...ips.map((ip) => ({ type: 'ip' as const, value: ip })),
  ]);
  return {
    ca: { certPem: caCert.toString('pem') + '\n', keyPem: await privateKeyPem(caKeys.privateKey) },
    serving,
    issueClientCertificate: (user, groups) =>
      issue([`CN=${escapeRdn(user)}`, ...groups.map((g) => `O=${escapeRdn(g)}`)].join(', '), 'client', []),
  };
}
