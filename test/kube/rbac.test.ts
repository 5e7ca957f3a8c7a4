import {readFileSync} from 'node:fs'
import {describe, expect, it} from 'vitest'
import {parse} from 'yaml'
import {
  DETECTION_RULES,
  MINIMAL_CLUSTER_ROLE,
  PENDING_RULES,
  REQUIRED_RULES,
  TUNNEL_RULES,
} from '../../src/kube/rbac.js'

describe('the minimal ClusterRole', () => {
  it('is valid YAML holding the required, the detection, the pending-diagnosis and the API-server path rules', () => {
    expect(parse(MINIMAL_CLUSTER_ROLE)).toEqual({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: {name: 'expose-lb-reader'},
      rules: [...REQUIRED_RULES, ...DETECTION_RULES, ...PENDING_RULES, ...TUNNEL_RULES],
    })
  })

  it('is the one the README shows', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
    expect(readme).toContain(`\`\`\`yaml\n${MINIMAL_CLUSTER_ROLE}\n\`\`\``)
  })
})
