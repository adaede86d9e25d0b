import neostandard from 'neostandard'

export default [
  ...neostandard({
    ts: true,
    ignores: ['dist/**', 'node_modules/**', '.tap/**', 'coverage/**']
  }),
  {
    // The scanner is black-box: it speaks HTTP to a deployment and knows nothing of the
    // server's plugins, routes or stores (DESIGN.md, "A layout to follow").
    files: ['src/scanner/**/*.ts', 'src/cli/security.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['**/plugins/**', '**/routes/**', '**/storage/**', '**/app.js', '**/config.js', 'fastify', 'ioredis'], message: 'the scanner is black-box: HTTP only' }
        ]
      }]
    }
  }
]
