// Launches Debian's chromium headless through playwright-core, with the
// flags that keep it off the network except for 127.0.0.1.
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { chromium } from 'playwright-core'
import { env } from './env.mjs'

const args = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--disable-default-apps', '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', '--disable-extensions', '--metrics-recording-only', '--mute-audio',
]

// openBrowser returns {context, close}: a persistent context in a fresh
// profile directory, so localStorage (tus fingerprints) starts empty.
export async function openBrowser({ viewport = { width: 1280, height: 900 } } = {}) {
  const profile = await mkdtemp(path.join(os.tmpdir(), 'tusimg-chromium-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: env.chromium,
    headless: true,
    args,
    viewport,
    timeout: 30_000,
  })
  context.setDefaultTimeout(20_000)
  return {
    context,
    async close() {
      await context.close().catch(() => {})
      await rm(profile, { recursive: true, force: true })
    },
  }
}

// watchPage collects what must not happen on the page: uncaught errors,
// Content-Security-Policy violations, and requests to any origin but the
// server's. Other console errors (a rejected upload logs some) go to log.
export function watchPage(page, origin) {
  const problems = []
  const log = []
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`))
  page.on('console', (msg) => {
    const text = msg.text()
    if (/Content.Security.Policy/i.test(text)) problems.push(`CSP: ${text}`)
    else if (msg.type() === 'error' || msg.type() === 'warning') log.push(`${msg.type()}: ${text}`)
  })
  page.on('request', (req) => {
    const url = req.url()
    if (!url.startsWith(origin + '/') && !/^(blob|data):/.test(url)) problems.push(`request to another origin: ${url}`)
  })
  return { problems, log }
}
