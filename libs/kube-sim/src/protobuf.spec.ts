import {
  decodeKubernetesProtobuf,
  decodeKubernetesProtobufObject,
  encodeEnvelope,
  encodeField,
  ProtobufDecodeError,
} from './protobuf';

const msg = (...parts: Buffer[]): Buffer => Buffer.concat(parts);

describe('protobuf review decoding', () => {
  it('decodes a SelfSubjectAccessReview as kubectl auth can-i sends it', () => {
    const attrs = msg(encodeField(1, 'team-a'), encodeField(2, 'list'), encodeField(5, 'pods'));
    const raw = msg(
      encodeField(1, Buffer.alloc(0)),
      encodeField(2, encodeField(1, attrs)),
      encodeField(3, Buffer.alloc(0)),
    );
    expect(
      decodeKubernetesProtobuf(encodeEnvelope('authorization.k8s.io/v1', 'SelfSubjectAccessReview', raw)),
    ).toEqual({
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectAccessReview',
      metadata: {},
      spec: { resourceAttributes: { namespace: 'team-a', verb: 'list', resource: 'pods' } },
    });
  });

  it('decodes non-resource attributes, SAR subjects, rules reviews and token requests', () => {
    const nonResource = msg(
      encodeField(2, msg(encodeField(1, '/healthz'), encodeField(2, 'get'))),
      encodeField(3, 'carol'),
      encodeField(4, 'g1'),
      encodeField(4, 'g2'),
    );
    expect(
      decodeKubernetesProtobuf(
        encodeEnvelope('authorization.k8s.io/v1', 'SubjectAccessReview', encodeField(2, nonResource)),
      ).spec,
    ).toEqual({
      nonResourceAttributes: { path: '/healthz', verb: 'get' },
      user: 'carol',
      groups: ['g1', 'g2'],
    });
    expect(
      decodeKubernetesProtobuf(
        encodeEnvelope(
          'authorization.k8s.io/v1',
          'SelfSubjectRulesReview',
          encodeField(2, encodeField(1, 'team-b')),
        ),
      ).spec,
    ).toEqual({ namespace: 'team-b' });
    const token = msg(encodeField(1, 'aud-1'), encodeField(1, 'aud-2'), encodeField(4, 7200));
    expect(
      decodeKubernetesProtobuf(
        encodeEnvelope(
          'authentication.k8s.io/v1',
          'TokenRequest',
          msg(encodeField(1, encodeField(1, 'deployer')), encodeField(2, token)),
        ),
      ),
    ).toEqual({
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      metadata: { name: 'deployer' },
      spec: { audiences: ['aud-1', 'aud-2'], expirationSeconds: 7200 },
    });
    // As kubectl create token kgw --bound-object-kind=Secret --bound-object-name=s1 sends it.
    const bound = msg(
      encodeField(
        3,
        msg(encodeField(1, 'Secret'), encodeField(2, 'v1'), encodeField(3, 's1'), encodeField(4, '')),
      ),
      encodeField(4, 1200),
    );
    expect(
      decodeKubernetesProtobuf(
        encodeEnvelope('authentication.k8s.io/v1', 'TokenRequest', encodeField(2, bound)),
      ).spec,
    ).toEqual({ boundObjectRef: { kind: 'Secret', apiVersion: 'v1', name: 's1' }, expirationSeconds: 1200 });
  });

  it('decodes a Deployment as kubectl create deployment sends it', () => {
    const labels = encodeField(11, msg(encodeField(1, 'app'), encodeField(2, 'hello')));
    const container = msg(
      encodeField(1, 'nginx'),
      encodeField(2, 'nginx'),
      encodeField(6, encodeField(3, 8080)),
      encodeField(8, Buffer.alloc(0)),
    );
    const template = msg(encodeField(1, labels), encodeField(2, encodeField(2, container)));
    const spec = msg(
      encodeField(1, 1),
      encodeField(2, encodeField(1, msg(encodeField(1, 'app'), encodeField(2, 'hello')))),
      encodeField(3, template),
      encodeField(4, Buffer.alloc(0)),
    );
    const raw = msg(encodeField(1, msg(encodeField(1, 'hello'), labels)), encodeField(2, spec));
    expect(decodeKubernetesProtobufObject(encodeEnvelope('apps/v1', 'Deployment', raw))).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'hello', labels: { app: 'hello' } },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'hello' } },
        strategy: {},
        template: {
          metadata: { labels: { app: 'hello' } },
          spec: {
            containers: [{ name: 'nginx', image: 'nginx', ports: [{ containerPort: 8080 }], resources: {} }],
          },
        },
      },
    });
  });

  it('refuses bodies without the k8s magic or truncated ones', () => {
    expect(() => decodeKubernetesProtobuf(Buffer.from('{"kind":"x"}'))).toThrow(ProtobufDecodeError);
    const good = encodeEnvelope(
      'authorization.k8s.io/v1',
      'SelfSubjectAccessReview',
      encodeField(2, encodeField(1, encodeField(2, 'get'))),
    );
    expect(() => decodeKubernetesProtobuf(good.subarray(0, good.length - 2))).toThrow(ProtobufDecodeError);
  });
});
