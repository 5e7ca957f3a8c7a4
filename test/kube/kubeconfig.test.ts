import {mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {delimiter, join} from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'
import {ExposeLbError} from '../../src/errors.js'
import {loadKubeConfig} from '../../src/kube/kubeconfig.js'

let dir: string
afterEach(() => rmSync(dir, {recursive: true, force: true}))

/** A kubeconfig file with the given contexts, each on its own cluster and user of the same name. */
function kubeconfig(name: string, contexts: Array<{name: string; server: string}>, current?: string): string {
  dir ??= mkdtempSync(join(tmpdir(), 'kc-'))
  const file = join(dir, name)
  const yaml = [
    'apiVersion: v1',
    'kind: Config',
    ...(current ? [`current-context: ${current}`] : []),
    'clusters:',
    ...contexts.map((c) => `- name: ${c.name}\n  cluster:\n    server: ${c.server}`),
    'users:',
    ...contexts.map((c) => `- name: ${c.name}\n  user:\n    token: t-${c.name}`),
    'contexts:',
    ...contexts.map((c) => `- name: ${c.name}\n  context:\n    cluster: ${c.name}\n    user: ${c.name}`),
  ].join('\n')
  writeFileSync(file, yaml)
  return file
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (error) {
    return error instanceof ExposeLbError ? `${error.code}: ${error.message}` : `not ExposeLbError: ${String(error)}`
  }
  return undefined
}

describe('loadKubeConfig', () => {
  it('merges KUBECONFIG files by kubectl rules: the first file that sets a value wins, missing files are skipped', () => {
    dir = mkdtempSync(join(tmpdir(), 'kc-'))
    const a = kubeconfig(
      'a',
      [
        {name: 'shared', server: 'https://a.example:6443'},
        {name: 'only-a', server: 'https://only-a:6443'},
      ],
      'only-a',
    )
    const c = kubeconfig(
      'c',
      [
        {name: 'shared', server: 'https://c.example:6443'},
        {name: 'only-c', server: 'https://only-c:6443'},
      ],
      'only-c',
    )
    const env = {KUBECONFIG: [a, join(dir, 'missing'), c].join(delimiter), HOME: dir}
    expect(loadKubeConfig({env})).toMatchObject({context: 'only-a', server: 'https://only-a:6443'})
    expect(loadKubeConfig({env, context: 'shared'})).toMatchObject({
      context: 'shared',
      server: 'https://a.example:6443',
    })
    expect(loadKubeConfig({env, context: 'only-c'})).toMatchObject({context: 'only-c', server: 'https://only-c:6443'})
  })

  it('takes current-context from a later file when the first sets none', () => {
    dir = mkdtempSync(join(tmpdir(), 'kc-'))
    const a = kubeconfig('a', [{name: 'a', server: 'https://a:6443'}])
    const b = kubeconfig('b', [{name: 'b', server: 'https://b:6443'}], 'b')
    expect(loadKubeConfig({env: {KUBECONFIG: `${a}${delimiter}${b}`}})).toMatchObject({context: 'b'})
  })

  it('--kubeconfig wins over KUBECONFIG, and ~/.kube/config is the default', () => {
    dir = mkdtempSync(join(tmpdir(), 'kc-'))
    const a = kubeconfig('a', [{name: 'a', server: 'https://a:6443'}], 'a')
    const b = kubeconfig('b', [{name: 'b', server: 'https://b:6443'}], 'b')
    expect(loadKubeConfig({kubeconfig: b, env: {KUBECONFIG: a}})).toMatchObject({context: 'b'})
    const home = join(dir, 'home')
    mkdirSync(join(home, '.kube'), {recursive: true})
    writeFileSync(join(home, '.kube', 'config'), readFileSync(a, 'utf8'))
    expect(loadKubeConfig({env: {HOME: home}})).toMatchObject({context: 'a', server: 'https://a:6443'})
  })

  it('allows plain http:// servers (kubectl proxy) without skipTLSVerify', () => {
    dir = mkdtempSync(join(tmpdir(), 'kc-'))
    const a = kubeconfig('a', [{name: 'proxy', server: 'http://127.0.0.1:8001'}], 'proxy')
    expect(loadKubeConfig({kubeconfig: a}).kc.getCurrentCluster()).toMatchObject({
      server: 'http://127.0.0.1:8001',
      skipTLSVerify: true,
    })
  })

  it.each<[string, () => {kubeconfig?: string; context?: string; env: NodeJS.ProcessEnv}, string]>([
    [
      'no kubeconfig anywhere and not in a cluster',
      () => ({env: {HOME: dir, KUBECONFIG: join(dir, 'nope')}}),
      'noKubeconfig: no kubeconfig found',
    ],
    [
      'a --kubeconfig path that does not exist',
      () => ({kubeconfig: join(dir, 'nope'), env: {}}),
      'noKubeconfig: kubeconfig',
    ],
    [
      'a kubeconfig that is not YAML',
      () => {
        writeFileSync(join(dir, 'bad'), ': : :\n\t- [')
        return {kubeconfig: join(dir, 'bad'), env: {}}
      },
      'noKubeconfig: cannot read kubeconfig',
    ],
    [
      'an unknown --context',
      () => ({kubeconfig: kubeconfig('a', [{name: 'a', server: 'https://a:6443'}], 'a'), context: 'prod', env: {}}),
      'unknownContext: context "prod" not found in kubeconfig',
    ],
    [
      'no current-context and no --context',
      () => ({kubeconfig: kubeconfig('a', [{name: 'a', server: 'https://a:6443'}]), env: {}}),
      'unknownContext: kubeconfig',
    ],
  ])('fails clearly with %s', (_name, input, expected) => {
    dir = mkdtempSync(join(tmpdir(), 'kc-'))
    const message = codeOf(() => loadKubeConfig(input()))
    expect(message?.startsWith(expected)).toBe(true)
    expect(message).not.toContain('\n')
  })

  it('falls back to the in-cluster service account when no kubeconfig exists', () => {
    dir = mkdtempSync(join(tmpdir(), 'kc-'))
    const sa = join(dir, 'var/run/secrets/kubernetes.io/serviceaccount')
    mkdirSync(sa, {recursive: true})
    for (const f of ['token', 'ca.crt', 'namespace']) writeFileSync(join(sa, f), f === 'namespace' ? 'default' : 'x')
    const env = {KUBERNETES_SERVICE_HOST: '10.43.0.1', KUBERNETES_SERVICE_PORT: '443', HOME: dir}
    const saved = {host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT}
    Object.assign(process.env, env) // client-node reads the host and port from process.env itself
    try {
      expect(loadKubeConfig({env, serviceAccountRoot: dir})).toMatchObject({
        context: 'in-cluster',
        server: 'https://10.43.0.1:443',
      })
    } finally {
      for (const [k, v] of [
        ['KUBERNETES_SERVICE_HOST', saved.host],
        ['KUBERNETES_SERVICE_PORT', saved.port],
      ] as const) {
        if (v === undefined) delete process.env[k]
        else process.env[k] = v
      }
    }
  })

  it('names the available contexts when the one asked for is missing', () => {
    dir = mkdtempSync(join(tmpdir(), 'kc-'))
    const file = kubeconfig(
      'a',
      [
        {name: 'home', server: 'https://a:6443'},
        {name: 'lab', server: 'https://b:6443'},
      ],
      'home',
    )
    expect(codeOf(() => loadKubeConfig({kubeconfig: file, context: 'prod', env: {}}))).toContain('available: home, lab')
  })
})

describe('loadKubeConfig: files the kubeconfig names, and what a user can get wrong', () => {
  /** A one-context kubeconfig in a fresh folder, with the given cluster and user fields. */
  function single(cluster: string[], user: string[]): string {
    dir = mkdtempSync(join(tmpdir(), 'kc-'))
    const file = join(dir, 'config')
    const indent = (lines: string[]) => lines.map((l) => `    ${l}`).join('\n')
    writeFileSync(
      file,
      [
        'apiVersion: v1',
        'kind: Config',
        'current-context: lab',
        'clusters:',
        '- name: lab',
        '  cluster:',
        indent(cluster),
        'users:',
        '- name: me',
        '  user:',
        indent(user.length ? user : ['username: nobody']),
        'contexts:',
        '- name: lab',
        '  context: {cluster: lab, user: me}',
      ].join('\n'),
    )
    return file
  }

  it('reads token-file relative to the kubeconfig, without its newline, and again when it changes', () => {
    const file = single(['server: https://lab:6443'], ['token-file: secrets/token'])
    mkdirSync(join(dir, 'secrets'))
    writeFileSync(join(dir, 'secrets', 'token'), 'first-token\n')
    const {kc} = loadKubeConfig({kubeconfig: file})
    expect(kc.getCurrentUser()?.token).toBe('first-token')
    writeFileSync(join(dir, 'secrets', 'token'), 'rotated-token-after-an-hour\n')
    expect(kc.getCurrentUser()?.token).toBe('rotated-token-after-an-hour')
  })

  it.each<[string, string[], string[], RegExp]>([
    [
      'a missing token-file',
      ['server: https://lab:6443'],
      ['token-file: gone/token'],
      /^noKubeconfig: kubeconfig .*\/config: user "me" names token-file .*\/gone\/token, which does not exist; fix the path, or embed the file as token$/,
    ],
    [
      'a missing client-certificate',
      ['server: https://lab:6443'],
      ['client-certificate: me.crt', 'client-key-data: a2V5'],
      /^noKubeconfig: kubeconfig .*\/config: user "me" names client-certificate .*\/me\.crt, which does not exist; fix the path, or embed the file as client-certificate-data$/,
    ],
    [
      'a missing certificate-authority',
      ['server: https://lab:6443', 'certificate-authority: /nonexistent/ca.crt'],
      [],
      /^noKubeconfig: kubeconfig .*\/config: cluster "lab" names certificate-authority \/nonexistent\/ca\.crt, which does not exist; fix the path, or embed the file as certificate-authority-data$/,
    ],
    [
      'a server without a scheme',
      ['server: 192.168.1.10:6443'],
      [],
      /^noKubeconfig: context "lab" in kubeconfig .*\/config has server "192\.168\.1\.10:6443", which is not an http\(s\) URL; it lacks the scheme: write https:\/\/192\.168\.1\.10:6443$/,
    ],
    [
      'an unparsable server',
      ['server: "https://[lab"'],
      [],
      /^noKubeconfig: context "lab" in kubeconfig .*\/config has server "https:\/\/\[lab", which is not an http\(s\) URL; write it as https:\/\/<host>:<port>$/,
    ],
  ])('%s is one config error naming the path (exit 3)', (_case, cluster, user, message) => {
    const file = single(cluster, user)
    expect(codeOf(() => loadKubeConfig({kubeconfig: file}))).toMatch(message)
  })

  it('an empty kubeconfig is one config error naming the file', () => {
    dir = mkdtempSync(join(tmpdir(), 'kc-'))
    const file = join(dir, 'config')
    writeFileSync(file, '\n')
    expect(codeOf(() => loadKubeConfig({kubeconfig: file}))).toBe(
      `noKubeconfig: kubeconfig ${file} is empty; fill it (e.g. copy the cluster's admin kubeconfig) or point --kubeconfig elsewhere`,
    )
  })
})
