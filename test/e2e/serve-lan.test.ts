// LAN mode through two network namespaces joined by a veth pair, made inside the test (`unshare -rn`: a user and
// network namespace of our own, so nothing outside it sees the addresses or the fixed ports). One namespace is the
// workstation running `serve --demo` on a LAN address or on every address; the other is a machine on its LAN.
// The LAN machine resolves names to the advertised address and reaches a Service through the Host router; the
// workstation itself still gets its loopback per-service addresses. The LAN's and the workstation's A queries are
// the same octets but for the ID (+nocookie), so a reply kept for one zone cannot be handed to the other's client.
import {execFile} from 'node:child_process'
import {delimiter, dirname} from 'node:path'
import {describe, expect, it} from 'vitest'
import {BIN_DIR, scratchDir} from './helpers.js'

const SCRIPT = String.raw`
set -eu
ip link set lo up
ip link add veth0 type veth peer name veth1
unshare -n --fork --kill-child sleep 60 </dev/null >/dev/null 2>&1 & lan=$!
for _ in $(seq 50); do [ "$(readlink /proc/$lan/ns/net)" != "$(readlink /proc/self/ns/net)" ] && break; sleep 0.05; done
ip link set veth1 netns "$lan"
ip addr add 10.99.0.1/24 dev veth0
ip link set veth0 up
nsenter -t "$lan" -n sh -c 'ip link set lo up; ip addr add 10.99.0.2/24 dev veth1; ip link set veth1 up'
kubectl expose-lb serve --demo $LISTEN --dns-port 5353 --http-port 8081 \
  --ip-range 127.77.0.0/16 </dev/null >/dev/null 2>serve.err & serve=$!
for _ in $(seq 200); do grep -q '^serving ' serve.err && break; sleep 0.1; done
on_lan() { nsenter -t "$lan" -n "$@"; }
echo "lan-a=$(on_lan dig @10.99.0.1 -p 5353 +nocookie +short radarr.kube.internal A | tr '\n' ' ')"
echo "lan-a-tcp=$(on_lan dig @10.99.0.1 -p 5353 +tcp +short radarr.kube.internal A | tr '\n' ' ')"
echo "lan-srv=$(on_lan dig @10.99.0.1 -p 5353 +short _mqtt._tcp.mosquitto.iot.kube.internal SRV | tr '\n' ' ')"
echo "local-a=$(dig @10.99.0.1 -p 5353 +nocookie +short radarr.kube.internal A | tr '\n' ' ')"
echo "lan-http=$(on_lan curl -s -o /dev/null -w '%{http_code} %header{x-served-by}' \
  --resolve radarr.kube.internal:8081:10.99.0.1 http://radarr.kube.internal:8081/)"
kill -TERM "$serve"; wait "$serve" || true
echo "serve-warnings=$(grep -c '^warning:' serve.err || true)"
kill "$lan"
`

function runInNamespaces(listen: string): Promise<{code: number; stdout: string; stderr: string}> {
  return new Promise((resolve) => {
    execFile(
      'unshare',
      ['-rn', '--fork', 'bash', '--norc', '--noprofile', '-c', SCRIPT],
      {
        cwd: scratchDir(),
        env: {
          PATH: [BIN_DIR, dirname(process.execPath), process.env.PATH].join(delimiter),
          XDG_RUNTIME_DIR: scratchDir(),
          NO_COLOR: '1',
          LISTEN: listen,
        },
        timeout: 60_000,
      },
      (error, stdout, stderr) => resolve({code: error ? Number(error.code ?? 1) : 0, stdout, stderr}),
    )
  })
}

describe('serve on a LAN', () => {
  it.each(['--listen 0.0.0.0 --advertise 10.99.0.1', '--listen 10.99.0.1'])(
    '%s: a machine on the LAN resolves the advertised address and reaches the Service; this one keeps loopback',
    async (listen) => {
      const run = await runInNamespaces(listen)
      const got = Object.fromEntries(
        run.stdout
          .trim()
          .split('\n')
          .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1).trim()]),
      )
      expect({code: run.code, ...got}, run.stderr).toEqual({
        code: 0,
        'lan-a': '10.99.0.1',
        'lan-a-tcp': '10.99.0.1',
        // MQTT is a per-service TCP port, on loopback only: no SRV record sends a LAN machine there.
        'lan-srv': '',
        'local-a': expect.stringMatching(/^127\.77\.\d+\.\d+$/),
        'lan-http': expect.stringMatching(/^200 node-[a-c]$/),
        // Only the one about --listen: per-service HTTP listeners are left to the router bound to every address.
        'serve-warnings': '1',
      })
    },
    70_000,
  )
})
