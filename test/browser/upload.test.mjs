// The page in a real browser against the real server: an image uploads
// through the Dashboard and shows up with its URL and in the gallery; a
// disguised non-image is refused with the server's own message.
import assert from 'node:assert/strict'
import { mkdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { after, before, test } from 'node:test'
import { openBrowser, watchPage } from './lib/browser.mjs'
import { env } from './lib/env.mjs'
import { addFiles, openUploader, resultCard, sha256, startUpload } from './lib/page.mjs'
import { Server } from './lib/server.mjs'

let server
let browser
let page
let watch

before(async () => {
  server = await Server.create()
  await server.start()
  browser = await openBrowser()
  await browser.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url })
  page = await browser.context.newPage()
  watch = watchPage(page, server.url)
})

after(async () => {
  if (watch?.log.length) console.log(`browser console:\n${watch.log.join('\n')}`)
  await browser?.close()
  await server?.stop()
})

test('the page is served with a strict CSP and loads nothing from elsewhere', async () => {
  const res = await page.goto(server.url + '/')
  const csp = res.headers()['content-security-policy']
  assert.match(csp, /default-src 'self'/)
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/)
  await page.locator('.uppy-Dashboard-inner').waitFor()
  await assert.doesNotReject(page.locator('#gallery-status', { hasText: 'No images yet' }).waitFor())
  assert.equal(await page.locator('.uppy-Dashboard-note').innerText(), 'JPEG, PNG, GIF or WebP, up to 50 MB each')
})

test('a PNG uploads through the Dashboard and appears with its URL and in the gallery', async () => {
  const file = path.join(env.testdata, 'ok.png')
  const bytes = await readFile(file)
  const sha = sha256(bytes)
  await openUploader(page, server.url + '/')
  await addFiles(page, [file])
  await startUpload(page)

  const card = resultCard(page, 'ok.png', 'ok')
  await card.waitFor()
  assert.equal(await card.getAttribute('data-sha256'), sha)
  assert.equal(await card.locator('.fact-dimensions').innerText(), '64 × 48 px')
  const url = await card.locator('input.url-input').inputValue()
  assert.equal(url, `${server.url}/i/${sha}.png`)
  assert.equal(await page.locator('.uppy-Dashboard-Item.is-complete').count(), 1)

  // The copy button puts the absolute URL on the clipboard.
  await card.getByRole('button', { name: 'Copy' }).click()
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), url)

  // The image is served with the same bytes, and the gallery lists it first.
  const got = await page.request.get(`${server.url}/i/${sha}`)
  assert.equal(got.status(), 200)
  assert.ok(bytes.equals(await got.body()), '/i/<sha> must return the uploaded bytes')
  await page.locator(`#gallery li[data-sha256="${sha}"]`).waitFor()
  await page.reload()
  const first = page.locator('#gallery li').first()
  await first.waitFor()
  assert.equal(await first.getAttribute('data-sha256'), sha)
  assert.equal(await first.locator('img').getAttribute('loading'), 'lazy')
})

test('a disguised non-image is refused with the server message on the file', async () => {
  let serverMessage = ''
  const onResponse = async (res) => {
    const method = res.request().method()
    if (res.url().includes('/files/') && res.status() >= 400 && (method === 'PATCH' || method === 'POST')) {
      serverMessage = JSON.parse(await res.text()).error.message
    }
  }
  page.on('response', onResponse)
  await openUploader(page, server.url + '/')
  await addFiles(page, [path.join(env.testdata, 'html_as.png')])
  await startUpload(page)

  const item = page.locator('.uppy-Dashboard-Item.is-error')
  await item.waitFor()
  const shown = await item.locator('.uppy-Dashboard-Item-errorDetails').getAttribute('aria-label')
  assert.match(serverMessage, /text\/html/)
  assert.equal(shown, serverMessage, 'the Dashboard shows the server message for the file')
  const card = resultCard(page, 'html_as.png', 'error')
  assert.equal(await card.locator('.error-message').innerText(), serverMessage)
  await page.locator('.uppy-Informer', { hasText: 'Failed to upload html_as.png' }).first().waitFor()
  page.off('response', onResponse)
})

test('screenshots of both outcomes, desktop and phone width', async () => {
  await mkdir(env.artifacts, { recursive: true })
  await openUploader(page, server.url + '/')
  await addFiles(page, [path.join(env.testdata, 'ok.jpg'), path.join(env.testdata, 'html_as.png')])
  await startUpload(page)
  await resultCard(page, 'ok.jpg', 'ok').waitFor()
  await resultCard(page, 'html_as.png', 'error').waitFor()
  await page.locator('#gallery li').nth(1).waitFor()
  await page.locator('#gallery img').evaluateAll((imgs) => Promise.all(imgs.map((i) => i.decode().catch(() => {}))))
  await page.screenshot({ path: path.join(env.artifacts, 'browser-upload.png'), fullPage: true })
  await page.setViewportSize({ width: 390, height: 844 })
  await page.screenshot({ path: path.join(env.artifacts, 'browser-upload-phone.png'), fullPage: true })
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
  assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px at phone width`)
  await page.setViewportSize({ width: 1280, height: 900 })
})

test('no page errors, CSP violations or other-origin requests', () => {
  assert.deepEqual(watch.problems, [])
})
