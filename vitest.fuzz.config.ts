import {defineConfig} from 'vitest/config'

// npm run test:fuzz — long-running robustness tests, kept out of npm test; .ci/run runs both.
export default defineConfig({
  test: {
    environment: 'node',
    include: ['test/fuzz/**/*.fuzz.ts'],
    disableConsoleIntercept: true,
    pool: 'forks',
    execArgv: ['--expose-gc'],
    maxWorkers: 1,
    testTimeout: 300_000,
  },
})
