// The other ways in: the image editor, the camera, paste, and the keyboard.
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { after, before, beforeEach, test } from 'node:test'
import { openBrowser, watchPage } from './lib/browser.mjs'
import { env } from './lib/env.mjs'
import { addFiles, openUploader, resultCard, startUpload } from './lib/page.mjs'
import { Server } from './lib/server.mjs'

let server
let browser
let page
let watch

before(async () => {
  server = await Server.create()
  await server.start()
  browser = await openBrowser() // chromium's fake camera stands in for a webcam
  page = await browser.context.newPage()
  watch = watchPage(page, server.url)
})

beforeEach(() => openUploader(page, server.url + '/'))

after(async () => {
  await browser?.close()
  await server?.stop()
})

test('the image editor rotates a picture before it is uploaded', async () => {
  await addFiles(page, [path.join(env.testdata, 'ok.png')]) // 64 × 48
  await page.locator('.uppy-Dashboard-Item-action--edit').click()
  await page.getByRole('button', { name: 'Rotate 90°' }).click()
  await page.locator('#uppy-DashboardContent-panel--editor').getByRole('button', { name: 'Save' }).click()
  await startUpload(page)
  const card = resultCard(page, 'ok.png', 'ok')
  await card.waitFor()
  assert.equal(await card.locator('.fact-dimensions').innerText(), '48 × 64 px')
})

test('a camera picture uploads', async () => {
  await page.getByRole('tab', { name: 'Camera' }).or(page.locator('button[aria-controls$="panel--Webcam"]')).first().click()
  // A person waits for the picture to show before pressing the button.
  await page.waitForFunction(() => document.querySelector('video.uppy-Webcam-video')?.videoWidth > 0)
  await page.locator('.uppy-Webcam-button--picture').click()
  await page.locator('.uppy-Webcam-button--submit').click()
  await page.locator('.uppy-Dashboard-Item').waitFor()
  await startUpload(page)
  const card = page.locator('#results .card').first()
  await card.waitFor()
  assert.equal(await card.getAttribute('class'), 'card card--ok', await card.innerText())
  assert.match(await card.locator('.card-title').innerText(), /^(cam|webcam)/i)
})

test('an image pasted anywhere on the page joins the upload list', async () => {
  const bytes = [...await readFile(path.join(env.testdata, 'ok.gif'))]
  await page.evaluate((data) => {
    const dt = new DataTransfer()
    dt.items.add(new File([new Uint8Array(data)], 'pasted.gif', { type: 'image/gif' }))
    document.body.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }))
  }, bytes)
  await page.locator('.uppy-Dashboard-Item', { hasText: 'pasted.gif' }).waitFor()
  await startUpload(page)
  await resultCard(page, 'pasted.gif', 'ok').waitFor()
})

test('keyboard: skip link first, then "browse files", and every image has alt text', async () => {
  await page.keyboard.press('Tab')
  assert.equal(await page.evaluate(() => document.activeElement.className), 'skip-link')
  await page.keyboard.press('Enter')
  const browse = page.locator('.uppy-Dashboard-browse').first()
  for (let i = 0; i < 10 && !(await browse.evaluate((b) => b === document.activeElement)); i++) {
    await page.keyboard.press('Tab')
  }
  assert.ok(await browse.evaluate((b) => b === document.activeElement), '"browse files" takes keyboard focus')
  await page.locator('#gallery li').first().waitFor()
  assert.equal(await page.locator('main img:not([alt])').count(), 0)
})

test('no page errors, CSP violations or other-origin requests', () => {
  assert.deepEqual(watch.problems, [])
})
