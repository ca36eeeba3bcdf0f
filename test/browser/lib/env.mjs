// The environment test/e2e/browser_test.go hands to these tests.
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

function need(name) {
  const v = process.env[name]
  if (!v) throw new Error(`${name} is not set: run these tests through go test ./test/e2e -run TestBrowser`)
  return v
}

export const env = {
  get bin() { return need('TUSIMG_BIN') }, // the tusimg server binary
  get bigPNG() { return need('TUSIMG_BIG_PNG') }, // a few-MB noisy PNG
  chromium: process.env.CHROMIUM || '/usr/bin/chromium',
  testdata: process.env.TUSIMG_TESTDATA || path.join(repo, 'testdata'),
  artifacts: process.env.TUSIMG_ARTIFACTS || path.join(repo, 'test', 'artifacts'),
}
