// Resume: a large upload is cut half-way, by killing the server (started
// again on the same port and data directory) or by reloading the page (the
// person adds the same file again). Uppy continues the same tus upload from
// the server's offset instead of sending the file again.
import assert from 'node:assert/strict'
import { readFile, stat } from 'node:fs/promises'
import { after, before, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { openBrowser, watchPage } from './lib/browser.mjs'
import { env } from './lib/env.mjs'
import { addFiles, openUploader, resultCard, sha256, startUpload } from './lib/page.mjs'
import { Proxy } from './lib/proxy.mjs'
import { Server } from './lib/server.mjs'

let server
let browser
const proxies = []

before(async () => {
  server = await Server.create()
  await server.start()
  browser = await openBrowser()
})

after(async () => {
  await browser?.close()
  await Promise.all(proxies.map((p) => p.close()))
  await server?.stop()
})

async function waitFor(cond, what, ms = 30_000, every = 20) {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await sleep(every)
  }
}

// cutUpload opens the page through a counting proxy, starts uploading the
// big PNG with the browser's upload speed throttled (DevTools network
// emulation, so little sits in socket buffers), and returns once 40% of it
// has reached the server.
async function cutUpload() {
  const size = (await stat(env.bigPNG)).size
  const proxy = await new Proxy(server.addr).listen()
  proxies.push(proxy)
  const page = await browser.context.newPage()
  const cdp = await page.context().newCDPSession(page)
  await cdp.send('Network.enable')
  // Slow enough to cut half-way, fast enough to finish in a few seconds.
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: Math.max(size / 3, 512 * 1024),
  })
  const watch = watchPage(page, proxy.url)
  const tus = []
  page.on('request', (req) => {
    if (new URL(req.url()).pathname.startsWith('/files/')) {
      tus.push({ method: req.method(), offset: req.headers()['upload-offset'] })
    }
  })
  await openUploader(page, proxy.url + '/')
  await addFiles(page, [env.bigPNG])
  await startUpload(page)
  await waitFor(() => proxy.bytesUp > size * 0.4, '40% of the file to reach the server')
  return { page, proxy, size, tus, watch, cutAt: proxy.bytesUp }
}

// checkResumed waits for the upload to finish and checks it continued.
async function checkResumed({ page, proxy, size, tus, watch, cutAt }) {
  const bytes = await readFile(env.bigPNG)
  const card = resultCard(page, 'noisy.png', 'ok')
  await card.waitFor({ timeout: 60_000 })
  assert.equal(await card.getAttribute('data-sha256'), sha256(bytes))
  const got = await page.request.get(`${proxy.url}/i/${sha256(bytes)}`)
  assert.ok(bytes.equals(await got.body()), 'the served image has the uploaded bytes')

  const sent = proxy.bytesUp
  console.log(`file ${size} B, cut after ${cutAt} B, server received ${sent} B in total; tus requests: ` +
    tus.map((r) => r.method + (r.offset ? `@${r.offset}` : '')).join(' '))
  assert.equal(tus.filter((r) => r.method === 'POST').length, 1, 'one tus upload was created: the same upload continued')
  assert.ok(tus.some((r) => r.method === 'PATCH' && Number(r.offset) > 0), 'a PATCH continued from a non-zero offset')
  assert.ok(sent < 2 * size, `the server received ${sent} B for a ${size} B file: the upload restarted`)
  assert.deepEqual(watch.problems, [])
  await page.close()
}

test('an upload cut by a server crash resumes after the restart', async () => {
  const cut = await cutUpload()
  await server.kill()
  await sleep(300)
  await server.start(server.addr)
  await checkResumed(cut)
})

test('an upload cut by a page reload resumes when the same file is added again', async () => {
  const cut = await cutUpload()
  await cut.page.reload()
  await cut.page.locator('.uppy-Dashboard-inner').waitFor()
  await addFiles(cut.page, [env.bigPNG])
  await startUpload(cut.page)
  await checkResumed(cut)
})

test('pause stops sending and resume continues from the offset', async () => {
  const cut = await cutUpload()
  await cut.page.getByRole('button', { name: 'Pause upload' }).first().click()
  // What the browser had already handed to the network may still drain;
  // then nothing more arrives.
  let last = -1
  await waitFor(() => {
    const quiet = cut.proxy.bytesUp === last
    last = cut.proxy.bytesUp
    return quiet
  }, 'the paused upload to go quiet', 15_000, 500)
  await sleep(1000)
  assert.equal(cut.proxy.bytesUp, last, 'bytes were sent while paused')
  assert.ok(last < cut.size, 'the upload was paused before it finished')
  await cut.page.getByRole('button', { name: 'Resume upload' }).first().click()
  await checkResumed(cut)
})
