import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isBrowserAtRoot, WebUiFiles } from './web-ui-files';

describe('WebUiFiles', () => {
  let parent: string;
  let dir: string;
  let files: WebUiFiles;
  beforeAll(() => {
    // parent/web is the build; parent/kgw-web-secret.txt sits right beside it.
    parent = mkdtempSync(join(tmpdir(), 'kgw-web-'));
    dir = join(parent, 'web');
    mkdirSync(join(dir, 'assets'), { recursive: true });
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>app</title>');
    writeFileSync(join(dir, 'assets', 'index-abc123.js'), 'console.log(1)');
    writeFileSync(join(parent, 'kgw-web-secret.txt'), 'secret');
    files = WebUiFiles.load(dir);
  });
  afterAll(() => {
    rmSync(parent, { recursive: true, force: true });
  });

  it('serves built files by exact name, hashed assets as immutable', () => {
    expect(files.resolve('assets/index-abc123.js')).toMatchObject({
      contentType: 'text/javascript; charset=utf-8',
      immutable: true,
    });
    expect(files.resolve('index.html')?.immutable).toBe(false);
  });

  it('answers any page route with the app', () => {
    for (const route of ['', 'whoami', 'cluster/default/pods/nginx/logs'])
      expect(files.resolve(route)?.body.toString()).toContain('<title>app</title>');
  });

  it.each([
    ['a file outside the build by traversal', '../kgw-web-secret.txt'],
    ['an encoded traversal', '..%2fkgw-web-secret.txt'],
    ['a missing asset (HTML served as script)', 'assets/index-old.js'],
    ['a missing asset without extension', 'assets/chunk'],
    ['a file name that is not in the build', 'package.json'],
  ])('refuses %s', (_attack, path) => {
    expect(files.resolve(path)).toBeUndefined();
  });

  it('knows when there is no build', () => {
    expect(WebUiFiles.load(join(dir, 'nope')).built).toBe(false);
  });
});

describe('isBrowserAtRoot', () => {
  const req = (method: string, url: string, accept?: string): IncomingMessage =>
    ({ method, url, headers: accept ? { accept } : {} }) as IncomingMessage;
  it.each([
    ['a browser opening the gateway URL', req('GET', '/', 'text/html,application/xhtml+xml,*/*;q=0.8'), true],
    ['a browser with a query', req('GET', '/?x=1', 'text/html'), true],
    ['kubectl asking for discovery', req('GET', '/', 'application/json, */*'), false],
    ['curl with no Accept', req('GET', '/'), false],
    ['curl -H Accept: */*', req('GET', '/', '*/*'), false],
    ['a POST to / (never redirected)', req('POST', '/', 'text/html'), false],
    ['another path', req('GET', '/api', 'text/html'), false],
    ['a look-alike media type', req('GET', '/', 'text/htmlx'), false],
  ])('%s', (_case, request, expected) => {
    expect(isBrowserAtRoot(request)).toBe(expected);
  });
});
